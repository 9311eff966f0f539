"""What a results row's sparsity covers (irprune.pruning.sparsity.sparsity_columns and the cell columns it fills):
the prunable weights and all parameters, counted on the model after pruning, frozen embeddings in the total and
never among the prunable tensors; per-engine latency columns and what timed them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from irprune.cells import schema
from irprune.cells.schema import ADDED_COLUMNS, COLUMNS, ENGINE_NAMES, make_cell, read_cell, validate_cell
from irprune.errors import DataFormatError
from irprune.pruning import fold, prunable_parameters, prune_oneshot
from irprune.pruning.sparsity import sparsity_columns


def _kernel_ranker(freeze: bool = True):
    from irprune.models import build_model
    from irprune.text import Vocab

    words = [f"w{i}" for i in range(400)]                  # a vocabulary large enough that embeddings dominate
    vocab = Vocab.build([" ".join(words), " ".join(reversed(words))])
    return build_model("conv_knrm", {"embedding_dim": 16, "n_filters": 8, "max_query_len": 4, "max_doc_len": 16,
                                     "freeze_embeddings": freeze}, vocab, seed=0)


def _zeros(t: torch.Tensor) -> int:
    return int(t.numel() - torch.count_nonzero(t))


@pytest.mark.parametrize("scope", ["global", "layerwise"])
def test_conv_knrm_frozen_embeddings_count_in_total_but_never_as_prunable(scope: str) -> None:
    model = _kernel_ranker()
    prunable = prunable_parameters(model, ("linear", "conv"))
    prune_oneshot(model, "magnitude", 0.9, scope=scope, prunable=prunable)
    fold(model)
    cols = sparsity_columns(model, prunable_parameters(model, ("linear", "conv")))
    # recount from the plain parameters, independently of the helper
    sd = {k: p.detach() for k, p in model.named_parameters()}
    emb = [k for k, p in model.named_parameters() if not p.requires_grad]
    assert emb and all("embedding" in k for k in emb)              # the frozen tensors are the word embeddings
    weights = [n for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]
    n_prunable = sum(sd[f"{n}.weight"].numel() for n in weights)
    n_total = sum(p.numel() for p in model.parameters())
    assert cols["prunable_params"] == n_prunable and cols["total_params"] == n_total
    assert not set(emb) & set(prunable)
    assert cols["frozen_params"] == sum(sd[k].numel() for k in emb) > n_prunable   # most of the model
    assert cols["sparsity_prunable"] == pytest.approx(sum(_zeros(sd[f"{n}.weight"]) for n in weights) / n_prunable)
    assert abs(cols["sparsity_prunable"] - 0.9) * n_prunable <= len(weights)        # the target, within rounding
    assert cols["sparsity_all"] == pytest.approx(sum(_zeros(v) for v in sd.values()) / n_total)
    # the honest gap: 90% of the prunable weights is a small share of all parameters
    assert cols["sparsity_all"] < 0.9 * n_prunable / n_total + 0.01
    n_conv = sum(isinstance(m, (nn.Conv1d, nn.Conv2d)) for m in model.modules())
    n_lin = sum(isinstance(m, nn.Linear) for m in model.modules())
    assert cols["prunable_kinds"] == f"conv {n_conv}, linear {n_lin}"
    validate_cell({**{c: None for c in COLUMNS}, "task": "ranking", "model": "conv_knrm", "method": "magnitude",
                   "target_sparsity": 0.9, "achieved_sparsity": cols["sparsity_prunable"], "seed": 0,
                   "split": "test", "primary_metric": "mrr@10", "mrr@10": 0.3, "primary_value": 0.3, **cols})


def test_masked_but_unfolded_weights_count_as_the_forward_pass_sees_them() -> None:
    model = _kernel_ranker(freeze=False)
    prunable = prunable_parameters(model, ("linear", "conv"))
    prune_oneshot(model, "random", 0.5, prunable=prunable)      # masks installed as parametrizations
    masked = sparsity_columns(model, prunable)
    fold(model)
    assert sparsity_columns(model, prunable_parameters(model, ("linear", "conv"))) == masked
    assert masked["frozen_params"] == 0 and masked["sparsity_prunable"] == pytest.approx(0.5, abs=0.01)


def test_removed_weights_count_as_zeros_against_the_dense_counts() -> None:
    torch.manual_seed(0)
    dense = nn.Sequential(nn.Linear(8, 10), nn.ReLU(), nn.Linear(10, 4))
    d_prunable = sum(p.numel() for p in prunable_parameters(dense, ("linear",)).values())
    d_total = sum(p.numel() for p in dense.parameters())
    small = nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 4))   # 4 hidden neurons removed
    cols = sparsity_columns(small, prunable_parameters(small, ("linear",)), dense_prunable=d_prunable,
                            dense_total=d_total)
    removed_w, removed_all = 4 * 8 + 4 * 4, 4 * 8 + 4 * 4 + 4          # weights in and out, plus 4 biases
    assert cols["prunable_params"] == d_prunable and cols["total_params"] == d_total
    assert cols["sparsity_prunable"] == pytest.approx(removed_w / d_prunable)
    assert cols["sparsity_all"] == pytest.approx(removed_all / d_total)


def test_without_a_prunable_set_only_the_whole_model_is_counted() -> None:
    model = _kernel_ranker()
    cols = sparsity_columns(model, None)
    assert cols["prunable_params"] is None and cols["sparsity_prunable"] is None and cols["prunable_kinds"] is None
    zeros = sum(_zeros(p.detach()) for p in model.parameters())   # the padding row of the embeddings
    assert cols["sparsity_all"] == pytest.approx(zeros / cols["total_params"]) and cols["sparsity_all"] < 0.05
    with pytest.raises(KeyError, match="not parameters of"):
        sparsity_columns(model, {"no.such.weight": None})


# --- the schema ---------------------------------------------------------------------------------------------------
def _cell(**kw):
    base = dict(task="ranking", model="conv_knrm", method="gmp", target_sparsity=0.9, achieved_sparsity=0.9, seed=0,
                split="test", primary_metric="mrr@10", mrr_at_10=0.3)
    return make_cell(**{**base, **kw})


def test_the_new_columns_exist_and_cells_written_before_them_read_as_null(tmp_path: Path) -> None:
    for c in ("sparsity_prunable", "sparsity_all", "prunable_params", "total_params", "prunable_kinds",
              "frozen_params", "latency_threads", "latency_cpu") + tuple(f"latency_ms_{e.replace('-', '_')}"
                                                                        for e in ENGINE_NAMES):
        assert c in COLUMNS, c
    old = {k: v for k, v in _cell().items() if k not in ADDED_COLUMNS}
    (tmp_path / "old.json").write_text(json.dumps(old))
    cell = read_cell(tmp_path / "old.json")
    assert set(cell) == set(COLUMNS) and all(cell[c] is None for c in ADDED_COLUMNS)
    with pytest.raises(DataFormatError, match="missing key.*total_params"):   # the original columns stay required
        validate_cell({k: v for k, v in old.items() if k != "total_params"})


def test_sparsity_all_must_cover_the_prunable_zeros() -> None:
    ok = _cell(total_params=1000, prunable_params=100, sparsity_prunable=0.9, sparsity_all=0.09)
    assert ok["sparsity_all"] == 0.09
    with pytest.raises(DataFormatError, match="sparsity_all.*fewer zeros.*sparsity_columns"):
        _cell(total_params=1000, prunable_params=100, sparsity_prunable=0.9, sparsity_all=0.01)
    with pytest.raises(DataFormatError, match="'sparsity_all' = 1.5: outside"):
        _cell(sparsity_all=1.5)


def test_engine_columns_follow_the_engine_registry_and_the_cost_row() -> None:
    from irprune.config import from_mapping
    from irprune.costs.engines import ENGINES
    from irprune.costs.summary import CostsConfig, measure_costs

    assert sorted(ENGINES.names()) == sorted(ENGINE_NAMES) and len(set(ENGINE_NAMES)) == len(ENGINE_NAMES)
    cfg = from_mapping(CostsConfig, {"engines": ["torch", "torch-csr"],
                                     "latency": {"k": 4, "n_queries": 2, "warmup": 0, "repeats": 1, "threads": 1}})
    row = measure_costs(_kernel_ranker(), cfg)
    cell = _cell(**schema.cost_columns(row))
    assert cell["latency_ms_torch"] == row["engines"]["torch"]["median_ms"] == cell["latency_ms_per_query"]
    assert cell["latency_ms_torch_csr"] == row["engines"]["torch-csr"]["median_ms"] > 0
    assert cell["latency_ms_onnxruntime"] is None                  # not asked for
    assert cell["latency_threads"] == 1 and isinstance(cell["latency_cpu"], str) and "cores" in cell["latency_cpu"]
    assert not math.isnan(cell["latency_ms_torch"])


def test_a_frozen_tensor_that_is_prunable_counts_as_prunable_not_frozen() -> None:
    model = _kernel_ranker()
    prunable = prunable_parameters(model, ("linear", "conv", "embedding"))
    emb = {k: p for k, p in model.named_parameters() if not p.requires_grad}
    assert emb and set(emb) <= set(prunable)                       # the frozen word vectors are in the prunable set
    prune_oneshot(model, "magnitude", 0.9, prunable=prunable)
    assert sparsity_columns(model, prunable)["frozen_params"] == 0          # masks installed
    fold(model)
    cols = sparsity_columns(model, prunable_parameters(model, ("linear", "conv", "embedding")))
    assert cols["frozen_params"] == 0                                         # masks folded in
    assert cols["prunable_params"] + cols["frozen_params"] <= cols["total_params"]
    assert cols["sparsity_all"] > 0.8                               # with the embeddings in, 90% covers most weights
