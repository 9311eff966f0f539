"""The core of ``benchmarks/bench_recovery.py`` (dev effectiveness against recovery length) on the tiny Conv-KNRM
setup of the cell tests: the cells it runs are the cell layer's, evaluating inside a run does not change it, and
the flattening rule picks the shortest length near the best."""

from __future__ import annotations

import pytest
import torch

from irprune.evaluation import EvalConfig
from irprune.prune_cell import run_cell
from irprune.training import DevEvaluator

from test_prune_cell import prune_cfg, ranking_data, tiny
from benchmark_module import load_benchmark


def _bench():
    return load_benchmark("bench_recovery")


@pytest.fixture(scope="module")
def setup():
    d = ranking_data()
    ev = DevEvaluator(d["queries"], d["qrels"], d["corpus"], d["cands"], EvalConfig(metrics=("mrr@10",),
                                                                                       relevance_level=1),
                      "mrr@10", depth=5)
    return d, ev


def test_series_are_cells_of_the_cell_layer_and_evaluation_does_not_disturb_training(setup):
    b = _bench()
    d, ev = setup
    dev = b.dev_score(ev)
    dense = tiny(d["vocab"])
    before = {k: v.clone() for k, v in dense.state_dict().items()}
    cfg = prune_cfg(gmp={"start_frac": 0.0, "end_frac": 0.7, "updates": 2})
    res = b.bench_model(dense, cfg, d["tcfg"], d["pool"], dev, methods=("magnitude", "gmp"),
                        lengths=(0, 2, 4), every=2, sparsity=0.9, tol=0.005, seeds=(0, 1))
    assert all(torch.equal(before[k], v) for k, v in dense.state_dict().items())     # the dense model is untouched
    mag, gmp = res["magnitude"]["lengths"], res["gmp"]["lengths"]
    assert [r["steps"] for r in mag] == [0, 2, 4] and [r["steps"] for r in gmp] == [2, 4]
    assert [s["steps"] for s in res["skipped"]] == [0]                # no GMP schedule fits in 0 steps
    for r in mag + gmp:
        assert r["sparsity"] == pytest.approx(0.9, abs=0.02)
    assert [s for s, _ in res["curve"]] == [0, 2, 4]
    assert res["curve"][0][1] == pytest.approx(mag[0]["dev"])         # before recovery = the 0-step cell
    assert res["curve"][-1][1] == pytest.approx(mag[-1]["dev_by_seed"][0])   # the curve's run ends as its cell

    # a 4-step magnitude cell of the prune stage's own caller gives the same model
    ref = tiny(d["vocab"])
    run_cell(ref, "magnitude", 0.9, 0, prune_cfg(recovery_steps=4), d["tcfg"], d["pool"])
    assert b.mean(dev(ref)) == pytest.approx(mag[-1]["dev_by_seed"][0])
    assert ev(ref)["mrr@10"] == pytest.approx(mag[-1]["dev_by_seed"][0])    # the selection evaluator's mean
    mine = b.prune_recover(dense, "magnitude", 0.9, 4, cfg, d["tcfg"], d["pool"], dev)
    assert mine["dev"] == pytest.approx(mag[-1]["dev_by_seed"][0])
    other = b.prune_recover(dense, "magnitude", 0.9, 4, cfg, d["tcfg"], d["pool"], dev, seed=1)
    assert mag[-1]["dev"] == pytest.approx((mine["dev"] + other["dev"]) / 2)    # a length's dev: the seeds' mean
    assert mag[0]["sd_seeds"] == 0.0                                  # no recovery: the seeds do not differ
    assert res["magnitude"]["flattens_at"] in (0, 2, 4) and res["gmp"]["flattens_at"] in (2, 4)
    for r in mag:
        assert r["gap_to_best"] >= 0 and r["se_vs_best"] >= 0
    assert [r["se_vs_best"] for r in mag if r["steps"] == res["magnitude"]["best_steps"]] == [0.0]


def test_flattens_at_is_the_shortest_length_within_tol_of_the_best():
    b = _bench()
    pts = [(0, 0.20), (25, 0.40), (50, 0.446), (100, 0.45), (200, 0.452), (300, 0.449)]
    best = max(v for _, v in pts)
    got = b.flattens_at(pts, 0.005)
    assert dict(pts)[got] >= best - 0.005
    assert all(v < best - 0.005 for s, v in pts if s < got)
    assert b.flattens_at(pts, 1.0) == 0 and b.flattens_at([], 0.005) is None


def test_paired_se_against_the_formula():
    b = _bench()
    a = {"q1": 1.0, "q2": 0.5, "q3": 0.0, "q4": 1.0}
    c = {"q1": 0.5, "q2": 0.5, "q3": 0.5, "q4": 0.0}
    d = torch.tensor([a[q] - c[q] for q in a], dtype=torch.float64)
    assert b.paired_se(a, c) == pytest.approx(float(d.std() / len(d) ** 0.5))
    assert b.paired_se(a, a) == 0.0


def test_table_lists_every_length_and_method(setup):
    b = _bench()
    d, ev = setup
    res = b.bench_model(tiny(d["vocab"]), prune_cfg(), d["tcfg"], d["pool"], b.dev_score(ev),
                        methods=("magnitude",), lengths=(0, 1), every=0, sparsity=0.9, tol=0.005)
    text = b.table("conv_knrm", res, 0.005)
    assert "magnitude" in text and "gmp" not in text and "flattens at" in text
    assert "curve" not in res
