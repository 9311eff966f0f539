"""Structured attention-head pruning by importance (Michel, Levy & Neubig, 2019, "Are sixteen heads really
better than one?").

Head importance (their Eq. 2): ``I_h = E_x |∂L/∂ξ_h|`` where ``ξ_h`` gates head h's context vector
(``Att_h(x) -> ξ_h Att_h(x)``, evaluated at ξ = 1), so ``∂L/∂ξ_h = Σ_tokens Att_h(x)ᵀ ∂L/∂Att_h(x)``.  The
expectation is the mean over the given batches of the absolute gate gradient (per batch, as the authors' code
and transformers' ``bertology`` example do; batches of size 1 give the per-example definition).  Scores are
normalised per layer by their ℓ2 norm (Sec. 4.2).  The lowest heads are then removed structurally: the rows of
Q/K/V and the columns of the attention output projection are deleted, so parameters really disappear.

transformers 5 removed ``head_mask`` and ``PreTrainedModel.prune_heads``; the gate here is a forward hook on the
self-attention module and the pruning uses ``transformers.pytorch_utils.prune_linear_layer``.  Supported: BERT-
style blocks (a module with ``.self`` holding ``query``/``key``/``value`` linears and ``attention_head_size``, and
``.output.dense``).  A pruned checkpoint needs the same :func:`prune_heads` call on a fresh model before loading;
the pruned original head ids are recorded in ``model.config.pruned_heads``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from ..config import frozen, param
from ..errors import ConfigError
from .sparsity import n_to_prune


@frozen
class HeadPruningConfig:
    fraction: float = param(0.25, ge=0.0, lt=1.0, doc="fraction of all heads to remove")
    normalize: bool = param(True, doc="ℓ2-normalise importance per layer (Michel et al. Sec. 4.2)")


def attention_blocks(model: nn.Module) -> list[tuple[nn.Module, nn.Linear]]:
    """``(self_attention, output_dense)`` per layer, in model order."""
    blocks = []
    for m in model.modules():
        sa, out = getattr(m, "self", None), getattr(m, "output", None)
        if (isinstance(sa, nn.Module) and all(isinstance(getattr(sa, a, None), nn.Linear) for a in
                                              ("query", "key", "value")) and hasattr(sa, "attention_head_size")
                and isinstance(getattr(out, "dense", None), nn.Linear)):
            blocks.append((sa, out.dense))  # type: ignore[union-attr]
    if not blocks:
        raise ConfigError(f"head pruning supports BERT-style attention (a '.self' module with query/key/value "
                          f"and '.output.dense'); found none in {type(model).__name__}")
    return blocks


class HeadGate:
    """Context manager: gates every head's context by ``self.gate[layer, head]`` (ones, requires grad)."""

    def __init__(self, model: nn.Module) -> None:
        self.blocks = attention_blocks(model)
        counts = {int(sa.num_attention_heads) for sa, _ in self.blocks}
        if len(counts) != 1:
            raise ConfigError("head importance needs the same number of heads in every layer; compute it before "
                              "pruning heads")
        self.gate = torch.ones(len(self.blocks), counts.pop(), requires_grad=True)
        self._hooks: list[Any] = []

    def __enter__(self) -> "HeadGate":
        for layer, (sa, _) in enumerate(self.blocks):
            def hook(mod: nn.Module, inp: Any, out: Any, layer: int = layer) -> Any:
                ctx = out[0] if isinstance(out, tuple) else out
                shape = ctx.shape
                h = self.gate.shape[1]
                gated = (ctx.reshape(*shape[:-1], h, shape[-1] // h) * self.gate[layer].view(h, 1)).reshape(shape)
                return (gated, *out[1:]) if isinstance(out, tuple) else gated
            self._hooks.append(sa.register_forward_hook(hook))
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks.clear()


def head_importance(model: nn.Module, batches: Iterable[Any], loss_fn: Callable[[nn.Module, Any], torch.Tensor],
                    normalize: bool = True) -> torch.Tensor:
    """``[layers, heads]`` importance ``mean_batches |∂L/∂ξ_h|``, ℓ2-normalised per layer if ``normalize``."""
    was_training = model.training
    model.eval()
    n = 0
    try:
        with HeadGate(model) as g:
            imp = torch.zeros_like(g.gate)
            for batch in batches:
                g.gate.grad = None
                (grad,) = torch.autograd.grad(loss_fn(model, batch), g.gate)
                imp += grad.detach().abs()
                n += 1
    finally:
        model.train(was_training)
    if n == 0:
        raise ConfigError("head importance needs data: pass at least one batch")
    imp /= n
    if normalize:
        imp = imp / imp.norm(p=2, dim=1, keepdim=True).clamp_min(1e-20)
    return imp


def heads_to_prune(importance: torch.Tensor, fraction: float) -> dict[int, list[int]]:
    """The ``round(fraction * L*H)`` least important heads (global ranking), keeping >= 1 head per layer."""
    L, H = importance.shape
    k = n_to_prune(fraction, L * H)
    if k > L * (H - 1):
        raise ConfigError(f"head pruning fraction = {fraction} removes {k} of {L * H} heads; at most "
                          f"{L * (H - 1)} can go (one head per layer must stay)")
    order = torch.sort(importance.flatten(), stable=True).indices.tolist()
    left = {layer: H for layer in range(L)}
    out: dict[int, list[int]] = {}
    for idx in order:
        if k == 0:
            break
        layer, head = divmod(idx, H)
        if left[layer] > 1:
            out.setdefault(layer, []).append(head)
            left[layer] -= 1
            k -= 1
    return {layer: sorted(hs) for layer, hs in sorted(out.items())}


def prune_heads(model: nn.Module, heads: Mapping[int, Sequence[int]]) -> None:
    """Remove ``heads[layer]`` (indices among the layer's *current* heads) structurally, in place."""
    from transformers.pytorch_utils import prune_linear_layer

    blocks = attention_blocks(model)
    record: dict[int, list[int]] = {}
    for layer, hs in heads.items():
        if not 0 <= layer < len(blocks):
            raise ConfigError(f"head pruning: layer {layer} does not exist (model has {len(blocks)} layers)")
        sa, dense = blocks[layer]
        nh, dh = int(sa.num_attention_heads), int(sa.attention_head_size)
        bad = [h for h in hs if not 0 <= h < nh]
        if bad or len(set(hs)) >= nh:
            raise ConfigError(f"head pruning: layer {layer} has {nh} heads; cannot remove {list(hs)}")
        for mod in (sa.query, sa.key, sa.value, dense):
            if parametrize.is_parametrized(mod):
                raise ConfigError("head pruning on a masked model: call irprune.pruning.fold(model) first")
        kept_heads = [h for h in range(nh) if h not in set(hs)]
        index = torch.cat([torch.arange(h * dh, (h + 1) * dh) for h in kept_heads])
        sa.query = prune_linear_layer(sa.query, index, dim=0)
        sa.key = prune_linear_layer(sa.key, index, dim=0)
        sa.value = prune_linear_layer(sa.value, index, dim=0)
        new_dense = prune_linear_layer(dense, index, dim=1)
        for m in model.modules():  # replace the output projection in its parent
            if getattr(m, "dense", None) is dense:
                m.dense = new_dense
        orig = getattr(sa, "_irprune_heads", list(range(nh)))
        record[layer] = [orig[h] for h in hs]
        sa._irprune_heads = [orig[h] for h in kept_heads]
        sa.num_attention_heads = len(kept_heads)
        sa.all_head_size = dh * len(kept_heads)
    cfg = getattr(model, "config", None)
    if cfg is not None:
        prev = {int(k): list(v) for k, v in (getattr(cfg, "pruned_heads", None) or {}).items()}
        for layer, hs in record.items():
            prev[layer] = sorted(set(prev.get(layer, [])) | set(hs))
        cfg.pruned_heads = prev


def prune_heads_by_importance(model: nn.Module, batches: Iterable[Any],
                              loss_fn: Callable[[nn.Module, Any], torch.Tensor],
                              cfg: HeadPruningConfig = HeadPruningConfig()) -> dict[int, list[int]]:
    """Score heads (Michel et al.), remove the lowest ``cfg.fraction``; returns the removed heads per layer."""
    heads = heads_to_prune(head_importance(model, batches, loss_fn, cfg.normalize), cfg.fraction)
    prune_heads(model, heads)
    return heads
