"""BM25 first stage: cross-checked against a from-the-formula BM25 and rank_bm25 on the real DL19 subset."""

from __future__ import annotations

import copy
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from irprune.bm25 import BM25Config, BM25Retriever
from irprune.config import from_mapping
from irprune.errors import ConfigError

TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern, the one bm25s documents


def _read_tsv(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            key, text = line.rstrip("\n").split("\t", 1)
            out[key] = text
    return out


@pytest.fixture(scope="module")
def dl19(shared_data: Path) -> tuple[dict[str, str], dict[str, str]]:
    base = shared_data / "msmarco-passage-dl19-subset" / "derived-native-5000"
    corpus = _read_tsv(base / "collection.tsv")
    judged = {line.split("\t")[0] for line in (base / "qrels.tsv").read_text().splitlines()}
    queries = {q: t for q, t in _read_tsv(base / "queries.tsv").items() if q in judged}
    assert len(corpus) == 5000 and len(queries) == 43
    return corpus, queries


@pytest.fixture(scope="module")
def formula(dl19: tuple) -> "FormulaBM25":
    return FormulaBM25(dl19[0], "lucene", k1=0.9, b=0.4, delta=0.5)


class FormulaBM25:
    """BM25 written from Kamphuis et al. (ECIR 2020), Table 1, independently of bm25s.

    lucene (Lucene >= 8 drops the (k1 + 1) numerator, which only rescales scores):
        idf = ln(1 + (N - df + .5) / (df + .5)),  tf part = tf / (tf + k1 (1 - b + b dl / avgdl))
    robertson: idf = max(0, ln((N - df + .5) / (df + .5))), same tf part.
    atire: idf = ln(N / df), tf part = (k1 + 1) tf / (tf + k1 (1 - b + b dl / avgdl)).
    bm25l: idf = ln((N + 1) / (df + .5)), c = tf / (1 - b + b dl / avgdl), tf part = (k1 + 1)(c + d) / (k1 + c + d).
    bm25+: idf = ln((N + 1) / df), tf part = (k1 + 1) tf / (k1 (1 - b + b dl / avgdl) + tf) + d.
    A document's score sums over the query's terms (with repetition) that occur in the corpus; BM25L/BM25+ give
    terms absent from the document a non-zero part too.
    """

    def __init__(self, corpus: dict[str, str], variant: str, k1: float, b: float, delta: float) -> None:
        self.variant, self.k1, self.b, self.delta = variant, k1, b, delta
        self.ids = list(corpus)
        self.tf = [Counter(TOKEN.findall(corpus[d].lower())) for d in self.ids]
        self.dl = [sum(c.values()) for c in self.tf]
        self.avgdl = sum(self.dl) / len(self.dl)
        self.df: Counter[str] = Counter()
        for c in self.tf:
            self.df.update(c.keys())
        self.postings: dict[str, list[int]] = {}
        for i, c in enumerate(self.tf):
            for t in c:
                self.postings.setdefault(t, []).append(i)

    def idf(self, t: str) -> float:
        n, df = len(self.ids), self.df[t]
        return {"lucene": lambda: math.log(1 + (n - df + 0.5) / (df + 0.5)),
                "robertson": lambda: math.log(max(1.0, (n - df + 0.5) / (df + 0.5))),
                "atire": lambda: math.log(n / df),
                "bm25l": lambda: math.log((n + 1) / (df + 0.5)),
                "bm25+": lambda: math.log((n + 1) / df)}[self.variant]()

    def tf_part(self, tf: int, dl: int) -> float:
        k1, b, d = self.k1, self.b, self.delta
        norm = 1 - b + b * dl / self.avgdl
        if self.variant in ("lucene", "robertson"):
            return tf / (tf + k1 * norm)
        if self.variant == "atire":
            return (k1 + 1) * tf / (tf + k1 * norm)
        if self.variant == "bm25l":
            c = tf / norm
            return (k1 + 1) * (c + d) / (k1 + c + d)
        return (k1 + 1) * tf / (k1 * norm + tf) + d

    def scores(self, query: str) -> dict[str, float]:
        terms = [t for t in TOKEN.findall(query.lower()) if t in self.df]
        matching = sorted({i for t in terms for i in self.postings[t]})
        return {self.ids[i]: sum(self.idf(t) * self.tf_part(self.tf[i][t], self.dl[i]) for t in terms)
                for i in matching}


@pytest.mark.shared_data
@pytest.mark.parametrize("variant", ["lucene", "robertson", "atire", "bm25l", "bm25+"])
def test_scores_and_top10_match_the_formula_on_dl19(dl19: tuple, formula: "FormulaBM25", variant: str) -> None:
    corpus, queries = dl19
    cfg = BM25Config(variant=variant, stopwords="none")
    bm25 = BM25Retriever(cfg).index(corpus)
    ref = copy.copy(formula)  # corpus statistics are shared; only the scoring variant changes
    ref.variant = variant
    assert (ref.k1, ref.b, ref.delta) == (cfg.k1, cfg.b, cfg.delta)
    run = bm25.retrieve(queries, k=10)
    identical = 0
    for qid, text in queries.items():
        expected = ref.scores(text)
        got = bm25.score_all(text)
        if variant != "robertson":  # robertson's clamped idf can zero a match; those are not retrieved
            assert set(got) == set(expected), qid
        assert all(abs(got[d] - expected[d]) <= 1e-4 for d in got), qid
        top = [d for d, _ in sorted(expected.items(), key=lambda x: (-x[1], x[0]))[:10]]
        ours = list(run[qid])
        assert [run[qid][d] for d in ours] == sorted(run[qid].values(), reverse=True)
        # same top-10 up to float32 rounding: every position holds a document of the same (formula) score
        assert [expected[d] for d in ours] == pytest.approx([expected[d] for d in top], abs=1e-4), qid
        identical += ours == top
    assert identical >= len(queries) - 1  # measured: 43/43 for every variant


@pytest.mark.shared_data
def test_rank_bm25_okapi_second_opinion(dl19: tuple) -> None:
    from bm25s.stopwords import STOPWORDS_EN
    from rank_bm25 import BM25Okapi
    from scipy.stats import kendalltau

    corpus, queries = dl19
    stop = set(STOPWORDS_EN)

    def tok(s: str) -> list[str]:
        return [w for w in TOKEN.findall(s.lower()) if w not in stop]

    ids = list(corpus)
    okapi = BM25Okapi([tok(corpus[d]) for d in ids], k1=0.9, b=0.4)  # Robertson idf with an epsilon floor
    run = BM25Retriever(BM25Config(stopwords="en")).index(corpus).retrieve(queries, k=100)
    top1, taus = 0, []
    for qid, text in queries.items():
        s = okapi.get_scores(tok(text))
        ours = list(run[qid])
        top1 += ids[int(np.argmax(s))] == ours[0]
        pos = {d: i for i, d in enumerate(ids)}
        taus.append(kendalltau([run[qid][d] for d in ours], [s[pos[d]] for d in ours]).statistic)
    assert top1 / len(queries) >= 0.9       # measured 42/43
    assert float(np.mean(taus)) >= 0.95     # measured 0.989 (Kendall tau over our top 100)


def test_empty_and_unknown_queries_give_reported_empty_rankings() -> None:
    corpus = {"d1": "the cat sat on the mat", "d2": "dogs chase cats", "d3": "a b c"}
    bm25 = BM25Retriever(BM25Config(stopwords="en")).index(corpus)
    run = bm25.retrieve({"e1": "", "e2": "the of a ! x", "e3": "zebra quagga", "ok": "cat mat"})
    assert run["e1"] == run["e2"] == run["e3"] == {}
    assert list(run["ok"]) == ["d1"]  # only matching documents, never the zero-score rest
    assert bm25.report.counts == {"query has no term after tokenisation": 2, "no query term occurs in the corpus": 1}
    assert bm25.report.examples["no query term occurs in the corpus"] == ["e3"]


def test_depth_is_clipped_and_ties_at_the_cut_are_deterministic() -> None:
    words = ["alpha", "beta", "gamma", "delta"]
    corpus = {f"d{i:03d}": " ".join(words[: 1 + i % 4]) for i in range(200)}  # 50 identical docs per text
    queries = {"q": "alpha beta gamma delta", "r": "delta"}
    cfg = BM25Config(stopwords="none", depth=1000)
    run = BM25Retriever(cfg).index(corpus).retrieve(queries)
    assert len(run["q"]) == 200 and len(run["r"]) == 50  # depth clipped to the corpus, matches only
    reverse = dict(reversed(list(corpus.items())))
    for k in (3, 50, 75, 120):
        a = BM25Retriever(cfg).index(corpus).retrieve(queries, k=k)
        b = BM25Retriever(BM25Config(stopwords="none", n_threads=2)).index(reverse).retrieve(queries, k=k)
        assert a == b and list(a["q"]) == list(b["q"])
        expected = sorted(run["q"].items(), key=lambda x: (-x[1], x[0]))[:k]
        assert list(a["q"].items()) == expected  # tie-broken by doc id across the cut
    assert list(a["r"])[:3] == ["d003", "d007", "d011"]


def test_numba_backend_gives_the_same_run() -> None:
    corpus = {f"d{i}": f"word{i % 7} word{i % 5} common text {i}" for i in range(300)}
    queries = {"a": "word3 word4", "b": "common common word1", "c": "text 17"}
    for variant in ("lucene", "bm25+"):
        numpy_run = BM25Retriever(BM25Config(variant=variant)).index(corpus).retrieve(queries, k=20)
        numba_run = BM25Retriever(BM25Config(variant=variant, backend="numba")).index(corpus).retrieve(queries, k=20)
        assert numpy_run.keys() == numba_run.keys() and all(numpy_run.values())
        for q in queries:
            assert list(numpy_run[q]) == list(numba_run[q]), (variant, q)
            assert list(numpy_run[q].values()) == pytest.approx(list(numba_run[q].values()), rel=1e-6)


def test_config_validation_names_key_and_allowed_values() -> None:
    assert BM25Config().k1 == 0.9 and BM25Config().b == 0.4 and BM25Config().variant == "lucene"
    with pytest.raises(ConfigError, match=r"bm25.variant = 'bm25x'.*'lucene', 'robertson'"):
        from_mapping(BM25Config, {"variant": "bm25x"}, prefix="bm25")
    with pytest.raises(ConfigError, match=r"bm25.b = 1.5.*<= 1.0"):
        from_mapping(BM25Config, {"b": 1.5}, prefix="bm25")
    with pytest.raises(ConfigError, match="depth"):
        from_mapping(BM25Config, {"depth": 0})
    with pytest.raises(ValueError, match="corpus is empty"):
        BM25Retriever().index({})
    with pytest.raises(RuntimeError, match="index"):
        BM25Retriever().retrieve({"q": "x"})
