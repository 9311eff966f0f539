"""BM25 first-stage retrieval on top of bm25s (Lù 2024, "BM25S: Orders of magnitude faster lexical search via
eager sparse scoring", arXiv:2407.03618).

Scoring (Robertson & Zaragoza 2009, "The Probabilistic Relevance Framework: BM25 and Beyond"), in the variants
compared by Kamphuis et al. 2020 ("Which BM25 Do You Mean? A Large-Scale Reproducibility Study of Scoring
Variants", ECIR).  The default ``lucene`` variant, as bm25s implements it, is Lucene >= 8's BM25Similarity::

    score(q, d) = sum_{t in q} idf(t) * tf / (tf + k1 * (1 - b + b * |d| / avgdl))
    idf(t)      = ln(1 + (N - df + 0.5) / (df + 0.5))

(no ``(k1 + 1)`` factor in the numerator: Lucene dropped it in 8.0, LUCENE-8563; it scales every score by the
same constant and so never changes a ranking).  A query term repeated in the query counts once per occurrence.
Defaults ``k1 = 0.9, b = 0.4`` are Anserini's MS MARCO passage settings.

Tokenisation is bm25s's (scikit-learn's pattern ``(?u)\\b\\w\\w+\\b``: single characters are dropped), after
optional lowercasing and optional English stopword removal; no stemming.

Retrieval semantics: only documents matching at least one query term are retrieved (as in Lucene), ranked by
the project's rule (score descending, doc id ascending; :mod:`irprune.runs`), at most ``depth`` per query,
clipped to the corpus size.  Queries with no term left after tokenisation, or none occurring in the corpus, get
an empty ranking and are counted in :attr:`BM25Retriever.report`.
"""

from __future__ import annotations

import logging
from typing import Literal, Sequence

import numpy as np

from .config import frozen, param
from .data.types import Corpus, Queries, SkipReport
from .runs import Run, qid_key

log = logging.getLogger(__name__)

BM25Variant = Literal["lucene", "robertson", "atire", "bm25l", "bm25+"]


@frozen
class BM25Config:
    """BM25 parameters (``params.yaml`` section ``bm25``)."""

    k1: float = param(0.9, ge=0.0, le=10.0, doc="term-frequency saturation (Anserini MS MARCO passage: 0.9)")
    b: float = param(0.4, ge=0.0, le=1.0, doc="length normalisation (Anserini MS MARCO passage: 0.4)")
    delta: float = param(0.5, ge=0.0, le=10.0, doc="lower-bound shift of BM25L / BM25+ (ignored otherwise)")
    variant: BM25Variant = param("lucene", doc="bm25s scoring method (Kamphuis et al. 2020)")
    depth: int = param(1000, ge=1, doc="candidates retrieved per query (clipped to the corpus size)")
    lowercase: bool = param(True, doc="lowercase text before tokenising")
    stopwords: Literal["none", "en"] = param("en", doc="remove bm25s's English (NLTK) stopwords, or none")
    n_threads: int = param(1, ge=0, le=256, doc="retrieval threads; 1 = sequential, 0 = all cores")
    backend: Literal["numpy", "numba"] = param("numpy", doc="bm25s retrieval backend (numba JIT-compiles)")


class BM25Retriever:
    """Index a :data:`Corpus` once, then retrieve a :data:`Run` for any :data:`Queries` (deterministic)."""

    def __init__(self, cfg: BM25Config | None = None) -> None:
        self.cfg = cfg if cfg is not None else BM25Config()
        self.report = SkipReport()
        self._model = None
        self._doc_ids: list[str] = []
        self._doc_ids_arr: np.ndarray = np.empty(0, dtype=object)
        self._vocab: dict[str, int] = {}
        self._docid_order: np.ndarray | None = None  # position of each doc in doc-id (string) order

    # -- tokenisation --------------------------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str]) -> list[list[str]]:
        """bm25s's tokeniser with this config's lowercasing and stopwords (token strings)."""
        import bm25s

        return bm25s.tokenize(list(texts), lower=self.cfg.lowercase,
                              stopwords=[] if self.cfg.stopwords == "none" else "en",
                              return_ids=False, show_progress=False)

    # -- indexing ------------------------------------------------------------------------------------------
    def index(self, corpus: Corpus) -> "BM25Retriever":
        """Build the eager BM25 index of ``corpus`` (doc order = the mapping's order)."""
        import bm25s

        if not corpus:
            raise ValueError("BM25Retriever.index: the corpus is empty; load a collection with documents first")
        self._doc_ids = list(corpus)
        tokens = self.tokenize([corpus[d] for d in self._doc_ids])
        if not any(tokens):
            raise ValueError("BM25Retriever.index: no document has a single token after tokenisation "
                             f"(lowercase={self.cfg.lowercase}, stopwords={self.cfg.stopwords!r}); "
                             "check the corpus text")
        cfg = self.cfg
        model = bm25s.BM25(k1=cfg.k1, b=cfg.b, delta=cfg.delta, method=cfg.variant, backend=cfg.backend)
        model.index(tokens, show_progress=False)
        self._model = model
        self._vocab = {t: i for t, i in model.vocab_dict.items() if t != ""}
        self._doc_ids_arr = np.array(self._doc_ids, dtype=object)
        order = np.empty(len(self._doc_ids), dtype=np.int64)
        order[np.argsort(self._doc_ids_arr, kind="stable")] = np.arange(len(self._doc_ids))
        self._docid_order = order
        return self

    @property
    def num_docs(self) -> int:
        return len(self._doc_ids)

    def _require_index(self) -> None:
        if self._model is None:
            raise RuntimeError("BM25Retriever: call index(corpus) before retrieving")

    def _term_ids(self, tokens: list[str]) -> list[int]:
        return [self._vocab[t] for t in tokens if t in self._vocab]

    def _baseline(self, term_ids: list[int]) -> float:
        """Scores at or below this belong to documents matching no query term: 0, or for BM25L/BM25+ their
        non-occurrence mass plus a float32 rounding margin (backends add it in different orders)."""
        nonocc = self._model.nonoccurrence_array  # type: ignore[union-attr]
        if nonocc is None:
            return 0.0
        base = float(nonocc[term_ids].astype(np.float64).sum())
        return base + 1e-5 * max(1.0, abs(base))

    # -- scoring -------------------------------------------------------------------------------------------
    def score_all(self, query: str) -> dict[str, float]:
        """Every matching document's BM25 score for one query text (exact; for inspection and tests)."""
        self._require_index()
        ids = self._term_ids(self.tokenize([query])[0])
        if not ids:
            return {}
        scores = self._model.get_scores_from_ids(ids)  # type: ignore[union-attr]
        base = self._baseline(ids)
        return {self._doc_ids[i]: float(scores[i]) for i in np.flatnonzero(scores > base)}

    def _exact_top(self, ids: list[int], k: int, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """The top ``k`` matching documents, exactly, given that the ``k``-th best score is ``threshold``."""
        scores = self._model.get_scores_from_ids(ids)  # type: ignore[union-attr]
        cand = np.flatnonzero((scores >= threshold) & (scores > self._baseline(ids)))
        order = np.lexsort((self._docid_order[cand], -scores[cand]))[:k]  # type: ignore[index]
        return cand[order], scores[cand[order]]

    def retrieve(self, queries: Queries, k: int | None = None) -> Run:
        """Top-``k`` (default ``cfg.depth``) documents per query, in the ranking-rule order.

        Uses bm25s's batched retrieval for ``k + 1`` documents; when the ``k``-th and ``k + 1``-th scores tie,
        that query is re-ranked exactly so the cut at ``k`` is the same whatever bm25s's top-k selection does.
        Every query gets an entry; :attr:`report` counts the empty ones (reset on each call).
        """
        self._require_index()
        k = self.cfg.depth if k is None else k
        if k < 1:
            raise ValueError(f"BM25Retriever.retrieve: k must be >= 1, got {k}")
        k = min(k, self.num_docs)
        kk = min(k + 1, self.num_docs)
        self.report = SkipReport()
        qids = sorted(queries, key=qid_key)
        toks = self.tokenize([queries[q] for q in qids])
        run: Run = {q: {} for q in qids}
        batch_q: list[str] = []
        batch_ids: list[list[int]] = []
        for qid, t in zip(qids, toks):
            ids = self._term_ids(t)
            if not t:
                self.report.add("query has no term after tokenisation", qid)
            elif not ids:
                self.report.add("no query term occurs in the corpus", qid)
            else:
                batch_q.append(qid)
                batch_ids.append(ids)
        if self.report.total:
            log.warning("BM25: %d queries get an empty ranking: %s", self.report.total, self.report.counts)
        if not batch_q:
            return run
        threads = {0: -1, 1: 0}.get(self.cfg.n_threads, self.cfg.n_threads)
        docs, scores = self._model.retrieve(  # type: ignore[union-attr]
            batch_ids, k=kk, sorted=True, show_progress=False, n_threads=threads)
        for row, (qid, ids) in enumerate(zip(batch_q, batch_ids)):
            d, s = np.asarray(docs[row]), np.asarray(scores[row])
            base = self._baseline(ids)
            if kk > k and s[k] == s[k - 1] and s[k] > base:
                d, s = self._exact_top(ids, k, s[k - 1])
            else:
                keep = s[:k] > base
                d, s = d[:k][keep], s[:k][keep]
            order = np.lexsort((self._docid_order[d], -s))  # type: ignore[index]
            d, s = d[order], s[order]
            run[qid] = dict(zip(self._doc_ids_arr[d].tolist(), s.astype(np.float64).tolist()))
        return run


__all__ = ["BM25Config", "BM25Retriever", "BM25Variant"]
