"""``TrainConfig``: the ``train:`` section of ``params.yaml`` (loss, negatives, optimiser, early stopping, device).

A model may override any of these keys under ``models.<name>.train`` (e.g. a smaller learning rate for BERT);
:func:`merged` applies such overrides with the same validation.
"""

from __future__ import annotations

from typing import Any, Literal, Mapping, Optional

from ..config import ConfigError, frozen, from_mapping, param, to_mapping
from ..evaluation import parse_metric

Loss = Literal["listwise", "ranknet", "hinge"]
Selection = Literal["best", "last"]
Device = Literal["auto", "cpu", "cuda"]


@frozen
class TrainConfig:
    """How a ranker is trained on BM25 hard negatives and when training stops.

    Losses over a group of one positive and ``negatives`` BM25 negatives with scores ``s_+, s_1..s_n``:
    ``listwise`` = softmax cross-entropy ``-log(e^{s_+} / (e^{s_+} + sum_j e^{s_j}))`` (the localised
    contrastive estimation of Gao, Dai & Callan 2021, ECIR); ``ranknet`` = ``mean_j log(1 + e^{s_j - s_+})``
    (Burges et al. 2005, ICML); ``hinge`` = ``mean_j max(0, margin - s_+ + s_j)`` (the pairwise loss of K-NRM and
    Conv-KNRM, Xiong et al. 2017; Dai et al. 2018).
    """

    loss: Loss = param("listwise", doc="listwise | ranknet | hinge (see the class docstring)")
    margin: float = param(1.0, gt=0, doc="hinge margin")
    negatives: int = param(7, ge=1, doc="BM25 negatives per positive in a training group")
    negative_depth: int = param(100, ge=1, doc="negatives are drawn from the BM25 top-k minus the positives")
    random_negatives: int = param(0, ge=0, doc="extra negatives drawn uniformly from the corpus (easy ones)")
    batch_queries: int = param(16, ge=1, doc="training groups (queries) per optimizer step")
    epochs: int = param(1, ge=1, doc="passes over the training queries (one group per query and epoch)")
    max_steps: Optional[int] = param(None, ge=1, doc="stop after this many optimizer steps (null = all epochs)")
    lr: float = param(1e-3, gt=0, doc="AdamW peak learning rate (Loshchilov & Hutter 2019)")
    warmup_frac: float = param(0.1, ge=0, lt=1, doc="linear warmup over this fraction of steps, then linear decay")
    weight_decay: float = param(0.01, ge=0, doc="AdamW decoupled weight decay")
    grad_clip: float = param(1.0, ge=0, doc="clip the global gradient norm to this (0 = off)")
    eval_every: int = param(100, ge=1, doc="evaluate on dev every this many optimizer steps (and at the end)")
    eval_at_start: bool = param(False, doc="also evaluate before the first step, so selection may keep the "
                                "starting weights (a ranker that starts from a useful score)")
    eval_queries: Optional[int] = param(None, ge=1, doc="dev queries used for early stopping (null = all; "
                                                         "the first n in id order)")
    eval_depth: int = param(100, ge=1, doc="BM25 candidates a ranker re-ranks: in checkpoint selection and in "
                            "the reported dev/test runs alike (one depth)")
    metric: str = param("mrr@10", doc="dev metric of early stopping and checkpoint selection")
    selection: Selection = param("best", doc="best = the evaluated checkpoint with the highest dev metric "
                                             "(ties: the earliest); last = the final weights")
    patience: int = param(0, ge=0, doc="stop after this many evaluations without an improvement > min_delta "
                                       "(0 = never stop early)")
    min_delta: float = param(0.0, ge=0, doc="an improvement must exceed this to count (and to select)")
    checkpoint_every: int = param(100, ge=1, doc="write the resume state every this many optimizer steps")
    batch_size_eval: int = param(256, ge=1, doc="pairs per batch when re-ranking")
    seed: int = param(0, ge=0, doc="seed of initialisation, sampling and dropout (a CPU run repeats exactly)")
    device: Device = param("auto", doc="auto = CUDA when available (bf16 autocast), else CPU (fp32)")
    threads: int = param(1, ge=0, doc="torch CPU threads (0 = torch's default); 1 is fastest on a busy machine")
    progress: bool = param(True, doc="show tqdm progress bars")

    def validate(self) -> None:
        try:
            parse_metric(self.metric)
        except ConfigError as e:
            raise ConfigError(f"params.yaml: train.metric: {e}") from None


def merged(base: TrainConfig, overrides: Mapping[str, Any] | None, prefix: str = "train") -> TrainConfig:
    """``base`` with ``overrides`` (a mapping of TrainConfig keys) applied; unknown keys name ``prefix``."""
    if not overrides:
        return base
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"params.yaml: {prefix} = {overrides!r} is not allowed; expected a mapping of train keys")
    return from_mapping(TrainConfig, {**to_mapping(base), **overrides}, prefix=prefix)


__all__ = ["TrainConfig", "Loss", "Selection", "merged"]
