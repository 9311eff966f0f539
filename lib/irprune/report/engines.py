"""Measured latency in the paper: what pruning buys on each inference engine, next to what FLOPs and size promise.

Each ranking cell carries the median ms per query (one query's candidates) of every engine it was timed on
(``latency_ms_<engine>``, :mod:`irprune.costs.engines`), the intra-op threads and the CPU that timed it.  The
reference is the *dense* model of the same ranker on torch fp32 (its ``latency_ms_torch``, else
``latency_ms_per_query``): speed-up = reference ms / engine ms, so the dense model on torch is 1x and an engine
that is faster on the dense model already shows it at sparsity 0.  Cells are the main method's (a mask's
positions, not its method, decide a dense kernel's time), seed means per target sparsity.  The FLOPs ratio is
``flops_dense / flops_sparse`` (multiply-adds of non-zero weights only) and the size ratio ``size_dense_bytes /
size_sparse_bytes`` (dense safetensors over the compressed sparse format): the speed-ups a sparse engine could
at best approach.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..cells.schema import ENGINE_LATENCY, ENGINE_NAMES
from . import palette
from .figures import _legend, _panels, _plt, _save
from .tables import NOT_RUN, Table

ENGINE_COLUMN = dict(zip(ENGINE_NAMES, ENGINE_LATENCY))
_MEANS = ENGINE_LATENCY + ("latency_ms_per_query", "achieved_sparsity", "flops_dense", "flops_sparse",
                           "size_dense_bytes", "size_sparse_bytes")


def latency_cells(df: Any, split: str = "test", method: str = "gmp", task: str = "ranking") -> Any:
    """Seed means per (model, method, target sparsity) of the dense and ``method`` ranking cells with a measured
    latency, plus ``speedup_<engine>`` over the model's dense torch fp32 reference (``NaN`` where not timed);
    models without a dense reference are left out.  Empty when nothing was timed."""
    import pandas as pd

    cols = [c for c in _MEANS if c in df.columns]
    sub = df[(df["split"] == split) & (df["task"] == task) & df["method"].isin(("dense", method))]
    timed = [c for c in ENGINE_LATENCY + ("latency_ms_per_query",) if c in sub.columns]
    sub = sub[sub[timed].notna().any(axis=1)] if timed else sub.iloc[0:0]
    if sub.empty:
        return pd.DataFrame()
    cells = sub.groupby(["model", "method", "target_sparsity"], sort=False)[cols].mean().reset_index()
    out = []
    for model, g in cells.groupby("model", sort=False):
        dense = g[g["method"] == "dense"]
        if dense.empty:
            continue
        ref = dense.iloc[0].get("latency_ms_torch")
        ref = dense.iloc[0]["latency_ms_per_query"] if ref is None or math.isnan(ref) else ref
        if ref is None or math.isnan(ref) or ref <= 0:
            continue
        g = g.copy()
        for engine, col in ENGINE_COLUMN.items():
            if col in g.columns:
                g[f"speedup_{engine}"] = ref / g[col]
        g["reference_ms"] = ref
        out.append(g.sort_values("target_sparsity"))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def engines_measured(cells: Any) -> list[str]:
    """Engines with at least one timed cell, in :data:`ENGINE_NAMES` order."""
    return [e for e in ENGINE_NAMES if f"speedup_{e}" in cells.columns and cells[f"speedup_{e}"].notna().any()]


def machine(df: Any, task: str = "ranking") -> tuple[str, str]:
    """What timed the cells: the CPU(s) and the thread count(s) of ``latency_cpu`` / ``latency_threads``
    (``"unknown"`` for cells that did not record them, several values joined by "; ")."""
    sub = df[df["task"] == task] if "latency_cpu" in df.columns else df.iloc[0:0]
    timed = sub[sub[[c for c in ENGINE_LATENCY if c in sub.columns]].notna().any(axis=1)] if not sub.empty else sub
    cpus = sorted({str(c) for c in timed.get("latency_cpu", []) if isinstance(c, str) and c})
    threads = sorted({int(t) for t in timed.get("latency_threads", []) if t is not None and not _isnan(t)})
    return "; ".join(cpus) or "unknown", ", ".join(str(t) for t in threads) or "unknown"


def _isnan(x: Any) -> bool:
    try:
        return math.isnan(float(x))
    except (TypeError, ValueError):
        return True


def _ratio(a: Any, b: Any) -> str:
    if a is None or b is None or _isnan(a) or _isnan(b) or float(b) <= 0:
        return "n/a"
    return f"{float(a) / float(b):.2f}×"


def figure(df: Any, out_dir: Path, split: str = "test", method: str = "gmp") -> list[Path]:
    """``engine_latency``: latency per query relative to the dense model on torch fp32 against achieved sparsity,
    a panel per ranker, a line per engine (sparsity 0 = the dense model on that engine), the reference (1x) as a
    black horizontal line; ``[]`` when no cell was timed."""
    cells = latency_cells(df, split, method)
    if cells.empty:
        return []
    engines = engines_measured(cells)
    models = palette.model_order(set(cells["model"]))
    plt = _plt()
    fig, axes = _panels(plt, len(models))
    for ax, model in zip(axes, models):
        g = cells[cells["model"] == model].sort_values("target_sparsity")
        x = g["achieved_sparsity"].fillna(g["target_sparsity"]).to_numpy() * 100
        for engine in engines:
            st = palette.engine_style(engine)
            rel = 1.0 / g[f"speedup_{engine}"].to_numpy()
            ax.plot(x, rel, color=st.color, marker=st.marker, linestyle=st.linestyle, markersize=3.5,
                    linewidth=1.2, label=st.label)
        ax.axhline(1.0, color="black", linewidth=0.8, linestyle=":", label="dense, torch fp32 (1×)")
        ax.set_title(palette.model_label(model))
        ax.set_xlim(-2, 100)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("Sparsity (%)")
        ax.set_ylabel("Latency / dense torch")
    _legend(fig, axes, ncol=3)
    return _save(fig, out_dir, "engine_latency")


def table(df: Any, split: str = "test", method: str = "gmp") -> Table:
    """``engine_speedup``: per ranker and measured target sparsity (dense first), the speed-up of each engine
    over the dense torch fp32 model, then the FLOPs and size ratios of the same cells."""
    cells = latency_cells(df, split, method)
    cpu, threads = machine(df)
    label = palette.method_label(method)
    caption = (f"Measured speed-up over the dense ranker on torch fp32 (ratio of median milliseconds to score one "
               f"query's candidates; above 1× is faster), per inference engine, for the dense model and "
               f"{label} at each measured sparsity (mean over seeds), beside the FLOPs ratio (dense / sparse-"
               f"execution multiply-adds) and the size ratio (dense / compressed-sparse bytes). Timed on {cpu} "
               f"with {threads} intra-op thread(s).")
    if cells.empty:
        return Table("engine_speedup", ("Model", "Sparsity", "Speed-up"), (("all rankers", NOT_RUN, NOT_RUN),),
                     caption, "tab:engines", "llr")
    engines = engines_measured(cells)
    rows, groups = [], []
    for model in palette.model_order(set(cells["model"])):
        g = cells[cells["model"] == model].sort_values("target_sparsity")
        for _, r in g.iterrows():
            sp = "dense" if r["method"] == "dense" else f"{100 * r['target_sparsity']:g}%"
            speed = tuple("n/a" if _isnan(r[f"speedup_{e}"]) else f"{r[f'speedup_{e}']:.2f}×" for e in engines)
            rows.append((palette.model_label(model), sp) + speed
                        + (_ratio(r.get("flops_dense"), r.get("flops_sparse")),
                           _ratio(r.get("size_dense_bytes"), r.get("size_sparse_bytes"))))
        groups.append(len(rows) - 1)
    header = ("Model", "Sparsity") + tuple(palette.engine_style(e).label for e in engines) + ("FLOPs ratio",
                                                                                               "Size ratio")
    return Table("engine_speedup", header, tuple(rows), caption, "tab:engines",
                 "ll" + "r" * (len(header) - 2), group_rows=tuple(groups))


def add_macros(M: Any, df: Any, split: str = "test", method: str = "gmp") -> None:
    """``HaveLatency``; ``LatencyMachine`` and ``LatencyThreads`` (what timed the cells); ``LatencyEngines`` (the
    engines measured, by name)."""
    cells = latency_cells(df, split, method)
    cpu, threads = machine(df)
    M.flag("HaveLatency", not cells.empty)
    M.text("LatencyMachine", cpu)
    M.text("LatencyThreads", threads)
    names = [palette.engine_style(e).label for e in engines_measured(cells)] if not cells.empty else []
    M.text("LatencyEngines", ", ".join(names) or NOT_RUN)


__all__ = ["ENGINE_COLUMN", "latency_cells", "engines_measured", "machine", "figure", "table", "add_macros"]
