"""The report's measured-latency figure and table and its prunable-weights table, from synthetic rows: every number
recomputed here from the raw cells."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from irprune.report import engines, prunable
from irprune.report.macros import Macros
from irprune.report.results import cell_files, collect, read_cell

from test_report_fakegrid import ENGINE_FACTORS, KINDS, LATENCY_CPU, write_grid, write_task_grid

MODELS = {"conv_knrm": 0.5, "conformer_kernel": 0.45}
SPARSITIES = (0.5, 0.9)


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> tuple[Path, pd.DataFrame, list[dict]]:
    root = write_grid(tmp_path_factory.mktemp("eng"), models=MODELS, methods={"gmp": (0.85, 10.0),
                      "random": (0.3, 3.0)}, sparsities=SPARSITIES, seeds=(0, 1), n_queries=20)
    write_task_grid(root)
    files = [p for p in cell_files(["metrics/**/*.json"], root) if p.name != "bm25.json"]
    raw = [read_cell(p) for p in files]
    return root, collect(files, root / "metrics" / "bm25.json"), raw


def _mean(rows: list[dict], col: str) -> float:
    return float(np.mean([r[col] for r in rows]))


def test_speedup_table_recomputes_from_the_raw_cells(grid) -> None:
    _, df, raw = grid
    t = engines.table(df, "test", "gmp")
    header = list(t.header)
    assert header[:2] == ["Model", "Sparsity"] and header[-2:] == ["FLOPs ratio", "Size ratio"]
    assert header[2:-2] == ["torch fp32", "torch CSR", "ONNX Runtime", "OpenVINO"]   # measured engines only
    assert len(t.rows) == len(MODELS) * (1 + len(SPARSITIES))
    rows = {(r[0], r[1]): r for r in t.rows}
    for model, label in (("conv_knrm", "Conv-KNRM"), ("conformer_kernel", "Conformer-Kernel")):
        dense = [c for c in raw if c["task"] == "ranking" and c["model"] == model and c["method"] == "dense"]
        ref = _mean(dense, "latency_ms_torch")
        assert rows[(label, "dense")][2] == "1.00×"
        for sp in SPARSITIES:
            cells = [c for c in raw if c["model"] == model and c["method"] == "gmp" and c["target_sparsity"] == sp]
            row = rows[(label, f"{100 * sp:g}%")]
            for i, e in enumerate(ENGINE_FACTORS):
                assert row[2 + i] == f"{ref / _mean(cells, 'latency_ms_' + e.replace('-', '_')):.2f}×", (model, e)
            assert row[-2] == f"{_mean(cells, 'flops_dense') / _mean(cells, 'flops_sparse'):.2f}×"
            assert row[-1] == f"{_mean(cells, 'size_dense_bytes') / _mean(cells, 'size_sparse_bytes'):.2f}×"
    assert LATENCY_CPU in t.caption and "1 intra-op thread" in t.caption and "GMP" in t.caption
    assert "\\begin{tabular}" in t.latex() and "×" not in t.latex()        # escaped for LaTeX


def test_latency_figure_and_macros(grid, tmp_path: Path) -> None:
    _, df, _ = grid
    paths = engines.figure(df, tmp_path, "test", "gmp")
    assert [p.name for p in paths] == ["engine_latency.pdf", "engine_latency.png"] and all(p.stat().st_size for p in
                                                                                          paths)
    M = Macros()
    engines.add_macros(M, df, "test", "gmp")
    assert M.flags["HaveLatency"] and M.values["LatencyThreads"] == "1"
    assert M.values["LatencyMachine"] == LATENCY_CPU and "ONNX Runtime" in M.values["LatencyEngines"]


def test_no_timed_cell_means_no_figure_and_a_not_run_table(grid, tmp_path: Path) -> None:
    _, df, _ = grid
    bare = df.copy()
    bare[[c for c in df.columns if c.startswith("latency_ms")]] = np.nan
    assert engines.figure(bare, tmp_path, "test", "gmp") == []
    t = engines.table(bare, "test", "gmp")
    assert t.rows == (("all rankers", "not run", "not run"),) and "unknown" in t.caption
    M = Macros()
    engines.add_macros(M, bare, "test", "gmp")
    assert not M.flags["HaveLatency"] and M.values["LatencyEngines"] == "not run"
    # a model without a dense reference has no speed-up to report
    no_dense = df[~((df["model"] == "conv_knrm") & (df["method"] == "dense"))]
    assert set(engines.latency_cells(no_dense, "test", "gmp")["model"]) == {"conformer_kernel"}


def test_prunable_table_lists_kinds_counts_and_the_share_of_all_parameters(grid) -> None:
    _, df, raw = grid
    t = prunable.table(df, "test", 0.9, 0.02)
    rows = {(r[0], r[1]): r for r in t.rows}
    assert [r[1] for r in t.rows[:3]] == ["monoBERT", "Conv-KNRM", "Conformer-Kernel"]   # study order
    assert rows[("Passage ranking", "monoBERT")][2:] == ("not run",) * 6                 # no rows: says so
    for model, label in (("conv_knrm", "Conv-KNRM"), ("conformer_kernel", "Conformer-Kernel")):
        cells = [c for c in raw if c["model"] == model and c["method"] not in ("dense",)]
        prun, total = cells[0]["prunable_params"], cells[0]["total_params"]
        at90 = [c["sparsity_all"] for c in cells if c["target_sparsity"] == 0.9]
        kinds = ", ".join(f"{k} ({n})" for k, n in (p.split(" ") for p in KINDS[model].split(", ")))
        assert rows[("Passage ranking", label)][2] == kinds
        assert rows[("Passage ranking", label)][6] == f"{100 * prun / total:.1f}%"
        assert rows[("Passage ranking", label)][7] == f"{100 * np.mean(at90):.1f}%"
    assert ("Text classification", "EmbeddingBag") in rows and ("Translation", "Seq2Seq") in rows
    M = Macros()
    prunable.add_macros(M, df, "test", 0.9, 0.02)
    assert M.flags["HavePrunableCounts"] and M.values["PrunableLowestModel"] in ("Conv-KNRM", "Conformer-Kernel")
    assert M.values["PrunableLowestShare"].endswith("\\%")


def test_rows_without_the_new_columns_give_not_run(grid) -> None:
    _, df, _ = grid
    old = df.assign(prunable_params=pd.NA)
    t = prunable.table(old, "test", 0.9, 0.02)
    assert all(r[2:] == ("not run",) * 6 for r in t.rows) and len(t.rows) == 3
    M = Macros()
    prunable.add_macros(M, old, "test", 0.9, 0.02)
    assert not M.flags["HavePrunableCounts"] and M.values["PrunableLowestShare"] == "not run"
