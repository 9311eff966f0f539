"""The training loop shared by every ranker (baseline training here, recovery fine-tuning in the pruning stage).

AdamW (Loshchilov & Hutter 2019) with linear warmup and linear decay, global gradient-norm clipping, bf16
autocast on CUDA (fp32 on CPU), a group loss over BM25 hard negatives (:mod:`.losses`), dev evaluation every
``eval_every`` steps with early stopping and a fixed checkpoint-selection rule (``selection``: ``best`` = highest
dev metric, ties to the earliest evaluation; ``last``), hooks for pruning (:mod:`.callbacks`) and a resume state
written atomically every ``checkpoint_every`` steps (:mod:`.state`).  On CPU two runs with equal seeds give
bit-identical weights, and a run resumed after a kill ends with the weights of an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch
from torch import Tensor, nn

from ..config import to_mapping
from ..io import sweep_stale_temporaries
from ..models.device import autocast, move_batch, select_device
from .callbacks import TrainerCallback
from .config import TrainConfig
from .losses import group_loss
from .sampling import TrainingPool, batch_groups, batches_per_epoch, group_pairs
from .state import load_optimizer, load_state, optimizer_tensors, save_state

Evaluator = Callable[[nn.Module], Mapping[str, float]]   # model -> dev metrics (must contain cfg.metric)


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` did: steps, per-step losses, dev evaluations and the selected checkpoint."""

    steps: int
    losses: list[float]
    evaluations: list[dict[str, Any]]
    selected_step: int
    selected_metric: float | None
    stopped_early: bool
    seconds: float
    resumed_from: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "losses": self.losses, "evaluations": self.evaluations,
                "selected_step": self.selected_step, "selected_metric": self.selected_metric,
                "stopped_early": self.stopped_early, "seconds": self.seconds, "resumed_from": self.resumed_from}


def lr_lambda(total: int, warmup: int) -> Callable[[int], float]:
    """Linear warmup over ``warmup`` steps to the peak, then linear decay to 0 at ``total`` (Devlin et al. 2019)."""
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))
    return f


def _param_groups(model: nn.Module, params: list[nn.Parameter], lr: float) -> list[dict[str, Any]]:
    """AdamW groups: ``params`` at ``lr``, except those a model's ``lr_scales()`` (``[(parameters, scale)]``, e.g.
    a new score head trained faster than a pretrained encoder, as CEDR does) puts at ``lr * scale``."""
    scales = getattr(model, "lr_scales", None)
    if not callable(scales):
        return [{"params": params}]
    scale_of = {id(p): float(sc) for ps, sc in scales() for p in ps}
    groups: dict[float, list[nn.Parameter]] = {}
    for p in params:
        groups.setdefault(scale_of.get(id(p), 1.0), []).append(p)
    return [{"params": ps, "lr": lr * sc} for sc, ps in sorted(groups.items())]


def _state_dict(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class Trainer:
    """Train ``model`` on ``pool`` with ``cfg``.  ``evaluator`` (dev metrics) drives early stopping and selection;
    ``state_dir`` enables resuming (``fingerprint``: extra identity of the inputs, see :meth:`default_fingerprint`);
    ``parameters`` restricts what the optimizer updates (default: all trainable).

    Attributes a callback may read: ``model``, ``optimizer``, ``scheduler``, ``cfg``, ``global_step`` (optimizer
    steps done), ``epoch``, ``last_loss``, ``total_steps``, ``device``.
    """

    def __init__(self, model: nn.Module, cfg: TrainConfig, pool: TrainingPool, *, evaluator: Evaluator | None = None,
                 callbacks: Sequence[TrainerCallback] = (), state_dir: str | Path | None = None,
                 fingerprint: str | None = None, parameters: Iterable[nn.Parameter] | None = None,
                 device: torch.device | str | None = None, label: str = "train") -> None:
        self.progress_label = label               # the progress lines' prefix (cfg.progress turns them on)
        if cfg.selection == "best" and evaluator is None:
            raise ValueError("train.selection = 'best' needs a dev evaluator (or set selection: last)")
        self.cfg, self.pool, self.evaluator = cfg, pool, evaluator
        self.callbacks = list(callbacks)
        self.device = torch.device(device) if device is not None else select_device(cfg.device)
        self.model = model.to(self.device)
        self.state_dir = Path(state_dir) if state_dir is not None else None
        params = [p for p in (parameters if parameters is not None else model.parameters()) if p.requires_grad]
        if not params:
            raise ValueError("Trainer: the model has no trainable parameter")
        self.params = params
        self.optimizer = torch.optim.AdamW(_param_groups(model, params, cfg.lr), lr=cfg.lr,
                                           weight_decay=cfg.weight_decay)
        self.steps_per_epoch = batches_per_epoch(pool, cfg.batch_queries)
        full = self.steps_per_epoch * cfg.epochs
        self.total_steps = min(cfg.max_steps, full) if cfg.max_steps else full
        warmup = int(cfg.warmup_frac * self.total_steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda(self.total_steps, warmup))
        self.fingerprint = self.default_fingerprint(fingerprint or "")
        self.global_step = 0
        self.epoch = 0
        self.last_loss = float("nan")
        self.losses: list[float] = []
        self.evaluations: list[dict[str, Any]] = []
        self.best_metric: float | None = None
        self.best_step = 0
        self.best_weights: dict[str, Tensor] | None = None
        self.evals_since_best = 0
        self.stopped_early = False
        self.finished = False
        self.seconds = 0.0

    # --- identity and resume ------------------------------------------------------------------------------
    def default_fingerprint(self, extra: str = "") -> str:
        """Hash of the config, the model's parameter names/shapes/initial values, the training pool and ``extra``
        (the caller's identity of its inputs): a saved state is resumed only when all of them match."""
        h = hashlib.sha256(json.dumps([to_mapping(self.cfg), extra], sort_keys=True).encode())
        for name, t in self.model.state_dict().items():
            h.update(f"{name}{tuple(t.shape)}".encode())
            h.update(t.detach().float().sum().cpu().numpy().tobytes())
        h.update(json.dumps([self.pool.qids, [self.pool.positives[q] for q in self.pool.qids]]).encode())
        return h.hexdigest()[:16]

    def save_state(self) -> None:
        if self.state_dir is None:
            return
        tensors = {f"model/{k}": v for k, v in self.model.state_dict().items()}
        if self.best_weights is not None:
            tensors.update({f"best/{k}": v for k, v in self.best_weights.items()})
        opt_t, opt_meta = optimizer_tensors(self.optimizer)
        tensors.update(opt_t)
        tensors["rng/torch"] = torch.get_rng_state()
        if self.device.type == "cuda":
            tensors["rng/cuda"] = torch.cuda.get_rng_state(self.device)
        for i, cb in enumerate(self.callbacks):
            tensors.update({f"cb/{i}/{k}": v for k, v in cb.state_tensors().items()})
        meta = {"fingerprint": self.fingerprint, "global_step": self.global_step, "epoch": self.epoch,
                "losses": self.losses, "evaluations": self.evaluations, "best_metric": self.best_metric,
                "best_step": self.best_step, "evals_since_best": self.evals_since_best,
                "stopped_early": self.stopped_early, "finished": self.finished, "seconds": self.seconds,
                "scheduler": self.scheduler.state_dict(), "optimizer": opt_meta}
        save_state(self.state_dir, tensors, meta)

    def try_resume(self) -> bool:
        """Load the saved state if there is a matching one; returns whether it did."""
        if self.state_dir is None:
            return False
        loaded = load_state(self.state_dir, self.fingerprint)
        if loaded is None:
            return False
        tensors, meta = loaded
        self.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model/")})
        best = {k[5:]: v for k, v in tensors.items() if k.startswith("best/")}
        self.best_weights = best or None
        load_optimizer(self.optimizer, tensors, meta["optimizer"])
        self.scheduler.load_state_dict(meta["scheduler"])
        torch.set_rng_state(tensors["rng/torch"])
        if self.device.type == "cuda" and "rng/cuda" in tensors:
            torch.cuda.set_rng_state(tensors["rng/cuda"], self.device)
        for i, cb in enumerate(self.callbacks):
            pre = f"cb/{i}/"
            cb.load_state_tensors({k[len(pre):]: v for k, v in tensors.items() if k.startswith(pre)})
        for key in ("global_step", "epoch", "losses", "evaluations", "best_metric", "best_step",
                    "evals_since_best", "stopped_early", "finished", "seconds"):
            setattr(self, key, meta[key])
        return True

    def clear_state(self) -> None:
        """Remove the resume state (call once the run's outputs are written), and any half-written one a killed
        run left beside it."""
        if self.state_dir is not None:
            shutil.rmtree(self.state_dir, ignore_errors=True)
            sweep_stale_temporaries(self.state_dir)

    # --- the loop -----------------------------------------------------------------------------------------
    def _call(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(self, *args)

    def train_step(self, groups: Sequence[tuple[str, list[str]]]) -> float:
        cfg = self.cfg
        self.model.train()
        batch = move_batch(self.model.collate(group_pairs(self.pool, groups)), self.device)
        with autocast(self.device):
            scores = self.model(batch)
        loss = group_loss(cfg.loss, scores.float().view(len(groups), -1), cfg.margin)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss is {float(loss)} at step {self.global_step + 1}; "
                                     "lower train.lr or raise train.grad_clip's strictness (smaller value)")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._call("after_backward")
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, cfg.grad_clip)
        self._call("before_optimizer_step")
        self.optimizer.step()
        self.scheduler.step()
        self.global_step += 1
        self.last_loss = float(loss.detach())
        self.losses.append(self.last_loss)
        self._call("after_optimizer_step")
        return self.last_loss

    def evaluate(self) -> dict[str, Any]:
        """Dev evaluation now; updates the best checkpoint and the early-stopping counter."""
        assert self.evaluator is not None
        metrics = dict(self.evaluator(self.model))
        if self.cfg.metric not in metrics:
            raise KeyError(f"the dev evaluator returned {sorted(metrics)}, not train.metric = {self.cfg.metric!r}")
        value = float(metrics[self.cfg.metric])
        recent = self.losses[-self.cfg.eval_every:]
        record = {"step": self.global_step, "epoch": self.epoch, "dev": metrics,
                  "train_loss": sum(recent) / len(recent) if recent else None}
        improved = self.best_metric is None or value > self.best_metric + self.cfg.min_delta
        if improved:
            self.best_metric, self.best_step, self.evals_since_best = value, self.global_step, 0
            if self.cfg.selection == "best":
                self.best_weights = _state_dict(self.model)
        else:
            self.evals_since_best += 1
        record["best"] = improved
        self.evaluations.append(record)
        self._call("on_evaluate", record)
        return record

    def fit(self) -> TrainResult:
        """Train until ``total_steps`` (or early stop), restore the selected weights, return the history."""
        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        resumed = self.try_resume()
        start_step = self.global_step
        notes = [f"resumed at step {start_step}"] if resumed else []
        self._call("on_train_begin")
        t0 = time.perf_counter() - self.seconds
        bar = None
        if cfg.progress and not self.finished:
            from ..progress import Progress

            bar = Progress(self.progress_label, total=self.total_steps)
        if cfg.eval_at_start and self.evaluator is not None and self.global_step == 0:
            rec = self.evaluate()
            if bar is not None:
                bar.note(f"step 0: dev {cfg.metric} = {rec['dev'][cfg.metric]:.4f}")
        while not self.finished and self.global_step < self.total_steps:
            self.epoch, batch = divmod(self.global_step, self.steps_per_epoch)
            loss = self.train_step(batch_groups(self.pool, cfg.negatives, cfg.batch_queries, cfg.seed,
                                                self.epoch, batch, cfg.random_negatives))
            if bar is not None:
                bar.step(self.global_step, loss=float(loss))
            last = self.global_step >= self.total_steps
            if self.evaluator is not None and (self.global_step % cfg.eval_every == 0 or last):
                rec = self.evaluate()
                if bar is not None:
                    bar.note(f"step {self.global_step}: dev {cfg.metric} = {rec['dev'][cfg.metric]:.4f}"
                             + (" (best)" if rec["best"] else ""))
                if cfg.patience and self.evals_since_best >= cfg.patience:
                    self.stopped_early = True
                    self.finished = True
            if last:
                self.finished = True
            self.seconds = time.perf_counter() - t0
            if self.finished or self.global_step % cfg.checkpoint_every == 0:
                self.save_state()
        if not self.losses and self.total_steps == 0:
            self.finished = True
        if cfg.selection == "best" and self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)
            selected = self.best_step
        else:
            selected = self.global_step
        self.model.eval()
        self._call("on_train_end")
        return TrainResult(steps=self.global_step, losses=list(self.losses), evaluations=list(self.evaluations),
                           selected_step=selected,
                           selected_metric=self.best_metric if cfg.selection == "best" else
                           (self.evaluations[-1]["dev"][cfg.metric] if self.evaluations else None),
                           stopped_early=self.stopped_early, seconds=self.seconds, resumed_from=start_step,
                           notes=notes)


__all__ = ["Trainer", "TrainResult", "Evaluator", "lr_lambda"]
