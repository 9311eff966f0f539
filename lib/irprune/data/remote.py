"""Collections fetched by id: ``ir_datasets`` (MacAvaney et al. 2021, "Simplified Data Wrangling with
ir_datasets") and Hugging Face ``datasets`` in the BEIR hub layout (Thakur et al. 2021; e.g. ``BeIR/scifact`` with
configs ``corpus``/``queries`` and ``BeIR/scifact-qrels`` with splits ``train``/``dev``/``test``).

Both libraries are imported lazily, only when a remote source is used; their caches follow ``IR_DATASETS_HOME``
and ``HF_HOME`` as set by the user (never overridden here).  The record conversion functions are separate so that
they run (and are tested) on any iterable of records: ir_datasets namedtuples (``doc_id``/``text``/``title``,
``query_id``/``text`` or TREC ``title``, ``query_id``/``doc_id``/``relevance``) and BEIR hub rows (``_id``,
``title``, ``text``; ``query-id``, ``corpus-id``, ``score``).  Errors name the dataset id and the record number.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, MutableMapping

from ..errors import ConfigError
from .config import HfIds, IrDatasetsIds, SPLITS
from .msmarco import add_judgement
from .text import OnError, Problems
from .types import Corpus, Qrels, Queries, RetrievalDataset, SkipReport, Split


def _field(rec: Any, *names: str) -> Any:
    for name in names:
        if isinstance(rec, Mapping):
            if name in rec:
                return rec[name]
        elif hasattr(rec, name):
            return getattr(rec, name)
    return None


def _sid(v: Any) -> str:
    return "" if v is None else str(v).strip()


def corpus_from_records(records: Iterable[Any], source: str, *, on_error: OnError = "raise",
                        report: SkipReport | None = None, titles: MutableMapping[str, str] | None = None) -> Corpus:
    """Documents (``doc_id``/``_id``, optional ``title``, ``text``) -> corpus; text = ``title + " " + text``."""
    probs = Problems(on_error, report)
    out: Corpus = {}
    for n, rec in enumerate(records, start=1):
        did = _sid(_field(rec, "doc_id", "_id", "id"))
        title, text = _field(rec, "title") or "", _field(rec, "text", "body")
        if not did:
            probs.bad("empty id", "document without an id", path=source, line=n, fix="check the dataset id")
            continue
        if not isinstance(text, str) or not isinstance(title, str):
            probs.bad("missing text", f"document {did!r} has no text field", path=source, line=n,
                      fix="use a dataset whose documents have a text field")
            continue
        if did in out:
            probs.bad("duplicate id", f"document {did!r} appears twice", path=source, line=n,
                      fix="ids must be unique")
            continue
        title, text = title.strip(), text.strip()
        out[did] = f"{title} {text}" if title and text else (title or text)
        if titles is not None and title:
            titles[did] = title
    return out


def queries_from_records(records: Iterable[Any], source: str, *, on_error: OnError = "raise",
                         report: SkipReport | None = None) -> Queries:
    """Queries (``query_id``/``_id`` and ``text``, or a TREC ``title``) -> ``{qid: text}``."""
    probs = Problems(on_error, report)
    out: Queries = {}
    for n, rec in enumerate(records, start=1):
        qid = _sid(_field(rec, "query_id", "_id", "id"))
        text = _field(rec, "text", "title")
        if not qid:
            probs.bad("empty id", "query without an id", path=source, line=n, fix="check the dataset id")
            continue
        if not isinstance(text, str) or not text.strip():
            probs.bad("empty text", f"query {qid!r} has no text", path=source, line=n, fix="check the dataset id")
            continue
        if qid in out:
            probs.bad("duplicate id", f"query {qid!r} appears twice", path=source, line=n, fix="ids must be unique")
            continue
        out[qid] = text.strip()
    return out


def qrels_from_records(records: Iterable[Any], source: str, *, on_error: OnError = "raise",
                       report: SkipReport | None = None, docs: Corpus | None = None,
                       queries: Queries | None = None) -> Qrels:
    """Judgements (``query_id``/``query-id``, ``doc_id``/``corpus-id``, ``relevance``/``score``) -> qrels."""
    probs = Problems(on_error, report)
    out: Qrels = {}
    first: dict[tuple[str, str], int] = {}
    for n, rec in enumerate(records, start=1):
        qid = _sid(_field(rec, "query_id", "query-id"))
        did = _sid(_field(rec, "doc_id", "corpus-id"))
        rel = _field(rec, "relevance", "score")
        if not qid or not did:
            probs.bad("empty id", "judgement without a query or document id", path=source, line=n,
                      fix="check the qrels dataset id")
            continue
        if isinstance(rel, float) and rel.is_integer():
            rel = int(rel)
        text = str(rel).strip() if isinstance(rel, (int, str)) and not isinstance(rel, bool) else repr(rel)
        add_judgement(out, first, probs, source, n, qid, did, text, relevance=None, queries=queries, docs=docs)
    return out


def load_ir_datasets(ids: IrDatasetsIds, *, on_error: OnError = "raise", report: SkipReport | None = None,
                     load_fn: Callable[[str], Any] | None = None,
                     titles: MutableMapping[str, str] | None = None) -> RetrievalDataset:
    """Corpus and splits from ``ir_datasets`` ids; ``load_fn`` defaults to ``ir_datasets.load``."""
    if load_fn is None:
        import ir_datasets  # lazy: heavy import, and only needed for this source

        load_fn = ir_datasets.load
    report = report if report is not None else SkipReport()
    docs_id = ids.docs or ids.test
    docs_ds = load_fn(docs_id)
    if not docs_ds.has_docs():
        raise ConfigError(f"params.yaml: data.ir_datasets: id {docs_id!r} has no documents; set data.ir_datasets.docs "
                          "to an id that has (e.g. msmarco-passage)")
    corpus = corpus_from_records(docs_ds.docs_iter(), docs_id, on_error=on_error, report=report, titles=titles)
    splits: dict[str, Split] = {}
    for name in SPLITS:
        sid = getattr(ids, name)
        if not sid:
            continue
        ds = load_fn(sid)
        queries = queries_from_records(ds.queries_iter(), sid, on_error=on_error, report=report)
        qrels = qrels_from_records(ds.qrels_iter(), sid, on_error=on_error, report=report, docs=corpus,
                                   queries=queries) if ds.has_qrels() else {}
        splits[name] = Split(queries=queries, qrels=qrels)
    return RetrievalDataset(corpus=corpus, splits=splits,
                            meta={"ir_datasets": {"docs": docs_id, **{s: getattr(ids, s) for s in SPLITS}}})


def _hf_load(path: str, name: str | None, split: str, revision: str | None) -> Iterable[Mapping[str, Any]]:
    import datasets  # lazy: only needed for this source

    return datasets.load_dataset(path, name, split=split, revision=revision)


def load_hf(ids: HfIds, *, on_error: OnError = "raise", report: SkipReport | None = None,
            load_fn: Callable[[str, str | None, str, str | None], Iterable[Mapping[str, Any]]] | None = None,
            titles: MutableMapping[str, str] | None = None) -> RetrievalDataset:
    """Corpus, queries and qrels splits from BEIR-style hub datasets.

    ``load_fn(path, config, split, revision)`` returns the rows; it defaults to ``datasets.load_dataset``.
    A split's queries are those its qrels judge (BEIR's rule: one queries table serves all splits).
    """
    load_fn = load_fn or _hf_load
    report = report if report is not None else SkipReport()
    rev = ids.revision or None
    corpus = corpus_from_records(load_fn(ids.corpus, ids.corpus_config or None, ids.corpus_split, rev), ids.corpus,
                                 on_error=on_error, report=report, titles=titles)
    qsrc = ids.queries or ids.corpus
    queries = queries_from_records(load_fn(qsrc, ids.queries_config or None, ids.queries_split, rev), qsrc,
                                   on_error=on_error, report=report)
    splits: dict[str, Split] = {}
    for name in SPLITS:
        qsplit = getattr(ids, name)
        if not qsplit:
            continue
        qrels = qrels_from_records(load_fn(ids.qrels, ids.qrels_config or None, qsplit, rev),
                                   f"{ids.qrels}[{qsplit}]", on_error=on_error, report=report, docs=corpus,
                                   queries=queries)
        splits[name] = Split(queries={q: t for q, t in queries.items() if q in qrels}, qrels=qrels)
    return RetrievalDataset(corpus=corpus, splits=splits, meta={"hf": {"corpus": ids.corpus, "queries": qsrc,
                                                                       "qrels": ids.qrels, "revision": ids.revision}})


__all__ = ["corpus_from_records", "queries_from_records", "qrels_from_records", "load_ir_datasets", "load_hf"]
