"""Ranking metrics on top of ranx (Bassani 2022, "ranx: A Blazing-Fast Python Library for Ranking Evaluation
and Comparison", ECIR), with trec_eval semantics made explicit.

Metrics (``name`` or ``name@k``; ``k`` = rank cut-off, none = the whole ranking):

* ``mrr`` -- reciprocal rank of the first relevant document (Voorhees 1999, TREC-8 QA report);
* ``map`` -- average precision, normalised by the number of relevant documents (trec_eval ``map``/``map_cut``);
* ``recall``, ``precision`` (alias ``p``; needs ``@k``), ``r-precision`` -- set-based (Manning et al. 2008, ch. 8);
* ``hits@k`` (alias ``success@k``) -- 1 if a relevant document is in the top k, else 0 (trec_eval ``success``;
  the "Hits@k" of the DSI paper, Tay et al. 2022);
* ``ndcg`` -- nDCG with linear graded gains ``rel / log2(rank + 1)`` (Järvelin & Kekäläinen 2002), as
  trec_eval's ``ndcg_cut``.

Relevance: labels ``<= 0`` are non-relevant and unjudged documents are non-relevant.  The binary metrics
(MRR, MAP, Recall, P, R-Prec) count a document relevant when its label is ``>= relevance_level`` (TREC DL 2019
passage: 2; trec_eval's default: 1); nDCG always uses the graded labels ``>= 1`` as gains.

Query set (trec_eval ``-c``): every query in the qrels with at least one judgement is evaluated and averaged;
one the run has no documents for scores 0, as does one with no relevant document; queries only in the run are
ignored.  Equal scores are ordered as trec_eval orders them (score descending, then doc id descending;
:func:`irprune.runs.trec_eval_order`), so every metric equals trec_eval's on the same run; ranx only sees tie-free
rank scores, so its own tie handling never matters.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from dataclasses import dataclass
from typing import Literal, Mapping

from .config import frozen, param
from .data.types import Qrels
from .errors import ConfigError
from .io import atomic_write_json
from .registry import Registry
from .runs import qid_key, rank_scores


@dataclass(frozen=True)
class MetricFamily:
    """How one metric family maps onto ranx: its ranx name, whether it is binary, whether ``@k`` is needed."""

    ranx_name: str
    binary: bool
    k: Literal["optional", "required", "none"] = "optional"

METRICS: Registry[MetricFamily] = Registry("metric")
METRICS.add("mrr", MetricFamily("mrr", binary=True))
METRICS.add("map", MetricFamily("map", binary=True))
METRICS.add("recall", MetricFamily("recall", binary=True))
METRICS.add("precision", MetricFamily("precision", binary=True, k="required"))
METRICS.add("r-precision", MetricFamily("r-precision", binary=True, k="none"))
METRICS.add("ndcg", MetricFamily("ndcg", binary=False))
METRICS.add("hits", MetricFamily("hit_rate", binary=True, k="required"))
_ALIASES = {"p": "precision", "rprec": "r-precision", "recip_rank": "mrr", "success": "hits"}
_NAME = re.compile(r"^([a-z_-]+)(?:@([0-9]+))?$")
VALID_METRICS_HELP = ("mrr[@k], ndcg[@k], map[@k], recall[@k], precision@k (alias p@k), r-precision, "
                      "hits@k (alias success@k)")


@dataclass(frozen=True)
class MetricSpec:
    """A parsed metric name: ``family`` plus cut-off ``k`` (0 = none); ``name`` is the canonical output key."""

    family: str
    k: int

    @property
    def name(self) -> str:
        return f"{self.family}@{self.k}" if self.k else self.family

    def ranx_metric(self, relevance_level: int) -> str:
        fam = METRICS.get(self.family)
        level = relevance_level if fam.binary else 1
        return fam.ranx_name + (f"@{self.k}" if self.k else "") + f"-l{level}"


def parse_metric(name: str) -> MetricSpec:
    """Parse ``"ndcg@10"`` and friends; unknown or malformed names raise :class:`ConfigError` listing valid ones."""
    m = _NAME.match(name.strip().lower()) if isinstance(name, str) else None
    bad = f"unknown metric {name!r}; valid metrics: {VALID_METRICS_HELP} (k a positive integer)"
    if m is None:
        raise ConfigError(bad)
    family = _ALIASES.get(m.group(1), m.group(1))
    if family not in METRICS:
        raise ConfigError(bad)
    k = int(m.group(2)) if m.group(2) is not None else 0
    rule = METRICS.get(family).k
    if m.group(2) is not None and k < 1:
        raise ConfigError(f"metric {name!r}: the cut-off k must be >= 1")
    if rule == "required" and not k:
        raise ConfigError(f"metric {name!r} needs a cut-off, e.g. {family}@10")
    if rule == "none" and k:
        raise ConfigError(f"metric {name!r} takes no cut-off; use {family}")
    return MetricSpec(family, k)


@frozen
class EvalConfig:
    """Evaluation settings (``params.yaml`` section ``eval``)."""

    metrics: tuple[str, ...] = param(("mrr@10", "ndcg@10", "map", "recall@100", "recall@1000"), nonempty=True,
                                     doc=f"metric names: {VALID_METRICS_HELP}")
    relevance_level: int = param(1, ge=1, le=1000,
                                 doc="min label counted relevant by binary metrics (TREC DL 2019 passage: 2)")

    def __post_init__(self) -> None:
        if not self.metrics:
            raise ConfigError(f"params.yaml: eval.metrics is empty; list at least one of {VALID_METRICS_HELP}")
        seen: dict[str, str] = {}
        for i, m in enumerate(self.metrics):
            try:
                spec = parse_metric(m)
            except ConfigError as e:
                raise ConfigError(f"params.yaml: eval.metrics[{i}]: {e}") from None
            if spec.name in seen:
                raise ConfigError(f"params.yaml: eval.metrics lists {spec.name} twice ({seen[spec.name]!r}, {m!r})")
            seen[spec.name] = m

    @property
    def specs(self) -> tuple[MetricSpec, ...]:
        return tuple(parse_metric(m) for m in self.metrics)


@dataclass(frozen=True)
class EvalResult:
    """Mean (``aggregate``) and per-query (``per_query[metric][qid]``) scores, keyed by canonical metric name."""

    aggregate: dict[str, float]
    per_query: dict[str, dict[str, float]]
    relevance_level: int
    num_queries: int
    num_queries_without_results: int
    num_run_queries_ignored: int

    def metrics(self) -> dict[str, float | int]:
        """Flat ``{"mrr@10": ..., "num_queries": n}`` for DVC (keys have no dots, so DVC never splits them)."""
        return {**self.aggregate, "num_queries": self.num_queries}

    def to_json(self) -> str:
        return json.dumps(self.metrics(), indent=2, sort_keys=True) + "\n"

    def write_metrics(self, path: str | os.PathLike) -> None:
        """Write :meth:`metrics` as JSON, atomically (a DVC ``metrics:`` file)."""
        atomic_write_json(path, self.metrics())

    def write_per_query(self, path: str | os.PathLike) -> None:
        """Write ``{metric: {qid: value}}`` as JSON, atomically (input to :mod:`irprune.significance`)."""
        atomic_write_json(path, {"relevance_level": self.relevance_level, "per_query": self.per_query})


def ranx_arrays(qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Mapping[str, float]]) -> tuple:
    """ranx's input as padded arrays, one row per query of ``qrels``: ``(query ids in row order, qrels, run)``.

    ``qrels`` -> ``[Q, R, 2]`` (doc number, label) by label descending; ``run`` -> ``[Q, D, 2]`` (doc number,
    rank score) in this project's ranking order.  Doc ids become exact integers (no hashing); padding rows hold
    doc number -1 with label 0 / score -inf, which ranx's kernels never count (labels below the relevance level
    are dropped, and -1 matches no judged document).  ``ranx.evaluate`` accepts these arrays as they are, so no
    numba typed dict or list is built: those compile on every process start (~7 s per stage), while the metric
    kernels compile once into numba's cache (:func:`warm_up`).
    """
    import numpy as np

    order = sorted(qrels)
    number: dict[str, int] = {}
    qrows = [[(number.setdefault(d, len(number) + 1), lab) for d, lab in
              sorted(qrels[q].items(), key=lambda item: (-item[1], item[0]))] for q in order]
    ranked = rank_scores({q: run.get(q, {}) for q in order}, ties="trec_eval")
    rrows = [[(number.setdefault(d, len(number) + 1), s) for d, s in ranked[q].items()] for q in order]
    qa = np.zeros((len(order), max([1, *map(len, qrows)]), 2))
    qa[:, :, 0] = -1.0
    ra = np.zeros((len(order), max([1, *map(len, rrows)]), 2))
    ra[:, :, 0], ra[:, :, 1] = -1.0, -np.inf
    for i, (qr, rr) in enumerate(zip(qrows, rrows)):
        if qr:
            qa[i, :len(qr)] = qr
        if rr:
            ra[i, :len(rr)] = rr
    return order, qa, ra


def evaluate(qrels: Qrels, run: Mapping[str, Mapping[str, float]], cfg: EvalConfig | None = None,
             threads: int = 1) -> EvalResult:
    """Evaluate ``run`` against ``qrels`` with the semantics in this module's docstring.

    ``threads`` is ranx's numba thread count (0 = all cores); results do not depend on it.
    """
    import ranx

    cfg = cfg if cfg is not None else EvalConfig()
    specs = cfg.specs
    qids = sorted((q for q in qrels if qrels[q]), key=qid_key)
    if not qids:
        raise ValueError("evaluate: the qrels hold no judged query; load the split's qrels (qid -> docid -> label)")
    positive = {q: {d: int(lab) for d, lab in qrels[q].items() if lab > 0} for q in qids}
    per_query: dict[str, dict[str, float]] = {s.name: {q: 0.0 for q in qids} for s in specs}
    judged = [q for q in qids if positive[q]]
    if judged:
        order, rq, rr = ranx_arrays({q: positive[q] for q in judged}, {q: run.get(q, {}) for q in judged})
        names = {s.ranx_metric(cfg.relevance_level): s.name for s in specs}
        asked = list(names)
        if len(asked) == 1:  # ranx mishandles a single metric with a cut-off (KeyError); ask for a second one
            asked.append("ndcg@1" if asked[0] != "ndcg@1" else "ndcg@2")
        res = ranx.evaluate(rq, rr, asked, return_mean=False, threads=threads, save_results_in_run=False)
        for rname, name in names.items():
            values = res[rname]
            if len(values) != len(order):
                raise RuntimeError(f"ranx returned {len(values)} scores for {len(order)} queries ({rname})")
            for q, v in zip(order, values):
                per_query[name][q] = float(v)
    aggregate = {name: sum(v.values()) / len(v) for name, v in per_query.items()}
    return EvalResult(
        aggregate=aggregate, per_query=per_query, relevance_level=cfg.relevance_level, num_queries=len(qids),
        num_queries_without_results=sum(1 for q in qids if not run.get(q)),
        num_run_queries_ignored=sum(1 for q in run if q not in qrels or not qrels[q]))


def warm_up() -> float:
    """Evaluate a tiny run once so numba compiles (and caches) ranx's kernels; returns the seconds taken.

    ranx JIT-compiles its kernels for :func:`ranx_arrays` inputs on first use (~40 s) and caches the machine code
    in numba's cache (``__pycache__`` beside ranx, or ``NUMBA_CACHE_DIR``), so the setup step calls this once and
    later processes start fast.
    """
    t0 = time.perf_counter()
    qrels = {"1": {"a": 2, "b": 1, "z": 0}, "2": {"c": 1}}
    run = {"1": {"a": 1.0, "b": 3.0, "x": 2.0}, "2": {"d": 1.0, "c": 0.5}}
    metrics = tuple(f"{f}@5" for f in ("mrr", "map", "recall", "precision", "ndcg", "hits")) + (
        "mrr", "map", "recall", "ndcg", "r-precision")
    evaluate(qrels, run, EvalConfig(metrics=metrics, relevance_level=2))
    return time.perf_counter() - t0


def eval_config_for(qrels: dict, cfg: EvalConfig) -> EvalConfig:
    """The evaluation config for a split: binary qrels (every label <= 1, e.g. MS MARCO train and the synthetic
    train positives) are scored at relevance level 1, graded ones at ``cfg.relevance_level``; the level used is
    written next to the metrics."""
    top = max((rel for docs in qrels.values() for rel in docs.values()), default=0)
    return dataclasses.replace(cfg, relevance_level=1) if top <= 1 else cfg


__all__ = ["EvalConfig", "EvalResult", "MetricSpec", "METRICS", "VALID_METRICS_HELP", "eval_config_for", "evaluate",
           "parse_metric", "warm_up"]
