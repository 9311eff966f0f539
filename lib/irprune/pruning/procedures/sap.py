"""``sap``: PQ-Index-guided adaptive pruning (Diao et al. 2023, Algorithm 1), capped at the target."""

from __future__ import annotations

from ..cell import Cell
from ..lottery import capture_rewind_state
from ..mask import Mask
from ..sap import SAPConfig, sap_prune


def sap(cell: Cell) -> Mask:
    """:func:`irprune.pruning.sap.sap_prune` with :class:`SAPConfig`'s defaults (the reference's p=0.5, q=1,
    η_r=0, γ=1, β=0.9): per round train, prune SAP's ``r`` smallest-magnitude weights (globally), capped at the
    target, and rewind; stop at the target, then the full training."""
    rounds = cell.settings.sap_rounds
    rewind = capture_rewind_state(cell.model)
    per_round = max(1, cell.task.train_steps() // rounds)
    mask = sap_prune(cell.model, lambda m: cell.train(per_round), SAPConfig(rounds=rounds), rewind,
                     prunable=cell.prunable, log=cell.log, target_sparsity=cell.sparsity)
    last = cell.log.entries[-1]["target_sparsity"] if cell.log.entries else 0.0
    if last < cell.sparsity:
        cell.notes.append(f"sap stopped after {rounds} rounds at sparsity {mask.sparsity:.3f} (target "
                          f"{cell.sparsity}); raise {cell.task.config_key}.sap_rounds to reach the target")
    cell.train()
    return mask
