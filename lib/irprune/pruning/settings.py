"""What the pruning procedures read from a task's config: the GMP schedule (one config, the same ``gmp:`` key in
every section of ``params.yaml``) and the method settings every task adapter hands the driver."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..config import frozen, param
from ..errors import ConfigError


@frozen
class GMPSchedule:
    """When GMP prunes, as fractions of the optimizer steps of the training it runs in (Zhu & Gupta 2017: the first
    update ``t0`` and the last ``t0 + nΔt``; :func:`irprune.pruning.schedules.gmp_steps`)."""

    start_frac: float = param(0.0, ge=0.0, lt=1.0, doc="first mask update at this fraction of the steps")
    end_frac: float = param(0.7, gt=0.0, le=1.0, doc="the target sparsity is reached at this fraction")
    updates: int = param(10, ge=1, doc="number of mask updates after the first")

    def validate(self) -> None:
        if self.end_frac <= self.start_frac:
            raise ConfigError(f"gmp.end_frac = {self.end_frac} must exceed gmp.start_frac = {self.start_frac}; "
                              "GMP prunes between the two fractions of the training steps")


#: SynFlow's iterative rounds (Tanaka et al. 2020 use 100); docs/research-log.md measures 20 against 100.
SYNFLOW_ROUNDS = 100


@dataclass(frozen=True)
class MethodSettings:
    """The knobs of the registered procedures, built by each task adapter from its stage config."""

    scope: Literal["global", "layerwise"] = "global"
    score_batches: int = 4                 # training batches SNIP / GraSP / head importance score on
    synflow_rounds: int = SYNFLOW_ROUNDS
    grasp_temperature: float = 200.0
    gmp: GMPSchedule = field(default_factory=GMPSchedule)
    movement_mode: Literal["hard", "soft"] = "hard"
    imp_rounds: int = 3
    sap_rounds: int = 5


__all__ = ["GMPSchedule", "MethodSettings", "SYNFLOW_ROUNDS"]
