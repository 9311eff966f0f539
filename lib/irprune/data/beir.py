"""BEIR folders (Thakur et al. 2021, "BEIR: A Heterogeneous Benchmark for Zero-shot Evaluation of Information
Retrieval Models"; layout of ``beir/datasets/data_loader.py``).

``corpus.jsonl`` lines ``{"_id", "title", "text"}`` (the document text is ``title + " " + text`` when the title is
non-empty, as BEIR's dense models concatenate them), ``queries.jsonl`` lines ``{"_id", "text"}`` (all splits in
one file), ``qrels/<split>.tsv`` as ``query-id<TAB>corpus-id<TAB>score`` with or without that header line.
A split's queries are the queries its qrels judge (BEIR's own rule).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, MutableMapping

from .msmarco import read_qrels
from .text import OnError, Problems, read_lines
from .types import Corpus, Qrels, Queries, SkipReport, Split


def _records(path: str | Path, what: str, probs: Problems) -> Any:
    for n, line in read_lines(path, what):
        if not line.strip():
            probs.bad("blank line", "blank line", path=path, line=n, fix="remove blank lines")
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            probs.bad("invalid JSON", f"not a JSON object ({e.msg} at column {e.colno})", path=path, line=n,
                      fix="each line must be one JSON object")
            continue
        if not isinstance(rec, dict):
            probs.bad("invalid JSON", f"a JSON {type(rec).__name__}, not an object", path=path, line=n,
                      fix="each line must be one JSON object")
            continue
        yield n, rec


def _id_of(rec: dict[str, Any]) -> str:
    v = rec.get("_id")
    return "" if v is None or isinstance(v, (dict, list, bool)) else str(v).strip()


def read_corpus(path: str | Path, *, on_error: OnError = "raise", report: SkipReport | None = None,
                titles: MutableMapping[str, str] | None = None) -> Corpus:
    """BEIR ``corpus.jsonl`` -> ``{_id: title + " " + text}``; titles also go into ``titles`` when given."""
    probs = Problems(on_error, report)
    out: Corpus = {}
    first: dict[str, int] = {}
    for n, rec in _records(path, 'a BEIR corpus (one {"_id","title","text"} object per line)', probs):
        did = _id_of(rec)
        title, text = rec.get("title") or "", rec.get("text")
        if not did:
            probs.bad("empty id", "missing or empty \"_id\"", path=path, line=n, fix='give every record an "_id"')
            continue
        if not isinstance(text, str) or not isinstance(title, str):
            probs.bad("missing text", '"text" (and "title", if present) must be strings', path=path, line=n,
                      fix='give every record a string "text"')
            continue
        if did in out:
            probs.bad("duplicate id", f"document {did!r} already appeared on line {first[did]}", path=path, line=n,
                      fix="ids must be unique")
            continue
        title, text = title.strip(), text.strip()
        out[did] = f"{title} {text}" if title and text else (title or text)
        first[did] = n
        if titles is not None and title:
            titles[did] = title
    return out


def read_queries(path: str | Path, *, on_error: OnError = "raise", report: SkipReport | None = None) -> Queries:
    """BEIR ``queries.jsonl`` -> ``{_id: text}``."""
    probs = Problems(on_error, report)
    out: Queries = {}
    first: dict[str, int] = {}
    for n, rec in _records(path, 'BEIR queries (one {"_id","text"} object per line)', probs):
        qid, text = _id_of(rec), rec.get("text")
        if not qid:
            probs.bad("empty id", "missing or empty \"_id\"", path=path, line=n, fix='give every query an "_id"')
            continue
        if not isinstance(text, str) or not text.strip():
            probs.bad("empty text", f"query {qid!r} has no text", path=path, line=n, fix='give every query a "text"')
            continue
        if qid in out:
            probs.bad("duplicate id", f"query {qid!r} already appeared on line {first[qid]}", path=path, line=n,
                      fix="ids must be unique")
            continue
        out[qid] = text.strip()
        first[qid] = n
    return out


def read_split_qrels(path: str | Path, *, on_error: OnError = "raise", report: SkipReport | None = None,
                     docs: Corpus | None = None, queries: Queries | None = None) -> Qrels:
    """BEIR ``qrels/<split>.tsv`` (header optional; TREC 4-column qrels are accepted too)."""
    return read_qrels(path, on_error=on_error, report=report, docs=docs, queries=queries, allow_header=True)


def load_split(queries: Queries, qrels: Qrels) -> Split:
    """A BEIR split: the queries its qrels judge, in queries-file order."""
    return Split(queries={q: t for q, t in queries.items() if q in qrels}, qrels=qrels)


__all__ = ["read_corpus", "read_queries", "read_split_qrels", "load_split"]
