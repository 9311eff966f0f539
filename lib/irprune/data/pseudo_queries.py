"""Pseudo-queries: training pairs drawn from the documents themselves, for collections with few judged queries.

Each sampled document yields one query and is its positive (label 1):

* ``ict``: the inverse cloze task of Lee et al. 2019 ("Latent Retrieval for Weakly Supervised Open Domain Question
  Answering", Sec. 4): a sentence of the document is the query and the *rest* of the document is the positive.
  Like Lee et al., the sentence stays in the positive for a fraction ``ict_keep`` of the queries (0.1 there), so a
  model still learns that word overlap matters.  A document without sentence punctuation (NPL) loses only the
  query's window.
* ``title``: the title is the query and the body (the document minus a leading copy of the title) the positive
  (Chang et al. 2020, "Pre-training Tasks for Embedding-based Large-scale Retrieval", Body First Selection); a
  document without a title falls back to ``ict``.
* ``sentence``: a sentence is the query and the document is left whole, so the query text sits inside its
  positive (BM25 ranks it first almost always: kept for comparison).

A sentence longer than the window is cut to a random window of it.  The window is ``max_words`` words, or, when
``max_words`` is null, the median length in words of the collection's judged test queries (the data stage
computes it and records it in ``data/card.json``), so pseudo-queries are as long as the real ones.  A query may
cover at most ``max_doc_fraction`` of its document's words.

The changed positives are returned as the split's ``doc_texts`` (document id -> text as the training split sees
it): the collection itself is never changed, so dev/test are evaluated on the original documents, while the
BM25 stage indexes the training view (the collection with these texts swapped in) for the train split's
candidates and every training stage reads positives and negatives from that same view
(:meth:`irprune.data.types.RetrievalDataset.corpus_for`).  Hard negatives come from that BM25 run.
"""

from __future__ import annotations

import random
import re
import statistics
from typing import Collection, Iterable, Literal, Mapping, Optional

from ..config import frozen, param
from ..errors import ConfigError
from .types import Corpus, Qrels, Queries, SkipReport, Split

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@frozen
class PseudoQueryConfig:
    """``data.pseudo_queries``: how many pseudo-queries to draw and how."""

    enabled: bool = param(False, doc="add pseudo-queries to the train split")
    n_queries: int = param(2000, ge=1, doc="number of pseudo-queries (one per sampled document)")
    strategy: Literal["ict", "title", "sentence"] = param(
        "ict", doc="ict: a sentence, removed from its positive (inverse cloze task); title: the title, the body as "
                   "positive (ict where none); sentence: a sentence left inside its positive")
    ict_keep: float = param(0.1, ge=0.0, le=1.0, doc="ict: fraction of positives that keep the query sentence "
                                                     "(Lee et al. 2019 keep 10%)")
    min_words: int = param(4, ge=1, doc="shortest query, in whitespace words")
    max_words: Optional[int] = param(None, ge=1, doc="query window in words; null = the median length of the "
                                                      "collection's judged test queries (recorded in the card)")
    max_doc_fraction: float = param(0.5, gt=0.0, le=1.0,
                                    doc="a query may cover at most this fraction of its document's words")
    exclude_eval_docs: bool = param(False, doc="never use a document judged in dev/test as a pseudo-query source")
    id_prefix: str = param("pq-", nonempty=True, doc="prefix of pseudo-query ids (pq-0, pq-1, ...)")
    seed: int = param(0, ge=0)

    def validate(self) -> None:
        if self.max_words is not None and self.min_words > self.max_words:
            raise ConfigError(f"params.yaml: data.pseudo_queries.min_words ({self.min_words}) exceeds max_words "
                              f"({self.max_words}); set min_words <= max_words")


def query_window(cfg: PseudoQueryConfig, judged_queries: Iterable[str]) -> tuple[int, str]:
    """The window in words and where it came from: ``max_words``, or the median word count of ``judged_queries``
    (rounded half up)."""
    if cfg.max_words is not None:
        return cfg.max_words, "data.pseudo_queries.max_words"
    lengths = [len(t.split()) for t in judged_queries]
    if not lengths:
        raise ConfigError("params.yaml: data.pseudo_queries.max_words is null (the judged test queries' median "
                          "length) but there are no judged test queries; set max_words")
    window = int(statistics.median(lengths) + 0.5)
    if window < cfg.min_words:
        raise ConfigError(f"params.yaml: the judged test queries' median length ({window} words, the pseudo-query "
                          f"window) is below data.pseudo_queries.min_words ({cfg.min_words}); lower min_words or "
                          "set max_words")
    return window, f"median words of {len(lengths)} judged test queries"


def _window(words: list[str], window: int, rng: random.Random) -> tuple[int, int]:
    if len(words) <= window:
        return 0, len(words)
    start = rng.randrange(len(words) - window + 1)
    return start, start + window


def _query_for(text: str, title: str | None, cfg: PseudoQueryConfig, window: int,
               rng: random.Random) -> tuple[str | None, str | None, str]:
    """``(query, positive text or None = the document as it is, "")`` for a document, or ``(None, None, reason)``."""
    n_doc = len(text.split())
    positive: str | None = None
    if cfg.strategy == "title" and title:
        words = title.split()
        if len(words) < cfg.min_words:
            return None, None, "title too short"
        words = words[:window]
        if text.startswith(title):
            positive = text[len(title):].strip()
    else:
        sentences = [s for s in _SENTENCE_END.split(text) if len(s.split()) >= cfg.min_words]
        if not sentences:
            return None, None, "no sentence of min_words"
        k = rng.randrange(len(sentences))
        sw = sentences[k].split()
        a, b = _window(sw, window, rng)
        words = sw[a:b]
        if cfg.strategy != "sentence" and rng.random() >= cfg.ict_keep:
            parts = _SENTENCE_END.split(text)
            if len(parts) > 1:      # remove the sentence (Lee et al.); its first occurrence is the one drawn
                i = parts.index(sentences[k])
                positive = " ".join(parts[:i] + parts[i + 1:])
            else:                   # no sentence punctuation: remove the query's window only
                positive = " ".join(sw[:a] + sw[b:])
    if len(words) > cfg.max_doc_fraction * n_doc:
        return None, None, "query would cover too much of the document"
    if positive is not None and len(positive.split()) < cfg.min_words:
        return None, None, "too little context left without the query"
    return " ".join(words), positive, ""


def make_pseudo_queries(corpus: Corpus, cfg: PseudoQueryConfig, *, titles: Mapping[str, str] | None = None,
                        exclude: Collection[str] = (), report: SkipReport | None = None,
                        window: int | None = None) -> Split:
    """Draw ``cfg.n_queries`` pseudo-queries from ``corpus`` (deterministic given ``cfg.seed``).

    ``window`` is the query window in words (:func:`query_window`; None = ``cfg.max_words``, 16 when that is
    null too).  The split's ``doc_texts`` hold the positives that differ from the collection (module docstring).
    Documents are visited in a seeded random order; documents in ``exclude``, documents giving no usable query and
    queries whose text was already drawn are passed over (counted in ``report``).  Raises :class:`ConfigError` when
    the corpus cannot give ``n_queries`` queries.
    """
    win = window if window is not None else (cfg.max_words or 16)
    if win < cfg.min_words:
        raise ConfigError(f"params.yaml: the pseudo-query window ({win} words) is below data.pseudo_queries."
                          f"min_words ({cfg.min_words}); lower min_words")
    rng = random.Random(cfg.seed)
    order = list(corpus)
    rng.shuffle(order)
    titles = titles or {}
    queries: Queries = {}
    qrels: Qrels = {}
    positives: Corpus = {}
    seen: set[str] = set()
    for did in order:
        if len(queries) >= cfg.n_queries:
            break
        if did in exclude:
            continue
        text = corpus[did]
        query, positive, why = _query_for(text, titles.get(did), cfg, win, rng)
        if query is None:
            if report is not None:
                report.add(f"pseudo-query: {why}", did)
            continue
        if query in seen:
            if report is not None:
                report.add("pseudo-query: duplicate text", did)
            continue
        seen.add(query)
        qid = f"{cfg.id_prefix}{len(queries)}"
        queries[qid] = query
        qrels[qid] = {did: 1}
        if positive is not None:
            positives[did] = positive
    if len(queries) < cfg.n_queries:
        raise ConfigError(
            f"params.yaml: data.pseudo_queries.n_queries = {cfg.n_queries}, but the corpus ({len(corpus)} docs, "
            f"{len(exclude)} excluded) gives only {len(queries)} usable pseudo-queries; lower n_queries, min_words "
            "or exclude_eval_docs")
    return Split(queries=queries, qrels=qrels, doc_texts=positives)


__all__ = ["PseudoQueryConfig", "make_pseudo_queries", "query_window"]
