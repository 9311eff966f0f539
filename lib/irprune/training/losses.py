"""Ranking losses over groups of scores ``[B, 1 + n]`` whose column 0 is the positive (formulas and citations in
:class:`irprune.training.config.TrainConfig`)."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ..registry import Registry

LossFn = Callable[[Tensor, float], Tensor]
LOSSES: Registry[LossFn] = Registry("loss")


@LOSSES.register("listwise")
def listwise(scores: Tensor, margin: float = 1.0) -> Tensor:
    """Softmax cross-entropy of the positive within its group (Gao, Dai & Callan 2021, LCE)."""
    target = torch.zeros(scores.shape[0], dtype=torch.long, device=scores.device)
    return F.cross_entropy(scores, target)


@LOSSES.register("ranknet")
def ranknet(scores: Tensor, margin: float = 1.0) -> Tensor:
    """Mean ``log(1 + exp(s_neg - s_pos))`` over the (positive, negative) pairs (Burges et al. 2005)."""
    return F.softplus(scores[:, 1:] - scores[:, :1]).mean()


@LOSSES.register("hinge")
def hinge(scores: Tensor, margin: float = 1.0) -> Tensor:
    """Mean ``max(0, margin - s_pos + s_neg)`` (Xiong et al. 2017 K-NRM; Dai et al. 2018 Conv-KNRM)."""
    return F.relu(margin - scores[:, :1] + scores[:, 1:]).mean()


def group_loss(name: str, scores: Tensor, margin: float = 1.0) -> Tensor:
    """The loss ``name`` of group scores ``[B, 1 + n]`` (column 0 = positive), computed in fp32."""
    if scores.dim() != 2 or scores.shape[1] < 2:
        raise ValueError(f"group_loss expects scores [B, 1 + n] with n >= 1, got shape {tuple(scores.shape)}")
    return LOSSES.get(name)(scores.float(), margin)


__all__ = ["LOSSES", "group_loss", "listwise", "ranknet", "hinge"]
