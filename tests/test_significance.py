"""Paired significance tests and Holm's correction, against scipy, exact enumeration and a textbook example."""

from __future__ import annotations

import itertools
import math

import pytest
from scipy import stats

from irprune.config import from_mapping
from irprune.errors import ConfigError, RegistryError
from irprune.significance import SignificanceConfig, compare, holm, randomization_p

A = {"q1": 0.52, "q2": 0.31, "q3": 0.78, "q4": 0.44, "q5": 0.60, "q6": 0.12, "q7": 0.95, "q8": 0.40}
B = {"q1": 0.41, "q2": 0.35, "q3": 0.60, "q4": 0.40, "q5": 0.48, "q6": 0.15, "q7": 0.81, "q8": 0.22}


def test_t_test_matches_scipy_and_the_formula() -> None:
    res = compare(A, B, test="t-test")
    qs = sorted(A)
    a, b = [A[q] for q in qs], [B[q] for q in qs]
    assert res.p_value == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-12)
    d = [x - y for x, y in zip(a, b)]
    n, mean = len(d), sum(d) / len(d)
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    t = mean / (sd / math.sqrt(n))
    assert res.p_value == pytest.approx(2 * stats.t.sf(abs(t), n - 1), rel=1e-9)
    assert res.n == 8 and res.mean_diff == pytest.approx(mean) and res.mean_a - res.mean_b == pytest.approx(mean)
    assert compare(B, A).p_value == pytest.approx(res.p_value)  # two-sided


def _exact_randomization(d: list[float]) -> float:
    """All 2^n sign assignments, enumerated one by one."""
    obs = abs(sum(d)) / len(d)
    hits = sum(abs(sum(s * x for s, x in zip(signs, d))) / len(d) >= obs - 1e-12
               for signs in itertools.product((1, -1), repeat=len(d)))
    return hits / 2 ** len(d)


def test_randomization_test_approaches_the_exact_p_value() -> None:
    d = [0.11, -0.04, 0.18, 0.04, 0.12, -0.03, 0.14, 0.18, 0.02, -0.06]
    exact = _exact_randomization(d)
    assert 0.01 < exact < 0.2
    assert randomization_p(d, exact=True) == pytest.approx(exact, abs=1e-12)
    sampled = randomization_p(d, n_permutations=200_000, seed=3, exact=False)
    assert sampled == pytest.approx(exact, abs=0.004)  # binomial s.e. ~ 0.0006
    assert sampled == randomization_p(d, n_permutations=200_000, seed=3, exact=False)  # seeded
    cfg = SignificanceConfig(test="randomization", n_permutations=2048)  # 2^10 <= 2048: exact enumeration
    a = {f"q{i}": 0.5 + x for i, x in enumerate(d)}
    b = {f"q{i}": 0.5 for i in range(len(d))}
    assert compare(a, b, cfg=cfg).p_value == pytest.approx(exact, abs=1e-9)


def test_wilcoxon_exact_small_sample() -> None:
    # six positive differences with distinct magnitudes: the exact two-sided p is 2 / 2^6
    a = {f"q{i}": 0.1 * i + 0.5 for i in range(1, 7)}
    b = {f"q{i}": 0.5 - 0.01 * i for i in range(1, 7)}
    assert compare(a, b, test="wilcoxon").p_value == pytest.approx(2 / 64)
    assert compare(A, B, test="wilcoxon").p_value == pytest.approx(
        stats.wilcoxon([A[q] - B[q] for q in sorted(A)]).pvalue)


def test_degenerate_differences() -> None:
    assert compare(A, A).p_value == 1.0 and compare(A, A, test="wilcoxon").p_value == 1.0
    assert compare(A, A, test="randomization").p_value == 1.0
    shifted = {q: v + 0.1 for q, v in A.items()}
    assert compare(shifted, A).p_value == 0.0


def test_holm_textbook_example() -> None:
    # Holm (1979) step-down, worked example of four hypotheses at alpha = 0.05 (as on Wikipedia's
    # "Holm-Bonferroni method" page): sorted p 0.005, 0.01, 0.03, 0.04 vs alpha/4, alpha/3, alpha/2: stop at 0.03.
    adj, rej = holm([0.01, 0.04, 0.03, 0.005], alpha=0.05)
    assert rej == [True, False, False, True]
    assert adj == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adj_d, rej_d = holm({"bert": 0.01, "knrm": 0.04, "ck": 0.03, "dsi": 0.005})
    assert rej_d == {"bert": True, "knrm": False, "ck": False, "dsi": True} and adj_d["ck"] == pytest.approx(0.06)
    assert holm([0.5, 0.9])[0] == [1.0, 1.0]  # capped at 1
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.2, 1.5])


def test_mismatched_queries_and_bad_config_are_named() -> None:
    b = {q: v for q, v in B.items() if q != "q3"} | {"q99": 0.1}
    with pytest.raises(ValueError, match=r"1 only in A: q3; 1 only in B: q99"):
        compare(A, b)
    with pytest.raises(RegistryError, match="known significance tests: randomization, t-test, wilcoxon"):
        compare(A, B, test="sign")
    with pytest.raises(ConfigError, match="significance.test"):
        from_mapping(SignificanceConfig, {"test": "anova"}, prefix="significance")
    with pytest.raises(ConfigError, match="n_permutations"):
        from_mapping(SignificanceConfig, {"n_permutations": 10})
