"""Structured pruning that removes weights physically: attention heads and feed-forward neurons of a BERT
encoder, leaving a smaller *dense* model that every engine runs faster (no sparse kernels needed).

* **Heads** are scored by Michel, Levy & Neubig (2019), :func:`irprune.pruning.heads.head_importance`, and removed
  by :func:`irprune.pruning.heads.prune_heads` (rows of Q/K/V, columns of the attention output projection).
* **FFN neurons** (rows of ``intermediate.dense``, columns of ``output.dense``) are scored by the expected
  magnitude of their contribution to the block's output, ``I_j = E|a_j| * ||W_out[:, j]||_2`` with ``a_j`` the
  neuron's activation after GELU, averaged over the tokens of the given batches (real tokens only where the
  batch has an ``attention_mask``): the activation-times-weight criterion of Molchanov et al. (2017,
  "Pruning Convolutional Neural Networks for Resource Efficient Inference", their weight-and-activation
  variants), applied to FFN neurons.  Without batches the score is ``||W_in[j, :]||_2 * ||W_out[:, j]||_2``.
  Scores are ℓ2-normalised per layer and ranked globally, keeping at least one neuron per layer (as for heads).

:func:`plan_structured` turns a target *sparsity* (fraction of the model's prunable weights, the study's one
definition) into numbers of heads and neurons: both families lose the same fraction ``f`` of their weights,
``f = sparsity * prunable / removable`` (removable = the Q/K/V/O and FFN weights; the pooler and the score head
stay), so "50% of the encoder" is "50% of the heads and 50% of the neurons".

:func:`structured_mask` gives the *masking* equivalent (the removed heads' Q/K/V rows and O columns, the removed
neurons' intermediate rows and output columns set to zero): the masked and the sliced model compute the same
scores, which the tests check.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from ..errors import ConfigError
from .heads import attention_blocks, head_importance, heads_to_prune, prune_heads
from .mask import Mask
from .sparsity import n_to_prune


def ffn_blocks(model: nn.Module) -> list[tuple[nn.Module, nn.Module]]:
    """``(intermediate, output)`` modules of every BERT layer (``.intermediate.dense`` H -> I, then
    ``.output.dense`` I -> H), in model order."""
    out = []
    for m in model.modules():
        inter, o = getattr(m, "intermediate", None), getattr(m, "output", None)
        if (isinstance(getattr(inter, "dense", None), nn.Linear) and isinstance(getattr(o, "dense", None), nn.Linear)
                and inter.dense.out_features == o.dense.in_features):      # type: ignore[union-attr]
            out.append((inter, o))
    if not out:
        raise ConfigError(f"FFN neuron pruning supports BERT-style layers (.intermediate.dense and .output.dense); "
                          f"found none in {type(model).__name__}")
    return out


def _mask_of(batch: Any) -> torch.Tensor | None:
    if isinstance(batch, Mapping):
        m = batch.get("attention_mask")
        return m if isinstance(m, torch.Tensor) else None
    return None


def neuron_importance(model: nn.Module, batches: Iterable[Any] = (),
                      forward_fn: Callable[[nn.Module, Any], Any] | None = None,
                      normalize: bool = True) -> list[torch.Tensor]:
    """Per layer, ``[I]`` scores ``E|a_j| * ||W_out[:, j]||`` (or the weight-only score without batches)."""
    blocks = ffn_blocks(model)
    sums = [torch.zeros(inter.dense.out_features, dtype=torch.float64) for inter, _ in blocks]
    count = [0] * len(blocks)
    current: dict[str, torch.Tensor | None] = {"mask": None}
    hooks = []
    for i, (inter, _) in enumerate(blocks):
        def hook(mod: nn.Module, inp: Any, out: torch.Tensor, i: int = i) -> None:
            a = out.detach().abs().double()                        # [B, T, I]
            m = current["mask"]
            if m is not None and m.shape == a.shape[:-1]:
                keep = m.to(a.device).bool()
                sums[i] += a[keep].sum(dim=0).cpu()
                count[i] += int(keep.sum())
            else:
                sums[i] += a.reshape(-1, a.shape[-1]).sum(dim=0).cpu()
                count[i] += a.numel() // a.shape[-1]
        hooks.append(inter.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in batches:
                current["mask"] = _mask_of(batch)
                (forward_fn or (lambda mdl, b: mdl(b)))(model, batch)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    scores = []
    for i, (inter, out) in enumerate(blocks):
        w_out = out.dense.weight.detach().double().norm(dim=0).cpu()          # [I]
        if count[i]:
            s = sums[i] / count[i] * w_out
        else:
            s = inter.dense.weight.detach().double().norm(dim=1).cpu() * w_out
        if normalize:
            s = s / s.norm().clamp_min(1e-30)
        scores.append(s.float())
    return scores


def neurons_to_prune(importance: Sequence[torch.Tensor], n: int) -> dict[int, list[int]]:
    """The ``n`` least important neurons over all layers, keeping at least one per layer."""
    total, layers = sum(t.numel() for t in importance), len(importance)
    if n > total - layers:
        raise ConfigError(f"FFN pruning: cannot remove {n} of {total} neurons; at most {total - layers} can go "
                          "(one per layer stays)")
    flat = torch.cat([t.flatten() for t in importance])
    owner = torch.cat([torch.full((t.numel(),), i) for i, t in enumerate(importance)])
    index = torch.cat([torch.arange(t.numel()) for t in importance])
    left = [t.numel() for t in importance]
    out: dict[int, list[int]] = {}
    for k in torch.sort(flat, stable=True).indices.tolist():
        if n == 0:
            break
        layer = int(owner[k])
        if left[layer] > 1:
            out.setdefault(layer, []).append(int(index[k]))
            left[layer] -= 1
            n -= 1
    return {layer: sorted(v) for layer, v in sorted(out.items())}


def prune_ffn_neurons(model: nn.Module, neurons: Mapping[int, Sequence[int]]) -> None:
    """Remove ``neurons[layer]`` (indices among the layer's current neurons) in place; the original ids of the
    removed neurons are recorded in ``model.config.pruned_ffn_neurons`` (when the model has a config)."""
    from transformers.pytorch_utils import prune_linear_layer

    blocks = ffn_blocks(model)
    record: dict[int, list[int]] = {}
    for layer, idx in neurons.items():
        if not 0 <= layer < len(blocks):
            raise ConfigError(f"FFN pruning: layer {layer} does not exist (model has {len(blocks)} layers)")
        inter, out = blocks[layer]
        size = inter.dense.out_features
        drop = set(int(i) for i in idx)
        if any(not 0 <= i < size for i in drop) or len(drop) >= size:
            raise ConfigError(f"FFN pruning: layer {layer} has {size} neurons; cannot remove {sorted(drop)[:10]}...")
        for mod in (inter.dense, out.dense):
            if parametrize.is_parametrized(mod):
                raise ConfigError("FFN pruning on a masked model: call irprune.pruning.fold(model) first")
        keep = torch.tensor([i for i in range(size) if i not in drop], dtype=torch.long)
        inter.dense = prune_linear_layer(inter.dense, keep, dim=0)
        out.dense = prune_linear_layer(out.dense, keep, dim=1)
        orig = getattr(inter, "_irprune_neurons", list(range(size)))
        record[layer] = [orig[i] for i in sorted(drop)]
        inter._irprune_neurons = [orig[i] for i in keep.tolist()]
    cfg = getattr(model, "config", None)
    if cfg is not None:
        prev = {int(k): list(v) for k, v in (getattr(cfg, "pruned_ffn_neurons", None) or {}).items()}
        for layer, v in record.items():
            prev[layer] = sorted(set(prev.get(layer, [])) | set(v))
        cfg.pruned_ffn_neurons = prev


def structured_mask(model: nn.Module, heads: Mapping[int, Sequence[int]],
                    neurons: Mapping[int, Sequence[int]]) -> Mask:
    """The weight mask that zeroes what :func:`prune_heads` / :func:`prune_ffn_neurons` would remove (keys:
    ``model``'s parameter names).  Applied with :func:`irprune.pruning.apply_mask`, the model's outputs equal
    those of the sliced model."""
    names = {id(p): n for n, p in model.named_parameters()}
    keep: dict[str, torch.Tensor] = {}

    def entry(linear: nn.Linear) -> torch.Tensor:
        name = names[id(linear.weight)]
        if name not in keep:
            keep[name] = torch.ones_like(linear.weight, dtype=torch.bool)
        return keep[name]

    for layer, hs in heads.items():
        sa, dense = attention_blocks(model)[layer]
        dh = int(sa.attention_head_size)
        for h in hs:
            sl = slice(h * dh, (h + 1) * dh)
            for lin in (sa.query, sa.key, sa.value):
                entry(lin)[sl, :] = False
            entry(dense)[:, sl] = False
    blocks = ffn_blocks(model)
    for layer, idx in neurons.items():
        inter, out = blocks[layer]
        ix = torch.as_tensor(list(idx), dtype=torch.long)
        entry(inter.dense)[ix, :] = False
        entry(out.dense)[:, ix] = False
    return Mask(keep)


@dataclasses.dataclass(frozen=True)
class StructuredPlan:
    """How many heads and neurons go for a target sparsity (see the module docstring)."""

    sparsity: float
    fraction: float            # of the removable (attention + FFN) weights
    n_heads: int
    n_neurons: int
    total_heads: int
    total_neurons: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _removable(model: nn.Module) -> tuple[int, int, int, int]:
    """(attention weights, FFN weights, heads, neurons) of the encoder."""
    att = heads = 0
    for sa, dense in attention_blocks(model):
        att += sum(lin.weight.numel() for lin in (sa.query, sa.key, sa.value, dense))
        heads += int(sa.num_attention_heads)
    ffn = neurons = 0
    for inter, out in ffn_blocks(model):
        ffn += inter.dense.weight.numel() + out.dense.weight.numel()
        neurons += inter.dense.out_features
    return att, ffn, heads, neurons


def plan_structured(model: nn.Module, sparsity: float, prunable: int) -> StructuredPlan:
    """Heads and neurons to remove so that about ``sparsity * prunable`` weights go, the same fraction of each."""
    att, ffn, heads, neurons = _removable(model)
    fraction = sparsity * prunable / (att + ffn)
    n_layers = len(attention_blocks(model))
    limit = min(1 - n_layers / heads, 1 - len(ffn_blocks(model)) / neurons)
    if fraction > limit + 1e-12:
        raise ConfigError(f"structured pruning to sparsity {sparsity} would remove {fraction:.3f} of the encoder's "
                          f"heads and FFN neurons; one of each per layer must stay and the pooler and score head are "
                          f"never removed, so {limit * (att + ffn) / prunable:.3f} is the most this model allows "
                          "(lower the sparsity)")
    n_heads, n_neurons = n_to_prune(fraction, heads), n_to_prune(fraction, neurons)
    return StructuredPlan(sparsity, fraction, n_heads, n_neurons, heads, neurons)


def prune_structured(model: nn.Module, sparsity: float, prunable: int, batches: Sequence[Any],
                     loss_fn: Callable[[nn.Module, Any], torch.Tensor],
                     forward_fn: Callable[[nn.Module, Any], Any] | None = None) -> dict[str, Any]:
    """Score heads (Michel et al.) and neurons on ``batches``, then remove both to ``sparsity`` of ``prunable``
    weights in place.  ``loss_fn(model, batch)`` for the head gradients, ``forward_fn(model, batch)`` for the
    neuron activations.  Returns the plan and the removed heads / neurons per layer (original indices)."""
    plan = plan_structured(model, sparsity, prunable)
    head_imp = head_importance(model, batches, loss_fn) if plan.n_heads else None
    neuron_imp = neuron_importance(model, batches, forward_fn) if plan.n_neurons else None
    heads = heads_to_prune(head_imp, plan.n_heads / plan.total_heads) if head_imp is not None else {}
    neurons = neurons_to_prune(neuron_imp, plan.n_neurons) if neuron_imp is not None else {}
    prune_heads(model, heads)
    prune_ffn_neurons(model, neurons)
    return {"plan": plan.to_dict(), "heads": {str(k): v for k, v in heads.items()},
            "ffn_neurons_removed": {str(k): len(v) for k, v in neurons.items()}}


__all__ = ["StructuredPlan", "ffn_blocks", "neuron_importance", "neurons_to_prune", "plan_structured",
           "prune_ffn_neurons", "prune_structured", "structured_mask"]
