"""Typed configs of dense retrieval (``params.yaml`` section ``dense``): the bi-encoder, its fine-tuning, the
indexes (flat, PQ, JPQ), the latency measurement and the pruning of the query encoder."""

from __future__ import annotations

from typing import Literal

from ..config import ConfigError, frozen, param
from ..pruning.settings import GMPSchedule

Selection = Literal["best", "last"]


@frozen
class DenseTrainConfig:
    """Fine-tuning of the bi-encoder, its query side or both sides, distilled from a trained re-ranker
    (:mod:`irprune.dense.train`)."""

    steps: int = param(300, ge=0, doc="optimizer steps (0 = zero-shot: the checkpoint as released)")
    side: Literal["query", "both"] = param("query", doc="query = the query encoder against the fixed document "
                                                        "vectors; both = the shared encoder on both sides (the "
                                                        "corpus re-encoded at every dev evaluation and at the end)")
    batch_size: int = param(32, ge=2, doc="training queries per step (in-batch negatives: the others' positives)")
    negatives: int = param(4, ge=0, doc="BM25 negatives sampled per query from its top bm25_depth")
    bm25_depth: int = param(50, ge=1, doc="BM25 candidates (runs/bm25/train.trec) negatives are drawn from")
    lr: float = param(2e-5, gt=0, doc="AdamW peak learning rate (linear warmup, then linear decay)")
    warmup_steps: int = param(30, ge=0, doc="linear warmup steps")
    temperature: float = param(0.05, gt=0, doc="softmax temperature (the checkpoint was trained with 1/20)")
    eval_every: int = param(100, ge=1, doc="dev evaluation every this many steps (and at step 0 and the end)")
    selection: Selection = param("best", doc="best = the highest dev metric (step 0 included, ties: earliest); "
                                             "last = the final weights")
    seed: int = param(0, ge=0, doc="seed of the batch order and negative sampling")
    teacher: str = param("monobert-s0", nonempty=True,
                         doc="the trained re-ranker under models/ (train@<model>-<seed> writes models/<model>-s<seed>) "
                             "distilled into the bi-encoder; dvc.yaml's dense stage depends on that folder")
    teacher_pool: int = param(8, ge=1, doc="teacher: BM25 negatives per training query it scores (a seeded "
                                           "sample of the top bm25_depth; the negatives are drawn from these)")
    teacher_temperature: float = param(4.0, gt=0, doc="teacher: softmax temperature of its scores")
    distill_weight: float = param(1.0, ge=0, doc="weight of the KL term added to the contrastive loss (0 = no "
                                                 "distillation: the teacher is not loaded)")

    def validate(self) -> None:
        if "/" in self.teacher or "\\" in self.teacher or self.teacher.startswith("."):
            raise ConfigError(f"dense.train.teacher must name a folder under models/ (e.g. monobert-s0), got "
                              f"{self.teacher!r}; fix: give the trained ranker's name, as dvc.yaml's train stage "
                              "writes it")
        if self.distill_weight > 0 and self.negatives > self.teacher_pool:
            raise ConfigError(f"dense.train.negatives ({self.negatives}) is more than teacher_pool "
                              f"({self.teacher_pool}), the scored negatives they are drawn from; fix: raise "
                              "teacher_pool or lower negatives")


@frozen
class PQConfig:
    """Plain product quantization of the document vectors (faiss ``IndexPQ``, k-means per sub-space)."""

    m: tuple[int, ...] = param((96, 48), nonempty=True, ge=1,
                               doc="sub-vectors per document (bytes per doc at 8 bits); 384 dims: 96 = 16x, 48 = 32x")
    nbits: int = param(8, ge=1, le=16, doc="bits per sub-vector code (2^nbits centroids per sub-space)")
    seed: int = param(0, ge=0, doc="seed of faiss k-means")
    opq: bool = param(True, doc="also build OPQ (a learned rotation, then PQ) at each M, and start JPQ from it, as "
                                "JPQ's reference code does (false: JPQ starts from plain PQ)")
    opq_iters: int = param(50, ge=1, doc="OPQ's alternations of rotation and k-means")


@frozen
class JPQConfig:
    """Joint training of the query encoder and the PQ centroids (:mod:`irprune.dense.jpq`)."""

    steps: int = param(300, ge=0, doc="optimizer steps per PQ size (0 = no JPQ)")
    batch_size: int = param(32, ge=1, doc="training queries per step")
    negatives: int = param(100, ge=1, doc="negatives per query: the top of the current PQ index's ranking")
    sampled: int = param(0, ge=0, doc="negatives kept per query, drawn at random from those (0 = all)")
    lr: float = param(1e-5, ge=0, doc="learning rate of the query encoder (0 = centroids only, query vectors fixed)")
    centroid_lr: float = param(1e-4, gt=0, doc="learning rate of the PQ centroids")
    warmup_steps: int = param(30, ge=0, doc="linear warmup steps")
    loss: Literal["lambda", "ce"] = param("lambda", doc="lambda = pairwise RankNet weighted by |delta 1/rank| "
                                                        "(the paper's); ce = softmax cross-entropy")
    eval_every: int = param(100, ge=1, doc="dev evaluation every this many steps (and at step 0 and the end)")
    selection: Selection = param("best", doc="best = the highest dev metric (step 0 = plain PQ); last = final")
    seed: int = param(0, ge=0, doc="seed of the batch order")


@frozen
class DenseLatencyConfig:
    """CPU query latency: one query at a time, single-threaded."""

    n_queries: int = param(100, ge=1, doc="test queries timed (the first n)")
    repeats: int = param(3, ge=1, doc="timed passes; the median pass is reported")
    threads: int = param(1, ge=1, doc="faiss / torch threads while timing")


@frozen
class DensePruneConfig:
    """How a ``dense_prune`` cell prunes the query encoder (the document encoder and the index stay dense)."""

    scope: Literal["layerwise", "global"] = param("layerwise", doc="rank weights per tensor or all together")
    include_embeddings: bool = param(False, doc="also prune the word-embedding matrix")
    recovery_steps: int = param(100, ge=0, doc="fine-tuning steps after pruning (masks fixed), and GMP's span")
    recovery_lr: float = param(2e-5, gt=0, doc="learning rate of recovery (dense.train's other settings)")
    recovery_negatives: int = param(4, ge=0, doc="BM25 negatives per query in recovery (the query side alone: "
                                                 "cheap, the document vectors are fixed)")
    gmp: GMPSchedule = param(GMPSchedule, doc="GMP: when it prunes, as fractions of recovery_steps")


@frozen
class DenseConfig:
    """Everything the ``dense`` stage reads."""

    checkpoint: str = param("minilm-l6", nonempty=True, doc="registered checkpoint (irprune.weights) of the bi-encoder")
    weights_dir: str = param("", doc="'' = the project cache (.cache/models/<checkpoint>); else a local folder")
    doc_max_tokens: int = param(128, ge=4, doc="documents are truncated to this many WordPiece tokens")
    query_max_tokens: int = param(32, ge=2, doc="queries are truncated to this many tokens")
    batch_size: int = param(64, ge=1, doc="texts per encoding batch (length-sorted)")
    depth: int = param(100, ge=1, doc="documents retrieved per query (the ranked list evaluated)")
    threads: int = param(2, ge=0, doc="torch CPU threads for encoding and training (0 = torch's default)")
    train: DenseTrainConfig = param(DenseTrainConfig)
    pq: PQConfig = param(PQConfig)
    jpq: JPQConfig = param(JPQConfig)
    latency: DenseLatencyConfig = param(DenseLatencyConfig)
    prune: DensePruneConfig = param(DensePruneConfig)

    def validate(self) -> None:
        from ..weights import require_registered

        require_registered("dense.checkpoint", self.checkpoint)


__all__ = ["DenseConfig", "DenseLatencyConfig", "DensePruneConfig", "DenseTrainConfig", "JPQConfig", "PQConfig"]
