"""Explicit registries: scorer name -> scorer function, and method name -> kind (how it is driven)."""

from __future__ import annotations

from typing import Literal

from ..registry import Registry
from . import scorers

SCORERS: Registry[scorers.Scorer] = Registry("pruning scorer")
SCORERS.add("magnitude", scorers.magnitude)
SCORERS.add("random", scorers.random)
SCORERS.add("snip", scorers.snip)
SCORERS.add("grasp", scorers.grasp)
SCORERS.add("synflow", scorers.synflow)

MethodKind = Literal["oneshot", "control", "during_training", "iterative", "structured"]

#: Every pruning method of the study and how its driver is called (see irprune.pruning.__init__).
METHODS: Registry[str] = Registry("pruning method")
for _name in ("magnitude", "random", "snip", "grasp", "synflow"):
    METHODS.add(_name, "oneshot")            # prune_oneshot(model, name, sparsity, ...)
METHODS.add("shuffled", "control")           # shuffle_mask(mask, seed)
METHODS.add("gmp", "during_training")        # GradualPruner(...).step(global_step)
METHODS.add("movement", "during_training")   # MovementPruner(...).accumulate() / .step(global_step)
METHODS.add("imp", "iterative")              # lottery_ticket(model, train_fn, ...)
METHODS.add("sap", "iterative")              # sap_prune(model, train_fn, ...)
METHODS.add("heads", "structured")           # prune_heads_by_importance(model, ...)
METHODS.add("structured", "structured")      # prune_structured(model, sparsity, ...): heads + FFN neurons


def is_structured(method: str) -> bool:
    """Whether ``method`` removes weights from the model (its sparsity counts removed weights) instead of
    masking them."""
    return method in METHODS and METHODS.get(method) == "structured"


def get_scorer(name: str) -> scorers.Scorer:
    """The scorer registered as ``name``; unknown names raise RegistryError listing the valid ones."""
    return SCORERS.get(name)
