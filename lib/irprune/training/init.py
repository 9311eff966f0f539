"""Optional initialisations applied to a freshly built ranker before training (``models.<name>.init``).

``identity`` (Conformer-Kernel): the query projection starts as the identity and the 2 -> 1 mix of raw and
contextualised document embeddings as ``[1, 0]``, so training starts from the non-contextual embedding match
(an exact match has cosine 1) and the contextual branch is learned as a residual from zero, as in ReZero
(Bachlechner et al. 2021, "ReZero is All You Need", UAI).  With the default random initialisation the document
vectors of the small CPU model are dominated by the sinusoidal positions and the model does not leave the
uniform-score plateau within the CPU budget.

``residual`` (Conformer-Kernel): ``identity`` plus a zero per-term network, so every score starts at 0 (the loss
at ``ln(1 + n)``) and the weights of the kernels are learned from zero, as the ReZero residuals are.  The term
network reads log soft-TF features (``log(1e-6) = -13.8`` for an empty kernel), so a random start gives scores of
size ~10 whose sign depends on the seed: a seed that weights the exact-match kernel negatively starts far above
``ln(1 + n)`` ranking exact matches last.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..registry import Registry


@dataclass(frozen=True)
class Init:
    models: tuple[str, ...]
    apply: Callable[[nn.Module], None]


def _default(model: nn.Module) -> None:
    pass


def _identity(model: nn.Module) -> None:
    with torch.no_grad():
        proj = model.query_proj                      # type: ignore[attr-defined]
        proj.weight.copy_(torch.eye(proj.weight.shape[0], proj.weight.shape[1]))
        proj.bias.zero_()
        model.mix.weight.copy_(torch.tensor([[1.0, 0.0]]))   # type: ignore[attr-defined]
        model.mix.bias.zero_()                                # type: ignore[attr-defined]


def _residual(model: nn.Module) -> None:
    _identity(model)
    net = model.term_net                             # type: ignore[attr-defined]
    last = net if isinstance(net, nn.Linear) else net[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()


INITS: Registry[Init] = Registry("init")
INITS.add("default", Init(models=("monobert", "conv_knrm", "conformer_kernel"), apply=_default))
INITS.add("identity", Init(models=("conformer_kernel",), apply=_identity))
INITS.add("residual", Init(models=("conformer_kernel",), apply=_residual))


def apply_init(name: str, model: nn.Module) -> nn.Module:
    """Apply the initialisation ``name`` to ``model`` in place; returns it."""
    INITS.get(name).apply(model)
    return model


__all__ = ["INITS", "Init", "apply_init"]
