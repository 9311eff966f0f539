"""Iterative magnitude pruning with weight rewinding (lottery tickets).

Frankle & Carbin (2019), "The lottery ticket hypothesis"; Frankle et al. (2020), "Linear mode connectivity and
the lottery ticket hypothesis" (rewinding to the weights of training step k instead of step 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

import torch
from torch import nn

from ..config import frozen, param
from .apply import apply_mask, current_mask, load_plain_state_dict, plain_state_dict
from .mask import Mask
from .pqi import PruningLog
from .prunable import prunable_parameters
from .schedules import imp_sparsity
from .scorers import magnitude
from .select import Scope, masks_from_scores


@frozen
class LotteryConfig:
    rounds: int = param(5, ge=1, doc="pruning rounds")
    per_round_rate: float = param(0.2, gt=0.0, lt=1.0, doc="fraction of the remaining weights pruned per round")
    scope: Literal["global", "layerwise"] = param("global")
    rewind_step: int = param(0, ge=0, doc="step whose weights unpruned weights are rewound to (0 = init)")


def capture_rewind_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The plain state_dict to rewind to (call at training step k, Frankle et al. 2020)."""
    return plain_state_dict(model)


def lottery_ticket(model: nn.Module, train_fn: Callable[[nn.Module], object], rounds: int, per_round_rate: float,
                   rewind_state: Mapping[str, torch.Tensor], *, scope: Scope = "global",
                   prunable: Mapping[str, nn.Parameter] | None = None, log: PruningLog | None = None) -> Mask:
    """Run ``rounds`` of: ``train_fn(model)``; prune ``per_round_rate`` of the remaining weights by magnitude;
    rewind all weights to ``rewind_state`` (pruned ones stay zero).

    After round r the sparsity is ``1 - (1 - rate)**r`` (:func:`.schedules.imp_sparsity`).  The model is left
    rewound and masked, ready for the final training run by the caller; the final mask is returned.
    """
    prunable = dict(prunable_parameters(model) if prunable is None else prunable)
    installed = current_mask(model)
    mask: Mask | None = Mask({n: installed[n] for n in prunable}) if set(prunable) <= set(installed) else None
    for r in range(1, rounds + 1):
        train_fn(model)
        target = imp_sparsity(r, per_round_rate)
        mask = masks_from_scores(magnitude(model, prunable), target, scope=scope, current=mask)
        apply_mask(model, mask, log=log, method="imp", iteration=r, target_sparsity=target)
        load_plain_state_dict(model, rewind_state)
    assert mask is not None
    return mask
