"""``structured``: attention heads and FFN neurons removed by importance (heads: Michel et al. 2019; neurons:
activation x weight norm, :mod:`irprune.pruning.structured`), the same fraction of each, so that the target
fraction of the prunable (linear) weights goes; the model becomes a smaller dense model, then trains."""

from __future__ import annotations

from ..cell import Cell
from ..structured import prune_structured


def structured(cell: Cell) -> None:
    """Remove heads and neurons of ``cell.model.bert`` to the target share of its linear weights, then train."""
    ctx = cell.task.score_context(True)
    prunable = sum(p.numel() for p in cell.task.prunable(("linear",)).values())
    removed = prune_structured(cell.model.bert, cell.sparsity, prunable, ctx.batches,
                               lambda m, b: ctx.criterion(ctx.forward_fn(cell.model, b), b),
                               lambda m, b: ctx.forward_fn(cell.model, b))
    plan = removed["plan"]
    cell.notes.append(f"structured: removed {plan['n_heads']} of {plan['total_heads']} heads and "
                      f"{plan['n_neurons']} of {plan['total_neurons']} FFN neurons")
    cell.train()
    return None
