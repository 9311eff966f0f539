"""One cell of the pruning grid: prune a trained ranker with one method to one target sparsity, then recover.

Every method is a *procedure* in the :data:`CELL_METHODS` registry with the signature ``(cell) -> Mask``: it
installs its masks on ``cell.model`` (as :mod:`irprune.pruning` parametrizations, so pruned weights stay exactly
zero through the recovery fine-tuning that follows) and returns the final mask.  The procedures only decide *which*
weights go and *when*; the scoring kernels, the scores-to-mask function and the schedules live in
:mod:`irprune.pruning`, and the training loop is the rankers' own :class:`irprune.training.Trainer`.

* one-shot (``magnitude``, ``random``, ``snip``, ``grasp``, ``synflow``): score the trained model once, prune to
  the target (SynFlow iteratively over ``synflow_rounds``, Tanaka et al. 2020), then fine-tune with the mask fixed
  for ``recovery_steps`` (train-prune-recover);
* ``shuffled-snip`` / ``shuffled-grasp`` / ``shuffled-synflow``: the method's mask with each tensor's kept
  positions shuffled (Frankle et al. 2021): it keeps the layer densities and nothing else;
* ``gmp``: gradual magnitude pruning during the fine-tuning, cubic schedule (Zhu & Gupta 2017);
* ``movement``: movement pruning during the fine-tuning (Sanh et al. 2020), hard or soft;
* ``imp``: iterative magnitude pruning with rewinding to the dense (fine-tuned) weights, ``imp_rounds`` rounds
  reaching the target (Frankle et al. 2019, 2020), then the final recovery training;
* ``sap``: PQ-Index-guided adaptive pruning (Diao et al. 2023): each round prunes SAP's number of weights, capped
  so the cumulative sparsity stops at the target;
* ``heads``: structured attention-head pruning by importance (Michel et al. 2019), monoBERT only; the target is
  the fraction of heads removed, and the achieved sparsity counts the removed weights against the dense model's
  prunable weights.
* ``structured``: attention heads and FFN neurons removed by importance (heads: Michel et al. 2019; neurons:
  activation x weight norm, :mod:`irprune.pruning.structured`), the same fraction of each, so that the target
  fraction of the prunable (linear) weights goes; the model becomes a smaller dense model; then recovery
  fine-tuning as for the other methods.  monoBERT only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, Optional

import torch
from torch import nn

from .config import ConfigError, frozen, param
from .pruning import (GMPConfig, GradualPruner, HeadPruningConfig, Mask, MovementConfig, MovementPruner,
                      PruningLog, ScoreContext, apply_mask, capture_rewind_state, current_mask, get_scorer,
                      is_structured, lottery_ticket, masks_from_scores, prunable_parameters,
                      prune_heads_by_importance, prune_oneshot, prune_structured, shuffle_mask)
from .pruning.sap import SAPConfig, sap_prune
from .registry import Registry
from .training import LambdaCallback, Trainer, TrainConfig, TrainingPool, batch_groups, group_loss
from .training.sampling import group_pairs

Procedure = Callable[["Cell"], Mask]
CELL_METHODS: Registry[Procedure] = Registry("pruning method")


@frozen
class GMPSchedule:
    """When GMP prunes, as fractions of the fine-tuning steps (Zhu & Gupta 2017: t0, t0 + nΔt)."""

    start_frac: float = param(0.0, ge=0.0, lt=1.0)
    end_frac: float = param(0.7, gt=0.0, le=1.0)
    updates: int = param(10, ge=1, doc="number of mask updates between start and end")


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
    synflow_rounds: int = param(20, ge=1)
    gmp: GMPSchedule = param(GMPSchedule)
    movement_mode: Literal["hard", "soft"] = param("hard")
    imp_rounds: int = param(3, ge=1, doc="IMP rounds (each followed by rewinding) before the final training")
    sap_rounds: int = param(5, ge=1, doc="most SAP rounds; they stop when the target is reached")
    eval_splits: tuple[str, ...] = param(("dev", "test"), nonempty=True)

    def validate(self) -> None:
        bad = [s for s in self.eval_splits if s not in ("dev", "test")]
        if bad:
            raise ConfigError(f"params.yaml: prune.eval_splits = {list(self.eval_splits)}: {bad} not allowed; "
                              "use dev and/or test")


@dataclass
class Cell:
    """What a procedure works with: the trained model, its prunable tensors, training data and settings."""

    model: nn.Module
    method: str
    sparsity: float
    seed: int
    cfg: PruneConfig
    train_cfg: TrainConfig                       # the model's training config (recovery derives from it)
    pool: TrainingPool
    prunable: dict[str, nn.Parameter] = field(default_factory=dict)
    log: PruningLog = field(default_factory=PruningLog)
    recovery: Any = None                         # the last recovery TrainResult
    notes: list[str] = field(default_factory=list)

    # --- shared pieces --------------------------------------------------------------------------------------
    def recovery_config(self, steps: int) -> TrainConfig:
        """Fine-tuning with the mask fixed: ``steps`` optimizer steps, final weights kept (no selection)."""
        import dataclasses

        lr = self.cfg.recovery_lr or self.train_cfg.lr
        return dataclasses.replace(self.train_cfg, max_steps=max(1, steps), epochs=max(
            self.train_cfg.epochs, math.ceil(steps / max(1, -(-len(self.pool) // self.train_cfg.batch_queries)))),
            lr=lr, selection="last", patience=0, eval_every=10**9, checkpoint_every=10**9,
            seed=self.train_cfg.seed + 1000 * self.seed)

    def train(self, steps: int, callbacks: tuple = ()) -> None:
        """Fine-tune ``steps`` steps with the installed masks (and ``callbacks`` for gradual methods)."""
        if steps <= 0:
            return
        trainer = Trainer(self.model, self.recovery_config(steps), self.pool, callbacks=callbacks, label="recovery")
        self.recovery = trainer.fit()

    def batches(self) -> list[dict[str, Any]]:
        """``score_batches`` training batches (collated groups) for the data-driven scorers."""
        out = []
        for b in range(self.cfg.score_batches):
            groups = batch_groups(self.pool, self.train_cfg.negatives, self.train_cfg.batch_queries,
                                  self.train_cfg.seed + self.seed, 0, b)
            batch = self.model.collate(group_pairs(self.pool, groups))
            batch["n_groups"] = len(groups)
            out.append(batch)
        return out

    def loss(self, model: nn.Module, batch: Mapping[str, Any]) -> torch.Tensor:
        inputs = {k: v for k, v in batch.items() if k != "n_groups"}
        return group_loss(self.train_cfg.loss, model(inputs).float().view(batch["n_groups"], -1),
                          self.train_cfg.margin)

    def score_context(self) -> ScoreContext:
        batches = self.batches()
        return ScoreContext(
            batches=batches,
            forward_fn=lambda m, b: m({k: v for k, v in b.items() if k != "n_groups"}),
            criterion=lambda out, b: group_loss(self.train_cfg.loss, out.float().view(b["n_groups"], -1),
                                                self.train_cfg.margin),
            forward_ones=lambda m: m({k: v for k, v in batches[0].items() if k != "n_groups"}),
            seed=self.seed)


# --- procedures ---------------------------------------------------------------------------------------------
def _oneshot(name: str, rounds_attr: str | None = None) -> Procedure:
    def run(cell: Cell) -> Mask:
        ctx = None if name in ("magnitude", "random") else cell.score_context()
        if name == "random":
            ctx = ScoreContext(seed=cell.seed)
        rounds = getattr(cell.cfg, rounds_attr) if rounds_attr else 1
        mask = prune_oneshot(cell.model, name, cell.sparsity, scope=cell.cfg.scope, prunable=cell.prunable,
                             ctx=ctx, rounds=rounds, log=cell.log)
        cell.train(cell.cfg.recovery_steps)
        return mask
    run.__doc__ = f"One-shot {name} pruning to the target, then recovery fine-tuning with the mask fixed."
    return run


for _name in ("magnitude", "random", "snip", "grasp"):
    CELL_METHODS.add(_name, _oneshot(_name))
CELL_METHODS.add("synflow", _oneshot("synflow", "synflow_rounds"))


def _shuffled(base: str) -> Procedure:
    def run(cell: Cell) -> Mask:
        scores = get_scorer(base)(cell.model, cell.prunable, cell.score_context())
        mask = shuffle_mask(masks_from_scores(scores, cell.sparsity, scope=cell.cfg.scope), seed=cell.seed)
        apply_mask(cell.model, mask, log=cell.log, method=f"shuffled-{base}", iteration=1,
                   target_sparsity=cell.sparsity)
        cell.train(cell.cfg.recovery_steps)
        return mask
    run.__doc__ = f"{base}'s mask with kept positions shuffled within each tensor (Frankle et al. 2021)."
    return run


for _name in ("snip", "grasp", "synflow"):
    CELL_METHODS.add(f"shuffled-{_name}", _shuffled(_name))


def _schedule(cell: Cell) -> tuple[int, int, int]:
    steps = cell.cfg.recovery_steps
    start = int(cell.cfg.gmp.start_frac * steps)
    end = max(start + 1, int(cell.cfg.gmp.end_frac * steps))
    freq = max(1, (end - start) // cell.cfg.gmp.updates)
    return start, start + freq * cell.cfg.gmp.updates, freq


def _installed(cell: Cell) -> Mask:
    """The masks now on the model's prunable tensors."""
    installed = current_mask(cell.model)
    return Mask({n: installed[n] for n in cell.prunable if n in installed})


@CELL_METHODS.register("gmp")
def gmp(cell: Cell) -> Mask:
    """Gradual magnitude pruning while fine-tuning (cubic schedule of Zhu & Gupta 2017)."""
    start, end, freq = _schedule(cell)
    if cell.cfg.recovery_steps < end:
        raise ConfigError(f"params.yaml: prune.recovery_steps = {cell.cfg.recovery_steps} is too few for GMP's "
                          f"schedule (last update at step {end}); raise it or lower prune.gmp.end_frac")
    pruner = GradualPruner(cell.model, GMPConfig(final_sparsity=cell.sparsity, start_step=start, end_step=end,
                                                 frequency=freq, scope=cell.cfg.scope),
                           prunable=cell.prunable, log=cell.log)
    pruner.step(0)
    cell.train(cell.cfg.recovery_steps, (LambdaCallback(after_optimizer_step=lambda t: pruner.step(t.global_step)),))
    return _installed(cell)


@CELL_METHODS.register("movement")
def movement(cell: Cell) -> Mask:
    """Movement pruning while fine-tuning: scores accumulate -dL/dW * W (Sanh et al. 2020)."""
    start, end, freq = _schedule(cell)
    pruner = MovementPruner(cell.model, MovementConfig(mode=cell.cfg.movement_mode, final_sparsity=cell.sparsity,
                                                       start_step=start, end_step=end, frequency=freq,
                                                       scope=cell.cfg.scope),
                            prunable=cell.prunable, log=cell.log)
    cell.train(cell.cfg.recovery_steps, (LambdaCallback(after_backward=lambda t: pruner.accumulate(),
                                                        after_optimizer_step=lambda t: pruner.step(t.global_step)),))
    return _installed(cell)


@CELL_METHODS.register("imp")
def imp(cell: Cell) -> Mask:
    """Iterative magnitude pruning with rewinding to the dense weights (Frankle et al. 2019, 2020)."""
    rounds = cell.cfg.imp_rounds
    rate = 1.0 - (1.0 - cell.sparsity) ** (1.0 / rounds)      # 1 - (1 - rate)^rounds = target
    rewind = capture_rewind_state(cell.model)
    per_round = max(1, cell.cfg.recovery_steps // rounds)
    mask = lottery_ticket(cell.model, lambda m: cell.train(per_round), rounds, rate, rewind,
                          scope=cell.cfg.scope, prunable=cell.prunable, log=cell.log)
    cell.train(cell.cfg.recovery_steps)
    return mask


@CELL_METHODS.register("sap")
def sap(cell: Cell) -> Mask:
    """SAP (Diao et al. 2023, Algorithm 1; :func:`irprune.pruning.sap.sap_prune` with :class:`SAPConfig`'s defaults,
    the reference's p=0.5, q=1, η_r=0, γ=1, β=0.9): per round fine-tune, prune SAP's ``r`` smallest-magnitude
    weights (globally), capped at the target, and rewind to the dense weights; stop at the target."""
    rewind = capture_rewind_state(cell.model)
    per_round = max(1, cell.cfg.recovery_steps // cell.cfg.sap_rounds)
    mask = sap_prune(cell.model, lambda m: cell.train(per_round), SAPConfig(rounds=cell.cfg.sap_rounds),
                     rewind, prunable=cell.prunable, log=cell.log, target_sparsity=cell.sparsity)
    last = cell.log.entries[-1]["target_sparsity"] if cell.log.entries else 0.0
    if last < cell.sparsity:
        cell.notes.append(f"sap stopped after {cell.cfg.sap_rounds} rounds at sparsity {mask.sparsity:.3f} "
                          f"(target {cell.sparsity}); raise prune.sap_rounds to reach the target")
    cell.train(cell.cfg.recovery_steps)
    return mask


@CELL_METHODS.register("heads")
def heads(cell: Cell) -> Mask:
    """Attention-head pruning by importance (Michel et al. 2019), structured: the heads' weights are removed."""
    if not hasattr(cell.model, "bert"):
        raise ConfigError(f"prune.methods: 'heads' prunes attention heads and needs monoBERT; got "
                          f"{type(cell.model).__name__} (remove 'heads' for this model)")
    batches = cell.batches()
    prune_heads_by_importance(cell.model.bert, batches, lambda m, b: cell.loss(cell.model, b),
                              HeadPruningConfig(fraction=cell.sparsity))
    cell.train(cell.cfg.recovery_steps)
    return Mask({})


@CELL_METHODS.register("structured")
def structured(cell: Cell) -> Mask:
    """Heads and FFN neurons removed by importance to the target fraction of the prunable weights, then recovery."""
    if not hasattr(cell.model, "bert"):
        raise ConfigError(f"prune.methods: 'structured' removes attention heads and FFN neurons and needs monoBERT; "
                          f"got {type(cell.model).__name__} (remove 'structured' for this model)")
    batches = cell.batches()
    prunable = sum(p.numel() for p in prunable_parameters(cell.model, ("linear",), cell.cfg.exclude).values())
    removed = prune_structured(
        cell.model.bert, cell.sparsity, prunable, batches, lambda m, b: cell.loss(cell.model, b),
        lambda m, b: cell.model({k: v for k, v in b.items() if k != "n_groups"}))
    plan = removed["plan"]
    cell.notes.append(f"structured: removed {plan['n_heads']} of {plan['total_heads']} heads and "
                      f"{plan['n_neurons']} of {plan['total_neurons']} FFN neurons")
    cell.train(cell.cfg.recovery_steps)
    return Mask({})


def run_cell(model: nn.Module, method: str, sparsity: float, seed: int, cfg: PruneConfig, train_cfg: TrainConfig,
             pool: TrainingPool) -> Cell:
    """Prune ``model`` in place with ``method`` to ``sparsity`` and recover it; returns the :class:`Cell`, whose
    ``log`` holds sparsity and PQ Index per pruning iteration."""
    if not 0.0 <= sparsity < 1.0:
        raise ConfigError(f"target sparsity {sparsity!r} is not allowed; expected a value in [0, 1) "
                          "(the fraction of prunable weights set to zero)")
    procedure = CELL_METHODS.get(method)
    torch.manual_seed(train_cfg.seed + 1000 * seed)
    cell = Cell(model=model, method=method, sparsity=sparsity, seed=seed, cfg=cfg, train_cfg=train_cfg, pool=pool)
    if not is_structured(method):
        cell.prunable = prunable_parameters(model, include=cfg.include, exclude_names=cfg.exclude)
    procedure(cell)
    return cell


__all__ = ["CELL_METHODS", "Cell", "GMPSchedule", "PruneConfig", "run_cell"]
