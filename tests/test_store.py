"""The canonical store: write then read gives an equal dataset; files are MS MARCO-native and deterministic."""

from __future__ import annotations

from pathlib import Path

import pytest

from irprune.data import msmarco
from irprune.data.store import dataset_card, read_dataset, write_dataset
from irprune.data.types import RetrievalDataset, Split
from irprune.errors import DataFormatError


def small() -> RetrievalDataset:
    return RetrievalDataset(
        corpus={"10": "ten words here", "2": "two", "3": "", "d-4": "caf\u00e9 \u2019 x y"},
        splits={"train": Split(queries={"7": "seven"}),
                "test": Split(queries={"11": "eleven q", "9": "nine"},
                              qrels={"11": {"10": 2, "2": 0}, "9": {"d-4": 1, "3": 3}},
                              candidates={"11": ["2", "10", "3"], "9": ["d-4"]})},
        meta={"source": "unit", "n": [1, 2]})


def test_round_trip_and_file_layout(tmp_path: Path) -> None:
    ds = small()
    out = write_dataset(ds, tmp_path / "store")
    back = read_dataset(out)
    assert back.corpus == ds.corpus and list(back.corpus) == list(ds.corpus)     # insertion order kept
    assert back.meta == ds.meta and set(back.splits) == {"train", "test"}
    for name, split in ds.splits.items():
        assert back.splits[name].queries == split.queries
        assert back.splits[name].qrels == split.qrels
        assert back.splits[name].candidates == split.candidates
    assert sorted(p.name for p in out.iterdir()) == ["candidates.test.tsv", "collection.tsv", "meta.json",
                                                      "qrels.test.txt", "queries.test.tsv", "queries.train.tsv"]
    assert (out / "qrels.test.txt").read_text().splitlines() == ["9 0 3 3", "9 0 d-4 1", "11 0 2 0", "11 0 10 2"]
    assert msmarco.read_qrels(out / "qrels.test.txt") == ds.splits["test"].qrels    # MS MARCO loader reads it
    assert read_dataset(out, splits=["train"]).splits.keys() == {"train"}
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    write_dataset(small(), out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first                # deterministic bytes


def test_texts_are_sanitised(tmp_path: Path) -> None:
    ds = RetrievalDataset(corpus={"1": "a\tb\nc\r\nd "}, splits={"test": Split(queries={"q": "x\ty"},
                                                                             qrels={"q": {"1": 1}})})
    back = read_dataset(write_dataset(ds, tmp_path))
    assert back.corpus == {"1": "a b c d"} and back.splits["test"].queries == {"q": "x y"}


def test_bad_ids_and_missing_parts(tmp_path: Path) -> None:
    bad = RetrievalDataset(corpus={"a b": "x"}, splits={})
    with pytest.raises(DataFormatError, match="document id 'a b' is empty or contains whitespace"):
        write_dataset(bad, tmp_path / "bad")
    with pytest.raises(DataFormatError, match="meta.json"):
        read_dataset(tmp_path / "nowhere")
    out = write_dataset(small(), tmp_path / "ok")
    with pytest.raises(DataFormatError, match=r"split\(s\) dev not in the store \(it has test, train\)"):
        read_dataset(out, splits=["dev"])
    (out / "qrels.test.txt").write_text("9 0 zz 1\n")
    with pytest.raises(DataFormatError, match="qrels.test.txt:1: qrels names an unknown document"):
        read_dataset(out)


def test_dataset_card_numbers() -> None:
    card = dataset_card(small())
    # doc lengths 3, 1, 0, 4 -> mean 2.0, median 2.0, p95 = 3 + 0.85 * (4 - 3) = 3.85 (linear interpolation)
    assert card["docs"] == 4 and card["empty_docs"] == 1
    assert card["doc_length"] == {"mean": 2.0, "median": 2.0, "p95": 3.85, "max": 4.0}
    test = card["splits"]["test"]
    assert (test["queries"], test["judged_queries"], test["judgements"]) == (2, 2, 4)
    assert test["labels"] == {"0": 1, "1": 1, "2": 1, "3": 1}
    assert test["positives_per_query"] == {"mean": 1.5, "median": 1.5, "p95": 1.95, "max": 2.0}
    assert test["query_length"]["max"] == 2.0 and test["queries_with_candidates"] == 2
    assert card["splits"]["train"]["judged_queries"] == 0
    assert dataset_card(small(), rel_threshold=2)["splits"]["test"]["positives_per_query"]["max"] == 1.0


def test_pooled_splits_join_disjoint_query_sets_and_refuse_overlaps_and_unknown_names():
    from irprune.data.types import RetrievalDataset, Split

    ds = RetrievalDataset(corpus={"d1": "a", "d2": "b"}, splits={
        "dev": Split(queries={"1": "x"}, qrels={"1": {"d1": 1}}),
        "test": Split(queries={"2": "y", "3": "z"}, qrels={"2": {"d2": 2}}),
        "other": Split(queries={"2": "again"})})
    both = ds.pooled(["dev", "test"])
    assert both.queries == {"1": "x", "2": "y", "3": "z"} and both.qrels == {"1": {"d1": 1}, "2": {"d2": 2}}
    assert both.judged_queries() == {"1": "x", "2": "y"}
    with pytest.raises(KeyError, match="available splits: dev, other, test"):
        ds.pooled(["dev", "train"])
    with pytest.raises(ValueError, match="share query ids"):
        ds.pooled(["test", "other"])
