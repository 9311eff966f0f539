"""Attention-head importance (Michel et al., 2019) and structured head pruning on a tiny local BertModel."""

from __future__ import annotations

import pytest
import torch

from irprune.errors import ConfigError
from irprune.pruning import (HeadPruningConfig, apply_mask, head_importance, heads_to_prune, prune_heads,
                             prune_heads_by_importance, prunable_parameters, masks_from_scores, magnitude, fold)
from test_pruning_helpers import tiny_bert

HIDDEN, HEADS, DH = 32, 4, 8


def _batches(n: int = 3, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 100, (2, 7), generator=g) for _ in range(n)]


def _target() -> torch.Tensor:
    return torch.randn(HIDDEN, generator=torch.Generator().manual_seed(9))


def loss_fn(model, ids: torch.Tensor) -> torch.Tensor:
    return (model(input_ids=ids).last_hidden_state @ _target()).pow(2).mean()


def test_head_importance_equals_independent_context_gradient() -> None:
    model = tiny_bert()
    batches = _batches()
    imp = head_importance(model, batches, loss_fn, normalize=False)
    # independent: dL/dξ_h = Σ ctx_h · dL/dctx_h, ctx = input of each attention output projection
    expected = torch.zeros(2, HEADS)
    for ids in batches:
        ctxs: list[torch.Tensor] = []

        def grab(mod, inp):
            inp[0].retain_grad()
            ctxs.append(inp[0])
        hooks = [layer.attention.output.dense.register_forward_pre_hook(grab) for layer in model.encoder.layer]
        loss_fn(model, ids).backward()
        for h in hooks:
            h.remove()
        for layer, c in enumerate(ctxs):
            prod = (c * c.grad).view(*c.shape[:-1], HEADS, DH).sum(dim=(0, 1, 3))
            expected[layer] += prod.abs()
        model.zero_grad()
    expected /= len(batches)
    assert torch.allclose(imp, expected, rtol=1e-4, atol=1e-8)
    normed = head_importance(model, batches, loss_fn)
    assert torch.allclose(normed, expected / expected.norm(dim=1, keepdim=True), rtol=1e-4)
    assert torch.allclose(normed.norm(dim=1), torch.ones(2))


def test_heads_to_prune_global_lowest_keeps_one_per_layer() -> None:
    imp = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.05, 0.5, 0.6, 0.7]])
    assert heads_to_prune(imp, 0.25) == {0: [0], 1: [0]}
    assert heads_to_prune(imp, 0.375) == {0: [0, 1], 1: [0]}
    assert heads_to_prune(imp, 0.0) == {}
    # 6 of 8: layer 0 may lose at most 3 heads
    assert heads_to_prune(imp, 0.75) == {0: [0, 1, 2], 1: [0, 1, 2]}
    with pytest.raises(ConfigError, match="at most 6 can go"):
        heads_to_prune(imp, 0.9)


def test_structured_pruning_matches_zeroed_heads_and_shrinks_params() -> None:
    ids = _batches(1, seed=3)[0]
    ref = tiny_bert()
    pruned = tiny_bert()
    heads = {0: [1, 3], 1: [2]}
    # independent reference: zero the value rows (and biases) of those heads -> their contexts are exactly zero
    with torch.no_grad():
        for layer, hs in heads.items():
            v = ref.encoder.layer[layer].attention.self.value
            for h in hs:
                v.weight[h * DH:(h + 1) * DH] = 0
                v.bias[h * DH:(h + 1) * DH] = 0
    n_before = sum(p.numel() for p in pruned.parameters())
    prune_heads(pruned, heads)
    n_after = sum(p.numel() for p in pruned.parameters())
    per_head = 3 * (HIDDEN * DH + DH) + HIDDEN * DH  # Q, K, V rows + biases, output projection columns
    assert n_before - n_after == 3 * per_head
    with torch.no_grad():
        a = ref(input_ids=ids).last_hidden_state
        b = pruned(input_ids=ids).last_hidden_state
    assert a.shape == b.shape == (2, 7, HIDDEN)
    assert torch.allclose(a, b, atol=1e-5)
    assert pruned.encoder.layer[0].attention.self.query.out_features == 2 * DH
    assert pruned.config.pruned_heads == {0: [1, 3], 1: [2]}
    prune_heads(pruned, {0: [1]})  # current index 1 in layer 0 is original head 2
    assert pruned.config.pruned_heads[0] == [1, 2, 3]
    with pytest.raises(ConfigError, match="cannot remove"):
        prune_heads(pruned, {0: [0]})


def test_prune_by_importance_end_to_end_and_masked_model_error() -> None:
    model = tiny_bert()
    n_before = sum(p.numel() for p in model.parameters())
    heads = prune_heads_by_importance(model, _batches(), loss_fn, HeadPruningConfig(fraction=0.25))
    assert sum(len(v) for v in heads.values()) == 2
    assert n_before - sum(p.numel() for p in model.parameters()) == 2 * (3 * (HIDDEN * DH + DH) + HIDDEN * DH)
    with torch.no_grad():
        assert model(input_ids=_batches(1)[0]).last_hidden_state.shape == (2, 7, HIDDEN)
    masked = tiny_bert()
    pr = prunable_parameters(masked, include=("linear",))
    apply_mask(masked, masks_from_scores(magnitude(masked, pr), 0.5))
    with pytest.raises(ConfigError, match="fold"):
        prune_heads(masked, {0: [0]})
    fold(masked)
    prune_heads(masked, {0: [0]})
