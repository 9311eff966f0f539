"""Movement pruning (Sanh, Wolf & Rush, 2020, "Movement pruning: adaptive sparsity by fine-tuning").

Scores are the paper's accumulated movement ``S = -α_S Σ_t (∂L/∂W)^(t) ⊙ W^(t)`` (their Eq. 4 with the
straight-through estimator), updated by :meth:`MovementPruner.accumulate` after ``loss.backward()`` and before
``optimizer.step()``; :meth:`MovementPruner.step` (after the optimizer step) updates masks on schedule.

* ``hard``: keep the top-k of ``S``; the kept fraction follows the cubic schedule of Zhu & Gupta (as the paper
  does, Sec. 6) from ``initial_sparsity`` to ``sparsity`` (the target).
* ``soft``: keep ``S > τ`` with the L1 regulariser ``λ Σ σ(S)`` of the paper (Eq. 5), applied explicitly to the
  score update: ``S ← S - α_S (∂L/∂W ⊙ W + λ σ(S)(1 - σ(S)))``.  The paper reaches a sparsity by tuning λ;
  to hit a target exactly we *calibrate* τ at ``end_step`` to the quantile of ``S`` giving ``sparsity``
  (``calibrate_final``); the calibrated τ is stored in ``MovementPruner.tau``.

Deviation, documented: the paper's straight-through estimator lets pruned weights return; here masks only shrink
(the shared selection never revives a pruned weight) and pruned weights' scores are frozen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from torch import nn

from ..config import frozen, param
from ..errors import ConfigError
from .apply import apply_mask, current_mask
from .mask import Mask
from .pqi import PruningLog
from .prunable import prunable_parameters
from .schedules import _check_steps, cubic_sparsity, is_update_step
from .select import masks_from_scores
from .sparsity import check_sparsity


@frozen
class MovementConfig:
    mode: Literal["hard", "soft"] = param("hard")
    initial_sparsity: float = param(0.0, ge=0.0, lt=1.0)
    sparsity: float = param(0.9, doc="the target sparsity, from end_step on")
    start_step: int = param(0, ge=0)
    end_step: int = param(1000, ge=0)
    frequency: int = param(100, ge=1)
    scope: Literal["layerwise", "global"] = param("layerwise")
    score_lr: float = param(1.0, gt=0.0, doc="α_S, the scores' learning rate")
    soft_threshold: float = param(0.0, doc="τ for soft movement")
    soft_lambda: float = param(0.0, ge=0.0, doc="λ of the L1 regulariser on sigmoid(S) (soft only)")
    calibrate_final: bool = param(True, doc="soft: choose τ at end_step so the sparsity is the target")

    def validate(self) -> None:
        _check_steps(self.start_step, self.end_step, self.frequency)
        check_sparsity(self.sparsity, "movement.sparsity")
        if self.initial_sparsity > self.sparsity:
            raise ConfigError(f"movement.initial_sparsity = {self.initial_sparsity} exceeds sparsity = "
                              f"{self.sparsity}; expected initial_sparsity <= sparsity")


class MovementPruner:
    """Hooks for the caller's training loop: ``accumulate()`` after backward, ``step(global_step)`` after the
    optimizer step."""

    def __init__(self, model: nn.Module, cfg: MovementConfig, prunable: Mapping[str, nn.Parameter] | None = None,
                 log: PruningLog | None = None) -> None:
        cfg.validate()
        self.model, self.cfg, self.log = model, cfg, log
        self.prunable = dict(prunable_parameters(model) if prunable is None else prunable)
        self.scores = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in self.prunable.items()}
        self.tau = cfg.soft_threshold
        self.mask: Mask | None = None

    def accumulate(self) -> None:
        """Add this step's ``-α_S ∂L/∂W ⊙ W`` (plus the soft regulariser's gradient) to the scores."""
        c = self.cfg
        with torch.no_grad():
            for n, p in self.prunable.items():
                if p.grad is None:
                    raise RuntimeError(f"movement pruning: {n} has no gradient; call accumulate() after "
                                       "loss.backward() and before optimizer.zero_grad()")
                s = self.scores[n]
                upd = p.grad.float() * p.float()
                if c.mode == "soft" and c.soft_lambda > 0:
                    sig = torch.sigmoid(s)
                    upd = upd + c.soft_lambda * sig * (1 - sig)
                s.sub_(c.score_lr * upd)

    def step(self, global_step: int) -> bool:
        c = self.cfg
        if not is_update_step(global_step, c.start_step, c.end_step, c.frequency):
            return False
        installed = current_mask(self.model)
        current = Mask({n: installed[n] for n in self.prunable}) if set(self.prunable) <= set(installed) else None
        if c.mode == "hard" or (c.calibrate_final and global_step >= c.end_step):
            target = cubic_sparsity(global_step, c.initial_sparsity, c.sparsity, c.start_step, c.end_step,
                                    c.frequency)
            self.mask = masks_from_scores(self.scores, target, scope=c.scope, current=current)
            if c.mode == "soft":
                kept = torch.cat([s[self.mask[n]].flatten() for n, s in self.scores.items()])
                self.tau = float(kept.min()) if kept.numel() else self.tau
        else:  # soft, before the end: threshold rule S > τ, expressed as a count for the shared selection
            if c.scope == "global":
                below = sum(int(((s <= self.tau) | (~current[n] if current else False)).sum())
                            for n, s in self.scores.items())
                total = sum(s.numel() for s in self.scores.values())
                target = min(below / total, 1.0 - 1.0 / total)
                self.mask = masks_from_scores(self.scores, target, scope="global", current=current)
            else:
                per = {n: min(int(((s <= self.tau) | (~current[n] if current else False)).sum()) / s.numel(),
                              1.0 - 1.0 / s.numel()) for n, s in self.scores.items()}
                target = sum(per[n] * s.numel() for n, s in self.scores.items()) / sum(
                    s.numel() for s in self.scores.values())
                self.mask = masks_from_scores(self.scores, per, scope="layerwise", current=current)
        apply_mask(self.model, self.mask, log=self.log, method=f"movement-{c.mode}", step=global_step,
                   target_sparsity=target)
        return True
