"""DSI model: constrained beam search (valid ids only, exact scores), checkpoints, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from irprune.dsi.config import DSIIdConfig, DSIModelConfig
from irprune.dsi.ids import build_ids
from irprune.dsi.model import build_model, load_dsi, save_dsi
from irprune.dsi.retrieve import retrieve, score_ids
from irprune.errors import ConfigError, DataFormatError

TINY = DSIModelConfig(d_model=32, d_kv=8, d_ff=64, num_heads=4, num_layers=1, num_decoder_layers=1)
QUERIES = {"1": "w1 w7 w3", "2": "w12 w4", "3": "unseen words here"}


def corpus(n: int = 23) -> dict[str, str]:
    rng = np.random.default_rng(1)
    return {str(100 + 3 * i): " ".join(f"w{j}" for j in rng.integers(0, 30, 10)) for i in range(n)}


def tiny(scheme: str, n: int = 23):
    c = corpus(n)
    ids = build_ids(list(c), c, DSIIdConfig(scheme=scheme, k=3, c=4))
    return c, build_model(TINY, list(c.values()), ids, seed=0)


@pytest.mark.parametrize("scheme", ["atomic", "naive", "semantic"])
def test_constrained_beam_search_returns_only_valid_ids(scheme: str) -> None:
    c, m = tiny(scheme)
    run = retrieve(m, QUERIES, beam_size=8, batch_size=2)
    for q, ranking in run.items():
        assert len(ranking) == 8
        assert set(ranking) <= set(c)
        assert all(math.isfinite(s) and s < 0 for s in ranking.values())


@pytest.mark.parametrize("scheme", ["atomic", "naive", "semantic"])
def test_full_beam_scores_equal_teacher_forced_log_probs(scheme: str) -> None:
    """With the beam as wide as the id space, beam search must find every id with its exact log-probability
    (computed independently by a teacher-forced forward pass)."""
    c, m = tiny(scheme, n=12)
    run = retrieve(m, {"q": QUERIES["1"]}, beam_size=12)
    exact = score_ids(m, QUERIES["1"], list(c))
    assert set(run["q"]) == set(c)
    for d, s in exact.items():
        assert run["q"][d] == pytest.approx(s, abs=1e-4)


def test_beam_larger_than_id_space_is_an_error() -> None:
    _, m = tiny("atomic", n=5)
    with pytest.raises(ConfigError, match="beam_size = 6 exceeds the id space"):
        retrieve(m, QUERIES, beam_size=6)


def test_save_load_round_trip_identical_outputs(tmp_path) -> None:
    c, m = tiny("semantic")
    save_dsi(m, tmp_path / "ckpt")
    back = load_dsi(tmp_path / "ckpt", docids=m.docids)
    ids, mask = m.encode(list(QUERIES.values()), 16)
    labels = torch.tensor([m.target(next(iter(c)))] * len(QUERIES))
    m.net.eval()
    a = m.net(input_ids=ids, attention_mask=mask, labels=labels).logits
    b = back.net(input_ids=ids, attention_mask=mask, labels=labels).logits
    assert torch.equal(a, b)
    assert retrieve(m, QUERIES, 5) == retrieve(back, QUERIES, 5)
    assert back.tokenizer.tokens == m.tokenizer.tokens and back.id_offset == m.id_offset


def test_checkpoint_with_other_ids_is_rejected(tmp_path) -> None:
    c, m = tiny("atomic")
    save_dsi(m, tmp_path / "ckpt")
    other = build_ids(list(c)[:-1] + ["999999"], {**c, "999999": "x"}, DSIIdConfig(scheme="atomic"))
    with pytest.raises(DataFormatError, match="differ from the requested"):
        load_dsi(tmp_path / "ckpt", docids=other)
    # a docids file that does not match the saved vocabulary (one more id token than the embedding has rows)
    data = json.loads((tmp_path / "ckpt" / "docids.json").read_text())
    data["ids"]["999999"] = [data["n_tokens"]]
    data["n_tokens"] += 1
    (tmp_path / "ckpt" / "docids.json").write_text(json.dumps(data))
    with pytest.raises(DataFormatError, match="vocabulary has .* rows"):
        load_dsi(tmp_path / "ckpt")


def test_missing_or_corrupt_checkpoint(tmp_path) -> None:
    with pytest.raises(DataFormatError, match="not a DSI checkpoint"):
        load_dsi(tmp_path)
    _, m = tiny("atomic")
    save_dsi(m, tmp_path / "ckpt")
    (tmp_path / "ckpt" / "model.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(DataFormatError, match="model.safetensors"):
        load_dsi(tmp_path / "ckpt")


def test_hub_id_offline_says_to_pass_a_local_directory() -> None:
    c = corpus(4)
    ids = build_ids(list(c), c, DSIIdConfig())
    with pytest.raises(ConfigError, match="pass that local directory"):
        build_model(DSIModelConfig(pretrained="t5-small"), list(c.values()), ids)


def test_from_pretrained_local_directory_adds_id_tokens(tmp_path) -> None:
    """A local T5 checkpoint (saved here with a word-level fast tokenizer) loads offline; ids go after its vocab."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{f"w{i}": 3 + i for i in range(30)}}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="</s>",
                            unk_token="<unk>").save_pretrained(tmp_path / "t5")
    T5ForConditionalGeneration(T5Config(vocab_size=40, d_model=16, d_kv=4, d_ff=32, num_layers=1, num_heads=2,
                                        decoder_start_token_id=0)).save_pretrained(tmp_path / "t5")
    c = corpus(6)
    ids = build_ids(list(c), c, DSIIdConfig(scheme="atomic"))
    m = build_model(DSIModelConfig(pretrained=str(tmp_path / "t5")), list(c.values()), ids)
    assert m.id_offset == 40 and m.net.get_input_embeddings().num_embeddings == 46
    assert m.tokenizer.encode("w1 w2") == [4, 5]
    run = retrieve(m, {"q": "w1 w2"}, beam_size=6)
    assert set(run["q"]) == set(c)
    save_dsi(m, tmp_path / "ckpt")
    assert retrieve(load_dsi(tmp_path / "ckpt"), {"q": "w1 w2"}, beam_size=6) == run
