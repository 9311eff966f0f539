"""Gradual magnitude pruning (Zhu & Gupta, 2017, "To prune, or not to prune") as an after-step hook."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from torch import nn

from ..config import frozen, param
from ..errors import ConfigError
from .apply import apply_mask, current_mask
from .mask import Mask
from .pqi import PruningLog
from .prunable import prunable_parameters
from .schedules import _check_steps, cubic_sparsity, is_update_step
from .scorers import magnitude
from .select import masks_from_scores
from .sparsity import check_sparsity


@frozen
class GMPConfig:
    initial_sparsity: float = param(0.0, ge=0.0, lt=1.0, doc="s_i, sparsity at start_step")
    sparsity: float = param(0.9, doc="s_f, the target sparsity, from end_step on")
    start_step: int = param(0, ge=0, doc="t0, first mask update (optimizer steps)")
    end_step: int = param(1000, ge=0, doc="t0 + n*dt, last mask update")
    frequency: int = param(100, ge=1, doc="dt, steps between mask updates")
    scope: Literal["layerwise", "global"] = param("layerwise", doc="Zhu & Gupta prune every layer alike")

    def validate(self) -> None:
        _check_steps(self.start_step, self.end_step, self.frequency)
        check_sparsity(self.sparsity, "gmp.sparsity")
        if self.initial_sparsity > self.sparsity:
            raise ConfigError(f"gmp.initial_sparsity = {self.initial_sparsity} exceeds sparsity = "
                              f"{self.sparsity}; expected initial_sparsity <= sparsity")


class GradualPruner:
    """Call :meth:`step` with the global step *after* each ``optimizer.step()``.

    At the update steps ``t0, t0+dt, ..., t0+n*dt`` it re-masks to :func:`.schedules.cubic_sparsity` by the
    magnitude of the currently kept weights (pruned weights stay pruned).  Between updates the installed
    parametrization keeps pruned weights at zero.
    """

    def __init__(self, model: nn.Module, cfg: GMPConfig, prunable: Mapping[str, nn.Parameter] | None = None,
                 log: PruningLog | None = None) -> None:
        cfg.validate()
        self.model, self.cfg, self.log = model, cfg, log
        self.prunable = dict(prunable_parameters(model) if prunable is None else prunable)
        self.mask: Mask | None = None

    def target(self, global_step: int) -> float:
        c = self.cfg
        return cubic_sparsity(global_step, c.initial_sparsity, c.sparsity, c.start_step, c.end_step,
                              c.frequency)

    def step(self, global_step: int) -> bool:
        """Update masks if ``global_step`` is an update step; returns whether it did."""
        c = self.cfg
        if not is_update_step(global_step, c.start_step, c.end_step, c.frequency):
            return False
        installed = current_mask(self.model)
        current = Mask({n: installed[n] for n in self.prunable}) if set(self.prunable) <= set(installed) else None
        target = self.target(global_step)
        self.mask = masks_from_scores(magnitude(self.model, self.prunable), target, scope=c.scope, current=current)
        apply_mask(self.model, self.mask, log=self.log, method="gmp", step=global_step, target_sparsity=target)
        return True
