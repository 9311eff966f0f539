"""The synthetic default collection: determinism, structure, latent truth, and difficulty calibration.

The calibration thresholds are the design targets (BM25 clearly above random and clearly below the oracles, the
relevant passage usually in BM25's top 100); the benchmark ``benchmarks/bench_synthetic.py`` prints the same
numbers at the default size.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from irprune.config import ConfigError, from_mapping, to_mapping
from irprune.data import synthetic_calibration as cal
from irprune.data.synthetic import SyntheticConfig, generate, generate_with_truth
from irprune.data.synthetic_text import NO_CONCEPT

SMALL = dict(n_docs=1500, n_train_queries=500, n_dev_queries=100, n_test_queries=150)


@pytest.fixture(scope="module")
def small():
    return generate_with_truth(SyntheticConfig(**SMALL))


@pytest.fixture(scope="module")
def calibration(small):
    ds, truth = small
    return cal.calibrate(ds, truth, "test")


def _fingerprint(ds) -> tuple:
    return (tuple(ds.corpus.items()),
            tuple((n, tuple(s.queries.items()), tuple((q, tuple(sorted(r.items()))) for q, r in s.qrels.items()))
                  for n, s in sorted(ds.splits.items())))


# --- determinism -------------------------------------------------------------------------------------------

def test_same_seed_same_dataset_and_different_seed_differs(small):
    again = generate(SyntheticConfig(**SMALL))
    assert _fingerprint(again) == _fingerprint(small[0])
    other = generate(SyntheticConfig(**{**SMALL, "seed": 14}))
    assert set(other.corpus.values()) != set(small[0].corpus.values())
    assert set(other.splits["test"].queries.values()) != set(small[0].splits["test"].queries.values())


def test_same_output_across_processes_and_hash_seeds():
    """Set iteration order varies with PYTHONHASHSEED; the written dataset (order included) must not."""
    code = ("import hashlib, json; from irprune.data.synthetic import SyntheticConfig, generate; "
            "d = generate(SyntheticConfig(n_docs=300, n_train_queries=50, n_dev_queries=20, n_test_queries=20)); "
            "print(hashlib.sha256(json.dumps([d.corpus, {k: [s.queries, s.qrels] for k, s in d.splits.items()}])"
            ".encode()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed},
                              capture_output=True, text=True, check=True).stdout for seed in ("1", "2")}
    assert len(digests) == 1


def test_generation_leaves_global_rng_alone():
    np.random.seed(0)
    before = np.random.random()
    np.random.seed(0)
    generate(SyntheticConfig(n_docs=200, n_train_queries=20, n_dev_queries=5, n_test_queries=5))
    assert np.random.random() == before


# --- structure ---------------------------------------------------------------------------------------------

def test_splits_sizes_and_ids(small):
    ds, _ = small
    assert set(ds.splits) == {"train", "dev", "test"}
    assert len(ds.corpus) == SMALL["n_docs"]
    for name in ("train", "dev", "test"):
        assert len(ds.splits[name].queries) == SMALL[f"n_{name}_queries"]
    qids = [q for s in ds.splits.values() for q in s.queries]
    assert len(qids) == len(set(qids)), "query ids must be unique across splits"
    assert all(i.isdigit() for i in list(ds.corpus) + qids)
    assert len(set(ds.corpus.values())) == len(ds.corpus), "no duplicate passages"
    texts = [t for s in ds.splits.values() for t in s.queries.values()]
    assert len(set(texts)) > 0.95 * len(texts)


def test_every_train_query_has_a_positive_and_judged_docs_exist(small):
    ds, _ = small
    for name, split in ds.splits.items():
        assert set(split.qrels) == set(split.queries)
        for q, labels in split.qrels.items():
            assert set(labels) <= ds.corpus.keys(), f"{name} query {q} judges a missing passage"
            assert any(v >= 1 for v in labels.values()), f"{name} query {q} has no positive"
    assert set(v for lab in ds.splits["train"].qrels.values() for v in lab.values()) == {1}


def test_test_labels_are_graded(small):
    ds, _ = small
    counts = Counter(v for lab in ds.splits["test"].qrels.values() for v in lab.values())
    assert set(counts) == {0, 1, 2, 3}
    assert all(any(v == 3 for v in lab.values()) for lab in ds.splits["test"].qrels.values())


def test_lengths_in_range(small):
    ds, _ = small
    cfg = SyntheticConfig(**SMALL)
    lengths = np.array([len(t.split()) for t in ds.corpus.values()])
    assert lengths.min() >= cfg.doc_len_min and lengths.max() <= cfg.doc_len_max
    assert abs(lengths.mean() - cfg.doc_len_mean) < 0.15 * cfg.doc_len_mean
    qlen = [len(t.split()) for s in ds.splits.values() for t in s.queries.values()]
    assert min(qlen) >= 2 and max(qlen) <= 8


def test_term_frequencies_are_zipfian(small):
    ds, _ = small
    freq = np.array(sorted(Counter(t for x in ds.corpus.values() for t in x.split()).values(), reverse=True),
                    dtype=float)
    ranks = np.arange(1, min(1000, len(freq)) + 1)
    slope = np.polyfit(np.log(ranks), np.log(freq[ranks - 1]), 1)[0]
    assert -1.4 < slope < -0.7, slope


# --- the latent truth agrees with the text and the labels ---------------------------------------------------

def test_truth_matches_text(small):
    ds, truth = small
    forms = truth.world.forms
    assert sum(len(f) for f in forms) == len(truth.form_concept), "a surface form names one concept only"
    assert any(len(f) > 1 for f in forms)
    for did, text in ds.corpus.items():
        toks, cons = text.split(), truth.doc_concepts[did]
        assert len(toks) == len(cons)
        assert all(truth.form_concept.get(t, NO_CONCEPT) == c for t, c in zip(toks, cons))
        for f in truth.doc_facts[did]:  # each stated fact appears as S ... R ... O within a short span
            s, r, o = truth.facts[f]
            ok = any(cons[i] == s and r in cons[i + 1:i + 4] and o in cons[i + 2:i + 7] for i in range(len(cons)))
            assert ok, f"passage {did} does not render fact {truth.facts[f]}"
    for q, text in ds.splits["test"].queries.items():
        assert [truth.form_concept.get(t, NO_CONCEPT) for t in text.split()] == list(truth.query_concepts[q])


def test_graded_labels_follow_their_definition(small):
    """Recompute grades 1-3 from the truth and compare (grade 0 is a sample of the rest)."""
    ds, truth = small
    for q, labels in ds.splits["test"].qrels.items():
        s, r, o = truth.facts[truth.query_fact[q]]
        assert truth.query_doc[q] in labels and labels[truth.query_doc[q]] == 3
        for d in ds.corpus:
            stated = {truth.facts[f] for f in truth.doc_facts[d]}
            if (s, r, o) in stated:
                want = 3
            elif any(x == s and z == o for x, _, z in stated):
                want = 2
            elif s in truth.doc_concepts[d] and o in truth.doc_concepts[d]:
                want = 1
            else:
                want = 0
            got = labels.get(d)
            assert got == want or (want == 0 and got is None), (q, d, got, want)
            if got == 0:
                assert (s in truth.doc_concepts[d]) != (o in truth.doc_concepts[d])


def test_train_and_eval_queries_ask_different_facts(small):
    _, truth = small
    by_split: dict[str, set[int]] = {}
    for q, f in truth.query_fact.items():
        by_split.setdefault(truth.query_split[q], set()).add(f)
    assert not by_split["train"] & by_split["test"] and not by_split["train"] & by_split["dev"]
    assert not by_split["dev"] & by_split["test"]


def test_hard_distractors_are_planted(small):
    ds, truth = small
    assert ds.meta["mean_hard_distractors"] > 0.8 * SyntheticConfig().n_hard_distractors
    stated = Counter(truth.facts[f] for fs in truth.doc_facts.values() for f in fs)
    reversed_ = sum(stated[(o, r, s)] for s, r, o in (truth.facts[truth.query_fact[q]]
                                                     for q in ds.splits["test"].queries))
    assert reversed_ > len(ds.splits["test"].queries), "reversed-claim distractors should be common"


def test_vocabulary_mismatch_occurs(small):
    ds, truth = small
    miss = 0
    n = 0
    for q, text in ds.splits["test"].queries.items():
        doc_words = set(ds.corpus[truth.query_doc[q]].split())
        for tok, c in zip(text.split(), truth.query_concepts[q]):
            if c != NO_CONCEPT:
                n += 1
                miss += tok not in doc_words
    assert 0.1 < miss / n < 0.6, miss / n


# --- configuration -----------------------------------------------------------------------------------------

def test_config_round_trip_and_errors():
    cfg = from_mapping(SyntheticConfig, {"n_docs": 100, "seed": 3})
    assert from_mapping(SyntheticConfig, to_mapping(cfg)) == cfg
    with pytest.raises(ConfigError, match="synonyms_min"):
        from_mapping(SyntheticConfig, {"synonyms_min": 4, "synonyms_max": 2})
    with pytest.raises(ConfigError, match="doc_len_mean"):
        from_mapping(SyntheticConfig, {"doc_len_mean": 200.0})
    with pytest.raises(ConfigError, match="n_dcos"):
        from_mapping(SyntheticConfig, {"n_dcos": 10})
    with pytest.raises(ConfigError, match="p_gap"):
        from_mapping(SyntheticConfig, {"p_gap": 1.5})
    with pytest.raises(ConfigError, match="synonyms_min"):  # built directly, checked by generate
        generate(dataclasses.replace(SyntheticConfig(), synonyms_min=5, synonyms_max=1))
    with pytest.raises(ConfigError, match="n_train_queries"):
        generate(SyntheticConfig(n_docs=60, n_train_queries=5000, n_dev_queries=5, n_test_queries=5))


# --- calibration -------------------------------------------------------------------------------------------

def test_metrics_agree_with_trec_eval(small, calibration):
    pytrec_eval = pytest.importorskip("pytrec_eval")
    ds, _ = small
    _, runs = calibration
    qrels = ds.splits["test"].qrels
    run = runs["bm25"]
    scored = {q: {d: float(1000 - i) for i, d in enumerate(docs[:10])} or {"none": 0.0} for q, docs in run.items()}
    ev = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank", "ndcg_cut.10"}, relevance_level=2)
    res = ev.evaluate(scored)
    assert cal.mrr_at_k(run, qrels, 10) == pytest.approx(np.mean([v["recip_rank"] for v in res.values()]))
    assert cal.ndcg_at_k(run, qrels, 10) == pytest.approx(np.mean([v["ndcg_cut_10"] for v in res.values()]))


def test_bm25s_agrees_with_rank_bm25(small, calibration):
    rank_bm25 = pytest.importorskip("rank_bm25")
    ds, _ = small
    _, runs = calibration
    ids = list(ds.corpus)
    # rank_bm25's BM25Okapi floors negative idf differently from Lucene; compare on the top-1 only.
    model = rank_bm25.BM25Okapi([ds.corpus[d].split() for d in ids], k1=0.9, b=0.4, epsilon=0.25)
    queries = list(ds.splits["test"].queries.items())[:60]
    agree = sum(runs["bm25"][q][:1] == [ids[int(np.argmax(model.get_scores(t.split())))]] for q, t in queries)
    assert agree >= 0.9 * len(queries)


def test_random_rr_matches_simulation():
    rng = np.random.default_rng(0)
    sims = []
    for _ in range(20000):
        first = np.flatnonzero(rng.permutation(30) < 3)[0] + 1
        sims.append(1.0 / first if first <= 10 else 0.0)
    assert cal.random_rr_at_k(30, 3, 10) == pytest.approx(np.mean(sims), abs=0.01)


def test_bm25_is_clearly_above_random_and_finds_the_positive(calibration):
    m, _ = calibration
    assert m["bm25_mrr10"] > 3 * m["random_mrr10"]
    assert m["bm25_mrr10"] > 3 * m["random_rerank_mrr10"], "BM25 order beats shuffling its own top 100"
    assert m["bm25_r100"] > 0.8 and m["bm25_s100"] > 0.9, "reranking BM25's top 100 must be able to help"


def test_soft_matching_oracle_beats_surface_bm25(calibration):
    m, _ = calibration
    assert m["concept_bm25_mrr10"] > m["bm25_mrr10"] + 0.05, "vocabulary mismatch should cost BM25"
    assert m["concept_bm25_r100"] > m["bm25_r100"] + 0.05


def test_order_aware_oracle_beats_bag_of_words(calibration):
    m, _ = calibration
    assert m["order_oracle_mrr10"] > m["concept_bm25_mrr10"] + 0.25, "order/proximity should matter"
    assert m["order_oracle_mrr10"] > m["unordered_oracle_mrr10"] + 0.2, "order, not only proximity"
    assert m["surface_order_mrr10"] > m["bm25_mrr10"] + 0.05, "order is usable even from exact matches"
    assert m["bm25_mrr10"] < 0.6 * m["order_oracle_mrr10"], "BM25 leaves headroom for a learned reranker"
