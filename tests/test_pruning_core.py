"""Pruning core: conversions, the shared selection, Mask, parametrizations, fold/save/load, reports."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from irprune.errors import ConfigError, DataFormatError, RegistryError
from irprune.pruning import (Mask, check_sparsity, compression_from_density, compression_ratio,
                             current_mask, density_from_compression, density_from_sparsity, fold, get_scorer,
                             magnitude, masks_from_scores, nonzero_params, plain_state_dict, prunable_parameters,
                             prunable_report, prune_oneshot, save_plain, sparsity_from_compression,
                             sparsity_report)
from test_pruning_helpers import mlp, tiny_conv, tiny_encoder


# -- conversions ------------------------------------------------------------------------------------------------
def test_conversions() -> None:
    assert density_from_sparsity(0.9) == pytest.approx(0.1)
    for c, kept in ((0.5, 0.31622776601683794), (1.0, 0.1), (2.0, 0.01)):
        assert density_from_compression(c) == pytest.approx(kept)
        assert compression_from_density(kept) == pytest.approx(c)
        assert sparsity_from_compression(c) == pytest.approx(1 - kept)
    assert compression_ratio(0.1) == pytest.approx(10.0)
    assert compression_ratio(density_from_compression(2.0)) == pytest.approx(100.0)


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, float("nan")])
def test_sparsity_out_of_range_names_value_and_range(bad: float) -> None:
    with pytest.raises(ConfigError, match=r"0 <= sparsity < 1"):
        check_sparsity(bad)
    model = mlp()
    with pytest.raises(ConfigError, match=r"sparsity = "):
        prune_oneshot(model, "magnitude", bad)


def test_unknown_method_lists_valid_names() -> None:
    with pytest.raises(RegistryError, match=r"unknown pruning scorer 'l0'.*grasp.*magnitude.*random.*snip.*synflow"):
        get_scorer("l0")


# -- prunable selection -----------------------------------------------------------------------------------------
def test_prunable_parameters_by_kind_weights_only() -> None:
    conv = tiny_conv()
    assert list(prunable_parameters(conv)) == ["c1.weight", "c2.weight", "fc.weight"]
    assert list(prunable_parameters(conv, include=("conv",))) == ["c1.weight", "c2.weight"]
    assert list(prunable_parameters(conv, exclude_names=("fc.*",))) == ["c1.weight", "c2.weight"]
    enc = tiny_encoder()  # MultiheadAttention's in_proj_weight is not a Linear module: not chosen
    assert list(prunable_parameters(enc)) == ["self_attn.in_proj_weight", "self_attn.out_proj.weight",
                                               "linear1.weight", "linear2.weight"]
    emb = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 2))
    assert list(prunable_parameters(emb)) == ["0.weight", "1.weight"]
    assert list(prunable_parameters(emb, include=("linear",))) == ["1.weight"]
    rep = prunable_report(conv, prunable_parameters(conv))
    assert rep["prunable_params"] == 4 * 9 + 5 * 4 * 2 + 15
    assert rep["total_params"] == sum(p.numel() for p in conv.parameters())
    with pytest.raises(ConfigError, match="unknown kind"):
        prunable_parameters(conv, include=("lstm",))
    with pytest.raises(ConfigError, match="no prunable tensors"):
        prunable_parameters(conv, include=("embedding",))


def test_tied_weights_counted_once() -> None:
    emb = nn.Embedding(10, 4)
    head = nn.Linear(4, 10, bias=False)
    head.weight = emb.weight
    assert list(prunable_parameters(nn.ModuleDict({"emb": emb, "head": head}))) == ["emb.weight"]


# -- the shared selection ---------------------------------------------------------------------------------------
def _random_scores(seed: int = 0, ties: bool = False) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shapes = {"a": (7, 13), "b": (5,), "c": (3, 4, 6)}
    out = {}
    for n, s in shapes.items():
        t = torch.randn(s, generator=g)
        out[n] = t.round() if ties else t
    return out


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("sparsity", [0.0, 0.13, 0.5, 0.77, 0.99])
def test_global_exact_count_and_separation(sparsity: float, ties: bool) -> None:
    scores = _random_scores(ties=ties)
    mask = masks_from_scores(scores, sparsity, scope="global")
    n = sum(s.numel() for s in scores.values())
    assert abs(mask.num_pruned - sparsity * n) <= 1
    kept = torch.cat([s[mask[k]] for k, s in scores.items()])
    pruned = torch.cat([s[~mask[k]] for k, s in scores.items()])
    if kept.numel() and pruned.numel():
        assert kept.min() >= pruned.max()


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.5, 0.9])
def test_layerwise_exact_count_and_separation(sparsity: float, ties: bool) -> None:
    scores = _random_scores(ties=ties)
    mask = masks_from_scores(scores, sparsity, scope="layerwise")
    for k, s in scores.items():
        assert abs(int((~mask[k]).sum()) - sparsity * s.numel()) <= 1
        if mask[k].any() and (~mask[k]).any():
            assert s[mask[k]].min() >= s[~mask[k]].max()


def test_masks_only_shrink_and_previous_pruned_stay_pruned() -> None:
    scores = _random_scores()
    m1 = masks_from_scores(scores, 0.4, scope="global")
    new_scores = _random_scores(seed=1)  # different ranking: previously pruned weights would now be kept
    m2 = masks_from_scores(new_scores, 0.6, scope="global", current=m1)
    assert m2.is_subset_of(m1) and not m1.is_subset_of(m2)
    assert abs(m2.sparsity - 0.6) * m2.numel <= 1
    m3 = masks_from_scores(new_scores, 0.2, scope="layerwise", current=m2)  # lower target: nothing revives
    assert m3 == m2


def test_selection_rejects_nan_and_mismatched_current() -> None:
    with pytest.raises(ValueError, match="'a' contains NaN"):
        masks_from_scores({"a": torch.tensor([1.0, float("nan")])}, 0.5)
    with pytest.raises(DataFormatError, match="'a' has shape"):
        masks_from_scores({"a": torch.ones(4)}, 0.5, current={"a": torch.ones(5, dtype=torch.bool)})
    with pytest.raises(ConfigError, match="scope"):
        masks_from_scores({"a": torch.ones(4)}, 0.5, scope="per-neuron")  # type: ignore[arg-type]


# -- Mask -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_mask_save_load_roundtrip_and_validation(tmp_path, suffix: str) -> None:
    model = mlp()
    pr = prunable_parameters(model)
    mask = masks_from_scores(magnitude(model, pr), 0.6)
    path = tmp_path / f"mask{suffix}"
    mask.save(path)
    back = Mask.load(path, reference=pr)
    assert back == mask and back.sparsity == pytest.approx(mask.sparsity)
    assert mask.density == pytest.approx(1 - mask.sparsity)
    assert [r["name"] for r in mask.report()] == list(pr)
    other = prunable_parameters(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 7), nn.ReLU(),
                                              nn.Linear(7, 3)))
    with pytest.raises(DataFormatError, match=r"mask\.\w+.*'2\.weight' has shape \[12, 16\].*\[7, 16\]"):
        Mask.load(path, reference=other)
    with pytest.raises(DataFormatError, match="no entry for prunable tensor '0.weight'"):
        Mask({"2.weight": mask["2.weight"], "4.weight": mask["4.weight"]}).validate(pr)
    with pytest.raises(DataFormatError, match="'9.weight' is not a prunable tensor"):
        Mask({**mask, "9.weight": torch.ones(2, dtype=torch.bool)}).validate(pr)


# -- parametrizations, AdamW, fold, save/load ------------------------------------------------------------------
@pytest.mark.parametrize("factory,shape", [(mlp, (6, 8)), (tiny_conv, (6, 1, 6, 7)), (tiny_encoder, (6, 5, 16))])
def test_masked_weights_stay_zero_through_adamw_and_fold_roundtrip(tmp_path, factory, shape) -> None:
    model = factory()
    pr = prunable_parameters(model)
    mask = prune_oneshot(model, "magnitude", 0.7, scope="global", prunable=pr)
    assert set(plain_state_dict(model)) == set(factory().state_dict())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    torch.manual_seed(1)
    x = torch.randn(shape)
    for _ in range(5):
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
    for name, keep in mask.items():
        owner, _, attr = name.rpartition(".")
        w = getattr(model.get_submodule(owner), attr)
        assert torch.all(w[~keep] == 0) and torch.all(pr[name][~keep] == 0)
        assert torch.count_nonzero(w[keep]) == int(keep.sum())  # kept weights are live
    rep = sparsity_report(model, target=0.7)
    assert abs(rep["sparsity"] - 0.7) * rep["prunable_params"] <= 1
    with torch.no_grad():
        y = model(x)
    save_plain(model, tmp_path / "m.safetensors")
    fold(model)
    assert current_mask(model) == Mask({})
    fresh = factory(seed=5)
    assert set(model.state_dict()) == set(fresh.state_dict())
    from safetensors.torch import load_file

    fresh.load_state_dict(load_file(str(tmp_path / "m.safetensors")), strict=True)
    fresh.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.allclose(fresh(x), y, atol=1e-6)
    for name, keep in mask.items():
        owner, _, attr = name.rpartition(".")
        assert torch.all(getattr(fresh.get_submodule(owner), attr)[~keep] == 0)


def test_nonzero_params_and_report() -> None:
    model = mlp()
    total = sum(p.numel() for p in model.parameters())
    assert nonzero_params(model) == total
    mask = prune_oneshot(model, "magnitude", 0.5, scope="layerwise")
    assert nonzero_params(model) == total - mask.num_pruned
    rep = sparsity_report(model, target=0.5)
    assert rep["nonzero_params"] == nonzero_params(model) and rep["total_params"] == total
    for row in rep["tensors"]:
        assert row["sparsity"] == pytest.approx(row["mask_sparsity"])
        assert abs(row["sparsity"] - 0.5) * row["numel"] <= 0.5 + 1e-9
    assert math.isclose(rep["deviation"], rep["sparsity"] - 0.5)


def test_folding_a_deep_copy_leaves_the_masked_original_working() -> None:
    import copy

    model = mlp()
    mask = prune_oneshot(model, "magnitude", 0.5, scope="global", prunable=prunable_parameters(model))
    x = torch.randn(6, 8)
    with torch.no_grad():
        y = model(x)
    clone = fold(copy.deepcopy(model))
    assert current_mask(clone) == Mask({})
    with torch.no_grad():
        assert torch.allclose(model(x), y) and torch.allclose(clone(x), y)
    assert current_mask(model) == mask
