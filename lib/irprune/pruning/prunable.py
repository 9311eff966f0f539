"""Which tensors are prunable: chosen explicitly by module type, weights only.

``linear`` = ``nn.Linear``, transformers' GPT-style ``Conv1D`` and the q/k/v input projections of
``nn.MultiheadAttention``; ``conv`` = ``nn.Conv1d``/``nn.Conv2d``;
``embedding`` = ``nn.Embedding``.  Biases, LayerNorm/BatchNorm and every other parameter are never prunable.
Names are the *plain* names (``layer.0.weight``) even when a mask parametrization is installed.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import Any, Literal

import torch
from torch import nn
from torch.nn.utils import parametrize

from ..errors import ConfigError

Kind = Literal["linear", "conv", "embedding"]
KINDS: tuple[str, ...] = ("linear", "conv", "embedding")


def _kind(module: nn.Module) -> str | None:
    try:
        from transformers.pytorch_utils import Conv1D as HFConv1D
    except Exception:  # pragma: no cover - transformers is a dependency
        HFConv1D = ()  # type: ignore[assignment]
    if (isinstance(module, (nn.Linear, nn.MultiheadAttention))
            or (HFConv1D and isinstance(module, HFConv1D))):
        return "linear"
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        return "conv"
    if isinstance(module, nn.Embedding):
        return "embedding"
    return None


def _weight_attrs(module: nn.Module) -> tuple[str, ...]:
    """The weight attributes of a prunable module: ``weight``, or the input projections of
    ``nn.MultiheadAttention`` (its output projection is an ``nn.Linear`` submodule, found on its own)."""
    if isinstance(module, nn.MultiheadAttention):
        if module._qkv_same_embed_dim:
            return ("in_proj_weight",)
        return ("q_proj_weight", "k_proj_weight", "v_proj_weight")
    return ("weight",)


def raw_weight(module: nn.Module, attr: str = "weight") -> nn.Parameter:
    """The leaf Parameter behind ``module.<attr>`` (the parametrization's ``original`` when one is installed)."""
    if parametrize.is_parametrized(module, attr):
        return module.parametrizations[attr].original  # type: ignore[index,return-value]
    return getattr(module, attr)


def prunable_parameters(model: nn.Module, include: tuple[str, ...] = KINDS,
                        exclude_names: tuple[str, ...] = ()) -> dict[str, nn.Parameter]:
    """``name -> Parameter`` of the weights of the included module kinds.

    ``include`` lists kinds from ``("linear", "conv", "embedding")``; ``exclude_names`` holds exact names or
    fnmatch patterns (``"classifier.*"``, ``"*.embeddings.*"``), to which the model's own ``never_pruned``
    patterns are added (:attr:`irprune.models.base.Ranker.never_pruned`: score heads no method may touch).  A
    tensor shared by several modules (tied weights) is returned once, under its first name.
    """
    exclude_names = tuple(exclude_names) + tuple(getattr(model, "never_pruned", ()))
    bad = [k for k in include if k not in KINDS]
    if bad:
        raise ConfigError(f"prunable include = {list(include)!r}: unknown kind(s) {bad}; allowed: {list(KINDS)}")
    out: dict[str, nn.Parameter] = {}
    seen: set[int] = set()
    for mname, module in model.named_modules():
        kind = _kind(module)
        if kind is None or kind not in include:
            continue
        for attr in _weight_attrs(module):
            name = f"{mname}.{attr}" if mname else attr
            if any(name == p or fnmatch.fnmatchcase(name, p) for p in exclude_names):
                continue
            w = raw_weight(module, attr)
            if w is None or id(w) in seen:
                continue
            seen.add(id(w))
            out[name] = w
    if not out:
        raise ConfigError(f"no prunable tensors in {type(model).__name__} with include={list(include)} and "
                          f"exclude_names={list(exclude_names)}; include at least one module kind it has")
    return out


def prunable_report(model: nn.Module, prunable: dict[str, nn.Parameter]) -> dict[str, Any]:
    """What was chosen: per-tensor rows plus the totals of prunable and all (unique) parameters."""
    rows = [{"name": n, "shape": list(p.shape), "numel": p.numel()} for n, p in prunable.items()]
    total = sum(p.numel() for p in _unique_parameters(model))
    n_prunable = sum(r["numel"] for r in rows)
    return {"tensors": rows, "prunable_params": n_prunable, "total_params": total,
            "prunable_fraction": n_prunable / total if total else 0.0}


def _unique_parameters(model: nn.Module) -> Iterator[nn.Parameter]:
    seen: set[int] = set()
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            yield p


def module_and_attr(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    """Split a plain parameter name into (owning module, attribute)."""
    mname, _, attr = name.rpartition(".")
    try:
        module = model.get_submodule(mname) if mname else model
    except AttributeError:
        raise KeyError(f"{type(model).__name__} has no module {mname!r} (from tensor name {name!r})") from None
    return module, attr


def effective_named_tensors(model: nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    """Plain name -> the tensor the forward pass uses (masked weight for parametrized tensors), deduplicated."""
    seen: set[int] = set()
    for mname, module in model.named_modules():
        if mname.endswith("parametrizations") or ".parametrizations." in mname:
            continue
        names = list(module._parameters)
        if parametrize.is_parametrized(module):
            names += list(module.parametrizations.keys())  # type: ignore[union-attr]
        for attr in names:
            if attr in module._parameters and module._parameters[attr] is None:
                continue
            key = id(raw_weight(module, attr))
            if key in seen:
                continue
            seen.add(key)
            yield (f"{mname}.{attr}" if mname else attr), getattr(module, attr)


def nonzero_params(model: nn.Module) -> int:
    """Number of non-zero entries among all (unique) parameters, as the forward pass sees them."""
    with torch.no_grad():
        return int(sum(int(torch.count_nonzero(t)) for _, t in effective_named_tensors(model)))
