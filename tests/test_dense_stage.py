"""The dense and dense_prune stages end to end on a tiny collection with a tiny encoder (seconds)."""

from __future__ import annotations

import json

import pytest

from irprune.data.store import write_dataset
from irprune.data.types import RetrievalDataset, Split
from irprune.dense.config import (DenseConfig, DenseLatencyConfig, DensePruneConfig, DenseTrainConfig, JPQConfig,
                                  PQConfig)
from irprune.evaluation import EvalConfig
from irprune.io import atomic_write_json
from irprune.pipeline import dense_prune_stage, dense_stage
from irprune.report.results import read_cell
from irprune.runs import write_trec_run
from test_dense import WORDS, tiny_encoder


def _dataset(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    corpus = {f"{i}": " ".join(rng.choice(WORDS, size=6)) for i in range(120)}
    splits = {}
    start = 0
    for name, n in (("train", 30), ("dev", 10), ("test", 12)):
        qs, qrels = {}, {}
        for j in range(n):
            d = str(start + j)
            qs[f"{name}{j}"] = " ".join(corpus[d].split()[:3])
            qrels[f"{name}{j}"] = {d: 1 if name == "train" else 2}
        start += n
        splits[name] = Split(qs, qrels)
    ds = RetrievalDataset(corpus, splits)
    write_dataset(ds, tmp_path / "dataset")
    run = {q: {d: float(len(corpus) - int(d)) for d in list(corpus)[:20]} for q in splits["train"].queries}
    write_trec_run(run, tmp_path / "bm25" / "train.trec", tag="bm25")
    per_q = {q: 0.1 for q in splits["test"].queries}
    atomic_write_json(tmp_path / "bm25" / "per_query.json", {"test": {"mrr@10": per_q}})


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    _dataset(tmp_path)
    monkeypatch.setattr(dense_stage, "load_encoder", lambda cfg: tiny_encoder(tmp_path))
    monkeypatch.setattr(dense_prune_stage, "load_encoder", lambda cfg: tiny_encoder(tmp_path))
    cfg = DenseConfig(doc_max_tokens=16, query_max_tokens=8, threads=1,
                      train=DenseTrainConfig(steps=4, batch_size=8, negatives=1, bm25_depth=5, eval_every=2,
                                             warmup_steps=0, distill_weight=0.0),
                      pq=PQConfig(m=(4,), nbits=4), jpq=JPQConfig(steps=3, batch_size=8, negatives=5, sampled=2,
                                                                  eval_every=3, warmup_steps=0),
                      latency=DenseLatencyConfig(n_queries=3, repeats=1),
                      prune=DensePruneConfig(recovery_steps=3))
    return tmp_path, cfg


def test_dense_stage_writes_runs_metrics_and_cells(tiny):
    tmp_path, cfg = tiny
    ecfg = EvalConfig(metrics=("mrr@10", "ndcg@10", "map", "recall@10", "recall@100"), relevance_level=2)
    res = dense_stage.run(dense_stage.DenseStage(dense=cfg, evaluation=ecfg), tmp_path / "dataset",
                          tmp_path / "bm25" / "train.trec", tmp_path / "bm25" / "per_query.json",
                          tmp_path / "models", tmp_path / "runs", tmp_path / "dense.json", tmp_path / "cells")
    assert set(res.systems) == {"zeroshot", "biencoder", "pq4", "opq4", "jpq4"}
    assert res.systems["jpq4"]["start"] == "opq"                # JPQ starts from the OPQ index
    assert res.systems["opq4"]["index_bytes"] == res.systems["pq4"]["index_bytes"] + 32 * 32 * 4   # + rotation
    m = json.loads((tmp_path / "dense.json").read_text())
    assert m["systems"]["pq4"]["compression"] == 64.0       # 32 float32 dims in 4 codes of 4 bits
    assert set(m["significance"]) >= {"biencoder_vs_bm25", "biencoder_vs_zeroshot", "jpq4_vs_pq4", "jpq4_vs_opq4"}
    cell = read_cell(tmp_path / "cells" / "jpq4.test.json")
    assert (cell["task"], cell["model"], cell["method"]) == ("dense", "biencoder-m4", "jpq")
    assert cell["size_sparse_bytes"] < cell["size_dense_bytes"]
    assert cell["sparsity_prunable"] == 0.0 and cell["prunable_params"] < cell["total_params"]   # nothing pruned
    for f in ("doc_vectors.npy", "doc_ids.json", "pq4_codes.npy", "opq4_rotation.npy", "jpq4_centroids.npy"):
        assert (tmp_path / "models" / f).is_file()
    assert (tmp_path / "runs" / "jpq4.test.trec").is_file()

    pr = dense_prune_stage.run(dense_prune_stage.DensePruneStage(dense=cfg, evaluation=ecfg), "magnitude", 0.5, 0,
                               tmp_path / "dataset", tmp_path / "models", tmp_path / "bm25" / "train.trec",
                               tmp_path / "cell")
    assert pr.metrics["achieved_sparsity"] == pytest.approx(0.5, abs=0.01)
    c = read_cell(tmp_path / "cell" / "cell.test.json")
    assert (c["task"], c["method"], c["target_sparsity"]) == ("dense", "magnitude", 0.5)
    assert c["sparsity_prunable"] == pytest.approx(pr.metrics["achieved_sparsity"])
    assert c["prunable_params"] == pr.metrics["prunable_params"] and c["total_params"] == pr.metrics["total_params"]
    assert 0 < c["sparsity_all"] < c["sparsity_prunable"] and c["prunable_kinds"].startswith("linear ")


def test_dense_stage_distils_a_trained_ranker_into_both_sides(tiny):
    import dataclasses

    from irprune.data.store import read_dataset
    from irprune.errors import DataFormatError
    from irprune.models import build_model, save_checkpoint
    from irprune.text import Vocab

    tmp_path, cfg = tiny
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, side="both", teacher="conv_knrm-s0",
                                                             teacher_pool=3, negatives=1, distill_weight=1.0),
                              pq=PQConfig(m=(4,), nbits=4, opq=False), jpq=JPQConfig(steps=0))
    ecfg = EvalConfig(metrics=("mrr@10",), relevance_level=2)
    stage = dense_stage.DenseStage(dense=cfg, evaluation=ecfg)
    args = (tmp_path / "dataset", tmp_path / "bm25" / "train.trec", tmp_path / "bm25" / "per_query.json",
            tmp_path / "models", tmp_path / "runs", tmp_path / "dense.json", tmp_path / "cells")
    with pytest.raises(DataFormatError, match="checkpoint directory not found") as err:
        dense_stage.run(stage, *args, model_root=tmp_path / "trained")
    assert "conv_knrm-s0" in str(err.value)
    corpus = read_dataset(tmp_path / "dataset").corpus
    save_checkpoint(build_model("conv_knrm", None, Vocab.build(list(corpus.values()))),
                    tmp_path / "trained" / "conv_knrm-s0")
    res = dense_stage.run(stage, *args, model_root=tmp_path / "trained")
    m = json.loads((tmp_path / "dense.json").read_text())
    assert m["training"]["side"] == "both" and m["training"]["teacher"] == "conv_knrm-s0"
    assert m["training"]["teacher_s"] > 0 and set(res.systems) == {"zeroshot", "biencoder", "pq4"}
