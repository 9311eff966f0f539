"""Pseudo-words and fast seeded sampling for the synthetic collection (:mod:`irprune.data.synthetic`).

Words are strings of consonant-vowel(-coda) syllables, so they look like words and a WordPiece vocabulary can
split them into recurring pieces, but they carry no meaning outside the generated collection.  Sampling uses
one ``numpy.random.Generator`` per stage (never the global RNG); weighted draws go through cumulative tables
and pre-drawn blocks of uniforms, which keeps pure-Python generation of ~300k tokens well under a second.
"""

from __future__ import annotations

import bisect
from typing import Sequence

import numpy as np

ONSETS: tuple[str, ...] = ("b", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
                           "br", "ch", "dr", "gl", "kr", "pl", "sh", "st", "th", "tr")
VOWELS: tuple[str, ...] = ("a", "e", "i", "o", "u", "ai", "ea", "ou", "io")
CODAS: tuple[str, ...] = ("", "", "", "n", "r", "s", "l", "m", "k", "t", "nd", "st")


def zipf_weights(n: int, exponent: float) -> np.ndarray:
    """Normalised Zipf weights ``w_i ∝ (i+1)^-s`` for ranks ``i = 0..n-1`` (Zipf 1949; ``s = 0`` is uniform)."""
    w = np.arange(1, n + 1, dtype=np.float64) ** (-float(exponent))
    return w / w.sum()


def make_words(rng: np.random.Generator, n: int, min_syllables: int, max_syllables: int,
               taken: set[str]) -> list[str]:
    """``n`` new distinct pseudo-words of ``min..max`` syllables, none in ``taken`` (which is updated)."""
    out: list[str] = []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 200 * n + 1000:  # the syllable space holds millions of words; this only trips on n≈1e6
            raise RuntimeError(f"could not make {n} distinct pseudo-words of {min_syllables}-{max_syllables} "
                               "syllables; lower the vocabulary sizes")
        k = int(rng.integers(min_syllables, max_syllables + 1))
        parts = []
        for j in range(k):
            coda = CODAS[int(rng.integers(len(CODAS)))] if j == k - 1 or rng.random() < 0.2 else ""
            parts.append(ONSETS[int(rng.integers(len(ONSETS)))] + VOWELS[int(rng.integers(len(VOWELS)))] + coda)
        w = "".join(parts)
        if w not in taken:
            taken.add(w)
            out.append(w)
    return out


class Uniforms:
    """An endless stream of U(0,1) floats drawn from ``rng`` in blocks (fast scalar draws, still seeded)."""

    def __init__(self, rng: np.random.Generator, block: int = 1 << 16) -> None:
        self._rng = rng
        self._block = block
        self._buf: list[float] = []
        self._i = 0

    def __call__(self) -> float:
        if self._i >= len(self._buf):
            self._buf = self._rng.random(self._block).tolist()
            self._i = 0
        u = self._buf[self._i]
        self._i += 1
        return u

    def below(self, n: int) -> int:
        """A uniform integer in ``0..n-1``."""
        return min(int(self() * n), n - 1)


class Categorical:
    """Draw an item of ``items`` with probability proportional to ``weights``, by inverse CDF on a uniform."""

    __slots__ = ("items", "_cum")

    def __init__(self, items: Sequence[int], weights: Sequence[float] | np.ndarray) -> None:
        w = np.asarray(weights, dtype=np.float64)
        if len(items) != len(w) or len(items) == 0 or not np.all(w >= 0) or w.sum() <= 0:
            raise ValueError("Categorical needs as many non-negative weights as items, with a positive sum")
        self.items = list(items)
        cum = np.cumsum(w / w.sum())
        cum[-1] = 1.0
        self._cum = cum.tolist()

    def draw(self, u: float) -> int:
        return self.items[min(bisect.bisect_right(self._cum, u), len(self.items) - 1)]

    def __len__(self) -> int:
        return len(self.items)


__all__ = ["zipf_weights", "make_words", "Uniforms", "Categorical", "ONSETS", "VOWELS", "CODAS"]
