"""Pseudo-queries: deterministic by seed, each query a title or a contiguous window of one sentence of its
(unchanged) positive document, never most of the document."""

from __future__ import annotations

from pathlib import Path

import pytest

from irprune.config import from_mapping
from irprune.data import cranfield, msmarco
from irprune.data.pseudo_queries import PseudoQueryConfig, make_pseudo_queries
from irprune.data.types import SkipReport
from irprune.errors import ConfigError

CORPUS = {
    f"d{i}": f"Sentence one of doc {i} has seven words. The second sentence of document {i} is here and it is "
             f"quite a bit longer than the first one. Short end {i}."
    for i in range(50)
}


def is_window(query: str, doc: str) -> bool:
    q = query.split()
    words = doc.split()
    return any(words[i:i + len(q)] == q for i in range(len(words) - len(q) + 1))


def test_sentence_queries_are_windows_of_their_positive() -> None:
    cfg = from_mapping(PseudoQueryConfig, {"enabled": True, "n_queries": 30, "min_words": 4, "max_words": 8,
                                           "seed": 3})
    corpus = dict(CORPUS)
    split = make_pseudo_queries(corpus, cfg)
    assert corpus == CORPUS                                   # documents untouched
    assert list(split.queries) == [f"pq-{i}" for i in range(30)]
    assert len(set(split.queries.values())) == 30
    for qid, text in split.queries.items():
        (did, rel), = split.qrels[qid].items()
        assert rel == 1 and is_window(text, corpus[did])
        assert 4 <= len(text.split()) <= 8
        assert "Short end" not in text                        # the 3-word sentence is below min_words
    assert make_pseudo_queries(corpus, cfg) == split          # same seed, same queries
    assert make_pseudo_queries(corpus, from_mapping(PseudoQueryConfig, {"n_queries": 30, "min_words": 4,
                                                                        "max_words": 8, "seed": 4})) != split


def test_titles_fraction_exclusion_and_shortfall() -> None:
    cfg = PseudoQueryConfig(n_queries=2, strategy="title", min_words=2, max_words=5)
    corpus = {"a": "Alpha beta gamma delta. Body text of a goes on for a while here.",
              "b": "No title document with several words in one sentence only here.",
              "c": "Tiny doc."}
    report = SkipReport()
    split = make_pseudo_queries(corpus, cfg, titles={"a": "Alpha beta gamma delta"}, report=report)
    by_doc = {next(iter(split.qrels[q])): t for q, t in split.queries.items()}
    assert by_doc["a"] == "Alpha beta gamma delta"                       # the title
    assert is_window(by_doc["b"], corpus["b"]) and len(by_doc["b"].split()) == 5   # no title: a sentence window
    with pytest.raises(ConfigError, match=r"n_queries = 2, but the corpus \(3 docs, 1 excluded\) gives only 1"):
        make_pseudo_queries(corpus, cfg, titles={"a": "Alpha beta gamma delta"}, exclude={"a"})
    strict = PseudoQueryConfig(n_queries=1, min_words=2, max_words=16, max_doc_fraction=0.5)
    with pytest.raises(ConfigError):                                    # a one-sentence doc is all query
        make_pseudo_queries({"b": corpus["b"]}, strict)
    with pytest.raises(ConfigError, match="min_words .* exceeds max_words"):
        from_mapping(PseudoQueryConfig, {"min_words": 9, "max_words": 3})
    with pytest.raises(ConfigError, match="strategy"):
        from_mapping(PseudoQueryConfig, {"strategy": "random"})


@pytest.mark.shared_data
def test_real_collections(shared_data: Path) -> None:
    docs = msmarco.read_collection(shared_data / "msmarco-passage-dl19-subset" / "derived-native-5000" /
                                   "collection.tsv")
    cfg = PseudoQueryConfig(n_queries=1000, seed=1)
    split = make_pseudo_queries(docs, cfg)
    assert len(split.queries) == 1000
    assert all(is_window(t, docs[next(iter(split.qrels[q]))]) for q, t in split.queries.items())
    titles: dict[str, str] = {}
    cran = cranfield.read_documents(shared_data / "cranfield" / "cran.all.1400", titles=titles)
    tsplit = make_pseudo_queries(cran, PseudoQueryConfig(n_queries=200, strategy="title", max_words=30),
                                 titles=titles)
    assert sum(t == titles[next(iter(tsplit.qrels[q]))] for q, t in tsplit.queries.items()) > 150


def positive_text(split, qid: str, corpus: dict[str, str]) -> str:  # type: ignore[no-untyped-def]
    (did,) = split.qrels[qid]
    return split.doc_texts.get(did, corpus[did])


@pytest.mark.parametrize("keep", [0.0, 0.1, 1.0])
def test_ict_positives_lose_their_sentence_except_the_kept_fraction(keep: float) -> None:
    sents = {f"d{i}": [" ".join(f"s{k}w{j}d{i}" for j in range(6)) + "." for k in range(3)] for i in range(400)}
    corpus = {d: " ".join(ss) for d, ss in sents.items()}
    cfg = PseudoQueryConfig(n_queries=300, strategy="ict", ict_keep=keep, max_words=5, seed=1)
    split = make_pseudo_queries(dict(corpus), cfg)
    inside = [q for q, t in split.queries.items() if is_window(t, positive_text(split, q, corpus))]
    assert len(split.doc_texts) == 300 - len(inside)      # a changed positive never holds its query ...
    for qid, text in split.queries.items():
        (did,) = split.qrels[qid]
        assert is_window(text, corpus[did])
        if did in split.doc_texts:                         # ... and is its document minus the query's sentence
            k = next(k for k, sent in enumerate(sents[did]) if is_window(text, sent))
            assert split.doc_texts[did] == " ".join(sents[did][:k] + sents[did][k + 1:])
    # the kept fraction is a Bernoulli(keep) count: within 4 standard deviations of its mean
    sd = (300 * keep * (1 - keep)) ** 0.5
    assert abs(len(inside) - 300 * keep) <= 4 * sd + 1e-9


def test_ict_without_punctuation_removes_only_the_window() -> None:
    corpus = {f"d{i}": " ".join(f"w{i}x{j}" for j in range(30)) for i in range(20)}    # NPL: no sentence ends
    split = make_pseudo_queries(corpus, PseudoQueryConfig(n_queries=10, ict_keep=0.0, max_words=6))
    for qid, text in split.queries.items():
        (did,) = split.qrels[qid]
        words = corpus[did].split()
        assert len(text.split()) == 6 and split.doc_texts[did].split() == [w for w in words if w not in text.split()]


def test_title_queries_get_the_body() -> None:
    corpus = {"a": "Alpha beta gamma delta . the body of a goes on for a while here ."}
    split = make_pseudo_queries(corpus, PseudoQueryConfig(n_queries=1, strategy="title", min_words=2),
                                titles={"a": "Alpha beta gamma delta ."})
    assert list(split.queries.values()) == ["Alpha beta gamma delta ."]
    assert split.doc_texts == {"a": "the body of a goes on for a while here ."}


def test_doc_texts_survive_the_store_and_leave_the_collection_alone(tmp_path: Path) -> None:
    from irprune.data.store import read_dataset, write_dataset
    from irprune.data.types import RetrievalDataset, Split

    corpus = dict(CORPUS)
    pq = make_pseudo_queries(corpus, PseudoQueryConfig(n_queries=20, max_words=8, ict_keep=0.0))
    ds = RetrievalDataset(corpus, {"train": pq, "test": Split({"q": "doc 1"}, {"q": {"d1": 1}})})
    back = read_dataset(write_dataset(ds, tmp_path / "store"))
    assert back.corpus == CORPUS and back.splits["train"].doc_texts == pq.doc_texts and len(pq.doc_texts) == 20
    view = back.corpus_for("train")
    assert all(view[d] == t for d, t in pq.doc_texts.items()) and set(view) == set(CORPUS)
    assert back.corpus_for("test") is back.corpus


@pytest.mark.shared_data
def test_bm25_on_ict_training_queries_is_far_from_perfect(shared_data: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """On real Cranfield, BM25 finds the positive of a `sentence` pseudo-query almost always; ICT removes the
    sentence, so the bm25 stage (which indexes the train split's view) ranks it much lower."""
    from irprune.data.config import DataConfig
    from irprune.data.load import load_dataset
    from irprune.data.store import write_dataset
    from irprune.pipeline import bm25_stage
    from irprune.stage_configs.bm25 import BM25Stage

    monkeypatch.chdir(tmp_path)
    mrr = {}
    for strategy in ("sentence", "ict"):
        ds, _ = load_dataset(from_mapping(DataConfig, {
            "source": "cranfield", "local": {"path": str(shared_data / "cranfield")},
            "splits": {"dev_from_test": 0.2}, "pseudo_queries": {"enabled": True, "n_queries": 300,
                                                                 "strategy": strategy}}))
        out = write_dataset(ds, tmp_path / strategy)
        res = bm25_stage.run(from_mapping(BM25Stage, {}), dataset_dir=out, metrics_path=tmp_path / "m.json",
                             per_query_path=tmp_path / "pq.json")
        mrr[strategy] = res.metrics["train"]["mrr@10"]
        test_mrr = res.metrics["test"]["mrr@10"]
        assert test_mrr == pytest.approx(mrr.setdefault("test", test_mrr))    # the evaluated collection is the same
    assert mrr["sentence"] > 0.95 and mrr["ict"] < 0.75


def test_training_reads_positives_and_negatives_from_the_train_view() -> None:
    """Every stage building a training pool passes the train split's view (ICT positives without their sentence),
    and the pool's pairs then carry those texts."""
    import ast

    from irprune.data.types import RetrievalDataset
    from irprune.training.sampling import build_pool

    root = Path(__file__).resolve().parents[1] / "lib" / "irprune"
    calls = [(f.name, n) for f in (root / "pipeline").glob("*.py") for n in ast.walk(ast.parse(f.read_text()))
             if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "build_pool"]
    assert {name for name, _ in calls} >= {"train_stage.py", "prune_stage.py"}
    for name, call in calls:
        assert ast.unparse(call.args[3]) == "ds.corpus_for('train')", name
    corpus = dict(CORPUS)
    pq = make_pseudo_queries(corpus, PseudoQueryConfig(n_queries=10, max_words=8, ict_keep=0.0))
    ds = RetrievalDataset(corpus, {"train": pq})
    cands = {q: {d: 1.0 for d in list(corpus)[:5] + list(pq.qrels[q])} for q in pq.queries}
    pool = build_pool(pq.queries, pq.qrels, cands, ds.corpus_for("train"), depth=6)
    for qid, text in pq.queries.items():
        (did,) = pq.qrels[qid]
        assert pool.corpus[did] == pq.doc_texts[did] and not is_window(text, pool.corpus[did])
