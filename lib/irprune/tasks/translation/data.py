"""Parallel text for translation: tokenisation, the sequence vocabulary, and Multi30k through ``datasets``.

Multi30k (Elliott et al., 2016, "Multi30K: Multilingual English-German image descriptions") is read from the
Hugging Face Hub (``bentrevett/multi30k``: splits train/validation/test, one row ``{"en": str, "de": str}`` per
sentence pair).  Text is lowercased and split into words and punctuation (:func:`tokenize`); BLEU is computed on
the space-joined tokens of hypothesis and reference alike, so both sides share one tokenisation.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import DataFormatError
from ...io import atomic_write_json

MULTI30K_HF = "bentrevett/multi30k"
_TOKEN = re.compile(r"\w+|[^\w\s]")
PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)
FORMAT = "irprune-seqvocab-v1"


def tokenize(text: str) -> list[str]:
    """NFKC-normalised, lowercased word and punctuation tokens."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).lower())


@dataclass(frozen=True)
class ParallelData:
    """Tokenised sentence pairs: ``train``/``test`` are tuples of (source tokens, target tokens)."""

    train: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]
    test: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]
    src_lang: str
    tgt_lang: str
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class SeqVocab:
    """Token list with ``<pad>`` = 0, ``<unk>`` = 1, ``<bos>`` = 2, ``<eos>`` = 3; the rest by descending
    frequency, ties alphabetical (deterministic)."""

    tokens: tuple[str, ...]
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.tokens[:4] != SPECIALS:
            raise ValueError(f"a sequence vocabulary starts with {SPECIALS}; got {self.tokens[:4]}")
        object.__setattr__(self, "index", {t: i for i, t in enumerate(self.tokens)})

    pad_id, unk_id, bos_id, eos_id = 0, 1, 2, 3

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], min_freq: int = 1, max_size: int | None = None) -> "SeqVocab":
        counts: Counter[str] = Counter()
        for s in sentences:
            counts.update(s)
        words = sorted((w for w, c in counts.items() if c >= min_freq and w not in SPECIALS),
                       key=lambda w: (-counts[w], w))
        if max_size is not None:
            words = words[: max(0, max_size - len(SPECIALS))]
        return cls((*SPECIALS, *words))

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: Sequence[str], bos: bool = False, eos: bool = True) -> list[int]:
        ids = [self.index.get(t, self.unk_id) for t in tokens]
        return ([self.bos_id] if bos else []) + ids + ([self.eos_id] if eos else [])

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens up to the first ``<eos>``, without specials other than ``<unk>``."""
        out = []
        for i in ids:
            if i == self.eos_id:
                break
            if i in (self.pad_id, self.bos_id):
                continue
            out.append(self.tokens[i])
        return out

    def save(self, path: str | Path) -> None:
        atomic_write_json(path, {"format": FORMAT, "tokens": list(self.tokens)}, indent=0)

    @classmethod
    def load(cls, path: str | Path) -> "SeqVocab":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                raise ValueError(f"format is {data.get('format')!r}, expected {FORMAT!r}")
            return cls(tuple(data["tokens"]))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise DataFormatError(f"not a readable {FORMAT} file ({e})", path=path,
                                  fix="re-run the stage that writes it") from None


def pairs_from_records(records: Iterable[Mapping[str, Any]], src_lang: str = "de", tgt_lang: str = "en",
                       source: str = "hf dataset") -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    """Rows ``{src_lang: text, tgt_lang: text}`` (the Hub's Multi30k) -> tokenised pairs; empty sides are errors."""
    out = []
    for i, r in enumerate(records):
        if src_lang not in r or tgt_lang not in r:
            raise DataFormatError(f"row {i} has keys {sorted(r)}; expected {src_lang!r} and {tgt_lang!r}",
                                  path=source, fix="set tasks.translation.src_lang/tgt_lang to this dataset's columns")
        s, t = tokenize(str(r[src_lang])), tokenize(str(r[tgt_lang]))
        if not s or not t:
            raise DataFormatError(f"row {i}: empty {'source' if not s else 'target'} sentence", path=source,
                                  fix="drop empty pairs from the dataset")
        out.append((tuple(s), tuple(t)))
    return tuple(out)


def load_multi30k_hf(name: str = MULTI30K_HF, src_lang: str = "de", tgt_lang: str = "en",
                     test_split: str = "test") -> ParallelData:  # pragma: no cover - needs the network
    """Multi30k (29k train / 1k test pairs) from the Hub through ``datasets``."""
    import datasets

    ds = datasets.load_dataset(name)
    return ParallelData(pairs_from_records(ds["train"], src_lang, tgt_lang, f"{name}:train"),
                        pairs_from_records(ds[test_split], src_lang, tgt_lang, f"{name}:{test_split}"),
                        src_lang, tgt_lang, {"source": f"hf:{name}"})


__all__ = ["MULTI30K_HF", "tokenize", "ParallelData", "SeqVocab", "pairs_from_records", "load_multi30k_hf",
           "SPECIALS"]
