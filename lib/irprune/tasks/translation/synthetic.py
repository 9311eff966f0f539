"""The offline default translation corpus: a small synthetic grammar with reordering and agreement.

Source language (English-like, SVO, adjectives before the noun, little agreement)::

    S  -> NP_subj V NP_obj            V = verb lemma + "s" if the subject is singular
    NP -> DET ADJ* N                  DET by (definite, number); N = noun lemma + "s" if plural

Target language (SOV, adjectives after the noun in mirrored order, gender/number agreement)::

    S  -> NP_subj NP_obj V            V = verb lemma + suffix by subject number
    NP -> DET N ADJ*(reversed)        each target noun has a fixed gender (m/f);
                                      DET by (definite, gender, number); N = lemma + "en" if plural;
                                      ADJ = lemma + suffix by (gender, number) of its noun

So a translation model must reorder (object before verb, noun before its adjectives), carry the subject's number
to the sentence-final verb, and inflect determiners and adjectives for the gender of a noun that the source does
not mark.  :func:`word_by_word` is the baseline the model must beat: a lexicon oracle translating each source word
in source order, with number where the source word shows it and default (masculine singular) agreement otherwise.
Pseudo-words come from :func:`irprune.data.synthetic_vocab.make_words`; everything is drawn from one seeded
generator, so a config always gives the same corpus.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...config import frozen, param
from ...data.synthetic_vocab import make_words
from .data import ParallelData

_ADJ_SUFFIX = {("m", "sg"): "o", ("f", "sg"): "a", ("m", "pl"): "i", ("f", "pl"): "e"}
_VERB_SUFFIX = {"sg": "et", "pl": "on"}


@frozen
class GrammarConfig:
    """Lexicon sizes and sentence shape of the synthetic language pair."""

    seed: int = param(11, ge=0)
    n_train: int = param(4000, ge=1)
    n_test: int = param(400, ge=1)
    n_nouns: int = param(30, ge=2)
    n_verbs: int = param(12, ge=1)
    n_adjectives: int = param(16, ge=1)
    max_adjectives: int = param(2, ge=0, doc="adjectives per noun phrase: 0..max, each with p_adjective")
    p_adjective: float = param(0.45, ge=0, le=1)
    p_plural: float = param(0.5, ge=0, le=1)
    p_definite: float = param(0.5, ge=0, le=1)


@dataclass(frozen=True)
class Lexicon:
    src_nouns: tuple[str, ...]
    tgt_nouns: tuple[str, ...]
    genders: tuple[str, ...]
    src_verbs: tuple[str, ...]
    tgt_verbs: tuple[str, ...]
    src_adjs: tuple[str, ...]
    tgt_adjs: tuple[str, ...]
    src_dets: dict[tuple[bool, str], str]
    tgt_dets: dict[tuple[bool, str, str], str]


def make_lexicon(cfg: GrammarConfig, rng: np.random.Generator) -> Lexicon:
    taken: set[str] = set()

    def words(n: int, lo: int = 2, hi: int = 3) -> tuple[str, ...]:
        return tuple(make_words(rng, n, lo, hi, taken))

    src_n, tgt_n = words(cfg.n_nouns), words(cfg.n_nouns)
    src_v, tgt_v = words(cfg.n_verbs), words(cfg.n_verbs)
    src_a, tgt_a = words(cfg.n_adjectives), words(cfg.n_adjectives)
    genders = tuple("m" if g else "f" for g in rng.random(cfg.n_nouns) < 0.5)
    sd = words(4, 1, 1)
    td = words(8, 1, 1)
    src_dets = {k: sd[i] for i, k in enumerate((d, n) for d in (True, False) for n in ("sg", "pl"))}
    tgt_dets = {k: td[i] for i, k in enumerate((d, g, n) for d in (True, False) for g in ("m", "f")
                                               for n in ("sg", "pl"))}
    return Lexicon(src_n, tgt_n, genders, src_v, tgt_v, src_a, tgt_a, src_dets, tgt_dets)


def _np(rng: np.random.Generator, cfg: GrammarConfig, lex: Lexicon) -> tuple[list[str], list[str], str]:
    """One noun phrase: (source words, target words, number)."""
    noun = int(rng.integers(len(lex.src_nouns)))
    num = "pl" if rng.random() < cfg.p_plural else "sg"
    definite = bool(rng.random() < cfg.p_definite)
    adjs = [int(rng.integers(len(lex.src_adjs))) for _ in range(cfg.max_adjectives) if rng.random() < cfg.p_adjective]
    g = lex.genders[noun]
    src = [lex.src_dets[(definite, num)], *(lex.src_adjs[a] for a in adjs),
           lex.src_nouns[noun] + ("s" if num == "pl" else "")]
    tgt = [lex.tgt_dets[(definite, g, num)], lex.tgt_nouns[noun] + ("en" if num == "pl" else ""),
           *(lex.tgt_adjs[a] + _ADJ_SUFFIX[(g, num)] for a in reversed(adjs))]
    return src, tgt, num


class Grammar:
    """The language pair of a :class:`GrammarConfig`: lexicon, sentence sampler and word-by-word baseline."""

    def __init__(self, cfg: GrammarConfig = GrammarConfig()) -> None:
        self.cfg = cfg
        self.rng = np.random.default_rng(cfg.seed)
        self.lex = make_lexicon(cfg, self.rng)
        lex = self.lex
        self._wbw: dict[str, str] = {}
        for (d, n), w in lex.src_dets.items():
            self._wbw[w] = lex.tgt_dets[(d, "m", n)]
        for s, t in zip(lex.src_nouns, lex.tgt_nouns):
            self._wbw[s], self._wbw[s + "s"] = t, t + "en"
        for s, t in zip(lex.src_adjs, lex.tgt_adjs):
            self._wbw[s] = t + _ADJ_SUFFIX[("m", "sg")]
        for s, t in zip(lex.src_verbs, lex.tgt_verbs):
            self._wbw[s], self._wbw[s + "s"] = t + _VERB_SUFFIX["pl"], t + _VERB_SUFFIX["sg"]

    def sentence(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        rng, cfg, lex = self.rng, self.cfg, self.lex
        s_src, s_tgt, s_num = _np(rng, cfg, lex)
        o_src, o_tgt, _ = _np(rng, cfg, lex)
        v = int(rng.integers(len(lex.src_verbs)))
        v_src = lex.src_verbs[v] + ("s" if s_num == "sg" else "")
        v_tgt = lex.tgt_verbs[v] + _VERB_SUFFIX[s_num]
        return tuple(s_src + [v_src] + o_src), tuple(s_tgt + o_tgt + [v_tgt])

    def sample(self, n: int) -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
        return tuple(self.sentence() for _ in range(n))

    def word_by_word(self, src: tuple[str, ...] | list[str]) -> list[str]:
        """The monotone lexicon-oracle baseline translation of ``src`` (see the module docstring)."""
        return [self._wbw.get(w, w) for w in src]


def make_parallel_corpus(cfg: GrammarConfig = GrammarConfig()) -> ParallelData:
    """Train and test pairs (deterministic for a config); test pairs may repeat training sentences only by
    chance, as in any sampled corpus (the meta records how many do)."""
    gr = Grammar(cfg)
    train, test = gr.sample(cfg.n_train), gr.sample(cfg.n_test)
    seen = set(train)
    return ParallelData(train, test, "src", "tgt",
                        {"source": "synthetic", "test_in_train": sum(p in seen for p in test)})


__all__ = ["GrammarConfig", "Grammar", "make_parallel_corpus", "Lexicon"]
