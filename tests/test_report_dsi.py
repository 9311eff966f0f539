"""DSI in the report, from fake DSI records: macros equal to independent recomputation (seed means, shares), the
MAP-vs-BM25 and above-random booleans both ways, the table's subset and full-collection groups, the figure, and
"not run" everywhere without DSI; DSI rows never change the rankers' BM25 or summary numbers."""

from __future__ import annotations

import numpy as np
import pytest

from irprune.report import dsi, macros
from irprune.report.config import ReportConfig
from irprune.report.results import cell_files, collect, summary
from irprune.significance import SignificanceConfig

from test_report_fakegrid import CARD, DSI_BM25, DSI_DENSE, write_dsi, write_grid

HW = {"cpu": "Test CPU", "cores": "2", "gpu": "none", "torch": "2.0", "python": "3.11"}


def _macros(root, res):
    globs = ["metrics/train/*.json", "metrics/prune/**/*.json", "metrics/cells/**/*.json", "runs/dsi_prune/*/cell.*.json"]
    df = collect(cell_files(globs, root), root / "metrics" /
                 "bm25.json")
    m = macros.build(df, ReportConfig(), SignificanceConfig(), CARD, None, {}, HW)
    dsi.add_macros(m, res, keep=0.95)
    return df, m


def test_macros_recompute_the_records(tmp_path) -> None:
    root = write_grid(tmp_path, models={"conv_knrm": 0.5}, methods={"gmp": (0.85, 10.0)}, sparsities=(0.5, 0.9),
                      seeds=(0,))
    recs = write_dsi(root)
    res = dsi.load(root)
    _, m = _macros(root, res)
    v, f = m.values, m.flags
    assert f["HaveDsi"] and f["HaveDsiPruned"] and not f["DsiBeatsBmTwentyFive"]      # 0.11 < 0.51
    assert v["DsiDenseMAP"] == f"{DSI_DENSE['map']:.3f}" and v["DsiBmMAP"] == f"{DSI_BM25['map']:.3f}"
    assert v["DsiDenseHitsTen"] == "0.390" and v["DsiRandomHitsTen"] == "0.030"
    assert f["DsiAboveRandom"] and v["DsiRandomRatio"] == "13.0"
    assert v["DsiMapShareOfBm"] == f"{100 * 0.11 / 0.51:.1f}\\%"
    assert v["DsiNumDocs"] == "1{,}000" and v["DsiIdScheme"] == "semantic" and v["DsiNumPrunedCells"] == "4"
    assert v["DsiSelection"] == "the highest dev Hits@10" and v["DsiNumSeeds"] == "2"
    for method, stem in (("gmp", "DsiGmp"), ("magnitude", "DsiMagnitude")):
        top = [r for r in recs if r["method"] == method and r["target_sparsity"] == 0.9]
        mean = {k: float(np.mean([r[k] for r in top])) for k in ("hits@10", "map", "encoder_sparsity",
                                                                 "decoder_sparsity", "achieved_sparsity")}
        assert v[f"{stem}TopHitsTen"] == f"{mean['hits@10']:.3f}" and v[f"{stem}TopMAP"] == f"{mean['map']:.3f}"
        assert v[f"{stem}TopEncoder"] == f"{100 * mean['encoder_sparsity']:.1f}\\%"
        assert v[f"{stem}TopDecoder"] == f"{100 * mean['decoder_sparsity']:.1f}\\%"
        assert v[f"{stem}TopRetained"] == f"{100 * mean['hits@10'] / DSI_DENSE['hits@10']:.1f}\\%"
        assert v[f"{stem}NinetyHitsTen"] == v[f"{stem}TopHitsTen"]
    # highest achieved sparsity keeping 95% of dense Hits@10, recomputed from the records
    cells = {}
    for r in recs:
        cells.setdefault((r["method"], r["target_sparsity"]), []).append(r)
    ok = [(np.mean([r["achieved_sparsity"] for r in rs]), k) for k, rs in cells.items()
          if np.mean([r["hits@10"] for r in rs]) / DSI_DENSE["hits@10"] >= 0.95]
    assert f["DsiKeepFound"] == bool(ok)
    if ok:
        assert v["DsiKeepSparsity"] == f"{100 * max(ok)[0]:.1f}\\%"


def test_beating_bm25_and_not_beating_random_flip_the_booleans(tmp_path) -> None:
    write_dsi(tmp_path, dense={"hits@1": 0.5, "hits@10": 0.95, "mrr@10": 0.7, "map": 0.6}, methods=())
    _, m = _macros(tmp_path, dsi.load(tmp_path))
    assert m.flags["DsiBeatsBmTwentyFive"] and not m.flags["HaveDsiPruned"]
    assert m.values["DsiGmpTopSparsity"] == "not run" and m.values["DsiNumPrunedCells"] == "0"
    write_dsi(tmp_path / "b", dense={"hits@1": 0.0, "hits@10": 0.05, "mrr@10": 0.01, "map": 0.01}, methods=())
    _, m = _macros(tmp_path / "b", dsi.load(tmp_path / "b"))
    assert not m.flags["DsiAboveRandom"] and not m.flags["DsiBeatsBmTwentyFive"]      # 0.05 < 2 x 0.03


@pytest.mark.parametrize("curve,rising", [((0.30, 0.39), True), ((0.41, 0.40), False), ((0.39,), None)])
def test_the_dev_curve_says_whether_dsi_was_still_learning(tmp_path, curve, rising) -> None:
    import json

    root = write_grid(tmp_path, models={"conv_knrm": 0.5}, methods={"gmp": (0.85, 10.0)}, sparsities=(0.5,),
                      seeds=(0,))
    write_dsi(root)
    path = root / "metrics" / "dsi.json"
    rec = json.loads(path.read_text())
    rec["dev_history"] = [{"step": 200 * (i + 1), "hits@10": v, "loss": 3.0 - i} for i, v in enumerate(curve)]
    rec["arch"] = "bert"
    path.write_text(json.dumps(rec))
    assert dsi.still_learning(rec["dev_history"], "hits@10") is rising
    _, m = _macros(root, dsi.load(root))
    v, f = m.values, m.flags
    assert f["DsiHaveCurve"] is (rising is not None) and f["DsiStillLearning"] is bool(rising)
    assert not f["DsiFromScratch"] and v["DsiArchName"] == "BERT-initialised"
    assert v["DsiDevFirst"] == f"{curve[0]:.3f}" and v["DsiDevLast"] == f"{curve[-1]:.3f}"
    assert v["DsiDevLastStep"] == str(200 * len(curve)) and v["DsiLossFirst"] == "3.00"


def test_nothing_run_reads_not_run(tmp_path) -> None:
    root = write_grid(tmp_path, models={}, methods={})
    res = dsi.load(root)
    df, m = _macros(root, res)
    assert res.dense is None and res.records == []
    assert not m.flags["HaveDsi"] and not m.flags["DsiBeatsBmTwentyFive"] and not m.flags["DsiAboveRandom"]
    assert m.values["DsiDenseMAP"] == m.values["DsiNumDocs"] == m.values["DsiKeepSparsity"] == "not run"
    assert dsi.figure(res, tmp_path / "fig") == []
    t = dsi.table(res, df, CARD)
    assert t.rows[0][0] == "DSI (dense)" and "not run" in t.rows[0]


def test_table_groups_subset_and_full_collection_and_figure(tmp_path) -> None:
    root = write_grid(tmp_path, models={"conv_knrm": 0.5}, methods={}, seeds=(0,))
    write_dsi(root, sparsities=(0.9,), seeds=(0,))
    res = dsi.load(root)
    df, m = _macros(root, res)
    t = dsi.table(res, df, CARD)
    names = [r[0] for r in t.rows]
    assert names[:3] == ["Random ranking", "BM25 (same documents)", "DSI (dense)"]
    assert names[3:5] == ["DSI, GMP 90%", "DSI, Magnitude (one-shot) 90%"]           # the palette's order
    assert t.group_rows == (4,) and names[5] == "BM25 (full collection)"
    assert all(r[1] == "1,000" for r in t.rows[:5]) and all(r[1] == "6,000" for r in t.rows[5:])
    bm_full = df[(df["task"] == "ranking") & (df["model"] == "bm25")]["map"].iloc[0]
    assert t.rows[5][-1] == f"{bm_full:.3f}" and t.rows[1][-1] == f"{DSI_BM25['map']:.3f}"
    assert "not run" in t.rows[6] and t.rows[7][-1] != "not run"     # monoBERT absent, Conv-KNRM present
    assert "tab:dsi" in t.latex() and "| DSI (dense) |" in t.markdown()
    paths = dsi.figure(res, tmp_path / "fig")
    assert [p.name for p in paths] == ["dsi_sparsity.pdf", "dsi_sparsity.png"] and all(p.is_file() for p in paths)


def test_dsi_rows_leave_the_rankers_numbers_alone(tmp_path) -> None:
    a = write_grid(tmp_path / "a", models={"conv_knrm": 0.5}, methods={"gmp": (0.85, 10.0)}, sparsities=(0.9,),
                   seeds=(0,))
    b = write_grid(tmp_path / "b", models={"conv_knrm": 0.5}, methods={"gmp": (0.85, 10.0)}, sparsities=(0.9,),
                   seeds=(0,))
    write_dsi(b)
    (dfa, ma), (dfb, mb) = _macros(a, dsi.load(a)), _macros(b, dsi.load(b))
    assert set(dfb["task"]) == {"ranking", "dsi"} and len(dfb) > len(dfa)
    ranking = {k: v for k, v in ma.values.items() if not k.startswith("Dsi")}
    assert ranking == {k: v for k, v in mb.values.items() if k in ranking}
    assert {k: v for k, v in ma.flags.items() if "Dsi" not in k} == \
        {k: v for k, v in mb.flags.items() if "Dsi" not in k}
    sa, sb = summary(dfa), summary(dfb)
    assert sa["bm25"] == sb["bm25"] and sb["dense"]["dsi"] == {"mrr@10": pytest.approx(DSI_DENSE["mrr@10"])}
