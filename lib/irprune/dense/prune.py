"""Pruning the bi-encoder's query encoder: the dense-retrieval adapter of the one cell layer.

The document vectors (the index) stay those of the dense document encoder, so a pruned query encoder changes the
query side only.  :class:`QueryEncoderTask` lends the query encoder to the registered procedures of
:mod:`irprune.pruning.methods` (:func:`irprune.pruning.driver.run_method`); it runs :data:`QUERY_ENCODER_METHODS`:

* ``magnitude`` / ``random`` -- one-shot unstructured pruning (:func:`irprune.pruning.prune_oneshot`), then
  ``recovery_steps`` of the contrastive fine-tuning of :mod:`irprune.dense.train` with the masks fixed (the
  parametrization keeps pruned weights at zero);
* ``gmp`` -- gradual magnitude pruning (Zhu & Gupta 2017, cubic schedule) during the same recovery steps, on the
  one schedule of every task (:func:`irprune.pruning.schedules.gmp_steps`, ``dense.prune.gmp``).

Prunable: every ``nn.Linear`` of the encoder (attention q/k/v/o, feed-forward), never the pooler (mean pooling
does not use it), the word embeddings only with ``include_embeddings``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from ..errors import ConfigError
from ..pruning import MethodSettings, ScoreContext, fold, prunable_parameters
from ..pruning.cell import Cell, TrainHooks
from ..pruning.driver import run_method
from ..pruning.prunable import effective_named_tensors
from .config import DensePruneConfig, DenseTrainConfig
from .encoder import BiEncoder
from .train import FinetuneResult, TrainingPairs, finetune_query_encoder

#: what the query-encoder cells run (names of :data:`irprune.pruning.methods.METHODS`): the procedures whose
#: knobs ``dense.prune`` holds and that read no scoring batches
QUERY_ENCODER_METHODS: tuple[str, ...] = ("magnitude", "random", "gmp")
#: the task's name in errors
FAMILY = "dense retrieval"

#: tensors of a BERT encoder that are never pruned (the pooler is unused by mean pooling)
_NEVER = ("pooler.*", "*position_embeddings*", "*token_type_embeddings*")


def encoder_prunable(model: nn.Module, include_embeddings: bool = False,
                     kinds: tuple[str, ...] | None = None) -> dict[str, nn.Parameter]:
    """The pruned weight matrices of a BERT encoder: its ``nn.Linear`` weights except the pooler's (and the word
    embeddings with ``include_embeddings``; position and type embeddings never); ``kinds`` overrides the kinds."""
    if kinds is None:
        kinds = ("linear", "embedding") if include_embeddings else ("linear",)
    return prunable_parameters(model, include=kinds, exclude_names=_NEVER)


def achieved_sparsity(model: nn.Module, names: dict[str, nn.Parameter]) -> float:
    """Fraction of zeros among the prunable weights as the forward pass sees them."""
    z = n = 0
    for name, t in effective_named_tensors(model):
        if name in names:
            z += int(t.numel() - int(t.count_nonzero()))
            n += t.numel()
    return z / n if n else 0.0


@dataclass
class QueryEncoderTask:
    """The adapter (:class:`irprune.pruning.cell.TaskAdapter`) of the bi-encoder's query encoder: prunable
    tensors :func:`encoder_prunable`, training = :func:`irprune.dense.train.finetune_query_encoder` against the
    fixed document vectors (``recovery_steps`` at ``recovery_lr``, the final weights kept), evaluation =
    ``evaluator(enc)`` (the dense_prune stage's retrieval over the unchanged index)."""

    enc: BiEncoder
    pairs: TrainingPairs
    doc_vecs: Any
    cfg: DensePruneConfig
    train_cfg: DenseTrainConfig
    seed: int
    query_max_tokens: int
    evaluator: Callable[[BiEncoder], dict[str, Any]] | None = None
    evaluate_dev: Callable[[BiEncoder], float] | None = None
    family: str = FAMILY
    methods: tuple[str, ...] = QUERY_ENCODER_METHODS
    config_key: str = "dense.prune"
    budget_key: str = "dense.prune.recovery_steps"
    label: str = "dense prune"                # the progress line of the recovery

    def __post_init__(self) -> None:
        self.enc.split()                      # the document encoder stays as it is

    @property
    def model(self) -> nn.Module:
        return self.enc.query

    @property
    def settings(self) -> MethodSettings:
        return MethodSettings(scope=self.cfg.scope, gmp=self.cfg.gmp)

    def prunable(self, kinds: tuple[str, ...] | None = None) -> dict[str, nn.Parameter]:
        return encoder_prunable(self.model, self.cfg.include_embeddings, kinds)

    def train_steps(self) -> int:
        return self.cfg.recovery_steps

    def train(self, hooks: TrainHooks, steps: int | None = None) -> FinetuneResult:
        if hooks.after_backward is not None:
            raise ConfigError(f"{self.family} cells call back after optimizer steps only; "
                              f"run one of {', '.join(self.methods)}")
        steps = self.cfg.recovery_steps if steps is None else steps
        rec = dataclasses.replace(self.train_cfg, steps=steps, lr=self.cfg.recovery_lr, seed=self.seed,
                                  negatives=self.cfg.recovery_negatives,
                                  selection="last", eval_every=max(1, steps))
        return finetune_query_encoder(self.enc, self.doc_vecs, self.pairs, rec, self.evaluate_dev,
                                      query_max_tokens=self.query_max_tokens, after_step=hooks.after_step,
                                      label=self.label)

    def score_context(self, data: bool) -> ScoreContext:
        if data:
            raise ConfigError(f"{self.family} cells have no scoring batches; run one of {', '.join(self.methods)}")
        return ScoreContext(seed=self.seed)

    def evaluate(self) -> dict[str, Any]:
        """``evaluator(enc)`` of the encoder as it is now."""
        if self.evaluator is None:
            raise ConfigError("QueryEncoderTask.evaluator is not set: pass the retrieval evaluation (the "
                              "dense_prune stage's)")
        return self.evaluator(self.enc)


@dataclass
class QueryPruneResult:
    """A pruned and recovered query encoder: the recovery record, the achieved sparsity over the prunable
    weights, the driver's :class:`~irprune.pruning.cell.Cell` and the adapter (which evaluates it)."""

    recovery: FinetuneResult
    achieved: float
    cell: Cell
    task: QueryEncoderTask


def prune_query_encoder(enc: BiEncoder, method: str, sparsity: float, pairs: TrainingPairs, doc_vecs: Any,
                        cfg: DensePruneConfig, train: DenseTrainConfig, seed: int, *, query_max_tokens: int,
                        evaluate_dev: Callable[[BiEncoder], float] | None = None,
                        evaluator: Callable[[BiEncoder], dict[str, Any]] | None = None) -> QueryPruneResult:
    """Prune ``enc.query`` to ``sparsity`` with ``method`` (:data:`QUERY_ENCODER_METHODS`) and recover, through the
    one driver on a :class:`QueryEncoderTask`.  The masks are folded into plain weights at the end (the encoder
    saves as a plain one)."""
    task = QueryEncoderTask(enc, pairs, doc_vecs, cfg, train, seed, query_max_tokens, evaluator, evaluate_dev,
                            label=f"dense prune {method} {sparsity}")
    cell = run_method(task, method, sparsity, seed)
    achieved = achieved_sparsity(task.model, cell.prunable)
    fold(task.model)
    return QueryPruneResult(cell.recovery, achieved, cell, task)


__all__ = ["FAMILY", "QUERY_ENCODER_METHODS", "QueryEncoderTask", "QueryPruneResult", "achieved_sparsity",
           "encoder_prunable", "prune_query_encoder"]
