"""The trainer's resume state: ``state.safetensors`` (weights, best weights, optimizer moments, RNG states,
callback tensors) and ``state.json`` (step counters, history, scheduler, fingerprint), written together into a
temporary sibling directory that is renamed into place.  A killed run leaves the previous state or none, never a
half-written one; a state whose fingerprint differs from the current run's (other params or data) is discarded.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..io import atomic_dir, atomic_write_json

FORMAT = "irprune-trainer-state-v1"
TENSORS = "state.safetensors"
META = "state.json"


def save_state(directory: Path, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
    """Atomically replace ``directory`` with the given tensors and JSON metadata."""
    from safetensors.torch import save_file

    with atomic_dir(directory) as tmp:
        save_file({k: v.detach().to("cpu").clone().contiguous() for k, v in tensors.items()}, str(tmp / TENSORS))
        atomic_write_json(tmp / META, {**meta, "format": FORMAT})


def load_state(directory: Path, fingerprint: str) -> tuple[dict[str, Tensor], dict[str, Any]] | None:
    """The saved state if it is complete, readable and made for ``fingerprint``; otherwise ``None`` (and a
    stale or unreadable state directory is removed, with a note, so the run restarts cleanly)."""
    from safetensors.torch import load_file

    if not directory.exists():
        return None
    try:
        meta = json.loads((directory / META).read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise ValueError(f"format is not {FORMAT}")
        if meta.get("fingerprint") != fingerprint:
            print(f"note: {directory} was written for other settings or data; restarting training from scratch")
            shutil.rmtree(directory, ignore_errors=True)
            return None
        tensors = load_file(str(directory / TENSORS))
    except Exception as e:  # noqa: BLE001 - any unreadable state means: start over
        print(f"note: discarding the unreadable training state {directory} ({type(e).__name__}: {e}); "
              "restarting training from scratch")
        shutil.rmtree(directory, ignore_errors=True)
        return None
    return tensors, meta


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Split ``opt.state_dict()`` into tensors (``optim/<param>/<key>``) and the JSON-able rest."""
    sd = opt.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, st in sd["state"].items():
        for key, v in st.items():
            if isinstance(v, Tensor):
                tensors[f"optim/{pid}/{key}"] = v
            else:
                scalars.setdefault(str(pid), {})[key] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, v in tensors.items():
        if name.startswith("optim/"):
            _, pid, key = name.split("/", 2)
            state.setdefault(int(pid), {})[key] = v
    for pid, rest in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(rest)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


__all__ = ["save_state", "load_state", "optimizer_tensors", "load_optimizer"]
