"""Classification models: the GraSP/NLP report's EmbeddingBag + linear model and a small Transformer classifier.

``EmbeddingBagClassifier`` is the fastText-style bag-of-embeddings model (Joulin et al., 2017, "Bag of tricks for
efficient text classification") of PyTorch's AG News tutorial, which the GraSP/NLP report among the sources
(``../shared/seeds/report-grasp-random-nlp.txt``) prunes: ``mean(E[ids])`` over
the non-pad tokens, then one linear layer.  The bag is computed as ``nn.Embedding`` + a masked mean/sum, which
equals ``nn.EmbeddingBag(mode, padding_idx=0)`` (a test checks it) but, unlike it, is twice differentiable:
GraSP needs Hessian-gradient products and ``_embedding_bag_backward`` has no derivative.
``TransformerClassifier`` is a post-norm Transformer encoder (Vaswani et al., 2017) over token + sinusoidal
position embeddings, mean-pooled over non-pad tokens, then a linear layer.
Inputs are right-padded id matrices ``[B, L]`` with pad id 0.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ...config import frozen, param
from ...registry import Registry
from ..layers import PositionalEncoding


@frozen
class EmbeddingBagConfig:
    dim: int = param(64, ge=1, doc="embedding width (the PyTorch AG News tutorial uses 64)")
    mode: Literal["mean", "sum"] = param("mean", doc="bag reduction")
    init_range: float = param(0.5, gt=0, doc="uniform(-r, r) initialisation, as in the tutorial")


@frozen
class TransformerClassifierConfig:
    d_model: int = param(64, ge=2)
    nhead: int = param(4, ge=1)
    num_layers: int = param(2, ge=1)
    dim_feedforward: int = param(128, ge=1)
    dropout: float = param(0.1, ge=0, lt=1)

    def validate(self) -> None:
        if self.d_model % self.nhead:
            from ...errors import ConfigError
            raise ConfigError(f"d_model = {self.d_model} is not divisible by nhead = {self.nhead}")


class EmbeddingBagClassifier(nn.Module):
    def __init__(self, vocab_size: int, n_classes: int, cfg: EmbeddingBagConfig = EmbeddingBagConfig()) -> None:
        super().__init__()
        self.mode = cfg.mode
        self.embedding = nn.Embedding(vocab_size, cfg.dim, padding_idx=0)
        self.fc = nn.Linear(cfg.dim, n_classes)
        with torch.no_grad():
            self.embedding.weight.uniform_(-cfg.init_range, cfg.init_range)
            self.embedding.weight[0].zero_()
            self.fc.weight.uniform_(-cfg.init_range, cfg.init_range)
            self.fc.bias.zero_()

    def bag(self, ids: torch.Tensor) -> torch.Tensor:  # [B, L] -> [B, d]
        keep = (ids != 0).unsqueeze(-1)
        e = self.embedding(ids) * keep  # [B, L, d]; the pad row is zero anyway, the mask keeps it exact
        if self.mode == "sum":
            return e.sum(1)
        return e.sum(1) / keep.sum(1).clamp_min(1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # [B, L] -> [B, C]
        return self.fc(self.bag(ids))


class TransformerClassifier(nn.Module):
    def __init__(self, vocab_size: int, n_classes: int,
                 cfg: TransformerClassifierConfig = TransformerClassifierConfig(), max_len: int = 512) -> None:
        super().__init__()
        cfg.validate()
        self.scale = cfg.d_model ** 0.5
        self.embedding = nn.Embedding(vocab_size, cfg.d_model, padding_idx=0)
        self.positions = PositionalEncoding(cfg.d_model, cfg.dropout, max_len)
        layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.nhead, cfg.dim_feedforward, cfg.dropout,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.num_layers, enable_nested_tensor=False)
        self.fc = nn.Linear(cfg.d_model, n_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # [B, L] -> [B, C]
        pad = ids == 0
        h = self.encoder(self.positions(self.embedding(ids) * self.scale), src_key_padding_mask=pad)  # [B, L, d]
        keep = (~pad).unsqueeze(-1).to(h.dtype)
        pooled = (h * keep).sum(1) / keep.sum(1).clamp_min(1.0)
        return self.fc(pooled)


#: model name -> (model class, its config class)
CLASSIFIERS: Registry[tuple[type[nn.Module], type]] = Registry("classification model")
CLASSIFIERS.add("embedding_bag", (EmbeddingBagClassifier, EmbeddingBagConfig))
CLASSIFIERS.add("transformer", (TransformerClassifier, TransformerClassifierConfig))

__all__ = ["EmbeddingBagConfig", "TransformerClassifierConfig", "EmbeddingBagClassifier", "TransformerClassifier",
           "CLASSIFIERS"]
