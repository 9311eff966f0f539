"""Conv-KNRM: Dai, Xiong, Callan & Liu 2018, "Convolutional Neural Networks for Soft-Matching N-Grams in
Ad-hoc Search" (WSDM).

Word embeddings (L-dim) -> for h = 1..3 a convolution with F filters and ReLU giving one F-dim vector per
h-gram (eq. 1) -> for all 9 (h_q, h_d) combinations the cosine matrix of query h_q-grams against document
h_d-grams (eq. 2) -> K-NRM kernel pooling of each matrix (eqs. 3-4; log-sum scaled by 0.01 as in the reference
code) -> the 9K soft-match features -> a linear
learning-to-rank layer with tanh (eq. 5).  Paper: L = 300, F = 128, K = 11 (mu 1.0 with sigma 1e-3 for exact
match; mu -0.9..0.9 step 0.2 with sigma 0.1).  Parameter count:
``V*L + sum_h (F*h*L + F) + (h_max^2 * K + 1)``.
An h-gram exists at position i when tokens i..i+h-1 are all real (not padding).
"""

from __future__ import annotations

from typing import Literal, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import frozen, param
from ..text.vocab import Vocab
from .base import Batch
from .word_ranker import WordVocabRanker
from .kernel_pooling import KernelPooling, cosine_matrix, knrm_kernels
from .registry import MODELS


@frozen
class ConvKNRMConfig:
    """Conv-KNRM hyper-parameters; defaults are the ``small`` CPU preset, ``paper`` is Dai et al. 2018."""

    embedding_dim: int = param(128, ge=1, doc="word embedding size L (paper 300)")
    n_filters: int = param(128, ge=1, doc="convolution filters F per n-gram size (paper 128)")
    max_ngram: int = param(3, ge=1, le=5, doc="n-gram sizes 1..max_ngram (paper 3)")
    n_kernels: int = param(11, ge=2, doc="RBF kernels incl. exact match (paper 11)")
    sigma: float = param(0.1, gt=0, doc="soft kernel width (paper 0.1)")
    exact_sigma: float = param(1e-3, gt=0, doc="exact-match kernel width (paper 1e-3)")
    final_activation: Literal["tanh", "none"] = param("tanh", doc="tanh as in the paper, or a plain linear score")
    freeze_embeddings: bool = param(False, doc="keep word embeddings fixed during training")
    embeddings_path: Optional[str] = param(None, doc="GloVe/word2vec text file to initialise embeddings")
    max_query_len: int = param(16, ge=1, doc="query tokens kept (and the maximum accepted)")
    max_doc_len: int = param(96, ge=1, doc="document tokens kept (and the maximum accepted)")


def ngram_mask(mask: Tensor, h: int) -> Tensor:
    """[B, L] token mask -> [B, L] mask of h-grams starting at each position (all h tokens real)."""
    out = mask
    for s in range(1, h):
        out = out * F.pad(mask[:, s:], (0, s))
    return out


@MODELS.register("conv_knrm")
class ConvKNRM(WordVocabRanker):
    """Conv-KNRM with kernel pooling from :mod:`irprune.models.kernel_pooling`."""

    name = "conv_knrm"
    config_cls = ConvKNRMConfig
    presets = {"small": {}, "paper": {"embedding_dim": 300, "n_filters": 128, "max_query_len": 20,
                                      "max_doc_len": 200}}

    def __init__(self, cfg: ConvKNRMConfig, vocab: Vocab) -> None:
        super().__init__(cfg, vocab)
        self.embedding = nn.Embedding(len(vocab), cfg.embedding_dim, padding_idx=vocab.pad_id)   # [V, L]
        self.convs = nn.ModuleList(nn.Conv1d(cfg.embedding_dim, cfg.n_filters, kernel_size=h)
                                   for h in range(1, cfg.max_ngram + 1))                      # F x (h*L) + F
        self.kernel_pooling = KernelPooling(*knrm_kernels(cfg.n_kernels, cfg.sigma, cfg.exact_sigma),
                                            eps=1e-10, log_scale=0.01)                        # reference code
        self.out = nn.Linear(cfg.max_ngram ** 2 * cfg.n_kernels, 1)                           # 9K + 1

    @classmethod
    def embedding_dim(cls, cfg: ConvKNRMConfig) -> int:
        return cfg.embedding_dim

    def ngrams(self, ids: Tensor, mask: Tensor) -> list[tuple[Tensor, Tensor]]:
        """[B, T] ids -> for h = 1..h_max: (h-gram vectors [B, T, F], h-gram mask [B, T])."""
        emb = self.embedding(ids).transpose(1, 2)                    # [B, L, T]
        out = []
        for h, conv in enumerate(self.convs, start=1):
            g = F.relu(conv(F.pad(emb, (0, h - 1))))                 # [B, F, T]  (right-padded so T is kept)
            m = ngram_mask(mask, h)                                  # [B, T]
            out.append((g.transpose(1, 2) * m.unsqueeze(-1), m))    # [B, T, F]
        return out

    def features(self, batch: Batch) -> Tensor:
        """The 9K soft-match features ``[B, h_max^2 * K]`` (order: q-gram size major, d-gram size minor)."""
        qs = self.ngrams(batch["query_ids"], batch["query_mask"])
        ds = self.ngrams(batch["doc_ids"], batch["doc_mask"])
        feats = [self.kernel_pooling(cosine_matrix(q, d), qm, dm)   # [B, Lq, Ld] -> [B, K]
                 for q, qm in qs for d, dm in ds]
        return torch.cat(feats, dim=-1)                              # [B, 9K]

    def forward(self, batch: Batch) -> Tensor:
        s = self.out(self.features(batch)).squeeze(-1)               # [B]
        return torch.tanh(s) if self.cfg.final_activation == "tanh" else s

