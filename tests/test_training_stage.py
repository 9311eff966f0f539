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
from irprune.training.word_vectors import (WordVectorConfig, checkpoint_vectors, ppmi_svd, word_vectors,
                                          write_word_vectors)


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


def _fake_bert_checkpoint(d: Path) -> list[str]:
    """A word-piece vocabulary and embedding matrix where whole words 2k and 2k+1 are near each other, plus the
    pieces ``zo`` / ``##om`` of a word the vocabulary lacks."""
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    words = [f"{a}{b}" for a in "abcdef" for b in "xy"]                       # 12 whole words, 6 twin pairs
    pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "zo", "##om", *words]
    d.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.WordPiece({p: i for i, p in enumerate(pieces)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.save(str(d / "tokenizer.json"))
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(len(pieces), 16)) + 3.0                            # a shared offset, as trained tables have
    for k in range(len(pieces) - len(words), len(pieces), 2):
        emb[k + 1] = emb[k] + 0.05 * rng.normal(size=16)
    save_file({"embeddings.word_embeddings.weight": emb.astype(np.float32)}, str(d / "model.safetensors"))
    return words


def test_checkpoint_vectors_keep_the_checkpoints_neighbours(tmp_path: Path) -> None:
    words = _fake_bert_checkpoint(tmp_path / "ckpt")
    vocab = Vocab.build([" ".join(words + ["zoom"])])
    vec = checkpoint_vectors(vocab, tmp_path / "ckpt", dim=4)
    assert vec.shape == (len(vocab), 4)
    assert not vec[vocab.pad_id].any() and not vec[vocab.unk_id].any()
    rows = [vocab.index[w] for w in words]
    assert np.allclose(np.linalg.norm(vec[rows], axis=1), 1.0)
    sims = vec[rows] @ vec[rows].T
    np.fill_diagonal(sims, -2)
    assert [int(j) for j in sims.argmax(axis=1)] == [i ^ 1 for i in range(len(words))]   # each word's twin
    assert abs(float(vec[rows].mean(axis=0) @ vec[rows].mean(axis=0))) < 0.5     # centred: no shared direction
    from safetensors.numpy import load_file
    table = load_file(str(tmp_path / "ckpt" / "model.safetensors"))["embeddings.word_embeddings.weight"]
    full = checkpoint_vectors(vocab, tmp_path / "ckpt", dim=12)               # 13 centred rows span 12 dims
    mean_zoom = table[[5, 6]].mean(axis=0)                                    # a word of two pieces: their mean
    ids = [i for i in range(len(vocab)) if i not in (vocab.pad_id, vocab.unk_id)]
    raw = np.stack([table[[7 + words.index(vocab.tokens[i])]].mean(axis=0) if vocab.tokens[i] in words
                    else mean_zoom for i in ids])
    centred = raw - raw.mean(axis=0)
    z = ids.index(vocab.index["zoom"])
    assert np.allclose(np.abs(full[ids] @ full[ids][z]),
                       np.abs(centred @ centred[z]) / np.linalg.norm(centred, axis=1) / np.linalg.norm(centred[z]),
                       atol=1e-6)
    with pytest.raises(ConfigError, match="pretrain.word_vectors.dim = 32"):
        checkpoint_vectors(vocab, tmp_path / "ckpt", dim=32)
    with pytest.raises(ValueError, match="number of words"):
        checkpoint_vectors(vocab, tmp_path / "ckpt", dim=13)


def test_word_vector_methods_are_a_checked_choice() -> None:
    from irprune.config import from_mapping

    texts = [f"red {w} drives" for w in ("car", "auto")] * 20 + ["tall tree grows"] * 20
    vocab = Vocab.build(texts)
    assert np.allclose(word_vectors(texts, vocab, WordVectorConfig(dim=2, window=1)),
                       ppmi_svd(texts, vocab, WordVectorConfig(dim=2, window=1)))
    with pytest.raises(ConfigError, match="pretrain.word_vectors.method"):
        from_mapping(WordVectorConfig, {"method": "glove"}, prefix="pretrain.word_vectors")
    with pytest.raises(ConfigError, match=r"pretrain.word_vectors.checkpoint = 'bert-huge' .*minilm-l6"):
        from_mapping(WordVectorConfig, {"method": "checkpoint", "checkpoint": "bert-huge"},
                     prefix="pretrain.word_vectors")


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


@pytest.mark.parametrize("term_hidden", [0, 4])
def test_residual_init_starts_every_seed_at_uniform_scores_and_learns_exact_match(term_hidden: int) -> None:
    from irprune.training.losses import group_loss

    vocab = Vocab.build(["a b c d e f g h"])
    cfg = model_config("conformer_kernel", "small", {"hidden": 8, "n_heads": 2, "ffn_dim": 8, "n_layers": 1,
                                                     "term_hidden": term_hidden, "dropout": 0.0})
    pairs = [("c", "a b c d"), ("c", "e f g h"), ("e", "e f a b"), ("e", "c d g h")]   # positive first per group
    for seed in (0, 1, 2):
        model = apply_init("residual", build_model("conformer_kernel", cfg, vocab, seed=seed))
        batch = model.collate(pairs)
        with torch.no_grad():
            assert torch.equal(model(batch), torch.zeros(4))                 # the same start at every seed
        assert model.query_proj.weight.detach().equal(torch.eye(8))         # and the identity match beneath
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        for _ in range(20):
            loss = group_loss("listwise", model(batch).view(2, 2), 1.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
        s = model.eval()(batch).detach()
        assert s[0] > s[1] and s[2] > s[3]                                   # the exact match ranks first


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
