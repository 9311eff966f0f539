"""``dense``: train with nothing pruned (the reference every pruned cell of a task is compared with)."""

from __future__ import annotations

from ..cell import Cell


def dense(cell: Cell) -> None:
    """Train the model with no mask."""
    cell.train()
    return None
