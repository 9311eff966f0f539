"""``heads``: structured attention-head pruning by importance (Michel et al. 2019): the target is the fraction of
heads removed; their weights leave the model."""

from __future__ import annotations

from ..cell import Cell
from ..heads import HeadPruningConfig, prune_heads_by_importance


def heads(cell: Cell) -> None:
    """Remove the least important heads of ``cell.model.bert``, then train."""
    ctx = cell.task.score_context(True)
    prune_heads_by_importance(cell.model.bert, ctx.batches,
                              lambda m, b: ctx.criterion(ctx.forward_fn(cell.model, b), b),
                              HeadPruningConfig(fraction=cell.sparsity))
    cell.train()
    return None
