"""Real English surface forms for the synthetic collection, from a pretrained checkpoint's vocabulary.

With ``surface: words`` the hidden world of :mod:`irprune.data.synthetic_world` is unchanged, but it is spelled
in real English words that are single tokens of the checkpoint's WordPiece vocabulary, so a passage costs about
one token per word (pseudo-words cost 3-5 pieces each) and a pretrained encoder can bring what it knows:

* **content words** (entities, relations, background words): lowercase alphabetic whole-word entries of
  ``vocab.txt`` of 3-12 letters, not stop words, the first ``lexicon_size`` in vocabulary order (BERT's
  vocabulary lists whole words roughly by corpus frequency, so these are common words);
* **synonyms** (``synonyms: embedding``): a concept's head form is drawn at random from that pool and its other
  forms are the nearest unused pool words to it by cosine of the checkpoint's input (word-piece) embeddings, the
  way related words cluster in a trained embedding (Mikolov et al. 2013).  So, as in real text, the pretrained
  model knows part of the synonymy that BM25's exact matching cannot see.  ``synonyms: random`` draws every form
  at random (synonymy unknown to everyone, as with pseudo-words);
* **function and question words**: fixed lists of English function words ("the", "of", ...) and question words
  ("what", "who", ...); BM25's short English stop-word list removes the commonest, as it would in real text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError

FUNCTION_WORDS: tuple[str, ...] = (
    "the", "of", "and", "in", "to", "a", "is", "was", "for", "on", "with", "as", "by", "at", "from", "that",
    "it", "its", "this", "an", "be", "are", "were", "or", "which", "but", "has", "had", "have", "also", "their",
    "into", "after", "than", "over", "about", "then", "such", "these", "those", "both", "each", "under", "while",
    "there", "been", "being", "very")
QUESTION_WORDS: tuple[str, ...] = ("what", "who", "which", "where", "when", "how", "why", "whom", "whose")
_WORD = re.compile(r"^[a-z]{3,12}$")


@dataclass(frozen=True)
class Lexicon:
    """The word pool of a checkpoint and, optionally, its unit-normalised input embeddings (one row a word)."""

    source: str
    words: tuple[str, ...]
    unit: np.ndarray | None = None          # [len(words), dim] float32, rows of norm 1 (None: random synonyms)

    def neighbours(self, i: int, allowed: np.ndarray, k: int) -> np.ndarray:
        """The ``k`` pool indices among ``allowed`` (a boolean mask) most similar to word ``i`` by cosine, most
        similar first (``i`` itself excluded; ties by index)."""
        if self.unit is None:
            raise ValueError("this lexicon has no embeddings")
        sims = self.unit @ self.unit[i]
        sims[i] = -np.inf
        sims[~allowed] = -np.inf
        k = min(k, int(allowed.sum()))
        top = np.argpartition(-sims, k - 1)[:k] if 0 < k < len(sims) else np.arange(len(sims))
        return top[np.lexsort((top, -sims[top]))][:k]


def stop_words() -> frozenset[str]:
    """The English stop words BM25 removes (bm25s's list), plus the function and question words above."""
    try:
        from bm25s.stopwords import STOPWORDS_EN
        base = set(STOPWORDS_EN)
    except ImportError:                                   # pragma: no cover - bm25s is a project dependency
        base = set()
    return frozenset(base | set(FUNCTION_WORDS) | set(QUESTION_WORDS))


def load_lexicon(directory: Path, size: int, embeddings: bool = True, source: str = "") -> Lexicon:
    """The first ``size`` content words of ``directory/vocab.txt`` (see the module docstring) and, with
    ``embeddings``, their rows of the checkpoint's ``embeddings.word_embeddings.weight``."""
    vocab_path = directory / "vocab.txt"
    if not vocab_path.is_file():
        raise ConfigError(f"{vocab_path}: no vocab.txt in the checkpoint folder; fix: fetch the checkpoint "
                          "(python -m irprune.weights fetch) or use data.synthetic.surface: pseudo")
    vocab = vocab_path.read_text(encoding="utf-8").split("\n")
    stop = stop_words()
    ids, words = [], []
    for i, tok in enumerate(vocab):
        if _WORD.match(tok) and tok not in stop:
            ids.append(i)
            words.append(tok)
            if len(words) == size:
                break
    missing = [w for w in FUNCTION_WORDS + QUESTION_WORDS if w not in set(vocab)]
    if missing:
        raise ConfigError(f"{vocab_path}: the vocabulary lacks the function/question words {missing}; fix: use an "
                          "English uncased checkpoint or data.synthetic.surface: pseudo")
    if len(words) < size:
        raise ConfigError(f"{vocab_path}: only {len(words)} content words, lexicon_size asks {size}; fix: lower "
                          "data.synthetic.lexicon_size")
    unit = None
    if embeddings:
        from safetensors import safe_open

        weights = directory / "model.safetensors"
        with safe_open(str(weights), framework="numpy") as f:
            key = next((k for k in f.keys() if k.endswith("embeddings.word_embeddings.weight")), None)
            if key is None:
                raise ConfigError(f"{weights}: no embeddings.word_embeddings.weight tensor; fix: use a BERT "
                                  "checkpoint, or data.synthetic.synonyms: random")
            emb = f.get_slice(key)[:].astype(np.float32)[np.asarray(ids)]
        unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    return Lexicon(source=source or str(directory), words=tuple(words), unit=unit)


class WordDrawer:
    """Draws distinct words from a lexicon: random ones, and a random head with its nearest unused neighbours."""

    def __init__(self, lexicon: Lexicon, rng: np.random.Generator) -> None:
        self.lex = lexicon
        self.rng = rng
        self.free = np.ones(len(lexicon.words), dtype=bool)

    def _take(self, i: int) -> str:
        self.free[i] = False
        return self.lex.words[i]

    def random(self, n: int) -> list[str]:
        idx = np.flatnonzero(self.free)
        if len(idx) < n:
            raise ConfigError(f"data.synthetic: the lexicon has {len(idx)} unused words, {n} more are needed; fix: "
                              "raise data.synthetic.lexicon_size or lower the vocabulary sizes")
        return [self._take(int(i)) for i in self.rng.choice(idx, size=n, replace=False)]

    def synonyms(self, n: int) -> list[str]:
        """A random head word and its ``n - 1`` nearest unused neighbours (random words without embeddings)."""
        if self.lex.unit is None or n == 1:
            return self.random(n)
        head = int(self.rng.choice(np.flatnonzero(self.free)))
        out = [self._take(head)]
        for j in self.lex.neighbours(head, self.free, n - 1):
            out.append(self._take(int(j)))
        return out


__all__ = ["FUNCTION_WORDS", "QUESTION_WORDS", "Lexicon", "WordDrawer", "load_lexicon", "stop_words"]
