"""Cross-task stages: the dense model and the pruned cells of classification, translation and vision.

``dvc.yaml`` runs two ``matrix`` stages over ``params.yaml``'s ``task_grid``: ``task_dense@<pair>-<seed>`` trains
the dense model of a task/model *pair* (``classification-embedding_bag``: task and model joined by ``-``, one
scalar axis so that stage names stay readable and only valid pairs exist) and saves its weights (needed by ``gmp``
and by ``prune_at: dense``); ``task@<pair>-<method>-<sparsity>-<seed>`` runs one pruned cell through
:func:`irprune.tasks.cell.run_cell`.  Both read the whole ``tasks:`` section.  Each cell writes

* the results-table cell (exactly :data:`irprune.cells.schema.COLUMNS`) to :func:`cell_path`, and
* the full flat record (adds ``compression``, ``achieved_compression``, ``compression_ratio``, ``flop_sparsity``,
  ``zero_fraction``, the data description and timings) to :func:`record_path`.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any, Optional

import torch

from ..config import frozen, from_mapping, load_params, param
from ..errors import ConfigError, DataFormatError
from ..io import atomic_write_json
from ..paths import TASK_RECORDS
from ..pruning import save_plain
from ..pruning.driver import check_cell
from ..tasks.cell import (TASK_METHODS, CellResult, TaskPruningConfig, fine_tunes_dense, run_cell,
                          schema_cell)
from ..tasks.classification.task import ClassificationTaskConfig
from ..tasks.registry import build_task
from ..tasks.translation.task import TranslationTaskConfig
from ..tasks.vision.task import VisionTaskConfig

METRICS_DIR = Path("metrics")
MODELS_DIR = Path("models")


@frozen
class TasksConfig:
    """The ``tasks:`` section of ``params.yaml``."""

    classification: ClassificationTaskConfig = param(ClassificationTaskConfig)
    translation: TranslationTaskConfig = param(TranslationTaskConfig)
    vision: VisionTaskConfig = param(VisionTaskConfig)
    pruning: TaskPruningConfig = param(TaskPruningConfig)
    num_threads: Optional[int] = param(None, ge=1, doc="torch CPU threads (null = torch's default)")


@frozen
class TaskStage:
    """Stage config of ``task`` (register it in ``irprune.stages.STAGES`` as ``task``)."""

    tasks: TasksConfig = param(TasksConfig)


PAIR_SEP = "-"


def pair_name(task: str, model: str) -> str:
    """``classification``, ``embedding_bag`` -> ``classification-embedding_bag`` (the grid's pair axis)."""
    return f"{task}{PAIR_SEP}{model}"


def split_pair(pair: str) -> tuple[str, str]:
    """``classification-embedding_bag`` -> (``classification``, ``embedding_bag``); the task must be registered
    and the model one that task builds."""
    from ..tasks.registry import TASKS

    task, sep, model = str(pair).partition(PAIR_SEP)
    if not sep or not model or task not in TASKS:
        raise ConfigError(f"task/model pair {pair!r} is not <task>{PAIR_SEP}<model> with a task among "
                          f"{', '.join(TASKS.names())} (e.g. classification{PAIR_SEP}embedding_bag); "
                          "fix params.yaml task_grid.pairs")
    allowed = TASK_MODELS[task]
    if model not in allowed:
        raise ConfigError(f"task/model pair {pair!r}: task {task!r} has models {', '.join(allowed)}; fix "
                          "params.yaml task_grid.pairs")
    return task, model


def _model_names(cfg_cls: type) -> tuple[str, ...]:
    """The names a task config's ``models: tuple[Literal[...], ...]`` field allows."""
    hint = typing.get_type_hints(cfg_cls)["models"]
    return tuple(typing.get_args(typing.get_args(hint)[0]))


#: task -> the models its bundle can build (read from the ``Literal`` of ``tasks.<task>.models``)
TASK_MODELS: dict[str, tuple[str, ...]] = {"classification": _model_names(ClassificationTaskConfig),
                                           "translation": _model_names(TranslationTaskConfig),
                                           "vision": _model_names(VisionTaskConfig)}


def _tag(sparsity: float) -> str:
    """The sparsity as DVC's templating writes ``${item.sparsity}`` (``str`` of the float; dense: ``0``)."""
    return "0" if float(sparsity) == 0.0 else str(float(sparsity))


def cell_id(task: str, model: str, method: str, sparsity: float, seed: int) -> str:
    """``<task>-<model>-<method>-<sparsity>-<seed>``: the ``task`` stage's item, and the cell's file stem."""
    return f"{pair_name(task, model)}-{method}-{_tag(sparsity)}-{int(seed)}"


def cell_path(task: str, model: str, method: str, sparsity: float, seed: int) -> Path:
    """Results-table cell of one cross-task cell (``metrics/cells/tasks/<cell_id>.json``, collected by the
    ``metrics/cells/**/*.json`` glob)."""
    return METRICS_DIR / "cells" / "tasks" / f"{cell_id(task, model, method, sparsity, seed)}.json"


def record_path(task: str, model: str, method: str, sparsity: float, seed: int) -> Path:
    """Full flat record (schema cell + compression, FLOP sparsity, data description, timings)."""
    return TASK_RECORDS / f"{cell_id(task, model, method, sparsity, seed)}.json"


def dense_weights_path(task: str, model: str, seed: int) -> Path:
    """The dense model's plain state_dict (``models/tasks/<pair>-seed<seed>.safetensors``)."""
    return MODELS_DIR / "tasks" / f"{pair_name(task, model)}-seed{int(seed)}.safetensors"


def load_task_stage(params_path: str | Path = "params.yaml") -> TaskStage:
    """The stage config from ``params_path`` (its ``tasks`` section; absent = all defaults)."""
    params = load_params(params_path)
    return from_mapping(TaskStage, {"tasks": params.get("tasks") or {}})


def _load_dense(path: Path, reference: dict[str, torch.Tensor] | None = None,
                stage: str = "task_dense") -> dict[str, torch.Tensor]:
    """The dense weights at ``path``; a missing, truncated or corrupt file, or weights that do not fit
    ``reference`` (the model's state_dict), raise :class:`DataFormatError` naming the file and the fix."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    rerun = f"delete it and re-run the dense cell (dvc repro {stage}), which writes it"
    if not path.is_file():
        raise DataFormatError("dense weights not found", path=path,
                              fix=f"run this task/model/seed's dense cell first (dvc repro {stage})")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise DataFormatError(f"dense weights are truncated or corrupt ({e})", path=path, fix=rerun) from None
    if reference is not None:
        wrong = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}" for k, v in reference.items()
                 if k in state and tuple(state[k].shape) != tuple(v.shape)]
        missing = sorted(set(reference) - set(state))
        unexpected = sorted(set(state) - set(reference))
        if wrong or missing or unexpected:
            raise DataFormatError("dense weights do not fit the model of the current params ("
                                  + "; ".join(wrong[:3] + [f"missing {missing[:3]}"] * bool(missing)
                                              + [f"unexpected {unexpected[:3]}"] * bool(unexpected)) + ")",
                                  path=path, fix=rerun)
    return state


def run(cfg: TaskStage, task: str, model: str, method: str, sparsity: float, seed: int) -> CellResult:
    """Run one cell and write its files; returns the result (the notebook shows its record)."""
    tcfg = cfg.tasks
    sparsity, seed = float(sparsity), int(seed)
    if tcfg.num_threads is not None:
        torch.set_num_threads(tcfg.num_threads)
    check_cell(method, sparsity, TASK_METHODS, task)    # a bad method or sparsity stops before any work
    bundle = build_task(task, tcfg)
    if model not in bundle.models:
        raise ConfigError(f"model {model!r} is not in tasks.{task}.models = {list(bundle.models)}; add it there")
    dense = None
    if fine_tunes_dense(method, tcfg.pruning):
        reference = {k: v for k, v in bundle.build_model(model, seed).state_dict().items()}
        dense = _load_dense(dense_weights_path(task, model, seed), reference,
                            stage=f"task_dense@{pair_name(task, model)}-{seed}")
    result = run_cell(bundle, model, method, float(sparsity), int(seed), tcfg.pruning, dense_state=dense)
    if method == "dense":
        save_plain(result.model, dense_weights_path(task, model, seed))
    record: dict[str, Any] = {**result.record, "data": bundle.describe(),
                              "epoch_loss": result.history.epoch_loss}
    atomic_write_json(record_path(task, model, method, sparsity, seed), record)
    atomic_write_json(cell_path(task, model, method, sparsity, seed), schema_cell(result.record))
    return result


def run_pair(cfg: TaskStage, pair: str, method: str, sparsity: float, seed: int) -> CellResult:
    """:func:`run` for a grid item (``pair`` = ``<task>-<model>``), as the notebooks call it."""
    task, model = split_pair(pair)
    return run(cfg, task, model, method, sparsity, seed)


__all__ = ["TasksConfig", "TaskStage", "TASK_MODELS", "pair_name", "split_pair", "cell_id", "cell_path",
           "record_path", "dense_weights_path", "load_task_stage", "run", "run_pair"]
