"""Derived numbers of the report, computed once from the tidy table and shared by tables, figures and macros:
seed means, the fraction of dense effectiveness a pruned cell retains, the highest sparsity that keeps a given
fraction, and paired significance tests against dense with Holm's correction (Holm 1979)."""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from ..cells.schema import TASKS
from ..errors import DataFormatError
from ..significance import SignificanceConfig, compare, holm
from . import palette

GROUP = ["task", "model", "method", "target_sparsity", "split", "primary_metric"]
_MEAN_COLS = ["achieved_sparsity", "flops_dense", "flops_sparse", "latency_ms_per_query", "pqi", "total_params",
              "prunable_params", "nonzero_params", "size_dense_bytes", "size_sparse_bytes", "wall_time_s"]


def load_per_query(path: str | Path, metric: str, split: str) -> dict[str, float]:
    """Per-query scores of ``metric`` on ``split`` from one of the layouts the stages write:

    ``{metric: {qid: v}}``, ``{"per_query": {metric: {qid: v}}}`` (:meth:`EvalResult.write_per_query`) or
    ``{split: {metric: {qid: v}}}`` (the BM25 stage).
    """
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, Mapping) and "per_query" in data and isinstance(data["per_query"], Mapping):
        data = data["per_query"]
    if isinstance(data, Mapping) and split in data and isinstance(data[split], Mapping) and metric not in data:
        data = data[split]
    if not isinstance(data, Mapping) or metric not in data or not isinstance(data[metric], Mapping):
        raise DataFormatError(f"no per-query scores of {metric!r} (split {split!r})", path=path,
                              fix="write {metric: {qid: value}} (EvalResult.write_per_query) or "
                                  "{split: {metric: {qid: value}}}")
    return {str(q): float(v) for q, v in data[metric].items()}


def mean_cells(df: Any, value: str = "primary_value") -> Any:
    """One row per cell over seeds: ``value`` (mean), ``std`` (sample std, 0 for one seed), ``n_seeds`` and the
    mean of every cost column."""
    import pandas as pd

    if df.empty:
        return pd.DataFrame(columns=GROUP + ["value", "std", "n_seeds"] + _MEAN_COLS)
    d = df.copy()
    d["value"] = d[value].astype("float64")
    for c in _MEAN_COLS:
        d[c] = d[c].astype("float64")
    g = d.groupby(GROUP, sort=True, dropna=False)
    out = g.agg(value=("value", "mean"), std=("value", "std"), n_seeds=("value", "size"),
                **{c: (c, "mean") for c in _MEAN_COLS}).reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out


def with_retained(cells: Any) -> Any:
    """``cells`` plus ``dense_value`` and ``retained`` (= value / dense value of the same task, model and split;
    NaN where the model has no dense row)."""
    dense = cells[cells["method"] == "dense"].set_index(["task", "model", "split"])["value"]
    out = cells.copy()
    keys = list(zip(out["task"], out["model"], out["split"]))
    out["dense_value"] = [float(dense[k]) if k in dense.index else math.nan for k in keys]
    out["retained"] = out["value"] / out["dense_value"]
    return out


@dataclass(frozen=True)
class Keep:
    """The highest sparsity at which a model keeps ``keep`` of its dense effectiveness.

    ``status``: ``ok`` (found), ``none`` (pruned cells exist, none keeps it) or ``not run`` (no dense or no
    pruned cell)."""

    status: str
    achieved_sparsity: float | None = None
    target_sparsity: float | None = None
    method: str | None = None
    retained: float | None = None


def max_sparsity_keeping(df: Any, keep: float, by: str = "model", task: str = "ranking",
                         models: Iterable[str] = palette.STUDY_MODELS) -> dict[Any, Keep]:
    """For each model (``by="model"``) or (model, method) pair (``by="method"``): the cell of highest achieved
    sparsity whose seed-mean retains at least ``keep`` of dense.  Models of ``models`` without rows are
    ``not run``."""
    cells = with_retained(mean_cells(df[df["task"] == task]))
    pruned = cells[~cells["method"].isin(palette.REFERENCE_METHODS)]
    keys = ["model"] if by == "model" else ["model", "method"]
    out: dict[Any, Keep] = {}
    if by == "model":
        for m in models:
            out[m] = Keep("not run")
    for key, g in pruned.groupby(keys, sort=True):
        key = key[0] if by == "model" and isinstance(key, tuple) else key
        if g["dense_value"].isna().all():
            out[key] = Keep("not run")
            continue
        ok = g[g["retained"] >= keep - 1e-12]
        if ok.empty:
            out[key] = Keep("none")
            continue
        best = ok.sort_values(["achieved_sparsity", "retained"], ascending=False).iloc[0]
        out[key] = Keep("ok", float(best["achieved_sparsity"]), float(best["target_sparsity"]), str(best["method"]),
                        float(best["retained"]))
    return out


def at_sparsity(cells: Any, sparsity: float, tol: float) -> Any:
    """Rows of ``cells`` at ``sparsity``: target equal to it, or achieved within ``tol`` of it."""
    hit = (np.isclose(cells["target_sparsity"], sparsity, atol=1e-9)
           | ((cells["achieved_sparsity"] - sparsity).abs() <= tol))
    return cells[hit]


@dataclass(frozen=True)
class Test:
    """A paired test of a pruned cell against its dense model: raw and Holm-adjusted p, and the direction."""

    p_value: float
    p_holm: float
    significant: bool
    mean_diff: float
    n: int


@functools.lru_cache(maxsize=4096)
def _load_cached(path: str, mtime_ns: int, metric: str, split: str) -> dict[str, float]:
    return load_per_query(path, metric, split)


def _per_query_mean(rows: Any, metric: str, root: Path) -> dict[str, float] | None:
    """Per-query scores averaged over the seeds in ``rows``; None when any seed lacks them."""
    acc: dict[str, list[float]] = {}
    for p, split in zip(rows["per_query_path"], rows["split"]):
        if not isinstance(p, str) or not p or not (root / p).is_file():
            return None
        full = root / p
        for q, v in _load_cached(str(full), full.stat().st_mtime_ns, metric, split).items():
            acc.setdefault(q, []).append(v)
    n = len(rows)
    return {q: float(np.mean(v)) for q, v in acc.items() if len(v) == n}


def paired_test(rows_a: Any, rows_b: Any, metric: str, cfg: SignificanceConfig,
                root: str | Path = ".") -> Any:
    """Paired test (``cfg.test``) of the per-query ``metric`` of ``rows_a`` against ``rows_b`` (each averaged over
    its seeds) on their common queries; None when either side lacks per-query scores or fewer than 2 are shared."""
    a, b = _per_query_mean(rows_a, metric, Path(root)), _per_query_mean(rows_b, metric, Path(root))
    if not a or not b:
        return None
    common = sorted(set(a) & set(b))
    if len(common) < 2:
        return None
    return compare({q: a[q] for q in common}, {q: b[q] for q in common}, cfg=cfg)


def significance_vs_dense(df: Any, cell_keys: Iterable[tuple[str, str, float]], split: str, metric: str,
                          cfg: SignificanceConfig, root: str | Path = ".", task: str = "ranking"
                          ) -> dict[tuple[str, str, float], Test]:
    """Paired test (``cfg.test``; per-query ``metric`` averaged over seeds) of every (model, method, target
    sparsity) in ``cell_keys`` against its model's dense cell, Holm-corrected over the whole family at
    ``cfg.alpha``.  Cells without per-query scores on both sides are left out (reported as not tested)."""
    root = Path(root)
    sub = df[(df["split"] == split) & (df["task"] == task)]
    raw: dict[tuple[str, str, float], Any] = {}
    for model, method, target in cell_keys:
        dense = sub[(sub["model"] == model) & (sub["method"] == "dense")]
        pruned = sub[(sub["model"] == model) & (sub["method"] == method)
                     & np.isclose(sub["target_sparsity"], target, atol=1e-9)]
        if dense.empty or pruned.empty:
            continue
        c = paired_test(pruned, dense, metric, cfg, root)
        if c is not None:
            raw[(model, method, target)] = c
    return _holm_tests(raw, cfg.alpha)



def _holm_tests(raw: dict[Any, Any], alpha: float) -> dict[Any, "Test"]:
    """Holm-adjust a family of paired comparisons: key -> :class:`Test` (empty when nothing was compared)."""
    if not raw:
        return {}
    adj, rej = holm({k: c.p_value for k, c in raw.items()}, alpha=alpha)
    return {k: Test(c.p_value, adj[k], rej[k], c.mean_diff, c.n) for k, c in raw.items()}


def task_keeping(df: Any, keep: float, split: str = "test") -> dict[tuple[str, str], Keep]:
    """:func:`max_sparsity_keeping` for every task of the table: (task, model) -> the highest achieved sparsity
    keeping ``keep`` of the model's dense primary metric.  The study's rankers are always listed (``not run``
    without rows); a classification or translation model is listed when it has rows."""
    sub = df[df["split"] == split]
    out: dict[tuple[str, str], Keep] = {}
    for task in TASKS:
        models = palette.STUDY_MODELS if task == "ranking" else ()
        for model, k in max_sparsity_keeping(sub, keep, by="model", task=task, models=models).items():
            out[(task, model)] = k
    return out


def best_keeping(keeps: dict[tuple[str, str], Keep], task: str) -> tuple[str | None, Keep]:
    """The model of ``task`` reaching the highest sparsity in ``keeps`` (:func:`task_keeping`) and its
    :class:`Keep`; ``none`` when models ran but none keeps the share, ``not run`` when none ran."""
    mine = {m: k for (t, m), k in keeps.items() if t == task}
    ok = {m: k for m, k in mine.items() if k.status == "ok"}
    if ok:
        model = max(sorted(ok), key=lambda m: ok[m].achieved_sparsity)  # ties: first in name order
        return model, ok[model]
    if any(k.status == "none" for k in mine.values()):
        return None, Keep("none")
    return None, Keep("not run")


def best_retained_at(df: Any, sparsity: float, tol: float, split: str = "test", task: str = "ranking",
                     value: str = "primary_value") -> dict[str, Any]:
    """model -> the seed-mean cell (best method) of ``task`` retaining the largest share of its dense ``value``
    at ``sparsity`` (:func:`at_sparsity`); models without such a cell are absent."""
    sub = df[(df["split"] == split) & (df["task"] == task) & df[value].notna()]
    cells = with_retained(mean_cells(sub, value=value))
    pruned = cells[~cells["method"].isin(palette.REFERENCE_METHODS) & cells["retained"].notna()]
    out: dict[str, Any] = {}
    for model in sorted(set(pruned["model"])):
        hit = at_sparsity(pruned[pruned["model"] == model], sparsity, tol)
        if not hit.empty:
            out[model] = hit.sort_values(["retained", "method"], ascending=[False, True]).iloc[0]
    return out


def seed_paired(df: Any, task: str, model: str, method_a: str, method_b: str, sparsity: float,
                split: str = "test", value: str = "primary_value", test: str = "t-test") -> Any:
    """Paired test over seeds of ``method_a`` against ``method_b`` (same task, model and target sparsity; each
    seed's ``value`` is one pair): an :class:`irprune.significance.Comparison`, or None with fewer than two
    seeds that both methods ran."""
    sub = df[(df["split"] == split) & (df["task"] == task) & (df["model"] == model)
             & np.isclose(df["target_sparsity"].astype("float64"), sparsity, atol=1e-9) & df[value].notna()]
    a = {str(int(r["seed"])): float(r[value]) for _, r in sub[sub["method"] == method_a].iterrows()}
    b = {str(int(r["seed"])): float(r[value]) for _, r in sub[sub["method"] == method_b].iterrows()}
    common = sorted(set(a) & set(b))
    if len(common) < 2:
        return None
    return compare({s: a[s] for s in common}, {s: b[s] for s in common}, test)



@dataclass(frozen=True)
class SeedCell:
    """One method at one target sparsity over its training seeds, against the dense models of the same seeds (a
    cell at seed ``s`` prunes the dense model trained at seed ``s``)."""

    target_sparsity: float
    achieved_sparsity: float
    seeds: tuple[int, ...]
    mean: float                 # seed mean of the metric
    sd: float                   # sample standard deviation over the seeds (0 for one seed)
    dense_mean: float           # seed mean of the dense models of the same seeds
    retained: float             # mean / dense_mean


def matched_seed_cells(df: Any, model: str, method: str, split: str = "test", metric: str = "mrr@10",
                       task: str = "ranking") -> list[SeedCell]:
    """Every target sparsity of ``model`` x ``method`` as a :class:`SeedCell`, by target sparsity; seeds without a
    dense row are left out (a curve point run at seed 0 only is compared with the dense model of seed 0)."""
    sub = df[(df["split"] == split) & (df["task"] == task) & (df["model"] == model) & df[metric].notna()]
    dense = {int(r["seed"]): float(r[metric]) for _, r in sub[sub["method"] == "dense"].iterrows()}
    out: list[SeedCell] = []
    pruned = sub[(sub["method"] == method) & sub["seed"].isin(list(dense))]
    for target, g in pruned.groupby("target_sparsity", sort=True):
        seeds = tuple(sorted(int(s) for s in g["seed"]))
        vals = g[metric].astype("float64").to_numpy()
        dense_mean = float(np.mean([dense[s] for s in seeds]))
        mean = float(vals.mean())
        out.append(SeedCell(float(target), float(g["achieved_sparsity"].astype("float64").mean()), seeds, mean,
                            float(vals.std(ddof=1)) if len(vals) > 1 else 0.0, dense_mean,
                            mean / dense_mean if dense_mean > 0 else math.nan))
    return out


def highest_keeping(cells: Iterable[SeedCell], keep: float) -> Keep:
    """The :class:`Keep` of the highest achieved sparsity among ``cells`` whose seed mean retains ``keep`` of the
    dense models of the same seeds (``none`` when none does, ``not run`` without cells)."""
    cells = list(cells)
    if not cells:
        return Keep("not run")
    ok = [c for c in cells if c.retained >= keep - 1e-12]
    if not ok:
        return Keep("none")
    best = max(ok, key=lambda c: (c.achieved_sparsity, c.retained))
    return Keep("ok", best.achieved_sparsity, best.target_sparsity, None, best.retained)


def seed_matched_vs_dense(df: Any, keys: Iterable[tuple[str, str, float]], split: str, metric: str,
                          cfg: SignificanceConfig, root: str | Path = ".", task: str = "ranking"
                          ) -> dict[tuple[str, str, float], Test]:
    """Paired test (``cfg.test``) of each (model, method, target sparsity) against the dense models of the same
    training seeds, pooled over seeds: each query's ``metric`` averaged over the cell's seeds on both sides, the
    queries as pairs; Holm-corrected over ``keys`` at ``cfg.alpha``.  Cells without per-query scores are left out."""
    sub = df[(df["split"] == split) & (df["task"] == task)]
    raw: dict[tuple[str, str, float], Any] = {}
    for model, method, target in keys:
        pruned = sub[(sub["model"] == model) & (sub["method"] == method)
                     & np.isclose(sub["target_sparsity"].astype("float64"), target, atol=1e-9)]
        dense = sub[(sub["model"] == model) & (sub["method"] == "dense")]
        dense = dense[dense["seed"].isin(list(pruned["seed"]))]
        pruned = pruned[pruned["seed"].isin(list(dense["seed"]))]
        if pruned.empty:
            continue
        c = paired_test(pruned, dense, metric, cfg, root)
        if c is not None:
            raw[(model, method, target)] = c
    return _holm_tests(raw, cfg.alpha)
