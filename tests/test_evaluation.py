"""Metrics: ranx-based evaluate() against trec_eval (pytrec_eval) and ir_measures, on the real DL19 qrels."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from irprune.config import from_mapping
from irprune.errors import ConfigError
from irprune.evaluation import EvalConfig, evaluate, parse_metric

pytrec_eval = pytest.importorskip("pytrec_eval")

# our metric name -> trec_eval measure (mrr@10 is recip_rank on the top-10 cut, see _trec_eval)
TREC = {"ndcg@10": "ndcg_cut_10", "ndcg": "ndcg", "map": "map", "map@100": "map_cut_100",
        "recall@100": "recall_100", "recall@1000": "recall_1000", "precision@10": "P_10",
        "r-precision": "Rprec", "mrr": "recip_rank", "hits@10": "success_10"}
METRICS = ("mrr@10", *TREC)


def _ranked(ranking: dict[str, float]) -> list[str]:
    """trec_eval's order, written out independently: score descending, then doc id descending."""
    by_doc = sorted(ranking, reverse=True)
    return sorted(by_doc, key=lambda d: -ranking[d])            # stable: equal scores keep doc id descending


def _trec_eval(qrels: dict, run: dict, level: int) -> dict[str, dict[str, float]]:
    """Per-query reference values from trec_eval (pytrec_eval) on the run as it is, ties included (trec_eval
    breaks them itself), trec_eval -c semantics for missing queries; MRR@10 from its top 10."""
    raw = {q: r for q, r in run.items() if r}
    top10 = {q: {d: r[d] for d in _ranked(r)[:10]} for q, r in raw.items()}
    full = pytrec_eval.RelevanceEvaluator(qrels, set(TREC.values()), relevance_level=level).evaluate(raw)
    rr10 = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}, relevance_level=level).evaluate(top10)
    out: dict[str, dict[str, float]] = {m: {} for m in METRICS}
    for q in qrels:
        out["mrr@10"][q] = rr10.get(q, {}).get("recip_rank", 0.0)
        for ours, theirs in TREC.items():
            out[ours][q] = full.get(q, {}).get(theirs, 0.0)
    return out


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for line in path.read_text().splitlines():
        q, _, d, rel = line.split()
        qrels.setdefault(q, {})[d] = int(rel)
    return qrels


@pytest.fixture(scope="module")
def dl19(shared_data: Path) -> dict[str, dict[str, int]]:
    return _read_qrels(shared_data / "trec-dl-msmarco-topics-qrels" / "qrels" / "qrels.dl19-passage.txt")


def _random_run(qrels: dict, seed: int) -> dict[str, dict[str, float]]:
    """Judged (all labels) + unjudged docs per query, coarse scores so that many ties occur."""
    rng = random.Random(seed)
    run: dict[str, dict[str, float]] = {}
    qids = sorted(qrels)
    for i, q in enumerate(qids):
        if i % 11 == 3:
            continue  # some judged queries get no results at all
        judged = sorted(qrels[q])
        docs = rng.sample(judged, k=min(len(judged), rng.randint(20, 400))) + [f"u{q}-{j}" for j in range(300)]
        run[q] = {d: rng.randint(0, 60) / 4 for d in docs}
    run["999999"] = {"x": 1.0}  # a query not in the qrels: ignored
    return run


@pytest.mark.shared_data
@pytest.mark.parametrize("level", [2, 1])
def test_every_metric_every_query_matches_trec_eval_on_dl19(dl19: dict, level: int) -> None:
    run = _random_run(dl19, seed=level)
    ties = sum(len(r) - len(set(r.values())) for r in run.values())
    assert ties > 1000  # the run really exercises tie-breaking
    res = evaluate(dl19, run, EvalConfig(metrics=METRICS, relevance_level=level))
    ref = _trec_eval(dl19, run, level)
    assert res.num_queries == len(dl19) == 43
    assert res.num_queries_without_results == sum(1 for q in dl19 if q not in run) > 0
    assert res.num_run_queries_ignored == 1
    for m in METRICS:
        assert set(res.per_query[m]) == set(dl19)
        for q in dl19:
            assert res.per_query[m][q] == pytest.approx(ref[m][q], abs=1e-6), (m, q)
        assert res.aggregate[m] == pytest.approx(sum(ref[m].values()) / len(dl19), abs=1e-6)
        assert 0.0 < res.aggregate[m] < 1.0


@pytest.mark.shared_data
def test_against_ir_measures_rel2(dl19: dict) -> None:
    ir_measures = pytest.importorskip("ir_measures")
    from ir_measures import AP, R, RR, nDCG

    run = _random_run(dl19, seed=7)
    tie_free = {q: {d: float(len(r) - i) for i, d in enumerate(_ranked(r))} for q, r in run.items()}
    ours = evaluate(dl19, run, EvalConfig(metrics=("mrr@10", "ndcg@10", "map", "recall@100"), relevance_level=2))
    measures = {"mrr@10": RR(rel=2) @ 10, "ndcg@10": nDCG @ 10, "map": AP(rel=2), "recall@100": R(rel=2) @ 100}
    for name, measure in measures.items():
        ref = {m.query_id: m.value for m in ir_measures.iter_calc([measure], dl19, tie_free)}
        for q in dl19:
            assert ours.per_query[name][q] == pytest.approx(ref.get(q, 0.0), abs=1e-6), (name, q)


def test_semantics_on_a_hand_made_example() -> None:
    qrels = {"1": {"a": 2, "b": 1, "c": 0, "n": -1}, "2": {"x": 0}, "3": {"y": 1}, "4": {"z": 3}, "5": {}}
    run = {"1": {"n": 9.0, "b": 3.0, "a": 3.0, "d": 2.0}, "2": {"x": 1.0}, "3": {"y": 1.0}, "9": {"a": 1.0}}
    res = evaluate(qrels, run, EvalConfig(metrics=("mrr@10", "ndcg@10", "recall@1", "map"), relevance_level=2))
    # "5" has no judgement: not a query; "9" only in the run: ignored; "4" judged but not retrieved: zeros.
    assert res.num_queries == 4 and res.num_run_queries_ignored == 1 and res.num_queries_without_results == 1
    pq = res.per_query
    # query 1 ranks n(-1), b(1), a(2), d: ties a/b broken by doc id descending (trec_eval), so "a" is at rank 3
    assert pq["mrr@10"]["1"] == pytest.approx(1 / 3) and pq["recall@1"]["1"] == 0.0
    assert pq["map"]["1"] == pytest.approx(1 / 3)
    ideal = 2 + 1 / math.log2(3)
    assert pq["ndcg@10"]["1"] == pytest.approx((1 / math.log2(3) + 2 / math.log2(4)) / ideal)
    assert all(pq[m]["2"] == 0.0 for m in pq)                        # nothing relevant
    assert pq["ndcg@10"]["3"] == 1.0 and pq["map"]["3"] == 0.0       # graded nDCG, binary MAP at level 2
    assert all(pq[m]["4"] == 0.0 for m in pq)                        # not retrieved (trec_eval -c)
    assert res.aggregate["mrr@10"] == pytest.approx(1 / 3 / 4)
    metrics = json.loads(res.to_json())
    assert set(metrics) == {"mrr@10", "ndcg@10", "recall@1", "map", "num_queries"}
    assert all("." not in k for k in metrics)


def test_metric_names_are_validated_with_the_valid_list() -> None:
    assert parse_metric("P@5").name == "precision@5" and parse_metric("NDCG@10").name == "ndcg@10"
    for bad, hint in [("ndcg@0", "k must be"), ("precision", "needs a cut-off"), ("r-precision@5", "no cut-off"),
                      ("bleu@4", "valid metrics: mrr"), ("map@ten", "valid metrics")]:
        with pytest.raises(ConfigError, match=hint):
            EvalConfig(metrics=("map", bad))
    with pytest.raises(ConfigError, match=r"eval.metrics\[1\]"):
        EvalConfig(metrics=("map", "foo"))
    with pytest.raises(ConfigError, match="twice"):
        EvalConfig(metrics=("p@5", "precision@5"))
    with pytest.raises(ConfigError, match="relevance_level"):
        from_mapping(EvalConfig, {"relevance_level": 0})
    with pytest.raises(ConfigError, match="non-empty"):
        from_mapping(EvalConfig, {"metrics": []})
    assert from_mapping(EvalConfig, {"relevance_level": 2}).relevance_level == 2


def test_results_are_written_atomically_as_flat_json(tmp_path: Path) -> None:
    res = evaluate({"q": {"a": 1}}, {"q": {"a": 1.0, "b": 2.0}}, EvalConfig(metrics=("mrr", "recall@1")))
    res.write_metrics(tmp_path / "m.json")
    res.write_per_query(tmp_path / "pq.json")
    assert json.loads((tmp_path / "m.json").read_text()) == {"mrr": 0.5, "recall@1": 0.0, "num_queries": 1}
    assert json.loads((tmp_path / "pq.json").read_text())["per_query"]["mrr"] == {"q": 0.5}
    with pytest.raises(ValueError, match="no judged query"):
        evaluate({}, {"q": {"a": 1.0}})


def test_warm_up_compiles_every_metric_family() -> None:
    from irprune.evaluation import warm_up

    assert warm_up() > 0.0


def test_a_single_metric_with_a_cutoff_evaluates():
    qrels = {"1": {"a": 2, "b": 0}, "2": {"c": 1}}
    run = {"1": {"a": 1.0, "b": 2.0}, "2": {"c": 0.5, "a": 0.1}}
    for metric, expected in (("mrr@10", (0.5 + 1.0) / 2), ("recall@1", 0.5), ("map", 0.75), ("hits@1", 0.5),
                             ("success@2", 1.0)):
        res = evaluate(qrels, run, EvalConfig(metrics=(metric,)))
        assert res.aggregate == {parse_metric(metric).name: pytest.approx(expected)}


def test_padded_arrays_give_ranx_dict_path_values() -> None:
    """evaluate() hands ranx padded arrays (no numba typed dicts); ranx's own dict path must agree per query,
    with ragged judgements, ties, unjudged documents and an empty ranking."""
    import ranx

    from irprune.evaluation import ranx_arrays
    from irprune.runs import rank_scores

    rng = random.Random(3)
    qrels = {f"q{i}": {f"d{j}": rng.choice([1, 2, 3]) for j in rng.sample(range(40), rng.randint(1, 6))}
             for i in range(25)}
    run = {q: {f"d{j}": float(rng.randint(0, 5)) for j in rng.sample(range(40), rng.randint(0, 30))}
           for q in qrels}
    run["q0"] = {}
    metrics = ["mrr@10", "ndcg@10", "ndcg", "map", "recall@10", "precision@5", "r-precision"]
    for level in (1, 2):
        asked = [f"{m}-l{level}" if not m.startswith("ndcg") else m for m in metrics]
        order, qa, ra = ranx_arrays(qrels, run)
        assert order == sorted(qrels)
        ours = ranx.evaluate(qa, ra, asked, return_mean=False)
        ref_run = ranx.Run.from_dict({q: r for q, r in rank_scores(run, ties="trec_eval").items()})
        ref = ranx.evaluate(ranx.Qrels.from_dict(qrels), ref_run, asked, return_mean=False,
                            make_comparable=True)
        for m in asked:
            assert list(ours[m]) == pytest.approx(list(ref[m]), abs=1e-12), m
