"""What a sparsity buys: research question 1's answer in measured time, next to the quality it costs.

Per ranker, at each high key sparsity (``report.key_sparsities`` at or above ``report.question_sparsity``:
80/90/95% by default) of the main method, and at every sparsity of the ``structured`` method (heads and FFN
neurons physically removed, monoBERT only):

* **kept**: the seed mean of the primary metric over the dense models of the same seeds
  (:func:`irprune.report.analysis.matched_seed_cells`, as in the Q1 answer);
* **speed-up**: the dense ranker's median ms per query on torch fp32 over the cell's, on the fastest engine the
  cell was timed on (:func:`irprune.report.engines.latency_cells`, seed means), and on torch fp32 itself;
* **FLOPs ratio**: the dense ranker's ``flops_dense`` over the cell's ``flops_sparse``; **size ratio**: the dense
  ranker's ``size_dense_bytes`` over the cell's smaller file (``size_dense_bytes`` or ``size_sparse_bytes``), so
  a structured cell, a smaller dense model, is measured against the model it came from too.

A cell with no row reads :data:`~irprune.report.tables.NOT_RUN`; a number the rows do not give (no latency, no
dense reference) reads ``n/a``.  Quantised engines (int8, bf16) change the scores, so the quality kept is that of
the fp32 model; their top-10 agreement with torch is in each cell's ``costs.json``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from . import palette
from .analysis import highest_keeping, matched_seed_cells
from .engines import ENGINE_COLUMN, latency_cells, machine
from .figures import METRIC_LABELS
from .macros import Macros, pct
from .tables import NOT_RUN, Table, latex_escape

NA = "n/a"
#: the method that removes attention heads and FFN neurons from the model (``irprune.prune_cell.BERT_ONLY``)
STRUCTURED = "structured"
#: rankers the structured method applies to (a row "not run" is shown for them when it was not run)
STRUCTURED_MODELS = ("monobert",)
#: the measured speed-up the answer asks of a structured cell
STRUCTURED_TARGET_SPEEDUP = 2.0


@dataclass(frozen=True)
class Buy:
    """What one (model, method, target sparsity) cell buys; ``ran`` is False when it has no row (every number
    None); a None number of a cell that ran is one its rows do not give."""

    model: str
    method: str
    target_sparsity: float
    ran: bool
    retained: float | None = None
    seeds: int = 0
    best_engine: str | None = None
    best_speedup: float | None = None
    torch_speedup: float | None = None
    flops_ratio: float | None = None
    size_ratio: float | None = None


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _ratio(a: Any, b: Any) -> float | None:
    a, b = _num(a), _num(b)
    return a / b if a is not None and b is not None and b > 0 else None


def _col_mean(rows: Any, col: str) -> float | None:
    if col not in rows.columns:
        return None
    vals = rows[col].astype("float64").dropna()
    return float(vals.mean()) if len(vals) else None


def high_sparsities(key_sparsities: Iterable[float], question_sparsity: float) -> tuple[float, ...]:
    """The key sparsities at or above question 1's "high sparsity", ascending (default 0.8, 0.9, 0.95)."""
    return tuple(sorted(s for s in set(key_sparsities) if s >= question_sparsity - 1e-9))


def cell_buys(df: Any, model: str, method: str, target: float, split: str = "test", metric: str = "mrr@10",
              lat: Any = None) -> Buy:
    """The :class:`Buy` of one cell; ``lat``: :func:`latency_cells` of ``method`` (computed when None)."""
    sub = df[(df["split"] == split) & (df["task"] == "ranking") & (df["model"] == model)]
    rows = sub[(sub["method"] == method) & np.isclose(sub["target_sparsity"].astype("float64"), target, atol=1e-9)]
    if rows.empty:
        return Buy(model, method, float(target), False)
    cell = next((c for c in matched_seed_cells(df, model, method, split, metric)
                 if abs(c.target_sparsity - target) < 1e-9), None)
    dense = sub[sub["method"] == "dense"]
    lat = latency_cells(df, split, method) if lat is None else lat
    best_engine = best = torch = None
    if not lat.empty:
        hit = lat[(lat["model"] == model) & (lat["method"] == method)
                  & np.isclose(lat["target_sparsity"].astype("float64"), target, atol=1e-9)]
        if not hit.empty:
            r = hit.iloc[0]
            speed = {e: _num(r.get(f"speedup_{e}")) for e in ENGINE_COLUMN}
            speed = {e: v for e, v in speed.items() if v is not None}
            if speed:
                best_engine = max(speed, key=lambda e: (speed[e], -list(ENGINE_COLUMN).index(e)))
                best, torch = speed[best_engine], speed.get("torch")
    smaller = [v for v in (_col_mean(rows, "size_dense_bytes"), _col_mean(rows, "size_sparse_bytes"))
               if v is not None]
    return Buy(model, method, float(target), True, cell.retained if cell else None, len(cell.seeds) if cell else 0,
               best_engine, best, torch, _ratio(_col_mean(dense, "flops_dense"), _col_mean(rows, "flops_sparse")),
               _ratio(_col_mean(dense, "size_dense_bytes"), min(smaller) if smaller else None))


def _models(df: Any, split: str) -> list[str]:
    sub = df[(df["split"] == split) & (df["task"] == "ranking")]
    return palette.model_order(set(palette.STUDY_MODELS) | (set(sub["model"]) - {"bm25"}))


def structured_targets(df: Any, model: str, split: str = "test") -> list[float]:
    """Target sparsities of the structured cells of ``model`` that ran, ascending."""
    sub = df[(df["split"] == split) & (df["task"] == "ranking") & (df["model"] == model)
             & (df["method"] == STRUCTURED)]
    return sorted({float(s) for s in sub["target_sparsity"]})


def buys(df: Any, sparsities: Iterable[float], split: str = "test", metric: str = "mrr@10",
         method: str = "gmp") -> list[Buy]:
    """Per ranker (study order), the :class:`Buy` of ``method`` at each of ``sparsities``, then of
    :data:`STRUCTURED` at each sparsity it ran (one not-run entry, sparsity NaN, for the rankers of
    :data:`STRUCTURED_MODELS` where it did not)."""
    lat = latency_cells(df, split, method)
    lat_s = latency_cells(df, split, STRUCTURED) if method != STRUCTURED else lat
    out = []
    sparsities = sorted(sparsities)
    for model in _models(df, split):
        out += [cell_buys(df, model, method, s, split, metric, lat) for s in sparsities]
        if method == STRUCTURED:
            continue
        targets = structured_targets(df, model, split)
        if targets:
            out += [cell_buys(df, model, STRUCTURED, s, split, metric, lat_s) for s in targets]
        elif model in STRUCTURED_MODELS:
            out.append(Buy(model, STRUCTURED, math.nan, False))
    return out


def _x(v: float | None) -> str:
    return NA if v is None else f"{v:.2f}×"


def _share(v: float | None) -> str:
    return NA if v is None else f"{100 * v:.1f}%"


def row(b: Buy) -> tuple[str, ...]:
    """The table row of ``b``: model, method, sparsity, kept, speed-up, engine, torch, FLOPs and size ratios."""
    sp = NOT_RUN if math.isnan(b.target_sparsity) else f"{100 * b.target_sparsity:g}%"
    head = (palette.model_label(b.model), palette.method_label(b.method), sp)
    if not b.ran:
        return head + (NOT_RUN,) * 6
    return head + (_share(b.retained), _x(b.best_speedup),
                   palette.engine_style(b.best_engine).label if b.best_engine else NA, _x(b.torch_speedup),
                   _x(b.flops_ratio), _x(b.size_ratio))


def table(df: Any, sparsities: Iterable[float], split: str = "test", metric: str = "mrr@10",
          method: str = "gmp") -> Table:
    """``q1_buys``: what each high sparsity of ``method`` and each structured cell buys, per ranker."""
    sparsities = sorted(sparsities)
    items = buys(df, sparsities, split, metric, method)
    cpu, threads = machine(df)
    name = "/".join(f"{100 * s:g}" for s in sparsities) + "%" if sparsities else "high sparsity"
    caption = (f"What {name} sparsity buys: per ranker, {palette.method_label(method)} at each of these sparsities "
               f"and structured pruning ({palette.method_label(STRUCTURED)}) at each sparsity run; the share "
               f"of the dense {METRIC_LABELS.get(metric, metric)} kept (mean over seeds, each against the dense "
               f"model of its seed), the measured speed-up over the dense ranker on torch fp32 on the fastest engine "
               f"timed for that cell (named; quantised engines change the scores, the share kept is the fp32 "
               f"model's) and on torch fp32, the FLOPs ratio (dense / sparse-execution multiply-adds) and the size "
               f"ratio (dense / the cell's smaller file). Timed on {cpu} with {threads} intra-op thread(s); "
               f"{NA}: not measured.")
    rows, groups = [], []
    for i, b in enumerate(items):
        rows.append(row(b))
        if i + 1 == len(items) or items[i + 1].model != b.model:
            groups.append(len(rows) - 1)
    header = ("Model", "Method", "Sparsity", "Kept", "Speed-up", "Fastest engine", "On torch", "FLOPs ratio",
              "Size ratio")
    return Table("q1_buys", header, tuple(rows), caption, "tab:buys", "lll" + "r" * 6, group_rows=tuple(groups))


def _tex_x(v: float) -> str:
    return f"{v:.2f}$\\times$"


def _tex_sparsity(s: float) -> str:
    return f"{100 * s:g}\\%"


def _answer_cell(df: Any, model: str, cfg: Any) -> tuple[float, str]:
    """The target sparsity question 1's answer prices for ``model`` and the :class:`~.analysis.Keep` status:
    the highest that keeps ``cfg.question_keep`` of dense under the main method (``ok``), else
    ``cfg.compare_sparsity`` (``none``: no cell keeps it; ``not run``: no cell with a dense baseline)."""
    k = highest_keeping(matched_seed_cells(df, model, cfg.main_method, cfg.split, cfg.primary_metric),
                        cfg.question_keep)
    if k.status == "ok" and k.target_sparsity is not None:
        return float(k.target_sparsity), k.status
    return float(cfg.compare_sparsity), k.status


def add_macros(M: Macros, df: Any, cfg: Any) -> None:
    """Macros of question 1's price in time (``cfg``: :class:`irprune.report.config.ReportConfig`).

    ``\\ifHaveBuys`` (a main-method cell was timed); per ranker ``<M>`` at the sparsity of :func:`_answer_cell`:
    ``\\<M>BuysSparsity``, ``\\if<M>BuysKeeps`` (it keeps the Q1 share; else it is ``compare_sparsity``),
    ``\\if<M>BuysMeasured``, ``\\<M>BuysSpeedup`` / ``Engine`` / ``TorchSpeedup`` and ``\\<M>BuysText`` (one
    clause); ``\\ifHaveStructuredBuys`` (a structured cell was timed), ``\\ifStructuredReachesTarget`` (one runs
    at least :data:`STRUCTURED_TARGET_SPEEDUP` times faster on some engine), ``\\StructuredTargetSpeedup`` and
    ``\\StructuredBuysText`` (the best-keeping cell that reaches it, else the fastest)."""
    split, metric, method = cfg.split, cfg.primary_metric, cfg.main_method
    mlabel = latex_escape(METRIC_LABELS.get(metric, metric))
    lat = latency_cells(df, split, method)
    any_timed = False
    for model in _models(df, split):
        stem = palette.model_info(model).macro
        target, status = _answer_cell(df, model, cfg)
        keeps = status == "ok"
        b = cell_buys(df, model, method, target, split, metric, lat)
        measured = b.best_speedup is not None
        any_timed |= measured
        M.add(f"{stem}BuysSparsity", _tex_sparsity(target))
        M.flag(f"{stem}BuysKeeps", keeps)
        M.flag(f"{stem}BuysMeasured", measured)
        missing = NA if b.ran else NOT_RUN
        M.add(f"{stem}BuysSpeedup", _tex_x(b.best_speedup) if measured else missing)
        M.text(f"{stem}BuysEngine", palette.engine_style(b.best_engine).label if measured else missing)
        M.add(f"{stem}BuysTorchSpeedup", _tex_x(b.torch_speedup) if b.torch_speedup is not None else NA)
        where = (f"at {M.values[f'{stem}BuysSparsity']} sparsity"
                 + (f" (the highest keeping {100 * cfg.question_keep:g}\\% of dense {mlabel})" if keeps else
                    f" (none keeps {100 * cfg.question_keep:g}\\% of dense {mlabel})"))
        if status == "not run":
            text = NOT_RUN
        elif not b.ran:
            text = f"{where} was not run"
        elif not measured:
            text = f"{where} was not timed"
        else:
            text = (f"{where} runs {_tex_x(b.best_speedup)} faster than dense on "
                    f"{latex_escape(palette.engine_style(b.best_engine).label)} ("
                    + (f"{_tex_x(b.torch_speedup)} on torch" if b.torch_speedup is not None else
                       "torch not measured") + ")")
        M.add(f"{stem}BuysText", text)
    M.flag("HaveBuys", any_timed)
    lat_s = latency_cells(df, split, STRUCTURED)
    cells = [cell_buys(df, m, STRUCTURED, s, split, metric, lat_s) for m in _models(df, split)
             for s in structured_targets(df, m, split)]
    timed = [c for c in cells if c.best_speedup is not None]
    reach = [c for c in timed if c.best_speedup >= STRUCTURED_TARGET_SPEEDUP - 1e-12]
    M.flag("HaveStructuredBuys", bool(timed))
    M.flag("StructuredReachesTarget", bool(reach))
    M.add("StructuredTargetSpeedup", f"{STRUCTURED_TARGET_SPEEDUP:g}$\\times$")
    goal = f"{STRUCTURED_TARGET_SPEEDUP:g}$\\times$ measured speed-up"
    if reach:     # the reaching cell that keeps the most quality
        c = max(reach, key=lambda c: (-1.0 if c.retained is None else c.retained, c.best_speedup))
        lead = f"reaches {goal}: "
    elif timed:   # none reaches it: the fastest
        c = max(timed, key=lambda c: c.best_speedup)
        lead = f"does not reach {goal}; its fastest cell, "
    if timed:
        kept = pct(c.retained) if c.retained is not None else NA
        text = (f"{lead}{latex_escape(palette.model_label(c.model))} at {_tex_sparsity(c.target_sparsity)} "
                f"sparsity{' ' if reach else ', '}runs {_tex_x(c.best_speedup)} faster than dense on "
                f"{latex_escape(palette.engine_style(c.best_engine).label)} ("
                + (f"{_tex_x(c.torch_speedup)} on torch" if c.torch_speedup is not None else "torch not measured")
                + f") and keeps {kept} of dense {mlabel}")
    else:
        text = NOT_RUN
    M.add("StructuredBuysText", text)


__all__ = ["Buy", "STRUCTURED", "STRUCTURED_MODELS", "STRUCTURED_TARGET_SPEEDUP", "high_sparsities", "cell_buys",
           "structured_targets", "buys", "row", "table", "add_macros"]
