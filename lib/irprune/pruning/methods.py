"""The one registry of pruning methods: name -> :class:`Method` (its procedure in :mod:`.procedures`).

Adding a method is one file in :mod:`.procedures` and one line here; a task runs it once its adapter lists it
(:attr:`irprune.pruning.cell.TaskAdapter.methods`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..registry import Registry
from .cell import Cell
from .mask import Mask
from .procedures.dense import dense
from .procedures.gmp import gmp
from .procedures.heads import heads
from .procedures.imp import imp
from .procedures.movement import movement
from .procedures.oneshot import oneshot
from .procedures.sap import sap
from .procedures.shuffled import shuffled
from .procedures.structured import structured

Procedure = Callable[[Cell], "Mask | None"]


@dataclass(frozen=True)
class Method:
    """A registered procedure; ``structured`` ones remove weights from the model instead of masking them (their
    sparsity counts the removed weights against the dense model's prunable weights)."""

    run: Procedure
    structured: bool = False


METHODS: Registry[Method] = Registry("pruning method")
METHODS.add("dense", Method(dense))
METHODS.add("magnitude", Method(oneshot("magnitude")))
METHODS.add("random", Method(oneshot("random")))
METHODS.add("snip", Method(oneshot("snip")))
METHODS.add("grasp", Method(oneshot("grasp")))
METHODS.add("synflow", Method(oneshot("synflow")))
METHODS.add("shuffled-snip", Method(shuffled("snip")))
METHODS.add("shuffled-grasp", Method(shuffled("grasp")))
METHODS.add("shuffled-synflow", Method(shuffled("synflow")))
METHODS.add("gmp", Method(gmp))
METHODS.add("movement", Method(movement))
METHODS.add("imp", Method(imp))
METHODS.add("sap", Method(sap))
METHODS.add("heads", Method(heads, structured=True))
METHODS.add("structured", Method(structured, structured=True))

#: the one-shot scorer methods (a prune-at-initialisation grid runs these)
ONESHOT = ("magnitude", "random", "snip", "grasp", "synflow")


def is_structured(method: str) -> bool:
    """Whether ``method`` removes weights from the model instead of masking them."""
    return method in METHODS and METHODS.get(method).structured


__all__ = ["METHODS", "Method", "ONESHOT", "Procedure", "is_structured"]
