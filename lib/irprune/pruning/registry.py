"""The scorer registry: name -> scoring function (the methods that use them: :mod:`irprune.pruning.methods`)."""

from __future__ import annotations

from ..registry import Registry
from . import scorers

SCORERS: Registry[scorers.Scorer] = Registry("pruning scorer")
SCORERS.add("magnitude", scorers.magnitude)
SCORERS.add("random", scorers.random)
SCORERS.add("snip", scorers.snip)
SCORERS.add("grasp", scorers.grasp)
SCORERS.add("synflow", scorers.synflow)


def get_scorer(name: str) -> scorers.Scorer:
    """The scorer registered as ``name``; unknown names raise RegistryError listing the valid ones."""
    return SCORERS.get(name)
