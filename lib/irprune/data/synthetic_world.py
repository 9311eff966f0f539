"""The latent world behind the synthetic collection: concepts, their surface forms, topics and facts.

* **Concepts.** ``n_entities`` entity concepts (ids ``0..E-1``) and ``n_relations`` relation concepts (ids
  ``E..E+R-1``).  Concept ``c`` has ``m_c ~ U{synonyms_min..synonyms_max}`` surface forms (synonyms, all distinct
  pseudo-words); a mention picks form ``i`` with probability ``∝ (i+1)^-synonym_zipf``, independently for every
  mention in documents and queries, so a query and its relevant passage often use different words for the same
  concept (the vocabulary mismatch problem, Furnas et al. 1987).
* **Function and background words.** Zipfian (``p_k ∝ k^-s``, Zipf 1949) words with no concept, the
  analogues of stop words and content words that are not about the query.
* **Topics.** Each topic holds ``entities_per_topic`` entities drawn without replacement with probability
  ``∝`` a global Zipf popularity (exponent ``entity_zipf``), weighted within the topic by a Zipf of exponent
  ``topic_entity_zipf``, and ``relations_per_topic`` relations (global Zipf ``relation_zipf``).
* **Facts.** A topic states ``facts_per_topic`` ordered triples ``(subject, relation, object)``.  Base facts draw
  subject and object from the topic's entities and a relation from its relations; each base fact brings, with
  probability ``p_reverse_fact``, its reverse ``(o, r, s)`` and, with probability ``p_alt_relation_fact``, a
  sibling ``(s, r', o)``, both as popular as the base fact.  These are the hard distractors: the same words in
  another order or with another link.  Fact popularity within a topic is Zipf(``fact_zipf``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .synthetic_vocab import Categorical, make_words, zipf_weights

if TYPE_CHECKING:  # pragma: no cover
    from .synthetic import SyntheticConfig
    from .synthetic_lexicon import Lexicon

Fact = tuple[int, int, int]


@dataclass(frozen=True)
class World:
    """Everything a document or query is drawn from (see the module docstring)."""

    n_entities: int
    n_relations: int
    forms: tuple[tuple[str, ...], ...]          # concept id -> its surface forms
    form_pick: tuple[Categorical, ...]           # concept id -> draw of a form index
    function_words: tuple[str, ...]
    function_pick: Categorical                   # -> index into function_words
    background_words: tuple[str, ...]
    background_pick: Categorical                 # -> index into background_words
    question_words: tuple[str, ...]
    topic_pick: Categorical                      # -> topic id
    topic_entities: tuple[Categorical, ...]      # topic -> entity id
    topic_relations: tuple[tuple[int, ...], ...]
    topic_facts: tuple[Categorical, ...]         # topic -> fact id
    topic_entity_facts: tuple[dict[int, Categorical], ...]  # topic -> entity -> fact id involving it
    facts: tuple[Fact, ...]                      # fact id -> (subject, relation, object)

    @property
    def n_concepts(self) -> int:
        return self.n_entities + self.n_relations

    def is_relation(self, concept: int) -> bool:
        return concept >= self.n_entities


def _fixed_words(pool: tuple[str, ...], n: int, key: str) -> list[str]:
    if n > len(pool):
        from ..errors import ConfigError
        raise ConfigError(f"params.yaml: data.synthetic.{key} = {n} but surface: words has {len(pool)} such English "
                          f"words; fix: lower it to {len(pool)} or less, or use surface: pseudo")
    return list(pool[:n])


def build_world(cfg: "SyntheticConfig", rng: np.random.Generator, lexicon: "Lexicon | None" = None) -> World:
    """Draw the world of ``cfg`` from ``rng`` (deterministic for a given generator state).

    Surface forms are pseudo-words, or with a ``lexicon`` real words (:mod:`irprune.data.synthetic_lexicon`)."""
    E, R = cfg.n_entities, cfg.n_relations
    taken: set[str] = set()
    function_words = make_words(rng, cfg.n_function_words, 1, 1, taken)
    question_words = make_words(rng, cfg.n_question_words, 1, 2, taken)
    background_words = make_words(rng, cfg.n_background_words, 2, 3, taken)
    n_forms = rng.integers(cfg.synonyms_min, cfg.synonyms_max + 1, size=E + R)
    forms: list[tuple[str, ...]] = []
    for c in range(E + R):
        lo, hi = (2, 3) if c >= E else (2, 4)
        forms.append(tuple(make_words(rng, int(n_forms[c]), lo, hi, taken)))
    if lexicon is not None:
        # Respell the same world in real words: the pseudo-words above were drawn only to leave ``rng`` where the
        # pseudo-word world leaves it, so topics, facts and form counts are identical; words use their own stream.
        from .synthetic_lexicon import FUNCTION_WORDS, QUESTION_WORDS, WordDrawer

        function_words = _fixed_words(FUNCTION_WORDS, cfg.n_function_words, "n_function_words")
        question_words = _fixed_words(QUESTION_WORDS, cfg.n_question_words, "n_question_words")
        drawer = WordDrawer(lexicon, np.random.default_rng([cfg.seed, 0x5EED]))
        background_words = drawer.random(cfg.n_background_words)
        forms = [tuple(drawer.synonyms(len(f))) for f in forms]
    form_pick = tuple(Categorical(range(len(f)), zipf_weights(len(f), cfg.synonym_zipf)) for f in forms)

    entity_pop = zipf_weights(E, cfg.entity_zipf)
    relation_pop = zipf_weights(R, cfg.relation_zipf)
    fact_ids: dict[Fact, int] = {}
    facts: list[Fact] = []
    topic_entities: list[Categorical] = []
    topic_relations: list[tuple[int, ...]] = []
    topic_facts: list[Categorical] = []
    topic_entity_facts: list[dict[int, Categorical]] = []
    for _ in range(cfg.n_topics):
        ents = rng.choice(E, size=cfg.entities_per_topic, replace=False, p=entity_pop)
        ent_w = zipf_weights(len(ents), cfg.topic_entity_zipf)
        rels = rng.choice(R, size=min(cfg.relations_per_topic, R), replace=False, p=relation_pop) + E
        rel_w = zipf_weights(len(rels), 1.0)
        # Vectorised proposals of base facts; duplicates and s == o are dropped below.
        n_prop = 4 * cfg.facts_per_topic + 16
        s_idx = rng.choice(len(ents), size=n_prop, p=ent_w)
        o_idx = rng.choice(len(ents), size=n_prop, p=ent_w)
        r_idx = rng.choice(len(rels), size=n_prop, p=rel_w)
        u = rng.random((n_prop, 3))
        local: list[Fact] = []
        weight: list[float] = []
        seen: set[Fact] = set()
        rank = 0
        for i in range(n_prop):
            if len(local) >= cfg.facts_per_topic:
                break
            s, o = int(ents[s_idx[i]]), int(ents[o_idx[i]])
            if s == o:
                continue
            base = (s, int(rels[r_idx[i]]), o)
            if base in seen:
                continue
            rank += 1
            w = rank ** (-cfg.fact_zipf)
            group = [base]
            if u[i, 0] < cfg.p_reverse_fact:
                group.append((o, base[1], s))
            if u[i, 1] < cfg.p_alt_relation_fact and len(rels) > 1:
                alt = int(rels[(r_idx[i] + 1 + int(u[i, 2] * (len(rels) - 1))) % len(rels)])
                group.append((s, alt, o))
            for f in group:
                if f not in seen and len(local) < cfg.facts_per_topic:
                    seen.add(f)
                    local.append(f)
                    weight.append(w)
        ids = []
        for f in local:
            if f not in fact_ids:
                fact_ids[f] = len(facts)
                facts.append(f)
            ids.append(fact_ids[f])
        by_entity: dict[int, tuple[list[int], list[float]]] = {}
        for fid, f, w in zip(ids, local, weight):
            for e in (f[0], f[2]):
                lst = by_entity.setdefault(e, ([], []))
                lst[0].append(fid)
                lst[1].append(w)
        topic_entities.append(Categorical([int(e) for e in ents], ent_w))
        topic_relations.append(tuple(int(r) for r in rels))
        topic_facts.append(Categorical(ids, weight))
        topic_entity_facts.append({e: Categorical(f, w) for e, (f, w) in by_entity.items()})

    return World(
        n_entities=E, n_relations=R, forms=tuple(forms), form_pick=form_pick,
        function_words=tuple(function_words),
        function_pick=Categorical(range(len(function_words)), zipf_weights(len(function_words), cfg.function_zipf)),
        background_words=tuple(background_words),
        background_pick=Categorical(range(len(background_words)),
                                    zipf_weights(len(background_words), cfg.background_zipf)),
        question_words=tuple(question_words),
        topic_pick=Categorical(range(cfg.n_topics), zipf_weights(cfg.n_topics, cfg.topic_zipf)),
        topic_entities=tuple(topic_entities), topic_relations=tuple(topic_relations),
        topic_facts=tuple(topic_facts), topic_entity_facts=tuple(topic_entity_facts), facts=tuple(facts))


__all__ = ["World", "Fact", "build_world"]
