"""Tokenisation for the rankers: a word vocabulary (kernel models) and a trained WordPiece tokenizer (BERT)."""

from .vocab import PAD, UNK, Vocab, VocabConfig, init_embeddings, load_word_vectors, word_tokenize
from .wordpiece import WordPieceConfig, load_tokenizer, save_tokenizer, train_wordpiece

__all__ = ["PAD", "UNK", "Vocab", "VocabConfig", "init_embeddings", "load_word_vectors", "word_tokenize",
           "WordPieceConfig", "train_wordpiece", "save_tokenizer", "load_tokenizer"]
