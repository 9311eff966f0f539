"""TREC-format topics, qrels and SGML documents (TREC conventions as in Voorhees & Harman 2005, "TREC:
Experiment and Evaluation in Information Retrieval"; the topic/doc markup follows trec_eval-era collections and
pyterrier's ``TRECCollection``/``read_topics``).

* topics: ``qid<TAB>text`` TSV (Anserini's ``topics.*.txt``; gzipped ``*.tsv.gz`` too), or SGML
  ``<top><num>…</num><title>…</title>…</top>`` where closing tags are optional and ``Number:``/``Topic:``
  prefixes are dropped (classic TREC ad hoc topics); the format is detected from the first non-blank line.
* qrels: ``qid iter docid rel`` (whitespace separated).
* documents: ``<DOC><DOCNO>id</DOCNO> … </DOC>``; the text is the body with the DOCNO element and all other
  markup tags removed and whitespace collapsed, or only the content of ``text_tags`` when given.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Container

from .msmarco import read_id_text, read_qrels as _read_qrels
from .text import OnError, Problems, read_lines
from .types import Corpus, Qrels, Queries, SkipReport

_TAG = re.compile(r"<[^>]*>")
_WS = re.compile(r"\s+")
_FIELD = re.compile(r"<(num|title|desc|narr)>", re.I)
_PREFIX = re.compile(r"^(number|topic|description|narrative)\s*:\s*", re.I)


def _first_content(path: str | Path, what: str) -> str:
    for _, line in read_lines(path, what):
        if line.strip():
            return line.strip()
    return ""


def read_topics(path: str | Path, *, on_error: OnError = "raise", report: SkipReport | None = None,
                field: str = "title") -> Queries:
    """TREC topics (TSV, gzipped TSV or SGML) -> ``{qid: text}``; ``field`` picks the SGML field (title/desc)."""
    what = "TREC topics (`qid<TAB>text` lines or <top> SGML)"
    if _first_content(path, what).lower().startswith("<top>"):
        return _read_sgml_topics(path, what, Problems(on_error, report), field.lower())
    return read_id_text(path, what, on_error=on_error, report=report)


def _read_sgml_topics(path: str | Path, what: str, probs: Problems, field: str) -> Queries:
    out: Queries = {}
    first: dict[str, int] = {}
    block: list[str] = []
    start = 0
    for n, line in read_lines(path, what):
        low = line.strip().lower()
        if low.startswith("<top>"):
            if block:
                probs.bad("unterminated topic", "<top> before the previous topic's </top>", path=path, line=n,
                          fix="close every <top> with </top>")
            block, start = [line], n
            continue
        if not block:
            if low:
                probs.bad("text outside a topic", f"{line.strip()[:60]!r} outside <top>…</top>", path=path,
                          line=n, fix="remove stray text between topics")
            continue
        block.append(line)
        if low.startswith("</top>") or low.endswith("</top>"):
            _add_topic("\n".join(block), start, path, probs, field, out, first)
            block = []
    if block:
        probs.bad("unterminated topic", "file ends inside a <top>", path=path, line=start,
                  fix="close the last <top> with </top>")
    return out


def _add_topic(block: str, line: int, path: str | Path, probs: Problems, field: str, out: Queries,
               first: dict[str, int]) -> None:
    parts = _FIELD.split(re.sub(r"</?top>", " ", block, flags=re.I))
    fields: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2]):
        fields[name.lower()] = _PREFIX.sub("", _WS.sub(" ", _TAG.sub(" ", body)).strip())
    qid, text = fields.get("num", ""), fields.get(field, "")
    if not qid:
        probs.bad("empty id", "topic without <num>", path=path, line=line, fix="give every topic a <num>")
    elif not text:
        probs.bad("empty text", f"topic {qid!r} has no <{field}>", path=path, line=line,
                  fix=f"give every topic a <{field}> or pick another field")
    elif qid in out:
        probs.bad("duplicate id", f"topic {qid!r} already appeared on line {first[qid]}", path=path, line=line,
                  fix="topic numbers must be unique")
    else:
        out[qid], first[qid] = text, line


def read_qrels(path: str | Path, *, on_error: OnError = "raise", report: SkipReport | None = None,
               docs: Container[str] | None = None, queries: Container[str] | None = None) -> Qrels:
    """TREC qrels ``qid iter docid rel`` -> ``{qid: {docid: rel}}``."""
    return _read_qrels(path, layout="trec", on_error=on_error, report=report, docs=docs, queries=queries)


def read_documents(path: str | Path, *, on_error: OnError = "raise", report: SkipReport | None = None,
                   text_tags: tuple[str, ...] = ()) -> Corpus:
    """TREC SGML documents ``<DOC><DOCNO>…</DOCNO>…</DOC>`` -> ``{docno: body text}`` in file order."""
    what = "TREC SGML documents (<DOC><DOCNO>id</DOCNO> text </DOC>)"
    probs = Problems(on_error, report)
    keep = re.compile("|".join(rf"<{re.escape(t)}>(.*?)</{re.escape(t)}>" for t in text_tags), re.I | re.S) \
        if text_tags else None
    out: Corpus = {}
    first: dict[str, int] = {}
    body: list[str] | None = None
    start = 0
    for n, line in read_lines(path, what):
        low = line.lower()
        opens = low.find("<doc>")
        if opens >= 0:
            if body is not None:
                probs.bad("unterminated document", "<DOC> before the previous </DOC>", path=path, line=n,
                          fix="close every <DOC> with </DOC>")
            elif line[:opens].strip():
                probs.bad("text outside a document", f"{line[:opens].strip()[:60]!r} before <DOC>", path=path,
                          line=n, fix="remove stray text between documents")
            body, start, line, low = [], n, line[opens + 5:], low[opens + 5:]
        elif body is None:
            if line.strip():
                probs.bad("text outside a document", f"{line.strip()[:60]!r} outside <DOC>…</DOC>", path=path,
                          line=n, fix="remove stray text between documents")
            continue
        closes = low.find("</doc>")
        if closes >= 0:
            body.append(line[:closes])
            _add_doc("\n".join(body), start, path, probs, keep, out, first)
            body = None
            if line[closes + 6:].strip():
                probs.bad("text outside a document", f"{line[closes + 6:].strip()[:60]!r} after </DOC>",
                          path=path, line=n, fix="put each </DOC> at the end of its line")
            continue
        body.append(line)
    if body is not None:
        probs.bad("unterminated document", "file ends inside a <DOC>", path=path, line=start,
                  fix="close the last <DOC> with </DOC>")
    return out


_DOCNO = re.compile(r"<DOCNO>(.*?)</DOCNO>", re.I | re.S)


def _add_doc(raw: str, line: int, path: str | Path, probs: Problems, keep: re.Pattern[str] | None, out: Corpus,
             first: dict[str, int]) -> None:
    m = _DOCNO.search(raw)
    docno = m.group(1).strip() if m else ""
    if not docno:
        probs.bad("empty id", "document without <DOCNO>", path=path, line=line, fix="give every <DOC> a <DOCNO>")
        return
    if docno in out:
        probs.bad("duplicate id", f"document {docno!r} already appeared on line {first[docno]}", path=path,
                  line=line, fix="DOCNOs must be unique")
        return
    rest = raw[: m.start()] + " " + raw[m.end():] if m else raw
    if keep is not None:
        rest = " ".join(g for mm in keep.finditer(rest) for g in mm.groups() if g)
    out[docno] = _WS.sub(" ", _TAG.sub(" ", rest)).strip()
    first[docno] = line


__all__ = ["read_topics", "read_qrels", "read_documents"]
