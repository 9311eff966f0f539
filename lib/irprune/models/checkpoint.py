"""Ranker checkpoints: a directory with ``model.safetensors``, ``ranker.json`` (architecture + config) and the
text state (``vocab.json`` or ``tokenizer/`` + ``bert_config.json``).

Saving writes everything into a temporary sibling directory and renames it into place, so a killed save leaves
the previous checkpoint or none, never a half-written one.  Weights are stored with safetensors (no pickle).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..config import from_mapping, to_mapping
from ..errors import ConfigError, DataFormatError
from ..io import atomic_dir, atomic_write_json, canonicalize_safetensors
from .base import Ranker
from .registry import MODELS

FORMAT = "irprune-ranker-v1"
WEIGHTS = "model.safetensors"
META = "ranker.json"
_FIX = "delete the checkpoint directory and re-run the stage that writes it"


def save_checkpoint(model: Ranker, directory: str | Path) -> Path:
    """Atomically write ``model`` (weights, config, text state) to ``directory``, replacing it if present."""
    from safetensors.torch import save_model

    directory = Path(directory)
    with atomic_dir(directory) as tmp:
        save_model(model, str(tmp / WEIGHTS), metadata={"format": FORMAT, "architecture": model.name})
        canonicalize_safetensors(tmp / WEIGHTS)
        model.save_text(tmp)
        atomic_write_json(tmp / META, {"format": FORMAT, "architecture": model.name,
                                       "config": to_mapping(model.cfg)})
    return directory


def read_meta(directory: str | Path) -> dict[str, Any]:
    """The ``ranker.json`` of a checkpoint, validated."""
    directory = Path(directory)
    meta_path = directory / META
    if not directory.is_dir():
        raise DataFormatError("checkpoint directory not found", path=directory,
                              fix="run the stage that trains/saves this model first")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFormatError(f"not a ranker checkpoint (no {META})", path=directory, fix=_FIX) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataFormatError(f"checkpoint metadata is corrupt ({e})", path=meta_path, fix=_FIX) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or "architecture" not in meta:
        raise DataFormatError(f"checkpoint metadata is not {FORMAT}", path=meta_path, fix=_FIX)
    return meta


def load_checkpoint(directory: str | Path, expect: str | None = None,
                    map_location: str | torch.device = "cpu") -> Ranker:
    """Load a checkpoint written by :func:`save_checkpoint`.

    ``expect`` (a registered model name) guards against loading the wrong architecture.  A truncated or corrupt
    weights file, or weights that do not fit the architecture, raise :class:`DataFormatError` naming the file.
    """
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_model

    directory = Path(directory)
    meta = read_meta(directory)
    arch = meta["architecture"]
    if expect is not None and arch != expect:
        raise ConfigError(f"{directory} holds a {arch!r} checkpoint but a {expect!r} model was requested; fix: "
                          f"point at a {expect} checkpoint or load it as {arch!r}")
    cls = MODELS.get(arch)
    cfg = from_mapping(cls.config_cls, meta.get("config") or {}, prefix=f"{directory / META}: config")
    model = cls.from_saved_text(cfg, directory)
    weights = directory / WEIGHTS
    if not weights.is_file():
        raise DataFormatError("checkpoint weights are missing", path=weights, fix=_FIX)
    try:
        with safe_open(str(weights), framework="pt") as fh:
            file_arch = (fh.metadata() or {}).get("architecture")
            shapes = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise DataFormatError(f"checkpoint weights are truncated or corrupt ({e})", path=weights, fix=_FIX) from None
    if file_arch is not None and file_arch != arch:
        raise ConfigError(f"{weights} holds {file_arch!r} weights but {META} says {arch!r}; fix: {_FIX}")
    wrong = [f"{k}: file {shapes[k]} vs model {tuple(v.shape)}" for k, v in model.state_dict().items()
             if k in shapes and shapes[k] != tuple(v.shape)]
    if wrong:
        raise DataFormatError(f"checkpoint weights do not fit the {arch} architecture of {META} "
                              f"({'; '.join(wrong[:3])})", path=weights, fix=_FIX)
    try:
        missing, unexpected = load_model(model, str(weights), strict=False, device=str(map_location))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise DataFormatError(f"checkpoint weights are truncated or corrupt ({e})", path=weights, fix=_FIX) from None
    if missing or unexpected:
        raise DataFormatError(f"checkpoint weights do not fit the {arch} architecture (missing: "
                              f"{sorted(missing)[:5]}, unexpected: {sorted(unexpected)[:5]})", path=weights, fix=_FIX)
    return model.to(map_location).eval()
