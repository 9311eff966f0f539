"""``DataConfig``: the ``data:`` section of ``params.yaml`` (which collection, which files, how to form splits).

Example (the real MS MARCO / TREC DL 2019 subset; a dev split carved from the judged queries, pseudo-queries for
training)::

    data:
      source: msmarco
      local:
        path: ../shared/data/msmarco-passage-dl19-subset/derived-native-5000
        test: {queries: queries.tsv, qrels: qrels.tsv}
      splits: {dev_from_test: 0.2}
      pseudo_queries: {enabled: true, n_queries: 2000}

With the full MS MARCO download the same ``local`` section names ``queries.train.tsv``/``qrels.train.tsv``,
``queries.dev.small.tsv``/``qrels.dev.small.tsv`` and ``msmarco-test2019-queries.tsv``/``2019qrels-pass.txt``.
"""

from __future__ import annotations

from typing import Literal

from ..config import frozen, param
from ..errors import ConfigError
from .pseudo_queries import PseudoQueryConfig
from .synthetic import SyntheticConfig

Source = Literal["synthetic", "msmarco", "beir", "trec", "cranfield", "smart", "ir_datasets", "hf"]
LOCAL_SOURCES = ("msmarco", "beir", "trec", "cranfield", "smart")
SPLITS = ("train", "dev", "test")


@frozen
class SplitFiles:
    """One split's files, relative to ``data.local.path`` (or absolute).  Empty = use the source's default."""

    queries: str = param("", doc="queries/topics file (BEIR: queries.jsonl; Cranfield: cran.qry)")
    qrels: str = param("", doc="qrels file (TREC `qid 0 docid rel` or qid<TAB>docid<TAB>rel)")
    candidates: str = param("", doc="optional first-stage candidates: top1000 TSV, qid<TAB>pid or a TREC run")


@frozen
class LocalFiles:
    """Files of a local collection (sources msmarco, beir, trec, cranfield, smart).

    Defaults when empty: msmarco ``collection.tsv``; beir ``corpus.jsonl``, ``queries.jsonl`` and
    ``qrels/test.tsv`` for test; cranfield ``cran.all.1400``, ``cran.qry`` and ``cranqrel`` for test.
    """

    path: str = param("", doc="folder holding the collection")
    collection: str = param("", doc="documents file: collection.tsv, corpus.jsonl, TREC SGML, SMART "
                                    "(cran.all.1400, cacm.all)")
    train: SplitFiles = param(SplitFiles)
    dev: SplitFiles = param(SplitFiles)
    test: SplitFiles = param(SplitFiles)


@frozen
class IrDatasetsIds:
    """``ir_datasets`` ids per split (https://ir-datasets.com), e.g. ``msmarco-passage/dev/small``."""

    docs: str = param("", doc="id whose docs form the corpus (empty: the test id's docs)")
    train: str = param("", doc="e.g. msmarco-passage/train/judged")
    dev: str = param("", doc="e.g. msmarco-passage/dev/small")
    test: str = param("", doc="e.g. msmarco-passage/trec-dl-2019/judged")


@frozen
class HfIds:
    """Hugging Face ``datasets`` ids of a BEIR-style hub dataset (corpus/queries configs plus a qrels dataset)."""

    corpus: str = param("", doc="e.g. BeIR/scifact")
    corpus_config: str = param("corpus")
    corpus_split: str = param("corpus")
    queries: str = param("", doc="empty: same repository as corpus")
    queries_config: str = param("queries")
    queries_split: str = param("queries")
    qrels: str = param("", doc="e.g. BeIR/scifact-qrels")
    qrels_config: str = param("", doc="empty: the qrels dataset's default config")
    train: str = param("", doc="qrels split used as train (empty: none)")
    dev: str = param("", doc="qrels split used as dev (empty: none)")
    test: str = param("test", doc="qrels split used as test")
    revision: str = param("", doc="hub revision (commit) to pin; empty: the default branch")


@frozen
class SplitPlan:
    """How train/dev/test are formed when the source lacks some of them.

    ``method: dev_from_test`` moves a seeded fraction of the judged test queries to dev.  ``method: folds`` is
    k-fold cross-validation over the judged test queries (for collections with a few dozen judged queries, where a
    dev split of 8-15 queries is noise): the judged queries are shuffled with ``seed`` and dealt into ``k`` folds;
    fold ``fold`` is test and the other ``k - 1`` folds are dev (training uses the source's train queries or
    pseudo-queries, never a judged one).  One pipeline run is one fold; the report pools the k runs' per-query
    test scores (``report.fold_runs``), so every judged query is scored once.
    """

    method: Literal["dev_from_test", "folds"] = param(
        "dev_from_test", doc="dev_from_test (a seeded fraction of test to dev) | folds (k-fold cross-validation)")
    dev_from_test: float = param(0.0, ge=0.0, lt=1.0,
                                 doc="fraction of judged test queries moved (seeded) to dev when the source has "
                                     "no dev split; 0 = the source must provide dev")
    k: int = param(5, ge=2, doc="method folds: number of folds")
    fold: int = param(0, ge=0, doc="method folds: the fold that is test (0 .. k-1)")
    seed: int = param(0, ge=0)
    unjudged_queries: Literal["drop", "error"] = param(
        "drop", doc="queries of a judged split without judgements: drop them (counted) or treat as bad input")

    def validate(self) -> None:
        if self.method == "folds":
            if self.fold >= self.k:
                raise ConfigError(f"params.yaml: data.splits.fold = {self.fold} but data.splits.k = {self.k}; "
                                  f"a fold is one of 0 .. {self.k - 1}")
            if self.dev_from_test > 0:
                raise ConfigError("params.yaml: data.splits.method = 'folds' takes dev from the other folds; set "
                                  "data.splits.dev_from_test: 0 (or method: dev_from_test)")


@frozen
class DataConfig:
    """The ``data:`` section of ``params.yaml``."""

    source: Source = param("synthetic", doc="where the collection comes from")
    local: LocalFiles = param(LocalFiles)
    ir_datasets: IrDatasetsIds = param(IrDatasetsIds)
    hf: HfIds = param(HfIds)
    on_error: Literal["raise", "skip"] = param("raise", doc="bad input lines: raise, or skip and count")
    mojibake: Literal["keep", "repair"] = param("keep", doc="MS MARCO mixed encoding: keep bytes or repair")
    splits: SplitPlan = param(SplitPlan)
    synthetic: SyntheticConfig = param(SyntheticConfig)
    pseudo_queries: PseudoQueryConfig = param(PseudoQueryConfig)

    def validate(self) -> None:
        """Cross-field rules; each message names the key and the fix."""
        def fail(msg: str) -> None:
            raise ConfigError(f"params.yaml: {msg}")

        if self.source in LOCAL_SOURCES:
            if not self.local.path:
                fail(f"data.source = {self.source!r} needs data.local.path (the folder holding the collection)")
            if self.source in ("trec", "smart") and not self.local.collection:
                fail(f"data.source = {self.source!r} needs data.local.collection (the documents file)")
            if self.source in ("msmarco", "trec", "smart") and not (self.local.test.queries and self.local.test.qrels):
                fail(f"data.source = {self.source!r} needs data.local.test.queries and data.local.test.qrels "
                     "(the judged test queries)")
            for name in SPLITS:
                sf: SplitFiles = getattr(self.local, name)
                if self.source in ("msmarco", "trec", "smart") and (sf.qrels or sf.candidates) and not sf.queries:
                    fail(f"data.local.{name} gives qrels/candidates but no queries; set data.local.{name}.queries")
                if self.source == "beir" and sf.candidates and not sf.qrels and name != "test":
                    fail(f"data.local.{name}.candidates needs data.local.{name}.qrels for a BEIR split")
        elif self.source == "ir_datasets" and not self.ir_datasets.test:
            fail("data.source = 'ir_datasets' needs data.ir_datasets.test, e.g. msmarco-passage/trec-dl-2019/judged")
        elif self.source == "hf" and not (self.hf.corpus and self.hf.qrels and self.hf.test):
            fail("data.source = 'hf' needs data.hf.corpus (e.g. BeIR/scifact), data.hf.qrels (e.g. "
                 "BeIR/scifact-qrels) and data.hf.test")


__all__ = ["DataConfig", "LocalFiles", "SplitFiles", "IrDatasetsIds", "HfIds", "SplitPlan", "Source",
           "LOCAL_SOURCES", "SPLITS"]
