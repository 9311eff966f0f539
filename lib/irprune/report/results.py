"""The tidy results table: one row per cell (task x model x method x target sparsity x seed x split).

Every stage that evaluates a model writes one **cell file** per evaluated cell: a flat JSON object with exactly
the keys of :data:`COLUMNS` (``null`` where a value does not apply, e.g. ``bleu`` for ranking, FLOPs for BM25).
:func:`make_cell` builds one from keyword arguments and fills the rest with ``null``; :func:`write_cell` validates
and writes it atomically.  The ``collect`` stage (:func:`collect`) reads every cell file plus the BM25 stage's
metrics into the table, validating each with :func:`validate_cell`; any problem stops it with the file, the key,
what is wrong and the fix.

Column meanings (after ranx's tidy report, ``ranx/data_structures/report.py``: results are data, tables are
rendered from them):

* identity: ``task`` (ranking | classification | translation | dsi: generative retrieval evaluated on DSI's
  indexed subset of the collection, never comparable with full-collection ranking rows; dense: first-stage
  dense retrieval over the whole collection, the bi-encoder with its index uncompressed, compressed by PQ/JPQ, or
  with its query encoder pruned, whose size columns are the *index*'s bytes), ``model``, ``method``, ``target_sparsity`` and
  ``achieved_sparsity`` (fraction of *prunable* weights that are zero; 0 for dense/BM25), ``seed``, ``split``;
* effectiveness: ranking ``mrr@10 ndcg@10 map recall@10 recall@100 recall@1000`` (in [0, 1]), classification
  ``accuracy macro_f1`` (in [0, 1]), translation ``bleu`` (in [0, 100]); ``primary_metric`` names the column the
  report compares, and ``primary_value`` repeats its value;
* cost: ``total_params prunable_params nonzero_params``, ``flops_dense flops_sparse`` (multiply-adds of one
  query-document pair, or one example), ``size_dense_bytes size_sparse_bytes``, ``latency_ms_per_query``,
  ``wall_time_s`` (the stage's time), ``pqi`` (PQ Index of the kept weights; Diao et al. 2023);
* ``per_query_path``: JSON of per-query scores for significance tests (:func:`load_per_query`).

The table adds :data:`DERIVED_COLUMNS`, computed by :func:`derived_columns` for every row (never written in a
cell file): ``compression`` = ``-log10(1 - achieved_sparsity)``, the GraSP/SynFlow notation, also the GraSP/NLP
report's (:mod:`irprune.pruning.sparsity`; null when nothing is kept), and ``flop_sparsity`` = ``1 - flops_sparse /
flops_dense``, the fraction of multiply-adds sparse execution skips (null without FLOP counts).
"""

from __future__ import annotations

import glob
import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..errors import DataFormatError
from ..io import atomic_write_json, atomic_write_text
from . import palette

TASKS = ("ranking", "classification", "translation", "dsi", "dense")
RANKING_METRICS = ("mrr@10", "ndcg@10", "map", "recall@10", "recall@100", "recall@1000")
CLASSIFICATION_METRICS = ("accuracy", "macro_f1")
TRANSLATION_METRICS = ("bleu",)
METRICS = RANKING_METRICS + CLASSIFICATION_METRICS + TRANSLATION_METRICS
TASK_METRICS = {"ranking": RANKING_METRICS, "classification": CLASSIFICATION_METRICS,
                "translation": TRANSLATION_METRICS, "dsi": RANKING_METRICS, "dense": RANKING_METRICS}
INT_COSTS = ("total_params", "prunable_params", "nonzero_params", "size_dense_bytes", "size_sparse_bytes")
FLOAT_COSTS = ("flops_dense", "flops_sparse", "latency_ms_per_query", "wall_time_s", "pqi")
KEY = ("task", "model", "method", "target_sparsity", "seed", "split")

#: column -> (kind, required); kinds: str, int, frac (float in [0, 1]), float, metric, nnint, nnfloat.
SCHEMA: dict[str, tuple[str, bool]] = {
    "task": ("str", True), "model": ("str", True), "method": ("str", True),
    "target_sparsity": ("frac", True), "achieved_sparsity": ("frac", True), "seed": ("int", True),
    "split": ("str", True),
    **{m: ("metric", False) for m in METRICS},
    "primary_metric": ("str", True), "primary_value": ("float", True),
    **{c: ("nnint", False) for c in INT_COSTS},
    **{c: ("nnfloat", False) for c in FLOAT_COSTS},
    "per_query_path": ("str", False),
}
COLUMNS: tuple[str, ...] = tuple(SCHEMA)
#: Columns the table adds to every row (:func:`derived_columns`); cell files never hold them.
DERIVED_COLUMNS: tuple[str, ...] = ("compression", "flop_sparsity")
#: The tidy table's columns: a cell's, then the derived ones.
TABLE_COLUMNS: tuple[str, ...] = COLUMNS + DERIVED_COLUMNS

_KIND_HELP = {"str": "a non-empty string", "int": "an integer", "frac": "a number in [0, 1]",
              "float": "a finite number", "metric": "a number (or null)", "nnint": "an integer >= 0 (or null)",
              "nnfloat": "a number >= 0 (or null)"}


def _bad(path: Any, key: str, value: Any, problem: str, fix: str) -> DataFormatError:
    return DataFormatError(f"cell key {key!r} = {value!r}: {problem}", path=path, fix=fix)


def _check_value(path: Any, key: str, value: Any, kind: str, required: bool) -> None:
    if value is None:
        if required:
            raise _bad(path, key, value, f"required, expected {_KIND_HELP[kind]}", f"set {key!r}")
        return
    fix = f"write {key!r} as {_KIND_HELP[kind]}"
    if kind == "str":
        if not isinstance(value, str) or not value:
            raise _bad(path, key, value, f"expected {_KIND_HELP[kind]}", fix)
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(path, key, value, f"expected {_KIND_HELP[kind]}", fix)
    if kind in ("int", "nnint") and not isinstance(value, int):
        if not (isinstance(value, float) and value.is_integer()):
            raise _bad(path, key, value, "expected an integer", fix)
    if not math.isfinite(value):
        raise _bad(path, key, value, "not a finite number", fix)
    if kind == "frac" and not 0.0 <= value <= 1.0:
        raise _bad(path, key, value, "outside [0, 1]", f"{key} is a fraction (0.9 = 90% of prunable weights zero)")
    if kind in ("nnint", "nnfloat") and value < 0:
        raise _bad(path, key, value, "negative", fix)


def validate_cell(cell: Any, path: Any = "<cell>") -> dict[str, Any]:
    """Check a cell dict against the schema; returns it with integer columns as ints.  Errors name file and key."""
    if not isinstance(cell, Mapping):
        raise DataFormatError(f"a cell file holds one JSON object, got {type(cell).__name__}", path=path,
                              fix="write a flat object with the keys of irprune.report.results.COLUMNS")
    missing = [c for c in COLUMNS if c not in cell]
    unknown = sorted(set(cell) - set(COLUMNS))
    if missing or unknown:
        parts = ([f"missing key(s) {', '.join(missing)}"] if missing else []) + \
                ([f"unknown key(s) {', '.join(unknown)}"] if unknown else [])
        raise DataFormatError("; ".join(parts), path=path,
                              fix="a cell has exactly the keys of irprune.report.results.COLUMNS (null where n/a); "
                                  "build it with irprune.report.results.make_cell")
    for key, (kind, required) in SCHEMA.items():
        _check_value(path, key, cell[key], kind, required)
    out = dict(cell)
    for key in ("seed",) + INT_COSTS:
        if out[key] is not None:
            out[key] = int(out[key])
    task = out["task"]
    if task not in TASKS:
        raise _bad(path, "task", task, "unknown task", f"use one of {', '.join(TASKS)}")
    if out["method"] not in palette.METHOD_STYLES:
        raise _bad(path, "method", out["method"], "unknown method",
                   f"use one of {', '.join(palette.METHOD_STYLES.names())} (or register it in "
                   "irprune.report.palette)")
    for m in METRICS:
        v = out[m]
        if v is None:
            continue
        if m not in TASK_METRICS[task]:
            raise _bad(path, m, v, f"not a {task} metric", f"set it to null; {task} metrics are "
                       f"{', '.join(TASK_METRICS[task])}")
        hi = 100.0 if m == "bleu" else 1.0
        if not 0.0 <= v <= hi:
            raise _bad(path, m, v, f"outside [0, {hi:g}]", "write metrics as fractions (BLEU in [0, 100])")
    pm = out["primary_metric"]
    if pm not in TASK_METRICS[task]:
        raise _bad(path, "primary_metric", pm, f"not a {task} metric", f"use one of {', '.join(TASK_METRICS[task])}")
    if out[pm] is None or not math.isclose(out[pm], out["primary_value"], rel_tol=1e-9, abs_tol=1e-12):
        raise _bad(path, "primary_value", out["primary_value"], f"differs from {pm} = {out[pm]!r}",
                   f"primary_value repeats the value of the column primary_metric names ({pm})")
    for a, b in (("nonzero_params", "total_params"), ("prunable_params", "total_params")):
        if out[a] is not None and out[b] is not None and out[a] > out[b]:
            raise _bad(path, a, out[a], f"exceeds {b} = {out[b]}", f"count {a} within the model's {b}")
    fd, fs = out["flops_dense"], out["flops_sparse"]
    if fd is not None and fs is not None and fs > fd * (1 + 1e-9):
        raise _bad(path, "flops_sparse", fs, f"exceeds flops_dense = {fd}",
                   "sparse execution skips multiply-adds, never adds them: count both for the same input")
    return out


def derived_columns(cell: Mapping[str, Any]) -> dict[str, float | None]:
    """:data:`DERIVED_COLUMNS` of a validated cell: ``compression = -log10(density)`` with ``density = 1 -
    achieved_sparsity`` (null at density 0) and ``flop_sparsity = 1 - flops_sparse / flops_dense`` (null without
    both counts or with zero dense FLOPs).  The conversions are :mod:`irprune.pruning.sparsity`'s."""
    from ..pruning.sparsity import compression_from_density

    density = 1.0 - float(cell["achieved_sparsity"])
    compression = compression_from_density(density) + 0.0 if density > 0 else None   # + 0.0: no "-0.0"
    fd, fs = cell.get("flops_dense"), cell.get("flops_sparse")
    flop = 1.0 - float(fs) / float(fd) if fd is not None and fs is not None and float(fd) > 0 else None
    return {"compression": compression, "flop_sparsity": flop}


def make_cell(**fields: Any) -> dict[str, Any]:
    """A validated cell from keyword arguments (names as in :data:`COLUMNS`; ``@`` written as ``_at_``, e.g.
    ``mrr_at_10``); absent columns are ``null`` and ``primary_value`` defaults to the primary metric's value."""
    cell: dict[str, Any] = {c: None for c in COLUMNS}
    for k, v in fields.items():
        col = k.replace("_at_", "@")
        if col not in cell:
            raise DataFormatError(f"make_cell: unknown column {k!r}", fix=f"columns: {', '.join(COLUMNS)}")
        cell[col] = v
    if cell["primary_value"] is None and cell["primary_metric"] in cell:
        cell["primary_value"] = cell[cell["primary_metric"]]
    return validate_cell(cell, "<make_cell>")


#: irprune.costs.summary.measure_costs row key -> cell column (the median latency is the reported one).
COST_KEYS = {"total_params": "total_params", "nonzero_params": "nonzero_params", "flops_dense": "flops_dense",
             "flops_sparse": "flops_sparse", "size_dense_bytes": "size_dense_bytes",
             "size_sparse_bytes": "size_sparse_bytes", "latency_median_ms": "latency_ms_per_query"}


def cost_columns(cost_row: Mapping[str, Any]) -> dict[str, Any]:
    """The cell's cost columns from a :func:`irprune.costs.summary.measure_costs` row (other keys dropped), for
    ``make_cell(**fields, **cost_columns(row))``."""
    return {col: cost_row[k] for k, col in COST_KEYS.items() if k in cost_row}


def write_cell(path: str | Path, cell: Mapping[str, Any]) -> None:
    """Validate and write a cell file atomically."""
    atomic_write_json(path, validate_cell(cell, path))


def read_cell(path: str | Path) -> dict[str, Any]:
    """Read and validate one cell file; malformed JSON names the line and column."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataFormatError(f"not valid JSON ({e.msg}, column {e.colno})", path=path, line=e.lineno,
                              fix="rewrite the file with irprune.report.results.write_cell") from None
    return validate_cell(obj, path)


def bm25_rows(metrics_path: str | Path, per_query_path: str | Path | None = None) -> list[dict[str, Any]]:
    """Rows of the BM25 baseline (``metrics/bm25.json``: split -> metric -> value), one per judged split."""
    metrics_path = Path(metrics_path)
    data = json.loads(metrics_path.read_text(encoding="utf-8"))
    rows = []
    for split, m in sorted(data.items()):
        if not isinstance(m, Mapping):
            continue  # scalar entries such as "depth"
        cell = {c: None for c in COLUMNS}
        cell.update(task="ranking", model="bm25", method="bm25", target_sparsity=0.0, achieved_sparsity=0.0,
                    seed=0, split=split, primary_metric="mrr@10",
                    per_query_path=str(per_query_path) if per_query_path else None)
        for k in RANKING_METRICS:
            cell[k] = m.get(k)
        cell["primary_value"] = cell["mrr@10"]
        rows.append(validate_cell(cell, metrics_path))
    return rows


def cell_files(patterns: Iterable[str], root: str | Path = ".") -> list[Path]:
    """Every file matching the glob ``patterns`` under ``root`` (recursive ``**``), sorted, without duplicates."""
    root = Path(root)
    found: set[Path] = set()
    for pat in patterns:
        found.update(Path(p) for p in glob.glob(str(root / pat), recursive=True) if Path(p).is_file())
    return sorted(found)


def collect(cell_paths: Iterable[str | Path], bm25_metrics: str | Path | None = None,
            bm25_per_query: str | Path | None = None) -> "Any":
    """The tidy table (a pandas DataFrame with :data:`TABLE_COLUMNS`: every cell column plus the derived ones)
    from cell files and the BM25 metrics.

    Two cells with the same key (:data:`KEY`) are an error naming both files.
    """
    import pandas as pd

    rows: list[dict[str, Any]] = []
    origin: dict[tuple, str] = {}
    sources: list[tuple[str, list[dict[str, Any]]]] = []
    if bm25_metrics is not None and Path(bm25_metrics).is_file():
        sources.append((str(bm25_metrics), bm25_rows(bm25_metrics, bm25_per_query)))
    for p in cell_paths:
        sources.append((str(p), [read_cell(p)]))
    for src, cells in sources:
        for cell in cells:
            key = tuple(cell[k] for k in KEY)
            if key in origin:
                raise DataFormatError(f"cell {dict(zip(KEY, key))} is also in {origin[key]}", path=src,
                                      fix="each (task, model, method, target_sparsity, seed, split) has one file; "
                                          "delete the stale one")
            origin[key] = src
            rows.append({**cell, **derived_columns(cell)})
    df = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    for c in ("seed",) + INT_COSTS:
        df[c] = df[c].astype("Int64")
    for c in METRICS + FLOAT_COSTS + DERIVED_COLUMNS + ("target_sparsity", "achieved_sparsity", "primary_value"):
        df[c] = df[c].astype("float64")
    return df.sort_values(list(KEY), kind="stable").reset_index(drop=True)


def write_table(df: "Any", csv_path: str | Path, parquet_path: str | Path | None = None) -> None:
    """Write the tidy table as CSV (and parquet), atomically."""
    atomic_write_text(csv_path, df.to_csv(index=False, lineterminator="\n"))
    if parquet_path is not None:
        from ..io import atomic_open

        with atomic_open(parquet_path, "wb") as fh:
            df.to_parquet(fh, index=False)


def read_table(csv_path: str | Path) -> "Any":
    """Read the tidy table; a file without the schema's columns is an error naming the missing ones."""
    import pandas as pd

    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DataFormatError("results table not found", path=csv_path, fix="run the collect stage (dvc repro collect)")
    df = pd.read_csv(csv_path, keep_default_na=True)
    missing = [c for c in TABLE_COLUMNS if c not in df.columns]
    if missing:
        raise DataFormatError(f"missing column(s) {', '.join(missing)}", path=csv_path, line=1,
                              fix="re-run the collect stage to rewrite the table in the current schema")
    for c in ("seed",) + INT_COSTS:
        df[c] = df[c].astype("Int64")
    return df


def summary(df: "Any", split: str = "test", keep: float = 0.95) -> dict[str, Any]:
    """Headline numbers for ``dvc metrics show``: BM25 and dense primary metric per model, pruned cell counts, the
    best pruned cell per model and the highest sparsity keeping ``keep`` of dense (``null`` when not run)."""
    from .analysis import max_sparsity_keeping, mean_cells

    out: dict[str, Any] = {"split": split, "rows": int(len(df))}
    sub = df[df["split"] == split]
    cells = mean_cells(sub)
    for _, r in cells[(cells["method"] == "bm25") & (cells["task"] == "ranking")].iterrows():
        out["bm25"] = {r["primary_metric"]: round(float(r["value"]), 6)}
    dense = cells[cells["method"] == "dense"]
    out["dense"] = {r["model"]: {r["primary_metric"]: round(float(r["value"]), 6)} for _, r in dense.iterrows()}
    pruned = cells[~cells["method"].isin(palette.REFERENCE_METHODS)]
    out["pruned_cells"] = int(len(pruned))
    best = max_sparsity_keeping(sub, keep)
    out[f"max_sparsity_keep_{int(round(keep * 100))}"] = {
        m: (round(k.achieved_sparsity, 4) if k.status == "ok" else None) for m, k in best.items()}
    return out


def sparsity_curves(df: "Any", path: str | Path, split: str = "test", metric: str = "mrr@10") -> Path:
    """The ``dvc plots`` file: one long CSV ``series, model, method, achieved_sparsity, <metric>`` (seed means,
    one line per model/method sorted by sparsity; references excluded).  ``report/sparsity_plot.json`` is the
    Vega-Lite template that draws one line per ``series``."""
    from .analysis import mean_cells

    cells = mean_cells(df[(df["split"] == split) & df[metric].notna()], value=metric)
    cells = cells[~cells["method"].isin(palette.REFERENCE_METHODS)].copy()
    cells["series"] = cells["model"] + "-" + cells["method"]
    cells = cells.sort_values(["series", "achieved_sparsity"])
    out = cells[["series", "model", "method", "achieved_sparsity", "value"]].rename(columns={"value": metric})
    atomic_write_text(path, out.to_csv(index=False, lineterminator="\n"))
    return Path(path)


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


__all__ = ["TASKS", "METRICS", "RANKING_METRICS", "COLUMNS", "DERIVED_COLUMNS", "TABLE_COLUMNS", "SCHEMA", "KEY",
           "validate_cell", "make_cell", "derived_columns",
           "write_cell", "read_cell", "cost_columns", "bm25_rows", "cell_files", "collect", "write_table",
           "read_table", "summary",
           "sparsity_curves", "load_per_query"]
