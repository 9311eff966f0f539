"""Cross-task stage (issue 7): the dense model and the pruned cells of classification and translation.

One stage item = one cell (task, model, method, target sparsity, seed).  ``method: dense`` trains the dense model,
saves its weights (needed by ``gmp`` and by ``prune_at: dense``) and writes its cell; every other method runs
:func:`irprune.tasks.cell.run_cell`.  Each cell writes

* the results-table cell (exactly :data:`irprune.report.results.COLUMNS`) to :func:`cell_path`, and
* the full flat record (adds ``compression``, ``achieved_compression``, ``compression_ratio``, ``flop_sparsity``,
  ``zero_fraction``, the data description and timings) to :func:`record_path`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import torch

from ..config import frozen, from_mapping, load_params, param
from ..errors import ConfigError, DataFormatError
from ..io import atomic_write_json
from ..pruning import save_plain
from ..tasks.cell import TASK_METHODS, CellResult, TaskPruningConfig, run_cell, schema_cell
from ..tasks.classification.task import ClassificationTaskConfig
from ..tasks.registry import build_task
from ..tasks.translation.task import TranslationTaskConfig

METRICS_DIR = Path("metrics")
MODELS_DIR = Path("models")


@frozen
class TasksConfig:
    """The ``tasks:`` section of ``params.yaml``."""

    classification: ClassificationTaskConfig = param(ClassificationTaskConfig)
    translation: TranslationTaskConfig = param(TranslationTaskConfig)
    pruning: TaskPruningConfig = param(TaskPruningConfig)
    num_threads: Optional[int] = param(None, ge=1, doc="torch CPU threads (null = torch's default)")


@frozen
class TaskStage:
    """Stage config of ``task`` (register it in ``irprune.stages.STAGES`` as ``task``)."""

    tasks: TasksConfig = param(TasksConfig)


def _tag(sparsity: float) -> str:
    return f"{sparsity:g}"


def cell_path(task: str, model: str, method: str, sparsity: float, seed: int) -> Path:
    """Results-table cell of one cross-task cell."""
    return METRICS_DIR / "cells" / task / f"{model}-{method}-{_tag(sparsity)}-seed{seed}.json"


def record_path(task: str, model: str, method: str, sparsity: float, seed: int) -> Path:
    """Full flat record (schema cell + compression, FLOP sparsity, data description, timings)."""
    return METRICS_DIR / "task_records" / task / f"{model}-{method}-{_tag(sparsity)}-seed{seed}.json"


def dense_weights_path(task: str, model: str, seed: int) -> Path:
    return MODELS_DIR / "tasks" / f"{task}-{model}-seed{seed}.safetensors"


def load_task_stage(params_path: str | Path = "params.yaml") -> TaskStage:
    """The stage config from ``params_path`` (its ``tasks`` section; absent = all defaults)."""
    params = load_params(params_path)
    return from_mapping(TaskStage, {"tasks": params.get("tasks") or {}})


def _load_dense(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    if not path.is_file():
        raise DataFormatError("dense weights not found", path=path,
                              fix="run this task/model/seed's dense cell first (method dense, sparsity 0)")
    return load_file(str(path))


def run(cfg: TaskStage, task: str, model: str, method: str, sparsity: float, seed: int) -> CellResult:
    """Run one cell and write its files; returns the result (the notebook shows its record)."""
    tcfg = cfg.tasks
    if tcfg.num_threads is not None:
        torch.set_num_threads(tcfg.num_threads)
    TASK_METHODS.get(method)
    bundle = build_task(task, tcfg)
    if model not in bundle.models:
        raise ConfigError(f"model {model!r} is not in tasks.{task}.models = {list(bundle.models)}; add it there")
    kind = TASK_METHODS.get(method)
    needs_dense = kind == "gmp" or (kind == "oneshot" and tcfg.pruning.prune_at == "dense")
    dense = _load_dense(dense_weights_path(task, model, seed)) if needs_dense else None
    result = run_cell(bundle, model, method, float(sparsity), int(seed), tcfg.pruning, dense_state=dense)
    if kind == "dense":
        save_plain(result.model, dense_weights_path(task, model, seed))
    record: dict[str, Any] = {**result.record, "data": bundle.describe(),
                              "epoch_loss": result.history.epoch_loss}
    atomic_write_json(record_path(task, model, method, sparsity, seed), record)
    atomic_write_json(cell_path(task, model, method, sparsity, seed), schema_cell(result.record))
    return result


__all__ = ["TasksConfig", "TaskStage", "cell_path", "record_path", "dense_weights_path", "load_task_stage", "run"]
