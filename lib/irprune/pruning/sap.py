"""Sparsity-informed Adaptive Pruning (SAP; Diao et al., 2023, "Pruning Deep Neural Networks from a Sparsity
Perspective", ICLR, Algorithm 1), following the authors' code
(diaoenmao/Pruning-Deep-Neural-Networks-from-a-Sparsity-Perspective, ``src/modules/compression.py``).

Per round, with ``d`` the number of remaining weights in the scope and ``I = I_{p,q}`` their PQ Index:

    M = ceil( d * (1 + η_r)^(-q/(q-p)) * (1 - I)^(q p/(q-p)) )       (lower bound on the kept weights)
    r = floor( d * clip(γ * (1 - M/d), 0, β) )                        (weights to prune this round)

and the ``r`` remaining weights of smallest magnitude are pruned; the survivors are rewound (the reference
resets them to the initial weights, like the lottery ticket driver).  The reference's defaults: ``p=0.5, q=1,
η_r=0, γ=1`` (its ``si-0.5-1-0-1`` runs; ``si-1-2-0-1`` also appears) and ``β = 0.9``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Literal

import torch
from torch import nn

from ..config import frozen, param
from ..errors import ConfigError
from .apply import apply_mask, current_mask, load_plain_state_dict
from .mask import Mask
from .pqi import PQI_P, PQI_Q, PruningLog, pq_index
from .prunable import prunable_parameters
from .scorers import magnitude
from .select import masks_from_scores


@frozen
class SAPConfig:
    rounds: int = param(5, ge=1)
    p: float = param(PQI_P, gt=0.0)
    q: float = param(PQI_Q, gt=0.0)
    eta_r: float = param(0.0, ge=0.0, doc="η_r, slack of the kept-weights bound")
    gamma: float = param(1.0, gt=0.0, doc="γ, scales the pruning ratio")
    beta: float = param(0.9, gt=0.0, lt=1.0, doc="β, cap of the per-round pruning ratio")
    scope: Literal["global", "layerwise"] = param("global")

    def validate(self) -> None:
        if not self.p < self.q:
            raise ConfigError(f"sap.p = {self.p} and sap.q = {self.q}: expected p < q (PQ Index needs 0 < p < q)")


def sap_num_prune(pqi: float, d: int, *, p: float, q: float, eta_r: float, gamma: float, beta: float) -> int:
    """Algorithm 1's ``r`` for ``d`` remaining weights with PQ Index ``pqi`` (see the module docstring)."""
    if d <= 0:
        return 0
    m = d * (1.0 + eta_r) ** (-q / (q - p)) * max(1.0 - pqi, 0.0) ** (q * p / (q - p))
    m = math.ceil(m * (1.0 - 1e-12))  # guard ceil against float noise (e.g. 4.000000000001)
    ratio = min(max(gamma * (1.0 - m / d), 0.0), beta)
    return int(math.floor(d * ratio * (1.0 + 1e-12)))


def sap_prune(model: nn.Module, train_fn: Callable[[nn.Module], object], cfg: SAPConfig,
              rewind_state: Mapping[str, torch.Tensor] | None = None, *,
              prunable: Mapping[str, nn.Parameter] | None = None, log: PruningLog | None = None,
              target_sparsity: float | None = None) -> Mask:
    """Run up to ``cfg.rounds`` SAP rounds: ``train_fn(model)``, prune ``r`` by magnitude, rewind to
    ``rewind_state`` (if given).  With ``target_sparsity`` each round's sparsity is capped at it (overall for the
    global scope, per tensor for the layerwise one) and the rounds stop once it is reached.  Returns the final mask;
    the model is left masked (and rewound), ready for final training."""
    cfg.validate()
    prunable = dict(prunable_parameters(model) if prunable is None else prunable)
    installed = current_mask(model)
    mask = Mask({n: installed[n] for n in prunable}) if set(prunable) <= set(installed) else Mask.ones_like(prunable)
    kw = dict(p=cfg.p, q=cfg.q, eta_r=cfg.eta_r, gamma=cfg.gamma, beta=cfg.beta)
    cap = 1.0 if target_sparsity is None else float(target_sparsity)
    for r_idx in range(1, cfg.rounds + 1):
        train_fn(model)
        scores = magnitude(model, prunable)
        if cfg.scope == "global":
            kept = torch.cat([p.detach().flatten()[mask[n].flatten()] for n, p in prunable.items()])
            d = kept.numel()
            r = sap_num_prune(pq_index(kept, cfg.p, cfg.q), d, **kw)
            target: float | dict[str, float] = min(cap, (mask.num_pruned + r) / mask.numel)
            mask = masks_from_scores(scores, min(target, 1.0 - 1.0 / mask.numel), scope="global", current=mask)
            reached = target >= cap
        else:
            per = {}
            for n, p in prunable.items():
                d = int(mask[n].sum())
                r = sap_num_prune(pq_index(p, cfg.p, cfg.q, mask[n]), d, **kw)
                per[n] = min(cap, (mask[n].numel() - d + r) / mask[n].numel(), 1.0 - 1.0 / mask[n].numel())
            target = per
            reached = all(t >= cap for t in per.values())
            mask = masks_from_scores(scores, per, scope="layerwise", current=mask)
        apply_mask(model, mask, log=log, method="sap", iteration=r_idx,
                   target_sparsity=target if isinstance(target, float) else mask.sparsity)
        if rewind_state is not None:
            load_plain_state_dict(model, rewind_state)
        if reached:
            break
    return mask
