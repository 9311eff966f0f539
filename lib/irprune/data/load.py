"""``load_dataset(cfg)``: the configured collection as a :class:`RetrievalDataset` with splits train, dev and test.

Steps, each recorded in ``ds.meta``: read the source (a :class:`Registry` of sources); apply ``mojibake`` to every
document and query (counting texts with mojibake); drop (count) or reject queries of judged splits that have no
judgements; carve dev out of the judged test queries when the source has no dev split
(``data.splits.dev_from_test``, or one fold of k-fold cross-validation: ``data.splits.method: folds``); add
pseudo-queries to train (``data.pseudo_queries``; their window is the median length of the judged dev+test
queries unless ``max_words`` is set, and changed positives go into the train split's ``doc_texts``).  The result
always has train, dev and test, with judged dev and test queries; otherwise a :class:`ConfigError` says which key
to set.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from ..config import to_mapping
from ..errors import ConfigError
from ..registry import Registry
from . import beir, cranfield, msmarco, remote, smart, synthetic, trec
from .config import SPLITS, DataConfig, SplitFiles
from .pseudo_queries import make_pseudo_queries, query_window
from .text import Problems, apply_mojibake
from .types import Corpus, RetrievalDataset, SkipReport, Split


@dataclass(frozen=True)
class _Loaded:
    ds: RetrievalDataset
    titles: dict[str, str]
    where: dict[str, str]          # split -> the file/id its queries came from (for error messages)
    notes: SkipReport | None = None  # oddities read past, not errors (SMART: repeated fields)


SourceFn = Callable[[DataConfig, SkipReport], _Loaded]
SOURCES: Registry[SourceFn] = Registry("data source")


@dataclass(frozen=True)
class LocalFormat:
    """How one local source reads its files, and its default file names."""

    read_corpus: Callable[..., Corpus]
    read_queries: Callable[..., dict[str, str]]
    read_qrels: Callable[..., dict[str, dict[str, int]]]
    collection: str = ""
    test_queries: str = ""
    test_qrels: str = ""
    all_queries: str = ""               # one queries file for every split (BEIR)
    has_titles: bool = False
    judged_only: bool = False           # a split's queries are the ones its qrels judge (BEIR)
    has_notes: bool = False             # the readers take ``notes`` (a SkipReport of oddities read past)


LOCAL_FORMATS: Registry[LocalFormat] = Registry("local format")
LOCAL_FORMATS.add("msmarco", LocalFormat(msmarco.read_collection, msmarco.read_queries, msmarco.read_qrels,
                                         collection="collection.tsv"))
LOCAL_FORMATS.add("beir", LocalFormat(beir.read_corpus, beir.read_queries, beir.read_split_qrels,
                                      collection="corpus.jsonl", all_queries="queries.jsonl",
                                      test_qrels="qrels/test.tsv", has_titles=True, judged_only=True))
LOCAL_FORMATS.add("trec", LocalFormat(trec.read_documents, trec.read_topics, trec.read_qrels))
LOCAL_FORMATS.add("cranfield", LocalFormat(cranfield.read_documents, cranfield.read_queries, cranfield.read_qrels,
                                           collection="cran.all.1400", test_queries="cran.qry",
                                           test_qrels="cranqrel", has_titles=True, has_notes=True))
LOCAL_FORMATS.add("smart", LocalFormat(smart.read_documents, smart.read_queries, smart.read_qrels, has_titles=True,
                                       has_notes=True))


def _load_local(cfg: DataConfig, report: SkipReport) -> _Loaded:
    fmt = LOCAL_FORMATS.get(cfg.source)
    base = Path(cfg.local.path)
    kw: dict[str, Any] = {"on_error": cfg.on_error, "report": report}
    titles: dict[str, str] = {}
    notes = SkipReport()
    coll = base / (cfg.local.collection or fmt.collection)
    corpus = fmt.read_corpus(coll, **kw, **({"titles": titles} if fmt.has_titles else {}),
                             **({"notes": notes} if fmt.has_notes else {}))
    files: dict[str, Any] = {"collection": str(coll)}
    splits: dict[str, Split] = {}
    where: dict[str, str] = {}
    cache: dict[Path, dict[str, str]] = {}
    for name in SPLITS:
        sf: SplitFiles = getattr(cfg.local, name)
        qfile = sf.queries or fmt.all_queries or (fmt.test_queries if name == "test" else "")
        rfile = sf.qrels or (fmt.test_qrels if name == "test" else "")
        if fmt.judged_only and not rfile:
            continue
        if not qfile:
            continue
        qpath = base / qfile
        if qpath not in cache:
            cache[qpath] = fmt.read_queries(qpath, **kw, **({"notes": notes} if fmt.has_notes else {}))
        queries = dict(cache[qpath])
        qrels = fmt.read_qrels(base / rfile, docs=corpus, queries=queries, **kw) if rfile else {}
        if fmt.judged_only:
            queries = {q: t for q, t in queries.items() if q in qrels}
        cands = msmarco.read_candidates(base / sf.candidates, docs=corpus, queries=queries, **kw) \
            if sf.candidates else None
        splits[name] = Split(queries=queries, qrels=qrels, candidates=cands)
        where[name] = str(qpath)
        files[name] = {"queries": str(qpath), "qrels": str(base / rfile) if rfile else "",
                       "candidates": str(base / sf.candidates) if sf.candidates else ""}
    return _Loaded(RetrievalDataset(corpus, splits, {"files": files}), titles, where, notes)


for _name in ("msmarco", "beir", "trec", "cranfield", "smart"):
    SOURCES.add(_name, _load_local)


@SOURCES.register("synthetic")
def _load_synthetic(cfg: DataConfig, report: SkipReport) -> _Loaded:
    ds = synthetic.generate(cfg.synthetic)
    return _Loaded(ds, {}, {s: "synthetic" for s in ds.splits})


@SOURCES.register("ir_datasets")
def _load_ir_datasets(cfg: DataConfig, report: SkipReport) -> _Loaded:
    titles: dict[str, str] = {}
    ds = remote.load_ir_datasets(cfg.ir_datasets, on_error=cfg.on_error, report=report, titles=titles)
    return _Loaded(ds, titles, {s: getattr(cfg.ir_datasets, s) for s in ds.splits})


@SOURCES.register("hf")
def _load_hf(cfg: DataConfig, report: SkipReport) -> _Loaded:
    titles: dict[str, str] = {}
    ds = remote.load_hf(cfg.hf, on_error=cfg.on_error, report=report, titles=titles)
    return _Loaded(ds, titles, {s: f"{cfg.hf.qrels}[{getattr(cfg.hf, s)}]" for s in ds.splits})


def _drop_unjudged(loaded: _Loaded, cfg: DataConfig, report: SkipReport) -> None:
    probs = Problems(cfg.on_error, report)
    for name, split in loaded.ds.splits.items():
        if not split.qrels:
            continue
        for qid in [q for q in split.queries if not split.qrels.get(q)]:
            del split.queries[qid]
            if split.candidates is not None:
                split.candidates.pop(qid, None)
            if cfg.splits.unjudged_queries == "drop":
                report.add("query without judgements (dropped)", f"{name}: {qid}")
            else:
                probs.bad("query without judgements", f"query {qid!r} of split {name!r} has no judgements",
                          path=loaded.where.get(name, name), line=None,
                          fix="use a queries file holding only judged queries, or set "
                              "data.splits.unjudged_queries: drop")


def assign_folds(qids: Iterable[str], k: int, seed: int) -> dict[str, int]:
    """``qid -> fold`` (0 .. k-1): the ids sorted, shuffled with ``seed`` and dealt round-robin, so fold sizes
    differ by at most one and the assignment does not depend on which fold is asked for."""
    order = sorted(qids)
    random.Random(seed).shuffle(order)
    return {q: i % k for i, q in enumerate(order)}


def _split_test(ds: RetrievalDataset, dev_ids: set[str]) -> None:
    """Move the queries ``dev_ids`` of the test split (with their judgements and candidates) to a new dev split."""
    test = ds.split("test")

    def part(keep: Callable[[str], bool]) -> Split:
        return Split(queries={q: t for q, t in test.queries.items() if keep(q)},
                     qrels={q: r for q, r in test.qrels.items() if keep(q)},
                     candidates=None if test.candidates is None else
                     {q: c for q, c in test.candidates.items() if keep(q)})

    ds.splits["dev"] = part(lambda q: q in dev_ids)
    ds.splits["test"] = part(lambda q: q not in dev_ids)


def _folds(ds: RetrievalDataset, cfg: DataConfig) -> dict[str, Any]:
    plan = cfg.splits
    if "dev" in ds.splits:
        raise ConfigError("params.yaml: data.splits.method = 'folds' but the source already has a dev split; use "
                          "method: dev_from_test (with dev_from_test: 0) or drop the source's dev files")
    judged = ds.split("test").judged_queries()
    if len(judged) < plan.k:
        raise ConfigError(f"params.yaml: data.splits.k = {plan.k} folds of {len(judged)} judged test queries "
                          "leaves an empty fold; lower k")
    folds = assign_folds(judged, plan.k, plan.seed)
    dev_ids = {q for q, f in folds.items() if f != plan.fold}
    _split_test(ds, dev_ids)
    return {"method": "folds", "k": plan.k, "fold": plan.fold, "seed": plan.seed,
            "dev": f"folds (the {plan.k - 1} folds other than {plan.fold} of {plan.k}, seed {plan.seed})",
            "dev_queries": sorted(dev_ids), "test_queries": sorted(q for q, f in folds.items() if f == plan.fold)}


def _dev_from_test(ds: RetrievalDataset, cfg: DataConfig) -> dict[str, Any]:
    if cfg.splits.method == "folds":
        return _folds(ds, cfg)
    if "dev" in ds.splits:
        if cfg.splits.dev_from_test > 0:
            raise ConfigError("params.yaml: data.splits.dev_from_test > 0 but the source already has a dev split; "
                              "set dev_from_test: 0 or drop the source's dev files")
        return {"dev": "source"}
    if cfg.splits.dev_from_test <= 0:
        raise ConfigError("params.yaml: the source has no dev split; set data.splits.dev_from_test (e.g. 0.2) to "
                          "carve dev out of the judged test queries, or name dev files/ids")
    test = ds.split("test")
    judged = sorted(test.judged_queries())
    n_dev = round(cfg.splits.dev_from_test * len(judged))
    if n_dev < 1 or n_dev >= len(judged):
        raise ConfigError(f"params.yaml: data.splits.dev_from_test = {cfg.splits.dev_from_test} of "
                          f"{len(judged)} judged test queries leaves an empty dev or test split; change the fraction")
    dev_ids = set(random.Random(cfg.splits.seed).sample(judged, n_dev))
    _split_test(ds, dev_ids)
    return {"dev": f"from_test (fraction {cfg.splits.dev_from_test}, seed {cfg.splits.seed})",
            "dev_queries": sorted(dev_ids)}


def load_dataset(cfg: DataConfig) -> tuple[RetrievalDataset, SkipReport]:
    """Load the collection ``cfg`` names; returns the dataset (splits train/dev/test) and the skip report."""
    report = SkipReport()
    loaded = SOURCES.get(cfg.source)(cfg, report)
    ds = loaded.ds
    if "test" not in ds.splits or not ds.splits["test"].judged_queries():
        raise ConfigError(f"params.yaml: data.source = {cfg.source!r} gave no judged test queries; name the test "
                          "queries and qrels (data.local.test / data.ir_datasets.test / data.hf.test)")
    mojibake = {"mode": cfg.mojibake, "docs": apply_mojibake(ds.corpus, cfg.mojibake),
                "queries": sum(apply_mojibake(s.queries, cfg.mojibake) for s in ds.splits.values())}
    _drop_unjudged(loaded, cfg, report)
    split_info = _dev_from_test(ds, cfg)
    pq = cfg.pseudo_queries
    if pq.enabled:
        exclude = {d for s in ("dev", "test") for r in ds.splits[s].qrels.values() for d in r} \
            if pq.exclude_eval_docs else set()
        passed_over = SkipReport()
        window, window_from = query_window(pq, (t for s in ("dev", "test")
                                                for t in ds.splits[s].judged_queries().values()))
        pseudo = make_pseudo_queries(ds.corpus, pq, titles=loaded.titles, exclude=exclude, report=passed_over,
                                     window=window)
        train = ds.splits.setdefault("train", Split(queries={}))
        clash = set(pseudo.queries) & set(train.queries)
        if clash:
            raise ConfigError(f"params.yaml: data.pseudo_queries.id_prefix {pq.id_prefix!r} clashes with train "
                              f"query ids such as {sorted(clash)[0]!r}; choose another prefix")
        train.queries.update(pseudo.queries)
        train.qrels.update(pseudo.qrels)
        train.doc_texts.update(pseudo.doc_texts)
        split_info["pseudo_queries"] = {
            "strategy": pq.strategy, "made": len(pseudo.queries), "window_words": window,
            "window_from": window_from, "positives_changed": len(pseudo.doc_texts),
            "positives_unchanged": len(pseudo.queries) - len(pseudo.doc_texts),
            "passed_over": dict(passed_over.as_dict())}
    if "train" not in ds.splits or not ds.splits["train"].queries:
        raise ConfigError("params.yaml: the source has no train queries; set data.pseudo_queries.enabled: true "
                          "or name train files/ids")
    if not ds.splits["dev"].judged_queries():
        raise ConfigError("params.yaml: the dev split has no judged queries; give dev qrels or use "
                          "data.splits.dev_from_test")
    ds.meta.update({"source": cfg.source, "config": to_mapping(cfg), "mojibake": mojibake, "splits": split_info,
                    "skipped": dict(report.as_dict())})
    if loaded.notes is not None and loaded.notes.total:
        ds.meta["read_notes"] = dict(loaded.notes.as_dict())
        print(f"note: read past {loaded.notes.total} oddit(ies) of the input (not errors): "
              + ", ".join(f"{r}: {n} (first {loaded.notes.examples[r][0]})" for r, n in loaded.notes.counts.items()))
    return ds, report


__all__ = ["load_dataset", "assign_folds", "SOURCES", "LOCAL_FORMATS", "LocalFormat"]
