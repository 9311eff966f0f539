"""The encoder initialisation of the pretrain stage (``pretrain.mlm.init``, lib/irprune/models/bert_init.py)."""

from __future__ import annotations

import math

import pytest
import torch

from irprune.config import ConfigError, from_mapping
from irprune.models.bert_init import BertInitConfig, init_bert_
from irprune.models.mlm import MLMConfig
from irprune.models.monobert import MonoBERTConfig, bert_config


def _bert(seed: int = 0):
    from transformers import BertForMaskedLM

    torch.manual_seed(seed)
    return BertForMaskedLM(bert_config(MonoBERTConfig(dropout=0.0), 500))


def test_mimetic_attention_is_a_scaled_identity_per_head_with_the_stated_logit() -> None:
    """Trockman & Kolter 2023: W_q = W_k, W_q W_k^T = c^2 I, W_v = I, W_o = -beta_vo I; a token's logit with
    itself is about beta_qk in every head (layer-normed inputs of norm sqrt(d))."""
    model = init_bert_(_bert(), BertInitConfig(scheme="mimetic", beta_qk=5.0, beta_vo=0.5, position_scale=0.1))
    x = torch.randn(2000, 128)
    x = x / x.norm(dim=1, keepdim=True) * math.sqrt(128)
    for layer in model.bert.encoder.layer:
        att = layer.attention.self
        assert torch.equal(att.query.weight, att.key.weight)
        gram = att.query.weight @ att.key.weight.T
        assert torch.allclose(gram, gram[0, 0] * torch.eye(128), atol=1e-5)
        assert torch.equal(att.value.weight, torch.eye(128))
        assert torch.allclose(layer.attention.output.dense.weight, -0.5 * torch.eye(128))
        q = att.query(x).view(-1, 2, 64)                          # [N, heads, d_head]
        self_logit = (q * q).sum(-1) / math.sqrt(64)              # [N, heads]
        assert self_logit.mean(0).sub(5.0).abs().max() < 0.25
        other = (q[:-1] * q[1:]).sum(-1) / math.sqrt(64)          # unrelated tokens: about 0
        assert other.mean().abs() < 0.2


def test_position_embeddings_start_scaled_and_bert_scheme_changes_nothing() -> None:
    ref = _bert(3)
    scaled = init_bert_(_bert(3), BertInitConfig(position_scale=0.1))
    pos = "bert.embeddings.position_embeddings.weight"
    assert torch.allclose(scaled.state_dict()[pos], 0.1 * ref.state_dict()[pos])
    word = "bert.embeddings.word_embeddings.weight"
    assert torch.equal(scaled.state_dict()[word], ref.state_dict()[word])
    untouched = init_bert_(_bert(3), BertInitConfig(scheme="bert"))
    for k, v in ref.state_dict().items():
        assert torch.equal(untouched.state_dict()[k], v), k


def test_init_applies_to_a_sequence_classifier_and_is_seeded() -> None:
    from transformers import BertForSequenceClassification

    hf = bert_config(MonoBERTConfig(), 300)
    a = init_bert_(BertForSequenceClassification(hf), BertInitConfig(seed=1))
    b = init_bert_(BertForSequenceClassification(hf), BertInitConfig(seed=1))
    c = init_bert_(BertForSequenceClassification(hf), BertInitConfig(seed=2))
    w = "bert.encoder.layer.0.attention.self.query.weight"
    assert torch.equal(a.state_dict()[w], b.state_dict()[w])
    assert not torch.equal(a.state_dict()[w], c.state_dict()[w])


def test_mlm_config_reads_the_init_section_and_rejects_bad_values() -> None:
    cfg = from_mapping(MLMConfig, {"init": {"scheme": "bert", "position_scale": 0.5}})
    assert cfg.init == BertInitConfig(scheme="bert", position_scale=0.5)
    assert MLMConfig().init.scheme == "mimetic"
    with pytest.raises(ConfigError, match="mimetic"):
        from_mapping(MLMConfig, {"init": {"scheme": "xavier"}})
    with pytest.raises(ConfigError, match="beta_qk"):
        from_mapping(MLMConfig, {"init": {"beta_qk": 0.0}})


def test_small_preset_turns_dropout_off_and_paper_keeps_bert_s() -> None:
    from irprune.training.spec import parse_model_spec

    assert parse_model_spec("monobert", {"preset": "small"}).config.dropout == 0.0
    assert parse_model_spec("monobert", {"preset": "paper"}).config.dropout == 0.1
    assert parse_model_spec("monobert", {"preset": "small", "dropout": 0.2}).config.dropout == 0.2
