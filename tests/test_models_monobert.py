"""monoBERT: from_pretrained loading and its errors, the paper-size parameter count, MLM pretraining."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from irprune.errors import ConfigError
from irprune.models import build_model, model_config
from irprune.models.mlm import MLMConfig, mask_tokens, mlm_loss, pretrain_mlm
from irprune.models.monobert import bert_config
from irprune.text import WordPieceConfig, train_wordpiece

CORPUS = [
    "neural ranking models re-rank bm25 candidates for ad hoc retrieval",
    "kernel pooling counts soft matches between query and document terms",
    "pruning removes weights from bert while keeping ranking quality",
    "the quick brown fox jumps over the lazy dog near the river bank",
    "masked language modelling predicts hidden tokens from their context",
    "a cross encoder reads the query and the passage together",
] * 4
TINY = {"hidden": 32, "layers": 2, "heads": 2, "intermediate": 64, "max_len": 64, "max_query_len": 8,
        "max_doc_len": 40}


@pytest.fixture(scope="module")
def tok() -> Any:
    return train_wordpiece(CORPUS, WordPieceConfig(vocab_size=300, min_frequency=1))


def test_paper_preset_is_bert_base_size(tok: Any) -> None:
    cfg = model_config("monobert", "paper")
    with torch.device("meta"):                      # shape only, no memory, no download
        model = build_model("monobert", cfg, tok)
    v, h, layers, inter, pos, types, labels = 30522, 768, 12, 3072, 512, 2, 2
    embeddings = (v + pos + types) * h + 2 * h
    layer = 4 * (h * h + h) + 2 * h + (h * inter + inter) + (inter * h + h) + 2 * h
    expected = embeddings + layers * layer + (h * h + h) + (h * labels + labels)
    assert model.n_parameters() == expected == 109_483_778


def test_two_class_head_scores_the_relevant_logit(tok: Any) -> None:
    model = build_model("monobert", TINY, tok, seed=0).eval()
    batch = model.collate([("ranking", "kernel pooling"), ("fox", "the lazy dog")])
    with torch.no_grad():
        logits = model.bert(**batch).logits
        assert logits.shape == (2, 2)
        torch.testing.assert_close(torch.sigmoid(model(batch)), torch.softmax(logits, -1)[:, 1])
    one = build_model("monobert", {**TINY, "head": "one_logit"}, tok).eval()
    assert one.bert.classifier.out_features == 1 and one(batch).shape == (2,)


def _save_tiny_bert(tok: Any, path: Path) -> Any:
    from transformers import BertForMaskedLM

    torch.manual_seed(0)
    mlm = BertForMaskedLM(bert_config(model_config("monobert", "small", TINY), len(tok), tok.pad_token_id))
    mlm.save_pretrained(str(path))
    tok.save_pretrained(str(path))
    return mlm


def test_from_pretrained_local_checkpoint(tok: Any, tmp_path: Path) -> None:
    mlm = _save_tiny_bert(tok, tmp_path / "enc")
    with pytest.raises(ConfigError, match="exceed.*maximum"):      # default 16 + 96 > 64 positions
        build_model("monobert", {"pretrained": str(tmp_path / "enc")}, None)
    lengths = {"max_query_len": 8, "max_doc_len": 40}
    model = build_model("monobert", {"pretrained": str(tmp_path / "enc"), **lengths}, None).eval()
    torch.testing.assert_close(model.bert.bert.embeddings.word_embeddings.weight,
                               mlm.bert.embeddings.word_embeddings.weight)
    torch.testing.assert_close(model.bert.bert.encoder.layer[1].output.dense.weight,
                               mlm.bert.encoder.layer[1].output.dense.weight)
    assert model.text("fox")["input_ids"] == tok("fox")["input_ids"]
    assert model(model.collate([("fox", "the lazy dog")])).shape == (1,)
    with pytest.raises(ConfigError, match="tokenizer comes from the checkpoint"):
        build_model("monobert", {"pretrained": str(tmp_path / "enc"), **lengths}, tok)


def test_from_pretrained_errors_name_the_fix(tok: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="no such directory.*fix"):
        build_model("monobert", {"pretrained": str(tmp_path / "missing")}, None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="not a checkpoint directory \\(no config.json\\)"):
        build_model("monobert", {"pretrained": str(tmp_path / "empty")}, None)
    _save_tiny_bert(tok, tmp_path / "notok")
    for f in ("tokenizer.json", "tokenizer_config.json"):
        (tmp_path / "notok" / f).unlink(missing_ok=True)
    with pytest.raises(ConfigError, match="has no tokenizer"):
        build_model("monobert", {"pretrained": str(tmp_path / "notok")}, None)
    import huggingface_hub.constants as hf

    monkeypatch.setattr(hf, "HF_HUB_OFFLINE", True)           # no network here; make it instant everywhere
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ConfigError, match="network .* unavailable.*local checkpoint directory"):
        build_model("monobert", {"pretrained": "bert-base-uncased"}, None)


def test_mask_tokens_80_10_10() -> None:
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(10, 1000, (64, 256), generator=gen)
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = True
    inputs, labels = mask_tokens(ids, special, mask_id=4, vocab_size=1000, prob=0.15, generator=gen)
    chosen = labels != -100
    assert not chosen[:, 0].any() and torch.equal(labels[chosen], ids[chosen])
    assert chosen.float().mean() == pytest.approx(0.15 * 255 / 256, abs=0.01)
    masked = (inputs == 4) & chosen
    kept = (inputs == ids) & chosen
    assert masked.sum() / chosen.sum() == pytest.approx(0.8, abs=0.03)
    assert kept.sum() / chosen.sum() == pytest.approx(0.1 + 0.1 / 1000, abs=0.03)
    assert torch.equal(inputs[~chosen], ids[~chosen])


def test_mlm_pretraining_lowers_the_loss_and_feeds_the_cross_encoder(tok: Any, tmp_path: Path) -> None:
    bert = model_config("monobert", "small", TINY)
    cfg = MLMConfig(epochs=40, max_steps=40, batch_size=8, lr=1e-2, warmup_frac=0.1, max_len=32, seed=0)
    # a fixed masked evaluation batch, the same before and after training
    rows = tok(CORPUS[:6], truncation=True, max_length=32, padding=True, return_tensors="pt")
    special = torch.isin(rows["input_ids"], torch.tensor(tok.all_special_ids))
    inputs, labels = mask_tokens(rows["input_ids"], special, mask_id=tok.mask_token_id, vocab_size=len(tok),
                                 prob=0.3, generator=torch.Generator().manual_seed(1))
    from transformers import BertForMaskedLM

    torch.manual_seed(cfg.seed)
    untrained = BertForMaskedLM(bert_config(bert, len(tok), tok.pad_token_id)).eval()
    result = pretrain_mlm(CORPUS, tok, bert, cfg, out_dir=tmp_path / "mlm")
    with torch.no_grad():
        before = float(mlm_loss(untrained, inputs, rows["attention_mask"], labels))
        after = float(mlm_loss(result.model, inputs, rows["attention_mask"], labels))
    assert len(result.losses) == 40
    assert after < 0.75 * before, (before, after)      # measured: 5.51 -> 3.5
    assert sum(result.losses[-5:]) < sum(result.losses[:5])
    ranker = build_model("monobert", {"pretrained": str(tmp_path / "mlm"), "max_doc_len": 40}, None)
    torch.testing.assert_close(ranker.bert.bert.embeddings.word_embeddings.weight,
                               result.model.bert.embeddings.word_embeddings.weight)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_cls_and_mean_pooling_drop_the_pooler_and_survive_a_checkpoint(tok: Any, tmp_path: Path, pooling: str) -> None:
    from irprune.models import load_checkpoint, save_checkpoint

    cfg = model_config("monobert", "small", {**TINY, "pooling": pooling})
    model = build_model("monobert", cfg, tok, seed=0)
    assert model.bert.bert.pooler is None
    assert not any("pooler" in n for n, _ in model.named_parameters())
    batch = model.collate([("bert pruning", "pruning removes weights from bert"), ("fox", "a cross encoder")])
    model.eval()
    with torch.no_grad():
        scores = model(batch)
        states = model.bert.bert(**{k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")})
        h = states.last_hidden_state
        m = batch["attention_mask"].unsqueeze(-1).float()
        rep = h[:, 0] if pooling == "cls" else (h * m).sum(1) / m.sum(1)
        logits = model.bert.classifier(rep)
        assert torch.allclose(scores, logits[:, 1] - logits[:, 0], atol=1e-6)
    save_checkpoint(model, tmp_path / "m")
    again = load_checkpoint(tmp_path / "m")
    again.eval()
    with torch.no_grad():
        assert torch.allclose(again(batch), scores, atol=1e-6)


def test_frozen_word_embeddings_get_no_gradient(tok: Any) -> None:
    model = build_model("monobert", model_config("monobert", "small", {**TINY, "freeze_embeddings": True}), tok, seed=0)
    assert not model.bert.bert.embeddings.word_embeddings.weight.requires_grad
    assert model.bert.bert.embeddings.position_embeddings.weight.requires_grad


def _cedr_score_by_hand(model: Any, tok: Any, batch: Any, first_state: int) -> Any:
    """The [CLS] logit plus the kernel head over K-NRM features of ``hidden_states[first_state:]``."""
    from irprune.models.kernel_pooling import cosine_matrix

    out = model.bert.bert(**{k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")},
                          output_hidden_states=True)
    logits = model.bert.classifier(out.last_hidden_state[:, 0])
    ids, types, att = batch["input_ids"], batch["token_type_ids"], batch["attention_mask"]
    content = att.bool() & (ids != tok.sep_token_id) & (ids != tok.cls_token_id)
    # query tokens: type 0 content; passage tokens: type 1 content (row 0: "bert pruning" | 5 words)
    assert int((content & (types == 0))[0].sum()) == len(tok.tokenize("bert pruning"))
    feats = torch.cat([model.kernels(cosine_matrix(h, h), content & (types == 0), content & (types == 1))
                       for h in out.hidden_states[first_state:]], dim=-1)
    return logits[:, 1] - logits[:, 0] + model.kernel_head(feats)[:, 0]


def test_cedr_head_adds_knrm_features_of_every_layer_to_the_cls_score(tok: Any, tmp_path: Path) -> None:
    from irprune.models import load_checkpoint, save_checkpoint

    model = build_model("monobert", model_config("monobert", "small", {**TINY, "pooling": "cedr",
                                                                       "head_lr_scale": 10.0}), tok, seed=0)
    assert model.bert.bert.pooler is None
    assert model.kernel_head.in_features == (TINY["layers"] + 1) * model.kernels.n_kernels
    assert float(model.kernel_head.weight.abs().sum()) == 0.0           # starts as the [CLS] head alone
    torch.nn.init.normal_(model.kernel_head.weight)
    batch = model.collate([("bert pruning", "pruning removes weights from bert"), ("fox", "a cross encoder")])
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model(batch), _cedr_score_by_hand(model, tok, batch, first_state=0), atol=1e-5)
    (head, scale), = model.lr_scales()
    assert scale == 10.0 and {id(p) for p in head} == {id(p) for p in [*model.bert.classifier.parameters(),
                                                                         *model.kernel_head.parameters()]}
    save_checkpoint(model, tmp_path / "m")
    again = load_checkpoint(tmp_path / "m")
    again.eval()
    with torch.no_grad():
        assert torch.allclose(again(batch), model(batch), atol=1e-5)


def test_cedr_without_embedding_kernels_reads_only_the_transformer_layers(tok: Any) -> None:
    model = build_model("monobert", model_config("monobert", "small", {
        **TINY, "pooling": "cedr", "cedr_embedding_kernels": False}), tok, seed=0)
    assert model.kernel_head.in_features == TINY["layers"] * model.kernels.n_kernels
    torch.nn.init.normal_(model.kernel_head.weight)
    batch = model.collate([("bert pruning", "pruning removes weights from bert"), ("fox", "a cross encoder")])
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model(batch), _cedr_score_by_hand(model, tok, batch, first_state=1), atol=1e-5)


def test_trainer_puts_the_head_in_its_own_learning_rate_group(tok: Any) -> None:
    from irprune.training.trainer import _param_groups

    model = build_model("monobert", model_config("monobert", "small", {**TINY, "pooling": "cedr",
                                                                       "head_lr_scale": 10.0}), tok, seed=0)
    params = [p for p in model.parameters() if p.requires_grad]
    groups = _param_groups(model, params, 1e-4)
    assert [g["lr"] for g in groups] == [1e-4, 1e-3]
    assert sum(len(g["params"]) for g in groups) == len(params)
    assert len(groups[1]["params"]) == 4                       # classifier and kernel head: weights and biases


def test_biencoder_prior_adds_the_encoders_own_mean_pooled_cosine(tok: Any, tmp_path: Path) -> None:
    from irprune.models.checkpoint import load_checkpoint, save_checkpoint

    model = build_model("monobert", model_config("monobert", "small", {
        **TINY, "pooling": "cedr", "biencoder_prior": True, "prior_scale": 20.0}), tok, seed=0).eval()
    pairs = [("bert pruning", "pruning removes weights from bert"), ("fox", "a cross encoder reads the query")]
    batch = model.collate(pairs)
    # every score head starts at zero, so the untrained model is the prior alone: the checkpoint zero-shot
    head = model.bert.classifier
    assert float(head.weight.detach().abs().sum() + head.bias.detach().abs().sum()) == 0

    def alone(text: str) -> torch.Tensor:                      # sentence-transformers' mean pooling, by hand
        ids = torch.tensor([[tok.cls_token_id, *tok(text, add_special_tokens=False)["input_ids"], tok.sep_token_id]])
        states = model.bert.bert(input_ids=ids).last_hidden_state[0]
        return torch.nn.functional.normalize(states.mean(0), dim=-1)

    with torch.no_grad():
        expected = torch.stack([20.0 * alone(q) @ alone(d) for q, d in pairs])
        torch.testing.assert_close(model(batch), expected, atol=1e-5, rtol=1e-5)
    (head, _), = model.lr_scales()
    assert any(p is model.prior_scale for p in head)            # the scale learns at the head's rate
    with torch.no_grad():
        model.prior_scale.fill_(7.0)
    save_checkpoint(model, tmp_path / "m")
    again = load_checkpoint(tmp_path / "m").eval()
    with torch.no_grad():
        assert float(again.prior_scale) == 7.0 and torch.allclose(again(batch), model(batch), atol=1e-5)
    with pytest.raises(ConfigError, match="biencoder_prior needs pooling"):
        model_config("monobert", "small", {**TINY, "pooling": "pooler", "biencoder_prior": True})


def test_prior_encodes_each_distinct_text_once_per_reranking_call(tok: Any) -> None:
    from irprune.rerank import score_pairs

    model = build_model("monobert", model_config("monobert", "small", {
        **TINY, "pooling": "cedr", "biencoder_prior": True}), tok, seed=0).eval()
    docs = ["pruning removes weights from bert", "a cross encoder reads the query", "fox", "bert bert pruning fox"]
    queries = ["bert pruning", "fox", "cross encoder"]
    pairs = [(q, d) for q in queries for d in docs]                      # every passage under every query
    with torch.no_grad():
        expected = model(model.collate(pairs)).tolist()                  # outside a scope: nothing is cached
    encoded: list[int] = []
    original = model._encode_alone

    def counting(ids: torch.Tensor, att: torch.Tensor) -> torch.Tensor:
        encoded.append(ids.shape[0])
        return original(ids, att)

    model._encode_alone = counting                                       # type: ignore[method-assign]
    got = score_pairs(model, pairs, batch_size=5)                        # 3 batches: texts repeat across them
    assert got == pytest.approx(expected, abs=1e-5)
    distinct = len(set(docs) | set(queries))                              # "fox" is a query and a passage
    assert sum(encoded) == distinct == 6                                 # not 2 x 12 pairs
    assert model._alone_cache is None                                    # the scope ends with the call
    model.train()
    batch = model.collate(pairs[:2])
    model(batch).sum().backward()                                        # training never reads a cache,
    assert sum(encoded) == distinct + 3                                  # but encodes the shared query once
    assert model.bert.bert.encoder.layer[0].attention.self.query.weight.grad is not None


@pytest.mark.parametrize("match", ["pacrr", "both"])
def test_cedr_pacrr_head_reads_query_terms_in_order_and_starts_as_the_cls_head(tok: Any, tmp_path: Path,
                                                                                 match: str) -> None:
    from irprune.models import load_checkpoint, save_checkpoint
    from irprune.models.kernel_pooling import cosine_matrix

    model = build_model("monobert", model_config("monobert", "small", {
        **TINY, "pooling": "cedr", "cedr_match": match, "max_query_len": 4}), tok, seed=0)
    assert hasattr(model, "kernels") == (match == "both")
    batch = model.collate([("bert pruning", "pruning removes weights from bert"), ("fox", "a cross encoder")])
    model.eval()
    with torch.no_grad():
        cls_only = model.bert.classifier(model.bert.bert(**{k: batch[k] for k in (
            "input_ids", "attention_mask", "token_type_ids")}).last_hidden_state[:, 0])
        assert torch.allclose(model(batch), cls_only[:, 1] - cls_only[:, 0], atol=1e-5)   # zero last layers
        torch.nn.init.normal_(model.pacrr_head[-1].weight)
        if match == "both":
            torch.nn.init.normal_(model.kernel_head.weight)
        out = model.bert.bert(**{k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")},
                              output_hidden_states=True)
        ids, types, att = batch["input_ids"], batch["token_type_ids"], batch["attention_mask"]
        content = att.bool() & (ids != tok.sep_token_id) & (ids != tok.cls_token_id)
        q, d = content & (types == 0), content & (types == 1)
        # row i of the head's input is query term i: rows 1..4 of the joint sequence, padded to 4
        sim = torch.stack([cosine_matrix(h[:, 1:5], h) for h in out.hidden_states], dim=1)
        expect = model.bert.classifier(out.last_hidden_state[:, 0])
        expect = expect[:, 1] - expect[:, 0] + model.pacrr_head(model.pacrr(sim, q[:, 1:5], d).flatten(1))[:, 0]
        if match == "both":
            feats = torch.cat([model.kernels(cosine_matrix(h, h), q, d) for h in out.hidden_states], dim=-1)
            expect = expect + model.kernel_head(feats)[:, 0]
        assert torch.allclose(model(batch), expect, atol=1e-5)
    from irprune.pruning.prunable import prunable_parameters

    assert any(n.startswith("pacrr.convs") for n, _ in model.named_parameters())
    assert not any(n.startswith("pacrr") for n in prunable_parameters(model, ("linear", "conv")))
    save_checkpoint(model, tmp_path / "m")
    again = load_checkpoint(tmp_path / "m")
    again.eval()
    with torch.no_grad():
        assert torch.allclose(again(batch), model(batch), atol=1e-5)


def test_the_prior_reads_each_side_at_its_own_length(tok: Any) -> None:
    """``prior_doc_tokens`` / ``prior_query_tokens`` set the lengths of the texts encoded alone ([CLS] and [SEP]
    counted, as the first stage's dense encoder counts them), whatever the joint input's lengths are."""
    long_doc = " ".join(["pruning removes weights from bert"] * 6)
    base = {**TINY, "pooling": "cedr", "biencoder_prior": True, "max_doc_len": 6}
    plain = build_model("monobert", model_config("monobert", "small", base), tok, seed=0)
    longer = build_model("monobert", model_config("monobert", "small", {**base, "prior_doc_tokens": 20,
                                                                       "prior_query_tokens": 3}), tok, seed=0)
    a, b = plain.collate([("bert pruning", long_doc)]), longer.collate([("bert pruning", long_doc)])
    assert torch.equal(a["input_ids"], b["input_ids"])                   # the cross-encoder's input is the same
    assert a["d_input_ids"].shape[1] == 6 + 2 and b["d_input_ids"].shape[1] == 20
    assert b["q_input_ids"].shape[1] == 3 and b["q_input_ids"][0, -1] == tok.sep_token_id
    with pytest.raises(ConfigError, match="prior_doc_tokens = 65 exceeds the model maximum of 64 positions"):
        model_config("monobert", "small", {**base, "prior_doc_tokens": 65})
