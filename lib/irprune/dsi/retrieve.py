"""Retrieval with a DSI model: constrained beam search over the id trie (``generate`` with
``prefix_allowed_tokens_fn``), each returned id scored by its sequence log-probability, as a :data:`Run`.

Beam search keeps ``beam_size`` hypotheses and returns them all, so the ranked list has ``beam_size`` documents
(Tay et al. 2022 rank by beam search the same way).  ``length_penalty = 0`` makes a hypothesis' score its summed
token log-probabilities under the unconstrained softmax (the constraint masks tokens after the log-softmax).
Also :func:`hits_at_k` = success@k ("Hits@k" of the DSI paper): 1 if a relevant document is in the top k.
"""

from __future__ import annotations

import math
from typing import Mapping

import torch

from ..errors import ConfigError
from ..runs import Run, qid_key, sort_ranking
from .model import DSIModel


def check_beam(model: DSIModel, beam_size: int) -> None:
    n = len(model.docids)
    if beam_size > n:
        raise ConfigError(f"params.yaml: dsi.retrieve.beam_size = {beam_size} exceeds the id space ({n} documents "
                          f"with {model.docids.scheme!r} ids); fix: set beam_size <= {n}")


@torch.no_grad()
def retrieve(model: DSIModel, queries: Mapping[str, str], beam_size: int, *, batch_size: int = 16,
             max_query_tokens: int = 16, device: str | torch.device = "cpu") -> Run:
    """Top-``beam_size`` documents per query, scored by sequence log-probability (higher = better)."""
    check_beam(model, beam_size)
    net = model.net.to(device).eval()
    fn = model.trie.prefix_allowed_tokens_fn(start_len=1, fallback=model.pad_id)
    qids = sorted(queries, key=qid_key)
    run: Run = {}
    for start in range(0, len(qids), batch_size):
        chunk = qids[start: start + batch_size]
        ids, mask = model.encode([queries[q] for q in chunk], max_query_tokens)
        out = net.generate(input_ids=ids.to(device), attention_mask=mask.to(device), num_beams=beam_size,
                           num_return_sequences=beam_size, prefix_allowed_tokens_fn=fn, length_penalty=0.0,
                           early_stopping=True, do_sample=False, max_new_tokens=model.docids.max_len + 1,
                           min_new_tokens=0, output_scores=True, return_dict_in_generate=True,
                           decoder_start_token_id=model.start_id, pad_token_id=model.pad_id,
                           eos_token_id=model.eos_id)
        seqs = out.sequences.view(len(chunk), beam_size, -1).tolist()
        scores = out.sequences_scores.view(len(chunk), beam_size).tolist()
        for qi, q in enumerate(chunk):
            ranking: dict[str, float] = {}
            for seq, score in zip(seqs[qi], scores[qi]):
                doc = model.decode(seq[1:])
                if doc is not None and math.isfinite(score) and doc not in ranking:
                    ranking[doc] = float(score)
            run[q] = dict(sort_ranking(ranking))
    return run


@torch.no_grad()
def score_ids(model: DSIModel, query: str, docids: list[str], max_query_tokens: int = 16) -> dict[str, float]:
    """Exact sequence log-probability of each document's id for ``query`` (teacher forcing); the independent
    check of beam search (equal scores when the beam covers the whole id space)."""
    net = model.net.eval()
    ids, mask = model.encode([query], max_query_tokens)
    out: dict[str, float] = {}
    for d in docids:
        tgt = torch.tensor([model.target(d)])
        logits = net(input_ids=ids, attention_mask=mask, labels=tgt).logits
        logp = torch.log_softmax(logits.float(), -1)[0].gather(1, tgt[0, :, None]).sum()
        out[d] = float(logp)
    return out


def hits_at_k(qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Mapping[str, float]], k: int,
              relevance_level: int = 1) -> tuple[float, dict[str, float]]:
    """Success@k (DSI's Hits@k) with the query set and relevance rule of :mod:`irprune.evaluation`: every judged
    query counts, 1.0 if a document labelled ``>= relevance_level`` is in the top ``k`` of the ranking rule."""
    per: dict[str, float] = {}
    for q in sorted((q for q in qrels if qrels[q]), key=qid_key):
        rel = {d for d, lab in qrels[q].items() if lab >= relevance_level}
        top = [d for d, _ in sort_ranking(run.get(q, {}))[:k]]
        per[q] = 1.0 if rel.intersection(top) else 0.0
    if not per:
        raise ValueError("hits_at_k: the qrels hold no judged query")
    return sum(per.values()) / len(per), per


__all__ = ["retrieve", "score_ids", "hits_at_k", "check_beam"]
