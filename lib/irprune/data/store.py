"""The canonical on-disk dataset every stage reads: MS MARCO's native layout (Bajaj et al. 2016), so the MS MARCO
loader and outside tools read it too.

``<dir>/collection.tsv``            ``pid<TAB>text``, documents in insertion order
``<dir>/queries.<split>.tsv``       ``qid<TAB>text``, queries in insertion order
``<dir>/qrels.<split>.txt``         TREC ``qid 0 pid rel``, sorted by (qid, pid), numeric ids numerically
``<dir>/candidates.<split>.tsv``    ``qid<TAB>pid`` in rank order (only for splits that have candidates)
``<dir>/docs.<split>.tsv``          ``pid<TAB>text`` of documents the split sees with another text (only for
                                    splits with ``doc_texts``: inverse-cloze positives; the collection is unchanged)
``<dir>/meta.json``                 format version, the splits and which files each has, ``ds.meta``

Texts go through :func:`~irprune.data.text.clean_field` (no tab/newline survives); every file is written
atomically.  Ids must be non-empty and free of whitespace (TREC qrels are whitespace-separated).
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..errors import DataFormatError
from ..io import atomic_open, atomic_write_json
from . import msmarco
from .text import clean_field, require_file
from .types import RetrievalDataset, Split

FORMAT = "irprune-store/1"
_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_BAD_ID = re.compile(r"\s")


def _id_key(x: str) -> tuple[int, int, str]:
    return (0, int(x), x) if x.isdigit() else (1, 0, x)


def _check_id(kind: str, x: str) -> str:
    if not x or _BAD_ID.search(x):
        raise DataFormatError(f"{kind} id {x!r} is empty or contains whitespace; the store cannot hold it",
                              fix="use ids without spaces, tabs or newlines")
    return x


def write_dataset(ds: RetrievalDataset, out_dir: str | Path) -> Path:
    """Write ``ds`` in the store layout under ``out_dir``; returns the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_open(out / "collection.tsv") as fh:
        for pid, text in ds.corpus.items():
            fh.write(f"{_check_id('document', pid)}\t{clean_field(text)}\n")
    splits_meta: dict[str, dict[str, bool]] = {}
    for name, split in ds.splits.items():
        if not _SPLIT_NAME.match(name):
            raise DataFormatError(f"split name {name!r} cannot be a file name part", fix="use letters, digits, _ . -")
        with atomic_open(out / f"queries.{name}.tsv") as fh:
            for qid, text in split.queries.items():
                cleaned = clean_field(text)
                if not cleaned:
                    raise DataFormatError(f"query {qid!r} of split {name!r} has an empty text", fix="drop it")
                fh.write(f"{_check_id('query', qid)}\t{cleaned}\n")
        if split.qrels:
            with atomic_open(out / f"qrels.{name}.txt") as fh:
                for qid in sorted(split.qrels, key=_id_key):
                    for pid in sorted(split.qrels[qid], key=_id_key):
                        fh.write(f"{_check_id('query', qid)} 0 {_check_id('document', pid)} {split.qrels[qid][pid]}\n")
        if split.candidates is not None:
            with atomic_open(out / f"candidates.{name}.tsv") as fh:
                for qid, pids in split.candidates.items():
                    for pid in pids:
                        fh.write(f"{_check_id('query', qid)}\t{_check_id('document', pid)}\n")
        if split.doc_texts:
            with atomic_open(out / f"docs.{name}.tsv") as fh:
                for pid, text in split.doc_texts.items():
                    if pid not in ds.corpus:
                        raise DataFormatError(f"split {name!r} changes the text of document {pid!r}, which is not "
                                              "in the collection", fix="only documents of the collection can differ")
                    fh.write(f"{_check_id('document', pid)}\t{clean_field(text)}\n")
        splits_meta[name] = {"qrels": bool(split.qrels), "candidates": split.candidates is not None,
                             "doc_texts": bool(split.doc_texts)}
    atomic_write_json(out / "meta.json", {"format": FORMAT, "splits": splits_meta, "meta": ds.meta})
    return out


def read_dataset(in_dir: str | Path, splits: Sequence[str] | None = None) -> RetrievalDataset:
    """Read a store written by :func:`write_dataset` (all splits, or only ``splits``), strictly."""
    d = Path(in_dir)
    meta_path = require_file(d / "meta.json", "the store's meta.json (written by irprune.data.store.write_dataset)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataFormatError(f"not valid JSON ({e})", path=meta_path, fix="re-run the data stage") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("splits"), dict):
        raise DataFormatError(f"not an {FORMAT} meta file", path=meta_path, fix="re-run the data stage")
    available: dict[str, dict[str, bool]] = meta["splits"]
    wanted = list(available) if splits is None else list(splits)
    missing = [s for s in wanted if s not in available]
    if missing:
        raise DataFormatError(f"split(s) {', '.join(missing)} not in the store (it has {', '.join(available)})",
                              path=meta_path, fix="ask for an existing split or re-run the data stage")
    corpus = msmarco.read_collection(d / "collection.tsv")
    out: dict[str, Split] = {}
    for name in wanted:
        queries = msmarco.read_queries(d / f"queries.{name}.tsv")
        qrels = msmarco.read_qrels(d / f"qrels.{name}.txt", layout="trec", docs=corpus, queries=queries) \
            if available[name].get("qrels") else {}
        cands = msmarco.read_candidates(d / f"candidates.{name}.tsv", docs=corpus, queries=queries) \
            if available[name].get("candidates") else None
        texts = msmarco.read_collection(d / f"docs.{name}.tsv") if available[name].get("doc_texts") else {}
        unknown = [p for p in texts if p not in corpus]
        if unknown:
            raise DataFormatError(f"document {unknown[0]!r} is not in collection.tsv", path=d / f"docs.{name}.tsv",
                                  fix="re-run the data stage")
        out[name] = Split(queries=queries, qrels=qrels, candidates=cands, doc_texts=texts)
    return RetrievalDataset(corpus=corpus, splits=out, meta=meta.get("meta", {}))


def length_stats(lengths: Iterable[int]) -> dict[str, float]:
    """Mean, median, 95th percentile (linear interpolation) and max of ``lengths`` (zeros when empty)."""
    xs = list(lengths)
    if not xs:
        return {"mean": 0.0, "median": 0.0, "p95": 0.0, "max": 0.0}
    return {"mean": round(statistics.fmean(xs), 3), "median": float(statistics.median(xs)),
            "p95": round(float(np.percentile(xs, 95)), 3), "max": float(max(xs))}


def dataset_card(ds: RetrievalDataset, rel_threshold: int = 1) -> dict[str, Any]:
    """Summary counts of ``ds``: documents, per split queries/judgements/labels, lengths in whitespace tokens.

    A positive is a judgement with label >= ``rel_threshold``.
    """
    card: dict[str, Any] = {
        "docs": len(ds.corpus),
        "empty_docs": sum(1 for t in ds.corpus.values() if not t.strip()),
        "doc_length": length_stats(len(t.split()) for t in ds.corpus.values()),
        "rel_threshold": rel_threshold,
        "splits": {},
    }
    for name, split in ds.splits.items():
        labels: dict[str, int] = {}
        for judged in split.qrels.values():
            for rel in judged.values():
                labels[str(rel)] = labels.get(str(rel), 0) + 1
        card["splits"][name] = {
            "queries": len(split.queries),
            "judged_queries": len(split.judged_queries()),
            "judgements": sum(len(v) for v in split.qrels.values()),
            "labels": dict(sorted(labels.items(), key=lambda kv: int(kv[0]))),
            "positives_per_query": length_stats(
                sum(1 for r in split.qrels.get(q, {}).values() if r >= rel_threshold) for q in split.queries),
            "query_length": length_stats(len(t.split()) for t in split.queries.values()),
            "queries_with_candidates": 0 if split.candidates is None else len(split.candidates),
        }
    return card


__all__ = ["write_dataset", "read_dataset", "dataset_card", "length_stats", "FORMAT"]
