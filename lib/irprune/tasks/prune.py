"""Which tensors of a task model are pruned, and the SynFlow all-ones forward for bag-of-embedding models.

``linear`` = every ``nn.Linear`` weight plus the packed ``in_proj_weight`` of ``nn.MultiheadAttention`` (the
Q/K/V projections: linear maps that :func:`irprune.pruning.prunable_parameters` does not see because they are not
``nn.Linear`` modules); ``embedding`` = ``nn.Embedding`` and ``nn.EmbeddingBag`` tables; ``conv`` = ``nn.Conv1d``
and ``nn.Conv2d`` kernels (the vision models).  The GraSP/NLP report
among the sources (``../shared/seeds/report-grasp-random-nlp.txt``) pruned ``nn.Linear`` layers only
(``include: [linear]``); the study default also prunes embeddings, as the IR models' default selection does, and
convolutions, as the GraSP/SNIP/SynFlow vision experiments do.  Biases and norms are never pruned.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

from ..errors import ConfigError
from ..pruning.prunable import raw_weight

TaskKind = Literal["linear", "embedding", "conv"]
TASK_KINDS: tuple[str, ...] = ("linear", "embedding", "conv")


def task_prunable(model: nn.Module, include: tuple[str, ...] = TASK_KINDS) -> dict[str, nn.Parameter]:
    """``plain name -> leaf Parameter`` of the prunable weights (the mask parametrization's ``original`` when
    one is installed), in module order, shared tensors once."""
    bad = [k for k in include if k not in TASK_KINDS]
    if bad or not include:
        raise ConfigError(f"tasks.pruning.include = {list(include)!r}: expected a non-empty list of "
                          f"{', '.join(repr(k) for k in TASK_KINDS)}")
    out: dict[str, nn.Parameter] = {}
    seen: set[int] = set()

    def add(name: str, module: nn.Module, attr: str) -> None:
        w = raw_weight(module, attr)
        if id(w) not in seen:
            seen.add(id(w))
            out[name] = w

    for mname, m in model.named_modules():
        prefix = f"{mname}." if mname else ""
        if "linear" in include and isinstance(m, nn.Linear):
            add(prefix + "weight", m, "weight")
        elif "linear" in include and isinstance(m, nn.MultiheadAttention) and m.in_proj_weight is not None:
            add(prefix + "in_proj_weight", m, "in_proj_weight")
        elif "embedding" in include and isinstance(m, (nn.Embedding, nn.EmbeddingBag)):
            add(prefix + "weight", m, "weight")
        elif "conv" in include and isinstance(m, (nn.Conv1d, nn.Conv2d)):
            add(prefix + "weight", m, "weight")
    if not out:
        raise ConfigError(f"{type(model).__name__} has no prunable tensors of kinds {list(include)}; add the kinds "
                          f"it has to tasks.pruning.include (one of {', '.join(TASK_KINDS)})")
    return out


def synflow_forward(run: Callable[[nn.Module], torch.Tensor]) -> Callable[[nn.Module], torch.Tensor]:
    """Wrap ``run(model)`` for SynFlow's ``forward_ones``: every ``nn.EmbeddingBag`` outputs ``1ᵀ|E|`` (its
    table as a linear map fed the all-ones vocabulary vector), as the scorer does for ``nn.Embedding`` (Tanaka et
    al., 2020, Algorithm 1 feeds an all-ones input)."""

    def forward_ones(model: nn.Module) -> torch.Tensor:
        hooks = [m.register_forward_hook(lambda mod, inp, out: mod.weight.sum(0).expand_as(out))
                 for m in model.modules() if isinstance(m, nn.EmbeddingBag)]
        try:
            return run(model)
        finally:
            for h in hooks:
                h.remove()

    return forward_ones


def math_attention(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """Run ``fn`` with PyTorch's plain-math attention kernel: GraSP differentiates the gradient again (a
    Hessian-gradient product) and the fused CPU/flash attention backward kernels have no derivative."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    def wrapped(*args: object) -> torch.Tensor:
        with sdpa_kernel(SDPBackend.MATH):
            return fn(*args)

    return wrapped


def prunable_zeros(prunable: dict[str, nn.Parameter], model: nn.Module) -> tuple[int, int]:
    """(zeros, total) over the *effective* prunable weights (masked where a mask is installed)."""
    zeros = total = 0
    with torch.no_grad():
        for name in prunable:
            mname, _, attr = name.rpartition(".")
            t = getattr(model.get_submodule(mname) if mname else model, attr)
            zeros += int(t.numel() - torch.count_nonzero(t))
            total += t.numel()
    return zeros, total


__all__ = ["TASK_KINDS", "task_prunable", "synflow_forward", "math_attention", "prunable_zeros"]
