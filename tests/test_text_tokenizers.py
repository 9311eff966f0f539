"""Word vocabulary and collection-trained WordPiece tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from irprune.config import from_mapping
from irprune.errors import ConfigError, DataFormatError
from irprune.text import (PAD, UNK, Vocab, VocabConfig, WordPieceConfig, init_embeddings, load_tokenizer,
                          load_word_vectors, save_tokenizer, train_wordpiece, word_tokenize)

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Neural ranking models re-rank BM25 candidates for ad-hoc retrieval.",
    "Kernel pooling counts soft matches between query and document terms.",
    "Pruning removes weights from BERT while keeping ranking quality.",
    "Café résumé: accents are stripped by the uncased normaliser.",
    "The fox, the dog and the query walk into a document.",
]


def test_word_tokenize_and_vocab_order() -> None:
    assert word_tokenize("Re-rank BM25's TOP-k!") == ["re", "rank", "bm25", "s", "top", "k"]
    v = Vocab.build(CORPUS)
    assert v.tokens[:2] == (PAD, UNK)
    counts: dict[str, int] = {}
    for t in CORPUS:
        for w in word_tokenize(t):
            counts[w] = counts.get(w, 0) + 1
    assert len(v) == len(counts) + 2
    assert v.tokens[2] == "the" and counts["the"] == max(counts.values())
    freqs = [counts[w] for w in v.tokens[2:]]
    assert freqs == sorted(freqs, reverse=True)
    assert Vocab.build(reversed(CORPUS)) == v                      # order-independent, deterministic


def test_vocab_limits_encode_and_batch() -> None:
    v = Vocab.build(CORPUS, VocabConfig(min_freq=2))
    words = [w for t in CORPUS for w in word_tokenize(t)]
    assert set(v.tokens[2:]) == {w for w in words if words.count(w) >= 2}
    assert {"the", "fox", "dog"} <= set(v.tokens) and "zebra" not in v.index
    assert len(Vocab.build(CORPUS, VocabConfig(max_size=5))) == 5
    assert v.encode("the zebra fox") == [v.index["the"], 1, v.index["fox"]]
    ids, mask = v.encode_batch(["the fox the dog", "", "fox"], max_len=3)
    assert ids.shape == (3, 3) and ids[0].tolist() == [v.index[w] for w in ("the", "fox", "the")]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 0], [1, 0, 0]]
    with pytest.raises(ConfigError, match="min_freq"):
        from_mapping(VocabConfig, {"min_freq": 0})


def test_vocab_save_load_and_errors(tmp_path: Path) -> None:
    v = Vocab.build(CORPUS)
    v.save(tmp_path / "vocab.json")
    assert Vocab.load(tmp_path / "vocab.json") == v
    (tmp_path / "bad.json").write_text('{"format": "irprune-vocab-v1", "tokens": ["a"', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"bad\.json.*not valid JSON.*delete it"):
        Vocab.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"tokens": ["x"]}), encoding="utf-8")
    with pytest.raises(DataFormatError, match="other.json"):
        Vocab.load(tmp_path / "other.json")


def test_embeddings_random_and_from_vectors(tmp_path: Path) -> None:
    v = Vocab.build(CORPUS)
    w = init_embeddings(v, 4, generator=torch.Generator().manual_seed(0))
    assert w.shape == (len(v), 4) and torch.all(w[0] == 0) and w[1:].abs().sum() > 0
    assert torch.equal(w, init_embeddings(v, 4, generator=torch.Generator().manual_seed(0)))
    vec = tmp_path / "vec.txt"
    vec.write_text("3 4\nfox 1 2 3 4\nzebra 9 9 9 9\nthe 0.5 0 0 -1\n", encoding="utf-8")
    out, found = load_word_vectors(vec, v, w)
    assert found == 2 and out[v.index["fox"]].tolist() == [1, 2, 3, 4]
    assert torch.equal(out[v.index["dog"]], w[v.index["dog"]])
    vec.write_text("fox 1 2 3 4\nthe 1 2\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"vec\.txt:2: expected a word and 4 numbers, got 2"):
        load_word_vectors(vec, v, w)


def test_wordpiece_trains_round_trips_and_saves(tmp_path: Path) -> None:
    tok = train_wordpiece(CORPUS * 3, WordPieceConfig(vocab_size=150, min_frequency=1))
    assert 10 < len(tok) <= 150
    assert [tok.convert_ids_to_tokens(i) for i in range(5)] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    text = "pruning bert rankers keeps the quick fox"
    enc = tok(text)
    assert enc["input_ids"][0] == tok.cls_token_id and enc["input_ids"][-1] == tok.sep_token_id
    assert tok.unk_token_id not in enc["input_ids"]                   # every char was in the training alphabet
    assert tok.decode(enc["input_ids"], skip_special_tokens=True) == text
    assert tok.decode(tok("Café RÉSUMÉ")["input_ids"], skip_special_tokens=True) == "cafe resume"
    pair = tok("the query", "the document")
    assert pair["token_type_ids"] == [0] * 4 + [1] * 3
    save_tokenizer(tok, tmp_path / "tok")
    again = load_tokenizer(tmp_path / "tok")
    assert again(text, "kernel pooling")["input_ids"] == tok(text, "kernel pooling")["input_ids"]
    assert again.mask_token_id == tok.mask_token_id and len(again) == len(tok)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]     # no temp dirs left behind
    with pytest.raises(DataFormatError, match="not a tokenizer directory"):
        load_tokenizer(tmp_path)


@pytest.mark.shared_data
def test_wordpiece_on_real_msmarco_passages(shared_data: Path) -> None:
    path = shared_data / "msmarco-passage-dl19-subset" / "beir-format" / "corpus.jsonl"
    with open(path, encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for _, line in zip(range(300), fh)]
    tok = train_wordpiece(texts, WordPieceConfig(vocab_size=2000))
    ids = tok(texts[:50], add_special_tokens=False)["input_ids"]
    n_tokens = sum(len(i) for i in ids)
    n_words = sum(len(t.split()) for t in texts[:50])
    assert n_words <= n_tokens < 2.5 * n_words                        # sub-word units, not characters
    unk = sum(i.count(tok.unk_token_id) for i in ids)
    assert unk / n_tokens < 0.01
