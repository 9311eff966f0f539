"""Dense stage: the pretrained bi-encoder as a first stage, fine-tuned, and its index compressed (PQ, JPQ).

Steps, each evaluated on dev and test with the study's metrics (as BM25 is):

1. encode the corpus with the checkpoint's encoder;
2. ``zeroshot``: the checkpoint as released, exact search over a faiss flat inner-product index;
3. ``biencoder``: fine-tuned on the training queries (:mod:`irprune.dense.train`): ``dense.train.side: query``
   trains the query encoder against the fixed document vectors, ``both`` the shared encoder, after which the
   corpus is re-encoded (the document vectors then stay fixed); with ``distill_weight > 0`` the trained re-ranker
   ``dense.train.teacher`` first scores each training query's positives and a pool of its BM25 negatives, and the
   loss is distilled towards those scores; the checkpoint chosen on dev with step 0 (= zero-shot) among the
   candidates;
4. per PQ size ``M`` in ``dense.pq.m``: plain PQ (faiss k-means) of the document vectors searched with the
   fine-tuned query encoder, OPQ (a learned rotation, then PQ; ``dense.pq.opq``), and JPQ
   (:mod:`irprune.dense.jpq`) started from the OPQ index (plain PQ without it) and that query encoder;
5. index bytes and CPU latency per query (one query at a time, ``dense.latency.threads`` threads): query
   encoding and index search, for the flat index and each compressed one;
6. paired significance tests on test (``significance`` section) of every system against BM25 (the ``bm25``
   stage's per-query scores on the same queries), of the fine-tuned against the zero-shot encoder, and of JPQ
   against plain PQ and against OPQ at each code size (Holm-adjusted over the family).

Outputs: ``models/dense/`` (document vectors ``doc_vectors.npy`` in ``doc_ids.json`` order, the fine-tuned query
encoder ``query_encoder/``, the PQ/OPQ/JPQ centroids and codes, the OPQ rotations),
``runs/dense/<system>.<split>.trec``, ``runs/dense/per_query.json``, ``metrics/dense.json``, and results-table
cells (task ``dense``; size columns are those of the *index*: float32 vectors vs the stored codes, centroids and
rotation) in ``metrics/cells/dense/``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import paths
from ..config import frozen, param, to_mapping
from ..data.store import read_dataset
from ..dense.config import DenseConfig
from ..dense.encoder import BiEncoder
from ..dense import index as ix
from ..dense.jpq import pq_scores, train_jpq
from ..dense.prune import encoder_prunable
from ..dense.train import finetune_query_encoder, training_pairs
from ..evaluation import EvalConfig, evaluate
from ..io import atomic_write_json, read_json
from ..progress import emit
from ..pruning.sparsity import sparsity_columns
from ..cells.schema import index_method, make_cell, write_cell
from ..runs import read_trec_run, write_trec_run
from ..significance import SignificanceConfig, compare, holm

MODEL_DIR = paths.MODELS / "dense"
DOC_VECTORS = MODEL_DIR / "doc_vectors.npy"
DOC_IDS = MODEL_DIR / "doc_ids.json"
QUERY_ENCODER = MODEL_DIR / "query_encoder"
RUN_DIR = paths.RUNS / "dense"
PER_QUERY = RUN_DIR / "per_query.json"
METRICS = paths.METRICS / "dense.json"
CELL_DIR = paths.CELLS / "dense"
TASK = "dense"
PRIMARY = "mrr@10"
SPLITS = ("dev", "test")


@frozen
class DenseStage:
    """Config of the ``dense`` stage: the sections its code reads."""

    dense: DenseConfig = param(DenseConfig)
    evaluation: EvalConfig = param(EvalConfig)
    significance: SignificanceConfig = param(SignificanceConfig)


def set_threads(n: int) -> None:
    import torch

    if n:
        torch.set_num_threads(n)
        import faiss

        faiss.omp_set_num_threads(n)


def load_encoder(cfg: DenseConfig) -> BiEncoder:
    """The verified checkpoint (``dense.weights_dir`` or the project cache) as a bi-encoder."""
    from .. import weights

    return BiEncoder.load(weights.resolve(cfg.checkpoint, cfg.weights_dir or None))


@dataclass
class Scorer:
    """Scores every document for a batch of query vectors: exact (flat) or PQ asymmetric scores (of ``R q`` with an
    OPQ ``rotation``), computed in numpy / torch (the numbers faiss returns, as tests/test_dense.py checks); with
    ``index``, :func:`retrieve` searches that faiss index instead (the reported runs)."""

    doc_vecs: np.ndarray
    centroids: np.ndarray | None = None
    codes: np.ndarray | None = None
    index: Any = None
    rotation: np.ndarray | None = None

    def __call__(self, q: np.ndarray) -> np.ndarray:
        if self.centroids is None:
            return q @ self.doc_vecs.T
        import torch

        if self.rotation is not None:
            q = np.ascontiguousarray(q @ self.rotation.T, dtype=np.float32)
        with torch.no_grad():
            return pq_scores(torch.from_numpy(q), torch.from_numpy(self.centroids),
                             torch.from_numpy(self.codes)).numpy()


def retrieve(enc: BiEncoder, scorer: Scorer, queries: dict[str, str], doc_ids: list[str], cfg: DenseConfig) -> dict:
    qids = sorted(queries)
    q = enc.encode([queries[i] for i in qids], "query", max_tokens=cfg.query_max_tokens, batch_size=128,
                   label=False)
    if scorer.index is not None:
        return ix.search(scorer.index, q, qids, doc_ids, cfg.depth)
    return ix.run_from_scores(scorer(q), qids, doc_ids, cfg.depth)


def dev_metric(ds: Any, doc_ids: list[str], cfg: DenseConfig, ecfg: EvalConfig):
    """``f(enc, scorer) -> dev MRR@10`` (the selection metric of fine-tuning and JPQ)."""
    dev = ds.split("dev")

    def f(enc: BiEncoder, scorer: Scorer) -> float:
        return float(evaluate(dev.qrels, retrieve(enc, scorer, dev.queries, doc_ids, cfg), ecfg).aggregate[PRIMARY])
    return f


def encode_latency_ms(enc: BiEncoder, texts: list[str], cfg: DenseConfig) -> float:
    """Median over ``repeats`` of the mean milliseconds to encode one query (batch of one, no gradients)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(cfg.latency.threads)
    try:
        enc.encode(texts[:2], "query", max_tokens=cfg.query_max_tokens, batch_size=1, label=False)
        times = []
        for _ in range(cfg.latency.repeats):
            t0 = time.perf_counter()
            for t in texts:
                enc.encode([t], "query", max_tokens=cfg.query_max_tokens, batch_size=1, label=False)
            times.append((time.perf_counter() - t0) * 1000.0 / max(1, len(texts)))
        return float(np.median(times))
    finally:
        torch.set_num_threads(old)


def distillation_pairs(pairs: Any, doc_texts: list[str], tc: Any, model_root: Path) -> tuple[Any, float]:
    """``pairs`` scored by the teacher ``tc.teacher`` (a trained ranker's checkpoint under ``model_root``; on the
    GPU when there is one, with the re-ranker's bf16 autocast), and the seconds it took."""
    from ..dense.train import teacher_scores
    from ..models.checkpoint import load_checkpoint
    from ..models.device import select_device
    from ..rerank import score_pairs

    teacher = load_checkpoint(Path(model_root) / tc.teacher, map_location=select_device())    # a GPU if present
    t0 = time.perf_counter()
    out = teacher_scores(pairs, doc_texts, lambda p: score_pairs(teacher, p, progress="dense: teacher scores"),
                         tc.teacher_pool, tc.seed)
    emit(f"dense: teacher {tc.teacher} scored {sum(map(len, out.teacher))} pairs")
    return out, time.perf_counter() - t0


@dataclass
class DenseStageResult:
    metrics: dict[str, Any]
    systems: dict[str, dict[str, Any]] = field(default_factory=dict)

    def table(self) -> Any:
        import pandas as pd

        cols = ("mrr@10", "ndcg@10", "map", "recall@100", "index_bytes", "compression", "search_ms",
                "latency_ms", "p_vs_bm25")
        return pd.DataFrame({name: {c: s.get(c) for c in cols} for name, s in self.systems.items()}).T


def run(cfg: DenseStage, dataset_dir: Path = paths.DATASET, bm25_train_run: Path = paths.bm25_run("train"),
        bm25_per_query: Path = paths.BM25_PER_QUERY, model_dir: Path = MODEL_DIR, run_dir: Path = RUN_DIR,
        metrics_path: Path = METRICS, cell_dir: Path = CELL_DIR, model_root: Path = paths.MODELS) -> DenseStageResult:
    """Encode, fine-tune, index, compress, evaluate (see the module docstring)."""
    t_start = time.perf_counter()
    c = cfg.dense
    set_threads(c.threads)
    ecfg = cfg.evaluation
    ds = read_dataset(dataset_dir)
    doc_ids = ix.doc_order(ds.corpus)
    row = {d: i for i, d in enumerate(doc_ids)}
    enc = load_encoder(c)
    total_params = sum(p.numel() for p in enc.doc.parameters())
    covered = sparsity_columns(enc.doc, encoder_prunable(enc.doc, c.prune.include_embeddings))   # nothing pruned

    t0 = time.perf_counter()
    texts = [ds.corpus[d] for d in doc_ids]
    docs = enc.encode(texts, "doc", max_tokens=c.doc_max_tokens,
                      batch_size=c.batch_size, label="dense: encode corpus")
    encode_s = time.perf_counter() - t0
    model_dir.mkdir(parents=True, exist_ok=True)
    np.save(model_dir / DOC_VECTORS.name, docs)
    atomic_write_json(model_dir / DOC_IDS.name, doc_ids)
    flat = Scorer(docs)
    dev_f = dev_metric(ds, doc_ids, c, ecfg)
    splits = [s for s in SPLITS if s in ds.splits and ds.split(s).qrels]

    systems: dict[str, dict[str, Any]] = {}
    per_query: dict[str, dict[str, dict[str, float]]] = {}

    def evaluate_system(name: str, e: BiEncoder, scorer: Scorer, **extra: Any) -> None:
        rec: dict[str, Any] = dict(extra)
        for split in splits:
            sp = ds.split(split)
            r = retrieve(e, scorer, sp.queries, doc_ids, c)
            write_trec_run(r, run_dir / f"{name}.{split}.trec", tag=name)
            res = evaluate(sp.qrels, r, ecfg)
            prefix = "" if split == "test" else f"{split}_"
            rec.update({prefix + k: v for k, v in res.aggregate.items()})
            if split == "test":
                per_query[name] = res.per_query
        systems[name] = rec
        emit(f"dense: {name}: test {PRIMARY} {rec.get(PRIMARY, float('nan')):.4f}")

    flat_bytes = int(docs.nbytes)
    evaluate_system("zeroshot", enc, Scorer(docs, index=ix.flat_index(docs)), index_bytes=flat_bytes,
                    compression=1.0)

    # fine-tuning: the query side against the fixed document vectors, or both sides; distilled from the teacher
    ft, teacher_s = None, None
    distilled = c.train.steps > 0 and c.train.distill_weight > 0
    if c.train.steps > 0:
        tr = ds.split("train")
        pairs = training_pairs(tr.queries, tr.qrels, read_trec_run(bm25_train_run) if c.train.negatives else None,
                               row, c.train.bm25_depth)
        if distilled:
            pairs, teacher_s = distillation_pairs(pairs, texts, c.train, model_root)
        if c.train.side == "both":

            def reencoded(e: BiEncoder) -> float:
                return dev_f(e, Scorer(e.encode(texts, "doc", max_tokens=c.doc_max_tokens, batch_size=c.batch_size,
                                                label="dense: re-encode corpus")))
            ft = finetune_query_encoder(enc, docs, pairs, c.train, reencoded, query_max_tokens=c.query_max_tokens,
                                        label="dense: finetune (both sides)", doc_texts=texts,
                                        doc_max_tokens=c.doc_max_tokens)
            docs = enc.encode(texts, "doc", max_tokens=c.doc_max_tokens, batch_size=c.batch_size,
                              label="dense: encode corpus (fine-tuned)")
            np.save(model_dir / DOC_VECTORS.name, docs)
            flat = Scorer(docs)
            enc.split()                      # JPQ and pruning train the query side alone from here on
        else:
            ft = finetune_query_encoder(enc, docs, pairs, c.train, lambda e: dev_f(e, flat),
                                        query_max_tokens=c.query_max_tokens, label="dense: finetune")
        enc.query.save_pretrained(str(model_dir / QUERY_ENCODER.name))
    else:
        pairs = None
    faiss_indexes: dict[str, Any] = {"biencoder": ix.flat_index(docs)}
    evaluate_system("biencoder", enc, Scorer(docs, index=faiss_indexes["biencoder"]), index_bytes=flat_bytes,
                    compression=1.0)

    # PQ and JPQ at each code size
    pq_info: dict[str, Any] = {}
    for m in c.pq.m:
        t0 = time.perf_counter()
        pq = ix.train_pq(docs, m, c.pq.nbits, c.pq.seed)
        pq_s = time.perf_counter() - t0
        book = ix.pq_codebook(pq)
        nbytes = ix.index_bytes(pq)
        comp = ix.compression_for(docs.shape[1], m, c.pq.nbits)
        recon = float(np.linalg.norm(book.reconstruct() - docs, axis=1).mean())
        evaluate_system(f"pq{m}", enc, Scorer(docs, index=pq), index_bytes=nbytes,
                        compression=comp, train_s=pq_s, reconstruction_error=recon)
        faiss_indexes[f"pq{m}"] = pq
        _save_codebook(model_dir, f"pq{m}", book, c.pq.nbits)
        start, rot = pq, None                   # JPQ's starting index: OPQ when built, else plain PQ
        if c.pq.opq:
            t0 = time.perf_counter()
            start = ix.train_opq(docs, m, c.pq.nbits, c.pq.seed, c.pq.opq_iters)
            opq_s = time.perf_counter() - t0
            rot, book = ix.rotation(start), ix.pq_codebook(start)
            recon = float(np.linalg.norm(book.reconstruct() @ rot - docs, axis=1).mean())    # R^-1 = R^T
            evaluate_system(f"opq{m}", enc, Scorer(docs, index=start), index_bytes=ix.index_bytes(start),
                            compression=comp, train_s=opq_s, reconstruction_error=recon)
            faiss_indexes[f"opq{m}"] = start
            _save_codebook(model_dir, f"opq{m}", book, c.pq.nbits)
            np.save(model_dir / f"opq{m}_rotation.npy", rot)
        if c.jpq.steps > 0:
            if pairs is None:
                tr = ds.split("train")
                pairs = training_pairs(tr.queries, tr.qrels, None, row, 1)
            jenc = BiEncoder(enc.tokenizer, copy.deepcopy(enc.query), enc.doc, enc.normalize)
            jr = train_jpq(jenc, book, pairs, c.jpq,
                           lambda e, cent: dev_f(e, Scorer(docs, cent, book.codes, rotation=rot)),
                           query_max_tokens=c.query_max_tokens, label=f"dense: jpq M={m}", rotation=rot)
            jidx = ix.copy_index(start)
            ix.set_centroids(jidx, jr.centroids)
            faiss_indexes[f"jpq{m}"] = jidx
            evaluate_system(f"jpq{m}", jenc, Scorer(docs, index=jidx), index_bytes=ix.index_bytes(jidx),
                            compression=comp, train_s=jr.train_s, selected_step=jr.best_step,
                            start="opq" if rot is not None else "pq")
            np.save(model_dir / f"jpq{m}_centroids.npy", jr.centroids)
            pq_info[f"jpq{m}"] = {"history": jr.history}

    # latency: query encoding (the same encoder size for every system) + index search, one query at a time
    test_q = ds.split("test").queries
    lat_texts = [test_q[q] for q in sorted(test_q)][: c.latency.n_queries]
    enc_ms = encode_latency_ms(enc, lat_texts, c)
    lat_vecs = enc.encode(lat_texts, "query", max_tokens=c.query_max_tokens, batch_size=128, label=False)
    for name, index in faiss_indexes.items():
        search_ms = ix.search_latency_ms(index, lat_vecs, c.depth, c.latency.repeats, c.latency.threads)
        for target in ([name, "zeroshot"] if name == "biencoder" else [name]):
            systems[target].update(search_ms=search_ms, encode_ms=enc_ms, latency_ms=search_ms + enc_ms)

    # significance on test: every system against BM25, and the fine-tuned encoder against the zero-shot one
    sig: dict[str, Any] = {}
    if "test" in splits and Path(bm25_per_query).is_file():
        bm25_pq = read_json(bm25_per_query)["test"][PRIMARY]
        tests = {f"{n}_vs_bm25": (per_query[n][PRIMARY], bm25_pq) for n in systems}
        tests["biencoder_vs_zeroshot"] = (per_query["biencoder"][PRIMARY], per_query["zeroshot"][PRIMARY])
        for n in systems:                    # JPQ against plain PQ and OPQ at the same code size
            for base in ("pq", "opq"):
                if n.startswith("jpq") and f"{base}{n[3:]}" in per_query:
                    tests[f"{n}_vs_{base}{n[3:]}"] = (per_query[n][PRIMARY], per_query[f"{base}{n[3:]}"][PRIMARY])
        for key, (a, b) in tests.items():
            cmp = compare(a, b, cfg=cfg.significance)
            sig[key] = {"mean_a": cmp.mean_a, "mean_b": cmp.mean_b, "mean_diff": cmp.mean_diff, "p": cmp.p_value,
                        "test": cmp.test, "n": cmp.n}
        adj, rej = holm({k: v["p"] for k, v in sig.items()}, cfg.significance.alpha)
        for k in sig:
            sig[k].update(p_holm=adj[k], significant=rej[k])
        for n in systems:
            systems[n]["p_vs_bm25"] = sig[f"{n}_vs_bm25"]["p_holm"]
            systems[n]["bm25_mrr@10"] = sig[f"{n}_vs_bm25"]["mean_b"]

    metrics: dict[str, Any] = {
        "checkpoint": c.checkpoint, "n_docs": len(doc_ids), "dim": int(docs.shape[1]), "encode_corpus_s": encode_s,
        "total_params": total_params, "relevance_level": ecfg.relevance_level, "depth": c.depth,
        "finetune": ft.as_dict() if ft is not None else None,
        "training": {"steps": c.train.steps, "side": c.train.side, "teacher": c.train.teacher if distilled else "",
                     "teacher_s": teacher_s}, "systems": systems, "significance": sig,
        "jpq": pq_info, "total_s": time.perf_counter() - t_start}
    for name, s in systems.items():
        if "test" not in splits:
            break
        model, method = cell_identity(name)
        write_cell(cell_dir / f"{name}.test.json", make_cell(
            task=TASK, model=model, method=method, target_sparsity=0.0, achieved_sparsity=0.0, seed=c.train.seed,
            split="test", primary_metric=PRIMARY,
            **{m.replace("@", "_at_"): float(s[m]) for m in ("mrr@10", "ndcg@10", "map", "recall@10", "recall@100")
               if m in s},
            **covered, nonzero_params=total_params, size_dense_bytes=flat_bytes,
            size_sparse_bytes=int(s["index_bytes"]), latency_ms_per_query=s.get("latency_ms"),
            wall_time_s=time.perf_counter() - t_start, per_query_path=str(run_dir / PER_QUERY.name)))
    atomic_write_json(metrics_path, metrics)
    atomic_write_json(run_dir / PER_QUERY.name, per_query)
    atomic_write_json(run_dir / "config.json", to_mapping(c))
    return DenseStageResult(metrics=metrics, systems=systems)


def cell_identity(system: str) -> tuple[str, str]:
    """Results-table ``(model, method)`` of a system: ``zeroshot`` -> (biencoder-zeroshot, dense), ``biencoder``
    -> (biencoder, dense), ``pq96`` -> (biencoder-m96, pq), ``opq96`` -> (biencoder-m96, opq), ``jpq48`` ->
    (biencoder-m48, jpq)."""
    if system == "zeroshot":
        return "biencoder-zeroshot", "dense"
    if system == "biencoder":
        return "biencoder", "dense"
    method = index_method(system)
    if method is None:
        raise ValueError(f"unknown dense system {system!r}; expected zeroshot, biencoder, pq<M>, opq<M> or jpq<M>")
    return f"biencoder-m{system[len(method):]}", method


def _save_codebook(model_dir: Path, name: str, book: ix.PQCodebook, nbits: int) -> None:
    """``<name>_codes.npy`` (uint8 up to 8 bits) and ``<name>_centroids.npy`` of a PQ or OPQ index."""
    np.save(model_dir / f"{name}_codes.npy", book.codes.astype(np.uint8 if nbits <= 8 else np.uint16))
    np.save(model_dir / f"{name}_centroids.npy", book.centroids)


__all__ = ["DenseStage", "DenseStageResult", "run", "CELL_DIR", "DOC_VECTORS", "DOC_IDS", "METRICS", "MODEL_DIR",
           "PER_QUERY", "QUERY_ENCODER", "RUN_DIR", "TASK", "cell_identity"]
