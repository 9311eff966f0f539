"""Training groups from BM25 hard negatives: one positive and ``n`` negatives per query.

Positives are the judged documents with label ``>= min_label`` (train qrels); negatives are the BM25 top-k
candidates that are not judged positive (the hard-negative recipe of Nogueira & Cho 2019 and Gao et al. 2021).
Sampling is a pure function of ``(seed, epoch, position)``: the group at a given step is the same in every run,
so a resumed run sees exactly the groups an uninterrupted one would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from ..data.types import Qrels, SkipReport
from ..errors import DataFormatError
from ..runs import qid_key, sort_ranking

Group = tuple[str, list[str]]   # (query text, [positive doc text, negative doc texts...])


@dataclass
class TrainingPool:
    """Per training query: its text, positive doc ids and BM25 negative doc ids (in BM25 rank order)."""

    queries: dict[str, str]
    positives: dict[str, list[str]]
    negatives: dict[str, list[str]]
    corpus: Mapping[str, str]
    skipped: SkipReport = field(default_factory=SkipReport)
    doc_ids: list[str] = field(default_factory=list)     # the corpus ids in order (random negatives)

    def __post_init__(self) -> None:
        if not self.doc_ids:
            self.doc_ids = sorted(self.corpus)

    @property
    def qids(self) -> list[str]:
        return sorted(self.positives, key=qid_key)

    def __len__(self) -> int:
        return len(self.positives)


def build_pool(queries: Mapping[str, str], qrels: Qrels, candidates: Mapping[str, Mapping[str, float]],
               corpus: Mapping[str, str], *, depth: int = 100, min_label: int = 1) -> TrainingPool:
    """Pair every judged training query with its positives and its BM25 negatives (top ``depth``).

    Queries with no positive in the corpus, or no negative among their candidates, are skipped and counted in
    ``pool.skipped`` (never silently).  No usable query at all is a :class:`DataFormatError`.
    """
    skipped = SkipReport()
    positives: dict[str, list[str]] = {}
    negatives: dict[str, list[str]] = {}
    for qid in sorted(qrels, key=qid_key):
        if qid not in queries:
            skipped.add("qrels query without text", qid)
            continue
        pos = sorted(d for d, rel in qrels[qid].items() if rel >= min_label and d in corpus)
        if not pos:
            skipped.add("no positive document", qid)
            continue
        judged = set(pos)
        neg = [d for d, _ in sort_ranking(candidates.get(qid, {}))[:depth] if d not in judged and d in corpus]
        if not neg:
            skipped.add("no BM25 negative", qid)
            continue
        positives[qid], negatives[qid] = pos, neg
    if not positives:
        raise DataFormatError(
            f"no training query has both a positive (label >= {min_label}) and a BM25 negative "
            f"(skipped: {dict(skipped.counts)})",
            fix="check that the train split has qrels (or enable data.pseudo_queries) and that the BM25 stage ran")
    return TrainingPool(queries=dict(queries), positives=positives, negatives=negatives, corpus=corpus,
                        skipped=skipped)


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The permutation of ``n`` training queries used in ``epoch``."""
    return np.random.default_rng([seed, epoch, 0x5EED]).permutation(n)


def sample_group(pool: TrainingPool, qid: str, n_negatives: int, seed: int, epoch: int, position: int,
                 n_random: int = 0) -> tuple[str, list[str]]:
    """``(qid, [positive, negative_1..negative_n, random_1..random_r])`` doc ids: one positive, ``n`` distinct
    BM25 negatives drawn uniformly (with replacement only when the query has fewer than ``n``) and ``r`` random
    corpus documents that are not judged positive (easy negatives)."""
    rng = np.random.default_rng([seed, epoch, position, 0xD0C])
    pos = pool.positives[qid]
    neg = pool.negatives[qid]
    p = pos[int(rng.integers(len(pos)))]
    idx = rng.choice(len(neg), size=n_negatives, replace=len(neg) < n_negatives)
    docs = [p, *(neg[int(i)] for i in idx)]
    while len(docs) < 1 + n_negatives + n_random:
        d = pool.doc_ids[int(rng.integers(len(pool.doc_ids)))]
        if d not in pos:
            docs.append(d)
    return qid, docs


def batch_groups(pool: TrainingPool, n_negatives: int, batch_queries: int, seed: int, epoch: int, batch: int,
                 n_random: int = 0) -> list[tuple[str, list[str]]]:
    """The ``batch``-th batch of groups of ``epoch`` (the last batch of an epoch may be smaller)."""
    qids = pool.qids
    order = epoch_order(len(qids), seed, epoch)
    start = batch * batch_queries
    return [sample_group(pool, qids[int(order[i])], n_negatives, seed, epoch, i, n_random)
            for i in range(start, min(start + batch_queries, len(qids)))]


def group_pairs(pool: TrainingPool, groups: Sequence[tuple[str, list[str]]]) -> list[tuple[str, str]]:
    """The ``(query text, doc text)`` pairs of ``groups``, group after group (positive first in each)."""
    return [(pool.queries[qid], pool.corpus[d]) for qid, docs in groups for d in docs]


def batches_per_epoch(pool: TrainingPool, batch_queries: int) -> int:
    return -(-len(pool) // batch_queries)


__all__ = ["TrainingPool", "build_pool", "epoch_order", "sample_group", "batch_groups", "group_pairs",
           "batches_per_epoch"]
