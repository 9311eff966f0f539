"""The model registry: ``"monobert" | "conv_knrm" | "conformer_kernel"`` -> Ranker class.

Model modules register themselves with ``@MODELS.register(name)``; ``irprune.models`` imports them all.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import torch

from ..config import from_mapping
from ..errors import ConfigError
from ..registry import Registry
from .base import Ranker

MODELS: Registry[type[Ranker]] = Registry("model")


def model_config(name: str, preset: str = "small", overrides: Mapping[str, Any] | None = None) -> Any:
    """The frozen config of model ``name``: a named preset (``small``/``paper``) with ``overrides`` applied."""
    cls = MODELS.get(name)
    if preset not in cls.presets:
        raise ConfigError(f"model {name!r} has no preset {preset!r}; known presets: {', '.join(sorted(cls.presets))}")
    return from_mapping(cls.config_cls, {**cls.presets[preset], **(overrides or {})}, prefix=f"model.{name}")


def build_model(name: str, cfg: Any = None, text: Any = None, *, seed: int = 0) -> Ranker:
    """Build a freshly initialised ranker.

    ``cfg`` is the model's config object, a mapping (validated against it) or ``None`` (the ``small`` preset);
    ``text`` is a :class:`~irprune.text.Vocab` for the kernel models or a tokenizer for monoBERT (``None`` when
    monoBERT loads ``pretrained``).  Initialisation is seeded, so equal seeds give equal weights.
    """
    cls = MODELS.get(name)
    if cfg is None or isinstance(cfg, Mapping):
        cfg = model_config(name, "small", cfg)
    elif not (dataclasses.is_dataclass(cfg) and isinstance(cfg, cls.config_cls)):
        raise ConfigError(f"model {name!r} needs a {cls.config_cls.__name__} (or a mapping), "
                          f"got {type(cfg).__name__}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls.build(cfg, text)
