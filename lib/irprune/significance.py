"""Paired significance tests on per-query scores, and Holm's multiple-comparison correction.

Tests (all two-sided, on the paired differences ``d_q = a_q - b_q``; see Smucker, Allan & Carterette 2007,
"A Comparison of Statistical Significance Tests for Information Retrieval Evaluation", CIKM):

* ``t-test`` -- Student's paired t-test (scipy ``ttest_rel``);
* ``randomization`` -- Fisher's randomization (sign-flip permutation) test of the mean difference (Fisher 1935,
  *The Design of Experiments*): p = share of sign assignments whose ``|mean|`` reaches the observed one.  All
  ``2^n`` assignments are enumerated when ``2^n <= n_permutations`` (exact), otherwise ``n_permutations`` are
  drawn with a fixed seed and ``p = (hits + 1) / (n_permutations + 1)`` (Phipson & Smyth 2010, never 0);
* ``wilcoxon`` -- Wilcoxon signed-rank test (Wilcoxon 1945; scipy, zero differences dropped).

:func:`holm` adjusts a family of p-values (Holm 1979, "A Simple Sequentially Rejective Multiple Test
Procedure", Scand. J. Statist. 6:65-70).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, Literal, Mapping, Sequence

import numpy as np

from .config import frozen, param
from .registry import Registry

TestName = Literal["t-test", "randomization", "wilcoxon"]


@frozen
class SignificanceConfig:
    """Significance-testing settings (``params.yaml`` section ``significance``)."""

    test: TestName = param("t-test", doc="paired test: t-test, randomization or wilcoxon")
    n_permutations: int = param(100_000, ge=100, le=10_000_000, doc="sign flips drawn by the randomization test")
    seed: int = param(0, ge=0, doc="seed of the randomization test")
    alpha: float = param(0.05, gt=0.0, lt=1.0, doc="family-wise error rate for Holm's correction")


@dataclass(frozen=True)
class Comparison:
    """The outcome of one paired test of system A against system B."""

    test: str
    n: int
    mean_a: float
    mean_b: float
    mean_diff: float  # mean(a - b)
    p_value: float


def _t_test(d: np.ndarray, cfg: SignificanceConfig) -> float:
    from scipy import stats

    scale = max(1.0, float(np.abs(d).max()))
    if float(np.ptp(d)) <= 1e-12 * scale:  # (numerically) zero variance: scipy's answer is NaN or noise
        return 1.0 if abs(float(d.mean())) <= 1e-12 * scale else 0.0
    return float(stats.ttest_1samp(d, 0.0).pvalue)  # identical to ttest_rel(a, b)


def _wilcoxon(d: np.ndarray, cfg: SignificanceConfig) -> float:
    from scipy import stats

    if not np.any(d):
        return 1.0
    return float(stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)


def randomization_p(d: Sequence[float] | np.ndarray, n_permutations: int = 100_000, seed: int = 0,
                    exact: bool | None = None) -> float:
    """Two-sided sign-flip randomization p-value of ``mean(d)``; ``exact=None`` enumerates when ``2^n`` fits."""
    d = np.asarray(d, dtype=np.float64)
    n = d.size
    observed = abs(d.mean())
    tol = 1e-12 * max(1.0, float(np.abs(d).max(initial=0.0)))  # equal means must count as "as extreme"
    if exact is None:
        exact = n <= 30 and 2 ** n <= n_permutations
    if exact:
        if n > 24:
            raise ValueError(f"exact randomization over 2^{n} sign flips is too large; use exact=False")
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        means = np.abs(signs @ d) / n
        return float(np.mean(means >= observed - tol))
    rng = np.random.default_rng(seed)
    hits, done, chunk = 0, 0, max(1, min(n_permutations, 2_000_000 // max(n, 1)))
    while done < n_permutations:
        m = min(chunk, n_permutations - done)
        signs = rng.integers(0, 2, size=(m, n), dtype=np.int8) * 2 - 1
        hits += int(np.count_nonzero(np.abs(signs @ d) / n >= observed - tol))
        done += m
    return (hits + 1) / (n_permutations + 1)


def _randomization(d: np.ndarray, cfg: SignificanceConfig) -> float:
    return randomization_p(d, cfg.n_permutations, cfg.seed)


TESTS: Registry[Callable[[np.ndarray, SignificanceConfig], float]] = Registry("significance test")
TESTS.add("t-test", _t_test)
TESTS.add("randomization", _randomization)
TESTS.add("wilcoxon", _wilcoxon)


def compare(per_query_a: Mapping[str, float], per_query_b: Mapping[str, float], test: str | None = None,
            cfg: SignificanceConfig | None = None) -> Comparison:
    """Paired test of A against B on the same queries: ``test`` if given, else ``cfg.test`` (default t-test).

    Both mappings must hold exactly the same query ids (a query scored by one system only is an error naming
    it: evaluate both runs against the same qrels, which scores unretrieved queries 0).
    """
    cfg = cfg if cfg is not None else SignificanceConfig()
    test = test if test is not None else cfg.test
    fn = TESTS.get(test)
    only_a = sorted(set(per_query_a) - set(per_query_b))
    only_b = sorted(set(per_query_b) - set(per_query_a))
    if only_a or only_b:
        def show(ids: list[str]) -> str:
            return ", ".join(ids[:5]) + (f" (+{len(ids) - 5} more)" if len(ids) > 5 else "")
        parts = [f"{len(ids)} only in {side}: {show(ids)}" for side, ids in (("A", only_a), ("B", only_b)) if ids]
        raise ValueError("compare: the per-query scores cover different queries; " + "; ".join(parts)
                         + ". Evaluate both runs against the same qrels (evaluate() scores every judged query)")
    qids = sorted(per_query_a)
    if len(qids) < 2:
        raise ValueError(f"compare: need at least 2 paired queries, got {len(qids)}")
    a = np.array([per_query_a[q] for q in qids], dtype=np.float64)
    b = np.array([per_query_b[q] for q in qids], dtype=np.float64)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("compare: per-query scores must be finite numbers")
    d = a - b
    return Comparison(test=test, n=len(qids), mean_a=float(a.mean()), mean_b=float(b.mean()),
                      mean_diff=float(d.mean()), p_value=fn(d, cfg))


def holm(p_values: Mapping[str, float] | Sequence[float], alpha: float = 0.05
         ) -> tuple[list[float] | dict[str, float], list[bool] | dict[str, bool]]:
    """Holm-Bonferroni: adjusted p-values and rejections at family-wise level ``alpha`` (Holm 1979).

    With ``p_(1) <= ... <= p_(m)``, ``adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``; reject where
    ``adj <= alpha``.  Returns containers of the input's kind (list or dict), in the input's order.
    """
    keys = list(p_values) if isinstance(p_values, Mapping) else None
    ps = np.array([p_values[k] for k in keys] if keys is not None else list(p_values), dtype=np.float64)
    if ps.size and (np.any(~np.isfinite(ps)) or np.any(ps < 0) or np.any(ps > 1)):
        raise ValueError(f"holm: p-values must lie in [0, 1], got {ps.tolist()}")
    m = ps.size
    order = np.argsort(ps, kind="stable")
    adj_sorted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * ps[order]))
    adj = np.empty(m)
    adj[order] = adj_sorted
    reject = adj <= alpha
    if keys is not None:
        return ({k: float(adj[i]) for i, k in enumerate(keys)}, {k: bool(reject[i]) for i, k in enumerate(keys)})
    return [float(x) for x in adj], [bool(x) for x in reject]


__all__ = ["SignificanceConfig", "Comparison", "TESTS", "compare", "holm", "randomization_p"]
