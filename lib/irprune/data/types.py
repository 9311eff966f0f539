"""The one in-memory representation every loader produces.

Identifiers are strings everywhere (MS MARCO pids, TREC docnos, Cranfield numbers alike).  A
:class:`RetrievalDataset` holds a corpus and any number of named query splits (``train``, ``dev``, ``test``),
each with its queries and, where judged, graded qrels.  The on-disk form (see :mod:`irprune.data.store`) is the
MS MARCO native layout: ``collection.tsv``, ``queries.<split>.tsv`` and TREC ``qrels.<split>.txt``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections import ChainMap
from typing import Dict, List, Mapping, Sequence

Corpus = Dict[str, str]            # doc_id -> text
Queries = Dict[str, str]           # query_id -> text
Qrels = Dict[str, Dict[str, int]]  # query_id -> doc_id -> graded relevance (may be 0 or negative)
Candidates = Dict[str, List[str]]  # query_id -> ranked doc_ids (a first-stage run without scores)


@dataclass
class Split:
    """The queries of one split, with their judgements (empty when unjudged) and optional candidates.

    ``doc_texts`` holds documents whose text this split sees differently from the collection (doc id -> text):
    inverse-cloze pseudo-queries' positives without their query sentence.  Empty for every evaluated split.
    """

    queries: Queries
    qrels: Qrels = field(default_factory=dict)
    candidates: Candidates | None = None
    doc_texts: Corpus = field(default_factory=dict)

    def judged_queries(self) -> Queries:
        """Queries that have at least one judgement."""
        return {q: t for q, t in self.queries.items() if q in self.qrels and self.qrels[q]}


@dataclass
class RetrievalDataset:
    """A corpus plus named splits.  ``meta`` records where it came from (source, paths, options)."""

    corpus: Corpus
    splits: Dict[str, Split]
    meta: Dict[str, object] = field(default_factory=dict)

    def split(self, name: str) -> Split:
        if name not in self.splits:
            raise KeyError(f"split {name!r} not in dataset; available splits: {', '.join(sorted(self.splits))}")
        return self.splits[name]

    def pooled(self, names: Sequence[str]) -> Split:
        """The queries and judgements of several evaluated splits as one (e.g. a k-fold run's dev + test = every
        judged query); an unknown name lists the splits there are, a query id in two splits is an error."""
        missing = [n for n in names if n not in self.splits]
        if missing:
            raise KeyError(f"split(s) {missing} not in dataset; available splits: {', '.join(sorted(self.splits))}")
        out = Split(queries={}, qrels={})
        for n in names:
            both = sorted(set(out.queries) & set(self.splits[n].queries))
            if both:
                raise ValueError(f"splits {list(names)} share query ids ({', '.join(both[:5])}); pool disjoint splits")
            out.queries.update(self.splits[n].queries)
            out.qrels.update(self.splits[n].qrels)
        return out

    def corpus_for(self, name: str) -> Mapping[str, str]:
        """The collection as split ``name`` sees it: ``corpus`` with the split's ``doc_texts`` swapped in (the
        corpus itself when it has none).  Index, positives and negatives of that split all come from here."""
        texts = self.split(name).doc_texts
        return ChainMap(texts, self.corpus) if texts else self.corpus


@dataclass
class SkipReport:
    """Counts of input lines skipped under ``on_error='skip'``, by reason, with a few examples each.

    Loaders never drop a line silently: either they raise, or they count it here and the stage reports it.
    """

    counts: Dict[str, int] = field(default_factory=dict)
    examples: Dict[str, List[str]] = field(default_factory=dict)
    max_examples: int = 3

    def add(self, reason: str, example: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        ex = self.examples.setdefault(reason, [])
        if len(ex) < self.max_examples:
            ex.append(example)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def merge(self, other: "SkipReport") -> None:
        for reason, n in other.counts.items():
            self.counts[reason] = self.counts.get(reason, 0) + n
            ex = self.examples.setdefault(reason, [])
            ex.extend(other.examples.get(reason, [])[: max(0, self.max_examples - len(ex))])

    def as_dict(self) -> Mapping[str, object]:
        return {"total": self.total, "counts": dict(self.counts), "examples": dict(self.examples)}
