"""The common ranker interface: text pairs -> tensors (``collate``) -> one relevance score per pair (``score``).

Every model is an ``nn.Module`` with a frozen config (``cfg``), the text state it was built with (a word
:class:`~irprune.text.Vocab` or a WordPiece tokenizer, ``text``), and class-level ``presets``: ``small`` (the
CPU default study) and ``paper`` (the published size).  ``forward(batch)`` returns scores ``[B]``, so pruning
hooks on ``forward`` see every scoring call.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

from torch import Tensor, nn

from ..errors import ConfigError

Pair = tuple[str, str]          # (query text, document text)
Batch = Mapping[str, Tensor]    # a collated batch: names -> tensors on one device


class Ranker(nn.Module, ABC):
    """Abstract re-ranker.  Subclasses set ``name``, ``config_cls`` and ``presets`` and register themselves."""

    name: ClassVar[str]
    config_cls: ClassVar[type]
    presets: ClassVar[dict[str, dict[str, Any]]] = {"small": {}}
    #: fnmatch patterns of weights no pruning method touches, whatever ``prune.exclude`` says
    #: (:func:`irprune.pruning.prunable_parameters` adds them): new score heads whose scale differs from the
    #: pretrained encoder's, which a global magnitude threshold would empty first
    never_pruned: ClassVar[tuple[str, ...]] = ()

    def __init__(self, cfg: Any, text: Any) -> None:
        super().__init__()
        self.cfg = cfg
        self.text = text

    # --- construction -------------------------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def build(cls, cfg: Any, text: Any) -> "Ranker":
        """A freshly initialised model for ``cfg`` and its text state (vocab / tokenizer / None)."""

    @abstractmethod
    def save_text(self, directory: Path) -> None:
        """Write the text state (and any architecture file) into a checkpoint directory."""

    @classmethod
    @abstractmethod
    def from_saved_text(cls, cfg: Any, directory: Path) -> "Ranker":
        """Rebuild the architecture from a checkpoint directory (weights are loaded afterwards)."""

    # --- scoring ------------------------------------------------------------------------------------------
    @abstractmethod
    def length_limits(self) -> tuple[int, int]:
        """The largest (query, document) lengths in tokens this model accepts."""

    @abstractmethod
    def _collate(self, pairs: Sequence[Pair], max_query_len: int, max_doc_len: int) -> dict[str, Tensor]:
        ...

    @abstractmethod
    def forward(self, batch: Batch) -> Tensor:
        """Scores ``[B]`` for a collated batch (higher = more relevant)."""

    def collate(self, pairs: Sequence[Pair], max_query_len: int | None = None,
                max_doc_len: int | None = None) -> dict[str, Tensor]:
        """Tokenise ``(query, doc)`` pairs into CPU tensors; texts are truncated to the given token lengths
        (default: the config's).  Lengths above the model's maximum are a :class:`ConfigError`."""
        q = self.cfg.max_query_len if max_query_len is None else max_query_len
        d = self.cfg.max_doc_len if max_doc_len is None else max_doc_len
        self.check_lengths(q, d)
        if not pairs:
            raise ValueError(f"{self.name}.collate got no (query, document) pairs")
        return self._collate(pairs, q, d)

    def check_lengths(self, max_query_len: int, max_doc_len: int) -> None:
        lq, ld = self.length_limits()
        if max_query_len < 1 or max_doc_len < 1:
            raise ConfigError(f"{self.name}: max_query_len and max_doc_len must be >= 1, got "
                              f"{max_query_len} and {max_doc_len}")
        if max_query_len > lq or max_doc_len > ld:
            raise ConfigError(
                f"{self.name}: sequence lengths query={max_query_len}, doc={max_doc_len} exceed the model maximum "
                f"query={lq}, doc={ld}; fix: lower max_query_len/max_doc_len or build the model with larger "
                f"limits ({self._limit_hint()})")

    def _limit_hint(self) -> str:
        return "max_query_len / max_doc_len in the model config"

    def inference_cache(self) -> contextlib.AbstractContextManager[None]:
        """A scope in which the weights do not change, so work that depends on one text alone may be reused across
        batches (:func:`irprune.rerank.score_pairs` opens one per call).  Nothing is reused by default."""
        return contextlib.nullcontext()

    def score(self, batch: Batch) -> Tensor:
        """Relevance scores ``[B]`` in fp32 (the module's output, cast up when it ran under bf16 autocast)."""
        return self(batch).float()

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
