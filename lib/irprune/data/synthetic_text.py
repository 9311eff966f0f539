"""Rendering passages and queries of the synthetic collection, and planting hard distractors.

A passage is a list of :class:`Statement` s (rendered token lists with their concept ids), so that a statement
can be replaced by a distractor before the text is joined.  See :mod:`irprune.data.synthetic` for the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

from .synthetic_vocab import Uniforms
from .synthetic_world import Fact, World

if TYPE_CHECKING:  # pragma: no cover
    from .synthetic import SyntheticConfig

NO_CONCEPT = -1  # concept id of function, background and question words


class Writer:
    """Appends tokens and their concept ids while a statement or query is rendered."""

    __slots__ = ("world", "u", "tokens", "concepts")

    def __init__(self, world: World, u: Uniforms) -> None:
        self.world, self.u = world, u
        self.tokens: list[str] = []
        self.concepts: list[int] = []

    def concept(self, c: int) -> None:
        forms = self.world.forms[c]
        self.tokens.append(forms[self.world.form_pick[c].draw(self.u())] if len(forms) > 1 else forms[0])
        self.concepts.append(c)

    def function(self) -> None:
        self.tokens.append(self.world.function_words[self.world.function_pick.draw(self.u())])
        self.concepts.append(NO_CONCEPT)

    def background(self) -> None:
        self.tokens.append(self.world.background_words[self.world.background_pick.draw(self.u())])
        self.concepts.append(NO_CONCEPT)


@dataclass
class Statement:
    """One rendered statement; ``fact`` is a fact id (into :class:`Facts`) or ``-1`` for a co-mention."""

    fact: int
    tokens: list[str]
    concepts: list[int]
    planted: bool = False


@dataclass
class Passage:
    topics: tuple[int, ...]
    statements: list[Statement] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(len(s.tokens) for s in self.statements)

    def facts(self) -> list[int]:
        return [s.fact for s in self.statements if s.fact >= 0]

    def concepts(self) -> list[int]:
        return [c for s in self.statements for c in s.concepts]

    def text(self) -> str:
        return " ".join(t for s in self.statements for t in s.tokens)


class Facts:
    """The growing registry ``fact id <-> (S, R, O)``: the world's facts first, then planted claims."""

    def __init__(self, world_facts: Iterable[Fact]) -> None:
        self.triples: list[Fact] = list(world_facts)
        self.index: dict[Fact, int] = {f: i for i, f in enumerate(self.triples)}

    def id(self, fact: Fact) -> int:
        if fact not in self.index:
            self.index[fact] = len(self.triples)
            self.triples.append(fact)
        return self.index[fact]


def fact_statement(world: World, cfg: "SyntheticConfig", u: Uniforms, fact: Fact, fid: int) -> Statement:
    """``[w] [m] S [w] R [w] [m] O [t...]`` (function words w, background modifiers m, trailing words t)."""
    w = Writer(world, u)
    s, r, o = fact
    if u() < cfg.p_lead_word:
        w.function()
    if u() < cfg.p_modifier:
        w.background()
    w.concept(s)
    if u() < cfg.p_gap:
        w.function()
    w.concept(r)
    if u() < cfg.p_gap:
        w.function()
    if u() < cfg.p_modifier:
        w.background()
    w.concept(o)
    for _ in range(u.below(cfg.max_trailing + 1)):
        w.background() if u() < 0.7 else w.function()
    return Statement(fid, w.tokens, w.concepts)


def mention_statement(world: World, cfg: "SyntheticConfig", u: Uniforms, entities: list[int]) -> Statement:
    """``[w] E1 (w|m) E2 [(w|m) E3] [t...]``: entities named together with no relation (not a fact)."""
    w = Writer(world, u)
    if u() < cfg.p_lead_word:
        w.function()
    for i, e in enumerate(entities):
        if i:
            w.function() if u() < 0.6 else w.background()
        w.concept(e)
    for _ in range(u.below(cfg.max_trailing + 1)):
        w.background()
    return Statement(-1, w.tokens, w.concepts)


def passage(world: World, cfg: "SyntheticConfig", u: Uniforms, length: int) -> Passage:
    """Statements of one or two topics until ``length`` tokens, whole statements dropped beyond doc_len_max."""
    t1 = world.topic_pick.draw(u())
    topics = [t1]
    if u() < cfg.p_second_topic and cfg.n_topics > 1:
        for _ in range(4):
            t2 = world.topic_pick.draw(u())
            if t2 != t1:
                topics.append(t2)
                break
    focus = [world.topic_entities[t1].draw(u()) for _ in range(1 + (u() < 0.5))]
    p = Passage(tuple(topics))
    n_tok = 0
    used: set[int] = set()
    while n_tok < length:
        t = topics[0] if len(topics) == 1 or u() < 0.7 else topics[1]
        fid = -1
        if u() >= cfg.p_mention_statement:
            for _ in range(3):
                ef = world.topic_entity_facts[t].get(focus[u.below(len(focus))]) if t == t1 else None
                cand = ef.draw(u()) if ef is not None and u() < cfg.p_focus else world.topic_facts[t].draw(u())
                if cand not in used:
                    fid = cand
                    break
        if fid >= 0:
            used.add(fid)
            st = fact_statement(world, cfg, u, world.facts[fid], fid)
        else:
            ents = world.topic_entities[t]
            picks = list(dict.fromkeys(focus[0] if u() < cfg.p_focus else ents.draw(u())
                                       for _ in range(2 + (u() < 0.3))))
            if len(picks) == 1:
                picks.append(ents.draw(u()))
            st = mention_statement(world, cfg, u, picks)
        p.statements.append(st)
        n_tok += len(st.tokens)
    while len(p.statements) > 1 and n_tok > cfg.doc_len_max:
        n_tok -= len(p.statements.pop().tokens)
    return p


def plant_distractors(world: World, cfg: "SyntheticConfig", u: Uniforms, fact: Fact, candidates: list[str],
                      passages: dict[str, Passage], facts: Facts, protected: set[int]) -> int:
    """Turn up to ``cfg.n_hard_distractors`` of ``candidates`` (in order of preference) into hard distractors
    for a query about ``fact``.

    A distractor states ``(O, R, S)`` (reversed, probability ``p_reversed_distractor``) or scatters the query's
    concepts over two statements ``(S, R, X)`` and ``(Y, R', O)``, replacing statements that are not planted and
    whose fact is not ``protected`` (the queried facts).  A candidate that already links ``(S, ·, O)`` is
    skipped, as is one the replacement would push out of ``[doc_len_min, doc_len_max]``.  Returns how many were planted.
    """
    s, r, o = fact
    done = 0
    for did in candidates:
        if done >= cfg.n_hard_distractors:
            break
        p = passages[did]
        if any(facts.triples[f][0] == s and facts.triples[f][2] == o for f in p.facts()):
            continue
        free = [i for i, st in enumerate(p.statements) if not st.planted and st.fact not in protected]
        if not free:
            continue
        if u() < cfg.p_reversed_distractor or len(free) < 2:
            claims = [(o, r, s)]
        else:
            t = p.topics[u.below(len(p.topics))]
            x = _other_entity(world, u, t, (s, o))
            y = _other_entity(world, u, t, (s, o))
            rels = world.topic_relations[t]
            claims = [(s, r, x), (y, rels[u.below(len(rels))], o)]
        if any(facts.index.get(c, -1) in protected for c in claims):
            continue
        slots = _pick_slots(u, free, len(claims))
        new = [fact_statement(world, cfg, u, c, facts.id(c)) for c in claims]
        n_tok = len(p) + sum(len(n.tokens) - len(p.statements[i].tokens) for i, n in zip(slots, new))
        if not cfg.doc_len_min <= n_tok <= cfg.doc_len_max:
            continue
        for i, n in zip(slots, new):
            n.planted = True
            p.statements[i] = n
        done += 1
    return done


def _other_entity(world: World, u: Uniforms, topic: int, avoid: tuple[int, ...]) -> int:
    ents = world.topic_entities[topic]
    for _ in range(8):
        e = ents.draw(u())
        if e not in avoid:
            return e
    return next(e for e in ents.items if e not in avoid)


def _pick_slots(u: Uniforms, free: list[int], n: int) -> list[int]:
    """``n`` statement slots out of ``free``; two slots are kept apart (not adjacent) when possible."""
    first = free[u.below(len(free))]
    if n == 1:
        return [first]
    apart = [i for i in free if abs(i - first) >= 2] or [i for i in free if i != first]
    return [first, apart[u.below(len(apart))]]


def query(world: World, cfg: "SyntheticConfig", u: Uniforms, fact: Fact, doc_concepts: Iterable[int]
          ) -> tuple[list[str], list[int]]:
    """``[q] S [R] O [C]`` plus maybe one background word: a question about ``fact`` (see the config knobs)."""
    s, r, o = fact
    w = Writer(world, u)
    if u() < cfg.p_question_word:
        w.tokens.append(world.question_words[u.below(len(world.question_words))])
        w.concepts.append(NO_CONCEPT)
    w.concept(s)
    if u() >= cfg.p_drop_relation:
        w.concept(r)
    w.concept(o)
    if u() < cfg.p_query_context:
        others = sorted({c for c in doc_concepts if 0 <= c < world.n_entities and c not in (s, o)})
        if others:
            w.concept(others[u.below(len(others))])
    if u() < cfg.p_query_noise:
        at = u.below(len(w.tokens) + 1)
        w.tokens.insert(at, world.background_words[world.background_pick.draw(u())])
        w.concepts.insert(at, NO_CONCEPT)
    return w.tokens, w.concepts


__all__ = ["NO_CONCEPT", "Writer", "Statement", "Passage", "Facts", "fact_statement", "mention_statement",
           "passage", "plant_distractors", "query"]
