"""Document-id schemes of DSI (Tay et al. 2022, Sec. 3.2): a docid becomes a sequence of id-token indices.

* ``atomic``  -- "unstructured atomic identifiers": one new token per document (decoding = one softmax).
* ``naive``   -- "naively structured string identifiers": the docid's characters, one token per distinct
  character (the digits 0-9 for numeric ids).
* ``semantic`` -- "semantically structured identifiers": hierarchical k-means over document embeddings
  (Algorithm 1): cluster into ``k`` groups, recurse into every group larger than ``c``; a document's id is its
  cluster index at each level followed by its position in the leaf.  Embeddings, offline and documented:
  TF-IDF (sublinear tf, smoothed idf, L2; Salton & Buckley 1988) reduced by truncated SVD (LSA, Deerwester et al.
  1990) to ``embedding_dim`` dimensions and L2-normalised (``embeddings: tfidf``, no weights needed), or the
  pretrained bi-encoder's document vectors (``embeddings: checkpoint``: mean-pooled, normalised all-MiniLM-L6-v2,
  :mod:`irprune.dense.encoder`), the paper's recipe with BERT embeddings.

Token ``j`` of the id alphabet is model vocabulary entry ``id_offset + j`` (see :mod:`.model`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from ..errors import DataFormatError
from ..io import atomic_write_json
from ..registry import Registry
from .config import DSIIdConfig

FORMAT = "irprune-dsi-docids/1"
IdSeq = tuple[int, ...]


@dataclass(frozen=True)
class DocIds:
    """A bijection ``docid -> id sequence`` over an alphabet of ``n_tokens`` id tokens."""

    scheme: str
    ids: dict[str, IdSeq]
    n_tokens: int
    labels: tuple[str, ...] = ()          # printable name of each id token (for inspection)
    inverse: dict[IdSeq, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        inv: dict[IdSeq, str] = {}
        for d, seq in self.ids.items():
            if not seq:
                raise ValueError(f"document {d!r} has an empty id sequence")
            if min(seq) < 0 or max(seq) >= self.n_tokens:
                raise ValueError(f"document {d!r} id {seq} uses tokens outside 0..{self.n_tokens - 1}")
            if seq in inv:
                raise ValueError(f"documents {inv[seq]!r} and {d!r} share the id {seq}; ids must be unique")
            inv[seq] = d
        object.__setattr__(self, "inverse", inv)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def max_len(self) -> int:
        return max(len(s) for s in self.ids.values())

    def docid(self, seq: Sequence[int]) -> str | None:
        """The document of an id sequence, or None when it is not a valid id."""
        return self.inverse.get(tuple(int(t) for t in seq))

    def save(self, path: str | Path) -> None:
        atomic_write_json(path, {"format": FORMAT, "scheme": self.scheme, "n_tokens": self.n_tokens,
                                 "labels": list(self.labels), "ids": {d: list(s) for d, s in self.ids.items()}},
                          indent=0)

    @classmethod
    def load(cls, path: str | Path) -> "DocIds":
        path = Path(path)
        fix = "delete the checkpoint and re-run the DSI stage"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataFormatError("document-id file not found", path=path, fix=fix) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataFormatError(f"document-id file is not valid JSON ({e})", path=path, fix=fix) from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DataFormatError(f"not an {FORMAT} file", path=path, fix=fix)
        try:
            return cls(scheme=data["scheme"], n_tokens=int(data["n_tokens"]), labels=tuple(data.get("labels", ())),
                       ids={d: tuple(int(t) for t in s) for d, s in data["ids"].items()})
        except (KeyError, TypeError, ValueError) as e:
            raise DataFormatError(f"invalid document-id file ({e})", path=path, fix=fix) from None


IdBuilder = Callable[[Sequence[str], Mapping[str, str], DSIIdConfig], DocIds]
ID_SCHEMES: Registry[IdBuilder] = Registry("document-id scheme")


@ID_SCHEMES.register("atomic")
def atomic_ids(docids: Sequence[str], corpus: Mapping[str, str], cfg: DSIIdConfig) -> DocIds:
    """One token per document, in the given order."""
    return DocIds("atomic", {d: (i,) for i, d in enumerate(docids)}, len(docids), tuple(docids))


@ID_SCHEMES.register("naive")
def naive_ids(docids: Sequence[str], corpus: Mapping[str, str], cfg: DSIIdConfig) -> DocIds:
    """The docid's characters; the alphabet is the sorted set of characters of all ids."""
    chars = sorted({ch for d in docids for ch in d})
    index = {ch: i for i, ch in enumerate(chars)}
    return DocIds("naive", {d: tuple(index[ch] for ch in d) for d in docids}, len(chars), tuple(chars))


_WORD = re.compile(r"\w+")


def tfidf_svd(texts: Sequence[str], dim: int, seed: int) -> np.ndarray:
    """L2-normalised LSA embeddings ``[n, dim']``, ``dim' = min(dim, n - 1, vocab - 1)``: TF-IDF with
    ``tf = 1 + log(count)``, ``idf = log((1 + n) / (1 + df)) + 1``, rows L2-normalised, then truncated SVD."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import svds

    vocab: dict[str, int] = {}
    rows, cols, vals = [], [], []
    for i, t in enumerate(texts):
        counts: dict[int, int] = {}
        for w in _WORD.findall(t.lower()):
            j = vocab.setdefault(w, len(vocab))
            counts[j] = counts.get(j, 0) + 1
        for j, c in counts.items():
            rows.append(i)
            cols.append(j)
            vals.append(1.0 + np.log(c))
    n = len(texts)
    x = sp.csr_matrix((vals, (rows, cols)), shape=(n, max(1, len(vocab))), dtype=np.float64)
    df = np.bincount(x.indices, minlength=x.shape[1])
    x = x.multiply(np.log((1 + n) / (1 + df)) + 1).tocsr()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    x = sp.diags(1.0 / np.maximum(norms, 1e-12)) @ x
    r = min(dim, min(x.shape) - 1)
    if r < 1:
        emb = x.toarray()
    else:
        v0 = np.random.default_rng(seed).standard_normal(min(x.shape))
        u, s, _ = svds(x, k=r, v0=v0)
        order = np.argsort(-s)
        emb = u[:, order] * s[order]
    return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)


def kmeans(x: np.ndarray, k: int, iters: int, rng: np.random.Generator) -> np.ndarray:
    """Lloyd's k-means (Lloyd 1982) with k-means++ seeding (Arthur & Vassilvitskii 2007); labels ``[n]``.
    Empty clusters are re-seeded with the point farthest from its centre."""
    n = len(x)
    centres = [x[rng.integers(n)]]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        p = d2 / d2.sum() if d2.sum() > 0 else np.full(n, 1.0 / n)
        centres.append(x[rng.choice(n, p=p)])
        d2 = np.minimum(d2, ((x - centres[-1]) ** 2).sum(1))
    c = np.stack(centres)
    labels = np.zeros(n, dtype=np.int64)
    for _ in range(iters):
        dist = (x ** 2).sum(1)[:, None] - 2 * x @ c.T + (c ** 2).sum(1)[None, :]
        new = dist.argmin(1)
        for j in range(k):
            members = new == j
            if not members.any():
                far = int(dist[np.arange(n), new].argmax())
                new[far] = j
                members = new == j
            c[j] = x[members].mean(0)
        if np.array_equal(new, labels):
            break
        labels = new
    return labels


def hierarchical_kmeans(x: np.ndarray, k: int, c: int, iters: int, seed: int) -> list[IdSeq]:
    """DSI's Algorithm 1: the path of cluster indices of each row, ending with its position in its leaf."""
    rng = np.random.default_rng(seed)
    out: list[IdSeq] = [()] * len(x)

    def recurse(idx: np.ndarray, prefix: IdSeq) -> None:
        if len(idx) <= c:
            for pos, i in enumerate(idx):
                out[int(i)] = prefix + (pos,)
            return
        labels = kmeans(x[idx], k, iters, rng)
        if len(np.unique(labels)) == 1:  # identical points: split evenly so recursion ends
            labels = np.arange(len(idx)) % k
        for j in range(k):
            recurse(idx[labels == j], prefix + (j,))

    recurse(np.arange(len(x)), ())
    return out


def checkpoint_embeddings(texts: Sequence[str], cfg: DSIIdConfig) -> np.ndarray:
    """The pretrained bi-encoder's document vectors ``[N, H]`` (mean pooling, L2-normalised), from the verified
    checkpoint ``cfg.checkpoint`` in the project cache."""
    from .. import weights
    from ..dense.encoder import BiEncoder

    enc = BiEncoder.load(weights.resolve(cfg.checkpoint))
    return enc.encode(list(texts), "doc", max_tokens=128, batch_size=64, label="dsi ids: embed documents")


#: ``dsi.ids.embeddings`` -> ``f(texts, cfg) -> [N, d]`` document embeddings that the semantic ids cluster.
EMBEDDINGS: Registry[Callable[[Sequence[str], DSIIdConfig], np.ndarray]] = Registry("dsi.ids.embeddings")
EMBEDDINGS.add("tfidf", lambda texts, cfg: tfidf_svd(texts, cfg.embedding_dim, cfg.seed))
EMBEDDINGS.add("checkpoint", checkpoint_embeddings)


def semantic_ids_from_embeddings(docids: Sequence[str], emb: np.ndarray, cfg: DSIIdConfig) -> DocIds:
    """Hierarchical k-means paths (``cfg.k``, ``cfg.c``) over the rows of ``emb`` (row ``i`` = ``docids[i]``)."""
    if len(emb) != len(docids):
        raise ValueError(f"semantic ids: {len(emb)} embeddings for {len(docids)} documents")
    paths = hierarchical_kmeans(np.asarray(emb, dtype=np.float64), cfg.k, cfg.c, cfg.kmeans_iters, cfg.seed)
    n_tokens = max(cfg.k, max(p[-1] for p in paths) + 1)
    return DocIds("semantic", dict(zip(docids, paths)), n_tokens, tuple(str(i) for i in range(n_tokens)))


@ID_SCHEMES.register("semantic")
def semantic_ids(docids: Sequence[str], corpus: Mapping[str, str], cfg: DSIIdConfig) -> DocIds:
    """Hierarchical k-means paths over the ``cfg.embeddings`` document embeddings (module docstring)."""
    emb = EMBEDDINGS.get(cfg.embeddings)([corpus[d] for d in docids], cfg)
    return semantic_ids_from_embeddings(docids, emb, cfg)


def build_ids(docids: Sequence[str], corpus: Mapping[str, str], cfg: DSIIdConfig) -> DocIds:
    """Ids of ``docids`` under ``cfg.scheme``; an unknown scheme raises :class:`RegistryError` listing the known."""
    if len(set(docids)) != len(docids):
        raise ValueError("build_ids: the document ids are not unique")
    if not docids:
        raise ValueError("build_ids: no documents")
    return ID_SCHEMES.get(cfg.scheme)(list(docids), corpus, cfg)


__all__ = ["DocIds", "EMBEDDINGS", "ID_SCHEMES", "IdSeq", "atomic_ids", "checkpoint_embeddings", "naive_ids",
           "semantic_ids", "semantic_ids_from_embeddings", "build_ids", "tfidf_svd",
           "kmeans", "hierarchical_kmeans"]
