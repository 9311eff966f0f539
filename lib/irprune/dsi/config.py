"""Typed configs of the Differentiable Search Index (``params.yaml`` section ``dsi``).

DSI (Tay et al. 2022, "Transformer Memory as a Differentiable Search Index", NeurIPS) trains one T5
encoder-decoder (Raffel et al. 2020, JMLR) to map document text to its id (indexing) and queries to the ids of
their relevant documents (retrieval); retrieval is beam search over the valid ids.
"""

from __future__ import annotations

from typing import Literal, Optional

from ..bm25 import BM25Config
from ..config import ConfigError, frozen, param
from ..evaluation import EvalConfig, parse_metric
from ..pruning.settings import GMPSchedule

Scheme = Literal["atomic", "naive", "semantic"]
DocRepr = Literal["direct", "chunks"]
Selection = Literal["best", "last"]
Device = Literal["auto", "cpu", "cuda"]


#: The architectures :data:`irprune.dsi.arch.ARCHS` registers (a test keeps the two equal).
ARCH_NAMES = ("t5", "bert")


@frozen
class DSIModelConfig:
    """The network: a small T5 trained from scratch (default) or from a local pretrained T5 (``arch: t5``), or an
    encoder-decoder whose encoder is a registered BERT checkpoint (``arch: bert``, :mod:`irprune.dsi.arch`)."""

    arch: str = param("t5", nonempty=True, doc="t5 = T5 (sizes below, or pretrained); bert = the checkpoint's BERT "
                                               "encoder + a small decoder from scratch (num_decoder_layers, "
                                               "num_heads, d_ff, dropout; hidden = the encoder's)")
    checkpoint: str = param("minilm-l6", nonempty=True, doc="arch bert: the registered checkpoint (irprune.weights) "
                                                            "whose BERT encoder and WordPiece tokenizer are used")
    keep_layers: Optional[int] = param(None, ge=1, doc="arch bert: keep the first n encoder layers (null = all)")
    pretrained: str = param("", doc="arch t5: '' = train from scratch with the sizes below; else a local directory "
                                    "holding a T5 checkpoint (config.json + weights + tokenizer)")
    allow_download: bool = param(False, doc="let a hub id (t5-small, t5-base) download; off = offline")
    d_model: int = param(128, ge=8, doc="hidden size (T5-small: 512)")
    d_kv: int = param(32, ge=4, doc="size of one attention head")
    d_ff: int = param(512, ge=8, doc="feed-forward inner size")
    num_layers: int = param(2, ge=1, doc="encoder layers")
    num_decoder_layers: int = param(2, ge=1, doc="decoder layers")
    num_heads: int = param(4, ge=1, doc="attention heads")
    dropout: float = param(0.0, ge=0, lt=1, doc="dropout rate (0: DSI memorises its corpus)")
    min_word_freq: int = param(1, ge=1, doc="word-level tokenizer: drop words seen fewer times in the corpus")

    def validate(self) -> None:
        if self.arch not in ARCH_NAMES:
            raise ConfigError(f"params.yaml: dsi.model.arch = {self.arch!r} is not allowed; expected one of "
                              f"{', '.join(ARCH_NAMES)}")


#: The document-id schemes :data:`irprune.dsi.ids.ID_SCHEMES` registers (a test keeps the two equal).
ID_SCHEME_NAMES = ("atomic", "naive", "semantic")


@frozen
class DSIIdConfig:
    """How document ids are represented as decoder token sequences (Tay et al. 2022, Sec. 3.2)."""

    scheme: str = param("semantic", nonempty=True,
                        doc="atomic (one new token per doc) | naive (the docid's characters) | semantic "
                            "(hierarchical k-means paths over TF-IDF + truncated-SVD document embeddings)")
    k: int = param(10, ge=2, doc="semantic: clusters per level (paper: 10)")
    c: int = param(100, ge=1, doc="semantic: max documents in a leaf cluster (paper: 100)")
    embeddings: Literal["tfidf", "checkpoint"] = param(
        "tfidf", doc="semantic: document embeddings clustered: tfidf = TF-IDF + truncated SVD (offline, no weights); "
                     "checkpoint = the pretrained bi-encoder's vectors (mean pooling, normalised; the paper's recipe "
                     "with BERT embeddings)")
    checkpoint: str = param("minilm-l6", nonempty=True, doc="semantic, embeddings: checkpoint: the registered "
                                                            "checkpoint (irprune.weights) that embeds documents")
    embedding_dim: int = param(64, ge=2, doc="semantic, tfidf: truncated-SVD dimension of the TF-IDF vectors")
    kmeans_iters: int = param(25, ge=1, doc="semantic: Lloyd iterations per k-means")
    seed: int = param(0, ge=0, doc="semantic: seed of k-means++ and SVD")

    def validate(self) -> None:
        if self.scheme not in ID_SCHEME_NAMES:
            raise ConfigError(f"params.yaml: dsi.ids.scheme = {self.scheme!r} is not allowed; expected one of "
                              f"{', '.join(ID_SCHEME_NAMES)}")


@frozen
class DSITrainConfig:
    """Multi-task training (indexing + retrieval) and the checkpoint rule, fixed in advance."""

    steps: int = param(1500, ge=1, doc="optimizer steps")
    batch_size: int = param(128, ge=1, doc="examples per step")
    index_ratio: float = param(2.0, ge=0, doc="indexing : retrieval examples (each example is indexing with "
                                              "probability r / (1 + r)); 0 = retrieval only")
    doc_max_tokens: int = param(64, ge=1, doc="token budget of a document: longer ones are truncated")
    query_max_tokens: int = param(16, ge=1, doc="queries are truncated to this many tokens")
    doc_repr: DocRepr = param("chunks", doc="direct = the first doc_max_tokens tokens; chunks = a random "
                                            "window of chunk_len tokens inside them, redrawn each time "
                                            "(the paper's 'inverted index' representation)")
    chunk_len: int = param(12, ge=1, doc="chunks: window length in tokens")
    lr: float = param(3e-3, gt=0, doc="AdamW peak learning rate")
    encoder_lr_scale: float = param(1.0, gt=0, doc="learning-rate multiplier of the weights only the encoder uses "
                                                   "(a pretrained encoder beside a decoder from scratch)")
    warmup_steps: int = param(100, ge=0, doc="linear warmup, then linear decay to 0")
    weight_decay: float = param(0.01, ge=0, doc="AdamW decoupled weight decay")
    grad_clip: float = param(1.0, ge=0, doc="global gradient-norm clip (0 = off)")
    selection: Selection = param("best", doc="best = highest dev metric among evaluations every eval_every steps "
                                             "and at the end (ties: earliest); last = final weights")
    metric: str = param("hits@10", doc="dev metric of the checkpoint rule: hits@k or an evaluation metric")
    eval_every: int = param(500, ge=1, doc="evaluate on dev every this many steps")
    eval_queries: Optional[int] = param(100, ge=1, doc="dev queries used by the checkpoint rule (first n; null = all)")
    seed: int = param(0, ge=0, doc="seed of initialisation, sampling and dropout")
    device: Device = param("auto", doc="auto = CUDA when available, else CPU")
    threads: int = param(1, ge=0, doc="torch CPU threads (0 = torch's default)")

    def validate(self) -> None:
        if self.metric.startswith("hits@"):
            tail = self.metric[5:]
            if not tail.isdigit() or int(tail) < 1:
                raise ConfigError(f"params.yaml: dsi.train.metric = {self.metric!r}: hits@k needs k >= 1")
            return
        try:
            parse_metric(self.metric)
        except ConfigError as e:
            raise ConfigError(f"params.yaml: dsi.train.metric: {e}") from None


@frozen
class DSIRetrieveConfig:
    """Constrained beam search over the id trie."""

    beam_size: int = param(100, ge=1, doc="beams = ranked list length per query (<= number of documents)")
    batch_size: int = param(16, ge=1, doc="queries per generate() call")


@frozen
class DSIPruneConfig:
    """How a DSI pruning cell prunes: train-prune-recover (the protocol of the DSI/T5 pruning slides among the
    sources, ``../shared/seeds/slides-dsi-t5-pruning.txt``: one-shot L1 magnitude pruning, then training with masks
    fixed) or gradual magnitude pruning during that training (Zhu & Gupta 2017)."""

    scope: Literal["global", "layerwise"] = param("layerwise", doc="rank weights per tensor or all together")
    include_embeddings: bool = param(False, doc="also prune the (tied) token embedding / output matrix")
    recovery_steps: int = param(300, ge=0, doc="training steps after pruning (masks fixed), and GMP's span")
    recovery_lr: float = param(1e-3, gt=0, doc="learning rate of recovery training")
    selection: Literal["last", "train"] = param("last", doc="checkpoint of recovery: last = final weights (the "
                                                            "seed's protocol); train = dsi.train's rule on dev, "
                                                            "from the step where the mask is final")
    gmp: GMPSchedule = param(GMPSchedule, doc="GMP: when it prunes, as fractions of recovery_steps")


@frozen
class DSIConfig:
    """Everything the DSI stage reads."""

    n_docs: int = param(1000, ge=0, doc="documents indexed (0 = the whole corpus); a subset takes dev/test documents "
                                        "by best label (3, 2, 1), then train positives, then a seeded sample")
    subset_seed: int = param(0, ge=0, doc="seed of the subset sample")
    model: DSIModelConfig = param(DSIModelConfig)
    ids: DSIIdConfig = param(DSIIdConfig)
    train: DSITrainConfig = param(DSITrainConfig)
    retrieve: DSIRetrieveConfig = param(DSIRetrieveConfig)
    prune: DSIPruneConfig = param(DSIPruneConfig)


@frozen
class DSIStage:
    """Config of the ``dsi`` pipeline stage: the sections its code reads (BM25 runs on the indexed subset for
    the comparison reported beside DSI)."""

    dsi: DSIConfig = param(DSIConfig)
    bm25: BM25Config = param(BM25Config)
    evaluation: EvalConfig = param(EvalConfig)


__all__ = ["ARCH_NAMES", "DSIStage", "DSIConfig", "DSIModelConfig", "DSIIdConfig", "DSITrainConfig",
           "DSIRetrieveConfig", "DSIPruneConfig", "Scheme", "DocRepr", "Selection"]
