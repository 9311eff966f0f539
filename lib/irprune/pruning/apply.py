"""Applying masks as ``torch.nn.utils.parametrize`` parametrizations; folding them away; plain checkpoints.

Design (after torch ``torch/ao/pruning/sparsifier`` ``FakeSparsity``): each masked weight becomes
``weight = original.masked_fill(pruned, 0)``.  The forward pass therefore sees exact zeros whatever the optimizer
does to ``original`` (AdamW's decoupled weight decay and momentum included), and gradients at pruned positions are
exactly zero.  The boolean ``pruned`` buffer is *non-persistent*, so the only state_dict change while masked is
``<module>.parametrizations.weight.original``; :func:`fold` removes the parametrizations and leaves plain weights
with zeros, and :func:`plain_state_dict` gives the folded state_dict without touching the model.  The extra cost
is one ``masked_fill`` per masked tensor per forward and backward (measured by
``benchmarks/bench_masked_step.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from ..errors import DataFormatError
from ..io import atomic_write_bytes
from .mask import Mask
from .prunable import effective_named_tensors, module_and_attr, raw_weight

if TYPE_CHECKING:
    from .pqi import PruningLog

_ORIG = ".parametrizations.{attr}.original"


class MaskParametrization(nn.Module):
    """``W -> W.masked_fill(pruned, 0)``; ``pruned`` is a non-persistent bool buffer (``~keep``)."""

    def __init__(self, keep: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("pruned", ~keep.to(torch.bool), persistent=False)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return w.masked_fill(self.pruned, 0)


def _mask_param(module: nn.Module, attr: str) -> MaskParametrization | None:
    if not parametrize.is_parametrized(module, attr):
        return None
    plist = module.parametrizations[attr]  # type: ignore[index]
    for p in plist:
        if isinstance(p, MaskParametrization):
            return p
    return None


def apply_mask(model: nn.Module, mask: Mapping[str, torch.Tensor], *, log: "PruningLog | None" = None,
               method: str = "", iteration: int | None = None, step: int | None = None,
               target_sparsity: float | None = None) -> None:
    """Install (or update) the mask parametrization on every tensor of ``mask`` and zero its pruned originals.

    If ``log`` is given, the update is recorded there (sparsity and PQ Index per tensor and overall).
    """
    for name, keep in mask.items():
        module, attr = module_and_attr(model, name)
        w = raw_weight(module, attr)
        if tuple(keep.shape) != tuple(w.shape):
            raise DataFormatError(f"mask tensor {name!r} has shape {list(keep.shape)} but the model's is "
                                  f"{list(w.shape)}", fix="use a mask made for this model")
        keep_d = keep.to(device=w.device, dtype=torch.bool)
        p = _mask_param(module, attr)
        if p is None:
            parametrize.register_parametrization(module, attr, MaskParametrization(keep_d))
        else:
            p.pruned.copy_(~keep_d)
        with torch.no_grad():
            raw_weight(module, attr).masked_fill_(~keep_d, 0)
    if log is not None:
        log.record(model, Mask(mask) if not isinstance(mask, Mask) else mask, method=method,
                   iteration=iteration, step=step, target_sparsity=target_sparsity)


def current_mask(model: nn.Module) -> Mask:
    """The installed masks, keyed by plain names (empty if none)."""
    out: dict[str, torch.Tensor] = {}
    for mname, module in model.named_modules():
        if not parametrize.is_parametrized(module):
            continue
        for attr in module.parametrizations.keys():  # type: ignore[union-attr]
            p = _mask_param(module, attr)
            if p is not None:
                out[f"{mname}.{attr}" if mname else attr] = ~p.pruned
    return Mask(out)


def fold(model: nn.Module) -> nn.Module:
    """Remove every mask parametrization in place, leaving plain weights with exact zeros; returns ``model``."""
    for module in list(model.modules()):
        if not parametrize.is_parametrized(module):
            continue
        # torch's remove_parametrizations deletes the property from the module's generated class; a deep copy
        # of a masked model shares that class with the original, so give this module a class of its own first.
        cls = module.__class__
        module.__class__ = type(cls.__name__, cls.__bases__, dict(cls.__dict__))
        for attr in list(module.parametrizations.keys()):  # type: ignore[union-attr]
            if _mask_param(module, attr) is None:
                continue
            if len(module.parametrizations[attr]) != 1:  # type: ignore[index]
                raise RuntimeError(f"{type(module).__name__}.{attr} has other parametrizations besides the mask; "
                                   "remove them before fold()")
            parametrize.remove_parametrizations(module, attr, leave_parametrized=True)
    return model


def plain_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state_dict the folded model would have (masked weights zeroed), without modifying ``model``."""
    sd = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if ".parametrizations." in key and key.endswith(".original"):
            prefix, _, rest = key.partition(".parametrizations.")
            attr = rest[: -len(".original")]
            module, _ = module_and_attr(model, f"{prefix}.{attr}")
            out[f"{prefix}.{attr}"] = getattr(module, attr).detach().clone()
        elif key.startswith("parametrizations.") and key.endswith(".original"):
            attr = key[len("parametrizations."): -len(".original")]
            out[attr] = getattr(model, attr).detach().clone()
        else:
            out[key] = value.detach().clone()
    return out


def load_plain_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], strict: bool = True) -> None:
    """Load a plain (folded) state_dict into a possibly-masked model; pruned positions are re-zeroed."""
    mapped: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        prefix, _, attr = key.rpartition(".")
        try:
            module = model.get_submodule(prefix) if prefix else model
        except AttributeError:
            mapped[key] = value
            continue
        if parametrize.is_parametrized(module, attr):
            mapped[(prefix + "." if prefix else "") + f"parametrizations.{attr}.original"] = value
        else:
            mapped[key] = value
    model.load_state_dict(mapped, strict=strict)
    mask = current_mask(model)
    if len(mask):
        apply_mask(model, mask)


def save_plain(model: nn.Module, path: str | Path) -> None:
    """Save the folded weights (``.safetensors`` or ``.pt``) atomically; loads into the ordinary model class."""
    path = Path(path)
    sd = {k: v.contiguous().clone() for k, v in plain_state_dict(model).items()}
    if path.suffix == ".safetensors":
        from safetensors.torch import save

        atomic_write_bytes(path, save(sd))
    elif path.suffix == ".pt":
        from ..io import atomic_open

        with atomic_open(path, "wb") as fh:
            torch.save(sd, fh)
    else:
        raise ValueError(f"{path}: unknown checkpoint suffix {path.suffix!r}; use .safetensors or .pt")


def sparsity_report(model: nn.Module, mask: Mapping[str, torch.Tensor] | None = None,
                    target: float | None = None) -> dict[str, Any]:
    """Achieved sparsity (actual zeros of the effective weights) per masked tensor and overall, vs ``target``.

    ``mask`` defaults to the installed one.  Also reports the model's non-zero and total parameter counts.
    """
    mask = current_mask(model) if mask is None else mask
    eff = dict(effective_named_tensors(model))
    rows = []
    zeros = total = 0
    with torch.no_grad():
        for name, keep in mask.items():
            t = eff[name]
            z = int(t.numel() - torch.count_nonzero(t))
            rows.append({"name": name, "numel": t.numel(), "zeros": z, "sparsity": z / t.numel(),
                         "mask_sparsity": 1.0 - float(keep.sum()) / keep.numel()})
            zeros += z
            total += t.numel()
        nonzero = int(sum(int(torch.count_nonzero(t)) for t in eff.values()))
        n_all = sum(t.numel() for t in eff.values())
    overall = zeros / total if total else 0.0
    return {"tensors": rows, "sparsity": overall, "target": target,
            "deviation": None if target is None else overall - target,
            "prunable_params": total, "nonzero_params": nonzero, "total_params": n_all}
