"""How a from-scratch BERT encoder is initialised before MLM pretraining (``pretrain.mlm.init``).

``bert``: the library's initialisation (Devlin et al. 2019: N(0, 0.02) weights and embeddings).

``mimetic`` (the default): Trockman & Kolter 2023, "Mimetic Initialization of Self-Attention Layers" (ICML).
Per layer and head, ``W_q = W_k`` = a scaled slice of one random orthonormal basis, so ``W_q W_k^T`` is a scaled
identity and the attention logit of tokens ``i, j`` starts at about ``beta_qk * cos(x_i, x_j)``; ``W_v = I`` and
``W_o = -beta_vo I``.  In addition the position embeddings start at ``position_scale`` times BERT's
initialisation, so that at the start a token's direction is its word, not its position: with BERT's scale, word,
position and token-type embeddings are about equally large, a word's cosine to the same word at another position
is about 1/3, and a token attends mostly to itself.

Why: ranking needs the cross-encoder to relate query tokens to passage tokens.  ``benchmarks/bench_bert_matching.py``
isolates that skill (is the query token in the passage?); the small monoBERT shape stays at chance for 8,000 steps
with either BERT's initialisation or the mimetic attention alone, and learns it (accuracy >= 0.99) within 750 steps
with both the mimetic attention and position embeddings at 0.1 (docs/research-log.md, "monoBERT on the default
collection").
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch

from ..config import frozen, param


@frozen
class BertInitConfig:
    """The ``pretrain.mlm.init`` section."""

    scheme: Literal["bert", "mimetic"] = param("mimetic", doc="bert (library default) | mimetic (Trockman & "
                                                              "Kolter 2023)")
    beta_qk: float = param(5.0, gt=0, doc="mimetic: attention logit of two identical tokens")
    beta_vo: float = param(0.5, ge=0, doc="mimetic: W_o = -beta_vo I")
    position_scale: float = param(0.1, ge=0, doc="mimetic: position embeddings start at this times BERT's init")
    seed: int = param(0, ge=0, doc="seed of the orthonormal bases")


def mimetic_attention_(encoder_layers: Any, beta_qk: float, beta_vo: float, seed: int = 0) -> None:
    """Set every ``BertLayer`` of ``encoder_layers`` to the mimetic attention weights (see the module docstring).

    With layer-normed inputs (norm ``sqrt(d)``) each head sees a random ``d_head``-dimensional slice of one
    orthonormal basis, so its logit ``q_i . k_j / sqrt(d_head)`` of two identical tokens is about ``beta_qk``."""
    gen = torch.Generator().manual_seed(seed)
    for layer in encoder_layers:
        att = layer.attention.self
        d = att.query.weight.shape[0]
        d_head = d // att.num_attention_heads
        basis, _ = torch.linalg.qr(torch.randn(d, d, generator=gen))          # [d, d] orthonormal columns
        w = math.sqrt(beta_qk * math.sqrt(d_head) / d_head) * basis.T           # rows = output units
        with torch.no_grad():
            att.query.weight.copy_(w)
            att.key.weight.copy_(w)
            att.query.bias.zero_()
            att.key.bias.zero_()
            att.value.weight.copy_(torch.eye(d))
            att.value.bias.zero_()
            layer.attention.output.dense.weight.copy_(-beta_vo * torch.eye(d))
            layer.attention.output.dense.bias.zero_()


def init_bert_(model: Any, cfg: BertInitConfig) -> Any:
    """Apply ``cfg`` in place to a freshly built Hugging Face BERT (``BertForMaskedLM``,
    ``BertForSequenceClassification`` or ``BertModel``); returns it."""
    if cfg.scheme == "bert":
        return model
    bert = model.bert if hasattr(model, "bert") else model
    mimetic_attention_(bert.encoder.layer, cfg.beta_qk, cfg.beta_vo, cfg.seed)
    with torch.no_grad():
        bert.embeddings.position_embeddings.weight.mul_(cfg.position_scale)
    return model


__all__ = ["BertInitConfig", "init_bert_", "mimetic_attention_"]
