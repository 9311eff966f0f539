"""The tidy results table: one row per cell (task x model x method x target sparsity x seed x split).

The row is the cell layer's (:mod:`irprune.cells.schema`: columns, validation, cell files); this module only reads
rows.  The ``collect`` stage (:func:`collect`) reads every cell file plus the BM25 stage's metrics into the table,
validating each with :func:`~irprune.cells.schema.validate_cell`; any problem stops it with the file, the key, what
is wrong and the fix.  The schema's names are re-exported here for the report.

The table adds :data:`DERIVED_COLUMNS`, computed by :func:`derived_columns` for every row (never written in a
cell file): ``compression`` = ``-log10(1 - achieved_sparsity)``, the GraSP/SynFlow notation, also the GraSP/NLP
report's (:mod:`irprune.pruning.sparsity`; null when nothing is kept), and ``flop_sparsity`` = ``1 - flops_sparse /
flops_dense``, the fraction of FLOPs sparse execution skips (null without FLOP counts).
"""

from __future__ import annotations

import glob
import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..cells.schema import (ADDED_COLUMNS, CLASSIFICATION_METRICS, COLUMNS, COST_KEYS, ENGINE_LATENCY, FLOAT_COSTS,
                            INT_COLUMNS, INT_COSTS, KEY, METRICS, RANKING_METRICS, SCHEMA, SPARSITY_COLUMNS,
                            TASK_METRICS, TASKS, TRANSLATION_METRICS, cost_columns, make_cell, read_cell,
                            validate_cell, write_cell)
from ..errors import DataFormatError
from ..io import atomic_write_text
from ..pruning.sparsity import compression_from_density
from . import palette
from .analysis import load_per_query, max_sparsity_keeping, mean_cells

#: Columns the table adds to every row (:func:`derived_columns`); cell files never hold them.
DERIVED_COLUMNS: tuple[str, ...] = ("compression", "flop_sparsity")
#: The tidy table's columns: a cell's, then the derived ones.
TABLE_COLUMNS: tuple[str, ...] = COLUMNS + DERIVED_COLUMNS


def derived_columns(cell: Mapping[str, Any]) -> dict[str, float | None]:
    """:data:`DERIVED_COLUMNS` of a validated cell: ``compression = -log10(density)`` with ``density = 1 -
    achieved_sparsity`` (null at density 0) and ``flop_sparsity = 1 - flops_sparse / flops_dense`` (null without
    both counts or with zero dense FLOPs).  The conversions are :mod:`irprune.pruning.sparsity`'s."""
    density = 1.0 - float(cell["achieved_sparsity"])
    compression = compression_from_density(density) + 0.0 if density > 0 else None   # + 0.0: no "-0.0"
    fd, fs = cell.get("flops_dense"), cell.get("flops_sparse")
    flop = 1.0 - float(fs) / float(fd) if fd is not None and fs is not None and float(fd) > 0 else None
    return {"compression": compression, "flop_sparsity": flop}


def bm25_rows(metrics_path: str | Path, per_query_path: str | Path | None = None) -> list[dict[str, Any]]:
    """Rows of the BM25 baseline (``metrics/bm25.json``: split -> metric -> value), one per judged split."""
    metrics_path = Path(metrics_path)
    data = json.loads(metrics_path.read_text(encoding="utf-8"))
    rows = []
    for split, m in sorted(data.items()):
        if not isinstance(m, Mapping) or split == "dense":
            continue  # scalar entries such as "depth"; the hybrid first stage's dense baseline
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
    df = _typed(pd.DataFrame(rows, columns=list(TABLE_COLUMNS)))
    return df.sort_values(list(KEY), kind="stable").reset_index(drop=True)


#: the tidy table's float columns
FLOAT_COLUMNS: tuple[str, ...] = (METRICS + FLOAT_COSTS + DERIVED_COLUMNS + SPARSITY_COLUMNS + ENGINE_LATENCY
                                  + ("target_sparsity", "achieved_sparsity", "primary_value"))


def _typed(df: "Any") -> "Any":
    for c in INT_COLUMNS:
        df[c] = df[c].astype("Int64")
    for c in FLOAT_COLUMNS:
        df[c] = df[c].astype("float64")
    return df


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
    missing = [c for c in TABLE_COLUMNS if c not in df.columns and c not in ADDED_COLUMNS]
    if missing:
        raise DataFormatError(f"missing column(s) {', '.join(missing)}", path=csv_path, line=1,
                              fix="re-run the collect stage to rewrite the table in the current schema")
    for c in ADDED_COLUMNS:      # a table collected before these columns existed: null
        if c not in df.columns:
            df[c] = None
    return _typed(df)


def summary(df: "Any", split: str = "test", keep: float = 0.95) -> dict[str, Any]:
    """Headline numbers for ``dvc metrics show``: BM25 and dense primary metric per model, pruned cell counts, the
    best pruned cell per model and the highest sparsity keeping ``keep`` of dense (``null`` when not run)."""
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
    cells = mean_cells(df[(df["split"] == split) & df[metric].notna()], value=metric)
    cells = cells[~cells["method"].isin(palette.REFERENCE_METHODS)].copy()
    cells["series"] = cells["model"] + "-" + cells["method"]
    cells = cells.sort_values(["series", "achieved_sparsity"])
    out = cells[["series", "model", "method", "achieved_sparsity", "value"]].rename(columns={"value": metric})
    atomic_write_text(path, out.to_csv(index=False, lineterminator="\n"))
    return Path(path)


__all__ = ["TASKS", "METRICS", "RANKING_METRICS", "CLASSIFICATION_METRICS", "TRANSLATION_METRICS", "TASK_METRICS",
           "INT_COSTS", "FLOAT_COSTS", "COST_KEYS", "COLUMNS", "DERIVED_COLUMNS", "TABLE_COLUMNS", "SCHEMA", "KEY",
           "validate_cell", "make_cell", "derived_columns", "write_cell", "read_cell", "cost_columns", "bm25_rows",
           "cell_files", "collect", "write_table", "read_table", "summary", "sparsity_curves", "load_per_query"]
