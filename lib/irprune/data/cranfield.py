"""Cranfield 1400 (Cleverdon 1967, "The Cranfield tests on index language devices"; files from
http://ir.dcs.gla.ac.uk/resources/test_collections/cran/), read by the general SMART reader (:mod:`.smart`).

Documents: ``.I .T .A .B .W`` records; the text is title + ``.W`` (:func:`irprune.data.smart.doc_text`; Cranfield's
``.W`` already repeats the title, so the title is not doubled).  Docs 471 and 995 are empty in the real file and
are kept as empty documents.

Queries: ``cran.qry`` numbers its 225 queries 001, 002, 004, ... 365, but ``cranqrel`` numbers them 1..225 *by
position*; so the n-th query gets qid ``str(n)`` and its ``.I`` number is ignored (as ir_datasets does).

Relevance (``cranqrel.readme``, Cleverdon's codes): 1 = complete answer, 2 = high relevance, 3 = useful,
4 = minimal interest, 5 / ``-1`` = no interest; lower code = more relevant.  They become graded labels where
higher = more relevant: ``label = 5 - code`` for codes 1-4 (1->4, 2->3, 3->2, 4->1) and ``-1`` (or 5) -> 0
(judged, not relevant).  Note: ir_datasets yields the raw codes and its ``QREL_DEFS`` reads them the other way
round (4 = complete answer); we follow the readme shipped with the data.  Any SMART qrels layout is accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Container, MutableMapping

from . import smart
from .text import OnError
from .types import Corpus, Qrels, Queries, SkipReport


def read_documents(path: str | Path, *, on_error: OnError = "raise", report: SkipReport | None = None,
                   titles: MutableMapping[str, str] | None = None, notes: SkipReport | None = None) -> Corpus:
    """``cran.all.1400`` -> ``{doc id: title + .W text}`` (ids without zero padding); titles go into ``titles``."""
    return smart.read_documents(path, on_error=on_error, report=report, titles=titles, notes=notes)


def read_queries(path: str | Path, *, on_error: OnError = "raise", report: SkipReport | None = None,
                 notes: SkipReport | None = None) -> Queries:
    """``cran.qry`` -> ``{str(position): text}`` (qids 1..n by position, matching ``cranqrel``)."""
    return smart.read_queries(path, on_error=on_error, report=report, ids="position", notes=notes)


def relevance_label(code: int) -> int:
    """Cleverdon code -> graded label (higher = more relevant): 1..4 -> 4..1, -1 or 5 -> 0."""
    if 1 <= code <= 4:
        return 5 - code
    if code in (-1, 5):
        return 0
    raise ValueError(f"relevance code {code} is not a Cranfield code (1-4, 5 or -1)")


def read_qrels(path: str | Path, *, on_error: OnError = "raise", report: SkipReport | None = None,
               docs: Container[str] | None = None, queries: Container[str] | None = None) -> Qrels:
    """``cranqrel`` (any SMART qrels layout) -> graded qrels via :func:`relevance_label`."""
    return smart.read_qrels(path, on_error=on_error, report=report, docs=docs, queries=queries,
                            relevance=relevance_label)


__all__ = ["read_documents", "read_queries", "read_qrels", "relevance_label"]
