"""Count-based word vectors from the collection, to initialise the kernel models' embeddings offline.

PPMI-SVD (Levy, Goldberg & Dagan 2015, "Improving Distributional Similarity with Lessons Learned from Word
Embeddings", TACL): symmetric window co-occurrence counts ``#(w, c)``, positive PMI with context-distribution
smoothing ``PPMI(w, c) = max(0, log(#(w,c) * N / (#(w) * P_a(c) * N)))`` where ``P_a(c) ∝ #(c)^a`` (a = 0.75),
truncated SVD ``M ≈ U S V^T`` and word vectors ``U S^(1/2)`` (eigenvalue weighting p = 0.5), L2-normalised.  Words
used interchangeably (synonyms) share contexts and get close vectors, which the kernel models' soft matches use.
The output is a GloVe-style text file (``word v1 ... vd``) read by ``embeddings_path`` of Conv-KNRM / CK.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..config import frozen, param
from ..io import atomic_open
from ..text.vocab import Vocab, word_tokenize


@frozen
class WordVectorConfig:
    """PPMI-SVD settings (``pretrain.word_vectors``)."""

    enabled: bool = param(True, doc="write word vectors for the kernel models' embeddings_path")
    dim: int = param(64, ge=1, doc="vector size; must equal the embedding size of the models that load them")
    window: int = param(2, ge=1, doc="context words on each side")
    alpha: float = param(0.75, gt=0, le=1, doc="context-distribution smoothing exponent (Levy et al. 2015)")
    seed: int = param(0, ge=0, doc="seed of the truncated SVD's start vector")


def cooccurrence(texts: Iterable[str], vocab: Vocab, window: int) -> "Any":
    """Symmetric window co-occurrence counts ``[V, V]`` (scipy CSR) over ``word_tokenize``d texts."""
    import scipy.sparse as sp

    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    for text in texts:
        ids = np.array([vocab.index.get(t, vocab.unk_id) for t in word_tokenize(text)], dtype=np.int64)
        for s in range(1, window + 1):
            if len(ids) > s:
                rows += [ids[:-s], ids[s:]]
                cols += [ids[s:], ids[:-s]]
    v = len(vocab)
    if not rows:
        return sp.csr_matrix((v, v))
    r, c = np.concatenate(rows), np.concatenate(cols)
    return sp.coo_matrix((np.ones(len(r)), (r, c)), shape=(v, v)).tocsr()


def ppmi_svd(texts: Iterable[str], vocab: Vocab, cfg: WordVectorConfig = WordVectorConfig()) -> np.ndarray:
    """Unit-length PPMI-SVD vectors ``[V, dim]`` (rows of words never seen with a context are zero)."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import svds

    counts = cooccurrence(texts, vocab, cfg.window).tocoo()
    v = len(vocab)
    if cfg.dim >= v - 1:
        raise ValueError(f"word vectors: dim = {cfg.dim} must be smaller than the vocabulary size - 1 ({v - 1}); "
                         "lower pretrain.word_vectors.dim")
    total = counts.data.sum()
    w = np.asarray(counts.sum(axis=1)).ravel()
    c = np.asarray(counts.sum(axis=0)).ravel() ** cfg.alpha
    c = c / c.sum()
    with np.errstate(divide="ignore"):
        pmi = np.log(counts.data * total / (w[counts.row] * c[counts.col] * total))
    keep = pmi > 0
    m = sp.csr_matrix((pmi[keep], (counts.row[keep], counts.col[keep])), shape=(v, v))
    v0 = np.random.default_rng(cfg.seed).standard_normal(v)
    u, s, _ = svds(m, k=cfg.dim, v0=v0)
    order = np.argsort(-s)
    vec = u[:, order] * np.sqrt(s[order])
    vec *= np.sign(vec.sum(axis=0, keepdims=True) + 1e-12)          # fix SVD's sign ambiguity
    norm = np.linalg.norm(vec, axis=1, keepdims=True)
    return np.where(norm > 0, vec / np.maximum(norm, 1e-12), 0.0)


def write_word_vectors(path: str | Path, vocab: Vocab, vectors: np.ndarray) -> int:
    """Write ``word v1 ... vd`` lines (GloVe text format, specials skipped) atomically; returns the count."""
    n = 0
    with atomic_open(path, "w") as fh:
        for i, word in enumerate(vocab.tokens):
            if i in (vocab.pad_id, vocab.unk_id) or not np.any(vectors[i]):
                continue
            fh.write(word + " " + " ".join(f"{x:.6f}" for x in vectors[i]) + "\n")
            n += 1
    return n


__all__ = ["WordVectorConfig", "cooccurrence", "ppmi_svd", "write_word_vectors"]
