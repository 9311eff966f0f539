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
