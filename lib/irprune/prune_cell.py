"""One cell of the rankers' pruning grid: the ranking task adapter of the one cell layer.

:class:`RankingTask` lends a trained ranker to the pruning procedures of :mod:`irprune.pruning.methods` (every
registered method but ``dense``; ``heads`` and ``structured`` need monoBERT): the prunable tensors of
``prune.include`` minus ``prune.exclude``, recovery fine-tuning with the rankers' own
:class:`irprune.training.Trainer` (``prune.recovery_steps`` steps, the mask fixed, callbacks at mask updates),
training batches for the data-driven scorers, and re-ranking evaluation.  :func:`run_cell` is the stage's thin
caller of :func:`irprune.pruning.driver.run_method`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Optional

import torch
from torch import nn

from .config import ConfigError, from_mapping, frozen, param, to_mapping
from .pruning import GMPSchedule, MethodSettings, ScoreContext, prunable_parameters
from .pruning.cell import Cell, TrainHooks
from .pruning.driver import run_method
from .pruning.methods import METHODS
from .pruning.settings import SYNFLOW_ROUNDS
from .training import LambdaCallback, Trainer, TrainConfig, TrainingPool, batch_groups, group_loss
from .training.sampling import group_pairs

#: what the rankers run: every registered method but ``dense`` (that is the train stage)
RANKING_METHODS: tuple[str, ...] = tuple(m for m in METHODS.names() if m != "dense")
#: methods that remove attention heads: monoBERT only
BERT_ONLY = ("heads", "structured")


@frozen
class PruneConfig:
    """The ``prune:`` section: how each cell prunes (the grid's axes are the ``grid`` section, ``dvc.yaml``'s matrix)."""

    scope: Literal["global", "layerwise"] = param("global", doc="one threshold for all tensors, or per tensor")
    include: tuple[str, ...] = param(("linear", "conv"), nonempty=True,
                                     doc="prunable module kinds: linear, conv, embedding")
    exclude: tuple[str, ...] = param((), doc="fnmatch patterns of tensor names never pruned")
    recovery_steps: int = param(150, ge=0, doc="fine-tuning steps after (or during, for gmp/movement) pruning")
    recovery_lr: Optional[float] = param(None, gt=0.0, doc="learning rate of recovery (null = the model's)")
    score_batches: int = param(4, ge=1, doc="training batches that SNIP/GraSP/movement/head importance score on")
    synflow_rounds: int = param(SYNFLOW_ROUNDS, ge=1, doc="SynFlow's iterative rounds (Tanaka et al. 2020: 100)")
    gmp: GMPSchedule = param(GMPSchedule)
    movement_mode: Literal["hard", "soft"] = param("hard")
    imp_rounds: int = param(3, ge=1, doc="IMP rounds (each followed by rewinding) before the final training")
    sap_rounds: int = param(5, ge=1, doc="most SAP rounds; they stop when the target is reached")
    eval_splits: tuple[str, ...] = param(("dev", "test"), nonempty=True)
    models: Any = param(None, doc="per-ranker overrides of this section, {name: {key: value}} (for example a "
                                  "shorter recovery for a 6-layer monoBERT); null = none")

    def validate(self) -> None:
        bad = [s for s in self.eval_splits if s not in ("dev", "test")]
        if bad:
            raise ConfigError(f"params.yaml: prune.eval_splits = {list(self.eval_splits)}: {bad} not allowed; "
                              "use dev and/or test")
        if self.models is None:
            return
        if not isinstance(self.models, Mapping):
            raise ConfigError(f"params.yaml: prune.models = {self.models!r} is not allowed; expected a mapping "
                              "{ranker: {prune key: value}} or null")
        from .models.registry import MODELS

        for name in self.models:
            MODELS.get(name)                                   # unknown ranker: RegistryError listing them
            self.for_model(name)

    def for_model(self, name: str) -> "PruneConfig":
        """This section with ``prune.models.<name>``'s overrides applied (nested mappings merge key by key)."""
        over = (self.models or {}).get(name)
        if over is None:
            return self
        if not isinstance(over, Mapping) or "models" in over:
            raise ConfigError(f"params.yaml: prune.models.{name} = {over!r} is not allowed; expected a mapping of "
                              "prune keys (other than models)")
        base = {k: v for k, v in to_mapping(self).items() if k != "models"}
        merged = {k: {**base[k], **v} if isinstance(v, Mapping) and isinstance(base.get(k), Mapping) else v
                  for k, v in over.items()}
        return from_mapping(PruneConfig, {**base, **merged}, prefix=f"prune.models.{name}")

    def settings(self) -> MethodSettings:
        return MethodSettings(scope=self.scope, score_batches=self.score_batches, synflow_rounds=self.synflow_rounds,
                              gmp=self.gmp, movement_mode=self.movement_mode, imp_rounds=self.imp_rounds,
                              sap_rounds=self.sap_rounds)


@dataclass
class RankingTask:
    """The ranking adapter (:class:`irprune.pruning.cell.TaskAdapter`) of one trained ranker.

    ``eval_data`` maps a split to ``(queries, qrels, candidates)`` and ``corpus`` holds the documents;
    ``eval_config(qrels)`` gives the evaluation config of a split (only :meth:`evaluate` reads these)."""

    model: nn.Module
    cfg: PruneConfig
    train_cfg: TrainConfig                       # the model's training config (recovery derives from it)
    pool: TrainingPool
    seed: int
    corpus: Mapping[str, str] = field(default_factory=dict)
    eval_data: Mapping[str, tuple[Any, Any, Any]] = field(default_factory=dict)
    eval_config: Any = None
    family: str = "ranking"
    config_key: str = "prune"
    budget_key: str = "prune.recovery_steps"

    @property
    def methods(self) -> tuple[str, ...]:
        bert = hasattr(self.model, "bert")
        return tuple(m for m in RANKING_METHODS if bert or m not in BERT_ONLY)

    @property
    def settings(self) -> MethodSettings:
        return self.cfg.settings()

    def prunable(self, kinds: tuple[str, ...] | None = None) -> dict[str, nn.Parameter]:
        return prunable_parameters(self.model, include=self.cfg.include if kinds is None else kinds,
                                   exclude_names=self.cfg.exclude)

    def train_steps(self) -> int:
        return self.cfg.recovery_steps

    def recovery_config(self, steps: int) -> TrainConfig:
        """Fine-tuning with the mask fixed: ``steps`` optimizer steps, final weights kept (no selection)."""
        t = self.train_cfg
        per_epoch = max(1, -(-len(self.pool) // t.batch_queries))
        return dataclasses.replace(t, max_steps=max(1, steps), epochs=max(t.epochs, math.ceil(steps / per_epoch)),
                                   lr=self.cfg.recovery_lr or t.lr, selection="last", patience=0, eval_every=10**9,
                                   checkpoint_every=10**9, seed=t.seed + 1000 * self.seed)

    def train(self, hooks: TrainHooks, steps: int | None = None) -> Any:
        steps = self.cfg.recovery_steps if steps is None else steps
        if steps <= 0:
            return None
        calls = {}
        if hooks.after_backward is not None:
            calls["after_backward"] = lambda t, f=hooks.after_backward: f()
        if hooks.after_step is not None:
            calls["after_optimizer_step"] = lambda t, f=hooks.after_step: f(t.global_step)
        callbacks = (LambdaCallback(**calls),) if calls else ()
        return Trainer(self.model, self.recovery_config(steps), self.pool, callbacks=callbacks,
                       label="recovery").fit()

    def batches(self) -> list[dict[str, Any]]:
        """``score_batches`` training batches (collated groups) for the data-driven scorers."""
        t, out = self.train_cfg, []
        for b in range(self.cfg.score_batches):
            groups = batch_groups(self.pool, t.negatives, t.batch_queries, t.seed + self.seed, 0, b)
            batch = self.model.collate(group_pairs(self.pool, groups))
            batch["n_groups"] = len(groups)
            out.append(batch)
        return out

    def score_context(self, data: bool) -> ScoreContext:
        if not data:
            return ScoreContext(seed=self.seed)
        batches = self.batches()
        loss, margin = self.train_cfg.loss, self.train_cfg.margin

        def inputs(b: Mapping[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in b.items() if k != "n_groups"}

        return ScoreContext(
            batches=batches, forward_fn=lambda m, b: m(inputs(b)),
            criterion=lambda out, b: group_loss(loss, out.float().view(b["n_groups"], -1), margin),
            forward_ones=lambda m: m(inputs(batches[0])), seed=self.seed)

    def rankings(self) -> dict[str, tuple[Any, Any]]:
        """Per evaluated split: the re-ranked candidates and their evaluation (:func:`irprune.evaluation.evaluate`)."""
        from .evaluation import evaluate
        from .rerank import rerank

        out = {}
        self.model.eval()
        for split, (queries, qrels, candidates) in self.eval_data.items():
            ranking = rerank(self.model, queries, self.corpus, candidates, depth=self.train_cfg.eval_depth,
                             keep_rest=True, batch_size=self.train_cfg.batch_size_eval)
            out[split] = (ranking, evaluate(qrels, ranking, self.eval_config(qrels)))
        return out

    def evaluate(self) -> dict[str, Any]:
        return {split: res.metrics() for split, (_, res) in self.rankings().items()}


def run_cell(model: nn.Module, method: str, sparsity: float, seed: int, cfg: PruneConfig, train_cfg: TrainConfig,
             pool: TrainingPool, **eval_data: Any) -> Cell:
    """Prune ``model`` in place with ``method`` to ``sparsity`` and recover it; returns the
    :class:`~irprune.pruning.cell.Cell`, whose ``log`` holds sparsity and PQ Index per pruning iteration and whose
    ``task`` (a :class:`RankingTask` built with ``eval_data``) evaluates it."""
    task = RankingTask(model, cfg, train_cfg, pool, seed, **eval_data)
    torch.manual_seed(train_cfg.seed + 1000 * seed)
    return run_method(task, method, sparsity, seed)


__all__ = ["BERT_ONLY", "PruneConfig", "RANKING_METHODS", "RankingTask", "run_cell"]
