"""Latency measurement mechanics, CSR Linear equivalence and the flat cost row."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from irprune.config import from_mapping
from irprune.costs import (CSRLinear, CostsConfig, LatencyConfig, count_flops, filler_pairs, measure_costs,
                           measure_latency, sparsify_linears)
from irprune.errors import ConfigError
from irprune.models import build_model
from irprune.pruning import current_mask, nonzero_params, prune_oneshot
from irprune.text import Vocab

CORPUS = ["the quick brown fox jumps over the lazy dog", "neural ranking models re-rank bm25 candidates"]


def test_measure_latency_times_every_call_after_warmup_and_restores_threads() -> None:
    calls: list[int] = []

    def score(b: int) -> None:
        calls.append(b)
        time.sleep(0.004 if b == 1 else 0.001)

    before = torch.get_num_threads()
    r = measure_latency(score, [0, 1], warmup=3, repeats=4, threads=1)
    assert calls[:3] == [0, 1, 0] and len(calls) == 3 + 4 * 2
    assert r.n == 8 and r.threads == 1 and r.device == "cpu"
    assert torch.get_num_threads() == before
    # half the calls sleep 1 ms and half 4 ms: the median lies between, the p90 among the slow ones
    assert 1.0 <= r.median_ms and r.p90_ms >= 4.0 and r.p90_ms >= r.median_ms
    with pytest.raises(ValueError, match="no batches"):
        measure_latency(score, [])


def test_csr_linear_equals_the_dense_layer_on_3d_inputs() -> None:
    torch.manual_seed(0)
    lin = nn.Linear(12, 5)
    with torch.no_grad():
        lin.weight[torch.rand(5, 12) < 0.8] = 0
    x = torch.randn(2, 7, 12)
    torch.testing.assert_close(CSRLinear(lin)(x), lin(x), rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def vocab() -> Vocab:
    return Vocab.build(CORPUS)


def test_sparsify_linears_keeps_scores_and_leaves_the_model_alone(vocab: Vocab) -> None:
    model = build_model("conformer_kernel", {"hidden": 16, "n_heads": 2, "ffn_dim": 16, "term_hidden": 4},
                        vocab, seed=0).eval()
    prune_oneshot(model, "magnitude", 0.8)
    csr, swapped = sparsify_linears(model)
    out_proj = {id(m.out_proj) for m in model.modules() if isinstance(m, nn.MultiheadAttention)}
    linears = [m for m in model.modules() if isinstance(m, nn.Linear) and id(m) not in out_proj]
    assert swapped == len(linears) and swapped > 0
    assert len(current_mask(model)) > 0                                   # original still masked, not folded
    assert not any(type(m) is nn.Linear for m in csr.modules())
    batch = model.collate([("quick fox", "the quick brown fox"), ("bm25", "neural ranking models")])
    with torch.inference_mode():
        torch.testing.assert_close(csr(batch), model(batch), rtol=1e-4, atol=1e-5)
    assert sparsify_linears(model, min_sparsity=0.99)[1] == 0


def test_cost_configs_validate_keys() -> None:
    cfg = from_mapping(CostsConfig, {"doc_len": 32, "latency": {"k": 50, "threads": 2}})
    assert cfg.latency.k == 50 and cfg.latency.repeats == LatencyConfig().repeats
    with pytest.raises(ConfigError, match="latency.k = 0"):
        from_mapping(CostsConfig, {"latency": {"k": 0}})
    with pytest.raises(ConfigError, match="unknown key.*latency.kk"):
        from_mapping(CostsConfig, {"latency": {"kk": 3}})


def test_measure_costs_row_for_a_pruned_conv_knrm(vocab: Vocab) -> None:
    model = build_model("conv_knrm", {"embedding_dim": 16, "n_filters": 8, "max_query_len": 4,
                                      "max_doc_len": 16}, vocab, seed=0)
    prune_oneshot(model, "magnitude", 0.9)
    cfg = from_mapping(CostsConfig, {"latency": {"k": 5, "n_queries": 2, "warmup": 1, "repeats": 1}})
    row = measure_costs(model, cfg)
    flops = count_flops(model, model.collate(filler_pairs(1, 4, 16)))
    assert row["nonzero_params"] == nonzero_params(model)
    assert (row["flops_dense"], row["flops_sparse"]) == (flops.total_dense, flops.total_sparse)
    assert row["flops_sparse_per_query"] == 5 * flops.total_sparse
    assert row["size_sparse_bytes"] < row["size_dense_bytes"]
    assert row["latency_n"] == row["latency_csr_n"] == 2 and row["latency_median_ms"] > 0
    assert row["csr_linear_layers"] == 1 and row["latency_k"] == 5
    assert "latency_median_ms" not in measure_costs(model, from_mapping(CostsConfig, {"measure_latency": False}))
