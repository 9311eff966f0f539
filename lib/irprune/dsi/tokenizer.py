"""Input tokenizers of the DSI model: a word-level vocabulary built on the collection (offline default) or the
tokenizer shipped with a pretrained checkpoint (``AutoTokenizer`` from a local directory: T5's SentencePiece, or
a BERT's WordPiece for ``dsi.model.arch: bert``).

All give ``encode(text) -> ids`` without special tokens; the caller truncates and wraps: ``text </s>`` in T5's
input convention (Raffel et al. 2020), ``[CLS] text [SEP]`` in BERT's (``bos_id`` set, ``eos_id`` = ``[SEP]``).
With arch t5, document-id tokens live *after* the text vocabulary (``id_offset``).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Iterable, Protocol

from ..errors import DataFormatError
from ..io import atomic_write_json
from ..text.vocab import word_tokenize

FORMAT = "irprune-dsi-words/1"
SPECIALS = ("<pad>", "</s>", "<unk>")  # T5's ids: pad 0, eos 1, unk 2


class Tokenizer(Protocol):
    pad_id: int
    eos_id: int
    bos_id: int | None

    def __len__(self) -> int: ...
    def encode(self, text: str) -> list[int]: ...
    def save(self, directory: Path) -> None: ...


class WordTokenizer:
    """Words (NFKC, lowercase, ``\\w+``; :func:`irprune.text.vocab.word_tokenize`) ordered by descending
    collection frequency then alphabetically, after ``<pad>``, ``</s>``, ``<unk>``."""

    pad_id = 0
    eos_id = 1
    bos_id = None
    unk_id = 2
    FILE = "words.json"

    def __init__(self, tokens: tuple[str, ...]) -> None:
        if tokens[:3] != SPECIALS:
            raise ValueError(f"a DSI word vocabulary starts with {SPECIALS}; got {tokens[:3]}")
        self.tokens = tokens
        self.index = {t: i for i, t in enumerate(tokens)}

    @classmethod
    def build(cls, texts: Iterable[str], min_freq: int = 1) -> "WordTokenizer":
        counts: Counter[str] = Counter()
        for t in texts:
            counts.update(word_tokenize(t))
        words = sorted((w for w, c in counts.items() if c >= min_freq and w not in SPECIALS),
                       key=lambda w: (-counts[w], w))
        return cls((*SPECIALS, *words))

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        return [self.index.get(w, self.unk_id) for w in word_tokenize(text)]

    def save(self, directory: Path) -> None:
        atomic_write_json(Path(directory) / self.FILE, {"format": FORMAT, "tokens": list(self.tokens)}, indent=0)

    @classmethod
    def load(cls, directory: Path) -> "WordTokenizer":
        path = Path(directory) / cls.FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                raise ValueError(f"format is not {FORMAT}")
            return cls(tuple(data["tokens"]))
        except FileNotFoundError:
            raise DataFormatError("DSI vocabulary file not found", path=path,
                                  fix="re-run the DSI stage that writes the checkpoint") from None
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise DataFormatError(f"invalid DSI vocabulary file ({e})", path=path,
                                  fix="re-run the DSI stage that writes the checkpoint") from None


class HFTokenizer:
    """A ``transformers`` tokenizer loaded from a local directory: T5's SentencePiece (``text </s>``) or, when it
    has no EOS but BERT's ``[CLS]``/``[SEP]``, a WordPiece tokenizer (``[CLS] text [SEP]``)."""

    DIR = "tokenizer"

    def __init__(self, tok) -> None:  # tok: PreTrainedTokenizerBase
        bert = tok.eos_token_id is None and tok.cls_token_id is not None and tok.sep_token_id is not None
        eos = tok.sep_token_id if bert else tok.eos_token_id
        if tok.pad_token_id is None or eos is None:
            raise DataFormatError("the pretrained tokenizer has no pad token, or neither an eos token nor BERT's "
                                  "[CLS]/[SEP]", fix="use a T5 or BERT checkpoint directory (its tokenizer defines "
                                                     "<pad> and </s>, or [PAD], [CLS] and [SEP])")
        self.tok = tok
        self.pad_id = int(tok.pad_token_id)
        self.eos_id = int(eos)
        self.bos_id: int | None = int(tok.cls_token_id) if bert else None

    @classmethod
    def from_dir(cls, directory: str | Path) -> "HFTokenizer":
        from transformers import AutoTokenizer

        try:
            return cls(AutoTokenizer.from_pretrained(str(directory), local_files_only=True))
        except (OSError, ValueError) as e:
            raise DataFormatError(f"cannot load a tokenizer from the checkpoint directory ({e})", path=directory,
                                  fix="put the model's tokenizer files (tokenizer.json or spiece.model) there"
                                  ) from None

    def __len__(self) -> int:
        return len(self.tok)

    def encode(self, text: str) -> list[int]:
        return list(self.tok(text, add_special_tokens=False)["input_ids"])

    def save(self, directory: Path) -> None:
        self.tok.save_pretrained(str(Path(directory) / self.DIR))


def load_tokenizer(directory: Path) -> Tokenizer:
    """The tokenizer saved in a DSI checkpoint directory (word vocabulary or ``tokenizer/``)."""
    if (Path(directory) / WordTokenizer.FILE).is_file():
        return WordTokenizer.load(directory)
    return HFTokenizer.from_dir(Path(directory) / HFTokenizer.DIR)


__all__ = ["Tokenizer", "WordTokenizer", "HFTokenizer", "load_tokenizer", "SPECIALS"]
