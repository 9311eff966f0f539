"""``imp``: iterative magnitude pruning with rewinding to the weights the cell started from (Frankle & Carbin 2019;
Frankle et al. 2020), ``imp_rounds`` rounds reaching the target, then the full training."""

from __future__ import annotations

from ..cell import Cell
from ..lottery import capture_rewind_state, lottery_ticket
from ..mask import Mask


def imp(cell: Cell) -> Mask:
    """Each round trains ``train_steps // imp_rounds`` steps, prunes ``rate`` of the kept weights by magnitude and
    rewinds; ``1 - (1 - rate)**rounds`` is the target."""
    rounds = cell.settings.imp_rounds
    rate = 1.0 - (1.0 - cell.sparsity) ** (1.0 / rounds)
    rewind = capture_rewind_state(cell.model)
    per_round = max(1, cell.task.train_steps() // rounds)
    mask = lottery_ticket(cell.model, lambda m: cell.train(per_round), rounds, rate, rewind,
                          scope=cell.settings.scope, prunable=cell.prunable, log=cell.log)
    cell.train()
    return mask
