"""Word vectors for the collection's words, to initialise the kernel models' embeddings offline.

Two sources (``pretrain.word_vectors.method``, registry :data:`WORD_VECTORS`): count-based vectors of the
collection itself (``ppmi``) or the input embeddings of a pretrained checkpoint (``checkpoint``).

PPMI-SVD (Levy, Goldberg & Dagan 2015, "Improving Distributional Similarity with Lessons Learned from Word
Embeddings", TACL): symmetric window co-occurrence counts ``#(w, c)``, positive PMI with context-distribution
smoothing ``PPMI(w, c) = max(0, log(#(w,c) * N / (#(w) * P_a(c) * N)))`` where ``P_a(c) ∝ #(c)^a`` (a = 0.75),
truncated SVD ``M ≈ U S V^T`` and word vectors ``U S^(1/2)`` (eigenvalue weighting p = 0.5), L2-normalised.  Words
used interchangeably (synonyms) share contexts and get close vectors, which the kernel models' soft matches use.
``checkpoint``: the rows of a BERT checkpoint's word-piece embedding matrix (a word of several pieces: their
mean), centred on the vocabulary's mean vector (the common direction that dominates cosines of trained embeddings;
Mu & Viswanath 2018, "All-but-the-Top", ICLR), projected on their top ``dim`` principal components and
L2-normalised, so a model keeps its embedding size and its cost.

The output is a GloVe-style text file (``word v1 ... vd``) read by ``embeddings_path`` of Conv-KNRM / CK.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Literal

import numpy as np

from ..config import frozen, param
from ..errors import ConfigError
from ..io import atomic_open
from ..registry import Registry
from ..text.vocab import Vocab, word_tokenize


@frozen
class WordVectorConfig:
    """Word-vector settings (``pretrain.word_vectors``)."""

    enabled: bool = param(True, doc="write word vectors for the kernel models' embeddings_path")
    method: Literal["ppmi", "checkpoint"] = param("ppmi", doc="ppmi = PPMI-SVD of the collection | checkpoint = "
                                                   "the checkpoint's input embeddings, centred, PCA to dim")
    checkpoint: str = param("minilm-l6", doc="registered checkpoint of method checkpoint "
                                             "(python -m irprune.weights list)")
    dim: int = param(64, ge=1, doc="vector size; must equal the embedding size of the models that load them")
    window: int = param(2, ge=1, doc="ppmi: context words on each side")
    alpha: float = param(0.75, gt=0, le=1, doc="ppmi: context-distribution smoothing exponent (Levy et al. 2015)")
    seed: int = param(0, ge=0, doc="ppmi: seed of the truncated SVD's start vector")

    def validate(self) -> None:
        from ..weights import CHECKPOINTS

        if self.method == "checkpoint" and self.checkpoint not in CHECKPOINTS:
            raise ConfigError(f"params.yaml: pretrain.word_vectors.checkpoint = {self.checkpoint!r} is not a "
                              f"registered checkpoint; fix: use one of {', '.join(sorted(CHECKPOINTS))} "
                              "(python -m irprune.weights list), or method: ppmi")


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


def checkpoint_vectors(vocab: Vocab, directory: str | Path, dim: int) -> np.ndarray:
    """Unit-length ``[V, dim]`` vectors of ``vocab``'s words from the BERT checkpoint in ``directory`` (its
    ``model.safetensors`` word-piece embeddings and its tokenizer; see the module docstring).  Specials are zero."""
    from safetensors import safe_open
    from tokenizers import Tokenizer

    directory = Path(directory)
    for name in ("model.safetensors", "tokenizer.json"):
        if not (directory / name).is_file():
            raise ConfigError(f"{directory}: no {name}; fix: fetch the checkpoint (python -m irprune.weights fetch) "
                              "or use pretrain.word_vectors.method: ppmi")
    with safe_open(str(directory / "model.safetensors"), framework="numpy") as f:
        key = next((k for k in f.keys() if k.endswith("embeddings.word_embeddings.weight")), None)
        if key is None:
            raise ConfigError(f"{directory / 'model.safetensors'}: no embeddings.word_embeddings.weight tensor; "
                              "fix: use a BERT checkpoint, or pretrain.word_vectors.method: ppmi")
        table = f.get_slice(key)[:].astype(np.float64)                      # [pieces, H]
    if dim > table.shape[1]:
        raise ConfigError(f"params.yaml: pretrain.word_vectors.dim = {dim} exceeds the checkpoint's embedding size "
                          f"{table.shape[1]}; fix: lower it (and the kernel models' embedding size with it)")
    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    rows = [i for i in range(len(vocab)) if i not in (vocab.pad_id, vocab.unk_id)]
    if dim >= len(rows):
        raise ValueError(f"word vectors: dim = {dim} must be smaller than the number of words ({len(rows)}); "
                         "lower pretrain.word_vectors.dim")
    pieces = [tokenizer.encode(vocab.tokens[i], add_special_tokens=False).ids for i in rows]
    if any(not ids for ids in pieces):
        raise ConfigError(f"{directory / 'tokenizer.json'} gives no word piece for some of the collection's words; "
                          "fix: use a WordPiece checkpoint, or pretrain.word_vectors.method: ppmi")
    words = np.stack([table[ids].mean(axis=0) for ids in pieces])            # [n, H]
    centred = words - words.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    proj = centred @ vt[:dim].T                                              # [n, dim]
    proj *= np.sign(proj.sum(axis=0, keepdims=True) + 1e-12)                 # fix SVD's sign ambiguity
    out = np.zeros((len(vocab), dim))
    out[rows] = proj / np.maximum(np.linalg.norm(proj, axis=1, keepdims=True), 1e-12)
    return out


def _from_checkpoint(texts: Iterable[str], vocab: Vocab, cfg: WordVectorConfig) -> np.ndarray:
    from ..weights import resolve

    return checkpoint_vectors(vocab, resolve(cfg.checkpoint), cfg.dim)


#: ``pretrain.word_vectors.method`` -> ``f(texts, vocab, cfg) -> [V, dim]`` unit-length word vectors.
WORD_VECTORS: Registry[Callable[[Iterable[str], Vocab, WordVectorConfig], np.ndarray]] = Registry(
    "pretrain.word_vectors.method")
WORD_VECTORS.add("ppmi", ppmi_svd)
WORD_VECTORS.add("checkpoint", _from_checkpoint)


def word_vectors(texts: Iterable[str], vocab: Vocab, cfg: WordVectorConfig = WordVectorConfig()) -> np.ndarray:
    """The ``cfg.method`` vectors ``[V, cfg.dim]`` of ``vocab``'s words."""
    return WORD_VECTORS.get(cfg.method)(texts, vocab, cfg)


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


__all__ = ["WORD_VECTORS", "WordVectorConfig", "checkpoint_vectors", "cooccurrence", "ppmi_svd", "word_vectors",
           "write_word_vectors"]
