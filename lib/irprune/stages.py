"""Stage configs: which ``params.yaml`` sections each DVC stage reads, as typed frozen configs.

A stage config is a frozen dataclass whose fields are the ``params.yaml`` sections the stage's code reads;
``dvc.yaml`` declares exactly those sections under the stage's ``params:`` (a test keeps the two in step,
and :func:`irprune.config.from_mapping` rejects unknown keys, so every key of a declared section is read).

A field made with :func:`irprune.stage_configs.common.section_param` reads a nested section
(``models.monobert``) or, for ``foreach`` stages, the current item's (``models.{item}``: ``train@conv_knrm`` reads
``models.conv_knrm``, declared in ``dvc.yaml`` as ``models.${item}``), parsed by the given function.

Stage configs are imported on first use (``STAGES`` maps a name to ``"module:Class"``), so loading one stage's
config imports only what that stage runs: ``tests/test_dvc_deps.py`` compares that closure with ``dvc.yaml``.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any, Mapping

from .config import ConfigError, from_mapping, load_params
from .registry import Registry

class _LazyStages(Registry[type]):
    """The stage registry: ``name -> "module:Class"``, imported on first use, so that loading one stage's config
    imports only the modules that stage runs (and ``dvc.yaml`` lists as its deps)."""

    def get(self, name: str) -> type:
        ref = super().get(name)
        if isinstance(ref, str):
            module, _, attr = ref.partition(":")
            ref = getattr(importlib.import_module(module), attr)
            self._items[name] = ref
        return ref

    def module(self, name: str) -> str:
        """The module that defines the stage's config class (without importing it)."""
        ref = super().get(name)
        return ref.partition(":")[0] if isinstance(ref, str) else ref.__module__


STAGES = _LazyStages("stage")
for _name, _ref in {
    "data": "irprune.stage_configs.data:DataStage",
    "bm25": "irprune.stage_configs.bm25:BM25Stage",
    "pretrain": "irprune.stage_configs.pretrain:PretrainStage",
    "train": "irprune.stage_configs.train:TrainStage",
    # the pruning grid: one matrix per block of params.yaml's `grid` (curve, controls, repeats), one cell config
    "prune": "irprune.stage_configs.prune:PruneStage",
    "prune_controls": "irprune.stage_configs.prune:PruneStage",
    "prune_repeats": "irprune.stage_configs.prune:PruneStage",
    # the cross-task comparison: `matrix` stages over params.yaml's `task_grid` (templating only) that read the
    # whole `tasks` section; the dense model per (task/model pair, seed), then one pruned cell per grid item
    "task_dense": "irprune.pipeline.task_stage:TaskStage",
    "task": "irprune.pipeline.task_stage:TaskStage",
    # DSI: the dense model on its indexed subset (`dsi`, which also reads `bm25` for BM25 over the same subset),
    # then one pruned cell per item of params.yaml's `dsi_grid` (`dsi_prune`, a matrix read by templating only)
    "dsi": "irprune.dsi.config:DSIStage",
    "dsi_prune": "irprune.pipeline.dsi_prune_stage:DSIPruneStage",
    # dense retrieval: the bi-encoder, its fine-tuning and its compressed indexes (`dense`), then one pruned query
    # encoder per item of params.yaml's `dense_grid` (`dense_prune`, a matrix read by templating only)
    "dense": "irprune.pipeline.dense_stage:DenseStage",
    "dense_prune": "irprune.pipeline.dense_prune_stage:DensePruneStage",
    "collect": "irprune.report.config:CollectStage",
    "report": "irprune.report.config:ReportStage",
    "paper": "irprune.report.config:PaperStage",
}.items():
    STAGES.add(_name, _ref)  # type: ignore[arg-type]


#: Stages that run another stage's notebook (and name their logs after it): the pruning grid's extra matrices.
NOTEBOOK_OF = {"prune_controls": "prune", "prune_repeats": "prune"}
#: The block of params.yaml's ``grid`` that each pruning matrix reads its axes from.
GRID_BLOCKS = {"prune": "curve", "prune_controls": "controls", "prune_repeats": "repeats"}


def stage_notebook(stage: str) -> str:
    """The notebook (under ``notebooks/``, without ``.ipynb``) that ``stage`` runs: its own name but for
    :data:`NOTEBOOK_OF`."""
    return NOTEBOOK_OF.get(stage, stage)


def _fill(template: str, item: str | Mapping[str, Any] | None) -> str:
    """``models.{item}`` / ``models.{item.model}`` with the item filled in; without an item, as dvc.yaml writes
    it (``models.${item}``, ``models.${item.model}``)."""
    if item is None:
        return template.replace("{item", "${item")
    if isinstance(item, Mapping):
        for key, value in item.items():
            template = template.replace(f"{{item.{key}}}", str(value))
        return template
    return template.replace("{item}", item)


def stage_sections(stage: str, item: str | Mapping[str, Any] | None = None) -> list[str]:
    """The ``params.yaml`` sections (dotted for nested ones) a stage reads; for a ``foreach``/``matrix`` stage
    without ``item``, the item's sections are given as ``dvc.yaml`` writes them (``models.${item}``)."""
    return [_fill(f.metadata.get("section", f.name), item) for f in dataclasses.fields(STAGES.get(stage))]


def is_foreach(stage: str) -> bool:
    """Whether ``stage`` runs once per item (a ``foreach`` stage in ``dvc.yaml``)."""
    return any("{item}" in f.metadata.get("section", "") for f in dataclasses.fields(STAGES.get(stage)))


def is_matrix(stage: str) -> bool:
    """Whether ``stage`` runs once per combination of axes (a ``matrix`` stage: sections name ``{item.<axis>}``)."""
    return any("{item." in f.metadata.get("section", "") for f in dataclasses.fields(STAGES.get(stage)))


def _lookup(params: dict[str, Any], dotted: str, params_path: str | Path, stage: str) -> Any:
    node: Any = params
    for i, part in enumerate(dotted.split(".")):
        if not isinstance(node, dict) or part not in node:
            where = ".".join(dotted.split(".")[:i]) or "the top level"
            known = ", ".join(sorted(node)) if isinstance(node, dict) else "(not a mapping)"
            raise ConfigError(f"{params_path}: section {dotted} missing ({part!r} not under {where}; found: "
                              f"{known}); stage {stage!r} reads {dotted} (see params.yaml in the repository)")
        node = node[part]
    return node


def load_stage(stage: str, params_path: str | Path = "params.yaml",
               item: str | Mapping[str, Any] | None = None) -> Any:
    """Load and validate the config of ``stage`` (for a foreach stage: of ``item``; for a matrix stage: of the
    item's axes, e.g. ``{"model": "conv_knrm"}``) from ``params_path``; errors name the key and the fix.

    A relative ``params_path`` missing from the working directory is looked up from the project root, which then
    becomes the working directory (a notebook opened in JupyterLab runs in ``notebooks/``)."""
    cls = STAGES.get(stage)
    if (is_foreach(stage) or is_matrix(stage)) and item is None:
        raise ConfigError(f"stage {stage!r} runs once per model: pass the item (notebook parameter `model`, "
                          f"e.g. python -m irprune.notebook {stage} --item conv_knrm -p model conv_knrm)")
    if not Path(params_path).is_absolute() and not Path(params_path).exists():
        from .paths import find_project_root, enter_project_root

        if find_project_root() is not None:      # e.g. a JupyterLab kernel started in notebooks/
            enter_project_root()
    params = load_params(params_path)
    plain: dict[str, Any] = {}
    nested: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if "section" in f.metadata:
            dotted = _fill(f.metadata["section"], item)
            if "{item" in f.metadata["section"]:
                f.metadata["parse"](item, None)           # unknown item: the registry error lists valid ones
            nested[f.name] = f.metadata["parse"](item, _lookup(params, dotted, params_path, stage))
        else:
            plain[f.name] = _lookup(params, f.name, params_path, stage)
    return dataclasses.replace(from_mapping(cls, plain), **nested)


