"""Word vocabulary for the kernel models (Conv-KNRM, Conformer-Kernel), built from a corpus.

Tokenisation is deliberately simple and documented: NFKC-normalise, lowercase, split on ``\\w+`` (Unicode word
characters).  Id 0 is ``[PAD]`` and id 1 is ``[UNK]``; the other tokens are ordered by descending collection
frequency, ties broken alphabetically, so a vocabulary built twice from the same corpus is identical.
Embeddings are initialised randomly (seeded) or, optionally, from a word-vector text file (GloVe / word2vec
text / fastText ``.vec``), as the kernel-model papers do (Xiong et al. 2017; Dai et al. 2018 use word2vec-style
embeddings; Mitra et al. 2021 train fastText on the collection).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

import torch

from ..config import frozen, param
from ..errors import DataFormatError
from ..io import atomic_write_json

PAD = "[PAD]"
UNK = "[UNK]"
_WORD = re.compile(r"\w+")
FORMAT = "irprune-vocab-v1"


def word_tokenize(text: str) -> list[str]:
    """NFKC-normalised, lowercased ``\\w+`` tokens of ``text``."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


@frozen
class VocabConfig:
    """How the word vocabulary is built from the corpus."""

    min_freq: int = param(1, ge=1, doc="drop words seen fewer times than this in the corpus")
    max_size: Optional[int] = param(None, ge=3, doc="keep at most this many entries (specials included)")


@dataclass(frozen=True)
class Vocab:
    """An immutable token list; ``index`` maps token -> id (``[PAD]`` = 0, ``[UNK]`` = 1)."""

    tokens: tuple[str, ...]
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.tokens[:2] != (PAD, UNK):
            raise ValueError(f"a vocabulary starts with {PAD!r}, {UNK!r}; got {self.tokens[:2]!r}")
        index = {t: i for i, t in enumerate(self.tokens)}
        if len(index) != len(self.tokens):
            raise ValueError("vocabulary tokens must be unique")
        object.__setattr__(self, "index", index)

    @classmethod
    def build(cls, texts: Iterable[str], cfg: VocabConfig = VocabConfig()) -> "Vocab":
        """Count words over ``texts`` (e.g. ``corpus.values()``) and keep the frequent ones."""
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(word_tokenize(text))
        words = sorted((w for w, c in counts.items() if c >= cfg.min_freq and w not in (PAD, UNK)),
                       key=lambda w: (-counts[w], w))
        if cfg.max_size is not None:
            words = words[: cfg.max_size - 2]
        return cls((PAD, UNK, *words))

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int:
        return 1

    def encode(self, text: str, max_len: int | None = None) -> list[int]:
        """Token ids of ``text`` (unknown words -> ``[UNK]``), truncated to ``max_len``."""
        ids = [self.index.get(t, 1) for t in word_tokenize(text)]
        return ids if max_len is None else ids[:max_len]

    def encode_batch(self, texts: Sequence[str], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded ids ``[B, L]`` (int64) and mask ``[B, L]`` (float, 1 = token); ``L`` = longest, >= 1."""
        rows = [self.encode(t, max_len) for t in texts]
        width = max([1, *(len(r) for r in rows)])
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        return ids, (ids != 0).float()

    def save(self, path: str | Path) -> None:
        atomic_write_json(path, {"format": FORMAT, "tokens": list(self.tokens)}, indent=0)

    @classmethod
    def load(cls, path: str | Path) -> "Vocab":
        path = Path(path)
        fix = "delete it and re-run the stage that builds the vocabulary"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataFormatError("vocabulary file not found", path=path, fix="run the stage that builds it") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataFormatError(f"vocabulary file is not valid JSON ({e})", path=path, fix=fix) from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("tokens"), list):
            raise DataFormatError(f"not an {FORMAT} file (expected keys 'format' and 'tokens')", path=path, fix=fix)
        try:
            return cls(tuple(data["tokens"]))
        except ValueError as e:
            raise DataFormatError(str(e), path=path, fix=fix) from None


def init_embeddings(vocab: Vocab, dim: int, *, std: float = 0.1,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """A random ``N(0, std^2)`` embedding matrix ``[V, dim]`` with a zero ``[PAD]`` row (torch's global RNG
    unless ``generator`` is given; :func:`irprune.models.build_model` seeds it)."""
    weight = torch.randn(len(vocab), dim, generator=generator) * std
    weight[vocab.pad_id] = 0.0
    return weight


def load_word_vectors(path: str | Path, vocab: Vocab, base: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Overwrite rows of ``base`` ``[V, dim]`` with vectors from a text file; returns (matrix, words found).

    Format: one ``word v1 ... v_dim`` line per word (GloVe); an optional first ``count dim`` header line
    (word2vec text, fastText ``.vec``) is skipped.  A line with the wrong number of values is an error naming
    the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError("word-vector file not found", path=path,
                              fix="set embeddings_path to an existing GloVe/word2vec text file or to null")
    out = base.clone()
    dim = base.shape[1]
    found = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.rstrip("\n").rstrip(" ").split(" ")
            if lineno == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue
            if len(parts) != dim + 1:
                raise DataFormatError(f"expected a word and {dim} numbers, got {len(parts) - 1} values",
                                      path=path, line=lineno,
                                      fix=f"use vectors of dimension {dim} or set embedding_dim to theirs")
            i = vocab.index.get(parts[0])
            if i is None or i == vocab.pad_id:
                continue
            try:
                out[i] = torch.tensor([float(x) for x in parts[1:]])
            except ValueError:
                raise DataFormatError("a vector value is not a number", path=path, line=lineno,
                                      fix="repair or re-download the word-vector file") from None
            found += 1
    return out, found
