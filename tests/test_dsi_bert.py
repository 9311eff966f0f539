"""DSI with ``dsi.model.arch: bert``: a BERT encoder warm-started from a registered, hash-checked checkpoint and a
small decoder from scratch.  A tiny BERT checkpoint is written and registered here (the real one is only read by
the last test, skipped without it)."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
from pathlib import Path

import pytest
import torch

from irprune import weights
from irprune.config import from_mapping
from irprune.dsi.arch import ARCHS, BERT_DECODER
from irprune.dsi.config import ARCH_NAMES, DSIIdConfig, DSIModelConfig, DSIPruneConfig, DSITrainConfig
from irprune.dsi.data import build_examples
from irprune.dsi.ids import build_ids
from irprune.dsi.model import build_model, load_dsi, pad_rows, save_dsi
from irprune.dsi.prune import dsi_prunable, prune_recover
from irprune.dsi.retrieve import retrieve, score_ids
from irprune.dsi.train import make_batch_fn, param_groups, train_dsi
from irprune.errors import ConfigError, DataFormatError
from irprune.pruning import current_mask

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / ".cache" / "models" / "minilm-l6"
WORDS = [f"w{i}" for i in range(60)]
NAME = "tiny-bert-test"
HIDDEN, LAYERS = 32, 3
CFG = DSIModelConfig(arch="bert", checkpoint=NAME, num_decoder_layers=1, num_heads=4, d_ff=64)
TRAIN = DSITrainConfig(steps=1, batch_size=16, warmup_steps=0, chunk_len=6, lr=1e-3, eval_every=1000, threads=0)


@pytest.fixture(scope="module")
def ckpt_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-layer BERT (hidden 32) with a WordPiece tokenizer, saved as a registered checkpoint's four files."""
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel

    root = tmp_path_factory.mktemp("ckpt")
    d = root / ".cache" / "models" / NAME
    d.mkdir(parents=True)
    (root / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    BertWordPieceTokenizer(str(root / "vocab.txt"), lowercase=True).save(str(d / "tokenizer.json"))
    (d / "vocab.txt").write_bytes((root / "vocab.txt").read_bytes())
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=5 + len(WORDS), hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                         num_attention_heads=4, intermediate_size=64, max_position_embeddings=64)
              ).save_pretrained(str(d))
    return root


@pytest.fixture
def ckpt(ckpt_files: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Register the tiny checkpoint with its sha256s and run from the folder whose project cache holds it."""
    d = ckpt_files / ".cache" / "models" / NAME
    files = {f: hashlib.sha256((d / f).read_bytes()).hexdigest()
             for f in ("model.safetensors", "config.json", "vocab.txt", "tokenizer.json")}
    monkeypatch.setitem(weights.CHECKPOINTS, NAME, weights.Checkpoint(
        name=NAME, hub_id="nobody/tiny-bert", revision="0" * 40, files=files, licence="none", about="test"))
    monkeypatch.setattr(weights, "_from_hf", lambda c, allow_download: None)
    monkeypatch.chdir(ckpt_files)
    return d


def corpus(n: int = 12, seed: int = 0) -> tuple[dict[str, str], dict[str, str]]:
    rng = random.Random(seed)
    docs = {str(100 + i): " ".join(rng.sample(WORDS, 12)) for i in range(n)}
    queries = {f"q{i}": " ".join(rng.sample(t.split(), 3)) for i, t in enumerate(docs.values())}
    return docs, queries


def tiny(scheme: str = "semantic", n: int = 12, cfg: DSIModelConfig = CFG, seed: int = 0):
    docs, queries = corpus(n)
    ids = build_ids(list(docs), docs, DSIIdConfig(scheme=scheme, k=3, c=3, embedding_dim=4))
    return docs, queries, build_model(cfg, list(docs.values()), ids, seed=seed)


def test_arch_names_are_the_registry_and_a_bad_arch_lists_them() -> None:
    assert sorted(ARCH_NAMES) == ARCHS.names()
    with pytest.raises(ConfigError, match=r"dsi\.model\.arch = 'bart' is not allowed; expected one of t5, bert"):
        from_mapping(DSIModelConfig, {"arch": "bart"}, prefix="dsi.model")


def test_construction_warm_starts_the_encoder_and_lays_out_the_id_vocabulary(ckpt: Path) -> None:
    from safetensors.torch import load_file

    docs, _, m = tiny(cfg=dataclasses.replace(CFG, keep_layers=2))
    net = m.net
    # encoder = the checkpoint's first 2 layers, its weights bit-identical; no pooler
    stored = load_file(str(ckpt / "model.safetensors"))
    enc = net.get_encoder().state_dict()
    assert len(net.get_encoder().encoder.layer) == 2 and net.get_encoder().pooler is None
    for k, v in enc.items():
        assert torch.equal(v, stored[k] if k in stored else stored["bert." + k]), k
    # decoder: from scratch, hidden = the encoder's, causal + cross-attention, vocabulary = 3 specials + id tokens
    dec = net.get_decoder()
    assert dec.config.hidden_size == HIDDEN and dec.config.is_decoder and dec.config.add_cross_attention
    assert dec.config.num_hidden_layers == 1
    assert dec.get_input_embeddings().num_embeddings == 3 + m.docids.n_tokens
    assert (m.pad_id, m.eos_id, m.start_id) == tuple(BERT_DECODER) == (0, 1, 2) and m.id_offset == 3
    assert dec.get_output_embeddings().weight is dec.get_input_embeddings().weight
    assert m.target(next(iter(docs)))[-1] == 1 and min(m.target(next(iter(docs)))[:-1]) >= 3
    # input: the checkpoint's own WordPiece tokenizer, [CLS] text [SEP]
    ids, mask = m.encode(["w3 w59 w3"], 16)
    assert ids.tolist() == [[2, 8, 64, 8, 3]] and mask.tolist() == [[1] * 5]


@pytest.mark.parametrize("scheme", ["atomic", "naive", "semantic"])
def test_constrained_decoding_returns_only_valid_ids_with_exact_scores(ckpt: Path, scheme: str) -> None:
    docs, queries, m = tiny(scheme)
    run = retrieve(m, queries, beam_size=5, batch_size=4)
    for ranking in run.values():
        assert len(ranking) == 5 and set(ranking) <= set(docs)
    full = retrieve(m, {"q": queries["q0"]}, beam_size=len(docs))["q"]
    exact = score_ids(m, queries["q0"], list(docs))
    assert set(full) == set(docs)
    for d, s in exact.items():
        assert math.isfinite(s) and full[d] == pytest.approx(s, abs=1e-4)


def test_save_load_round_trip_gives_identical_generations(ckpt: Path, tmp_path: Path) -> None:
    docs, queries, m = tiny()
    save_dsi(m, tmp_path / "dsi")
    back = load_dsi(tmp_path / "dsi", docids=m.docids)
    assert back.cfg == m.cfg and back.id_offset == 3 and type(back.net) is type(m.net)
    assert back.net.get_encoder().pooler is None
    assert back.net.get_decoder().get_output_embeddings().weight is back.net.get_decoder().get_input_embeddings().weight
    ids, mask = m.encode(list(queries.values()), 16)
    labels, lmask = pad_rows([m.target(d) for d in list(docs)[: len(queries)]], 0)
    labels = labels.masked_fill(lmask == 0, -100)
    m.net.eval()
    assert torch.equal(m.net(input_ids=ids, attention_mask=mask, labels=labels).logits,
                       back.net(input_ids=ids, attention_mask=mask, labels=labels).logits)
    assert retrieve(m, queries, 6) == retrieve(back, queries, 6)
    (tmp_path / "dsi" / ARCHS.get("bert").config_file).unlink()
    with pytest.raises(DataFormatError, match="bert config of the checkpoint is missing"):
        load_dsi(tmp_path / "dsi")


def test_one_train_step_lowers_the_loss_on_its_batch(ckpt: Path) -> None:
    docs, queries, m = tiny()
    pairs_q = {q: t for q, t in queries.items()}
    qrels = {q: {d: 1} for q, d in zip(queries, docs)}
    ex = build_examples(m.tokenizer.encode, docs, list(docs), pairs_q, qrels, 32, 8)
    batch = make_batch_fn(m, ex, TRAIN)()          # the batch train_dsi draws first (same seed)
    assert batch["input_ids"][:, 0].eq(2).all()     # every input starts with [CLS]
    with torch.no_grad():
        before = m.net.eval()(**batch).loss.item()
    res = train_dsi(m, ex, TRAIN, log=None)
    with torch.no_grad():
        after = m.net.eval()(**batch).loss.item()
    assert res.losses[0] == pytest.approx(before, rel=1e-5)
    assert after < before


def test_pruned_bert_dsi_reports_the_right_sparsity(ckpt: Path) -> None:
    docs, queries, m = tiny()
    ex = build_examples(m.tokenizer.encode, docs, list(docs), {}, {}, 32, 8)
    prunable = dsi_prunable(m.net)
    out_layer = "decoder.cls.predictions.decoder.weight"
    assert not any("embeddings" in n for n in prunable) and out_layer not in prunable
    assert any(n.startswith("encoder.encoder.layer.") for n in prunable)
    assert any(".crossattention." in n for n in prunable)
    with_emb = dsi_prunable(m.net, include_embeddings=True)
    assert "decoder.bert.embeddings.word_embeddings.weight" in with_emb      # the tied id-token output layer
    out_before = m.net.get_decoder().get_output_embeddings().weight.detach().clone()
    res = prune_recover(m, 0.5, ex, TRAIN, DSIPruneConfig(recovery_steps=2, scope="layerwise"), log=None,
                        keep_masks=True)
    assert set(current_mask(m.net)) == set(prunable)
    seen = [m.net.get_submodule(n.rsplit(".", 1)[0]).weight for n in prunable]     # as the forward pass sees them
    zeros, total = sum(int((w == 0).sum()) for w in seen), sum(w.numel() for w in seen)
    assert res.sparsity["all"] == pytest.approx(zeros / total) and res.sparsity["all"] == pytest.approx(0.5, abs=0.01)
    assert res.sparsity["encoder"] == pytest.approx(0.5, abs=0.01)
    assert res.sparsity["decoder"] == pytest.approx(0.5, abs=0.01)
    out_after = m.net.get_decoder().get_output_embeddings().weight
    assert (out_after == 0).float().mean() < 0.2 and not torch.equal(out_after, out_before)   # trained, not pruned
    assert set(retrieve(m, queries, 4)["q0"]) <= set(docs)


def test_encoder_lr_scale_slows_only_the_weights_the_encoder_alone_uses(ckpt: Path) -> None:
    docs, _, m = tiny()
    enc, rest = param_groups(m.net, 1e-3, 0.1)
    assert enc["lr"] == pytest.approx(1e-4) and rest["lr"] == 1e-3
    assert {id(p) for p in enc["params"]} == {id(p) for p in m.net.get_encoder().parameters()}
    assert len(enc["params"]) + len(rest["params"]) == len(list(m.net.parameters()))
    (one,) = param_groups(m.net, 1e-3, 1.0)
    assert [id(p) for p in one["params"]] == [id(p) for p in m.net.parameters()]
    # T5: the embedding shared by encoder and decoder (and the output layer) keeps the full rate
    t5 = build_model(DSIModelConfig(d_model=16, d_kv=4, d_ff=32, num_heads=4, num_layers=1, num_decoder_layers=1),
                     list(docs.values()), m.docids).net
    enc, rest = param_groups(t5, 1e-3, 0.1)
    assert any(p is t5.shared.weight for p in rest["params"])
    assert all(p is not t5.shared.weight for p in enc["params"])
    assert any(p is t5.encoder.block[0].layer[0].SelfAttention.q.weight for p in enc["params"])


@pytest.mark.parametrize("change, match", [
    ({"pretrained": "some/t5"}, "pretrained = 'some/t5' is a T5 checkpoint, read only by arch t5"),
    ({"keep_layers": 4}, "keep_layers = 4 exceeds the 3 layers"),
    ({"num_heads": 5}, "num_heads = 5 must divide the hidden size 32"),
])
def test_bad_bert_settings_name_the_key_and_the_fix(ckpt: Path, change: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        tiny(cfg=dataclasses.replace(CFG, **change))


def test_a_tampered_checkpoint_is_refused(ckpt: Path) -> None:
    path = ckpt / "vocab.txt"
    original = path.read_bytes()
    try:
        path.write_bytes(original + b"extra\n")
        with pytest.raises(ConfigError, match="vocab.txt: sha256 .* does not match"):
            tiny()
    finally:
        path.write_bytes(original)


@pytest.mark.skipif(not (REAL / "model.safetensors").is_file(), reason="the minilm-l6 checkpoint is not fetched "
                    "(`python -m irprune.weights fetch minilm-l6`)")
def test_the_real_checkpoint_builds_a_two_layer_warm_started_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    docs, queries = corpus(6)
    ids = build_ids(list(docs), docs, DSIIdConfig(scheme="atomic"))
    m = build_model(DSIModelConfig(arch="bert", keep_layers=2), list(docs.values()), ids)
    enc = m.net.get_encoder()
    assert enc.config.hidden_size == 384 and len(enc.encoder.layer) == 2 and len(m.tokenizer) == 30522
    vocab = (REAL / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert m.tokenizer.encode("Retrieval") == [vocab.index("retrieval")]
    assert set(retrieve(m, queries, 6)["q0"]) == set(docs)
