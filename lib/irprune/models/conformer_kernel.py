"""Conformer-Kernel with query term independence (CK-QTI): Mitra, Hofstätter, Zamani & Craswell 2021,
"Improving Transformer-Kernel Ranking Model Using Conformer and Query Term Independence" (SIGIR; arXiv
2104.09393), and Mitra et al. 2020, "Conformer-Kernel with Query Term Independence for Document Retrieval"
(TREC DL 2020 notebook, arXiv 2007.10434).  Layout follows the authors' TREC-Deep-Learning-Quick-Start
``NDRM1``:

* query terms: embedding -> linear, never contextualised against each other (QTI);
* document: embedding + sinusoidal positions -> conformer layers, each a separable 1-D convolution
  (depthwise + pointwise), multi-head self-attention and a feed-forward block, every block residual with
  post-layer-norm; the output is mixed with the raw embedding by a learned 2 -> 1 linear map (as in TK,
  Hofstätter et al. 2020);
* per query term i: cosine similarity with every contextualised document term, RBF kernel pooling (K = 10,
  mus 1 - 2k/K, sigma 0.1) in windows of the document (paper: 300 terms, stride 100), ``log`` soft-TF, a
  per-term network (paper: K -> H -> ReLU -> 1; ``term_hidden = 0`` gives a linear layer) and max over windows;
* score = SUM over query terms.  Each term's score depends on that term and the document only, so document
  representations can be precomputed (:meth:`encode_documents` / :meth:`score_from_encoded`) and a query's score
  is the sum of its single-term scores.

Difference from the reference code: standard multi-head attention (the reference shares query/key projections).
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import frozen, param
from ..errors import ConfigError
from ..text.vocab import Vocab
from .base import Batch
from .word_ranker import WordVocabRanker
from .kernel_pooling import KernelPooling, ck_kernels, dot_matrix_fp32, unit_vectors
from .registry import MODELS


@frozen
class ConformerKernelConfig:
    """CK-QTI hyper-parameters; defaults are the ``small`` CPU preset, ``paper`` is Mitra et al.'s."""

    hidden: int = param(128, ge=1, doc="embedding / model width H (paper 256)")
    n_layers: int = param(2, ge=0, doc="conformer layers over the document (paper 2)")
    n_heads: int = param(4, ge=1, doc="attention heads; must divide hidden (paper 32)")
    ffn_dim: int = param(128, ge=1, doc="feed-forward width (paper = hidden)")
    conv_kernel: int = param(7, ge=1, doc="depthwise convolution window, odd (paper 31)")
    dropout: float = param(0.1, ge=0, lt=1, doc="dropout (paper 0.2)")
    n_kernels: int = param(10, ge=1, doc="RBF kernels (paper 10)")
    sigma: float = param(0.1, gt=0, doc="kernel width (paper 0.1)")
    window: Optional[int] = param(None, ge=1, doc="kernel-pooling window in terms; null = whole document (paper 300)")
    stride: int = param(100, ge=1, doc="window stride (paper 100)")
    term_hidden: int = param(0, ge=0, doc="hidden units of the per-term network; 0 = linear (paper 256)")
    freeze_embeddings: bool = param(False, doc="keep word embeddings fixed during training")
    embeddings_path: Optional[str] = param(None, doc="GloVe/word2vec/fastText text vectors for initialisation")
    max_query_len: int = param(16, ge=1, doc="query tokens kept (and the maximum accepted) (paper 20)")
    max_doc_len: int = param(96, ge=1, doc="document tokens kept = positional table size (paper 4000)")

    def validate(self) -> None:
        if self.hidden % self.n_heads:
            raise ConfigError(f"params.yaml: model.conformer_kernel.n_heads = {self.n_heads} must divide "
                              f"hidden = {self.hidden}")
        if self.conv_kernel % 2 == 0:
            raise ConfigError(f"params.yaml: model.conformer_kernel.conv_kernel = {self.conv_kernel} must be odd "
                              "(same-length 'centred' convolution)")


def sinusoidal_positions(max_len: int, dim: int) -> Tensor:
    """Vaswani et al. 2017 sec. 3.5 positional encodings ``[max_len, dim]``."""
    pos = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)                     # [T, 1]
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(max_len, dim)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : dim // 2]
    return pe


class ConformerLayer(nn.Module):
    """Separable convolution -> self-attention -> feed-forward, each ``x = LN(x + dropout(block(x)))``."""

    def __init__(self, hidden: int, n_heads: int, ffn_dim: int, conv_kernel: int, dropout: float) -> None:
        super().__init__()
        self.depthwise = nn.Conv1d(hidden, hidden, conv_kernel, padding=conv_kernel // 2, groups=hidden)  # H*k + H
        self.pointwise = nn.Conv1d(hidden, hidden, 1)                                                     # H*H + H
        self.attn = nn.MultiheadAttention(hidden, n_heads, dropout=dropout, batch_first=True)             # 4(H*H+H)
        self.ffn = nn.Sequential(nn.Linear(hidden, ffn_dim), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(ffn_dim, hidden))                                              # 2*H*F+F+H
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(3))                                # 3 * 2H
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """``x`` [B, T, H] (zero at padding), ``mask`` [B, T] -> [B, T, H] (zero at padding)."""
        m = mask.unsqueeze(-1)                                                          # [B, T, 1]
        c = self.pointwise(self.depthwise(x.transpose(1, 2))).transpose(1, 2)           # [B, T, H]
        x = self.norms[0](x + self.dropout(c)) * m
        pad = mask == 0                                                                 # [B, T] True = ignore
        pad = pad & ~pad.all(dim=1, keepdim=True).logical_and(
            torch.arange(pad.shape[1], device=pad.device) == 0)                        # empty doc: attend to slot 0
        a, _ = self.attn(x, x, x, key_padding_mask=pad, need_weights=False)            # [B, T, H]
        x = self.norms[1](x + self.dropout(a)) * m
        return self.norms[2](x + self.dropout(self.ffn(x))) * m


@MODELS.register("conformer_kernel")
class ConformerKernel(WordVocabRanker):
    """CK with query term independence: ``score(q, d) = sum_i s(q_i, d)``."""

    name = "conformer_kernel"
    config_cls = ConformerKernelConfig
    presets = {"small": {}, "paper": {"hidden": 256, "n_layers": 2, "n_heads": 32, "ffn_dim": 256,
                                      "conv_kernel": 31, "dropout": 0.2, "n_kernels": 10, "sigma": 0.1,
                                      "window": 300, "stride": 100, "term_hidden": 256,
                                      "max_query_len": 20, "max_doc_len": 4000}}

    def __init__(self, cfg: ConformerKernelConfig, vocab: Vocab) -> None:
        super().__init__(cfg, vocab)
        h = cfg.hidden
        self.embedding = nn.Embedding(len(vocab), h, padding_idx=vocab.pad_id)                 # V*H
        self.query_proj = nn.Linear(h, h)                                                       # H*H + H
        self.register_buffer("positions", sinusoidal_positions(cfg.max_doc_len, h), persistent=False)
        self.layers = nn.ModuleList(ConformerLayer(h, cfg.n_heads, cfg.ffn_dim, cfg.conv_kernel, cfg.dropout)
                                    for _ in range(cfg.n_layers))
        self.mix = nn.Linear(2, 1)                                                              # 3
        self.kernel_pooling = KernelPooling(*ck_kernels(cfg.n_kernels, cfg.sigma), eps=1e-6)
        k = cfg.n_kernels
        self.term_net = (nn.Linear(k, 1) if cfg.term_hidden == 0 else                          # K*Ht + 2Ht + 1
                         nn.Sequential(nn.Linear(k, cfg.term_hidden), nn.ReLU(), nn.Dropout(cfg.dropout),
                                       nn.Linear(cfg.term_hidden, 1)))
        self.dropout = nn.Dropout(cfg.dropout)

    @classmethod
    def embedding_dim(cls, cfg: ConformerKernelConfig) -> int:
        return cfg.hidden

    def encode_documents(self, doc_ids: Tensor, doc_mask: Tensor) -> dict[str, Tensor]:
        """Query-independent document representation: unit vectors ``[B, Ld, H]`` (0 at padding) and mask."""
        m = doc_mask.unsqueeze(-1)                                                  # [B, Ld, 1]
        emb = self.embedding(doc_ids)                                               # [B, Ld, H]
        x = self.dropout(emb + self.positions[: doc_ids.shape[1]]) * m              # [B, Ld, H]
        for layer in self.layers:
            x = layer(x, doc_mask)                                                  # [B, Ld, H]
        d = self.mix(torch.stack([emb, x], dim=-1)).squeeze(-1) * m                 # [B, Ld, H, 2] -> [B, Ld, H]
        return {"doc_vecs": unit_vectors(d), "doc_mask": doc_mask}

    def encode_queries(self, query_ids: Tensor) -> Tensor:
        """Per-term query vectors (no interaction between terms): unit vectors ``[B, Lq, H]``."""
        return unit_vectors(self.query_proj(self.embedding(query_ids)))

    def term_scores(self, query_ids: Tensor, query_mask: Tensor, encoded: dict[str, Tensor]) -> Tensor:
        """Score of every query term against its document: ``[B, Lq]`` (0 at query padding)."""
        q = self.encode_queries(query_ids)                                          # [B, Lq, H]
        sim = dot_matrix_fp32(q, encoded["doc_vecs"])                               # [B, Lq, Ld] cosines
        dm = encoded["doc_mask"]
        if self.cfg.window is None:
            tf = self.kernel_pooling.soft_tf(sim, dm).unsqueeze(-2)                 # [B, Lq, 1, K]
            valid = torch.ones(sim.shape[0], 1, device=sim.device, dtype=sim.dtype)
        else:
            tf, valid = self.kernel_pooling.windowed_soft_tf(sim, dm, self.cfg.window, self.cfg.stride)
            first = F.pad(torch.ones_like(valid[:, :1]), (0, valid.shape[1] - 1))  # empty doc: keep window 0
            valid = torch.where(valid.amax(dim=-1, keepdim=True) > 0, valid, first)
        s = self.term_net(self.kernel_pooling.log_tf(tf)).squeeze(-1)              # [B, Lq, W]
        s = s.masked_fill(valid.unsqueeze(1) == 0, float("-inf")).amax(dim=-1)     # [B, Lq]  max over windows
        return s * query_mask

    def score_from_encoded(self, query_ids: Tensor, query_mask: Tensor, encoded: dict[str, Tensor]) -> Tensor:
        """Scores ``[B]`` from precomputed :meth:`encode_documents` output."""
        return self.term_scores(query_ids, query_mask, encoded).sum(dim=-1)

    def forward(self, batch: Batch) -> Tensor:
        enc = self.encode_documents(batch["doc_ids"], batch["doc_mask"])
        return self.score_from_encoded(batch["query_ids"], batch["query_mask"], enc)
