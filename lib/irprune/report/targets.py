"""The study's stated targets, checked from the results table and written as macros (never as typed prose).

* Every dense ranker should beat BM25 on the primary metric, significantly (paired test on per-query scores).
* At ``report.compare_sparsity`` (90% by default) the main method (GMP) should keep at least
  ``report.target_keep`` of its dense model's primary metric and be ahead of random pruning, significantly.

When a target is missed the macros carry the evidence: the numbers, the p-values and whether the dense model
itself beat BM25 (a pruned model can only "keep" what its dense model learned).  The macros are written by
:func:`irprune.report.macros.target_macros`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..significance import SignificanceConfig
from .analysis import mean_cells, paired_test, with_retained


@dataclass(frozen=True)
class PairedResult:
    mean_a: float
    mean_b: float
    p_value: Optional[float]          # None when per-query scores are missing
    significant_better: bool          # A > B with p <= alpha


@dataclass(frozen=True)
class GmpTarget:
    model: str
    retained: Optional[float]         # main method's primary metric / dense's, seeds averaged; None = not run
    keeps_target: bool
    vs_random: Optional[PairedResult]


def _paired(rows_a: Any, rows_b: Any, metric: str, root: Path, sig: SignificanceConfig) -> Optional[PairedResult]:
    if rows_a.empty or rows_b.empty:
        return None
    c = paired_test(rows_a, rows_b, metric, sig, root)
    return PairedResult(float(rows_a[metric].mean()), float(rows_b[metric].mean()),
                        None if c is None else c.p_value,
                        c is not None and c.mean_diff > 0 and c.p_value <= sig.alpha)


def dense_vs_bm25(df: Any, split: str, metric: str, sig: SignificanceConfig,
                  root: Path = Path(".")) -> dict[str, PairedResult]:
    """Per ranker: dense primary metric against BM25's, with the paired test."""
    sub = df[(df["task"] == "ranking") & (df["split"] == split)]
    bm = sub[sub["method"] == "bm25"]
    out: dict[str, PairedResult] = {}
    for model in sorted(set(sub.loc[sub["method"] == "dense", "model"])):
        r = _paired(sub[(sub["model"] == model) & (sub["method"] == "dense")], bm, metric, root, sig)
        if r is not None:
            out[model] = r
    return out


def gmp_targets(df: Any, split: str, metric: str, sparsity: float, tol: float, keep: float, main_method: str,
                sig: SignificanceConfig, root: Path = Path(".")) -> dict[str, GmpTarget]:
    """Per ranker with a ``main_method`` cell at ``sparsity`` (within ``tol``): retained share and vs random."""
    sub = df[(df["task"] == "ranking") & (df["split"] == split)]
    if sub.empty:
        return {}
    cells = with_retained(mean_cells(sub[sub[metric].notna()], value=metric))
    near = cells[(cells["target_sparsity"] - sparsity).abs() <= tol]
    out: dict[str, GmpTarget] = {}
    for model in sorted(set(near.loc[near["method"] == main_method, "model"])):
        c = near[(near["model"] == model) & (near["method"] == main_method)].iloc[0]
        retained = float(c["retained"]) if c["retained"] == c["retained"] else None
        t = float(c["target_sparsity"])
        rows = sub[(sub["model"] == model) & ((sub["target_sparsity"] - t).abs() < 1e-9)]
        vs = _paired(rows[rows["method"] == main_method], rows[rows["method"] == "random"], metric, root, sig)
        out[model] = GmpTarget(model, retained, retained is not None and retained >= keep, vs)
    return out


__all__ = ["PairedResult", "GmpTarget", "dense_vs_bm25", "gmp_targets"]
