"""Schedules, GMP, lottery tickets (IMP), SAP, movement pruning and the PQ Index log."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F

from irprune.config import from_mapping
from irprune.errors import ConfigError
from irprune.pruning import (GMPConfig, GradualPruner, MovementConfig, MovementPruner, PruningLog, SAPConfig,
                             capture_rewind_state, cubic_sparsity, current_mask, exponential_density,
                             imp_sparsity, is_update_step, lottery_ticket, plain_state_dict, pq_index,
                             prunable_parameters, sap_num_prune, sap_prune)
from test_pruning_helpers import mlp


# -- schedules ---------------------------------------------------------------------------------------------------
def test_cubic_schedule_endpoints_and_midpoints() -> None:
    si, sf, t0, end, dt = 0.1, 0.9, 100, 500, 50
    assert cubic_sparsity(99, si, sf, t0, end, dt) == 0.0
    assert cubic_sparsity(t0, si, sf, t0, end, dt) == pytest.approx(si)
    assert cubic_sparsity(end, si, sf, t0, end, dt) == pytest.approx(sf)
    assert cubic_sparsity(10_000, si, sf, t0, end, dt) == pytest.approx(sf)
    # midpoint t = t0 + nΔt/2: s = sf + (si - sf) / 8
    assert cubic_sparsity(300, si, sf, t0, end, dt) == pytest.approx(0.9 - 0.8 / 8)
    # quarter: (1 - 1/4)^3 = 27/64
    assert cubic_sparsity(200, si, sf, t0, end, dt) == pytest.approx(0.9 - 0.8 * 27 / 64)
    # between update steps the last update's value holds
    assert cubic_sparsity(349, si, sf, t0, end, dt) == cubic_sparsity(300, si, sf, t0, end, dt)
    assert [t for t in range(0, 600) if is_update_step(t, t0, end, dt)] == list(range(100, 501, 50))
    with pytest.raises(ConfigError, match="not a multiple of frequency"):
        cubic_sparsity(0, si, sf, 0, 110, 50)
    with pytest.raises(ConfigError, match="gmp.initial_sparsity = 0.5 exceeds"):
        from_mapping(GMPConfig, {"initial_sparsity": 0.5, "sparsity": 0.4}, prefix="gmp")
    with pytest.raises(ConfigError, match=r"gmp.sparsity = 1.0"):
        from_mapping(GMPConfig, {"sparsity": 1.0}, prefix="gmp")


def test_other_schedules() -> None:
    assert exponential_density(1, 4, 0.01) == pytest.approx(0.01 ** 0.25)
    assert exponential_density(4, 4, 0.01) == pytest.approx(0.01)
    assert imp_sparsity(3, 0.2) == pytest.approx(1 - 0.8 ** 3)


# -- training helpers --------------------------------------------------------------------------------------------
def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(32, 8, generator=g), torch.randint(0, 3, (32,), generator=g)


def _train(model, steps: int = 3, lr: float = 1e-2, after_backward=None, after_step=None, start: int = 0) -> int:
    x, y = _data()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    for t in range(start, start + steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        if after_backward:
            after_backward()
        opt.step()
        if after_step:
            after_step(t + 1)
    return start + steps


# -- GMP ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scope", ["layerwise", "global"])
def test_gmp_follows_schedule_and_masks_shrink(scope: str) -> None:
    model = mlp()
    cfg = GMPConfig(initial_sparsity=0.2, sparsity=0.8, start_step=2, end_step=12, frequency=2, scope=scope)
    log = PruningLog()
    gp = GradualPruner(model, cfg, log=log)
    masks = []

    def after_step(t: int) -> None:
        if gp.step(t):
            masks.append(current_mask(model))
    _train(model, steps=16, after_step=after_step)
    assert len(masks) == 6 and [e["step"] for e in log.entries] == [2, 4, 6, 8, 10, 12]
    for a, b in zip(masks, masks[1:]):
        assert b.is_subset_of(a)
    for e, m in zip(log.entries, masks):
        target = cubic_sparsity(e["step"], 0.2, 0.8, 2, 12, 2)
        assert e["target_sparsity"] == pytest.approx(target)
        if scope == "global":
            assert abs(m.num_pruned - target * m.numel) <= 1
        else:
            for n, k in m.items():
                assert abs(int((~k).sum()) - target * k.numel()) <= 1
    # after the end, masked weights are still zero after more training
    _train(model, steps=3)
    for n, k in masks[-1].items():
        assert torch.all(model.get_submodule(n.rpartition(".")[0]).weight[~k] == 0)


# -- lottery tickets --------------------------------------------------------------------------------------------
def test_lottery_ticket_rewinds_and_prunes_rate_of_remaining() -> None:
    model = mlp()
    _train(model, steps=2)                       # rewind point: step k = 2 (Frankle et al. 2020)
    rewind = capture_rewind_state(model)
    log = PruningLog()
    seen = []

    def train_fn(m) -> None:
        _train(m, steps=3)
        seen.append(current_mask(m) if len(current_mask(m)) else None)

    mask = lottery_ticket(model, train_fn, rounds=4, per_round_rate=0.3, rewind_state=rewind, log=log)
    n = mask.numel
    sp = [e["sparsity"] for e in log.entries]
    assert sp == pytest.approx([1 - 0.7 ** r for r in range(1, 5)], abs=1.5 / n)
    masks = [m for m in seen if m is not None] + [mask]
    for a, b in zip(masks, masks[1:]):
        assert b.is_subset_of(a)
    # the unpruned weights equal the rewind state; the pruned ones are zero
    now = plain_state_dict(model)
    for k, v in rewind.items():
        if k in mask:
            assert torch.equal(now[k][mask[k]], v[mask[k]]) and torch.all(now[k][~mask[k]] == 0)
        else:
            assert torch.equal(now[k], v)


# -- PQ Index ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("d", [1, 4, 100])
def test_pq_index_one_hot_and_constant(d: int) -> None:
    one_hot = torch.zeros(d)
    one_hot[d // 2] = -3.0
    assert pq_index(one_hot, 1.0, 2.0) == pytest.approx(1 - d ** -0.5)
    assert pq_index(torch.full((d,), 0.7), 1.0, 2.0) == pytest.approx(0.0, abs=1e-12)
    assert pq_index(torch.full((d,), 0.7) * torch.tensor([(-1) ** i for i in range(d)]), 1.0, 2.0) == \
        pytest.approx(0.0, abs=1e-12)
    # general p, q: one-hot -> 1 - d^(1/q - 1/p); the default is SAP's (0.5, 1)
    assert pq_index(one_hot, 0.5, 1.0) == pq_index(one_hot) == pytest.approx(1 - d ** (1 - 2))


def test_pq_index_by_hand_and_mask() -> None:
    w = torch.tensor([3.0, 4.0, 0.0, 0.0])
    # d = 4: 1 - 4^(-1/2) * 7 / 5
    assert pq_index(w, 1.0, 2.0) == pytest.approx(1 - 0.5 * 7 / 5)
    # only the first two entries kept: d = 2
    assert pq_index(w, 1.0, 2.0, keep=torch.tensor([True, True, False, False])) == \
        pytest.approx(1 - 2 ** -0.5 * 7 / 5)
    # SAP's (0.5, 1): 1 - d^(1 - 2) * ||w||_0.5 / ||w||_1 = 1 - (sqrt 3 + 2)^2 / (4 * 7)
    assert pq_index(w) == pytest.approx(1 - (3 ** 0.5 + 2) ** 2 / 28)
    with pytest.raises(ValueError, match="0 < p < q"):
        pq_index(w, 2.0, 1.0)


def test_pruning_log_json_roundtrip(tmp_path) -> None:
    model = mlp()
    log = PruningLog()
    GradualPruner(model, GMPConfig(initial_sparsity=0.5, sparsity=0.5, start_step=0, end_step=0,
                                   frequency=1), log=log).step(0)
    e = log.entries[0]
    pr = prunable_parameters(model)
    assert set(e["per_tensor"]) == set(pr)
    mask = current_mask(model)
    kept = torch.cat([p.detach().flatten()[mask[n].flatten()] for n, p in pr.items()])
    assert e["pqi"] == pytest.approx(pq_index(kept, 0.5, 1.0))           # logged with SAP's (p, q)
    assert (log.to_dict()["p"], log.to_dict()["q"]) == (0.5, 1.0)
    log.save(tmp_path / "log.json")
    assert json.loads((tmp_path / "log.json").read_text())["entries"][0]["method"] == "gmp"
    assert PruningLog.load(tmp_path / "log.json").entries == json.loads(json.dumps(log.entries))


# -- SAP ---------------------------------------------------------------------------------------------------------
def test_sap_num_prune_by_hand() -> None:
    kw = dict(p=1.0, q=2.0, eta_r=0.0, gamma=1.0, beta=0.9)
    # I = 0 (constant vector): M = d -> r = 0
    assert sap_num_prune(0.0, 100, **kw) == 0
    # one-hot: 1 - I = d^(1/q-1/p) -> M = d * d^-1 = 1 -> r = floor(d * min(1 - 1/d, β)) = floor(0.9 d)
    d = 100
    assert sap_num_prune(1 - d ** (0.5 - 1), d, **kw) == 90
    assert sap_num_prune(1 - d ** (0.5 - 1), d, **{**kw, "beta": 0.999}) == 99
    # η_r > 0 shrinks the bound M by (1 + η)^(-q/(q-p)) = (1.5)^-2
    assert sap_num_prune(0.0, 90, **{**kw, "eta_r": 0.5}) == math.floor(90 * (1 - math.ceil(90 / 2.25) / 90))
    # general case against the formula
    I, d = 0.3, 1000
    for p, q, g in ((1.0, 2.0, 1.0), (0.5, 1.0, 1.0), (1.0, 2.0, 0.5)):
        M = math.ceil(d * (1 - I) ** (q * p / (q - p)))
        assert sap_num_prune(I, d, p=p, q=q, eta_r=0.0, gamma=g, beta=0.9) == math.floor(
            d * min(max(Fraction(g) * (1 - Fraction(M, d)), 0), Fraction(9, 10)))  # exact arithmetic
    with pytest.raises(ConfigError, match="expected p < q"):
        from_mapping(SAPConfig, {"p": 2.0, "q": 1.0}, prefix="sap")


@pytest.mark.parametrize("scope", ["global", "layerwise"])
def test_sap_driver_prunes_formula_count_and_shrinks(scope: str) -> None:
    model = mlp()
    rewind = capture_rewind_state(model)
    cfg = SAPConfig(rounds=3, p=1.0, q=2.0, gamma=1.0, scope=scope)
    log = PruningLog()
    seen = []
    expected = []
    pr = prunable_parameters(model)

    def train_fn(m) -> None:
        _train(m, steps=3)
        mask = current_mask(m)
        seen.append(mask)
        if scope == "global":  # expected count from the formula on the kept weights, computed here
            keep = [mask[n].flatten() if len(mask) else torch.ones(p.numel(), dtype=torch.bool)
                    for n, p in pr.items()]
            kept = torch.cat([p.detach().flatten()[k] for (n, p), k in zip(pr.items(), keep)])
            d = kept.numel()
            x = kept.double().abs()
            I = 1 - d ** (0.5 - 1) * x.sum().item() / x.norm().item()
            M = math.ceil(d * (1 - I) ** 2)
            expected.append(math.floor(d * min(1 - Fraction(M, d), Fraction(9, 10))))  # exact arithmetic

    mask = sap_prune(model, train_fn, cfg, rewind_state=rewind, log=log)
    masks = [m for m in seen[1:]] + [mask]
    for a, b in zip(masks, masks[1:]):
        assert b.is_subset_of(a)
    assert mask.sparsity > 0
    if scope == "global":
        pruned = [round(e["sparsity"] * mask.numel) for e in log.entries]
        assert [b - a for a, b in zip([0] + pruned, pruned)] == expected


@pytest.mark.parametrize("scope", ["global", "layerwise"])
def test_sap_driver_stops_at_the_target_sparsity(scope: str) -> None:
    model = mlp()
    rewind = capture_rewind_state(model)
    log = PruningLog()
    cfg = SAPConfig(rounds=50, p=1.0, q=2.0, beta=0.5, scope=scope)
    calls = []
    mask = sap_prune(model, lambda m: calls.append(1), cfg, rewind_state=rewind, log=log, target_sparsity=0.6)
    assert len(calls) == len(log.entries)
    for e in log.entries:                    # no tensor (layerwise) and no total (global) beyond the target
        if scope == "layerwise":
            assert all(t["sparsity"] <= 0.6 + 1 / mask[n].numel() for n, t in e["per_tensor"].items())
        else:
            assert e["sparsity"] <= 0.6 + 1 / mask.numel
    if scope == "global":                    # reached, then stopped
        assert mask.sparsity == pytest.approx(0.6, abs=0.01) and len(log.entries) < 50
        assert log.entries[-1]["target_sparsity"] == 0.6
        assert [e["target_sparsity"] for e in log.entries] == sorted(e["target_sparsity"] for e in log.entries)


# -- movement ----------------------------------------------------------------------------------------------------
def test_movement_hard_scores_and_schedule() -> None:
    model = mlp()
    cfg = MovementConfig(mode="hard", initial_sparsity=0.0, sparsity=0.75, start_step=2, end_step=6,
                         frequency=2, scope="layerwise", score_lr=1.0)
    mp = MovementPruner(model, cfg)
    pr = prunable_parameters(model)
    manual = {n: torch.zeros_like(p) for n, p in pr.items()}
    masks = []

    def after_backward() -> None:
        for n, p in pr.items():  # S = -Σ_t (∂L/∂W) ⊙ W, computed independently
            manual[n] -= p.grad * p.detach()
        mp.accumulate()

    def after_step(t: int) -> None:
        if mp.step(t):
            masks.append(current_mask(model))
    _train(model, steps=6, after_backward=after_backward, after_step=after_step)
    for n in pr:
        assert torch.allclose(mp.scores[n], manual[n], atol=1e-7)
    assert len(masks) == 3
    for a, b in zip(masks, masks[1:]):
        assert b.is_subset_of(a)
    for n, k in masks[-1].items():
        assert abs(int((~k).sum()) - 0.75 * k.numel()) <= 1
        live = mp.scores[n][k]
        assert live.min() >= mp.scores[n][~k & masks[0][n]].max() if (~k & masks[0][n]).any() else True


def test_movement_soft_threshold_and_calibration() -> None:
    model = mlp()
    cfg = MovementConfig(mode="soft", sparsity=0.85, start_step=2, end_step=4, frequency=2,
                         scope="global", soft_threshold=0.0, soft_lambda=1e-3)
    mp = MovementPruner(model, cfg)
    states = []

    def after_step(t: int) -> None:
        if mp.step(t):
            states.append((current_mask(model), {n: s.clone() for n, s in mp.scores.items()}))
    _train(model, steps=4, after_backward=mp.accumulate, after_step=after_step)
    (m1, s1), (m2, _) = states
    assert 0.2 < m1.sparsity < 0.85  # the threshold rule pruned some, less than the final target
    for n in m1:  # threshold rule at the intermediate update: kept iff S > τ
        assert torch.equal(m1[n], s1[n] > 0.0)
    assert m2.is_subset_of(m1)
    assert abs(m2.num_pruned - 0.85 * m2.numel) <= 1
    for n in m2:
        assert torch.all(mp.scores[n][m2[n]] >= mp.tau)
