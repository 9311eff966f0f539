"""A prefix trie over the valid id sequences, for constrained beam search (De Cao et al. 2021, "Autoregressive
Entity Retrieval" (GENRE), whose trie + ``prefix_allowed_tokens_fn`` DSI implementations reuse).

Sequences are *model* token ids and end with EOS, so a beam can only stop on a complete, valid id.
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import torch


class IdTrie:
    """Nested dict trie; :meth:`allowed` gives the tokens that may follow a prefix."""

    def __init__(self, sequences: Iterable[Sequence[int]]) -> None:
        self.root: dict[int, dict] = {}
        self.n = 0
        for seq in sequences:
            node = self.root
            for t in seq:
                node = node.setdefault(int(t), {})
            self.n += 1

    def allowed(self, prefix: Sequence[int]) -> list[int]:
        """Tokens that extend ``prefix`` towards a valid sequence; [] when ``prefix`` is off the trie or complete."""
        node = self.root
        for t in prefix:
            nxt = node.get(int(t))
            if nxt is None:
                return []
            node = nxt
        return list(node)

    def __contains__(self, seq: Sequence[int]) -> bool:
        node = self.root
        for t in seq:
            nxt = node.get(int(t))
            if nxt is None:
                return False
            node = nxt
        return not node

    def prefix_allowed_tokens_fn(self, start_len: int = 1, fallback: int = 0
                                 ) -> Callable[[int, torch.Tensor], list[int]]:
        """The callback of ``generate(prefix_allowed_tokens_fn=...)``: the first ``start_len`` decoder tokens
        (T5's decoder start) are skipped; a finished or invalid beam may only emit ``fallback`` (pad), which
        keeps its score and never produces a new id."""
        def fn(batch_id: int, input_ids: torch.Tensor) -> list[int]:
            allowed = self.allowed(input_ids[start_len:].tolist())
            return allowed if allowed else [fallback]
        return fn


__all__ = ["IdTrie"]
