"""The SMART format of the classic test collections (Salton 1971, "The SMART Retrieval System"; the files of
Cranfield, CACM, CISI, MED, ADI, CRAN and friends at http://ir.dcs.gla.ac.uk/resources/test_collections/).

A record starts with ``.I <id>``; each field starts with a marker line ``.<letter>`` and runs to the next marker.
Lines may end in CRLF.  The standard fields and what each contributes to the text (:data:`FIELDS`):

====  ===========================  ==========================================================================
mark  field                        in the text?
====  ===========================  ==========================================================================
.I    id                           the record id (zero padding stripped: ``.I 001`` -> ``1``)
.T    title                        yes, first (skipped when ``.W`` already starts with it, as in Cranfield)
.W    text (abstract / query)      yes
.K    keywords                     yes, last (author/indexer keywords are content words, e.g. CACM)
.A    authors                      no (names rarely match a query; kept out like ir_datasets does)
.B    bibliography / source        no (journal, year)
.N    names / dates (entry date)   no
.X    cross-references             no (citation triples ``doc type doc``)
.C    categories (CR codes)        no (classification numbers)
====  ===========================  ==========================================================================

A query's text is its ``.W`` (its ``.T`` where ``.W`` is empty).  A marker line may carry text after the marker
(``.T Some title``, as some copies write it); that text starts the field.  A field repeated inside one record is
appended to (SMART files repeat a field rather than continue one; Cranfield document 240 repeats ``.A`` and
``.B``) and counted in ``notes``.  A marker outside :data:`FIELDS` (``.E``, ``.Z``...) is bad input: under
``on_error='raise'`` a :class:`~irprune.errors.DataFormatError` naming the file and line; under ``skip`` its
lines are dropped (never glued onto the previous field) and counted, with the first file:line, in the skip report.

Qrels (:func:`read_qrels`), one layout per file, detected from the first data line: ``qid docid rel``
(3 columns, e.g. ``cranqrel``), TREC ``qid iter docid rel`` (4 columns whose second is ``0``/``Q0``) or the
SMART ``qid docid 0 0`` of CACM/CISI (4 columns, last two numeric, every listed pair relevant = label 1).
Relevance codes may be 0 or negative; ids lose their zero padding like the documents' and queries' ids.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Container, Literal, MutableMapping

from ..errors import DataFormatError
from .msmarco import add_judgement
from .text import OnError, Problems, read_lines
from .types import Corpus, Qrels, Queries, SkipReport

FIELDS: dict[str, str] = {"I": "id", "T": "title", "W": "text", "K": "keywords", "A": "authors",
                          "B": "bibliography", "N": "names/dates", "X": "cross-references", "C": "categories"}
DOC_TEXT_FIELDS = ("T", "W", "K")      # in this order; see the module docstring
QueryIds = Literal["id", "position"]

_MARKER = re.compile(r"^\.([A-Z])(?:\s+(.*))?$")
_WS = re.compile(r"\s+")
_FIELD_LIST = " ".join(f".{k}" for k in FIELDS)


def norm_id(x: str) -> str:
    """An id without zero padding (``001`` -> ``1``, ``0`` stays ``0``); non-numeric ids are only stripped."""
    x = x.strip()
    return (x.lstrip("0") or "0") if x.isdigit() else x


def _records(path: str | Path, what: str, probs: Problems,
             notes: SkipReport | None) -> list[tuple[int, str, dict[str, str]]]:
    """``[(line, .I value, {field letter: text})]`` in file order."""
    out: list[tuple[int, str, dict[str, str]]] = []
    cur: dict[str, list[str]] | None = None
    field = ""
    start, ident = 0, ""

    def close() -> None:
        if cur is not None:
            out.append((start, ident, {k: _WS.sub(" ", " ".join(v)).strip() for k, v in cur.items()}))

    for n, line in read_lines(path, what):
        m = _MARKER.match(line.rstrip())
        if m and m.group(1) == "I":
            close()
            cur, field, start, ident = {}, "", n, (m.group(2) or "").strip()
            continue
        if m:
            mark, rest = m.group(1), m.group(2) or ""
            if mark not in FIELDS:
                field = "?"          # the unknown field's lines are dropped, never glued onto the previous one
                probs.bad("unknown SMART field", f"marker .{mark} is not a SMART field ({_FIELD_LIST})",
                          path=path, line=n, fix="rename the marker to a standard field or remove the field")
                continue
            if cur is None:
                probs.bad("text outside a record", f"field .{mark} before the first .I", path=path, line=n,
                          fix="every record starts with `.I <id>`")
                continue
            if mark in cur and notes is not None:
                notes.add("repeated SMART field (appended)", f"{path}:{n}: .{mark} of record {ident}")
            field = mark
            cur.setdefault(field, [])
            if rest.strip():
                cur[field].append(rest)
            continue
        if field == "?":
            continue
        if cur is None or not field:
            if line.strip():
                probs.bad("text outside a record", f"{line.strip()[:60]!r} outside a SMART field", path=path,
                          line=n, fix="put text after a field marker such as .W")
            continue
        cur[field].append(line)
    close()
    return out


def doc_text(fields: dict[str, str]) -> str:
    """Title, text and keywords joined; the title is left out when the text already starts with it."""
    title, text, keys = fields.get("T", ""), fields.get("W", ""), fields.get("K", "")
    parts = [] if (title and text.startswith(title)) else [title]
    return " ".join(p for p in (*parts, text, keys) if p)


def read_documents(path: str | Path, *, on_error: OnError = "raise", report: SkipReport | None = None,
                   titles: MutableMapping[str, str] | None = None, notes: SkipReport | None = None) -> Corpus:
    """SMART documents -> ``{doc id: text}`` (:func:`doc_text`, ids without zero padding); titles into ``titles``."""
    probs = Problems(on_error, report)
    out: Corpus = {}
    first: dict[str, int] = {}
    for line, ident, fields in _records(path, f"SMART documents (.I records; fields {_FIELD_LIST})", probs, notes):
        did = norm_id(ident)
        if not did:
            probs.bad("empty id", "`.I` without an id", path=path, line=line, fix="use `.I <id>`")
            continue
        if did in out:
            probs.bad("duplicate id", f"document {did!r} already appeared on line {first[did]}", path=path,
                      line=line, fix="document ids must be unique (after stripping zero padding)")
            continue
        out[did] = doc_text(fields)
        first[did] = line
        if titles is not None and fields.get("T"):
            titles[did] = fields["T"]
    return out


def read_queries(path: str | Path, *, on_error: OnError = "raise", report: SkipReport | None = None,
                 ids: QueryIds = "id", notes: SkipReport | None = None) -> Queries:
    """SMART queries -> ``{qid: .W text}``; ``ids='id'``: the ``.I`` value without zero padding,
    ``ids='position'``: ``str(n)`` for the n-th record (Cranfield's ``cranqrel`` numbers queries by position)."""
    probs = Problems(on_error, report)
    out: Queries = {}
    first: dict[str, int] = {}
    records = _records(path, f"SMART queries (.I records with a .W text; fields {_FIELD_LIST})", probs, notes)
    for pos, (line, ident, fields) in enumerate(records, 1):
        qid = str(pos) if ids == "position" else norm_id(ident)
        text = fields.get("W") or fields.get("T", "")
        if not qid:
            probs.bad("empty id", "`.I` without an id", path=path, line=line, fix="use `.I <id>`")
            continue
        if not text:
            probs.bad("empty text", f"query .I {ident} (position {pos}) has no .W text", path=path, line=line,
                      fix="give every query a .W field")
            continue    # under ids='position' the position is consumed, so later qids still match the qrels
        if qid in out:
            probs.bad("duplicate id", f"query {qid!r} already appeared on line {first[qid]}", path=path, line=line,
                      fix="query ids must be unique (after stripping zero padding)")
            continue
        out[qid], first[qid] = text, line
    return out


QRELS_LAYOUTS = ("`qid docid rel` (3 columns)", "TREC `qid 0 docid rel` (4 columns, second 0 or Q0)",
                 "SMART `qid docid 0 0` (4 columns, CACM/CISI: every pair relevant)")
_LAYOUT_FIX = "write one of the accepted qrels layouts: " + "; ".join(QRELS_LAYOUTS)


def _layout_of(cols: list[str]) -> str:
    if len(cols) == 3:
        return "3col"
    if len(cols) == 4 and cols[1] in ("0", "Q0"):
        return "trec"
    if len(cols) == 4 and all(re.fullmatch(r"-?\d+(\.\d*)?", c) for c in cols[2:]):
        return "smart4"
    return ""


def read_qrels(path: str | Path, *, on_error: OnError = "raise", report: SkipReport | None = None,
               docs: Container[str] | None = None, queries: Container[str] | None = None,
               relevance: Callable[[int], int] | None = None) -> Qrels:
    """SMART qrels in any layout of :data:`QRELS_LAYOUTS` -> ``{qid: {docid: label}}``, ids without zero padding.

    ``relevance`` maps a raw integer code to a label (``ValueError`` = unknown code); 0 and negative codes are
    kept as they come when it is None.  A line matching no layout names the file, the line and the layouts.
    """
    probs = Problems(on_error, report)
    layout, layout_at = "", 0
    out: Qrels = {}
    first: dict[tuple[str, str], int] = {}
    for n, line in read_lines(path, "SMART qrels (" + "; ".join(QRELS_LAYOUTS) + ")"):
        cols = line.split()
        if not cols:
            continue                   # blank lines separate nothing in SMART qrels; CACM ends with one
        this = _layout_of(cols)
        if not this:
            probs.bad("unreadable qrels line", f"{len(cols)} columns {line.strip()[:60]!r} match no accepted "
                      "layout", path=path, line=n, fix=_LAYOUT_FIX)
            continue
        if not layout:
            layout, layout_at = this, n
        elif this != layout:
            raise DataFormatError(f"mixed qrels layouts: {this} here but {layout} on line {layout_at}", path=path,
                                  line=n, fix="write one layout per file; " + _LAYOUT_FIX)
        if layout == "smart4":
            qid, did, rel_s = cols[0], cols[1], "1"
        elif layout == "trec":
            qid, did, rel_s = cols[0], cols[2], cols[3]
        else:
            qid, did, rel_s = cols
        qid, did = norm_id(qid), norm_id(did)
        add_judgement(out, first, probs, path, n, qid, did, rel_s, relevance=relevance, queries=queries, docs=docs,
                      rel_fix="relevance codes must be integers (0 and negative codes are fine)")
    if not out and on_error == "raise":
        raise DataFormatError("no judgements in file", path=path, fix="check that this is a qrels file")
    return out


__all__ = ["FIELDS", "DOC_TEXT_FIELDS", "QRELS_LAYOUTS", "norm_id", "doc_text", "read_documents", "read_queries",
           "read_qrels"]
