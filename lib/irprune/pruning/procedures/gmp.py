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
        g, key = cell.settings.gmp, f"{cell.task.config_key}.gmp"
        span = int(g.end_frac * budget) - int(g.start_frac * budget)
        fix = f"lower {key}.updates to {span} or fewer" if span >= 1 else f"raise {key}.end_frac"
        raise ConfigError(f"params.yaml: {cell.task.budget_key} gives {budget} training steps, too few for GMP's "
                          f"schedule ({key}.updates = {g.updates} updates after the first, one step apart at least: "
                          f"last mask update at step {end}); raise {cell.task.budget_key} or {fix}")
    pruner = GradualPruner(cell.model, GMPConfig(sparsity=cell.sparsity, start_step=start, end_step=end,
                                                 frequency=freq, scope=cell.settings.scope),
                           prunable=cell.prunable, log=cell.log)
    pruner.step(0)
    cell.train(hooks=TrainHooks(after_step=pruner.step, mask_final_at=end))
    return cell.installed()
