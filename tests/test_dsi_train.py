"""DSI training learns a toy collection; train-prune-recover keeps masks at zero; subset, Hits@k and the stage."""

from __future__ import annotations

import json
import random

import pytest
import torch

from irprune.config import from_mapping
from irprune.data.store import write_dataset
from irprune.data.types import RetrievalDataset, Split
from irprune.dsi.config import DSIConfig, DSIIdConfig, DSIModelConfig, DSIPruneConfig, DSITrainConfig
from irprune.dsi.data import build_examples, restrict_qrels, select_documents
from irprune.dsi.ids import build_ids
from irprune.dsi.model import build_model
from irprune.dsi.prune import dsi_prunable, prune_recover, sparsity_by_prefix
from irprune.dsi.retrieve import hits_at_k, retrieve
from irprune.dsi.train import train_dsi
from irprune.evaluation import EvalConfig, evaluate
from irprune.pruning import current_mask

SMALL = DSIModelConfig(d_model=64, d_kv=16, d_ff=128, num_layers=1, num_decoder_layers=1, dropout=0.1)
TOY_TRAIN = DSITrainConfig(steps=200, batch_size=32, warmup_steps=10, chunk_len=6, eval_every=1000)


def toy(n: int = 20, seed: int = 0) -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]]]:
    """``n`` documents of 20 words from 200; one query per document: 4 of its words in random order."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(200)]
    corpus = {str(1000 + i): " ".join(rng.sample(words, 20)) for i in range(n)}
    queries, qrels = {}, {}
    for i, (d, t) in enumerate(corpus.items()):
        queries[f"q{i}"] = " ".join(rng.sample(t.split(), 4))
        qrels[f"q{i}"] = {d: 1}
    return corpus, queries, qrels


@pytest.fixture(scope="module")
def trained():
    corpus, queries, qrels = toy()
    ids = build_ids(list(corpus), corpus, DSIIdConfig(scheme="atomic"))
    m = build_model(SMALL, list(corpus.values()), ids, seed=0)
    ex = build_examples(m.tokenizer.encode, corpus, list(corpus), {}, {}, 64, 16)
    res = train_dsi(m, ex, TOY_TRAIN, log=None)
    return m, ex, res, queries, qrels


def test_indexing_alone_learns_a_toy_collection(trained) -> None:
    """Trained only to map document chunks to ids, the model answers unseen 4-word queries (Hits@1 high);
    an untrained model is at chance (1/20)."""
    m, _, res, queries, qrels = trained
    assert res.losses[-1] < 0.3 * res.losses[0]
    hits1, _ = hits_at_k(qrels, retrieve(m, queries, 5), 1)
    assert hits1 >= 0.6
    corpus, _, _ = toy()
    fresh = build_model(SMALL, list(corpus.values()), m.docids, seed=1)
    assert hits_at_k(qrels, retrieve(fresh, queries, 5), 1)[0] <= 0.25


def test_prune_recover_keeps_masks_exactly_zero(trained) -> None:
    m, ex, _, queries, qrels = trained
    sd = {k: v.clone() for k, v in m.net.state_dict().items()}
    try:
        res = prune_recover(m, 0.5, ex, TOY_TRAIN, DSIPruneConfig(recovery_steps=20, scope="layerwise"),
                            keep_masks=True, log=None)
        mask = current_mask(m.net)
        assert set(mask) == set(dsi_prunable(m.net))
        with torch.no_grad():
            for name, keep in mask.items():
                w = m.net.get_submodule(name.rsplit(".", 1)[0]).weight
                assert torch.count_nonzero(w[~keep]) == 0
        assert res.sparsity["encoder"] == pytest.approx(0.5, abs=0.01)
        assert res.sparsity["decoder"] == pytest.approx(0.5, abs=0.01)
        assert res.recovery is not None and len(res.recovery.losses) == 20
        from irprune.pruning import fold

        fold(m.net)
        after = sparsity_by_prefix(m.net, names=dsi_prunable(m.net))
        assert after == res.sparsity                                # folding keeps the zeros
        assert hits_at_k(qrels, retrieve(m, queries, 5), 10)[0] >= 0.9
    finally:
        from irprune.pruning import fold

        fold(m.net)
        m.net.load_state_dict(sd)


def test_hits_at_k_agrees_with_mrr_at_k() -> None:
    """Success@k is 1 exactly when reciprocal rank@k is positive (ranx computes the latter independently)."""
    rng = random.Random(3)
    qrels = {f"q{i}": {f"d{j}": rng.choice([0, 1, 2]) for j in range(6)} for i in range(30)}
    run = {q: {f"d{j}": rng.random() for j in rng.sample(range(10), 7)} for q in qrels}
    for k, level in ((1, 1), (3, 2), (5, 1)):
        _, per = hits_at_k(qrels, run, k, level)
        mrr = evaluate(qrels, run, EvalConfig(metrics=(f"mrr@{k}", "map"), relevance_level=level)).per_query[f"mrr@{k}"]
        assert set(per) == set(mrr)
        assert all(per[q] == (1.0 if mrr[q] > 0 else 0.0) for q in per)


def _dataset() -> RetrievalDataset:
    corpus, queries, qrels = toy(30, seed=1)
    qs = list(queries)
    test = Split({q: queries[q] for q in qs[:8]}, {q: {d: 2 for d in qrels[q]} for q in qs[:8]})
    dev = Split({q: queries[q] for q in qs[8:14]}, {q: {d: 3 for d in qrels[q]} for q in qs[8:14]})
    train = Split({q: queries[q] for q in qs[14:]}, {q: qrels[q] for q in qs[14:]})
    return RetrievalDataset(corpus, {"train": train, "dev": dev, "test": test})


def test_select_documents_tiers() -> None:
    ds = _dataset()
    judged = {d for s in ("dev", "test") for j in ds.splits[s].qrels.values() for d in j}
    sel = select_documents(ds, 20, seed=0)
    assert len(sel) == 20 and judged <= set(sel)
    assert sel == [d for d in ds.corpus if d in set(sel)]          # corpus order
    assert select_documents(ds, 20, seed=0) == sel
    few = select_documents(ds, 5)
    dev3 = [d for d in ds.corpus if any(d in j for j in ds.splits["dev"].qrels.values())]
    assert few == dev3[:5]                                          # label 3 first
    assert select_documents(ds, 0) == list(ds.corpus)
    r = restrict_qrels(ds.splits["test"].qrels, set(few))
    assert all(not j for j in r.values())


def test_stage_writes_runs_metrics_and_checkpoint(tmp_path) -> None:
    from irprune.dsi.model import load_dsi
    from irprune.pipeline import dsi_stage
    from irprune.runs import read_trec_run

    write_dataset(_dataset(), tmp_path / "ds")
    cfg = from_mapping(dsi_stage.DSIStage, {
        "dsi": {"n_docs": 25, "model": {"d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 1,
                                        "num_decoder_layers": 1},
                "ids": {"scheme": "semantic", "k": 3, "c": 5},
                "train": {"steps": 30, "batch_size": 16, "eval_every": 15, "warmup_steps": 5},
                "retrieve": {"beam_size": 10}},
        "evaluation": {"metrics": ["ndcg@10"], "relevance_level": 2}})
    res = dsi_stage.run(cfg, dataset_dir=tmp_path / "ds", checkpoint_dir=tmp_path / "ckpt",
                        run_dir=tmp_path / "runs", metrics_path=tmp_path / "m.json", cell_dir=tmp_path / "cells")
    metrics = json.loads((tmp_path / "m.json").read_text())
    for key in ("mrr@10", "hits@1", "hits@10", "map", "recall@10", "recall@100", "ndcg@10", "train_s", "params",
                "dev_hits@10", "bm25_subset_map"):
        assert key in metrics, key
    assert metrics["n_docs"] == 25 and metrics["selected_step"] in (15, 30)
    test_run = read_trec_run(tmp_path / "runs" / "test.trec")
    assert set(test_run) == set(_dataset().splits["test"].queries)
    assert all(len(r) == 10 for r in test_run.values())
    per = json.loads((tmp_path / "runs" / "per_query.json").read_text())
    assert set(per) == {"test", "dev"} and "hits@10" in per["test"]
    m = load_dsi(tmp_path / "ckpt")
    assert len(m.docids) == 25 and res.metrics["map"] == metrics["map"]


def test_bad_config_values() -> None:
    from irprune.errors import ConfigError

    with pytest.raises(ConfigError, match="hits@k needs k >= 1"):
        from_mapping(DSIConfig, {"train": {"metric": "hits@0"}})
    with pytest.raises(ConfigError, match="dsi.train.metric"):
        from_mapping(DSIConfig, {"train": {"metric": "bogus"}}, prefix="dsi")
