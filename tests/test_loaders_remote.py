"""The remote sources without a network: the HF path runs ``datasets.load_dataset('json', ...)`` on files written
here (BEIR hub row layout), the ir_datasets path runs on fake datasets yielding ir_datasets-shaped namedtuples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, NamedTuple

import pytest

from irprune.config import from_mapping
from irprune.data.config import HfIds, IrDatasetsIds
from irprune.data.remote import load_hf, load_ir_datasets, qrels_from_records
from irprune.data.types import SkipReport
from irprune.errors import DataFormatError


class GenericDoc(NamedTuple):
    doc_id: str
    text: str


class GenericQuery(NamedTuple):
    query_id: str
    text: str


class TrecQuery(NamedTuple):
    query_id: str
    title: str
    description: str
    narrative: str


class TrecQrel(NamedTuple):
    query_id: str
    doc_id: str
    relevance: int
    iteration: str


class FakeDataset:
    def __init__(self, docs: list[Any] | None = None, queries: list[Any] | None = None,
                 qrels: list[Any] | None = None) -> None:
        self._docs, self._queries, self._qrels = docs, queries, qrels

    def has_docs(self) -> bool:
        return self._docs is not None

    def has_qrels(self) -> bool:
        return self._qrels is not None

    def docs_iter(self) -> Iterable[Any]:
        return iter(self._docs or [])

    def queries_iter(self) -> Iterable[Any]:
        return iter(self._queries or [])

    def qrels_iter(self) -> Iterable[Any]:
        return iter(self._qrels or [])


def test_ir_datasets_conversion() -> None:
    docs = [GenericDoc("0", "The presence of communication"), GenericDoc("1", "Manhattan project"),
            GenericDoc("2", "other")]
    registry = {
        "msmarco-passage": FakeDataset(docs=docs),
        "msmarco-passage/train/judged": FakeDataset(queries=[GenericQuery("121352", "define extreme")],
                                                    qrels=[TrecQrel("121352", "1", 1, "0")]),
        "msmarco-passage/trec-dl-2019/judged": FakeDataset(
            queries=[TrecQuery("19335", "anthropological definition", "d", "n")],
            qrels=[TrecQrel("19335", "0", 3, "Q0"), TrecQrel("19335", "2", 0, "Q0")]),
    }
    ids = from_mapping(IrDatasetsIds, {"docs": "msmarco-passage", "train": "msmarco-passage/train/judged",
                                       "test": "msmarco-passage/trec-dl-2019/judged"})
    ds = load_ir_datasets(ids, load_fn=registry.__getitem__)
    assert ds.corpus == {"0": "The presence of communication", "1": "Manhattan project", "2": "other"}
    assert set(ds.splits) == {"train", "test"}
    assert ds.splits["test"].queries == {"19335": "anthropological definition"}   # TREC title as text
    assert ds.splits["test"].qrels == {"19335": {"0": 3, "2": 0}}
    assert ds.splits["train"].qrels == {"121352": {"1": 1}}


def test_ir_datasets_bad_records() -> None:
    registry = {"x": FakeDataset(docs=[GenericDoc("0", "a")], queries=[GenericQuery("q", "t")],
                                 qrels=[TrecQrel("q", "0", 1, "0"), TrecQrel("q", "9", 1, "0")])}
    ids = IrDatasetsIds(test="x")
    with pytest.raises(DataFormatError, match=r"^x:2: qrels names an unknown document"):
        load_ir_datasets(ids, load_fn=registry.__getitem__)
    report = SkipReport()
    ds = load_ir_datasets(ids, load_fn=registry.__getitem__, on_error="skip", report=report)
    assert ds.splits["test"].qrels == {"q": {"0": 1}} and report.counts == {"qrels names an unknown document": 1}
    with pytest.raises(DataFormatError, match="non-integer relevance"):
        qrels_from_records([{"query-id": "q", "corpus-id": "0", "score": 0.5}], "hub")


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_hf_beir_layout_through_datasets_json(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    files = {
        ("BeIR/scifact", "corpus", "corpus"): _jsonl(tmp_path / "corpus.jsonl", [
            {"_id": "4983", "title": "Microstructural development", "text": "Alterations of the architecture"},
            {"_id": "5836", "title": "", "text": "Induction of myelodysplasia"}]),
        ("BeIR/scifact", "queries", "queries"): _jsonl(tmp_path / "queries.jsonl", [
            {"_id": "1", "text": "0-dimensional biomaterials"}, {"_id": "3", "text": "1,000 genomes"}]),
        ("BeIR/scifact-qrels", None, "test"): _jsonl(tmp_path / "test.jsonl", [
            {"query-id": 1, "corpus-id": 4983, "score": 1}]),
        ("BeIR/scifact-qrels", None, "train"): _jsonl(tmp_path / "train.jsonl", [
            {"query-id": 3, "corpus-id": 5836, "score": 1}]),
    }
    calls: list[tuple[str, str | None, str, str | None]] = []

    def load_fn(path: str, name: str | None, split: str, revision: str | None) -> Any:
        calls.append((path, name, split, revision))
        return datasets.load_dataset("json", data_files=files[path, name, split], split="train",
                                     cache_dir=str(tmp_path / "hf-cache"))

    ids = from_mapping(HfIds, {"corpus": "BeIR/scifact", "qrels": "BeIR/scifact-qrels", "train": "train",
                               "revision": "abc123"})
    titles: dict[str, str] = {}
    ds = load_hf(ids, load_fn=load_fn, titles=titles)
    assert ds.corpus == {"4983": "Microstructural development Alterations of the architecture",
                         "5836": "Induction of myelodysplasia"}
    assert titles == {"4983": "Microstructural development"}
    assert ds.splits["test"].queries == {"1": "0-dimensional biomaterials"}      # judged queries only
    assert ds.splits["test"].qrels == {"1": {"4983": 1}}                         # integer ids become strings
    assert ds.splits["train"].qrels == {"3": {"5836": 1}}
    assert all(c[3] == "abc123" for c in calls) and len(calls) == 4
