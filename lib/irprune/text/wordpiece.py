"""A BERT WordPiece tokenizer trained on the collection with Hugging Face ``tokenizers``.

The offline default has no pretrained vocabulary, so the cross-encoder's tokenizer is trained on the corpus
(WordPiece: Schuster & Nakajima 2012; Wu et al. 2016; BERT's normaliser and pre-tokeniser, Devlin et al. 2019).
It is saved as a ``transformers`` fast-tokenizer directory, so ``AutoTokenizer.from_pretrained(dir)`` loads it
like any hub tokenizer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ..config import frozen, param
from ..errors import DataFormatError
from ..io import atomic_dir

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


@frozen
class WordPieceConfig:
    """Training options of the collection WordPiece vocabulary."""

    vocab_size: int = param(8000, ge=len(SPECIALS) + 1, doc="target vocabulary size (specials included)")
    min_frequency: int = param(2, ge=1, doc="minimum pair frequency for a merge")
    lowercase: bool = param(True, doc="lowercase and strip accents (uncased BERT)")
    limit_alphabet: int = param(1000, ge=1, doc="at most this many initial characters")


def train_wordpiece(texts: Iterable[str], cfg: WordPieceConfig = WordPieceConfig()):  # -> PreTrainedTokenizerFast
    """Train a WordPiece vocabulary on ``texts``; returns a ``transformers`` fast tokenizer.

    Encoding follows BERT: ``[CLS] a [SEP]`` for one text, ``[CLS] a [SEP] b [SEP]`` with token types 0/1
    for a pair.  Training is deterministic for a fixed input order.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=cfg.lowercase, lowercase=cfg.lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=cfg.vocab_size, min_frequency=cfg.min_frequency,
                                        special_tokens=list(SPECIALS), limit_alphabet=cfg.limit_alphabet,
                                        continuing_subword_prefix="##", show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    tok.decoder = decoders.WordPiece(prefix="##")
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                   model_input_names=["input_ids", "token_type_ids", "attention_mask"])


def save_tokenizer(tokenizer, directory: str | Path) -> Path:
    """``save_pretrained`` into a temporary sibling, then rename it to ``directory`` (replacing it)."""
    directory = Path(directory)
    with atomic_dir(directory) as tmp:
        tokenizer.save_pretrained(str(tmp))
    return directory


def load_tokenizer(directory: str | Path):  # -> PreTrainedTokenizerFast
    """Load a tokenizer directory written by :func:`save_tokenizer` (or any local HF tokenizer directory)."""
    from transformers import AutoTokenizer

    directory = Path(directory)
    if not (directory / "tokenizer.json").is_file() and not (directory / "vocab.txt").is_file():
        raise DataFormatError("not a tokenizer directory (no tokenizer.json or vocab.txt)", path=directory,
                              fix="point at the directory written by save_tokenizer / the training stage")
    try:
        return AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    except (OSError, ValueError) as e:
        raise DataFormatError(f"tokenizer files are unreadable ({e})", path=directory,
                              fix="delete the directory and re-run the stage that writes it") from None
