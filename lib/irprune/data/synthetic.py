"""The embedded default collection: a seeded, synthetic, MS MARCO-shaped passage-ranking benchmark.

The study runs without network access, so its default collection is generated.  It is synthetic and says so;
it is built so that (i) BM25 is clearly better than random and its top-100 usually holds a relevant passage,
(ii) exact term matching is not enough: a query and its passage name the same concepts with independently drawn
synonyms (vocabulary mismatch), and hard distractor passages hold the same concepts in another order or
another link, which a bag of words cannot tell apart but an order/proximity-aware model can.

Generative model (the latent world is described in :mod:`irprune.data.synthetic_world`):

* A **passage** draws a primary topic (Zipf ``topic_zipf``), with probability ``p_second_topic`` a second one,
  a target length ``L ~ round(N(doc_len_mean, doc_len_sd))`` clipped to ``[doc_len_min, doc_len_max]`` and one or
  two focus entities.  It is a sequence of short *statements* until ``L`` tokens are reached: with probability
  ``p_mention_statement`` a co-mention of 2-3 topic entities with no relation, otherwise a **fact statement**
  ``[w] [m] S [w] R [w] [m] O [t...]`` rendering one topic fact ``(S, R, O)`` (a fact about a focus entity with
  probability ``p_focus``), where ``w`` are function words (``p_lead_word``, ``p_gap``), ``m`` background modifiers
  (``p_modifier``) and ``t`` up to ``max_trailing`` trailing background words.  Every concept mention draws its
  surface form independently.
* A **query** asks about one fact ``(s, r, o)`` stated by ``1..max_positives`` passages (facts are distinct
  across all queries, so train and test never share a fact): ``[q] s r o`` with a question word
  (``p_question_word``), the relation dropped with probability ``p_drop_relation``, a context entity of the
  passage it was written from appended with probability ``p_query_context`` and a background word inserted with
  probability ``p_query_noise`` (2-6 tokens).
* **Hard distractors.** For every query, the ``n_hard_distractors`` passages that mention ``s`` and ``o`` most
  often (and state no ``(s, ·, o)``) get one statement replaced by the reversed claim ``(o, r, s)`` (probability
  ``p_reversed_distractor``) or two statements by the scattered claims ``(s, r, x)`` and ``(y, r', o)``: the same
  words as a positive, so BM25 cannot separate them, but not the fact.
* **Graded relevance** of passage ``d`` to a query about ``(s, r, o)``, from the latent structure:
  3 = ``d`` states the fact ``(s, r, o)``; 2 = ``d`` links the same ordered pair with another relation,
  ``(s, r', o)`` (partial answer); 1 = ``d`` mentions both ``s`` and ``o`` but states no fact ``(s, ·, o)``
  (reversed ``(o, r, s)``, scattered co-mentions: topical, not an answer); 0 = judged non-relevant, a sample of
  ``n_judged_nonrelevant`` passages that mention ``s`` or ``o`` but not both.  Dev and test carry all labels
  (exhaustive for grades 1-3); train carries the grade-3 passages as positives (``rel = 1``), like MS MARCO.
  For MRR use relevance ``>= 2`` (the TREC DL convention).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Optional

import numpy as np
import scipy.sparse as sp

from ..config import ConfigError, frozen, from_mapping, param, to_mapping
from . import synthetic_text as text
from .synthetic_text import NO_CONCEPT
from .synthetic_vocab import Uniforms
from .synthetic_world import Fact, World, build_world
from .types import RetrievalDataset, Split

if TYPE_CHECKING:  # pragma: no cover
    from .synthetic_lexicon import Lexicon

GENERATOR_VERSION = 1


@frozen
class SyntheticConfig:
    """Sizes and knobs of the synthetic collection; the defaults are the study's default benchmark."""

    seed: int = param(13, ge=0, doc="seed of every random draw (numpy SeedSequence)")
    n_docs: int = param(6000, ge=50, le=2_000_000, doc="passages in the corpus")
    n_train_queries: int = param(3000, ge=1, doc="training queries (binary positives)")
    n_dev_queries: int = param(200, ge=1, doc="dev queries (graded 0-3)")
    n_test_queries: int = param(1000, ge=1, doc="test queries (graded 0-3)")
    # vocabulary
    surface: Literal["pseudo", "words"] = param("pseudo", doc="surface forms: pseudo-words, or real English "
                                                "words of a checkpoint's vocabulary (synthetic_lexicon)")
    surface_checkpoint: str = param("minilm-l6", doc="registered checkpoint whose vocabulary gives the words")
    synonyms: Literal["embedding", "random"] = param("embedding", doc="words: a concept's forms are neighbours "
                                                     "in the checkpoint's input embeddings, or random words")
    lexicon_size: int = param(10000, ge=100, doc="words: content words taken from the vocabulary, in its order")
    n_entities: int = param(1200, ge=10, doc="entity concepts")
    n_relations: int = param(40, ge=2, doc="relation concepts")
    n_function_words: int = param(40, ge=1, doc="function words (stop-word analogues)")
    n_background_words: int = param(600, ge=1, doc="background words that carry no concept")
    n_question_words: int = param(8, ge=1, doc="query-only question words")
    synonyms_min: int = param(1, ge=1, le=20, doc="fewest surface forms per concept")
    synonyms_max: int = param(3, ge=1, le=20, doc="most surface forms per concept")
    synonym_zipf: float = param(0.5, ge=0.0, le=5.0, doc="Zipf exponent of the choice among a concept's forms")
    entity_zipf: float = param(0.8, ge=0.0, le=3.0, doc="Zipf exponent of global entity popularity")
    relation_zipf: float = param(0.8, ge=0.0, le=3.0, doc="Zipf exponent of global relation popularity")
    function_zipf: float = param(1.0, ge=0.0, le=3.0, doc="Zipf exponent of function-word frequency")
    background_zipf: float = param(1.0, ge=0.0, le=3.0, doc="Zipf exponent of background-word frequency")
    # topics and facts
    n_topics: int = param(60, ge=1, doc="topics")
    topic_zipf: float = param(0.3, ge=0.0, le=3.0, doc="Zipf exponent of topic popularity")
    entities_per_topic: int = param(60, ge=3, doc="entities of a topic")
    relations_per_topic: int = param(12, ge=1, doc="relations of a topic")
    topic_entity_zipf: float = param(0.7, ge=0.0, le=3.0, doc="Zipf exponent of entity weight within a topic")
    facts_per_topic: int = param(300, ge=1, doc="facts (S, R, O) of a topic")
    fact_zipf: float = param(0.6, ge=0.0, le=3.0, doc="Zipf exponent of fact popularity within a topic")
    p_reverse_fact: float = param(0.3, ge=0.0, le=1.0, doc="P(a base fact's reverse (O, R, S) is also a fact)")
    p_alt_relation_fact: float = param(0.1, ge=0.0, le=1.0, doc="P(a sibling (S, R', O) is also a fact)")
    # passages
    doc_len_mean: float = param(48.0, gt=0.0, doc="mean target passage length (whitespace tokens)")
    doc_len_sd: float = param(14.0, ge=0.0, doc="standard deviation of the target length")
    doc_len_min: int = param(20, ge=8, doc="shortest passage")
    doc_len_max: int = param(90, ge=8, doc="longest passage")
    p_second_topic: float = param(0.3, ge=0.0, le=1.0, doc="P(a passage mixes a second topic)")
    p_focus: float = param(0.5, ge=0.0, le=1.0, doc="P(a fact statement is about a focus entity)")
    p_mention_statement: float = param(0.2, ge=0.0, lt=1.0, doc="P(a statement is a co-mention, no fact)")
    p_lead_word: float = param(0.7, ge=0.0, le=1.0, doc="P(a statement opens with a function word)")
    p_modifier: float = param(0.25, ge=0.0, le=1.0, doc="P(a background modifier before an entity)")
    p_gap: float = param(0.3, ge=0.0, le=1.0, doc="P(a function word between S-R and between R-O)")
    max_trailing: int = param(2, ge=0, le=10, doc="most trailing background words of a statement")
    # queries and judgements
    p_question_word: float = param(0.5, ge=0.0, le=1.0, doc="P(a query starts with a question word)")
    p_drop_relation: float = param(0.15, ge=0.0, le=1.0, doc="P(a query omits the relation)")
    p_query_context: float = param(0.15, ge=0.0, le=1.0, doc="P(a query adds a context entity of its passage)")
    p_query_noise: float = param(0.1, ge=0.0, le=1.0, doc="P(a query holds a background word)")
    max_positives: int = param(4, ge=1, doc="most passages stating a queried fact")
    n_hard_distractors: int = param(6, ge=0, doc="passages turned into hard distractors per query")
    p_reversed_distractor: float = param(0.5, ge=0.0, le=1.0,
                                         doc="P(a hard distractor states (O, R, S); else it scatters S, R, O)")
    n_judged_nonrelevant: int = param(6, ge=0, doc="judged grade-0 passages per dev/test query")

    def validate(self) -> None:
        """Cross-field checks (called by ``from_mapping`` and by :func:`generate`)."""
        def bad(key: str, msg: str) -> ConfigError:
            return ConfigError(f"params.yaml: synthetic config key {key}: {msg}")
        if self.synonyms_min > self.synonyms_max:
            raise bad("synonyms_min", f"{self.synonyms_min} > synonyms_max = {self.synonyms_max}; lower it")
        if not self.doc_len_min <= self.doc_len_mean <= self.doc_len_max:
            raise bad("doc_len_mean", f"{self.doc_len_mean} must lie in [doc_len_min, doc_len_max] = "
                      f"[{self.doc_len_min}, {self.doc_len_max}]")
        if self.entities_per_topic > self.n_entities:
            raise bad("entities_per_topic", f"{self.entities_per_topic} > n_entities = {self.n_entities}")


@dataclass(frozen=True)
class SyntheticTruth:
    """The latent structure behind a generated dataset, for oracle and calibration tests.

    Concept ids: entities ``0..n_entities-1``, relations ``n_entities..``; ``-1`` marks function, background and
    question words.  ``facts[f] = (subject, relation, object)``.
    """

    world: World
    facts: tuple[Fact, ...]                      # fact id -> (S, R, O): the world's facts, then planted claims
    form_concept: dict[str, int]                 # surface form -> concept id
    doc_topics: dict[str, tuple[int, ...]]
    doc_facts: dict[str, tuple[int, ...]]        # fact ids stated, in order
    doc_concepts: dict[str, tuple[int, ...]]     # per whitespace token
    query_fact: dict[str, int]
    query_doc: dict[str, str]                    # the passage the query was written from
    query_concepts: dict[str, tuple[int, ...]]   # per whitespace token
    query_split: dict[str, str]
    fact_docs: dict[int, tuple[str, ...]] = field(repr=False)  # fact id -> passages stating it

    def concept_text(self, text: str) -> str:
        """``text`` with every concept surface form replaced by ``c<id>``: synonyms collapse to one token."""
        fc = self.form_concept
        return " ".join(f"c{fc[w]}" if w in fc else w for w in text.split())


def _lexicon(cfg: SyntheticConfig) -> Optional["Lexicon"]:
    """The checkpoint's word pool for ``surface: words`` (verified files; never downloads offline)."""
    if cfg.surface == "pseudo":
        return None
    from ..weights import resolve
    from .synthetic_lexicon import load_lexicon

    directory = resolve(cfg.surface_checkpoint)
    return load_lexicon(directory, cfg.lexicon_size, embeddings=cfg.synonyms == "embedding",
                        source=cfg.surface_checkpoint)


def _ids(rng: np.random.Generator, n: int, lo: int) -> list[str]:
    """``n`` distinct digit-string ids drawn from ``[lo, lo + 10 n)`` in random order (MS MARCO-like)."""
    return [str(int(x) + lo) for x in rng.choice(10 * n, size=n, replace=False)]


def generate_with_truth(cfg: SyntheticConfig) -> tuple[RetrievalDataset, SyntheticTruth]:
    """The dataset of ``cfg`` and its latent structure.  Pure: the same config gives the same output."""
    cfg = from_mapping(SyntheticConfig, to_mapping(cfg))  # bounds and cross-field checks, even if built directly
    ss = np.random.SeedSequence(cfg.seed)
    rng_world, rng_docs, rng_len, rng_ids, rng_q, rng_plant, rng_tie = (
        np.random.default_rng(s) for s in ss.spawn(7))
    world = build_world(cfg, rng_world, _lexicon(cfg))

    # 1. Passages as lists of statements.
    lengths = np.clip(np.rint(rng_len.normal(cfg.doc_len_mean, cfg.doc_len_sd, size=cfg.n_docs)),
                      cfg.doc_len_min, cfg.doc_len_max).astype(int).tolist()
    doc_ids = _ids(rng_ids, cfg.n_docs, 0)
    u = Uniforms(rng_docs)
    passages = {did: text.passage(world, cfg, u, n) for did, n in zip(doc_ids, lengths)}

    # 2. Query facts: distinct, each stated by 1..max_positives passages.
    stated: dict[int, list[str]] = {}
    rows: list[int] = []
    cols: list[int] = []
    for j, (did, p) in enumerate(passages.items()):
        for f in p.facts():
            stated.setdefault(f, []).append(did)
        ents = [c for c in p.concepts() if 0 <= c < world.n_entities]
        rows.extend(ents)
        cols.extend([j] * len(ents))
    # mentions[e, j]: how often entity e is mentioned in passage j
    mentions = sp.csr_matrix((np.ones(len(rows), dtype=np.float64), (rows, cols)),
                             shape=(world.n_entities, cfg.n_docs))
    n_q = cfg.n_test_queries + cfg.n_dev_queries + cfg.n_train_queries
    eligible = sorted(f for f, ds in stated.items() if len(ds) <= cfg.max_positives)
    if len(eligible) < n_q:
        raise ConfigError(
            f"params.yaml: synthetic: {n_q} queries need {n_q} distinct facts stated by at most max_positives = "
            f"{cfg.max_positives} passages, but only {len(eligible)} exist; lower n_train_queries, or raise "
            "n_docs, facts_per_topic or max_positives")
    chosen = [eligible[i] for i in rng_q.permutation(len(eligible))[:n_q]]

    # 3. Hard distractors for every query, planted in the passages that mention its subject and object most
    #    (ties broken at random), so that they are as close to the positives as a bag of words can see.
    facts = text.Facts(world.facts)
    protected = set(chosen)
    up = Uniforms(rng_plant)
    planted = [0] * n_q
    doc_pos = {d: j for j, d in enumerate(doc_ids)}
    k = 6 * cfg.n_hard_distractors + 8
    ind, val, ptr = mentions.indices, mentions.data, mentions.indptr
    for i in rng_plant.permutation(n_q).tolist():
        s, _, o = world.facts[chosen[i]]
        docs = np.concatenate([ind[ptr[s]:ptr[s + 1]], ind[ptr[o]:ptr[o + 1]]])
        counts = np.concatenate([val[ptr[s]:ptr[s + 1]], val[ptr[o]:ptr[o + 1]]])
        docs, inv = np.unique(docs, return_inverse=True)
        score = np.bincount(inv, weights=counts) + rng_tie.random(len(docs))  # random tie-breaks
        score[np.isin(docs, [doc_pos[d] for d in stated[chosen[i]]])] = -1.0
        top = np.argsort(-score, kind="stable")[:k]
        cands = [doc_ids[docs[j]] for j in top if score[j] > 0]
        planted[i] = text.plant_distractors(world, cfg, up, world.facts[chosen[i]], cands, passages, facts,
                                            protected)

    # 4. The final corpus and its indexes.
    corpus: dict[str, str] = {}
    doc_concepts: dict[str, tuple[int, ...]] = {}
    doc_facts: dict[str, tuple[int, ...]] = {}
    fact_docs: dict[int, list[str]] = {}
    entity_docs: dict[int, set[str]] = {}
    pair_docs: dict[tuple[int, int], set[str]] = {}
    for did, p in passages.items():
        corpus[did] = p.text()
        doc_concepts[did], doc_facts[did] = tuple(p.concepts()), tuple(p.facts())
        for f in doc_facts[did]:
            fact_docs.setdefault(f, []).append(did)
            pair_docs.setdefault((facts.triples[f][0], facts.triples[f][2]), set()).add(did)
        for c in set(doc_concepts[did]):
            if 0 <= c < world.n_entities:
                entity_docs.setdefault(c, set()).add(did)

    # 5. Queries and judgements.
    q_ids = _ids(rng_q, n_q, 1_000_000)
    uq = Uniforms(rng_q)
    names = ["test"] * cfg.n_test_queries + ["dev"] * cfg.n_dev_queries + ["train"] * cfg.n_train_queries
    splits = {name: Split(queries={}, qrels={}) for name in ("train", "dev", "test")}
    query_fact: dict[str, int] = {}
    query_doc: dict[str, str] = {}
    query_concepts: dict[str, tuple[int, ...]] = {}
    query_split: dict[str, str] = {}
    for qid, fid, name in zip(q_ids, chosen, names):
        positives = fact_docs[fid]
        target = positives[uq.below(len(positives))]
        toks, cons = text.query(world, cfg, uq, world.facts[fid], doc_concepts[target])
        split = splits[name]
        split.queries[qid] = " ".join(toks)
        query_fact[qid], query_doc[qid], query_concepts[qid], query_split[qid] = fid, target, tuple(cons), name
        if name == "train":
            split.qrels[qid] = {d: 1 for d in positives}
        else:
            split.qrels[qid] = _graded(world.facts[fid], positives, pair_docs, entity_docs,
                                       cfg.n_judged_nonrelevant, uq)

    truth = SyntheticTruth(
        world=world, facts=tuple(facts.triples),
        form_concept={f: c for c, fs in enumerate(world.forms) for f in fs},
        doc_topics={d: p.topics for d, p in passages.items()}, doc_facts=doc_facts, doc_concepts=doc_concepts,
        query_fact=query_fact, query_doc=query_doc, query_concepts=query_concepts, query_split=query_split,
        fact_docs={f: tuple(ds) for f, ds in fact_docs.items()})
    meta: dict[str, object] = {
        "source": "synthetic", "generator_version": GENERATOR_VERSION, "config": to_mapping(cfg),
        "n_docs": len(corpus), "n_world_facts": len(world.facts), "n_stated_facts": len(fact_docs),
        "n_queries": {k: len(v.queries) for k, v in splits.items()},
        "mean_hard_distractors": float(np.mean(planted)),
        "relevance": {"3": "states the fact (s, r, o)", "2": "states (s, r', o), another relation",
                      "1": "mentions s and o, states no (s, ., o)", "0": "judged: mentions s or o, not both"},
    }
    return RetrievalDataset(corpus=corpus, splits=splits, meta=meta), truth


def _graded(fact: Fact, positives: list[str], pair_docs: dict[tuple[int, int], set[str]],
            entity_docs: dict[int, set[str]], n_zero: int, u: Uniforms) -> dict[str, int]:
    """Graded qrels of a dev/test query about ``fact`` (grades defined in the module docstring)."""
    s, _, o = fact
    labels = {d: 1 for d in entity_docs.get(s, set()) & entity_docs.get(o, set())}
    labels.update({d: 2 for d in pair_docs.get((s, o), set())})
    labels.update({d: 3 for d in positives})
    pool = sorted((entity_docs.get(s, set()) | entity_docs.get(o, set())) - labels.keys())
    for _ in range(min(n_zero, len(pool))):
        labels[pool.pop(u.below(len(pool)))] = 0
    return dict(sorted(labels.items()))  # a fixed order, independent of set iteration (PYTHONHASHSEED)


def generate(cfg: SyntheticConfig) -> RetrievalDataset:
    """The synthetic dataset of ``cfg`` (splits ``train``, ``dev``, ``test``); see the module docstring."""
    return generate_with_truth(cfg)[0]


__all__ = ["SyntheticConfig", "SyntheticTruth", "generate", "generate_with_truth", "GENERATOR_VERSION",
           "NO_CONCEPT"]
