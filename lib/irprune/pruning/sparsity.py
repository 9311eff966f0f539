"""Sparsity, density and compression conversions, and what a results row's sparsity covers: the ONE place they
are defined.

"Sparsity" in this project is always the fraction of prunable weights that are zero; "density" is the kept
fraction, ``density = 1 - sparsity``.  Synaptic-Flow (``Experiments/singleshot.py``) calls the kept fraction
"sparsity" and the GraSP/SynFlow papers quote *compression* ``c`` with ``density = 10**(-c)`` (so c = 0.5, 1, 2
keep 31.6%, 10%, 1%); the *compression ratio* is ``1 / density`` (a 10x ratio keeps 10%).

The share of *all* parameters a sparsity covers is a separate number (:func:`sparsity_columns`): Conv-KNRM's
frozen word embeddings are most of its parameters and neither trained nor pruned, so 90% sparsity of its prunable
weights zeroes a few percent of the model.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from ..errors import ConfigError


def check_sparsity(value: float, name: str = "sparsity") -> float:
    """Return ``value`` as a float if ``0 <= value < 1``; otherwise raise :class:`ConfigError` naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(float(value)) \
            or not 0.0 <= float(value) < 1.0:
        raise ConfigError(f"{name} = {value!r} is out of range; expected a number with 0 <= {name} < 1 "
                          "(the fraction of prunable weights that are zero; 1 would remove every weight)")
    return float(value)


def density_from_sparsity(sparsity: float) -> float:
    """``density = 1 - sparsity``."""
    return 1.0 - check_sparsity(sparsity)


def sparsity_from_density(density: float) -> float:
    """``sparsity = 1 - density`` for ``0 < density <= 1``."""
    if not 0.0 < density <= 1.0:
        raise ConfigError(f"density = {density!r} is out of range; expected 0 < density <= 1")
    return 1.0 - density


def density_from_compression(compression: float) -> float:
    """GraSP/SynFlow compression notation: ``density = 10**(-compression)`` for ``compression >= 0``."""
    if compression < 0 or math.isnan(compression):
        raise ConfigError(f"compression = {compression!r} is out of range; expected compression >= 0 "
                          "(density = 10**-compression)")
    return 10.0 ** (-compression)


def compression_from_density(density: float) -> float:
    """Inverse of :func:`density_from_compression`: ``compression = -log10(density)``."""
    if not 0.0 < density <= 1.0:
        raise ConfigError(f"density = {density!r} is out of range; expected 0 < density <= 1")
    return -math.log10(density)


def sparsity_from_compression(compression: float) -> float:
    """``sparsity = 1 - 10**(-compression)``."""
    return 1.0 - density_from_compression(compression)


def compression_ratio(density: float) -> float:
    """Compression ratio ``1 / density`` (e.g. density 0.1 -> 10x)."""
    if not 0.0 < density <= 1.0:
        raise ConfigError(f"density = {density!r} is out of range; expected 0 < density <= 1")
    return 1.0 / density


def n_to_prune(sparsity: float, n: int) -> int:
    """Number of zeros a tensor group of ``n`` weights has at ``sparsity``: ``round(sparsity * n)`` (half up).

    This is the rounding every mask selection uses, so achieved sparsity is within half a weight of the target.
    """
    return int(math.floor(check_sparsity(sparsity) * n + 0.5))


def sparsity_columns(model: Any, prunable: Mapping[str, Any] | None, *, dense_prunable: int | None = None,
                     dense_total: int | None = None) -> dict[str, Any]:
    """What a results row says its sparsity covers, counted on ``model`` as it is after pruning.

    ``prunable``: ``plain name -> weight`` of the tensors the cell pruned (or could prune; ``None`` where no
    prunable set was chosen).  Zeros are those of the weights the forward pass sees (masks applied).  Returns the
    cell columns ``sparsity_prunable`` (zeros among the prunable weights / ``prunable_params``),
    ``sparsity_all`` (zeros among all parameters / ``total_params``: frozen embeddings, biases and norms are in
    the denominator), ``prunable_params``, ``total_params``, ``prunable_kinds`` (``"conv 3, linear 1"``: tensors
    per module kind) and ``frozen_params`` (``requires_grad`` off and not in ``prunable``: never trained and never
    pruned; a frozen tensor that is prunable, such as monoBERT's word-piece matrix with embeddings included, is
    counted as prunable only).  ``dense_prunable`` / ``dense_total`` are the dense model's counts for methods that
    remove weights (structured pruning): what is gone counts as zero.
    """
    import torch

    from .prunable import _kind, effective_named_tensors, module_and_attr, raw_weight

    tensors = dict(effective_named_tensors(model))
    with torch.no_grad():
        nonzero_all = sum(int(torch.count_nonzero(t)) for t in tensors.values())
        total = sum(t.numel() for t in tensors.values())
        # the model's own leaf parameters behind the prunable names (masked or folded alike)
        pruned_ids = {id(raw_weight(*module_and_attr(model, n))) for n in (prunable or {}) if n in tensors}
        frozen = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values()
                     if not p.requires_grad and id(p) not in pruned_ids)
        out: dict[str, Any] = {"prunable_params": None, "sparsity_prunable": None, "prunable_kinds": None}
        if prunable is not None:
            missing = [n for n in prunable if n not in tensors]
            if missing:
                raise KeyError(f"sparsity_columns: prunable tensor(s) {missing[:3]} are not parameters of "
                               f"{type(model).__name__}; pass the names prunable_parameters returns")
            n_prunable = dense_prunable if dense_prunable is not None else sum(tensors[n].numel() for n in prunable)
            nonzero = sum(int(torch.count_nonzero(tensors[n])) for n in prunable)
            kinds: dict[str, int] = {}
            for name in prunable:
                module = module_and_attr(model, name)[0]
                kind = _kind(module) or ("embedding" if isinstance(module, torch.nn.EmbeddingBag)
                                         else type(module).__name__)
                kinds[kind] = kinds.get(kind, 0) + 1
            out.update(prunable_params=int(n_prunable),
                       sparsity_prunable=(n_prunable - nonzero) / n_prunable if n_prunable else 0.0,
                       prunable_kinds=", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    total = int(dense_total) if dense_total is not None else total
    out.update(total_params=total, sparsity_all=(total - nonzero_all) / total if total else 0.0,
               frozen_params=int(frozen))
    return out
