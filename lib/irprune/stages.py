"""Stage configs: which ``params.yaml`` sections each DVC stage reads, as typed frozen configs.

A stage config is a frozen dataclass whose fields are the top-level ``params.yaml`` sections the stage's code
reads; ``dvc.yaml`` declares exactly those sections under the stage's ``params:`` (a test keeps the two in step,
and :func:`irprune.config.from_mapping` rejects unknown keys, so every key of a declared section is read).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from .bm25 import BM25Config
from .config import ConfigError, frozen, from_mapping, load_params, param
from .data.config import DataConfig
from .evaluation import EvalConfig
from .registry import Registry

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


def stage_sections(stage: str) -> list[str]:
    """The top-level ``params.yaml`` sections a stage reads."""
    return [f.name for f in dataclasses.fields(STAGES.get(stage))]


def load_stage(stage: str, params_path: str | Path = "params.yaml") -> Any:
    """Load and validate the config of ``stage`` from ``params_path``; errors name the key and the fix."""
    cls = STAGES.get(stage)
    params = load_params(params_path)
    missing = [s for s in stage_sections(stage) if s not in params]
    if missing:
        raise ConfigError(f"{params_path}: section(s) {', '.join(missing)} missing; stage {stage!r} reads "
                          f"{', '.join(stage_sections(stage))} (see params.yaml in the repository for defaults)")
    return from_mapping(cls, {s: params[s] for s in stage_sections(stage)})
