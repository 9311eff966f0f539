"""Importance scorers: ``score(model, prunable, ctx) -> {name: tensor}``; higher = more important = kept.

Every scorer returns one tensor per prunable parameter, shaped like it; :func:`.select.masks_from_scores` turns
scores into masks.  Data-driven scorers read a :class:`ScoreContext`; they raise a clear error naming what is
missing.  Gradients are taken w.r.t. the leaf tensors in ``prunable`` (for masked models, the parametrization's
``original``; its gradient is zero at pruned positions, which stay pruned anyway).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import torch
from torch import nn

from ..errors import ConfigError

Scores = dict[str, torch.Tensor]


@dataclasses.dataclass
class ScoreContext:
    """Runtime inputs of the scorers (not a params config: it holds callables and batches).

    ``forward_fn(model, batch) -> outputs`` and ``criterion(outputs, batch) -> scalar loss`` define the loss
    for SNIP, GraSP and movement (GraSP divides ``outputs`` by ``grasp_temperature`` before the criterion).
    ``forward_ones(model) -> tensor`` runs the model on an all-ones input for SynFlow (see :func:`synflow`).
    """

    batches: Sequence[Any] = ()
    forward_fn: Callable[[nn.Module, Any], torch.Tensor] | None = None
    criterion: Callable[[torch.Tensor, Any], torch.Tensor] | None = None
    forward_ones: Callable[[nn.Module], torch.Tensor] | None = None
    seed: int = 0
    grasp_temperature: float = 200.0

    def require_data(self, method: str) -> None:
        missing = [n for n, v in (("batches", self.batches), ("forward_fn", self.forward_fn),
                                  ("criterion", self.criterion)) if not v]
        if missing:
            raise ConfigError(
                f"{method} needs data: ScoreContext.{', '.join(missing)} missing. Give batches (at least one "
                "training batch), forward_fn(model, batch) -> outputs and criterion(outputs, batch) -> scalar loss")

    def loss(self, model: nn.Module, batch: Any, temperature: float = 1.0) -> torch.Tensor:
        assert self.forward_fn is not None and self.criterion is not None
        out = self.forward_fn(model, batch)
        return self.criterion(out / temperature if temperature != 1.0 else out, batch)


class Scorer(Protocol):
    def __call__(self, model: nn.Module, prunable: Mapping[str, nn.Parameter], ctx: ScoreContext) -> Scores: ...


def _grads(loss: torch.Tensor, params: list[nn.Parameter], create_graph: bool = False) -> list[torch.Tensor]:
    gs = torch.autograd.grad(loss, params, create_graph=create_graph, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for g, p in zip(gs, params)]


def magnitude(model: nn.Module, prunable: Mapping[str, nn.Parameter], ctx: ScoreContext | None = None) -> Scores:
    """``|w|`` (Han et al., 2015, "Learning both weights and connections"; Zhu & Gupta, 2017)."""
    return {n: p.detach().abs().clone() for n, p in prunable.items()}


def random(model: nn.Module, prunable: Mapping[str, nn.Parameter], ctx: ScoreContext | None = None) -> Scores:
    """Uniform random scores from a generator seeded with ``ctx.seed`` (the control; same seed -> same mask)."""
    g = torch.Generator().manual_seed(0 if ctx is None else ctx.seed)
    return {n: torch.rand(p.shape, generator=g) for n, p in prunable.items()}


def snip(model: nn.Module, prunable: Mapping[str, nn.Parameter], ctx: ScoreContext | None) -> Scores:
    """Connection sensitivity ``|g ⊙ w|``, ``g = dL/dw`` summed over ``ctx.batches`` (Lee et al., 2019, "SNIP",
    Eq. 6; the normalisation by the sum of scores does not change the ranking and is omitted)."""
    if ctx is None:
        ctx = ScoreContext()
    ctx.require_data("SNIP")
    names, params = list(prunable), list(prunable.values())
    acc = [torch.zeros_like(p) for p in params]
    for batch in ctx.batches:
        for a, g in zip(acc, _grads(ctx.loss(model, batch), params)):
            a.add_(g.detach())
    return {n: (a * p.detach()).abs() for n, a, p in zip(names, acc, params)}


def grasp(model: nn.Module, prunable: Mapping[str, nn.Parameter], ctx: ScoreContext | None) -> Scores:
    """GraSP (Wang et al., 2020, "Picking winning tickets before training by preserving gradient flow").

    Paper Eq. 8: ``S(-θ) = -θ ⊙ Hg`` and the weights with the *highest* S are removed (the reference
    alecwangcq/GraSP ``pruner/GraSP.py`` computes ``-θ·Hg`` and keeps ``score <= threshold`` of the top-k).
    Our convention is "higher = kept", so this scorer returns ``θ ⊙ Hg = -S`` (as Synaptic-Flow's port does) and
    the shared selection prunes its *lowest* values: the same mask as the paper.  ``g = Σ_b ∇L_b``, ``Hg`` by
    double backprop ``∇(Σ_b ∇L_b · stopgrad(g))``, with the reference's temperature ``T = 200`` dividing the
    outputs before the loss in both passes.
    """
    if ctx is None:
        ctx = ScoreContext()
    ctx.require_data("GraSP")
    T = ctx.grasp_temperature
    names, params = list(prunable), list(prunable.values())
    g = [torch.zeros_like(p) for p in params]
    for batch in ctx.batches:
        for a, gi in zip(g, _grads(ctx.loss(model, batch, T), params)):
            a.add_(gi.detach())
    hg = [torch.zeros_like(p) for p in params]
    for batch in ctx.batches:
        gf = _grads(ctx.loss(model, batch, T), params, create_graph=True)
        z = sum((a * b).sum() for a, b in zip(gf, g))
        for a, h in zip(hg, _grads(z, params)):  # type: ignore[arg-type]
            a.add_(h.detach())
    return {n: p.detach() * h for n, p, h in zip(names, params, hg)}


def synflow(model: nn.Module, prunable: Mapping[str, nn.Parameter], ctx: ScoreContext | None) -> Scores:
    """SynFlow (Tanaka et al., 2020, "Pruning neural networks without any data by iteratively conserving
    synaptic flow", Algorithm 1): with every parameter replaced by its absolute value and the model in eval mode
    (dropout off, BatchNorm on running statistics; LayerNorm is kept as is), ``R = 1ᵀ f(1)`` and the score is
    ``|dR/dθ ⊙ θ|``.  All parameters and floating buffers are restored bit-exactly afterwards.

    ``ctx.forward_ones(model)`` must run the model on an all-ones input and return the output tensor(s) summed
    into R.  Token-id models: every ``nn.Embedding`` is scored through its *output*: during scoring its output is
    replaced by ``1ᵀ|E|`` (the embedding as a linear map fed the all-ones vocabulary vector), broadcast over the
    ids' shape, so any ids of the right shape will do (e.g. ``lambda m: m(torch.zeros(1, 16, dtype=long))``).
    """
    if ctx is None or ctx.forward_ones is None:
        raise ConfigError("SynFlow needs ScoreContext.forward_ones: a function model -> output on an all-ones "
                          "input, e.g. lambda m: m(torch.ones(1, 784)) (it is data-free but needs input shapes)")
    names, params = list(prunable), list(prunable.values())
    state = [(t, t.detach().clone()) for t in list(model.parameters()) + list(model.buffers())
             if t.is_floating_point()]
    was_training = model.training
    hooks = [m.register_forward_hook(lambda mod, inp, out: mod.weight.sum(0).expand_as(out))
             for m in model.modules() if isinstance(m, nn.Embedding)]
    try:
        model.eval()
        with torch.no_grad():
            for t, _ in state:
                t.abs_()
        out = ctx.forward_ones(model)
        if not isinstance(out, torch.Tensor):
            raise TypeError("SynFlow forward_ones must return a tensor (e.g. the logits), got "
                            f"{type(out).__name__}")
        grads = _grads(out.sum(), params)
        scores = {n: (g.detach() * p.detach()).abs() for n, g, p in zip(names, grads, params)}
    finally:
        for h in hooks:
            h.remove()
        with torch.no_grad():
            for t, saved in state:
                t.copy_(saved)
        model.train(was_training)
    return scores
