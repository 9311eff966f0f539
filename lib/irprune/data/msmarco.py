"""MS MARCO passage ranking files (Bajaj et al. 2016, "MS MARCO: A Human Generated MAchine Reading COmprehension
Dataset"), read strictly in plain Python.

* ``collection.tsv``: ``pid<TAB>text``.  An empty text is kept (a real, if useless, document).
* ``queries.*.tsv``: ``qid<TAB>text`` (text stripped; MS MARCO dev queries have a leading space).
* qrels, layout detected per file from its first data line: TREC ``qid iter pid rel`` (spaces or tabs, as in
  ``qrels.dev.small.tsv`` and NIST's ``2019qrels-pass.txt``) or 3-column ``qid<TAB>pid<TAB>rel`` (BEIR's
  ``qrels/*.tsv``); a file mixing both is an error.
* candidates: ``qid<TAB>pid`` (the store's form), ``qid<TAB>pid<TAB>rank`` (MS MARCO ``run.*.tsv``),
  ``qid<TAB>pid<TAB>query<TAB>passage`` (``top1000.*.tsv``; file order kept) or 6-column TREC runs
  ``qid Q0 pid rank score tag`` (ranked by score descending, ties by docid descending, as trec_eval orders them).

Every reader takes ``on_error`` and a :class:`~irprune.data.types.SkipReport`; a bad line is a
:class:`~irprune.errors.DataFormatError` naming the file, line, problem and fix, or is skipped and counted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Container, Literal

from ..errors import DataFormatError
from .text import OnError, Problems, read_lines
from .types import Candidates, Corpus, Qrels, Queries, SkipReport

QrelsLayout = Literal["auto", "trec", "tsv3"]


def read_id_text(path: str | Path, what: str, *, on_error: OnError = "raise", report: SkipReport | None = None,
                 allow_empty_text: bool = False) -> dict[str, str]:
    """Read ``id<TAB>text`` lines into an ordered dict (duplicate ids, empty ids and wrong columns are bad)."""
    probs = Problems(on_error, report)
    out: dict[str, str] = {}
    first: dict[str, int] = {}
    fmt_fix = f"each line of {what} must be `id<TAB>text` with no other tab"
    for n, line in read_lines(path, what):
        if not line.strip():
            probs.bad("blank line", "blank line", path=path, line=n, fix="remove blank lines")
            continue
        cols = line.split("\t")
        if len(cols) != 2:
            probs.bad("wrong column count", f"{len(cols)} tab-separated columns, expected 2", path=path, line=n,
                      fix=fmt_fix)
            continue
        key, text = cols[0].strip(), cols[1].strip()
        if not key:
            probs.bad("empty id", "the id column is empty", path=path, line=n, fix=fmt_fix)
            continue
        if not text and not allow_empty_text:
            probs.bad("empty text", f"id {key!r} has an empty text", path=path, line=n,
                      fix="give every query a text or remove the line")
            continue
        if key in out:
            probs.bad("duplicate id", f"id {key!r} already appeared on line {first[key]}", path=path, line=n,
                      fix="ids must be unique; remove or renumber the duplicate")
            continue
        out[key] = text
        first[key] = n
    return out


def read_collection(path: str | Path, *, on_error: OnError = "raise", report: SkipReport | None = None) -> Corpus:
    """MS MARCO ``collection.tsv`` (``pid<TAB>text``) -> ``{pid: text}`` in file order."""
    return read_id_text(path, "an MS MARCO collection (pid<TAB>text per line)", on_error=on_error, report=report,
                        allow_empty_text=True)


def read_queries(path: str | Path, *, on_error: OnError = "raise", report: SkipReport | None = None) -> Queries:
    """MS MARCO ``queries.*.tsv`` (``qid<TAB>text``) -> ``{qid: text}`` in file order."""
    return read_id_text(path, "a queries file (qid<TAB>text per line)", on_error=on_error, report=report)



def add_judgement(out: dict[str, dict[str, int]], first: dict[tuple[str, str], int], probs: Problems, path: str | Path,
                  n: int, qid: str, did: str, rel_s: str, *, relevance: Callable[[int], int] | None,
                  queries: Container[str] | None, docs: Container[str] | None,
                  rel_fix: str = "relevance labels must be integers (e.g. 0-3)") -> None:
    """Check one qrels line's judgement (integer label, known code/query/document, not a duplicate) and add it to
    ``out``; a bad one goes to ``probs`` (raised or counted) with the file, the line and the fix."""
    try:
        rel = int(rel_s)
    except ValueError:
        probs.bad("non-integer relevance", f"relevance {rel_s!r} is not an integer", path=path, line=n, fix=rel_fix)
        return
    if relevance is not None:
        try:
            rel = relevance(rel)
        except ValueError as e:
            probs.bad("unknown relevance code", str(e), path=path, line=n, fix="use the documented codes")
            return
    if queries is not None and qid not in queries:
        probs.bad("qrels names an unknown query", f"query {qid!r} is not in the queries file", path=path,
                  line=n, fix="use the queries file that belongs to these qrels")
        return
    if docs is not None and did not in docs:
        probs.bad("qrels names an unknown document", f"document {did!r} is not in the collection",
                  path=path, line=n, fix="use the collection these qrels were made for, or skip such lines")
        return
    if (qid, did) in first:
        probs.bad("duplicate judgement", f"({qid}, {did}) already judged on line {first[qid, did]}",
                  path=path, line=n, fix="keep one judgement per (query, document) pair")
        return
    first[qid, did] = n
    out.setdefault(qid, {})[did] = rel


def read_qrels(path: str | Path, *, layout: QrelsLayout = "auto", on_error: OnError = "raise",
               report: SkipReport | None = None, docs: Container[str] | None = None,
               queries: Container[str] | None = None, allow_header: bool = False,
               relevance: Callable[[int], int] | None = None) -> Qrels:
    """Read qrels into ``{qid: {docid: rel}}`` (qids in first-seen order).

    ``layout='auto'`` takes the layout of the first data line (4 fields: TREC ``qid iter docid rel``; 3 fields:
    ``qid docid rel``) and rejects a later line of the other layout.  ``docs``/``queries``, when given, make a
    judgement of an unknown document/query a bad line.  ``allow_header`` skips a first line
    ``query-id corpus-id score`` (BEIR).  ``relevance`` maps a raw code to a label (``ValueError`` = bad code).
    """
    probs = Problems(on_error, report)
    what = "qrels (`qid iter docid rel` or `qid<TAB>docid<TAB>rel` per line)"
    fixed = {"trec": 4, "tsv3": 3}.get(layout)
    if layout not in ("auto", "trec", "tsv3"):
        raise ValueError(f"layout must be auto, trec or tsv3, got {layout!r}")
    detected: int | None = None
    detected_at = 0
    out: Qrels = {}
    first: dict[tuple[str, str], int] = {}
    for n, line in read_lines(path, what):
        cols = line.split()
        if not cols:
            probs.bad("blank line", "blank line", path=path, line=n, fix="remove blank lines")
            continue
        if n == 1 and allow_header and [c.lower() for c in cols] == ["query-id", "corpus-id", "score"]:
            continue
        if len(cols) not in (3, 4) or (fixed is not None and len(cols) != fixed):
            want = {4: "4 (qid iter docid rel)", 3: "3 (qid docid rel)"}.get(fixed or 0, "4 or 3")
            accepted = {4: "TREC qrels `qid 0 docid rel`", 3: "`qid<TAB>docid<TAB>rel`"}.get(
                fixed or 0, "TREC qrels `qid 0 docid rel` or `qid<TAB>docid<TAB>rel`")
            probs.bad("wrong column count", f"{len(cols)} columns, expected {want}", path=path, line=n,
                      fix=f"this reader accepts {accepted}")
            continue
        if detected is None:
            detected, detected_at = len(cols), n
        elif len(cols) != detected:
            raise DataFormatError(
                f"mixed qrels layouts: {len(cols)} columns here but {detected} columns on line {detected_at}",
                path=path, line=n, fix="write one layout per file (all `qid 0 docid rel` or all 3-column)")
        qid, did, rel_s = (cols[0], cols[2], cols[3]) if len(cols) == 4 else (cols[0], cols[1], cols[2])
        add_judgement(out, first, probs, path, n, qid, did, rel_s, relevance=relevance, queries=queries, docs=docs)
    if not out and on_error == "raise":
        raise DataFormatError("no judgements in file", path=path, fix="check that this is a qrels file")
    return out


def read_candidates(path: str | Path, *, on_error: OnError = "raise", report: SkipReport | None = None,
                    docs: Container[str] | None = None, queries: Container[str] | None = None) -> Candidates:
    """A first-stage ranking (``top1000``, MS MARCO run, TREC run or the store's ``qid<TAB>pid``) -> ranked pids.

    The format is taken from the first line: 6 whitespace fields = TREC run; otherwise 2, 3 or 4 tab fields.
    """
    probs = Problems(on_error, report)
    what = "candidates (`qid<TAB>pid`, `qid<TAB>pid<TAB>rank`, top1000 or a 6-column TREC run)"
    kind = ""
    kind_line = 0
    ranked: dict[str, list[tuple[str, float, int]]] = {}
    seen: dict[tuple[str, str], int] = {}
    for n, line in read_lines(path, what):
        if not line.strip():
            probs.bad("blank line", "blank line", path=path, line=n, fix="remove blank lines")
            continue
        ws = line.split()
        tabs = line.split("\t")
        this = "run" if len(ws) == 6 and len(tabs) in (1, 6) else {2: "pairs", 3: "msrun", 4: "top1000"}.get(
            len(tabs), "")
        if not this:
            probs.bad("wrong column count", f"{len(tabs)} tab / {len(ws)} whitespace columns", path=path, line=n,
                      fix="use qid<TAB>pid, qid<TAB>pid<TAB>rank, top1000 (4 columns) or `qid Q0 pid rank score tag`")
            continue
        if not kind:
            kind, kind_line = this, n
        elif this != kind:
            raise DataFormatError(f"mixed candidate layouts: {this} here but {kind} on line {kind_line}",
                                  path=path, line=n, fix="write one layout per file")
        cols = ws if kind == "run" else [c.strip() for c in tabs]
        qid, pid = (cols[0], cols[2]) if kind == "run" else (cols[0], cols[1])
        score, rank = 0.0, n
        try:
            if kind == "run":
                rank, score = int(cols[3]), float(cols[4])
            elif kind == "msrun":
                rank = int(cols[2])
        except ValueError:
            probs.bad("non-numeric rank or score", f"rank/score in {line!r} is not a number", path=path, line=n,
                      fix="rank must be an integer and score a number")
            continue
        if not qid or not pid:
            probs.bad("empty id", "empty query or document id", path=path, line=n, fix="fill in both ids")
            continue
        if queries is not None and qid not in queries:
            probs.bad("candidate names an unknown query", f"query {qid!r} is not in the queries file", path=path,
                      line=n, fix="use the queries file that belongs to this run")
            continue
        if docs is not None and pid not in docs:
            probs.bad("candidate names an unknown document", f"document {pid!r} is not in the collection",
                      path=path, line=n, fix="use the collection this run was made on")
            continue
        if (qid, pid) in seen:
            probs.bad("duplicate candidate", f"({qid}, {pid}) already listed on line {seen[qid, pid]}", path=path,
                      line=n, fix="list each document once per query")
            continue
        seen[qid, pid] = n
        ranked.setdefault(qid, []).append((pid, score, rank))
    out: Candidates = {}
    for qid, items in ranked.items():
        if kind == "run":       # trec_eval order: score descending, ties broken by docno descending
            items = sorted(items, key=lambda x: (x[1], x[0]), reverse=True)
        elif kind == "msrun":
            items = sorted(items, key=lambda x: x[2])
        out[qid] = [pid for pid, _, _ in items]
    return out


__all__ = ["read_id_text", "read_collection", "read_queries", "read_qrels", "read_candidates", "add_judgement",
           "QrelsLayout"]
