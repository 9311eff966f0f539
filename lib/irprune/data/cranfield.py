"""Cranfield 1400 in the SMART/Glasgow format (Cleverdon 1967, "The Cranfield tests on index language devices";
files from http://ir.dcs.gla.ac.uk/resources/test_collections/cran/).

Records start with ``.I <id>``; fields ``.T`` title, ``.A`` authors, ``.B`` bibliography, ``.W`` text.  Lines
may end in CRLF.  A document's text is its ``.W`` abstract (which already repeats the title), or its title when
``.W`` is empty; docs 471 and 995 are empty in the real file and are kept as empty documents.

Queries: ``cran.qry`` numbers its 225 queries 001, 002, 004, ... 365, but ``cranqrel`` numbers them 1..225 *by
position*; so the n-th query gets qid ``str(n)`` and its ``.I`` number is ignored (as ir_datasets does).

Relevance (``cranqrel.readme``, Cleverdon's codes): 1 = complete answer, 2 = high relevance, 3 = useful,
4 = minimal interest, 5 / ``-1`` = no interest; lower code = more relevant.  They become graded labels where
higher = more relevant: ``label = 5 - code`` for codes 1-4 (1->4, 2->3, 3->2, 4->1) and ``-1`` (or 5) -> 0
(judged, not relevant).  Note: ir_datasets yields the raw codes and its ``QREL_DEFS`` reads them the other way
round (4 = complete answer); we follow the readme shipped with the data.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Container, MutableMapping

from .msmarco import read_qrels as _read_qrels
from .text import OnError, Problems, read_lines
from .types import Corpus, Qrels, Queries, SkipReport

_FIELD = re.compile(r"^\.([A-Z])\s*(.*)$")
_WS = re.compile(r"\s+")


def _records(path: str | Path, what: str, probs: Problems) -> list[tuple[int, str, dict[str, str]]]:
    """``[(line, .I value, {field letter: text})]`` in file order."""
    out: list[tuple[int, str, dict[str, str]]] = []
    cur: dict[str, list[str]] | None = None
    field = ""
    start, ident = 0, ""

    def close() -> None:
        if cur is not None:
            out.append((start, ident, {k: _WS.sub(" ", " ".join(v)).strip() for k, v in cur.items()}))

    for n, line in read_lines(path, what):
        m = _FIELD.match(line)
        if m and m.group(1) == "I":
            close()
            cur, field, start, ident = {}, "", n, m.group(2).strip()
            continue
        if m and m.group(1) in "TABW" and not m.group(2).strip():
            if cur is None:
                probs.bad("text outside a record", f"field .{m.group(1)} before the first .I", path=path, line=n,
                          fix="every record starts with `.I <id>`")
                continue
            field = m.group(1)
            cur.setdefault(field, [])
            continue
        if cur is None or not field:
            if line.strip():
                probs.bad("text outside a record", f"{line.strip()[:60]!r} outside a .T/.A/.B/.W field",
                          path=path, line=n, fix="put text after a field marker such as .W")
            continue
        cur[field].append(line)
    close()
    return out


def read_documents(path: str | Path, *, on_error: OnError = "raise", report: SkipReport | None = None,
                   titles: MutableMapping[str, str] | None = None) -> Corpus:
    """``cran.all.1400`` -> ``{doc id: .W text}`` (ids without zero padding); titles go into ``titles``."""
    probs = Problems(on_error, report)
    out: Corpus = {}
    first: dict[str, int] = {}
    for line, ident, fields in _records(path, "Cranfield documents (SMART format: .I/.T/.A/.B/.W)", probs):
        did = ident.lstrip("0") or ident
        if not ident.isdigit():
            probs.bad("bad id", f".I {ident!r} is not a number", path=path, line=line, fix="use `.I <number>`")
            continue
        if did in out:
            probs.bad("duplicate id", f"document {did!r} already appeared on line {first[did]}", path=path,
                      line=line, fix="document numbers must be unique")
            continue
        out[did] = fields.get("W") or fields.get("T", "")
        first[did] = line
        if titles is not None and fields.get("T"):
            titles[did] = fields["T"]
    return out


def read_queries(path: str | Path, *, on_error: OnError = "raise", report: SkipReport | None = None) -> Queries:
    """``cran.qry`` -> ``{str(position): text}`` (qids 1..n by position, matching ``cranqrel``)."""
    probs = Problems(on_error, report)
    out: Queries = {}
    for pos, (line, ident, fields) in enumerate(_records(path, "Cranfield queries (.I/.W records)", probs), 1):
        if not fields.get("W"):
            probs.bad("empty text", f"query .I {ident} (position {pos}) has no .W text", path=path, line=line,
                      fix="give every query a .W field")
            continue    # the position is consumed, so later qids still match cranqrel
        out[str(pos)] = fields["W"]
    return out


def relevance_label(code: int) -> int:
    """Cleverdon code -> graded label (higher = more relevant): 1..4 -> 4..1, -1 or 5 -> 0."""
    if 1 <= code <= 4:
        return 5 - code
    if code in (-1, 5):
        return 0
    raise ValueError(f"relevance code {code} is not a Cranfield code (1-4, 5 or -1)")


def read_qrels(path: str | Path, *, on_error: OnError = "raise", report: SkipReport | None = None,
               docs: Container[str] | None = None, queries: Container[str] | None = None) -> Qrels:
    """``cranqrel`` (``qid docid code``) -> graded qrels via :func:`relevance_label`."""
    return _read_qrels(path, layout="tsv3", on_error=on_error, report=report, docs=docs, queries=queries,
                       relevance=relevance_label)


__all__ = ["read_documents", "read_queries", "read_qrels", "relevance_label"]
