"""The dense-retrieval report: table rows and the quality-vs-cost figure from dense records and tidy rows."""

from __future__ import annotations

import json

import pandas as pd

from irprune.report import dense as dense_report
from irprune.report.results import COLUMNS


def _record() -> dict:
    sys = {"zeroshot": {"mrr@10": 0.30, "ndcg@10": 0.35, "index_bytes": 9216000, "compression": 1.0,
                        "latency_ms": 8.0, "p_vs_bm25": 0.0001},
           "biencoder": {"mrr@10": 0.36, "ndcg@10": 0.42, "index_bytes": 9216000, "compression": 1.0,
                         "latency_ms": 8.0, "p_vs_bm25": 0.02},
           "pq96": {"mrr@10": 0.35, "ndcg@10": 0.41, "index_bytes": 700000, "compression": 16.0, "latency_ms": 7.9},
           "opq96": {"mrr@10": 0.352, "ndcg@10": 0.41, "index_bytes": 1290000, "compression": 16.0,
                     "latency_ms": 7.9},
           "jpq96": {"mrr@10": 0.355, "ndcg@10": 0.41, "index_bytes": 700000, "compression": 16.0,
                     "latency_ms": 7.9},
           "pq48": {"mrr@10": 0.33, "ndcg@10": 0.40, "index_bytes": 400000, "compression": 32.0, "latency_ms": 7.8}}
    return {"systems": sys}


def _tidy() -> pd.DataFrame:
    rows = []
    for method, sp, v in (("dense", 0.0, 0.5), ("gmp", 0.5, 0.49), ("gmp", 0.9, 0.45)):
        r = {c: None for c in COLUMNS}
        r.update(task="ranking", model="conv_knrm", method=method, target_sparsity=sp, achieved_sparsity=sp, seed=0,
                 split="test", primary_metric="mrr@10", primary_value=v, **{"mrr@10": v})
        rows.append(r)
    return pd.DataFrame(rows)


def test_table_and_figure_from_records(tmp_path):
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "dense.json").write_text(json.dumps(_record()))
    cell = tmp_path / "runs" / "dense_prune" / "magnitude-0.5-0"
    cell.mkdir(parents=True)
    (cell / "metrics.json").write_text(json.dumps({"method": "magnitude", "target_sparsity": 0.5,
                                                   "achieved_sparsity": 0.5, "mrr@10": 0.30, "ndcg@10": 0.38,
                                                   "latency_ms": 7.0}))
    res = dense_report.load(tmp_path)
    assert [n for n, _ in res.compressed()] == ["pq96", "opq96", "jpq96", "pq48"]
    t = dense_report.table(res, {"test": {"mrr@10": 0.427, "ndcg@10": 0.61}})
    names = [r[0] for r in t.rows]
    assert names[0] == "BM25" and {"JPQ, M = 96", "OPQ, M = 96", "PQ, M = 48"} <= set(names)
    assert names[-1].startswith("Query encoder, Magnitude")
    jpq = t.rows[names.index("JPQ, M = 96")]
    assert jpq[2] == "16x" and jpq[5] == "98.6%"
    assert t.rows[names.index("Bi-encoder, fine-tuned (flat)")][-1] == "0.020"
    figs = dense_report.figure(res, _tidy(), tmp_path / "figures")
    assert {p.suffix for p in figs} == {".pdf", ".png"} and all(p.is_file() for p in figs)


def test_nothing_run_gives_no_figure_and_a_not_run_row(tmp_path):
    res = dense_report.load(tmp_path)
    assert dense_report.figure(res, pd.DataFrame(columns=list(COLUMNS)), tmp_path / "f") == []
    assert dense_report.table(res).rows[1][1] == "not run"


def render(record: dict | None) -> str:
    from irprune.report.macros import Macros

    M = Macros()
    dense_report.add_macros(M, dense_report.DenseResults(record, []))
    return M.render()


def test_macros_say_how_the_bi_encoder_was_trained():
    out = render(dict(_record(), training={"side": "both", "teacher": "monobert-s0", "steps": 300}))
    assert "\\DenseBothSidestrue" in out and "\\DenseDistilledtrue" in out
    assert "\\newcommand{\\DenseTeacherName}{monoBERT (training seed 0)}" in out
    out = render(dict(_record(), training={"side": "query", "teacher": "", "steps": 300}))
    assert "\\DenseBothSidesfalse" in out and "\\DenseDistilledfalse" in out
    assert "\\DenseDistilledfalse" in render(None)                  # not run


def test_macros_state_the_outcome_against_bm25_and_at_the_strongest_compression():
    rec = _record()
    rec["systems"]["biencoder"]["bm25_mrr@10"] = 0.34
    rec["systems"]["jpq48"] = {"mrr@10": 0.345, "compression": 32.0}
    rec["significance"] = {"biencoder_vs_bm25": {"significant": True, "p_holm": 0.02},
                           "jpq48_vs_pq48": {"p": 0.004, "p_holm": 0.0412}}
    out = render(rec)
    assert "\\DenseAboveBMtrue" in out and "\\DenseBeatsBMtrue" in out
    for name, value in (("DenseTunedMRR", "0.360"), ("DenseZeroShotMRR", "0.300"), ("DenseBMMRR", "0.340"),
                        ("DenseVsBMP", "0.02"), ("DenseTopCompression", "32$\\times$"),
                        ("DenseTopJpqKept", "95.8\\%"), ("DenseTopPqKept", "91.7\\%"), ("DenseTopOpqKept", "not run"),
                        ("DenseJpqVsPqP", "0.0412")):
        assert f"\\newcommand{{\\{name}}}{{{value}}}" in out
    assert "\\DenseJpqAbovePqtrue" in out and "\\DenseTopHasJpqtrue" in out
    rec["systems"]["biencoder"]["bm25_mrr@10"] = 0.37                  # level or below: neither flag
    out = render(rec)
    assert "\\DenseAboveBMfalse" in out and "\\DenseBeatsBMfalse" in out
    rec["systems"]["jpq48"]["mrr@10"] = 0.32
    assert "\\DenseJpqAbovePqfalse" in render(rec)
    del rec["systems"]["jpq48"]                                       # JPQ not run: no sentence about it
    assert "\\DenseTopHasJpqfalse" in render(rec)
    out = render(None)
    assert "\\DenseAboveBMfalse" in out and "\\newcommand{\\DenseTopCompression}{not run}" in out
