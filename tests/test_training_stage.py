"""Stage-level pieces of training: models.<name> parsing, word vectors, initialisations, bad-input errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from irprune.config import ConfigError
from irprune.errors import RegistryError
from irprune.models import build_model, model_config, save_checkpoint
from irprune.pipeline.train_stage import build_text
from irprune.text import Vocab
from irprune.training import TrainConfig
from irprune.training.init import apply_init
from irprune.training.spec import parse_model_spec
from irprune.training.word_vectors import WordVectorConfig, ppmi_svd, write_word_vectors


def test_model_spec_applies_preset_overrides_and_train_overrides() -> None:
    spec = parse_model_spec("conv_knrm", {"preset": "paper", "n_filters": 32, "train": {"lr": 0.01},
                                          "vocab": {"min_freq": 2}})
    assert spec.config.embedding_dim == 300 and spec.config.n_filters == 32      # paper preset + override
    assert spec.train_config(TrainConfig(lr=0.1, epochs=2)).lr == 0.01
    assert spec.train_config(TrainConfig(lr=0.1, epochs=2)).epochs == 2
    assert spec.vocab.min_freq == 2


@pytest.mark.parametrize("name, section, match", [
    ("bert", {}, "unknown model 'bert'; known models: conformer_kernel, conv_knrm, monobert"),
    ("conv_knrm", {"filters": 3}, "models.conv_knrm.filters"),
    ("conv_knrm", {"preset": "large"}, "models.conv_knrm.preset = 'large'"),
    ("conv_knrm", {"train": {"lr": -1}}, "models.conv_knrm.train.lr"),
    ("conv_knrm", {"train": {"speed": 1}}, "models.conv_knrm.train.speed"),
    ("conv_knrm", {"init": "identity"}, "models.conv_knrm.init = 'identity' is not allowed"),
    ("monobert", {"heads": 3}, "must divide hidden"),
])
def test_bad_model_sections_name_the_key(name: str, section: dict, match: str) -> None:
    with pytest.raises((ConfigError, RegistryError), match=match):
        parse_model_spec(name, section)


def test_ppmi_vectors_put_interchangeable_words_together(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    # "car" and "auto" occur in the same contexts; "tree" in others
    texts = []
    for _ in range(300):
        a, b = rng.choice(["red", "fast", "new"]), rng.choice(["drive", "park", "wash"])
        texts.append(f"{a} {rng.choice(['car', 'auto'])} {b}")
        texts.append(f"{rng.choice(['tall', 'green', 'old'])} tree {rng.choice(['grows', 'falls', 'stands'])}")
    vocab = Vocab.build(texts)
    vec = ppmi_svd(texts, vocab, WordVectorConfig(dim=4, window=1))
    v = {w: vec[vocab.index[w]] for w in ("car", "auto", "tree")}
    assert v["car"] @ v["auto"] > 0.9 and v["car"] @ v["tree"] < 0.5
    n = write_word_vectors(tmp_path / "wv.txt", vocab, vec)
    lines = (tmp_path / "wv.txt").read_text().splitlines()
    assert n == len(lines) == len(vocab) - 2 and all(len(line.split()) == 5 for line in lines)
    with pytest.raises(ValueError, match="dim"):
        ppmi_svd(texts, vocab, WordVectorConfig(dim=len(vocab)))


def test_identity_init_makes_an_exact_match_a_cosine_of_one() -> None:
    vocab = Vocab.build(["a b c d e f g"])
    cfg = model_config("conformer_kernel", "small", {"hidden": 8, "n_heads": 2, "ffn_dim": 8, "n_layers": 1})
    model = apply_init("identity", build_model("conformer_kernel", cfg, vocab, seed=0)).eval()
    b = model.collate([("c", "a b c d")])
    with torch.no_grad():
        q = model.encode_queries(b["query_ids"])                          # [1, 1, H]
        d = model.encode_documents(b["doc_ids"], b["doc_mask"])["doc_vecs"]
        cos = (q @ d.transpose(1, 2))[0, 0]
    assert cos[2].item() == pytest.approx(1.0, abs=1e-5) and cos.argmax().item() == 2


def test_bad_pretrained_checkpoints_stop_with_the_fix(tmp_path: Path) -> None:
    corpus = {"1": "a b c", "2": "b c d"}
    vocab = Vocab.build(corpus.values())
    ck = build_model("conv_knrm", model_config("conv_knrm", "small", {"embedding_dim": 4, "n_filters": 2}), vocab)
    save_checkpoint(ck, tmp_path / "ck")                                    # a ranker checkpoint, not a BERT
    for path, match in ((tmp_path / "missing", "no such directory"),
                        (tmp_path / "ck", r"not a checkpoint directory \(no config.json\)")):
        spec = parse_model_spec("monobert", {"pretrained": str(path)})
        cfg, text = build_text(spec, corpus, tmp_path / "pretrain")
        with pytest.raises(ConfigError, match=match):
            build_model("monobert", cfg, text)
    spec = parse_model_spec("monobert", {})
    with pytest.raises(Exception, match="run `dvc repro pretrain` first"):
        build_text(spec, corpus, tmp_path / "no-pretrain")
    spec = parse_model_spec("conv_knrm", {"embeddings_path": str(tmp_path / "nope.txt")})
    with pytest.raises(ConfigError, match="embeddings_path.*does not exist"):
        build_text(spec, corpus)


def test_sequence_length_above_the_model_maximum_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="exceeds max_len"):
        parse_model_spec("monobert", {"max_doc_len": 200})
