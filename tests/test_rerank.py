"""Re-ranking inference: length sorting and batching never change scores; ties follow the project's rule."""

from __future__ import annotations

import random
from typing import Any, Sequence

import pytest
import torch
from torch import Tensor

from irprune.config import ConfigError
from irprune.errors import DataFormatError
from irprune.models import build_model, model_config
from irprune.models.base import Ranker
from irprune.rerank import candidate_lists, length_order, rerank, rerank_ranx, score_pairs
from irprune.runs import read_trec_run, sort_ranking, write_trec_run
from irprune.text import Vocab

WORDS = [f"t{i}" for i in range(40)]


@pytest.fixture(scope="module")
def data() -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, float]]]:
    rng = random.Random(7)
    corpus = {f"d{i}": " ".join(rng.choices(WORDS, k=rng.randint(1, 30))) for i in range(40)}
    queries = {f"{q}": " ".join(rng.choices(WORDS, k=rng.randint(1, 5))) for q in range(6)}
    cands = {q: {d: float(rng.random()) for d in rng.sample(sorted(corpus), 12)} for q in queries}
    return corpus, queries, cands


@pytest.fixture(scope="module", params=["conv_knrm", "conformer_kernel"])
def model(request: Any, data: Any) -> Ranker:
    corpus = data[0]
    over = {"conv_knrm": {"embedding_dim": 16, "n_filters": 8},
            "conformer_kernel": {"hidden": 16, "n_heads": 2, "ffn_dim": 16, "n_layers": 1}}[request.param]
    return build_model(request.param, model_config(request.param, "small", {**over, "max_doc_len": 32}),
                       Vocab.build(corpus.values()), seed=1).eval()


def test_length_sorting_and_batch_size_do_not_change_scores(model: Ranker, data: Any) -> None:
    corpus, queries, cands = data
    ref = rerank(model, queries, corpus, cands, batch_size=1, sort_by_length=False)
    for bs, sort in ((5, True), (64, True), (7, False)):
        got = rerank(model, queries, corpus, cands, batch_size=bs, sort_by_length=sort)
        assert got.keys() == ref.keys()
        for q in ref:
            assert got[q].keys() == ref[q].keys()
            assert all(abs(got[q][d] - ref[q][d]) < 1e-5 for d in ref[q])


def test_scores_equal_direct_model_calls(model: Ranker, data: Any) -> None:
    corpus, queries, cands = data
    q = "0"
    docs = candidate_lists(cands)[q]
    got = rerank(model, queries, corpus, {q: docs})[q]
    with torch.no_grad():
        for d in docs:
            direct = float(model.score(model.collate([(queries[q], corpus[d])])))
            assert got[d] == pytest.approx(direct, abs=1e-5)


def test_length_order_is_longest_first_and_stable() -> None:
    pairs = [("a", "x y"), ("a b", "x y z"), ("a", "x y"), ("", "")]
    assert length_order(pairs) == [1, 0, 2, 3]


class Constant(Ranker):
    """Every pair scores the same (or by a lookup), to test the tie rule."""

    name = "constant"
    config_cls = object

    def __init__(self, table: dict[str, float] | None = None) -> None:
        class Cfg:
            max_query_len, max_doc_len = 8, 8
        super().__init__(Cfg(), None)
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.table = table or {}

    @classmethod
    def build(cls, cfg: Any, text: Any) -> "Constant":
        return cls()

    def save_text(self, directory: Any) -> None:
        pass

    @classmethod
    def from_saved_text(cls, cfg: Any, directory: Any) -> "Constant":
        return cls()

    def length_limits(self) -> tuple[int, int]:
        return 8, 8

    def _collate(self, pairs: Sequence[tuple[str, str]], q: int, d: int) -> dict[str, Tensor]:
        return {"s": torch.tensor([self.table.get(doc, 1.0) for _, doc in pairs])}

    def forward(self, batch: Any) -> Tensor:
        return batch["s"] + self.w


def test_ties_are_broken_by_doc_id_ascending_in_the_run_file_and_ranx(tmp_path: Any) -> None:
    corpus = {"b": "b", "a": "a", "c": "c", "10": "10", "9": "9"}
    cands = {"q": ["c", "9", "b", "10", "a"]}
    run = rerank(Constant({"c": 2.0}), {"q": "x"}, corpus, cands)
    assert list(run["q"]) == ["c", "10", "9", "a", "b"]              # score desc, then plain string order
    write_trec_run(run, tmp_path / "r.trec", tag="t")
    assert list(read_trec_run(tmp_path / "r.trec")["q"]) == list(run["q"])
    rx = rerank_ranx(Constant({"c": 2.0}), {"q": "x"}, corpus, cands)
    assert [d for d, _ in sort_ranking(rx.to_dict()["q"])] == list(run["q"])


def test_depth_keeps_the_first_stage_top_k_and_empty_queries_stay(data: Any) -> None:
    corpus, queries, cands = data
    run = rerank(Constant(), queries, corpus, {**cands, "5": {}}, depth=3)
    assert run["5"] == {}
    top3 = [d for d, _ in sort_ranking(cands["0"])[:3]]
    assert sorted(run["0"]) == sorted(top3)


def test_bad_input_names_the_problem(model: Ranker, data: Any) -> None:
    corpus, queries, cands = data
    with pytest.raises(DataFormatError, match="'nope'.*not in the corpus"):
        rerank(model, queries, corpus, {"0": ["nope"]})
    with pytest.raises(DataFormatError, match="no query text"):
        rerank(model, queries, corpus, {"zz": ["d1"]})
    with pytest.raises(DataFormatError, match="listed twice"):
        rerank(model, queries, corpus, {"0": ["d1", "d1"]})
    with pytest.raises(ConfigError, match="exceed the model maximum"):
        rerank(model, queries, corpus, cands, max_doc_len=10_000)


def test_rerank_restores_training_mode(model: Ranker, data: Any) -> None:
    corpus, queries, cands = data
    model.train()
    score_pairs(model, [(queries["0"], corpus["d0"])])
    assert model.training
    model.eval()


def test_checkpoint_selection_scores_the_reported_ranking(model: Ranker, data: Any) -> None:
    """The dev evaluator of checkpoint selection and the train stage's reported dev run re-rank the same BM25
    depth and keep the same tail: every metric, also those cut deeper than the re-ranked depth, is equal."""
    from irprune.evaluation import EvalConfig, evaluate
    from irprune.training import DevEvaluator

    corpus, queries, cands = data
    qrels = {q: {d: 1 for d in sorted(cands[q])[::3]} for q in queries}
    cfg = EvalConfig(metrics=("mrr@10", "map", "recall@10", "recall@100"), relevance_level=1)
    depth = 4                                       # the judged candidates below it still count for MAP and recall
    selected = DevEvaluator(queries, qrels, corpus, cands, cfg, "map", depth=depth)(model)
    reported = evaluate(qrels, rerank(model, queries, corpus, cands, depth=depth, keep_rest=True), cfg).aggregate
    assert selected.keys() >= set(cfg.metrics)
    for m in cfg.metrics:
        assert selected[m] == pytest.approx(reported[m], abs=1e-9), m
    cut = evaluate(qrels, rerank(model, queries, corpus, cands, depth=depth), cfg).aggregate
    assert cut["recall@100"] < reported["recall@100"]  # the test would notice a cut-off tail


def test_the_selected_steps_dev_run_is_reused_only_for_the_same_weights_and_queries(model: Ranker,
                                                                                     data: Any) -> None:
    """The train stage takes the dev run of selection's evaluation instead of re-ranking dev again, when the
    weights are the evaluated ones and the evaluation covered the whole split."""
    import torch

    from irprune.evaluation import EvalConfig
    from irprune.pipeline.train_stage import _known_dev_run
    from irprune.training import DevEvaluator

    corpus, queries, cands = data
    qrels = {q: {d: 1 for d in sorted(cands[q])[::3]} for q in queries}
    cfg = EvalConfig(metrics=("mrr@10",), relevance_level=1)
    ev = DevEvaluator(queries, qrels, corpus, cands, cfg, "mrr@10", depth=4)
    ev(model)
    again = rerank(model, queries, corpus, cands, depth=4, keep_rest=True)
    assert _known_dev_run(ev, model, queries) == again
    first = sorted(queries)[0]
    assert _known_dev_run(ev, model, {first: queries[first]}) is None                 # another query set
    assert _known_dev_run(None, model, queries) is None
    weight = next(p for p in model.parameters() if p.requires_grad)
    kept = weight.detach().clone()
    with torch.no_grad():
        weight.add_(1e-3)
    try:
        assert _known_dev_run(ev, model, queries) is None                             # other weights
    finally:
        with torch.no_grad():
            weight.copy_(kept)
