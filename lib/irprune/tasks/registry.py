"""Explicit task registry: task name -> (bundle class, the ``tasks`` sub-section holding its config)."""

from __future__ import annotations

from typing import Any

from ..registry import Registry
from .base import TaskBundle
from .classification.task import ClassificationTask
from .translation.task import TranslationTask
from .vision.task import VisionTask

TASKS: Registry[type] = Registry("task")
TASKS.add("classification", ClassificationTask)
TASKS.add("translation", TranslationTask)
TASKS.add("vision", VisionTask)


def build_task(name: str, tasks_cfg: Any) -> TaskBundle:
    """The bundle of task ``name`` configured by ``tasks_cfg.<name>`` (data loaded and encoded)."""
    cls = TASKS.get(name)
    return cls(getattr(tasks_cfg, name))


__all__ = ["TASKS", "build_task"]
