"""Calibration of the synthetic collection: BM25 and oracle rankers, and the few metrics they need.

Used by ``tests/test_synthetic.py`` and ``benchmarks/bench_synthetic.py`` to show that the collection has the
intended difficulty: BM25 beats random, a *soft-matching* oracle (BM25 over concept ids, i.e. with synonyms
collapsed, from :class:`~irprune.data.synthetic.SyntheticTruth`) beats surface BM25, and an *order/proximity*
oracle beats the bag-of-words concept BM25.  BM25 is ``bm25s`` (Lù 2024), Lucene variant, k1 = 0.9, b = 0.4 (the
Anserini MS MARCO defaults).  The metrics here are deliberately small and self-contained (their definitions are
in the docstrings); the project's evaluation module is the reference for reported results, and the benchmark
cross-checks these against ``ranx``.
"""

from __future__ import annotations

import math
from typing import Hashable, Mapping, Sequence

import numpy as np

from .synthetic import NO_CONCEPT, SyntheticTruth
from .types import Qrels, RetrievalDataset

Run = dict[str, list[str]]  # query id -> ranked doc ids


def bm25_run(corpus: Mapping[str, str], queries: Mapping[str, str], k: int = 100,
             k1: float = 0.9, b: float = 0.4) -> Run:
    """Top-``k`` doc ids per query by BM25 over whitespace tokens (ties broken by corpus order)."""
    import bm25s

    doc_ids = list(corpus)
    model = bm25s.BM25(k1=k1, b=b, method="lucene", dtype="float64")
    model.index([corpus[d].split() for d in doc_ids], show_progress=False)
    vocab = model.vocab_dict
    qids = list(queries)
    # Drop out-of-vocabulary query tokens (they score 0); an all-OOV query gets an empty ranking.
    toks = [[t for t in queries[q].split() if t in vocab] for q in qids]
    run: Run = {q: [] for q in qids}
    kept = [i for i, t in enumerate(toks) if t]
    if not kept:
        return run
    kk = min(k, len(doc_ids))
    res, scores = model.retrieve([toks[i] for i in kept], k=kk, show_progress=False, n_threads=1)
    for row, i in enumerate(kept):
        pairs = [(-float(s), int(j)) for j, s in zip(res[row], scores[row]) if s > 0]
        run[qids[i]] = [doc_ids[j] for _, j in sorted(pairs)]
    return run


def concept_corpus(corpus: Mapping[str, str], truth: SyntheticTruth) -> dict[str, str]:
    """The corpus with synonyms collapsed to concept tokens ``c<id>`` (the soft-matching oracle's view)."""
    return {d: truth.concept_text(t) for d, t in corpus.items()}


def window_pairs(query: Sequence[Hashable], doc: Sequence[Hashable], window: int = 4, ordered: bool = True,
                 ignore: Hashable = NO_CONCEPT) -> int:
    """How many pairs ``(a, b)`` of distinct query items (``a`` before ``b`` in the query) co-occur in the document
    within ``window`` tokens, with ``a`` before ``b`` when ``ordered``, in either order otherwise: the ordered
    (#owN) and unordered (#uwN) window features of the sequential dependence model (Metzler & Croft 2005),
    taken over all query pairs.  Items equal to ``ignore`` are skipped."""
    q = [c for c in dict.fromkeys(query) if c != ignore]
    want = set(q)
    pos: dict[Hashable, list[int]] = {}
    for i, c in enumerate(doc):
        if c in want:
            pos.setdefault(c, []).append(i)
    n = 0
    for i, a in enumerate(q):
        for b in q[i + 1:]:
            pa, pb = pos.get(a), pos.get(b)
            if pa and pb and any(0 < j - k <= window or (not ordered and 0 < k - j <= window)
                                 for k in pa for j in pb):
                n += 1
    return n


def proximity_run(base: Run, query_seqs: Mapping[str, Sequence[Hashable]],
                  doc_seqs: Mapping[str, Sequence[Hashable]], window: int = 4, ordered: bool = True) -> Run:
    """Rerank ``base`` by :func:`window_pairs` (descending), keeping ``base`` order among ties (a stable sort)."""
    return {q: sorted(docs, key=lambda d: -window_pairs(query_seqs[q], doc_seqs[d], window, ordered))
            for q, docs in base.items()}


def order_oracle_run(base: Run, truth: SyntheticTruth, window: int = 4, ordered: bool = True) -> Run:
    """The order/proximity oracle: rerank ``base`` by window pairs over the latent concept ids."""
    return proximity_run(base, truth.query_concepts, truth.doc_concepts, window, ordered)


def surface_order_run(base: Run, corpus: Mapping[str, str], queries: Mapping[str, str], window: int = 4) -> Run:
    """Rerank ``base`` by ordered window pairs over the surface tokens (exact matches only, no oracle)."""
    return proximity_run(base, {q: t.split() for q, t in queries.items()},
                         {d: corpus[d].split() for ds in base.values() for d in ds}, window, True)


def mrr_at_k(run: Run, qrels: Qrels, k: int = 10, min_rel: int = 2) -> float:
    """Mean over judged queries of ``1/rank`` of the first doc with ``rel >= min_rel`` in the top ``k``, else 0
    (MS MARCO MRR@10; TREC DL counts ``rel >= 2`` as relevant)."""
    vals = []
    for q, labels in qrels.items():
        rr = 0.0
        for i, d in enumerate(run.get(q, [])[:k]):
            if labels.get(d, 0) >= min_rel:
                rr = 1.0 / (i + 1)
                break
        vals.append(rr)
    return float(np.mean(vals)) if vals else 0.0


def ndcg_at_k(run: Run, qrels: Qrels, k: int = 10) -> float:
    """nDCG@k with linear gain ``rel`` and ``1/log2(rank+1)`` discount (Järvelin & Kekäläinen 2002; trec_eval's
    ``ndcg_cut``), ideal ranking from all judged docs."""
    vals = []
    for q, labels in qrels.items():
        gains = [max(labels.get(d, 0), 0) for d in run.get(q, [])[:k]]
        dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
        ideal = sorted((max(v, 0) for v in labels.values()), reverse=True)[:k]
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
        vals.append(dcg / idcg if idcg > 0 else 0.0)
    return float(np.mean(vals)) if vals else 0.0


def recall_at_k(run: Run, qrels: Qrels, k: int = 100, min_rel: int = 2) -> float:
    """Mean fraction of a query's ``rel >= min_rel`` docs found in the top ``k`` (queries with none skipped)."""
    vals = []
    for q, labels in qrels.items():
        rel = {d for d, v in labels.items() if v >= min_rel}
        if rel:
            vals.append(len(rel.intersection(run.get(q, [])[:k])) / len(rel))
    return float(np.mean(vals)) if vals else 0.0


def success_at_k(run: Run, qrels: Qrels, k: int = 100, min_rel: int = 2) -> float:
    """Fraction of queries with at least one ``rel >= min_rel`` doc in the top ``k`` (what reranking can fix)."""
    vals = [any(labels.get(d, 0) >= min_rel for d in run.get(q, [])[:k]) for q, labels in qrels.items()
            if any(v >= min_rel for v in labels.values())]
    return float(np.mean(vals)) if vals else 0.0


def random_rr_at_k(n: int, n_rel: int, k: int = 10) -> float:
    """Expected reciprocal rank@k of a uniformly random permutation of ``n`` docs of which ``n_rel`` are
    relevant: ``Σ_{i<=k} (1/i) · P(first relevant at i)``, ``P = n_rel/(n-i+1) · Π_{j<i} (1 - n_rel/(n-j+1))``."""
    if n_rel <= 0 or n <= 0:
        return 0.0
    total, none_before = 0.0, 1.0
    for i in range(1, min(k, n) + 1):
        p_here = n_rel / (n - i + 1)
        total += none_before * min(p_here, 1.0) / i
        none_before *= max(1.0 - p_here, 0.0)
    return total


def random_mrr(qrels: Qrels, n_docs: int, k: int = 10, min_rel: int = 2) -> float:
    """Expected MRR@k of a random ranking of the whole corpus."""
    return float(np.mean([random_rr_at_k(n_docs, sum(v >= min_rel for v in lab.values()), k)
                          for lab in qrels.values()]))


def random_rerank_mrr(run: Run, qrels: Qrels, k: int = 10, min_rel: int = 2) -> float:
    """Expected MRR@k of randomly shuffling each query's candidate list in ``run`` (the reranking floor)."""
    vals = []
    for q, lab in qrels.items():
        cands = run.get(q, [])
        vals.append(random_rr_at_k(len(cands), sum(lab.get(d, 0) >= min_rel for d in cands), k))
    return float(np.mean(vals)) if vals else 0.0


def calibrate(dataset: RetrievalDataset, truth: SyntheticTruth, split: str = "test", depth: int = 100,
              window: int = 4) -> tuple[dict[str, float], dict[str, Run]]:
    """Every calibration number of one split (MRR and recall at ``rel >= 2``), and the runs they come from.

    Runs: ``bm25`` (surface BM25 top-``depth``), ``surface_order`` (bm25 reranked by ordered window pairs over
    surface tokens), ``concept_bm25`` (BM25 over concept ids: the soft-matching oracle), ``unordered_oracle`` and
    ``order_oracle`` (concept BM25 reranked by unordered / ordered window pairs over concept ids).
    """
    sp = dataset.split(split)
    qrels = sp.qrels
    runs: dict[str, Run] = {}
    runs["bm25"] = bm25_run(dataset.corpus, sp.queries, depth)
    runs["surface_order"] = surface_order_run(runs["bm25"], dataset.corpus, sp.queries, window)
    runs["concept_bm25"] = bm25_run(concept_corpus(dataset.corpus, truth),
                                    {q: truth.concept_text(t) for q, t in sp.queries.items()}, depth)
    runs["unordered_oracle"] = order_oracle_run(runs["concept_bm25"], truth, window, ordered=False)
    runs["order_oracle"] = order_oracle_run(runs["concept_bm25"], truth, window, ordered=True)
    m: dict[str, float] = {
        "random_mrr10": random_mrr(qrels, len(dataset.corpus)),
        "random_rerank_mrr10": random_rerank_mrr(runs["bm25"], qrels),
    }
    for name, run in runs.items():
        m[f"{name}_mrr10"] = mrr_at_k(run, qrels, 10)
        m[f"{name}_ndcg10"] = ndcg_at_k(run, qrels, 10)
    for name in ("bm25", "concept_bm25"):
        for k in (10, 50, 100):
            m[f"{name}_r{k}"] = recall_at_k(runs[name], qrels, k)
        m[f"{name}_s100"] = success_at_k(runs[name], qrels, 100)
    return m, runs


__all__ = ["Run", "bm25_run", "concept_corpus", "window_pairs", "proximity_run", "order_oracle_run",
           "surface_order_run", "mrr_at_k", "ndcg_at_k", "recall_at_k", "success_at_k", "random_rr_at_k",
           "random_mrr", "random_rerank_mrr", "calibrate"]
