"""The tidy results table: cell schema validation with clear errors, the collector on a fake grid, the DVC
summary and plot files (cross-checked against plain-Python recomputation from the cell files)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from irprune.errors import DataFormatError
from irprune.report import palette
from irprune.report.results import (COLUMNS, DERIVED_COLUMNS, TABLE_COLUMNS, cell_files, collect, load_per_query,
                                    make_cell, read_cell, read_table, summary, sparsity_curves, write_cell,
                                    write_table)

from test_report_fakegrid import write_grid


def _cell(**over):
    base = dict(task="ranking", model="conv_knrm", method="gmp", target_sparsity=0.9, achieved_sparsity=0.9,
                seed=0, split="test", primary_metric="mrr@10", mrr_at_10=0.3, total_params=10, nonzero_params=2)
    base.update(over)
    return make_cell(**base)


def test_make_cell_fills_every_column_and_round_trips(tmp_path: Path):
    c = _cell()
    assert tuple(c) == COLUMNS and c["primary_value"] == 0.3 and c["bleu"] is None
    write_cell(tmp_path / "c.json", c)
    assert read_cell(tmp_path / "c.json") == c


@pytest.mark.parametrize("mutate, needle", [
    (lambda c: c.pop("pqi"), "missing key(s) pqi"),
    (lambda c: c.update(extra=1), "unknown key(s) extra"),
    (lambda c: c.update(achieved_sparsity=90), "'achieved_sparsity' = 90: outside [0, 1]"),
    (lambda c: c.update(seed="0"), "'seed' = '0'"),
    (lambda c: c.update(task="retrieval"), "'task' = 'retrieval': unknown task"),
    (lambda c: c.update(method=""), "'method' = '': expected a non-empty string"),
    (lambda c: c.update(bleu=30.0), "'bleu' = 30.0: not a ranking metric"),
    (lambda c: c.update(primary_value=0.5), "'primary_value' = 0.5: differs from mrr@10 = 0.3"),
    (lambda c: c.update(nonzero_params=11), "'nonzero_params' = 11: exceeds total_params = 10"),
    (lambda c: c.update(flops_dense=10.0, flops_sparse=12.0), "'flops_sparse' = 12.0: exceeds flops_dense = 10.0"),
    (lambda c: c.update(compression=1.0), "unknown key(s) compression"),     # derived: never in a cell file
    (lambda c: c.update(latency_ms_per_query=-1.0), "negative"),
    (lambda c: c.update(**{"mrr@10": float("nan")}), "not a finite number"),
    (lambda c: c.update(model=None), "'model' = None: required"),
])
def test_malformed_cell_files_fail_with_path_key_problem_and_fix(tmp_path: Path, mutate, needle):
    c = dict(_cell())
    mutate(c)
    p = tmp_path / "metrics" / "bad.json"
    p.parent.mkdir(parents=True)
    p.write_text(json.dumps(c))
    with pytest.raises(DataFormatError) as e:
        read_cell(p)
    msg = str(e.value)
    assert str(p) in msg and needle in msg and "(fix:" in msg, msg


def test_cost_columns_map_a_measure_costs_row():
    from irprune.report.results import cost_columns

    row = {"total_params": 10, "nonzero_params": 4, "flops_dense": 20.0, "flops_sparse": 8.0,
           "size_dense_bytes": 40, "size_sparse_bytes": 30, "latency_median_ms": 1.5, "latency_p90_ms": 2.0}
    c = _cell(**cost_columns(row))
    assert c["latency_ms_per_query"] == 1.5 and c["flops_sparse"] == 8.0 and "latency_p90_ms" not in c


def test_invalid_json_names_the_line(tmp_path: Path):
    p = tmp_path / "c.json"
    p.write_text('{\n  "task": "ranking",\n  "model": oops\n}\n')
    with pytest.raises(DataFormatError, match=r"c\.json:3: not valid JSON"):
        read_cell(p)


def test_duplicate_cells_name_both_files(tmp_path: Path):
    for name in ("a.json", "b.json"):
        write_cell(tmp_path / name, _cell())
    with pytest.raises(DataFormatError, match=r"b\.json: .*also in .*a\.json"):
        collect([tmp_path / "a.json", tmp_path / "b.json"])


def _raw_cells(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((root / "metrics").rglob("*.json")) if p.name != "bm25.json"]


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> tuple[Path, object]:
    root = write_grid(tmp_path_factory.mktemp("grid"), sparsities=(0.5, 0.8, 0.9, 0.95), n_queries=40)
    files = cell_files(["metrics/train/*.json", "metrics/prune/**/*.json"], root)
    return root, collect(files, root / "metrics" / "bm25.json", "runs/bm25/per_query.json")


def test_collector_reads_every_cell_and_the_bm25_rows(grid):
    root, df = grid
    raw = _raw_cells(root)
    assert len(df) == len(raw) + 1  # + the BM25 test row
    assert list(df.columns) == list(COLUMNS) + list(DERIVED_COLUMNS) == list(TABLE_COLUMNS)
    bm = df[df["method"] == "bm25"].iloc[0]
    assert bm["mrr@10"] == json.loads((root / "metrics" / "bm25.json").read_text())["test"]["mrr@10"]
    by_key = {(c["model"], c["method"], c["target_sparsity"], c["seed"]): c for c in raw}
    for _, r in df[df["method"] != "bm25"].iterrows():
        c = by_key[(r["model"], r["method"], r["target_sparsity"], r["seed"])]
        assert r["mrr@10"] == c["mrr@10"] and r["nonzero_params"] == c["nonzero_params"]


def test_per_query_files_average_to_the_cell_metric(grid):
    root, df = grid
    for _, r in df.sample(10, random_state=0).iterrows():
        pq = load_per_query(root / r["per_query_path"], "mrr@10", "test")
        assert np.isclose(np.mean(list(pq.values())), r["mrr@10"])


def test_summary_and_plot_files_match_a_plain_recomputation(grid, tmp_path: Path):
    root, df = grid
    raw = _raw_cells(root)
    dense = {m: np.mean([c["mrr@10"] for c in raw if c["model"] == m and c["method"] == "dense"])
             for m in {c["model"] for c in raw}}
    s = summary(df, keep=0.95)
    assert s["dense"] == {m: {"mrr@10": round(v, 6)} for m, v in dense.items()}
    # highest achieved sparsity whose seed-mean keeps 95% of dense, by brute force over the raw cells
    for model in dense:
        groups: dict[tuple, list] = {}
        for c in raw:
            if c["model"] == model and c["method"] != "dense":
                groups.setdefault((c["method"], c["target_sparsity"]), []).append(c)
        ok = [np.mean([c["achieved_sparsity"] for c in g]) for g in groups.values()
              if np.mean([c["mrr@10"] for c in g]) >= 0.95 * dense[model]]
        want = round(max(ok), 4) if ok else None
        assert s["max_sparsity_keep_95"][model] == want
    import pandas as pd

    curves = pd.read_csv(sparsity_curves(df, tmp_path / "curves.csv"))
    methods = {c["method"] for c in raw} - set(palette.REFERENCE_METHODS)
    assert list(curves.columns) == ["series", "model", "method", "achieved_sparsity", "mrr@10"]
    assert curves["series"].nunique() == len(dense) * len(methods)
    g = curves[curves["series"] == "conv_knrm-gmp"]
    assert len(g) == 4 and list(g["achieved_sparsity"]) == sorted(g["achieved_sparsity"])
    at90 = [c for c in raw if c["model"] == "conv_knrm" and c["method"] == "gmp" and c["target_sparsity"] == 0.9]
    assert np.isclose(g["mrr@10"].iloc[2], np.mean([c["mrr@10"] for c in at90]))


def test_a_method_without_a_style_is_written_and_drawn_in_the_default_style(tmp_path: Path):
    """The cell layer accepts any method name; the report draws a method it has no style for in a default one."""
    c = _cell(method="my-new-method2")
    write_cell(tmp_path / "c.json", c)
    assert read_cell(tmp_path / "c.json")["method"] == "my-new-method2"
    st = palette.method_style("my-new-method2")
    assert st.color == palette.DEFAULT_COLOR and st.label == "my-new-method2" and st.macro == "MyNewMethod"
    assert palette.method_label("my-new-method2") == "my-new-method2"
    assert palette.method_style("gmp") == palette.METHOD_STYLES.get("gmp")


def test_the_schema_lives_in_the_cell_layer_and_the_report_re_exports_it():
    from irprune.cells import schema
    from irprune.report import results

    for name in ("COLUMNS", "SCHEMA", "KEY", "RANKING_METRICS", "make_cell", "write_cell", "read_cell",
                 "validate_cell", "cost_columns"):
        assert getattr(results, name) is getattr(schema, name)
    assert "flops_dense" in schema.COLUMNS and "2 x MACs" in schema.__doc__


def test_palette_covers_every_registered_pruning_method_with_a_distinct_style():
    from irprune.pruning.methods import METHODS

    assert set(METHODS.names()) <= set(palette.METHOD_STYLES.names())
    styles = [(s.color, s.marker, s.linestyle) for s in map(palette.method_style, palette.METHOD_STYLES.names())]
    assert len(set(styles)) == len(styles)
    macros = [palette.method_style(m).macro for m in palette.METHOD_STYLES.names()]
    assert all(m.isalpha() for m in macros) and len(set(macros)) == len(macros)


def test_derived_compression_and_flop_sparsity_for_every_row(grid, tmp_path: Path):
    """compression = -log10(1 - achieved sparsity) (GraSP/SynFlow notation: 90% sparse = 1, 99% = 2) and FLOP
    sparsity = 1 - sparse/dense FLOPs, recomputed here from the raw numbers, for ranking and task rows alike."""
    import math

    from test_report_fakegrid import write_task_grid

    root, _ = grid
    files = cell_files(["metrics/train/*.json", "metrics/prune/**/*.json"], root) + write_task_grid(tmp_path)
    df = collect(files, root / "metrics" / "bm25.json")
    assert set(df["task"]) == {"ranking", "classification", "translation"}
    for _, r in df.iterrows():
        want = -math.log10(1.0 - r["achieved_sparsity"])
        assert np.isclose(r["compression"], want, atol=1e-12), r
        if r["method"] == "bm25":                       # no FLOP counts
            assert np.isnan(r["flop_sparsity"]) and r["compression"] == 0.0
        else:
            assert np.isclose(r["flop_sparsity"], 1.0 - r["flops_sparse"] / r["flops_dense"])
    dense = df[df["method"] == "dense"]
    assert (dense["compression"] == 0.0).all() and not np.signbit(dense["compression"]).any()
    at90 = df[np.isclose(df["target_sparsity"], 0.9)]
    assert np.allclose(at90["compression"], 1.0, atol=0.02)
    # the round trip through the CSV keeps them; a table written before they existed is refused
    write_table(df, tmp_path / "t.csv")
    back = read_table(tmp_path / "t.csv")
    assert np.allclose(back["compression"], df["compression"], equal_nan=True)
    df.drop(columns=["flop_sparsity"]).to_csv(tmp_path / "old.csv", index=False)
    with pytest.raises(DataFormatError, match="missing column.*flop_sparsity.*re-run the collect stage"):
        read_table(tmp_path / "old.csv")


def test_compression_is_null_when_nothing_is_kept():
    from irprune.report.results import derived_columns

    c = _cell(achieved_sparsity=1.0, nonzero_params=0)
    assert derived_columns(c) == {"compression": None, "flop_sparsity": None}
    assert derived_columns(_cell(achieved_sparsity=0.99, flops_dense=200.0, flops_sparse=2.0)) == \
        pytest.approx({"compression": 2.0, "flop_sparsity": 0.99})
