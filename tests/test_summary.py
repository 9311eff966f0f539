"""`python -m irprune.summary`: the short headline table `make repro` ends with, on a small fake results table."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import ROOT
from irprune.report.results import cell_files, collect, write_table
from test_report_fakegrid import write_grid


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = write_grid(tmp_path_factory.mktemp("grid"), models={"conv_knrm": 0.5, "monobert": 0.62},
                      methods={"gmp": (0.85, 10.0), "random": (0.3, 3.0)}, sparsities=(0.5, 0.8, 0.9),
                      seeds=(0, 1), n_queries=40)
    files = cell_files(["metrics/train/*.json", "metrics/prune/**/*.json"], root)
    df = collect(files, root / "metrics" / "bm25.json", "runs/bm25/per_query.json")
    (root / "results").mkdir(exist_ok=True)
    write_table(df, root / "results" / "results.csv")
    (root / "metrics" / "monobert-s0.json").write_text(json.dumps({"vs_bm25": {"p_value": 0.0012}}))
    (root / "metrics" / "monobert-s1.json").write_text(json.dumps({"vs_bm25": {"p_value": 0.9}}))  # not the lowest
    shutil.copy(ROOT / "params.yaml", root / "params.yaml")
    return root


def test_summary_prints_dense_and_key_sparsities_with_p_values(project, capsys, monkeypatch):
    from irprune.summary import main

    monkeypatch.chdir(project)
    assert main([]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("mrr@10 on test") and "Holm" in lines[0]
    assert lines[1].split()[:4] == ["task", "model", "method", "dense"] and "s=0.95" in lines[1]
    assert len(lines) == 3 + 1 + 2 * 3                       # legend, header, rule; BM25; per model dense + 2 methods
    assert max(len(l) for l in lines[1:]) < 140              # a readable width, not thousands of columns
    row = next(l for l in lines if l.split()[1:3] == ["monobert", "dense"])
    assert "(p=0.0012*)" in row
    gmp = next(l for l in lines if l.split()[1:3] == ["conv_knrm", "gmp"])
    assert gmp.count("(p=") == 3 and gmp.rstrip().endswith("-")   # 0.5, 0.8, 0.9 tested; 0.95 not in the grid
    bm25 = next(l for l in lines if l.split()[1] == "bm25")
    assert bm25.split()[0] == "ranking"


def test_summary_values_are_the_seed_means_of_the_table(project):
    import pandas as pd

    from irprune.significance import SignificanceConfig
    from irprune.summary import summary_rows

    df = pd.read_csv(project / "results" / "results.csv")
    rows = summary_rows(df, split="test", metric="mrr@10", key_sparsities=(0.9,), tol=0.02,
                        sig=SignificanceConfig(), root=project)
    row = next(r for r in rows if r["model"] == "conv_knrm" and r["method"] == "random")
    sub = df[(df["model"] == "conv_knrm") & (df["method"] == "random") & (df["target_sparsity"] == 0.9)
             & (df["split"] == "test")]
    assert row[0.9][0] == pytest.approx(sub["primary_value"].mean())
    assert 0.0 <= row[0.9][1] <= 1.0


def test_summary_without_results_says_what_to_run(tmp_path, capsys, monkeypatch):
    from irprune.summary import main

    monkeypatch.chdir(tmp_path)
    assert main([]) == 2
    assert "dvc repro collect" in capsys.readouterr().err
