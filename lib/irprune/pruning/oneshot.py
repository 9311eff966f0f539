"""One-shot (and iterative-at-initialisation) pruning with any registered scorer, and the shuffled control."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from .apply import apply_mask, current_mask
from .mask import Mask
from .pqi import PruningLog
from .prunable import prunable_parameters
from .registry import get_scorer
from .schedules import exponential_density
from .scorers import ScoreContext
from .select import Scope, masks_from_scores
from .sparsity import check_sparsity


def prune_oneshot(model: nn.Module, method: str, sparsity: float, *, scope: Scope = "global",
                  prunable: Mapping[str, nn.Parameter] | None = None, ctx: ScoreContext | None = None,
                  rounds: int = 1, log: PruningLog | None = None) -> Mask:
    """Score with ``method`` and mask to ``sparsity``; install the mask on ``model`` and return it.

    ``rounds > 1`` re-scores ``rounds`` times with the exponential schedule ``density**(k/rounds)`` (SynFlow's
    iterative pruning, Tanaka et al. 2020; also usable for iterative SNIP).  Masks already installed are kept
    (masks only shrink).  Magnitude pruning here is one-shot; recovery fine-tuning with the mask fixed is the
    caller's training loop (the parametrization keeps pruned weights at zero).
    """
    scorer = get_scorer(method)
    check_sparsity(sparsity)
    if rounds < 1:
        raise ValueError(f"rounds = {rounds}; expected an integer >= 1")
    prunable = prunable_parameters(model) if prunable is None else prunable
    ctx = ScoreContext() if ctx is None else ctx
    installed = current_mask(model)
    mask = Mask({n: installed[n] for n in prunable}) if set(prunable) <= set(installed) else None
    for k in range(1, rounds + 1):
        target = 1.0 - exponential_density(k, rounds, 1.0 - sparsity) if rounds > 1 else sparsity
        target = min(max(target, 0.0), sparsity)
        scores = scorer(model, prunable, ctx)
        mask = masks_from_scores(scores, target, scope=scope, current=mask)
        apply_mask(model, mask, log=log, method=method, iteration=k, target_sparsity=target)
    assert mask is not None
    return mask


def shuffle_mask(mask: Mapping[str, torch.Tensor], seed: int) -> Mask:
    """Layer-wise shuffled control (Frankle et al., 2021, "Pruning neural networks at initialization: why are we
    missing the mark?"): each tensor keeps its number of kept weights but at random positions (seeded)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for n, keep in mask.items():
        flat = keep.flatten()
        out[n] = flat[torch.randperm(flat.numel(), generator=g)].view(keep.shape)
    return Mask(out)
