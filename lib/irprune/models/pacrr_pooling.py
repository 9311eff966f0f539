"""Position-aware n-gram pooling of similarity matrices: PACRR (Hui et al. 2017, "PACRR: A Position-Aware Neural IR
Model for Relevance Matching", EMNLP), as CEDR-PACRR applies it to a contextual encoder's layers (MacAvaney et al.
2019, "CEDR: Contextualized Embeddings for Document Ranking", SIGIR).

For each n-gram size ``n = 1..max_ngram`` a 2-D convolution with ``n x n`` filters reads an ``n``-term window of
the query against an ``n``-term window of the document across every similarity matrix (one channel per layer).
A filter fires on the diagonal when consecutive query terms match consecutive document terms *in order*, which
a bag of kernels (K-NRM) cannot see.  Per query position PACRR keeps the strongest filter (max over filters) and
then the ``k`` strongest document positions (k-max pooling): ``[B, Lq, max_ngram * k]`` features, with padding
query positions at zero.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class PacrrPooling(nn.Module):
    """``n x n`` convolutions (n = 1..``max_ngram``) over ``channels`` similarity matrices, max over filters,
    k-max over the document: ``sim`` [B, C, Lq, Ld] -> [B, Lq, max_ngram * kmax]."""

    def __init__(self, channels: int, max_ngram: int = 3, filters: int = 32, kmax: int = 2) -> None:
        super().__init__()
        if min(channels, max_ngram, filters, kmax) < 1:
            raise ValueError("PacrrPooling: channels, max_ngram, filters and kmax must all be >= 1")
        self.kmax = kmax
        self.convs = nn.ModuleList(nn.Conv2d(channels, filters, (n, n)) for n in range(1, max_ngram + 1))

    @property
    def n_features(self) -> int:
        """Features per query position."""
        return len(self.convs) * self.kmax

    def forward(self, sim: Tensor, query_mask: Tensor, doc_mask: Tensor) -> Tensor:
        mask = (query_mask.unsqueeze(-1) & doc_mask.unsqueeze(-2)).unsqueeze(1)     # [B, 1, Lq, Ld]
        sim = sim * mask.to(sim.dtype)                                              # padding matches nothing
        ld = sim.shape[-1]
        k = min(self.kmax, ld)
        out = []
        for conv in self.convs:
            n = conv.kernel_size[0]
            fired = F.relu(conv(F.pad(sim, (0, n - 1, 0, n - 1))))                 # [B, F, Lq, Ld]
            best = fired.amax(dim=1) * doc_mask.unsqueeze(-2).to(fired.dtype)       # [B, Lq, Ld]
            top = best.topk(k, dim=-1).values                                       # [B, Lq, k]
            if k < self.kmax:
                top = F.pad(top, (0, self.kmax - k))
            out.append(top)
        return torch.cat(out, dim=-1) * query_mask.unsqueeze(-1).to(sim.dtype)     # [B, Lq, n_features]
