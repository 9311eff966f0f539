"""``models.<name>`` sections of ``params.yaml``: which ranker, which preset, config overrides, training overrides.

::

    models:
      conv_knrm:
        preset: small            # small (CPU study) | paper (published size)
        train: {lr: 0.003}       # overrides of the shared train: section for this model
        vocab: {min_freq: 1}     # word vocabulary (kernel models)
        init: default            # conformer_kernel: default | identity | residual (see irprune.training.init)
        n_filters: 64            # any key of the model's config class overrides the preset

Every key is validated: unknown model names list the registered ones, unknown keys list the allowed ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..config import ConfigError, from_mapping, to_mapping
from ..models.registry import MODELS
from ..text.vocab import VocabConfig
from .config import TrainConfig, merged

RESERVED = ("preset", "train", "vocab", "init")


@dataclass(frozen=True)
class ModelSpec:
    """A validated ``models.<name>`` section."""

    name: str
    preset: str
    config: Any                                   # the model's frozen config (preset + overrides)
    train_overrides: Mapping[str, Any] = field(default_factory=dict)
    vocab: VocabConfig = field(default_factory=VocabConfig)
    init: str = "default"

    def train_config(self, base: TrainConfig) -> TrainConfig:
        """The shared ``train:`` section with this model's overrides applied."""
        return merged(base, dict(self.train_overrides), prefix=f"models.{self.name}.train")


def parse_model_spec(name: str, section: Mapping[str, Any] | None) -> ModelSpec:
    """Validate ``models.<name>``; errors name the dotted key and list what is allowed."""
    cls = MODELS.get(name)                                    # unknown model: RegistryError listing the models
    section = {} if section is None else section
    key = f"models.{name}"
    if not isinstance(section, Mapping):
        raise ConfigError(f"params.yaml: {key} = {section!r} is not allowed; expected a mapping with keys "
                          f"{', '.join(RESERVED)} and the fields of {cls.config_cls.__name__}")
    preset = section.get("preset", "small")
    if preset not in cls.presets:
        raise ConfigError(f"params.yaml: {key}.preset = {preset!r} is not allowed; expected one of "
                          f"{', '.join(repr(p) for p in sorted(cls.presets))}")
    overrides = {k: v for k, v in section.items() if k not in RESERVED}
    config = from_mapping(cls.config_cls, {**cls.presets[preset], **overrides}, prefix=key)
    train = section.get("train") or {}
    if not isinstance(train, Mapping):
        raise ConfigError(f"params.yaml: {key}.train = {train!r} is not allowed; expected a mapping of train keys")
    from_mapping(TrainConfig, {**to_mapping(TrainConfig()), **train}, prefix=f"{key}.train")  # keys and types
    vocab = from_mapping(VocabConfig, section.get("vocab"), prefix=f"{key}.vocab")
    from .init import INITS

    init = section.get("init", "default")
    if init not in INITS or (init != "default" and name not in INITS.get(init).models):
        valid = [n for n in INITS if n == "default" or name in INITS.get(n).models]
        raise ConfigError(f"params.yaml: {key}.init = {init!r} is not allowed for {name}; expected one of "
                          f"{', '.join(repr(v) for v in valid)}")
    return ModelSpec(name=name, preset=preset, config=config, train_overrides=dict(train), vocab=vocab, init=init)


__all__ = ["ModelSpec", "parse_model_spec", "RESERVED"]
