"""Layers shared by the task models."""

from __future__ import annotations

import math

import torch
from torch import nn


class PositionalEncoding(nn.Module):
    """Sinusoidal positions (Vaswani et al., 2017, "Attention is all you need", Sec. 3.5) added to ``[B, L, d]``
    inputs, then dropout; the table is a non-persistent buffer (not a parameter, not pruned, not saved)."""

    def __init__(self, d_model: int, dropout: float = 0.1, max_len: int = 512) -> None:
        super().__init__()
        pos = torch.arange(max_len, dtype=torch.float32)[:, None]
        div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)[:, : d_model // 2]
        self.register_buffer("pe", pe, persistent=False)
        self.dropout = nn.Dropout(dropout)
        self.max_len = max_len

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [B, L, d]
        if x.shape[1] > self.max_len:
            raise ValueError(f"sequence of length {x.shape[1]} exceeds the positional table ({self.max_len}); "
                             "raise the model's max_len")
        return self.dropout(x + self.pe[: x.shape[1]])
