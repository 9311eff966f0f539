"""Re-ranking inference: score first-stage candidates with a :class:`~irprune.models.Ranker`.

One function, :func:`rerank`, used by training (dev evaluation), the train stage and every later stage.  Pairs
are scored in batches sorted by length (whitespace tokens of query + document), so a batch pads to similar
lengths (the "bucketing" of Hofstätter et al.'s matchmaker; Sutskever et al. 2014 sort by length for the same
reason); the model runs under ``torch.inference_mode``, inside its ``inference_cache`` scope (work that depends on
one text alone, such as monoBERT's bi-encoder prior, is done once per call) and, on CUDA, bf16 autocast.  Scores
are put back per query, and the result is a :data:`~irprune.runs.Run` in this project's ranking rule (score
descending, doc id ascending on ties): :func:`irprune.runs.to_ranx` turns it into a ``ranx.Run``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import torch

from .errors import DataFormatError
from .runs import Run, qid_key, sort_ranking, sort_run

if TYPE_CHECKING:
    import ranx

    from .models.base import Ranker

Candidates = Mapping[str, "Sequence[str] | Mapping[str, float]"]  # qid -> doc ids (ranked) or a scored ranking


def candidate_lists(candidates: Candidates, depth: int | None = None) -> dict[str, list[str]]:
    """``qid -> doc ids`` in first-stage rank order (a scored ranking is ordered by the ranking rule), cut to the
    top ``depth``."""
    out: dict[str, list[str]] = {}
    for qid in sorted(candidates, key=qid_key):
        c = candidates[qid]
        docs = [d for d, _ in sort_ranking(c)] if isinstance(c, Mapping) else list(c)
        out[qid] = docs if depth is None else docs[:depth]
    return out


def length_order(pairs: Sequence[tuple[str, str]]) -> list[int]:
    """Indices of ``pairs`` by (query + document) whitespace-token length, longest first; ties keep input order."""
    lengths = [len(q.split()) + len(d.split()) for q, d in pairs]
    return sorted(range(len(pairs)), key=lambda i: (-lengths[i], i))


def score_pairs(model: "Ranker", pairs: Sequence[tuple[str, str]], *, batch_size: int = 256,
                max_query_len: int | None = None, max_doc_len: int | None = None,
                device: torch.device | str | None = None, sort_by_length: bool = True,
                progress: bool | str = False) -> list[float]:
    """Scores of ``(query, document)`` pairs, in input order (fp32 floats).

    ``device`` defaults to the model's; the model is put in eval mode and its previous mode restored.
    """
    from .models.device import autocast, move_batch

    if batch_size < 1:
        raise ValueError(f"score_pairs: batch_size must be >= 1, got {batch_size}")
    if not pairs:
        return []
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    q = model.cfg.max_query_len if max_query_len is None else max_query_len
    d = model.cfg.max_doc_len if max_doc_len is None else max_doc_len
    model.check_lengths(q, d)
    order = length_order(pairs) if sort_by_length else list(range(len(pairs)))
    scores = [0.0] * len(pairs)
    chunks = [order[i: i + batch_size] for i in range(0, len(order), batch_size)]
    if progress:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc=progress if isinstance(progress, str) else "rerank", unit="batch",
                      leave=False, mininterval=2.0)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), autocast(dev), model.inference_cache():
            for idx in chunks:
                batch = move_batch(model.collate([pairs[i] for i in idx], q, d), dev)
                out = model.score(batch).cpu().tolist()
                for i, s in zip(idx, out):
                    scores[i] = s
    finally:
        model.train(was_training)
    bad = [i for i, s in enumerate(scores) if not math.isfinite(s)]
    if bad:
        qt, dt = pairs[bad[0]]
        raise FloatingPointError(f"{model.name} gave {len(bad)} non-finite score(s), e.g. for query {qt[:60]!r} "
                                 f"and document {dt[:60]!r}; the model weights have diverged (lower the "
                                 "learning rate or check the checkpoint)")
    return scores


def rerank(model: "Ranker", queries: Mapping[str, str], corpus: Mapping[str, str], candidates: Candidates, *,
           depth: int | None = None, batch_size: int = 256, max_query_len: int | None = None,
           max_doc_len: int | None = None, device: torch.device | str | None = None,
           sort_by_length: bool = True, progress: bool | str = False, keep_rest: bool = False) -> Run:
    """Re-rank the top ``depth`` candidates of every query in ``candidates`` with ``model``.

    With ``keep_rest`` the candidates below ``depth`` follow the re-ranked ones in their first-stage order (the
    usual re-rank-top-k protocol: recall at the first stage's depth is kept; metrics at cut-offs <= ``depth``
    are those of the re-ranked list).

    ``candidates`` maps a query id to its first-stage doc ids (a list in rank order, or a scored ranking such as
    a BM25 :data:`Run`).  Queries without candidates get an empty ranking; a query id missing from ``queries`` or
    a doc id missing from ``corpus`` is a :class:`DataFormatError` naming it.  Returns ``qid -> docid -> score``
    in ranking-rule order (ties by doc id ascending); pass it to :func:`irprune.runs.to_ranx` for ranx.
    """
    lists = candidate_lists(candidates, depth)
    missing_q = [q for q in lists if lists[q] and q not in queries]
    if missing_q:
        raise DataFormatError(f"rerank: {len(missing_q)} candidate query id(s) have no query text, e.g. "
                              f"{missing_q[:3]}", fix="pass the queries of the same split as the candidates")
    keys: list[tuple[str, str]] = []
    for qid, docs in lists.items():
        for docid in docs:
            if docid not in corpus:
                raise DataFormatError(f"rerank: candidate doc id {docid!r} (query {qid!r}) is not in the corpus",
                                      fix="use candidates retrieved from this dataset's collection")
            keys.append((qid, docid))
    pairs = [(queries[qid], corpus[docid]) for qid, docid in keys]
    scores = score_pairs(model, pairs, batch_size=batch_size, max_query_len=max_query_len,
                         max_doc_len=max_doc_len, device=device, sort_by_length=sort_by_length, progress=progress)
    run: Run = {qid: {} for qid in lists}
    for (qid, docid), s in zip(keys, scores):
        if docid in run[qid]:
            raise DataFormatError(f"rerank: doc id {docid!r} is listed twice for query {qid!r}",
                                  fix="deduplicate the candidate list")
        run[qid][docid] = float(s)
    if keep_rest and depth is not None:
        for qid, docs in candidate_lists(candidates, None).items():
            tail = [d for d in docs[depth:] if d not in run[qid]]
            if tail:
                floor = min(run[qid].values(), default=0.0) - 1.0
                for i, docid in enumerate(tail):
                    run[qid][docid] = floor - i
    return sort_run(run)


def rerank_ranx(model: "Ranker", queries: Mapping[str, str], corpus: Mapping[str, str], candidates: Candidates,
                name: str | None = None, **kwargs: Any) -> "ranx.Run":
    """:func:`rerank` as a ``ranx.Run`` (rank-consistent scores, see :func:`irprune.runs.to_ranx`)."""
    from .runs import to_ranx

    return to_ranx(rerank(model, queries, corpus, candidates, **kwargs), name=name or model.name)


__all__ = ["Candidates", "candidate_lists", "length_order", "score_pairs", "rerank", "rerank_ranx"]
