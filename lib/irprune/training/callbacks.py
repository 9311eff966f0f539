"""Trainer hooks: what the pruning stage plugs into the shared training loop.

The loop calls, per optimizer step::

    loss.backward()
    cb.after_backward(trainer)          # gradients present: movement pruning's accumulate() (Sanh et al. 2020)
    clip gradients
    cb.before_optimizer_step(trainer)
    optimizer.step(); scheduler.step(); trainer.global_step += 1
    cb.after_optimizer_step(trainer)    # mask updates: GMP's GradualPruner.step(trainer.global_step)

plus ``on_train_begin``, ``on_evaluate`` (after each dev evaluation) and ``on_train_end``.  A callback with state
that must survive a resume returns it from :meth:`TrainerCallback.state_tensors` (saved as safetensors with the
trainer state) and takes it back in :meth:`TrainerCallback.load_state_tensors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from torch import Tensor

if TYPE_CHECKING:
    from .trainer import Trainer


class TrainerCallback:
    """Base class: every hook is a no-op; override the ones you need."""

    def on_train_begin(self, trainer: "Trainer") -> None:
        pass

    def after_backward(self, trainer: "Trainer") -> None:
        pass

    def before_optimizer_step(self, trainer: "Trainer") -> None:
        pass

    def after_optimizer_step(self, trainer: "Trainer") -> None:
        pass

    def on_evaluate(self, trainer: "Trainer", record: dict[str, Any]) -> None:
        pass

    def on_train_end(self, trainer: "Trainer") -> None:
        pass

    def state_tensors(self) -> dict[str, Tensor]:
        return {}

    def load_state_tensors(self, tensors: dict[str, Tensor]) -> None:
        pass


class LambdaCallback(TrainerCallback):
    """A callback from plain functions, e.g. ``LambdaCallback(after_optimizer_step=lambda t: gmp.step(
    t.global_step), after_backward=lambda t: movement.accumulate())``."""

    def __init__(self, **hooks: Callable[..., None]) -> None:
        known = {"on_train_begin", "after_backward", "before_optimizer_step", "after_optimizer_step",
                 "on_evaluate", "on_train_end"}
        unknown = sorted(set(hooks) - known)
        if unknown:
            raise TypeError(f"LambdaCallback: unknown hook(s) {unknown}; known hooks: {sorted(known)}")
        for name, fn in hooks.items():
            setattr(self, name, fn)


__all__ = ["TrainerCallback", "LambdaCallback"]
