"""Stage configs: which ``params.yaml`` sections each DVC stage reads, as typed frozen configs.

A stage config is a frozen dataclass whose fields are the ``params.yaml`` sections the stage's code reads;
``dvc.yaml`` declares exactly those sections under the stage's ``params:`` (a test keeps the two in step,
and :func:`irprune.config.from_mapping` rejects unknown keys, so every key of a declared section is read).

A field made with :func:`section_param` reads a nested section (``models.monobert``) or, for ``foreach`` stages,
the current item's (``models.{item}``: ``train@conv_knrm`` reads ``models.conv_knrm``, declared in ``dvc.yaml`` as
``models.${item}``), parsed by the given function.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from .bm25 import BM25Config
from .config import ConfigError, frozen, from_mapping, load_params, param
from .data.config import DataConfig
from .dsi.config import DSIStage
from .evaluation import EvalConfig
from .pipeline.dsi_prune_stage import DSIPruneStage
from .pipeline.pretrain_stage import PretrainConfig
from .pipeline.task_stage import TaskStage
from .costs.summary import CostsConfig
from .prune_cell import PruneConfig
from .registry import Registry
from .report.config import CollectStage, PaperStage, ReportStage
from .significance import SignificanceConfig
from .training.config import TrainConfig
from .training.spec import ModelSpec, parse_model_spec

STAGES: Registry[type] = Registry("stage")


@STAGES.register("data")
@frozen
class DataStage:
    """Build the dataset (synthetic default or a real collection) and its card."""

    data: DataConfig = param(DataConfig)


@STAGES.register("bm25")
@frozen
class BM25Stage:
    """First-stage BM25 candidates for every split, and the BM25 baseline's metrics."""

    bm25: BM25Config = param(BM25Config)
    evaluation: EvalConfig = param(EvalConfig)


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
    item's axes, e.g. ``{"model": "conv_knrm"}``) from ``params_path``; errors name the key and the fix."""
    cls = STAGES.get(stage)
    if (is_foreach(stage) or is_matrix(stage)) and item is None:
        raise ConfigError(f"stage {stage!r} runs once per model: pass the item (notebook parameter `model`, "
                          f"e.g. python -m irprune.notebook {stage} --item conv_knrm -p model conv_knrm)")
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


def section_param(section: str, parse: Callable[[str | None, Any], Any], doc: str = "") -> Any:
    """A stage-config field read from the (nested, possibly item-templated) ``section`` through ``parse``."""
    return dataclasses.field(default=None, metadata={"section": section, "parse": parse, "doc": doc})


def _model_section(name: str | None) -> Callable[[str | None, Any], ModelSpec]:
    return lambda item, value: parse_model_spec(name or item or "", value)


@STAGES.register("pretrain")
@frozen
class PretrainStage:
    """WordPiece + MLM pretraining of monoBERT's encoder (skipped when it is pretrained) and word vectors."""

    pretrain: PretrainConfig = param(PretrainConfig)
    monobert: Optional[ModelSpec] = section_param("models.monobert", _model_section("monobert"))


@STAGES.register("train")
@frozen
class TrainStage:
    """Train one ranker (``train@<model>``), re-rank dev/test, evaluate, test against BM25."""

    train: TrainConfig = param(TrainConfig)
    evaluation: EvalConfig = param(EvalConfig)
    significance: SignificanceConfig = param(SignificanceConfig)
    costs: CostsConfig = param(CostsConfig)
    model: Optional[ModelSpec] = section_param("models.{item}", _model_section(None))


@STAGES.register("prune")
@frozen
class PruneStage:
    """One cell of the pruning grid (``prune@<model>-<method>-<sparsity>-<seed>``, a ``matrix`` stage)."""

    prune: PruneConfig = param(PruneConfig)
    train: TrainConfig = param(TrainConfig)
    evaluation: EvalConfig = param(EvalConfig)
    costs: CostsConfig = param(CostsConfig)
    model: Optional[ModelSpec] = section_param(
        "models.{item.model}", lambda item, value: parse_model_spec(item["model"] if item else "", value))


# The cross-task comparison: `matrix` stages over params.yaml's `task_grid` (templating only) that read
# the whole `tasks` section; the dense model per (task/model pair, seed), then one pruned cell per grid item.
STAGES.add("task_dense", TaskStage)
STAGES.add("task", TaskStage)
# DSI: the dense model on its indexed subset (`dsi`, which also reads `bm25` for BM25 over the same
# subset), then one pruned cell per item of params.yaml's `dsi_grid` (`dsi_prune`, a matrix read by templating only).
STAGES.add("dsi", DSIStage)
STAGES.add("dsi_prune", DSIPruneStage)
STAGES.add("collect", CollectStage)
STAGES.add("report", ReportStage)
STAGES.add("paper", PaperStage)
