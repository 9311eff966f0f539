"""Tiny networks shared by the pruning tests (no downloads; this module holds no tests itself)."""

from __future__ import annotations

import torch
from torch import nn


def mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3))


class TinyConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.c2 = nn.Conv1d(4, 5, 2)
        self.fc = nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.c1(x)))          # [B, 4, H-2, W-2]
        h = h.mean(dim=2)                              # [B, 4, W-2]
        h = torch.relu(self.c2(h)).mean(dim=2)         # [B, 5]
        return self.fc(h)


def tiny_conv(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return TinyConv()


def tiny_encoder(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, dropout=0.0, batch_first=True)


def tiny_bert(seed: int = 0) -> nn.Module:
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    cfg = BertConfig(hidden_size=32, num_attention_heads=4, num_hidden_layers=2, intermediate_size=64,
                     vocab_size=100, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                     attn_implementation="eager")
    return BertModel(cfg).eval()
