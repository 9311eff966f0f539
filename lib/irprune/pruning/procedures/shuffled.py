"""``shuffled-<scorer>``: the scorer's mask with each tensor's kept positions shuffled (Frankle et al. 2021,
"Pruning neural networks at initialization: why are we missing the mark?"): it keeps the layer densities and
nothing else."""

from __future__ import annotations

from collections.abc import Callable

from ..apply import apply_mask
from ..cell import Cell
from ..mask import Mask
from ..oneshot import shuffle_mask
from ..registry import get_scorer
from ..select import masks_from_scores


def shuffled(scorer: str) -> Callable[[Cell], Mask]:
    """The procedure of ``scorer``'s layer-wise shuffled control."""

    def run(cell: Cell) -> Mask:
        scores = get_scorer(scorer)(cell.model, cell.prunable, cell.task.score_context(True))
        mask = shuffle_mask(masks_from_scores(scores, cell.sparsity, scope=cell.settings.scope), seed=cell.seed)
        apply_mask(cell.model, mask, log=cell.log, method=f"shuffled-{scorer}", iteration=1,
                   target_sparsity=cell.sparsity)
        cell.train()
        return mask

    run.__doc__ = f"{scorer}'s mask with kept positions shuffled within each tensor (Frankle et al. 2021)."
    return run
