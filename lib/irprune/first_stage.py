"""The candidate lists the re-rankers reorder: BM25's alone, or BM25's interleaved with a dense retriever's.

A re-ranker only sees the top ``train.eval_depth`` of its candidate list, so a passage the first stage misses is
lost to it.  ``first_stage.method: hybrid`` merges BM25's ranking with the ranking of a registered bi-encoder
checkpoint retrieving from the whole collection (exact inner product over its mean-pooled, normalised vectors, the
model card's scoring), as hybrid lexical-dense first stages do (Karpukhin et al. 2020, "Dense Passage Retrieval
for Open-Domain Question Answering", EMNLP; Wang et al. 2021, "BERT-based Dense Retrievers Require Interpolation
with BM25 for Effective Passage Retrieval", ICTIR).  The merge is a deterministic round-robin interleaving
(BM25 first, then dense, skipping passages already taken): the top ``k`` of the merged list holds at least the top
``ceil(k / 2)`` of both lists, so a re-ranker of the top 30 sees BM25's top 15 and the dense retriever's top 15.

Training splits keep BM25's candidates (their hard negatives); every evaluated split gets the hybrid list.
"""

from __future__ import annotations

from typing import Any, Literal, Mapping, Sequence

from .config import frozen, param
from .runs import Run, sort_ranking


@frozen
class FirstStageConfig:
    """``params.yaml`` section ``first_stage``: what the re-rankers' candidate lists are."""

    method: Literal["bm25", "hybrid"] = param("bm25", doc="bm25 = BM25's list; hybrid = BM25's interleaved with the "
                                                          "checkpoint's dense retrieval (evaluated splits only)")
    checkpoint: str = param("minilm-l6", nonempty=True, doc="registered bi-encoder checkpoint (irprune.weights)")
    weights_dir: str = param("", doc="'' = the project cache (.cache/models/<checkpoint>); else a local folder")
    doc_max_tokens: int = param(128, ge=4, doc="passages are truncated to this many WordPiece tokens")
    query_max_tokens: int = param(32, ge=2, doc="queries are truncated to this many tokens")
    batch_size: int = param(64, ge=1, doc="texts per encoding batch")
    threads: int = param(0, ge=0, doc="torch CPU threads for encoding (0 = torch's default)")

    def validate(self) -> None:
        from .weights import require_registered

        if self.method == "hybrid":
            require_registered("first_stage.checkpoint", self.checkpoint)


def interleave(first: Sequence[str], second: Sequence[str], depth: int) -> list[str]:
    """Round-robin merge of two rankings without duplicates, ``first`` leading, cut at ``depth`` passages."""
    out: list[str] = []
    seen: set[str] = set()
    for i in range(max(len(first), len(second))):
        for ranking in (first, second):
            if i < len(ranking) and ranking[i] not in seen:
                seen.add(ranking[i])
                out.append(ranking[i])
                if len(out) == depth:
                    return out
    return out


def interleaved_run(bm25: Run, dense: Run, depth: int) -> Run:
    """Per query, :func:`interleave` of BM25's and the dense ranking, scored ``depth - position`` (descending)."""
    out: Run = {}
    for qid in sorted(set(bm25) | set(dense)):
        merged = interleave([d for d, _ in sort_ranking(bm25.get(qid, {}))],
                            [d for d, _ in sort_ranking(dense.get(qid, {}))], depth)
        out[qid] = {d: float(depth - i) for i, d in enumerate(merged)}
    return out


def load_encoder(cfg: FirstStageConfig) -> Any:
    """The registered checkpoint's :class:`~irprune.dense.encoder.BiEncoder`, its files hash-checked."""
    from . import weights
    from .dense.encoder import BiEncoder

    return BiEncoder.load(weights.resolve(cfg.checkpoint, cfg.weights_dir or None))


class DenseFirstStage:
    """The checkpoint's bi-encoder over one corpus: documents encoded once, then any query set searched."""

    def __init__(self, cfg: FirstStageConfig, corpus: Mapping[str, str], encoder: Any = None) -> None:
        import torch

        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        from .dense import index as ix

        self.cfg = cfg
        self.encoder = encoder if encoder is not None else load_encoder(cfg)
        self.doc_ids = ix.doc_order(corpus)
        vecs = self.encoder.encode([corpus[d] for d in self.doc_ids], "doc", max_tokens=cfg.doc_max_tokens,
                                   batch_size=cfg.batch_size, label="first stage: encode corpus")
        self.index = ix.flat_index(vecs)            # exact inner product, as the dense stage's flat index

    def retrieve(self, queries: Mapping[str, str], depth: int) -> Run:
        from .dense import index as ix

        qids = sorted(queries)
        vecs = self.encoder.encode([queries[q] for q in qids], "query", max_tokens=self.cfg.query_max_tokens,
                                   batch_size=self.cfg.batch_size, label=False)
        return ix.search(self.index, vecs, qids, self.doc_ids, depth)


__all__ = ["DenseFirstStage", "FirstStageConfig", "interleave", "interleaved_run", "load_encoder"]
