"""Which documents DSI indexes, and the training examples of its two tasks.

**Subset** (``dsi.n_docs``; 0 = the whole corpus).  DSI memorises its corpus, so CPU budgets call for fewer
documents.  Documents are taken by tiers until ``n_docs`` is reached, each tier in corpus order: documents
whose best dev/test label is 3, then 2, then 1 (answers first, then the hard, topical distractors of the
evaluated queries), then positives of training queries, then a seeded uniform sample of the rest; the last tier
that fits only partly is cut in corpus order (the random tier: sampled).  Evaluation uses the qrels restricted to the subset
(:func:`restrict_qrels`): a relevant document outside the subset cannot be retrieved and is not counted.
Compare with BM25 over the same subset, which the DSI stage reports beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..data.types import Qrels, RetrievalDataset


def select_documents(ds: RetrievalDataset, n_docs: int, seed: int = 0, eval_splits: Sequence[str] = ("dev", "test"),
                     train_split: str = "train") -> list[str]:
    """Document ids to index (corpus order within each priority group); see the module docstring."""
    order = list(ds.corpus)
    if n_docs <= 0 or n_docs >= len(order):
        return order
    best: dict[str, int] = {}
    for s in eval_splits:
        if s in ds.splits:
            for docs in ds.splits[s].qrels.values():
                for d, lab in docs.items():
                    if lab >= 1 and d in ds.corpus:
                        best[d] = max(best.get(d, 0), int(lab))
    positives: set[str] = set()
    if train_split in ds.splits:
        positives = {d for docs in ds.splits[train_split].qrels.values() for d, lab in docs.items() if lab >= 1}
    tiers = [[d for d in order if best.get(d) == lab] for lab in sorted(set(best.values()), reverse=True)]
    tiers.append([d for d in order if d in positives and d not in best])
    taken: set[str] = set()
    for tier in tiers:
        room = n_docs - len(taken)
        if room <= 0:
            break
        taken.update(tier[:room])
    rest = [d for d in order if d not in taken]
    need = n_docs - len(taken)
    if need > 0:
        pick = np.random.default_rng(seed).choice(len(rest), size=need, replace=False)
        taken.update(rest[i] for i in pick)
    return [d for d in order if d in taken]


def restrict_qrels(qrels: Qrels, docs: set[str] | Mapping[str, object]) -> Qrels:
    """Judgements of documents in ``docs`` only (queries left without any keep an empty dict: they are dropped
    from evaluation, as :func:`irprune.evaluation.evaluate` skips unjudged queries)."""
    return {q: {d: lab for d, lab in j.items() if d in docs} for q, j in qrels.items()}


@dataclass
class TrainExamples:
    """Token ids (no EOS) of each indexed document and the (query tokens, docid) retrieval pairs."""

    doc_tokens: dict[str, list[int]]
    pairs: list[tuple[list[int], str]]


def build_examples(encode, corpus: Mapping[str, str], docids: Sequence[str], queries: Mapping[str, str],
                   qrels: Qrels, doc_max_tokens: int, query_max_tokens: int) -> TrainExamples:
    """Documents truncated to ``doc_max_tokens`` tokens; one retrieval pair per (train query, positive) with the
    positive among ``docids``."""
    keep = set(docids)
    doc_tokens = {d: encode(corpus[d])[:doc_max_tokens] for d in docids}
    pairs = []
    for q in queries:
        for d, lab in sorted(qrels.get(q, {}).items()):
            if lab >= 1 and d in keep:
                pairs.append((encode(queries[q])[:query_max_tokens], d))
    return TrainExamples(doc_tokens, pairs)


__all__ = ["select_documents", "restrict_qrels", "TrainExamples", "build_examples"]
