"""One-shot pruning with a registered scorer (magnitude, random, SNIP, GraSP, SynFlow), then training with the mask
fixed: train-prune-recover on a trained model, or prune-at-initialisation followed by training (the adapter
decides what the model is when the procedure starts).  SynFlow prunes iteratively over ``synflow_rounds``
(Tanaka et al. 2020, exponential schedule)."""

from __future__ import annotations

from collections.abc import Callable

from ..cell import Cell
from ..mask import Mask
from ..oneshot import prune_oneshot

#: scorers that read no training data
DATA_FREE = ("magnitude", "random")


def oneshot(scorer: str) -> Callable[[Cell], Mask]:
    """The procedure that prunes with ``scorer`` (a name in :data:`irprune.pruning.registry.SCORERS`)."""

    def run(cell: Cell) -> Mask:
        ctx = cell.task.score_context(scorer not in DATA_FREE)
        rounds = cell.settings.synflow_rounds if scorer == "synflow" else 1
        mask = prune_oneshot(cell.model, scorer, cell.sparsity, scope=cell.settings.scope, prunable=cell.prunable,
                             ctx=ctx, rounds=rounds, log=cell.log)
        cell.train()
        return mask

    run.__doc__ = f"One-shot {scorer} pruning to the target, then training with the mask fixed."
    return run
