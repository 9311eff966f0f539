"""Collect stage: every stage's metrics -> the tidy results table, ``metrics/summary.json`` and the plot files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io import atomic_write_json
from ..report import config as rc
from ..report.results import cell_files, collect, summary, sparsity_curves, write_table


@dataclass
class CollectResult:
    table: Any              # the tidy results table (pandas DataFrame)
    summary: dict
    n_cell_files: int
    plot_file: Path


def run(cfg: Any, root: Path = Path("."), results_csv: Path = rc.RESULTS_CSV,
        results_parquet: Path = rc.RESULTS_PARQUET, summary_path: Path = rc.SUMMARY,
        plot_path: Path = rc.SPARSITY_PLOT, split: str = "test", metric: str = "mrr@10") -> CollectResult:
    """Read the cell files of ``cfg.collect.cell_globs`` and the BM25 metrics; write the table, summary, plots."""
    c = cfg.collect
    root = Path(root)
    files = cell_files(c.cell_globs, root)
    files = [f for f in files if f.resolve() != (root / c.bm25_metrics).resolve()]
    df = collect(files, root / c.bm25_metrics, c.bm25_per_query or None)
    write_table(df, root / results_csv, root / results_parquet if c.write_parquet else None)
    summ = summary(df, split=split)
    atomic_write_json(root / summary_path, summ)
    plot = sparsity_curves(df, root / plot_path, split=split, metric=metric)
    print(f"collect: {len(df)} rows from {len(files)} cell file(s) and the BM25 metrics -> {results_csv}")
    return CollectResult(df, summ, len(files), plot)
