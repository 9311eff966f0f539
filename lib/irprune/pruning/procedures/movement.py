"""``movement``: movement pruning while training (Sanh et al. 2020), hard or soft, on GMP's update steps."""

from __future__ import annotations

from ..cell import Cell, TrainHooks
from ..mask import Mask
from ..movement import MovementConfig, MovementPruner
from .gmp import schedule


def movement(cell: Cell) -> Mask | None:
    """Scores accumulate ``-dL/dW * W`` after every backward pass; masks update on GMP's schedule."""
    start, end, freq = schedule(cell)
    pruner = MovementPruner(cell.model, MovementConfig(mode=cell.settings.movement_mode, sparsity=cell.sparsity,
                                                       start_step=start, end_step=end, frequency=freq,
                                                       scope=cell.settings.scope),
                            prunable=cell.prunable, log=cell.log)
    cell.train(hooks=TrainHooks(after_backward=pruner.accumulate, after_step=pruner.step, mask_final_at=end))
    return cell.installed()
