"""Real-word surface forms of the synthetic collection: the lexicon, embedding-neighbour synonyms, the generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from irprune.config import from_mapping
from irprune.data.synthetic import SyntheticConfig, generate_with_truth
from irprune.data.synthetic_lexicon import (FUNCTION_WORDS, QUESTION_WORDS, Lexicon, WordDrawer, load_lexicon,
                                            stop_words)
from irprune.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / ".cache" / "models" / "minilm-l6"
SMALL = {"n_docs": 300, "n_train_queries": 40, "n_dev_queries": 20, "n_test_queries": 20, "n_entities": 200,
         "n_relations": 10, "n_topics": 6, "entities_per_topic": 30, "facts_per_topic": 120,
         "n_background_words": 100, "lexicon_size": 3000}


def _fake_checkpoint(d: Path) -> list[str]:
    """A vocab.txt (specials, subwords, stop words, content words) and embeddings where word 2k and 2k+1 of the
    content words are near each other and far from the rest."""
    from safetensors.numpy import save_file

    content = [f"{a}{b}word" for a in "abcdefgh" for b in "abcd"]            # 32 content words
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "##ing", "x", "ab", *FUNCTION_WORDS, *QUESTION_WORDS, "Upper",
             "with-dash", *content]
    d.mkdir(parents=True, exist_ok=True)
    (d / "vocab.txt").write_text("\n".join(vocab))
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(len(vocab), 16)).astype(np.float32)
    start = vocab.index(content[0])
    for k in range(0, len(content), 2):
        emb[start + k + 1] = emb[start + k] + 0.01 * rng.normal(size=16)
    save_file({"embeddings.word_embeddings.weight": emb}, str(d / "model.safetensors"))
    return content


def test_lexicon_keeps_lowercase_whole_words_that_are_not_stop_words(tmp_path: Path) -> None:
    content = _fake_checkpoint(tmp_path)
    lex = load_lexicon(tmp_path, size=20)
    assert lex.words == tuple(content[:20])
    assert not set(lex.words) & stop_words()
    assert lex.unit is not None and np.allclose(np.linalg.norm(lex.unit, axis=1), 1.0, atol=1e-5)
    with pytest.raises(ConfigError, match="lexicon_size"):
        load_lexicon(tmp_path, size=100)
    (tmp_path / "vocab.txt").unlink()
    with pytest.raises(ConfigError, match="no vocab.txt"):
        load_lexicon(tmp_path, size=5)


def test_synonyms_are_the_nearest_unused_neighbours(tmp_path: Path) -> None:
    content = _fake_checkpoint(tmp_path)
    lex = load_lexicon(tmp_path, size=32)
    drawer = WordDrawer(lex, np.random.default_rng(1))
    for _ in range(8):
        head, syn = drawer.synonyms(2)
        i = content.index(head)
        assert content.index(syn) == (i ^ 1)                  # its planted twin, the nearest word
    assert drawer.free.sum() == 32 - 16
    rand = WordDrawer(Lexicon("x", lex.words, None), np.random.default_rng(1))
    assert len(set(rand.synonyms(3))) == 3                     # without embeddings: distinct random words


@pytest.mark.skipif(not REAL.is_dir(), reason="the all-MiniLM-L6-v2 files are not in .cache/models (run make setup)")
def test_words_surface_is_one_checkpoint_token_per_word_and_keeps_the_hidden_world() -> None:
    from transformers import AutoTokenizer

    words = from_mapping(SyntheticConfig, {**SMALL, "surface": "words"})
    pseudo = from_mapping(SyntheticConfig, {**SMALL, "surface": "pseudo"})
    ds, truth = generate_with_truth(words)
    ds_p, truth_p = generate_with_truth(pseudo)
    assert generate_with_truth(words)[0].corpus == ds.corpus                  # pure: same config, same text
    tok = AutoTokenizer.from_pretrained(str(REAL))
    vocab = set(tok.get_vocab())
    tokens = {w for text in ds.corpus.values() for w in text.split()}
    assert tokens <= vocab                                                   # every word is one WordPiece token
    lex = load_lexicon(REAL, SMALL["lexicon_size"])
    index = {w: i for i, w in enumerate(lex.words)}
    forms = [f for f in truth.world.forms if len(f) > 1]
    near = [float(lex.unit[index[f[0]]] @ lex.unit[index[f[1]]]) for f in forms]
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, len(lex.words), size=(500, 2))
    rand = [float(lex.unit[a] @ lex.unit[b]) for a, b in pairs]
    assert np.mean(near) > np.mean(rand) + 0.2                              # synonyms are embedding neighbours
    # the surface changes, the latent structure's shape does not
    assert len(truth.world.forms) == len(truth_p.world.forms)
    assert [len(f) for f in truth.world.forms] == [len(f) for f in truth_p.world.forms]
    assert {s: len(q.queries) for s, q in ds.splits.items()} == {s: len(q.queries) for s, q in ds_p.splits.items()}
