"""The hybrid first stage: round-robin interleaving, exact dense search (against faiss), and the bm25 stage writing
the hybrid candidate lists that the re-rankers then read (``paths.candidates_run``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from irprune import first_stage, paths
from irprune.config import ConfigError, from_mapping
from irprune.data.store import write_dataset
from irprune.data.types import RetrievalDataset, Split
from irprune.first_stage import DenseFirstStage, FirstStageConfig, interleave, interleaved_run
from irprune.runs import read_trec_run, sort_ranking
from test_dense import WORDS, WordAverage


def test_interleave_alternates_skips_duplicates_and_stops_at_depth() -> None:
    assert interleave(["a", "b", "c", "d"], ["b", "e", "a", "f"], 10) == ["a", "b", "e", "c", "d", "f"]
    assert interleave(["a", "b", "c"], ["x"], 3) == ["a", "x", "b"]
    assert interleave([], ["x", "y"], 5) == ["x", "y"]


@pytest.mark.parametrize("k", [1, 2, 7, 30])
def test_the_top_k_of_the_merge_holds_the_top_half_of_both_lists(k: int) -> None:
    rng = np.random.default_rng(k)
    docs = [f"d{i}" for i in range(80)]
    first, second = list(rng.permutation(docs)), list(rng.permutation(docs))
    top = set(interleave(first, second, k))
    assert len(top) == k
    assert set(first[:math.ceil(k / 2)]) <= top and set(second[:k // 2]) <= top


def test_interleaved_run_scores_the_merged_order_descending() -> None:
    bm25 = {"q1": {"a": 9.0, "b": 5.0, "c": 1.0}, "q2": {"x": 1.0}}
    dense = {"q1": {"c": 0.9, "d": 0.8}, "q3": {"y": 0.5}}
    run = interleaved_run(bm25, dense, depth=10)
    assert [d for d, _ in sort_ranking(run["q1"])] == ["a", "c", "b", "d"]
    assert set(run) == {"q1", "q2", "q3"} and list(run["q3"]) == ["y"]


def test_dense_retrieval_is_the_brute_force_inner_product_ranking() -> None:
    """The first stage's dense run (faiss's flat index) equals ranking every passage by the inner product of the
    encoder's vectors, computed here with numpy."""
    rng = np.random.default_rng(0)
    corpus = {f"d{i}": " ".join(rng.choice(WORDS, size=5)) for i in range(50)}
    queries = {f"q{i}": " ".join(rng.choice(WORDS, size=2)) for i in range(12)}
    enc = _WordEncoder()
    stage = DenseFirstStage(FirstStageConfig(method="hybrid"), corpus, encoder=enc)
    run = stage.retrieve(queries, depth=10)
    docs, qids = sorted(corpus), sorted(queries)
    scores = enc.encode([queries[q] for q in qids], "query") @ enc.encode([corpus[d] for d in docs], "doc").T
    for i, q in enumerate(qids):
        expected = sort_ranking({d: float(scores[i, j]) for j, d in enumerate(docs)})[:10]
        got = sort_ranking(run[q])
        assert len(got) == 10
        np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], rtol=1e-5, atol=1e-6)
        top = {d for d, s in expected if s > expected[-1][1] + 1e-5}     # ties at the cut may differ
        assert top <= {d for d, _ in got}


def test_a_hybrid_first_stage_needs_a_registered_checkpoint() -> None:
    with pytest.raises(ConfigError, match="first_stage.checkpoint = 'nope' is not a registered checkpoint; expected"):
        from_mapping(FirstStageConfig, {"method": "hybrid", "checkpoint": "nope"})
    from_mapping(FirstStageConfig, {"method": "bm25", "checkpoint": "nope"})     # unused by BM25 alone


class _WordEncoder:
    """A bag-of-words bi-encoder (the interface of :class:`~irprune.dense.encoder.BiEncoder`) for the stage test."""

    def __init__(self) -> None:
        import torch
        from transformers import BertTokenizerFast

        vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
        self.tok = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)})
        self.net = WordAverage(len(vocab))
        self.torch = torch

    def encode(self, texts, side, *, max_tokens=128, batch_size=64, label=None):
        enc = self.tok(list(texts), padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")
        with self.torch.no_grad():
            h = self.net(enc["input_ids"]).last_hidden_state
            m = enc["attention_mask"].unsqueeze(-1).float()
            v = (h * m).sum(1) / m.sum(1)
            return self.torch.nn.functional.normalize(v, dim=-1).numpy()


def _dataset(root: Path) -> Path:
    rng = np.random.default_rng(0)
    corpus = {f"d{i}": " ".join(rng.choice(WORDS, size=6)) for i in range(60)}
    splits = {}
    for name, n in (("train", 8), ("dev", 5), ("test", 6)):
        docs = [f"d{i}" for i in rng.choice(60, size=n, replace=False)]
        splits[name] = Split({f"{name}{j}": " ".join(corpus[d].split()[:2]) for j, d in enumerate(docs)},
                             {f"{name}{j}": {d: 1 if name == "train" else 2} for j, d in enumerate(docs)})
    return write_dataset(RetrievalDataset(corpus, splits), root / "dataset")


def test_a_bm25_run_after_a_hybrid_one_leaves_no_hybrid_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from irprune.pipeline import bm25_stage
    from irprune.stage_configs.bm25 import BM25Stage

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(first_stage, "load_encoder", lambda cfg: _WordEncoder())
    dataset = _dataset(tmp_path)
    kw = dict(dataset_dir=dataset, metrics_path=tmp_path / "m.json", per_query_path=tmp_path / "pq.json",
              dense_per_query_path=tmp_path / "dense_pq.json")
    bm25_stage.run(from_mapping(BM25Stage, {"first_stage": {"method": "hybrid"}}), **kw)
    assert paths.hybrid_run("test").is_file() and (tmp_path / "dense_pq.json").is_file()
    bm25_stage.run(from_mapping(BM25Stage, {}), **kw)                   # the notebook run by hand, outside DVC
    assert not paths.hybrid_run("test").exists() and not (tmp_path / "dense_pq.json").exists()
    assert paths.candidates_run("test") == paths.bm25_run("test")


@pytest.mark.parametrize("method", ["bm25", "hybrid"])
def test_bm25_stage_writes_hybrid_candidates_for_evaluated_splits(method: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from irprune.pipeline import bm25_stage
    from irprune.report.results import bm25_rows
    from irprune.stage_configs.bm25 import BM25Stage

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(first_stage, "load_encoder", lambda cfg: _WordEncoder())
    dataset = _dataset(tmp_path)
    cfg = from_mapping(BM25Stage, {"bm25": {"depth": 20}, "first_stage": {"method": method}})
    res = bm25_stage.run(cfg, dataset_dir=dataset, metrics_path=tmp_path / "m.json",
                         per_query_path=tmp_path / "pq.json", dense_per_query_path=tmp_path / "dense_pq.json")
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["candidates"] == method
    assert not paths.hybrid_run("train").exists()                       # training negatives stay BM25's
    assert paths.candidates_run("train") == paths.bm25_run("train")
    assert [r["split"] for r in bm25_rows(tmp_path / "m.json")] == ["dev", "test", "train"]
    if method == "bm25":
        assert "dense" not in metrics and not paths.hybrid_run("test").exists()
        assert paths.candidates_run("test") == paths.bm25_run("test")
        return
    assert set(metrics["dense"]) == {"checkpoint", "dev", "test"} and metrics["dense"]["checkpoint"] == "minilm-l6"
    dense_pq = json.loads((tmp_path / "dense_pq.json").read_text())
    assert set(dense_pq["test"]["mrr@10"]) == set(res.per_query["test"]["mrr@10"])
    for split in ("dev", "test"):
        assert paths.candidates_run(split) == paths.hybrid_run(split)
        bm25, hybrid = read_trec_run(paths.bm25_run(split)), read_trec_run(paths.hybrid_run(split))
        assert set(hybrid) == set(bm25)
        for q, ranking in hybrid.items():
            order = [d for d, _ in sort_ranking(ranking)]
            assert order[0] == sort_ranking(bm25[q])[0][0]              # BM25 leads the interleaving
            assert len(order) == len(set(order)) <= 20
