"""Device selection and mixed precision: CUDA when present, CPU otherwise; bf16 autocast only on CUDA."""

from __future__ import annotations

import contextlib
from typing import ContextManager, Literal, Mapping

import torch

from ..errors import ConfigError

DevicePref = Literal["auto", "cpu", "cuda"]


def select_device(pref: str = "auto") -> torch.device:
    """``auto`` -> ``cuda`` if available else ``cpu``; asking for ``cuda`` without one is an error."""
    if pref not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"device = {pref!r} is not allowed; expected one of 'auto', 'cpu', 'cuda'")
    if pref == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if pref == "cuda":
        raise ConfigError("device = 'cuda' but no CUDA device is available; set device to 'auto' or 'cpu'")
    return torch.device("cpu")


def autocast(device: torch.device | str) -> ContextManager[object]:
    """bf16 autocast on a CUDA device that supports it; a no-op elsewhere (CPU runs stay fp32)."""
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def move_batch(batch: Mapping[str, torch.Tensor], device: torch.device | str) -> dict[str, torch.Tensor]:
    """Copy every tensor of a collated batch to ``device``."""
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}
