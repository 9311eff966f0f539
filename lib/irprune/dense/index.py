"""Vector indexes over the bi-encoder's document vectors (faiss-cpu; Johnson, Douze & Jégou 2019, "Billion-scale
similarity search with GPUs", IEEE TBD): the uncompressed flat inner-product index (brute force) and product
quantization (PQ; Jégou, Douze & Schmid 2011, "Product Quantization for Nearest Neighbor Search", TPAMI).

PQ splits a ``D``-dimensional vector into ``M`` sub-vectors of ``D/M`` dimensions and stores, per sub-vector, the
index of the nearest of ``2^nbits`` centroids learned by k-means on that sub-space: ``M * nbits / 8`` bytes per
document instead of ``4 D``.  The inner product of a query with a document is approximated by asymmetric distance
computation, ``sum_m <q_m, C_m[code_m]>`` (a table of ``M x 2^nbits`` inner products per query).

OPQ (Ge, He, Ke & Sun 2014, "Optimized Product Quantization", TPAMI) first rotates the vectors by an orthogonal
``R`` learned to lower the quantization error, then quantizes ``R x``; a query is rotated the same way, and since
``<R q, R d> = <q, d>`` the scores approximate the same inner products.  JPQ's reference implementation starts from
such an index (faiss ``OPQ<M>,IVF1,PQ<M>x8``) and keeps ``R`` fixed while it trains.

:class:`PQCodebook` holds the centroids ``[M, K, D/M]`` and the codes ``[N, M]`` as plain arrays, so that JPQ
(:mod:`irprune.dense.jpq`) can train the centroids in torch and write them back into a faiss index.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..runs import Run


def _faiss():
    import faiss

    return faiss


def flat_index(doc_vecs: np.ndarray):
    """Exact inner-product search over ``doc_vecs`` ``[N, D]`` (faiss ``IndexFlatIP``)."""
    faiss = _faiss()
    index = faiss.IndexFlatIP(doc_vecs.shape[1])
    index.add(np.ascontiguousarray(doc_vecs, dtype=np.float32))
    return index


def compression_for(dim: int, m: int, nbits: int = 8) -> float:
    """Compression of a PQ code against float32 vectors: ``4 D / (M nbits / 8)`` (384 dims: M=96 -> 16x)."""
    return 4.0 * dim / (m * nbits / 8.0)


@dataclass
class PQCodebook:
    """Centroids ``[M, K, D/M]`` (float32) and codes ``[N, M]`` (int64 centroid numbers) of a PQ index."""

    centroids: np.ndarray
    codes: np.ndarray

    @property
    def m(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def ksub(self) -> int:
        return int(self.centroids.shape[1])

    @property
    def dim(self) -> int:
        return int(self.centroids.shape[0] * self.centroids.shape[2])

    def reconstruct(self) -> np.ndarray:
        """``[N, D]`` decoded document vectors: the concatenation of each sub-vector's centroid."""
        parts = [self.centroids[j][self.codes[:, j]] for j in range(self.m)]    # M x [N, D/M]
        return np.concatenate(parts, axis=1).astype(np.float32)


def train_pq(doc_vecs: np.ndarray, m: int, nbits: int = 8, seed: int = 0):
    """A faiss ``IndexPQ`` (inner product) with ``m`` sub-vectors of ``nbits`` bits, trained and filled with
    ``doc_vecs``; ``D`` must be divisible by ``m``."""
    faiss = _faiss()
    n, d = doc_vecs.shape
    if d % m:
        raise ValueError(f"PQ: dimension {d} is not divisible by M = {m}; choose M among the divisors of {d}")
    x = np.ascontiguousarray(doc_vecs, dtype=np.float32)
    index = faiss.IndexPQ(d, m, nbits, faiss.METRIC_INNER_PRODUCT)
    index.pq.cp.seed = seed
    index.pq.cp.niter = 25
    if n < 39 * (1 << nbits):          # faiss warns below 39 points per centroid; a tiny corpus still trains
        index.pq.cp.min_points_per_centroid = 1
    index.train(x)
    index.add(x)
    return index


def train_opq(doc_vecs: np.ndarray, m: int, nbits: int = 8, seed: int = 0, niter: int = 50):
    """A faiss ``IndexPreTransform``: an OPQ rotation (``niter`` alternations of rotation and PQ k-means) followed
    by an ``IndexPQ`` (inner product, :func:`train_pq`) trained and filled with the rotated ``doc_vecs``."""
    faiss = _faiss()
    n, d = doc_vecs.shape
    if d % m:
        raise ValueError(f"OPQ: dimension {d} is not divisible by M = {m}; choose M among the divisors of {d}")
    x = np.ascontiguousarray(doc_vecs, dtype=np.float32)
    opq = faiss.OPQMatrix(d, m)
    opq.niter = niter
    pq = faiss.ProductQuantizer(d, m, nbits)       # the quantizer OPQ alternates with: quiet on a small corpus
    pq.cp.seed = seed
    if n < 39 * (1 << nbits):
        pq.cp.min_points_per_centroid = 1
    opq.pq = pq
    opq.train(x)
    opq.pq = None                                  # trained; the index below owns its own quantizer
    inner = train_pq(opq.apply_py(x), m, nbits, seed)
    return faiss.IndexPreTransform(opq, inner)


def copy_index(index):
    """An independent copy of a faiss index (serialised and read back)."""
    faiss = _faiss()
    return faiss.deserialize_index(faiss.serialize_index(index))


def _pq_index(index):
    """The ``IndexPQ`` of a plain PQ index or of an OPQ ``IndexPreTransform``."""
    faiss = _faiss()
    if isinstance(index, faiss.IndexPreTransform):
        return faiss.downcast_index(index.index)
    return index


def rotation(index) -> np.ndarray | None:
    """The ``[D, D]`` OPQ rotation ``R`` of an OPQ index (queries are scored as ``R q``); ``None`` for plain PQ."""
    faiss = _faiss()
    if not isinstance(index, faiss.IndexPreTransform):
        return None
    vt = faiss.downcast_VectorTransform(index.chain.at(0))
    return faiss.vector_to_array(vt.A).reshape(vt.d_out, vt.d_in).astype(np.float32)


def pq_codebook(index) -> PQCodebook:
    """The centroids and codes held by a faiss ``IndexPQ`` (of an OPQ index: those of the rotated vectors)."""
    faiss = _faiss()
    index = _pq_index(index)
    pq = index.pq
    cent = faiss.vector_to_array(pq.centroids).reshape(pq.M, pq.ksub, pq.dsub).copy()
    raw = faiss.vector_to_array(index.codes).reshape(index.ntotal, pq.code_size)
    codes = raw.astype(np.int64) if pq.nbits == 8 else _unpack(pq, raw)
    return PQCodebook(cent.astype(np.float32), codes)


def _unpack(pq, raw: np.ndarray) -> np.ndarray:
    """Codes of a PQ with ``nbits != 8`` (bit-packed), one centroid number per sub-vector."""
    bits = np.unpackbits(raw, axis=1, bitorder="little")[:, :pq.M * pq.nbits].reshape(-1, pq.M, pq.nbits)
    return (bits.astype(np.int64) << np.arange(pq.nbits)).sum(-1)


def set_centroids(index, centroids: np.ndarray) -> None:
    """Write trained centroids ``[M, K, D/M]`` back into a faiss ``IndexPQ`` or OPQ index (codes unchanged)."""
    faiss = _faiss()
    pq = _pq_index(index).pq
    if centroids.shape != (pq.M, pq.ksub, pq.dsub):
        raise ValueError(f"centroids of shape {centroids.shape}; the index expects {(pq.M, pq.ksub, pq.dsub)}")
    faiss.copy_array_to_vector(np.ascontiguousarray(centroids, dtype=np.float32).ravel(), pq.centroids)


def index_bytes(index) -> int:
    """Bytes of the stored document representation: ``N * code_size`` (flat: ``N * 4 D``), plus the PQ
    centroids (``M * K * D/M * 4``) and an OPQ rotation (``D * D * 4``), which are part of what the index must keep."""
    faiss = _faiss()
    if isinstance(index, faiss.IndexPreTransform):
        return index_bytes(_pq_index(index)) + int(rotation(index).size * 4)
    if isinstance(index, faiss.IndexPQ):
        return int(index.ntotal * index.pq.code_size + index.pq.M * index.pq.ksub * index.pq.dsub * 4)
    if isinstance(index, faiss.IndexFlat):
        return int(index.ntotal * index.d * 4)
    raise TypeError(f"index_bytes: unsupported index {type(index).__name__}")


def search(index, query_vecs: np.ndarray, qids: Sequence[str], doc_ids: Sequence[str], k: int) -> Run:
    """Top ``k`` documents per query as a run (``qid -> docid -> score``)."""
    k = min(k, index.ntotal)
    scores, idx = index.search(np.ascontiguousarray(query_vecs, dtype=np.float32), k)
    run: Run = {}
    for qi, q in enumerate(qids):
        run[q] = {doc_ids[j]: float(s) for s, j in zip(scores[qi], idx[qi]) if j >= 0}
    return run


def search_latency_ms(index, query_vecs: np.ndarray, k: int, repeats: int = 3, threads: int = 1) -> float:
    """Median over ``repeats`` of the mean milliseconds per query of searching one query at a time (the index
    part of CPU query latency; encoding the query is not included), with ``threads`` faiss threads."""
    faiss = _faiss()
    old = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        x = np.ascontiguousarray(query_vecs, dtype=np.float32)
        index.search(x[:1], k)                       # warm-up (allocations, lookup tables)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for i in range(len(x)):
                index.search(x[i:i + 1], k)
            times.append((time.perf_counter() - t0) * 1000.0 / max(1, len(x)))
        return float(np.median(times))
    finally:
        faiss.omp_set_num_threads(old)


def run_from_scores(scores: np.ndarray, qids: Sequence[str], doc_ids: Sequence[str], k: int) -> Run:
    """Top ``k`` of a dense ``[Q, N]`` score matrix as a run (ties: doc id order, via the project's rule)."""
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return {q: {doc_ids[j]: float(scores[i, j]) for j in top[i]} for i, q in enumerate(qids)}


def doc_order(corpus: Mapping[str, str]) -> list[str]:
    """The fixed document order of every index: the corpus's ids sorted (row ``i`` = ``doc_order[i]``)."""
    return sorted(corpus)


__all__ = ["PQCodebook", "compression_for", "copy_index", "doc_order", "flat_index", "index_bytes", "pq_codebook",
           "rotation", "run_from_scores", "search", "search_latency_ms", "set_centroids", "train_opq", "train_pq"]
