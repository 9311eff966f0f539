"""The one driver: any registered method (:data:`irprune.pruning.methods.METHODS`) on any task adapter."""

from __future__ import annotations

from ..errors import ConfigError, RegistryError
from . import methods
from .cell import Cell, TaskAdapter
from .pqi import PruningLog
from .sparsity import check_sparsity


def check_cell(method: str, sparsity: float, runs: tuple[str, ...], family: str) -> float:
    """Validate a cell before any work: ``method`` is registered and among ``runs`` (the methods task ``family``
    can run), ``sparsity`` is a target in [0, 1) (the one check of the target sparsity; 0 only for ``dense``
    where the task runs it).  Returns the sparsity as a float."""
    methods.METHODS.get(method)
    if method not in runs:
        raise RegistryError(f"pruning method {method!r} cannot run on {family}; {family} runs: {', '.join(runs)}")
    sparsity = check_sparsity(sparsity, "sparsity")
    if method == "dense" and sparsity != 0.0:
        raise ConfigError(f"method 'dense' has sparsity 0, got {sparsity}")
    if method != "dense" and sparsity == 0.0 and "dense" in runs:
        raise ConfigError(f"method {method!r} at sparsity 0 is the dense model; use method 'dense'")
    return sparsity


def run_method(task: TaskAdapter, method: str, sparsity: float, seed: int, *, log: PruningLog | None = None) -> Cell:
    """Prune ``task.model`` in place with ``method`` to ``sparsity`` and train it as the method says; returns the
    :class:`Cell` (final mask, the pruning log ``log`` with sparsity and PQ Index per mask update, notes, training
    result)."""
    sparsity = check_cell(method, sparsity, task.methods, task.family)
    entry = methods.METHODS.get(method)
    cell = Cell(task=task, method=method, sparsity=sparsity, seed=seed, log=PruningLog() if log is None else log)
    if not entry.structured:
        cell.prunable = task.prunable()
    cell.mask = entry.run(cell)
    return cell


__all__ = ["check_cell", "run_method"]
