"""Shared plumbing of the rankers that read whole words through a :class:`~irprune.text.Vocab` (the kernel models).

Conv-KNRM and Conformer-Kernel differ in their networks, not in how they tokenise, initialise their embedding
table, save their vocabulary or collate a batch; that lives here once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor

from ..errors import ConfigError
from ..text.vocab import Vocab, init_embeddings, load_word_vectors
from .base import Pair, Ranker


class WordVocabRanker(Ranker):
    """A :class:`Ranker` over a word vocabulary with an ``embedding`` table of width :meth:`embedding_dim`.

    Config fields used: ``embeddings_path`` (optional word vectors), ``freeze_embeddings``, ``max_query_len``,
    ``max_doc_len``.
    """

    name: str = "word_ranker"

    @classmethod
    def embedding_dim(cls, cfg: Any) -> int:
        raise NotImplementedError

    @classmethod
    def build(cls, cfg: Any, text: object) -> "WordVocabRanker":
        if not isinstance(text, Vocab):
            raise ConfigError(f"{cls.name} needs a word Vocab (irprune.text.Vocab.build(corpus.values())), "
                              f"got {type(text).__name__}")
        model = cls(cfg, text)
        weight = init_embeddings(text, cls.embedding_dim(cfg))
        if cfg.embeddings_path:
            weight, _ = load_word_vectors(cfg.embeddings_path, text, weight)
        with torch.no_grad():
            model.embedding.weight.copy_(weight)
        model.embedding.weight.requires_grad_(not cfg.freeze_embeddings)
        return model

    def save_text(self, directory: Path) -> None:
        self.text.save(directory / "vocab.json")

    @classmethod
    def from_saved_text(cls, cfg: Any, directory: Path) -> "WordVocabRanker":
        model = cls(cfg, Vocab.load(directory / "vocab.json"))
        model.embedding.weight.requires_grad_(not cfg.freeze_embeddings)    # frozen stays frozen after loading
        return model

    def length_limits(self) -> tuple[int, int]:
        return self.cfg.max_query_len, self.cfg.max_doc_len

    def _collate(self, pairs: Sequence[Pair], max_query_len: int, max_doc_len: int) -> dict[str, Tensor]:
        q_ids, q_mask = self.text.encode_batch([q for q, _ in pairs], max_query_len)
        d_ids, d_mask = self.text.encode_batch([d for _, d in pairs], max_doc_len)
        return {"query_ids": q_ids, "query_mask": q_mask, "doc_ids": d_ids, "doc_mask": d_mask}
