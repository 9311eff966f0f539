"""Data: the shared representation, loaders for real collections, the synthetic default, pseudo-queries.

Entry points: :func:`load_dataset` (``params.yaml``'s ``data:`` section, :class:`DataConfig`, to a
:class:`RetrievalDataset`), :func:`write_dataset` / :func:`read_dataset` (the canonical on-disk store) and
:func:`dataset_card`.  Format readers live in :mod:`.msmarco`, :mod:`.beir`, :mod:`.trec`, :mod:`.smart` (SMART
files; :mod:`.cranfield` adds Cranfield's query numbering and relevance codes)
and :mod:`.remote`.
"""

from .config import DataConfig
from .load import load_dataset
from .pseudo_queries import PseudoQueryConfig, make_pseudo_queries
from .store import dataset_card, read_dataset, write_dataset
from .types import Corpus, Qrels, Queries, RetrievalDataset, SkipReport, Split

__all__ = ["DataConfig", "load_dataset", "PseudoQueryConfig", "make_pseudo_queries", "dataset_card",
           "read_dataset", "write_dataset", "Corpus", "Qrels", "Queries", "RetrievalDataset", "SkipReport", "Split"]
