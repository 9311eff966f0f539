"""The sequence-to-sequence model of the GraSP/NLP report among the sources
(``../shared/seeds/report-grasp-random-nlp.txt``): ``nn.Transformer`` with token embeddings scaled by ``sqrt(d)``,
sinusoidal positions and a linear generator, as in PyTorch's "Language translation with nn.Transformer" tutorial
(Vaswani et al., 2017).  The report's sizes are 3 encoder + 3 decoder layers, d = 512, feed-forward 512, 8 heads;
the offline default is smaller (see :class:`Seq2SeqConfig`).  Batches are ``[B, L]`` (batch first), pad id 0.
"""

from __future__ import annotations

import torch
from torch import nn

from ...config import frozen, param
from ...errors import ConfigError
from ..layers import PositionalEncoding


@frozen
class Seq2SeqConfig:
    """Sizes of :class:`Seq2SeqTransformer` (seed: layers 3+3, d_model 512, dim_feedforward 512, nhead 8)."""

    d_model: int = param(64, ge=2)
    nhead: int = param(4, ge=1)
    num_encoder_layers: int = param(2, ge=1)
    num_decoder_layers: int = param(2, ge=1)
    dim_feedforward: int = param(128, ge=1)
    dropout: float = param(0.0, ge=0, lt=1,
                           doc="the GraSP/NLP report uses 0.1; 0 trains the small synthetic pair ~2x faster")
    max_len: int = param(128, ge=2, doc="longest sequence (positions table size)")

    def validate(self) -> None:
        if self.d_model % self.nhead:
            raise ConfigError(f"params.yaml: tasks.translation.model.d_model = {self.d_model} is not divisible by "
                              f"nhead = {self.nhead}")


def causal_mask(n: int, device: torch.device | str) -> torch.Tensor:
    """``[n, n]`` bool mask, True above the diagonal = future positions a decoder step may not attend to."""
    return torch.triu(torch.ones(n, n, dtype=torch.bool, device=device), diagonal=1)


class Seq2SeqTransformer(nn.Module):
    def __init__(self, src_vocab: int, tgt_vocab: int, cfg: Seq2SeqConfig = Seq2SeqConfig()) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.transformer = nn.Transformer(d_model=cfg.d_model, nhead=cfg.nhead,
                                          num_encoder_layers=cfg.num_encoder_layers,
                                          num_decoder_layers=cfg.num_decoder_layers,
                                          dim_feedforward=cfg.dim_feedforward, dropout=cfg.dropout,
                                          batch_first=True)
        # padded batches stay dense tensors (no prototype nested-tensor path, no warning)
        self.transformer.encoder.enable_nested_tensor = False
        self.transformer.encoder.use_nested_tensor = False
        self.generator = nn.Linear(cfg.d_model, tgt_vocab)
        self.src_tok_emb = nn.Embedding(src_vocab, cfg.d_model)
        self.tgt_tok_emb = nn.Embedding(tgt_vocab, cfg.d_model)
        self.positional_encoding = PositionalEncoding(cfg.d_model, cfg.dropout, cfg.max_len)
        self.scale = cfg.d_model ** 0.5

    def encode(self, src: torch.Tensor) -> torch.Tensor:  # [B, S] -> memory [B, S, d]
        x = self.positional_encoding(self.src_tok_emb(src) * self.scale)
        return self.transformer.encoder(x, src_key_padding_mask=src == 0)

    def decode(self, tgt: torch.Tensor, memory: torch.Tensor, src_pad: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, T, V]`` for every prefix of ``tgt`` ``[B, T]`` (starts with ``<bos>``)."""
        y = self.positional_encoding(self.tgt_tok_emb(tgt) * self.scale)
        h = self.transformer.decoder(y, memory, tgt_mask=causal_mask(tgt.shape[1], tgt.device),
                                     tgt_key_padding_mask=tgt == 0, memory_key_padding_mask=src_pad,
                                     tgt_is_causal=True)
        return self.generator(h)

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        return self.decode(tgt_in, self.encode(src), src == 0)


__all__ = ["Seq2SeqConfig", "Seq2SeqTransformer", "causal_mask"]
