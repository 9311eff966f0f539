"""The target checks of the report (lib/irprune/report/targets.py) against scipy on a fake grid."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from irprune.report import macros
from irprune.report.config import ReportConfig
from irprune.report.results import cell_files, collect
from irprune.report.targets import dense_vs_bm25, gmp_targets
from irprune.significance import SignificanceConfig
from test_report_fakegrid import CARD, write_grid

HW = {"cpu": "cpu", "cores": "2", "gpu": "none", "torch": "2", "python": "3"}


def _table(root: Path):
    write_grid(root, models={"monobert": 0.62, "conv_knrm": 0.30}, methods={"gmp": (0.85, 10.0),
               "random": (0.3, 3.0)}, sparsities=(0.5, 0.9), seeds=(0, 1), n_queries=40)
    return collect(cell_files(["metrics/train/*.json", "metrics/prune/**/*.json"], root),
                   root / "metrics/bm25.json", root / "runs/bm25/per_query.json")


def _pq(root: Path, pattern: str) -> dict[str, float]:
    """Per-query MRR@10 averaged over the seed files matching ``pattern`` (independent of the library)."""
    files = sorted(root.glob(pattern))
    per = [json.loads(f.read_text()) for f in files]
    per = [p.get("per_query", p) for p in per]
    qids = sorted(per[0]["mrr@10"])
    return {q: float(np.mean([p["mrr@10"][q] for p in per])) for q in qids}


def test_dense_vs_bm25_and_gmp_target_match_scipy(tmp_path: Path, monkeypatch):
    df = _table(tmp_path)
    monkeypatch.chdir(tmp_path)
    sig = SignificanceConfig()
    bm = json.loads((tmp_path / "runs/bm25/per_query.json").read_text())["test"]["mrr@10"]
    qids = sorted(bm)
    got = dense_vs_bm25(df, "test", "mrr@10", sig)
    for model in ("monobert", "conv_knrm"):
        dense = _pq(tmp_path, f"runs/train/{model}/seed*_per_query.json")
        p = stats.ttest_rel([dense[q] for q in qids], [bm[q] for q in qids]).pvalue
        assert got[model].p_value == pytest.approx(p, rel=1e-6)
        better = np.mean(list(dense.values())) > np.mean(list(bm.values())) and p <= sig.alpha
        assert got[model].significant_better == better
    targets = gmp_targets(df, "test", "mrr@10", 0.9, 0.02, 0.9, "gmp", sig)
    for model in ("monobert", "conv_knrm"):
        dense = _pq(tmp_path, f"runs/train/{model}/seed*_per_query.json")
        gmp = _pq(tmp_path, f"runs/prune/{model}/gmp/0.90/seed*_per_query.json")
        rnd = _pq(tmp_path, f"runs/prune/{model}/random/0.90/seed*_per_query.json")
        retained = np.mean(list(gmp.values())) / np.mean(list(dense.values()))
        t = targets[model]
        assert t.retained == pytest.approx(retained, rel=1e-9)
        assert t.keeps_target == (retained >= 0.9)
        p = stats.ttest_rel([gmp[q] for q in qids], [rnd[q] for q in qids]).pvalue
        assert t.vs_random.p_value == pytest.approx(p, rel=1e-6)
        assert t.vs_random.mean_a == pytest.approx(np.mean(list(gmp.values())))


def test_target_macros_and_not_run(tmp_path: Path, monkeypatch):
    df = _table(tmp_path)
    monkeypatch.chdir(tmp_path)
    text = macros.build(df, ReportConfig(), SignificanceConfig(), CARD, None,
                        json.loads((tmp_path / "metrics/bm25.json").read_text()), HW).render()
    defined = dict(re.findall(r"\\newcommand\{\\([^}]*)\}\{(.*)\}$", text, flags=re.M))
    flags = {n: v == "true" for n, _, v in re.findall(r"\\newif\\if(\w+)\\(\w+?)(true|false)$", text, flags=re.M)}
    targets = gmp_targets(df, "test", "mrr@10", 0.9, 0.02, 0.9, "gmp", SignificanceConfig())
    assert defined["BertTargetRetained"] == f"{100 * targets['monobert'].retained:.1f}\\%"
    assert flags["BertHaveTarget"] and flags["BertTargetHaveRandom"]
    assert flags["BertTargetKept"] == targets["monobert"].keeps_target
    # Conformer-Kernel has no rows: everything about it reads "not run" and its flags are false
    assert defined["ConformerKernelTargetRetained"] == "not run"
    assert defined["ConformerKernelDenseVsBMP"] == "not run"
    assert not flags["ConformerKernelHaveTarget"] and not flags["ConformerKernelDenseBeatsBM"]
    assert defined["TargetKeep"] == "90\\%"


def test_answers_leave_out_rankers_that_do_not_beat_bm25(tmp_path: Path, monkeypatch):
    """The answers' aggregates (IRMean/Best/WorstRetained, QOneModels) count only rankers whose dense model beats
    BM25; the fake grid's Conv-KNRM (dense below BM25) is named as left out."""
    df = _table(tmp_path)
    monkeypatch.chdir(tmp_path)
    vs = dense_vs_bm25(df, "test", "mrr@10", SignificanceConfig())
    assert not vs["conv_knrm"].significant_better and vs["monobert"].significant_better
    text = macros.build(df, ReportConfig(), SignificanceConfig(), CARD, None,
                        json.loads((tmp_path / "metrics/bm25.json").read_text()), HW).render()
    defined = dict(re.findall(r"\\newcommand\{\\([^}]*)\}\{(.*)\}$", text, flags=re.M))
    flags = {n: v == "true" for n, _, v in re.findall(r"\\newif\\if(\w+)\\(\w+?)(true|false)$", text, flags=re.M)}
    assert flags["AnswerExcludes"] and defined["AnswerExcluded"] == "Conv-KNRM"
    # at 90%: monoBERT's best method's seed-mean share of its dense MRR@10, computed from the per-query files
    dense = np.mean(list(_pq(tmp_path, "runs/train/monobert/seed*_per_query.json").values()))
    best = max(np.mean(list(_pq(tmp_path, f"runs/prune/monobert/{m}/0.90/seed*_per_query.json").values()))
               for m in ("gmp", "random")) / dense
    for name in ("IRMeanRetained", "IRBestRetained", "IRWorstRetained"):
        assert defined[name] == f"{100 * best:.1f}\\%"
    assert defined["IRBestModel"] == defined["IRWorstModel"] == "monoBERT"
    assert "Conv-KNRM" not in defined["QOneModels"] + defined["QOneModelsNo"]
