"""Pseudo-queries: training pairs drawn from the documents themselves, for collections with few judged queries.

Each sampled document yields one query: its title (``strategy='title'``, where the source has titles) or one of its
sentences (``strategy='sentence'``, and the fallback where a document has no title), cut to a window of at most
``max_words`` words; the document is its positive (label 1) and is left intact.  This is the inverse-cloze-task
setup of Lee et al. 2019 ("Latent Retrieval for Weakly Supervised Open Domain Question Answering", ICT: a sentence
as pseudo-query, its context as the positive), with the sentence kept in the document, and the title-as-query
setup of Chang et al. 2020 ("Pre-training Tasks for Embedding-based Large-scale Retrieval", Body First Selection /
Wiki Link Prediction).  To avoid copying the passage, a query may cover at most ``max_doc_fraction`` of its
document's words.  Hard negatives come later from the BM25 stage.
"""

from __future__ import annotations

import random
import re
from typing import Collection, Literal, Mapping

from ..config import frozen, param
from ..errors import ConfigError
from .types import Corpus, Qrels, Queries, SkipReport, Split

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@frozen
class PseudoQueryConfig:
    """``data.pseudo_queries``: how many pseudo-queries to draw and how."""

    enabled: bool = param(False, doc="add pseudo-queries to the train split")
    n_queries: int = param(2000, ge=1, doc="number of pseudo-queries (one per sampled document)")
    strategy: Literal["title", "sentence"] = param("sentence",
                          doc="title: the document title (sentence where none); sentence: a sampled sentence")
    min_words: int = param(4, ge=1, doc="shortest query, in whitespace words")
    max_words: int = param(16, ge=1, doc="longest query; a longer sentence is cut to a random window")
    max_doc_fraction: float = param(0.5, gt=0.0, le=1.0,
                                    doc="a query may cover at most this fraction of its document's words")
    exclude_eval_docs: bool = param(False, doc="never use a document judged in dev/test as a pseudo-query source")
    id_prefix: str = param("pq-", nonempty=True, doc="prefix of pseudo-query ids (pq-0, pq-1, ...)")
    seed: int = param(0, ge=0)

    def validate(self) -> None:
        if self.min_words > self.max_words:
            raise ConfigError(f"params.yaml: data.pseudo_queries.min_words ({self.min_words}) exceeds max_words "
                              f"({self.max_words}); set min_words <= max_words")


def _query_for(words_doc: list[str], text: str, title: str | None, cfg: PseudoQueryConfig,
               rng: random.Random) -> tuple[str | None, str]:
    """One query for a document, or (None, reason)."""
    if cfg.strategy == "title" and title:
        words = title.split()
        if len(words) < cfg.min_words:
            return None, "title too short"
        words = words[: cfg.max_words]
    else:
        sentences = [s.split() for s in _SENTENCE_END.split(text)]
        sentences = [s for s in sentences if len(s) >= cfg.min_words]
        if not sentences:
            return None, "no sentence of min_words"
        words = rng.choice(sentences)
        if len(words) > cfg.max_words:
            start = rng.randrange(len(words) - cfg.max_words + 1)
            words = words[start:start + cfg.max_words]
    if len(words) > cfg.max_doc_fraction * len(words_doc):
        return None, "query would cover too much of the document"
    return " ".join(words), ""


def make_pseudo_queries(corpus: Corpus, cfg: PseudoQueryConfig, *, titles: Mapping[str, str] | None = None,
                        exclude: Collection[str] = (), report: SkipReport | None = None) -> Split:
    """Draw ``cfg.n_queries`` pseudo-queries from ``corpus`` (deterministic given ``cfg.seed``).

    Documents are visited in a seeded random order; documents in ``exclude``, documents giving no usable query and
    queries whose text was already drawn are passed over (counted in ``report``).  Raises :class:`ConfigError` when
    the corpus cannot give ``n_queries`` queries.
    """
    rng = random.Random(cfg.seed)
    order = list(corpus)
    rng.shuffle(order)
    titles = titles or {}
    queries: Queries = {}
    qrels: Qrels = {}
    seen: set[str] = set()
    for did in order:
        if len(queries) >= cfg.n_queries:
            break
        if did in exclude:
            continue
        text = corpus[did]
        query, why = _query_for(text.split(), text, titles.get(did), cfg, rng)
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
    if len(queries) < cfg.n_queries:
        raise ConfigError(
            f"params.yaml: data.pseudo_queries.n_queries = {cfg.n_queries}, but the corpus ({len(corpus)} docs, "
            f"{len(exclude)} excluded) gives only {len(queries)} usable pseudo-queries; lower n_queries, min_words "
            "or exclude_eval_docs")
    return Split(queries=queries, qrels=qrels)


__all__ = ["PseudoQueryConfig", "make_pseudo_queries"]
