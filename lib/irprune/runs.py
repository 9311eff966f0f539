"""TREC run files and the one deterministic ranking rule.

A run maps ``qid -> docid -> score`` (:data:`Run`).  Its on-disk form is the 6-column TREC format read by
``trec_eval`` (TREC "Run format", https://trec.nist.gov/data/qa/2007_qadata/qa07.guidelines.html#runformat)::

    qid Q0 docid rank score tag

**Ranking rule** (everywhere in this project): documents are ranked by score, descending; equal scores are
broken by doc id, ascending (plain string order).  Queries are written in natural order: all-digit ids by
their integer value, then the other ids in string order.

**Metric rule**: metrics are computed on trec_eval's order (score descending, equal scores by doc id
*descending*: ``trec_eval``'s ``form_res_rels.c`` sorts on score then ``strcmp`` of the docno, both descending), so
a metric equals trec_eval's (and Anserini's) on the written run file.  Other evaluators have their own tie rules
(ranx: its sort algorithm), so :func:`rank_scores` replaces scores by strictly decreasing values that encode
the chosen order, and :func:`to_ranx` feeds ranx only such scores.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Dict, Iterable, Mapping

from .errors import DataFormatError
from .io import atomic_open

if TYPE_CHECKING:  # ranx imports numba; keep ``import irprune.runs`` light
    import ranx

Run = Dict[str, Dict[str, float]]  # qid -> docid -> score


def qid_key(qid: str) -> tuple[int, int, str]:
    """Natural sort key for query ids: all-digit ids numerically first, then the rest as strings."""
    return (0, int(qid), qid) if qid.isdigit() else (1, 0, qid)


def sort_ranking(ranking: Mapping[str, float]) -> list[tuple[str, float]]:
    """``(docid, score)`` pairs in rank order: score descending, ties by doc id ascending."""
    return sorted(ranking.items(), key=lambda item: (-item[1], item[0]))


def trec_eval_order(ranking: Mapping[str, float]) -> list[tuple[str, float]]:
    """``(docid, score)`` pairs in trec_eval's order: score descending, ties by doc id descending."""
    return sorted(ranking.items(), key=lambda item: (item[1], item[0]), reverse=True)


def sort_run(run: Mapping[str, Mapping[str, float]]) -> Run:
    """A copy of ``run`` whose queries (natural order) and documents (rank order) iterate deterministically."""
    return {qid: dict(sort_ranking(run[qid])) for qid in sorted(run, key=qid_key)}


def truncate(run: Mapping[str, Mapping[str, float]], k: int) -> Run:
    """The top ``k`` documents of every query under the ranking rule (queries with fewer keep all)."""
    if k < 1:
        raise ValueError(f"truncate: k must be >= 1, got {k}")
    return {qid: dict(sort_ranking(run[qid])[:k]) for qid in sorted(run, key=qid_key)}


def rank_scores(run: Mapping[str, Mapping[str, float]], ties: str = "project") -> Run:
    """Replace scores by ``n - rank + 1`` (strictly decreasing, rank 1 = ``n``) after ordering each ranking by the
    ranking rule (``ties="project"``, :func:`sort_ranking`) or trec_eval's (``ties="trec_eval"``,
    :func:`trec_eval_order`).

    Any evaluator then sees a tie-free ranking in that order, whatever its own tie rule.
    """
    order = {"project": sort_ranking, "trec_eval": trec_eval_order}[ties]
    out: Run = {}
    for qid in sorted(run, key=qid_key):
        ranked = order(run[qid])
        n = len(ranked)
        out[qid] = {docid: float(n - i) for i, (docid, _) in enumerate(ranked)}
    return out


def to_ranx(run: Mapping[str, Mapping[str, float]], name: str = "run") -> "ranx.Run":
    """A :class:`ranx.Run` with rank-consistent scores (see :func:`rank_scores`); empty rankings are kept."""
    import ranx

    r = ranx.Run.from_dict(rank_scores(run))
    r.name = name
    return r


def _check_token(value: str, what: str, qid: str) -> None:
    if not value or any(c.isspace() for c in value):
        raise ValueError(f"{what} {value!r} (query {qid!r}) is empty or contains whitespace; a TREC run "
                         "file is whitespace-separated, so ids must be non-empty single tokens")


def write_trec_run(run: Mapping[str, Mapping[str, float]], path: str | os.PathLike, tag: str,
                   depth: int | None = None) -> int:
    """Write ``run`` atomically in TREC format, ranked by the ranking rule; returns the number of lines.

    ``depth`` keeps the top ``depth`` documents per query.  Scores are written with ``repr`` (shortest exact
    round-trip), so :func:`read_trec_run` gives back the same floats.  Queries with no documents write no line.
    """
    _check_token(tag, "run tag", "-")
    if depth is not None and depth < 1:
        raise ValueError(f"write_trec_run: depth must be >= 1 or None, got {depth}")
    n = 0
    with atomic_open(path, "w") as fh:
        for qid in sorted(run, key=qid_key):
            _check_token(qid, "query id", qid)
            ranked = sort_ranking(run[qid])
            if depth is not None:
                ranked = ranked[:depth]
            for rank, (docid, score) in enumerate(ranked, start=1):
                _check_token(docid, "doc id", qid)
                score = float(score)
                if not math.isfinite(score):
                    raise ValueError(f"query {qid!r} doc {docid!r} has a non-finite score {score!r}; "
                                     "scores must be finite numbers")
                fh.write(f"{qid} Q0 {docid} {rank} {score!r} {tag}\n")
                n += 1
    return n


def _parse_lines(lines: Iterable[str], path: str | os.PathLike) -> Run:
    run: Run = {}
    fmt = "6 whitespace-separated columns 'qid Q0 docid rank score tag'"
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        cols = line.split()
        if len(cols) != 6:
            raise DataFormatError(f"expected {fmt}, found {len(cols)} column(s): {line.rstrip()[:120]!r}",
                                  path=path, line=lineno,
                                  fix="write one (qid, docid) per line in TREC run format")
        qid, _, docid, rank, score_s, _ = cols
        try:
            int(rank)
        except ValueError:
            raise DataFormatError(f"rank {rank!r} (column 4) is not an integer", path=path, line=lineno,
                                  fix=f"use {fmt}") from None
        try:
            score = float(score_s)
        except ValueError:
            raise DataFormatError(f"score {score_s!r} (column 5) is not a number", path=path, line=lineno,
                                  fix=f"use {fmt}; the score is column 5") from None
        if not math.isfinite(score):
            raise DataFormatError(f"score {score_s!r} (column 5) is not finite", path=path, line=lineno,
                                  fix="write finite scores")
        ranking = run.setdefault(qid, {})
        if docid in ranking:
            raise DataFormatError(f"duplicate (qid, docid) = ({qid}, {docid})", path=path, line=lineno,
                                  fix="keep one line per document and query (trec_eval would count it twice)")
        ranking[docid] = score
    return run


def read_trec_run(path: str | os.PathLike) -> Run:
    """Read a TREC run file, validating every line (column count, integer rank, finite numeric score, unique
    (qid, docid)); any problem is a :class:`DataFormatError` naming ``file:line`` and the fix.

    Blank lines are skipped; the ``Q0`` column and the tag are not checked.  The result is in ranking-rule order.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            run = _parse_lines(fh, path)
    except UnicodeDecodeError as e:
        raise DataFormatError(f"not valid UTF-8 ({e.reason} at byte {e.start})", path=path,
                              fix="write run files as UTF-8") from None
    return sort_run(run)


__all__ = ["Run", "qid_key", "sort_ranking", "sort_run", "truncate", "rank_scores", "to_ranx",
           "write_trec_run", "read_trec_run"]
