"""``gmp``: gradual magnitude pruning while training, the cubic schedule of Zhu & Gupta (2017)."""

from __future__ import annotations

from ...errors import ConfigError
from ..cell import Cell, TrainHooks
from ..gmp import GMPConfig, GradualPruner
from ..mask import Mask
from ..schedules import gmp_steps


def schedule(cell: Cell) -> tuple[int, int, int]:
    """``(t0, t0 + nΔt, Δt)`` of the cell's GMP schedule within the adapter's training steps."""
    g = cell.settings.gmp
    return gmp_steps(cell.task.train_steps(), g.start_frac, g.end_frac, g.updates)


def gmp(cell: Cell) -> Mask | None:
    """Gradual magnitude pruning while training (the update at step 0 before the first optimizer step, the others
    from the adapter's after-step hook); checkpoint selection only sees the final mask."""
    start, end, freq = schedule(cell)
    budget = cell.task.train_steps()
    if budget < max(end, 1):
        raise ConfigError(f"params.yaml: {cell.task.budget_key} = {budget} is too few for GMP's schedule (last mask "
                          f"update at step {end}); raise it or lower {cell.task.config_key}.gmp.end_frac")
    pruner = GradualPruner(cell.model, GMPConfig(sparsity=cell.sparsity, start_step=start, end_step=end,
                                                 frequency=freq, scope=cell.settings.scope),
                           prunable=cell.prunable, log=cell.log)
    pruner.step(0)
    cell.train(hooks=TrainHooks(after_step=pruner.step, mask_final_at=end))
    return cell.installed()
