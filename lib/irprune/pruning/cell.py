"""The one cell layer's interface: a :class:`TaskAdapter` (what a task lends the pruning procedures) and the
:class:`Cell` a procedure works on.

A procedure (:mod:`irprune.pruning.procedures`, registered in :mod:`irprune.pruning.methods`) decides *which*
weights go and *when*; the adapter says what is prunable, trains (calling back at mask updates), hands out
batches for the data-driven scorers and evaluates.  One driver (:func:`irprune.pruning.driver.run_method`) runs any
registered method on any adapter that lists it in ``methods`` (the OpenLTH pattern: one strategy per method, one
registry, tasks plugged in through a small adapter).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from torch import nn

from .apply import current_mask
from .mask import Mask
from .pqi import PruningLog
from .scorers import ScoreContext
from .settings import MethodSettings


@dataclass(frozen=True)
class TrainHooks:
    """Callbacks of a training run: ``after_backward()`` after ``loss.backward()`` (movement's score update),
    ``after_step(t)`` after optimizer step ``t`` of the run, ``t = 1, 2, ...`` (mask updates), and
    ``mask_final_at``: the step from which the mask no longer changes (checkpoint selection starts there).

    One convention for every adapter's loop: the hook first sees step 1; step 0 (before the first optimizer
    step) belongs to the procedure, which acts there itself (GMP's first update)."""

    after_backward: Callable[[], Any] | None = None
    after_step: Callable[[int], Any] | None = None
    mask_final_at: int = 0


class TaskAdapter(Protocol):
    """What a task lends the procedures.

    ``family`` names the task in errors; ``methods`` are the registered methods it can run; ``settings`` the
    procedures' knobs, read from the ``params.yaml`` section ``config_key``; ``budget_key`` the key that sets
    :meth:`train_steps` (named when GMP's schedule does not fit).  :meth:`train` calls ``hooks.after_step(t)``
    after its optimizer steps ``t = 1, 2, ...`` (:class:`TrainHooks`).
    """

    family: str
    model: nn.Module
    methods: tuple[str, ...]
    settings: MethodSettings
    config_key: str
    budget_key: str

    def prunable(self, kinds: tuple[str, ...] | None = None) -> dict[str, nn.Parameter]:
        """The prunable tensors (``kinds``: module kinds instead of the configured ones)."""
        ...

    def train_steps(self) -> int:
        """Optimizer steps of one full :meth:`train` (the span of GMP's schedule and of IMP/SAP's rounds)."""
        ...

    def train(self, hooks: TrainHooks, steps: int | None = None) -> Any:
        """Train with the installed masks: the full recovery (``steps=None``) or ``steps`` steps; returns the
        loop's result (or None where nothing ran)."""
        ...

    def score_context(self, data: bool) -> ScoreContext:
        """Inputs of the scorers: batches, loss and all-ones forward (``data=False``: the scorer reads none)."""
        ...

    def evaluate(self) -> dict[str, Any]:
        """The task's metrics of the model as it is now."""
        ...


@dataclass
class Cell:
    """One (task, method, target sparsity, seed): what a procedure reads and what it leaves."""

    task: TaskAdapter
    method: str
    sparsity: float
    seed: int
    prunable: dict[str, nn.Parameter] = field(default_factory=dict)
    log: PruningLog = field(default_factory=PruningLog)
    notes: list[str] = field(default_factory=list)
    recovery: Any = None                 # the last training run's result
    mask: Mask | None = None

    @property
    def model(self) -> nn.Module:
        return self.task.model

    @property
    def settings(self) -> MethodSettings:
        return self.task.settings

    def train(self, steps: int | None = None, hooks: TrainHooks = TrainHooks()) -> None:
        """Train through the adapter; keeps the result of the last run that trained."""
        result = self.task.train(hooks, steps)
        if result is not None:
            self.recovery = result

    def installed(self) -> Mask | None:
        """The masks now on the prunable tensors (None before any was installed)."""
        installed = current_mask(self.model)
        mask = {n: installed[n] for n in self.prunable if n in installed}
        return Mask(mask) if mask else None


__all__ = ["Cell", "TaskAdapter", "TrainHooks"]
