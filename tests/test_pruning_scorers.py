"""Scorers against independent computations on tiny networks (closed forms, explicit Hessians)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from irprune.errors import ConfigError
from irprune.pruning import (PruningLog, ScoreContext, apply_mask, current_mask, grasp, magnitude,
                             masks_from_scores, prunable_parameters, prune_oneshot, random, shuffle_mask, snip,
                             synflow)
from test_pruning_helpers import mlp, tiny_conv

torch.set_default_dtype(torch.float32)


def two_layer(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4, bias=False), nn.Linear(4, 2, bias=False)).double()


def _data(seed: int = 0, n: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=g, dtype=torch.float64), torch.randn(n, 2, generator=g, dtype=torch.float64)


def mse_ctx(batches) -> ScoreContext:
    return ScoreContext(batches=batches, forward_fn=lambda m, b: m(b[0]),
                        criterion=lambda out, b: 0.5 * (out - b[1]).pow(2).sum())


def test_magnitude_and_random() -> None:
    model = mlp()
    pr = prunable_parameters(model)
    mag = magnitude(model, pr)
    for n, p in pr.items():
        assert torch.equal(mag[n], p.detach().abs())
    r1 = masks_from_scores(random(model, pr, ScoreContext(seed=3)), 0.5)
    r2 = masks_from_scores(random(model, pr, ScoreContext(seed=3)), 0.5)
    r3 = masks_from_scores(random(model, pr, ScoreContext(seed=4)), 0.5)
    assert r1 == r2 and r1 != r3


def test_snip_equals_closed_form_on_linear_net() -> None:
    model = two_layer()
    batches = [_data(0), _data(1)]
    pr = prunable_parameters(model)
    scores = snip(model, pr, mse_ctx(batches))
    W1, W2 = model[0].weight.detach(), model[1].weight.detach()
    g1 = torch.zeros_like(W1)
    g2 = torch.zeros_like(W2)
    for x, y in batches:  # L = 1/2 ||W2 W1 x - y||^2: dL/dW2 = e (W1 x)^T, dL/dW1 = W2^T e x^T
        e = x @ W1.T @ W2.T - y
        g2 += e.T @ (x @ W1.T)
        g1 += W2.T @ e.T @ x
    assert torch.allclose(scores["0.weight"], (g1 * W1).abs(), atol=1e-10)
    assert torch.allclose(scores["1.weight"], (g2 * W2).abs(), atol=1e-10)


def test_grasp_equals_explicit_hessian_and_sign() -> None:
    model = two_layer(1)
    x, _ = _data(2, n=6)
    labels = torch.tensor([0, 1, 1, 0, 1, 0])
    T = 5.0
    ctx = ScoreContext(batches=[(x, labels)], forward_fn=lambda m, b: m(b[0]),
                       criterion=lambda out, b: F.cross_entropy(out, b[1]), grasp_temperature=T)
    pr = prunable_parameters(model)
    scores = grasp(model, pr, ctx)

    W1, W2 = model[0].weight.detach(), model[1].weight.detach()
    theta = torch.cat([W1.flatten(), W2.flatten()])

    def loss(flat: torch.Tensor) -> torch.Tensor:
        a, b = flat[:12].view(4, 3), flat[12:].view(2, 4)
        return F.cross_entropy(x @ a.T @ b.T / T, labels)

    H = torch.autograd.functional.hessian(loss, theta)
    g = torch.autograd.functional.jacobian(loss, theta)
    paper_S = -theta * (H @ g)                          # Wang et al. Eq. 8: remove the highest S
    ours = torch.cat([scores["0.weight"].flatten(), scores["1.weight"].flatten()])
    assert torch.allclose(ours, -paper_S, atol=1e-12)
    mask = masks_from_scores(scores, 0.25)
    removed = torch.cat([(~mask["0.weight"]).flatten(), (~mask["1.weight"]).flatten()])
    assert set(torch.nonzero(removed).flatten().tolist()) == set(torch.topk(paper_S, 5).indices.tolist())


def test_synflow_closed_form_and_restores_weights() -> None:
    model = two_layer(2)
    model[0].weight.data[0, 0] = -abs(model[0].weight.data[0, 0])  # make sure signs matter
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    pr = prunable_parameters(model)
    scores = synflow(model, pr, ScoreContext(forward_ones=lambda m: m(torch.ones(1, 3, dtype=torch.float64))))
    A1, A2 = model[0].weight.detach().abs(), model[1].weight.detach().abs()
    # R = 1ᵀ|W2||W1|1: dR/dW1_ij = (1ᵀ|W2|)_i, dR/dW2_ki = (|W1| 1)_i
    assert torch.allclose(scores["0.weight"], A1 * A2.sum(0)[:, None], atol=1e-12)
    assert torch.allclose(scores["1.weight"], A2 * A1.sum(1)[None, :], atol=1e-12)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    assert model.training


def test_synflow_embedding_scored_via_output_and_bn_restored() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(6, 4), nn.Linear(4, 1, bias=False))
    pr = prunable_parameters(model)
    ids = torch.zeros(1, 3, dtype=torch.long)  # any ids: the embedding acts as 1ᵀ|E|
    scores = synflow(model, pr, ScoreContext(forward_ones=lambda m: m(ids)))
    E, w = model[0].weight.detach(), model[1].weight.detach()[0]
    # R = Σ_t Σ_d |w_d| Σ_v |E_vd|  (3 positions)
    assert torch.allclose(scores["0.weight"], 3 * E.abs() * w.abs()[None, :], atol=1e-6)
    assert torch.allclose(scores["1.weight"][0], 3 * w.abs() * E.abs().sum(0), atol=1e-5)

    conv = tiny_conv()
    conv.bn.running_mean.uniform_(-1, 1)
    before = {k: v.clone() for k, v in conv.state_dict().items()}
    synflow(conv, prunable_parameters(conv), ScoreContext(forward_ones=lambda m: m(torch.ones(1, 1, 6, 7))))
    for k, v in conv.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_data_scorers_require_data() -> None:
    model = mlp()
    pr = prunable_parameters(model)
    with pytest.raises(ConfigError, match="SNIP needs data.*batches"):
        snip(model, pr, ScoreContext())
    with pytest.raises(ConfigError, match="GraSP needs data"):
        prune_oneshot(model, "grasp", 0.5)
    with pytest.raises(ConfigError, match="SynFlow needs ScoreContext.forward_ones"):
        prune_oneshot(model, "synflow", 0.5)


class _MaskRecorder(PruningLog):
    def __init__(self) -> None:
        super().__init__()
        self.masks = []

    def record(self, model, mask, **kw):  # type: ignore[override]
        self.masks.append(mask)
        return super().record(model, mask, **kw)


@pytest.mark.parametrize("scope", ["global", "layerwise"])
def test_iterative_synflow_masks_shrink_and_hit_target(scope: str) -> None:
    model = mlp()
    log = _MaskRecorder()
    mask = prune_oneshot(model, "synflow", 0.9, scope=scope, rounds=6, log=log,
                         ctx=ScoreContext(forward_ones=lambda m: m(torch.ones(1, 8))))
    assert len(log.masks) == 6
    for a, b in zip(log.masks, log.masks[1:]):
        assert b.is_subset_of(a)
    sp = [e["sparsity"] for e in log.entries]
    assert sp == sorted(sp)
    expected = [1 - 0.1 ** (k / 6) for k in range(1, 7)]
    assert sp == pytest.approx(expected, abs=2 / mask.numel if scope == "global" else 0.05)
    if scope == "global":
        assert abs(mask.num_pruned - 0.9 * mask.numel) <= 1
    assert current_mask(model) == mask
    assert all(0.0 <= e["pqi"] < 1.0 for e in log.entries)


def test_shuffled_control_keeps_per_tensor_density_and_is_seeded() -> None:
    model = mlp()
    pr = prunable_parameters(model)
    mask = masks_from_scores(magnitude(model, pr), 0.8, scope="global")
    s1, s2, s3 = shuffle_mask(mask, 7), shuffle_mask(mask, 7), shuffle_mask(mask, 8)
    assert s1 == s2 and s1 != s3 and s1 != mask
    for n in mask:
        assert int(s1[n].sum()) == int(mask[n].sum())
    apply_mask(model, s1)
    assert current_mask(model) == s1


def test_snip_on_masked_model_keeps_pruned_pruned() -> None:
    model = mlp()
    torch.manual_seed(0)
    batch = (torch.randn(10, 8), torch.randint(0, 3, (10,)))
    ctx = ScoreContext(batches=[batch], forward_fn=lambda m, b: m(b[0]),
                       criterion=lambda out, b: F.cross_entropy(out, b[1]))
    m1 = prune_oneshot(model, "magnitude", 0.5)
    m2 = prune_oneshot(model, "snip", 0.8, ctx=ctx)
    assert m2.is_subset_of(m1) and abs(m2.num_pruned - 0.8 * m2.numel) <= 1
