"""The study's stated targets, checked from the results table and written as macros (never as typed prose).

* Every dense ranker should beat BM25 on the primary metric, significantly (paired test on per-query scores).
* At ``report.compare_sparsity`` (90% by default) the main method (GMP) should keep at least
  ``report.target_keep`` of its dense model's primary metric and be ahead of random pruning, significantly.

When a target is missed the macros carry the evidence: the numbers, the p-values and whether the dense model
itself beat BM25 (a pruned model can only "keep" what its dense model learned).
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


def add_macros(M: Any, df: Any, cfg: Any, sig: SignificanceConfig, root: Path = Path("."),
               vs_bm: Optional[dict[str, PairedResult]] = None) -> None:
    """``\\<Model>DenseBeatsBM`` flags and p-values; ``\\<Model>Target...`` macros for the GMP target.
    ``vs_bm``: :func:`dense_vs_bm25`'s result when the caller already has it."""
    from . import palette
    from .macros import NOT_RUN, num, pct

    def p_text(p: Optional[float]) -> str:
        return NOT_RUN if p is None else (f"{p:.1e}" if p < 1e-3 else f"{p:.3g}")   # 0.0497, not 0.050

    if vs_bm is None:
        vs_bm = dense_vs_bm25(df, cfg.split, cfg.primary_metric, sig, root)
    targets = gmp_targets(df, cfg.split, cfg.primary_metric, cfg.compare_sparsity, cfg.sparsity_tolerance,
                          cfg.target_keep, cfg.main_method, sig, root)
    M.add("TargetKeep", pct(cfg.target_keep, 0))
    M.text("MainMethodName", palette.method_label(cfg.main_method))
    beaten = [m for m, r in vs_bm.items() if r.significant_better]
    M.flag("AllDenseBeatBM", bool(vs_bm) and len(beaten) == len(vs_bm))
    M.text("DenseNotBeatingBM", ", ".join(palette.model_label(m) for m in palette.model_order(set(vs_bm) - set(beaten)))
           or "none")
    for m in palette.model_order(set(palette.STUDY_MODELS) | set(vs_bm) | set(targets)):
        stem = palette.model_info(m).macro
        r = vs_bm.get(m)
        M.flag(f"{stem}DenseBeatsBM", bool(r and r.significant_better))
        M.add(f"{stem}DenseVsBMP", p_text(r.p_value if r else None))
        t = targets.get(m)
        M.flag(f"{stem}HaveTarget", t is not None and t.retained is not None)
        M.add(f"{stem}TargetRetained", pct(t.retained) if t and t.retained is not None else NOT_RUN)
        M.flag(f"{stem}TargetKept", bool(t and t.keeps_target))
        vr = t.vs_random if t else None
        M.flag(f"{stem}TargetHaveRandom", vr is not None)
        M.add(f"{stem}TargetMain", num(vr.mean_a) if vr else NOT_RUN)
        M.add(f"{stem}TargetRandom", num(vr.mean_b) if vr else NOT_RUN)
        M.add(f"{stem}TargetVsRandomP", p_text(vr.p_value if vr else None))
        M.flag(f"{stem}TargetAheadOfRandom", bool(vr and vr.significant_better))


__all__ = ["PairedResult", "GmpTarget", "dense_vs_bm25", "gmp_targets", "add_macros"]
