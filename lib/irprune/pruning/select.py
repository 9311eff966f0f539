"""The ONE function that turns importance scores into masks (higher score = more important = kept).

Scope ``global`` ranks all prunable weights together (Synaptic-Flow ``Pruners/pruners.py`` ``_global_mask``);
``layerwise`` ranks each tensor on its own (``_local_mask``; torch ``prune.l1_unstructured``).  Already-pruned
weights stay pruned (masks only shrink): they are ranked below every live weight, and the number pruned never
decreases.  The count pruned in a group of ``n`` weights is ``round(sparsity * n)`` (:func:`n_to_prune`), and
exactly that many are pruned even with tied scores (ties broken by position), so achieved sparsity is within one
weight of the target per group.  Selection uses ``kthvalue`` (memory ~ one copy of the scores), not a full sort.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch

from ..errors import ConfigError
from .mask import Mask
from .sparsity import check_sparsity, n_to_prune

Scope = Literal["global", "layerwise"]


def _keep_top(flat: torch.Tensor, n_keep: int) -> torch.Tensor:
    """Bool vector keeping exactly the ``n_keep`` largest entries (earliest index wins ties)."""
    n = flat.numel()
    if n_keep <= 0:
        return torch.zeros(n, dtype=torch.bool)
    if n_keep >= n:
        return torch.ones(n, dtype=torch.bool)
    thr = torch.kthvalue(flat, n - n_keep + 1).values
    keep = flat > thr
    extra = n_keep - int(keep.sum())
    if extra > 0:
        tied = torch.nonzero(flat == thr).flatten()[:extra]
        keep[tied] = True
    return keep


def _prepare(name: str, score: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
    s = score.detach().to(device="cpu", dtype=torch.float32).flatten()
    if torch.isnan(s).any():
        raise ValueError(f"score tensor {name!r} contains NaN; the scorer failed (check its data batch / model)")
    big = torch.finfo(torch.float32).max
    s = torch.nan_to_num(s, posinf=big, neginf=-big)
    if keep is not None:
        s = s.masked_fill(~keep.flatten().to("cpu"), float("-inf"))
    return s


def masks_from_scores(scores: Mapping[str, torch.Tensor], sparsity: float | Mapping[str, float], *,
                      scope: Scope = "global", current: Mapping[str, torch.Tensor] | None = None) -> Mask:
    """Masks pruning the lowest-scored weights to ``sparsity`` (fraction of prunable weights that are zero).

    ``sparsity`` may be a ``name -> sparsity`` mapping with ``scope="layerwise"``.  ``current`` (a previous
    mask) is respected: its pruned weights stay pruned; if it is already sparser than the target, it is returned
    unchanged for that group.
    """
    if scope not in ("global", "layerwise"):
        raise ConfigError(f"scope = {scope!r} is not allowed; expected one of 'global', 'layerwise'")
    if not scores:
        raise ValueError("masks_from_scores: no scores given (is the prunable selection empty?)")
    if current is not None:
        Mask(current).validate({n: s for n, s in scores.items()}, source="current mask")
    prepared = {n: _prepare(n, s, None if current is None else current[n]) for n, s in scores.items()}
    shapes = {n: s.shape for n, s in scores.items()}
    out: dict[str, torch.Tensor] = {}
    if scope == "global":
        if isinstance(sparsity, Mapping):
            raise ConfigError("a per-tensor sparsity mapping needs scope='layerwise'")
        flat = torch.cat(list(prepared.values()))
        already = int(torch.isneginf(flat).sum())
        k = max(n_to_prune(check_sparsity(sparsity), flat.numel()), already)
        keep = _keep_top(flat, flat.numel() - k)
        offset = 0
        for n, s in prepared.items():
            out[n] = keep[offset: offset + s.numel()].view(shapes[n])
            offset += s.numel()
    else:
        for n, s in prepared.items():
            sp = sparsity[n] if isinstance(sparsity, Mapping) else sparsity
            already = int(torch.isneginf(s).sum())
            k = max(n_to_prune(check_sparsity(sp, f"sparsity[{n}]"), s.numel()), already)
            out[n] = _keep_top(s, s.numel() - k).view(shapes[n])
    return Mask(out)
