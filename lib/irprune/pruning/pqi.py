"""PQ Index (Diao et al., 2023, "Pruning Deep Neural Networks from a Sparsity Perspective", ICLR) and the log.

For ``w`` in R^d and ``0 < p < q``:  ``I_{p,q}(w) = 1 - d^(1/q - 1/p) * ||w||_p / ||w||_q``  (their Eq. 1).
``I`` is 0 for a constant-magnitude vector and ``1 - d^(1/q-1/p)`` for a one-hot one; larger = sparser.  As in the
authors' code (``src/modules/sparsity_index.py``), ``d`` counts the *remaining* (unmasked) weights when a mask is
given.  The all-zero vector has no defined index; we return 0.0.

Every index this project logs or reports (the cells' ``pqi`` column, :class:`PruningLog`, the PQ Index figure) uses
SAP's own ``(p, q) = (0.5, 1)`` (:data:`PQI_P`, :data:`PQI_Q`; the reference's ``si-0.5-1-0-1`` runs), the same
index SAP's rounds are driven by (:mod:`irprune.pruning.sap`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..io import atomic_write_json
from .prunable import effective_named_tensors

#: The PQ Index's (p, q): SAP's (Diao et al. 2023, Algorithm 1 as run by the authors' code).
PQI_P: float = 0.5
PQI_Q: float = 1.0


def _norm(x: torch.Tensor, p: float) -> float:
    return float(torch.linalg.vector_norm(x, ord=p))


def pq_index(w: torch.Tensor, p: float = PQI_P, q: float = PQI_Q, keep: torch.Tensor | None = None) -> float:
    """``I_{p,q}(w)`` over the entries kept by ``keep`` (all entries if None), computed in float64."""
    if not 0 < p < q:
        raise ValueError(f"PQ Index needs 0 < p < q, got p={p}, q={q}")
    x = w.detach().to(torch.float64).flatten()
    if keep is not None:
        x = x[keep.flatten().to(x.device)]
    d = x.numel()
    if d == 0:
        return 0.0
    nq = _norm(x, q)
    if nq == 0.0:
        return 0.0
    return 1.0 - d ** (1.0 / q - 1.0 / p) * _norm(x, p) / nq


def pqi_per_tensor(model: nn.Module, mask: Mapping[str, torch.Tensor], p: float = PQI_P,
                   q: float = PQI_Q) -> dict[str, float]:
    """PQ Index of each masked tensor's kept weights (effective weights of ``model``)."""
    eff = dict(effective_named_tensors(model))
    return {n: pq_index(eff[n], p, q, keep) for n, keep in mask.items()}


def pqi_global(model: nn.Module, mask: Mapping[str, torch.Tensor], p: float = PQI_P, q: float = PQI_Q) -> float:
    """PQ Index of all kept prunable weights concatenated (the paper's 'global' scope)."""
    eff = dict(effective_named_tensors(model))
    parts = [eff[n].detach().to(torch.float64).flatten()[k.flatten().to(eff[n].device)] for n, k in mask.items()]
    return pq_index(torch.cat(parts), p, q) if parts else 0.0


class PruningLog:
    """Records, at every mask update of every method, the sparsity and PQ Index per tensor and overall.

    :func:`irprune.pruning.apply.apply_mask` calls :meth:`record` when given a log; ``save`` writes JSON.
    """

    def __init__(self, p: float = PQI_P, q: float = PQI_Q) -> None:
        self.p, self.q = p, q
        self.entries: list[dict[str, Any]] = []

    def record(self, model: nn.Module, mask: Mapping[str, torch.Tensor], *, method: str = "",
               iteration: int | None = None, step: int | None = None,
               target_sparsity: float | None = None) -> dict[str, Any]:
        numel = sum(k.numel() for k in mask.values())
        kept = sum(int(k.sum()) for k in mask.values())
        entry = {
            "method": method,
            "iteration": len(self.entries) if iteration is None else iteration,
            "step": step,
            "target_sparsity": target_sparsity,
            "sparsity": 1.0 - kept / numel if numel else 0.0,
            "pqi": pqi_global(model, mask, self.p, self.q),
            "per_tensor": {n: {"sparsity": 1.0 - float(k.sum()) / k.numel(), "pqi": v}
                           for (n, k), v in zip(mask.items(), pqi_per_tensor(model, mask, self.p, self.q).values())},
        }
        self.entries.append(entry)
        return entry

    def to_dict(self) -> dict[str, Any]:
        return {"p": self.p, "q": self.q, "entries": self.entries}

    def save(self, path: str | Path) -> None:
        atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "PruningLog":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        log = cls(data["p"], data["q"])
        log.entries = data["entries"]
        return log
