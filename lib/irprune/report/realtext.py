"""The real-text results: BM25 against each neural ranker on a real collection, pooled over k folds.

A run on real text (``data/card.json``'s ``source`` is not ``synthetic``) gives the paper a section with the
collection card and BM25 against each dense ranker on nDCG@10 and MRR@10, with the paired test (the
``significance`` section; Smucker, Allan & Carterette 2007) against BM25 on per-query scores.  Under
``data.splits.method: folds`` one run holds one fold's test queries; :func:`pool` joins the k runs of a
collection (each fold exactly once, test queries disjoint) into one set of per-query scores, so every judged query
is scored once and the test runs on all of them.  A ranker's per-query score is the mean over its training seeds
(the seeds every run has).  :func:`training_signal` adds the evidence of what the training pseudo-queries teach:
BM25 on them against BM25 on the judged queries, and each ranker's dev metric at its first evaluation and at the
step checkpoint selection kept (``runs/<model>-s<seed>/history.json``).

Everything is read from a run's files as its stages wrote them: ``data/card.json``, ``runs/bm25/per_query.json``
and ``runs/<model>-s<seed>/per_query.json`` (:mod:`irprune.paths`); with a hybrid first stage
(``first_stage.method: hybrid``) also the checkpoint's zero-shot dense retrieval from the whole collection
(``runs/bm25/dense_per_query.json``), a row ``biencoder-zeroshot`` that the fine-tuned cross-encoder is held to.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from .. import paths
from ..errors import DataFormatError, IRPruneError
from ..significance import SignificanceConfig, compare
from . import palette
from .tables import NOT_RUN, TEST_NAMES, Table, fmt, p_text

METRICS = ("ndcg@10", "mrr@10")
ZERO_SHOT = "biencoder-zeroshot"                # the hybrid first stage's dense retrieval, as released
PerQuery = dict[str, dict[str, float]]          # metric -> qid -> score
_TRAINED = re.compile(r"^(?P<model>.+)-s(?P<seed>\d+)$")


@dataclass(frozen=True)
class RunResults:
    """One finished run's test-split per-query scores: BM25 and each trained ranker (seeds averaged)."""

    root: Path
    card: dict[str, Any]
    bm25: PerQuery
    rankers: dict[str, dict[int, PerQuery]]    # model -> training seed -> per-query scores

    @property
    def plan(self) -> dict[str, Any]:
        return dict(self.card.get("split_plan") or {"method": "unknown"})

    @property
    def collection(self) -> str:
        return str(self.card.get("collection") or self.card.get("source", "unknown"))


def _read(path: Path, what: str) -> Any:
    if not path.is_file():
        raise DataFormatError(f"{what} is missing", path=path, fix="point at a finished run (its project folder)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataFormatError(f"{what} is not valid JSON ({e})", path=path, fix="re-run the stage that writes it")


def _test_scores(path: Path, what: str) -> PerQuery:
    test = _read(path, what).get("test")
    if not isinstance(test, dict) or not all(m in test for m in METRICS):
        raise DataFormatError(f"{what} has no test scores for {', '.join(METRICS)}", path=path,
                              fix="list ndcg@10 and mrr@10 in evaluation.metrics and re-run the stage")
    return {m: {q: float(v) for q, v in test[m].items()} for m in METRICS}


def load_run(root: str | Path) -> RunResults:
    """The test per-query scores of the run in the project folder ``root``."""
    root = Path(root)
    card = _read(root / paths.DATASET_CARD, "the dataset card (data stage)")
    bm25 = _test_scores(root / paths.BM25_PER_QUERY, "BM25's per-query scores (bm25 stage)")
    rankers: dict[str, dict[int, PerQuery]] = {}
    for pq in sorted((root / paths.RUNS).glob("*/per_query.json")):
        m = _TRAINED.match(pq.parent.name)
        if m and (root / paths.model_metrics(pq.parent.name)).is_file():
            rankers.setdefault(m["model"], {})[int(m["seed"])] = _test_scores(pq, f"{pq.parent.name}'s scores")
    if (root / paths.DENSE_FIRST_STAGE_PER_QUERY).is_file():       # untrained: one "seed"
        rankers[ZERO_SHOT] = {0: _test_scores(root / paths.DENSE_FIRST_STAGE_PER_QUERY,
                                              "the checkpoint's zero-shot dense scores (bm25 stage)")}
    return RunResults(root, card, bm25, rankers)


@dataclass(frozen=True)
class Pooled:
    """Per-query test scores of one collection over all its runs (folds), and what the card says of it."""

    collection: str
    card: dict[str, Any]
    plan: dict[str, Any]
    bm25: PerQuery
    rankers: dict[str, PerQuery]                 # model -> seed-averaged per-query scores
    seeds: dict[str, tuple[int, ...]]
    n_runs: int = 1
    notes: tuple[str, ...] = field(default_factory=tuple)


def _union(parts: Sequence[PerQuery], what: str) -> PerQuery:
    out: PerQuery = {m: {} for m in METRICS}
    for part in parts:
        for m in METRICS:
            twice = set(out[m]) & set(part[m])
            if twice:
                raise DataFormatError(f"{what}: query {sorted(twice)[0]} is scored in two runs",
                                      fix="pool the runs of different folds of one collection, each fold once")
            out[m].update(part[m])
    return out


def _seed_mean(by_seed: Mapping[int, PerQuery], seeds: Sequence[int]) -> PerQuery:
    return {m: {q: sum(by_seed[s][m][q] for s in seeds) / len(seeds) for q in by_seed[seeds[0]][m]}
            for m in METRICS}


def pool(runs: Sequence[RunResults], single_fold: bool = False) -> Pooled:
    """Join the runs of one collection: one run (any split plan), or the k runs of ``data.splits.method: folds``
    (same k and seed, each fold once).  Each run's test queries must be those its card names, so the pooled
    scores are the union of the folds' per-query scores, every judged query once.  With ``single_fold`` one fold's
    run alone is accepted too (the report of a fold whose ``report.fold_runs`` is empty)."""
    if not runs:
        raise ValueError("pool: no run given")
    names = sorted({r.collection for r in runs})
    if len(names) > 1:
        raise DataFormatError(f"runs of different collections ({', '.join(names)}) cannot be pooled",
                              fix="give the runs of one collection (its folds) together")
    plans = [r.plan for r in runs]
    if len(runs) > 1 or plans[0].get("method") == "folds":
        if any(p.get("method") != "folds" for p in plans):
            raise DataFormatError(f"{names[0]}: {len(runs)} runs, not all of data.splits.method: folds",
                                  fix="pool only the fold runs of one collection, or report one run alone")
        ks = {(p["k"], p.get("seed")) for p in plans}
        if len(ks) > 1:
            raise DataFormatError(f"{names[0]}: the fold runs differ in data.splits.k or seed ({sorted(ks)})",
                                  fix="run every fold with the same k and seed")
        folds = sorted(p["fold"] for p in plans)
        k = plans[0]["k"]
        if folds != list(range(k)) and not (single_fold and len(runs) == 1):
            missing = sorted(set(range(k)) - set(folds))
            twice = sorted({f for f in folds if folds.count(f) > 1})
            raise DataFormatError(f"{names[0]}: folds {folds} of k = {k} (missing: {missing or 'none'}, twice: "
                                  f"{twice or 'none'})", fix="give every fold's run exactly once "
                                  "(report.fold_runs, or the command's arguments)")
        for r, p in zip(runs, plans):
            if sorted(r.bm25[METRICS[0]]) != sorted(p.get("test_queries", [])):
                raise DataFormatError(f"{names[0]} fold {p['fold']}: BM25's test queries are not those of the "
                                      "card's fold", path=r.root, fix="re-run the bm25 stage after the data stage")
    models = set.intersection(*(set(r.rankers) for r in runs))
    rankers: dict[str, PerQuery] = {}
    seeds: dict[str, tuple[int, ...]] = {}
    for model in palette.model_order(models):
        common = sorted(set.intersection(*(set(r.rankers[model]) for r in runs)))
        if not common:
            continue
        seeds[model] = tuple(common)
        rankers[model] = _union([_seed_mean(r.rankers[model], common) for r in runs], model)
    dropped = sorted(set.union(*(set(r.rankers) for r in runs)) - set(rankers))
    notes = tuple(f"{m}: not trained in every run (left out)" for m in dropped)
    card = runs[0].card
    plan = {k: v for k, v in plans[0].items() if len(runs) == 1 or k not in ("fold", "test_queries")}
    return Pooled(names[0], card, plan, _union([r.bm25 for r in runs], "BM25"), rankers, seeds, len(runs), notes)


@dataclass(frozen=True)
class Row:
    model: str
    means: dict[str, float]
    p: dict[str, float | None]          # vs BM25; None for BM25 itself
    diff: dict[str, float | None]


def rows(p: Pooled, sig: SignificanceConfig) -> list[Row]:
    """BM25, then each ranker: mean nDCG@10 and MRR@10 over the pooled queries and the paired test against BM25."""
    out = [Row("bm25", {m: _mean(p.bm25[m]) for m in METRICS}, {m: None for m in METRICS},
               {m: None for m in METRICS})]
    for model, pq in p.rankers.items():
        cs = {m: compare(pq[m], p.bm25[m], cfg=sig) for m in METRICS}
        out.append(Row(model, {m: cs[m].mean_a for m in METRICS}, {m: cs[m].p_value for m in METRICS},
                       {m: cs[m].mean_diff for m in METRICS}))
    return out


def _mean(x: Mapping[str, float]) -> float:
    return sum(x.values()) / len(x) if x else float("nan")


def best(rs: Sequence[Row], metric: str = "ndcg@10") -> Row | None:
    """The neural ranker with the highest mean ``metric`` (None without one)."""
    neural = [r for r in rs if r.model != "bm25"]
    return max(neural, key=lambda r: r.means[metric]) if neural else None


def card_facts(p: Pooled) -> dict[str, str]:
    """The collection card as plain text: documents, judged and scored queries, mean lengths, training signal,
    how dev and test were formed."""
    card, splits = p.card, p.card.get("splits", {})
    ev = [splits.get(s, {}) for s in ("dev", "test")]
    judged = sum(int(s.get("judged_queries", 0)) for s in ev)
    n_q = sum(int(s.get("queries", 0)) for s in ev)
    qlen = sum(float(s.get("query_length", {}).get("mean", 0.0)) * int(s.get("queries", 0)) for s in ev)
    pq = card.get("pseudo_queries") or {}
    if pq:
        kind = {"ict": "inverse-cloze (ICT) pseudo-queries"}.get(pq.get("strategy", ""),
                                                                  f"{pq.get('strategy')} pseudo-queries")
        training = f"{kind} from the documents ({int(pq.get('made', 0)):,})"
    else:
        training = f"the collection's training queries ({int(splits.get('train', {}).get('queries', 0)):,})"
    tested = len(p.bm25[METRICS[0]])
    if p.plan.get("method") == "folds" and p.n_runs == p.plan["k"]:
        split = f"{p.plan['k']}-fold cross-validation (dev = the other folds), the {p.n_runs} fold runs pooled"
    elif p.plan.get("method") == "folds":
        split = (f"fold {p.plan.get('fold')} of {p.plan['k']}-fold cross-validation alone (dev = the other folds; "
                 "report.fold_runs pools the other folds' runs)")
    else:
        split = (f"dev {int(ev[0].get('judged_queries', 0)):,} / test {int(ev[1].get('judged_queries', 0)):,} "
                 f"judged queries ({p.plan.get('method', 'source')})")
    return {"collection": p.collection, "docs": f"{int(card.get('docs', 0)):,}", "judged": f"{judged:,}",
            "tested": f"{tested:,}",
            "query_len": f"{qlen / n_q:.1f}" if n_q else NOT_RUN,
            "doc_len": f"{float(card.get('doc_length', {}).get('mean', 0.0)):.1f}", "training": training,
            "split": split}


def table(p: Pooled, rs: Sequence[Row], sig: SignificanceConfig) -> Table:
    """BM25 and each neural ranker on nDCG@10 and MRR@10 with p against BM25."""
    test = TEST_NAMES.get(sig.test, sig.test)
    body = tuple((palette.model_label(r.model), fmt(r.means["ndcg@10"]), "—" if r.p["ndcg@10"] is None else
                  p_text(r.p["ndcg@10"]), fmt(r.means["mrr@10"]),
                  "—" if r.p["mrr@10"] is None else p_text(r.p["mrr@10"])) for r in rs)
    counts = ", ".join(f"{palette.model_label(m)} {len(s)}" for m, s in p.seeds.items())
    seed_note = f" A ranker's per-query score is its mean over its training seeds ({counts})." if counts else ""
    return Table("realtext", ("ranker", "nDCG@10", "p", "MRR@10", "p"), body,
                 f"Real text ({p.collection}): test effectiveness over {len(p.bm25[METRICS[0]]):,} judged queries, "
                 f"p of a {test} against BM25 on per-query scores.{seed_note}", "tab:realtext", "lrrrr")


@dataclass(frozen=True)
class Signal:
    """What training on the collection's pseudo-queries did to one ranker, read from its ``history.json``: dev
    ``metric`` at the first evaluation (step 0 when ``train.eval_at_start``) and at the step selection kept."""

    model: str
    first_step: int
    first: float
    selected_step: int
    selected: float
    steps: int


@dataclass(frozen=True)
class TrainingSignal:
    """BM25 on the training pseudo-queries (their source passage as the one positive) against BM25 on the judged
    dev and test queries, and each ranker's :class:`Signal`: the evidence of what the training signal teaches."""

    metric: str
    bm25: dict[str, dict[str, float]]          # split -> metric -> mean (train = the pseudo-queries)
    rankers: tuple[Signal, ...]


def training_signal(root: str | Path, seeds: Mapping[str, Sequence[int]],
                    metric: str = "ndcg@10") -> TrainingSignal | None:
    """The :class:`TrainingSignal` of the run in ``root`` for the rankers of ``seeds`` (model -> training seeds, as
    :attr:`Pooled.seeds`; each at its lowest seed); None without BM25's metrics or their train split."""
    root = Path(root)
    if not (root / paths.BM25_METRICS).is_file():
        return None
    bm = _read(root / paths.BM25_METRICS, "BM25's metrics (bm25 stage)")
    splits = {s: {m: float(v) for m, v in bm[s].items() if m in (*METRICS, metric)}
              for s in ("train", "dev", "test") if isinstance(bm.get(s), dict)}
    if "train" not in splits:
        return None
    out = []
    for model, model_seeds in seeds.items():
        seed = min(model_seeds)
        if not (root / paths.model_history(paths.trained(model, seed))).is_file():
            continue
        hist = _read(root / paths.model_history(paths.trained(model, seed)), f"{model}'s training history")
        evals = [e for e in hist.get("evaluations", []) if metric in e.get("dev", {})]
        if not evals:
            continue
        chosen = next((e for e in evals if e["step"] == hist.get("selected_step")), max(
            evals, key=lambda e: e["dev"][metric]))
        out.append(Signal(model, int(evals[0]["step"]), float(evals[0]["dev"][metric]), int(chosen["step"]),
                          float(chosen["dev"][metric]), int(hist.get("steps", 0))))
    return TrainingSignal(metric, splits, tuple(out))


def signal_table(sig: TrainingSignal) -> Table:
    """Each ranker's dev metric at its first evaluation and at the selected step, BM25's dev beside them."""
    dev_bm = sig.bm25.get("dev", {}).get(sig.metric)
    body = tuple((palette.model_label(r.model), fmt(r.first), str(r.first_step), fmt(r.selected),
                  str(r.selected_step), str(r.steps)) for r in sig.rankers)
    label = sig.metric.replace("ndcg@10", "nDCG@10").replace("mrr@10", "MRR@10")
    return Table("realtext_signal", ("ranker", f"dev {label}, first", "at step", "selected", "at step",
                                     "steps run"), body,
                 f"Training on pseudo-queries: each ranker's dev {label} at its first evaluation and at the step "
                 f"checkpoint selection kept (BM25 on dev: {fmt(dev_bm) if dev_bm is not None else NOT_RUN}).",
                 "tab:realtextsignal", "lrrrrr")


def add_macros(M: Any, p: Pooled | None, rs: Sequence[Row], sig: TrainingSignal | None = None,
               sig_cfg: SignificanceConfig | None = None) -> None:
    """``\\ifRealText`` and the ``\\RealText...`` macros of the paper's real-text section (defined, "not run",
    when the run is synthetic); ``RealTextBertVsZeroshot...`` compare monoBERT with the checkpoint zero-shot."""
    from .macros import num

    vs = (compare(p.rankers["monobert"]["ndcg@10"], p.rankers[ZERO_SHOT]["ndcg@10"], cfg=sig_cfg)
          if p is not None and "monobert" in p.rankers and ZERO_SHOT in p.rankers else None)
    M.flag("RealTextHaveZeroshot", vs is not None)
    M.add("RealTextZeroshotNDCG", num(vs.mean_b) if vs else NOT_RUN)
    M.add("RealTextBertNDCG", num(vs.mean_a) if vs else NOT_RUN)
    M.add("RealTextBertVsZeroshotP", p_text(vs.p_value) if vs else NOT_RUN)
    M.flag("RealTextBertAtLeastZeroshot", vs is not None and vs.mean_a >= vs.mean_b - 1e-12)

    M.flag("RealText", p is not None)
    M.flag("RealTextFolds", p is not None and p.plan.get("method") == "folds" and p.n_runs == p.plan["k"])
    facts = card_facts(p) if p is not None else {}
    for key, name in (("collection", "Collection"), ("docs", "Docs"), ("judged", "Judged"), ("tested", "Tested"),
                      ("query_len", "QueryLen"), ("doc_len", "DocLen"), ("training", "Training"),
                      ("split", "Split")):
        M.text(f"RealText{name}", facts.get(key, NOT_RUN))
    bm = rs[0] if rs else None
    top = best(rs)
    M.add("RealTextBMNDCG", num(bm.means["ndcg@10"]) if bm else NOT_RUN)
    M.add("RealTextBMMRR", num(bm.means["mrr@10"]) if bm else NOT_RUN)
    M.text("RealTextBest", palette.model_label(top.model) if top else NOT_RUN)
    M.add("RealTextBestNDCG", num(top.means["ndcg@10"]) if top else NOT_RUN)
    M.add("RealTextBestP", p_text(top.p["ndcg@10"]) if top else NOT_RUN)
    M.flag("RealTextHaveRanker", top is not None)
    M.flag("RealTextBestAbove", top is not None and (top.diff["ndcg@10"] or 0.0) > 0)
    M.flag("RealTextSignal", sig is not None)
    bm = sig.bm25 if sig is not None else {}
    for split, name in (("train", "Pseudo"), ("dev", "Dev")):
        for metric, mname in (("mrr@10", "MRR"), ("ndcg@10", "NDCG")):
            v = bm.get(split, {}).get(metric)
            M.add(f"RealText{name}BM{mname}", num(v) if v is not None else NOT_RUN)
    drops = [r for r in (sig.rankers if sig else ()) if r.selected_step == 0 and r.steps > 0]   # the untrained start
    M.text("RealTextKeptStart", ", ".join(palette.model_label(r.model) for r in drops) or NOT_RUN)
    M.flag("RealTextAnyKeptStart", bool(drops))


def report(roots: Sequence[str | Path], sig: SignificanceConfig) -> tuple[Pooled | None, list[Row]]:
    """The pooled real-text results of the runs in ``roots`` (None and no rows when the first is synthetic or
    has no card)."""
    path = Path(roots[0]) / paths.DATASET_CARD
    if not path.is_file() or _read(path, "the dataset card (data stage)").get("source", "synthetic") == "synthetic":
        return None, []
    p = pool([load_run(r) for r in roots], single_fold=True)
    return p, rows(p, sig)


def significance_of(params: str | Path) -> SignificanceConfig:
    """The ``significance`` section of the params file ``params`` (the defaults when there is no such file)."""
    from ..config import from_mapping, load_params

    if not Path(params).is_file():
        return SignificanceConfig()
    return from_mapping(SignificanceConfig, load_params(params).get("significance"), prefix="significance")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m irprune.report.realtext RUN [RUN ...]``: the pooled real-text table of finished runs (one
    collection: its fold runs, or one run), as the paper prints it, in Markdown."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m irprune.report.realtext", description=main.__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="project folders of finished runs of one real collection")
    ap.add_argument("--params", default="params.yaml", help="its `significance` section chooses the test")
    args = ap.parse_args(argv)
    try:
        sig = significance_of(args.params)
        p = pool([load_run(r) for r in args.runs])
    except (IRPruneError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(table(p, rows(p, sig), sig).markdown())
    return 0


__all__ = ["METRICS", "ZERO_SHOT", "RunResults", "Pooled", "Row", "Signal", "TrainingSignal", "load_run", "pool",
           "rows", "best", "card_facts", "main", "significance_of", "table", "training_signal", "signal_table",
           "add_macros", "report", "p_text"]


if __name__ == "__main__":
    raise SystemExit(main())
