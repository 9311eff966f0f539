"""The DSI pruning cell on a tiny collection: masks stay exactly zero through recovery, achieved sparsity equals the
target within one weight per tensor, encoder and decoder sparsity are reported and recomputable, the cell files
validate; GMP's schedule; bad method / schedule / checkpoint errors; the dense stage's cells and random Hits@k."""

from __future__ import annotations

import json
import math
import random

import pytest
import torch

from irprune.config import from_mapping
from irprune.data.store import write_dataset
from irprune.dsi.config import DSIIdConfig, DSIPruneConfig, DSITrainConfig
from irprune.dsi.data import build_examples
from irprune.dsi.ids import build_ids
from irprune.dsi.model import build_model
from irprune.dsi.prune import DSI_METHODS, dsi_prunable, prune_recover
from irprune.pruning import GMPSchedule, gmp_steps
from irprune.errors import ConfigError, DataFormatError, RegistryError
from irprune.pipeline import dsi_prune_stage, dsi_stage
from irprune.pruning import PruningLog, current_mask
from irprune.report.results import read_cell

from test_dsi_train import SMALL, _dataset, toy

TINY = {"n_docs": 25, "model": {"d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 1, "num_decoder_layers": 1},
        "ids": {"scheme": "semantic", "k": 3, "c": 5},
        "train": {"steps": 30, "batch_size": 16, "eval_every": 15, "warmup_steps": 5},
        "retrieve": {"beam_size": 10},
        "prune": {"recovery_steps": 12, "gmp": {"updates": 3, "end_frac": 0.5}}}
EVAL = {"metrics": ["ndcg@10"], "relevance_level": 2}


@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    """The dense stage on the toy dataset, into a temporary folder."""
    root = tmp_path_factory.mktemp("dsi")
    write_dataset(_dataset(), root / "ds")
    cfg = from_mapping(dsi_stage.DSIStage, {"dsi": TINY, "evaluation": EVAL})
    dsi_stage.run(cfg, dataset_dir=root / "ds", checkpoint_dir=root / "ckpt", run_dir=root / "runs",
                  metrics_path=root / "m.json", cell_dir=root / "cells")
    return root


def _prune(root, method: str, sparsity: float, **over):
    dsi = json.loads(json.dumps(TINY))
    for k, v in over.items():
        dsi["prune"][k] = v
    cfg = from_mapping(dsi_prune_stage.DSIPruneStage, {"dsi": dsi, "evaluation": EVAL})
    return dsi_prune_stage.run(cfg, method, sparsity, 0, dataset_dir=root / "ds", checkpoint_dir=root / "ckpt",
                               out_root=root / "cells_pruned")


@pytest.mark.parametrize("method", ["magnitude", "gmp"])
def test_cell_reaches_the_target_per_tensor_and_reports_encoder_and_decoder(dense, method) -> None:
    res = _prune(dense, method, 0.6)
    out = dense / "cells_pruned" / f"{method}-0.6-0"
    assert res.cell_id == f"{method}-0.6-0" == dsi_prune_stage.cell_id(method, 0.6, 0)
    for f in ("cell.test.json", "test.trec", "per_query.json", "mask_summary.json", "pruning_log.json",
              "metrics.json"):
        assert (out / f).is_file(), f
    summary = json.loads((out / "mask_summary.json").read_text())
    tensors = summary["tensors"]
    assert tensors and all(t["name"].startswith(("encoder.", "decoder.")) for t in tensors)
    for t in tensors:  # layerwise: each tensor within one weight of the target, after recovery training
        assert abs(t["zeros"] - 0.6 * t["numel"]) <= 1, t
    # encoder / decoder / overall sparsity recomputed from the per-tensor counts
    for part in ("encoder", "decoder"):
        rows = [t for t in tensors if t["name"].startswith(part + ".")]
        assert summary[f"{part}_sparsity"] == pytest.approx(sum(t["zeros"] for t in rows) / sum(t["numel"] for t in rows))
    assert summary["achieved_sparsity"] == pytest.approx(sum(t["zeros"] for t in tensors) /
                                                         sum(t["numel"] for t in tensors))
    assert summary["dense_prunable_params"] == sum(t["numel"] for t in tensors)
    assert 0.0 < summary["pqi"] < 1.0
    cell = read_cell(out / "cell.test.json")
    assert (cell["task"], cell["model"], cell["method"], cell["split"]) == ("dsi", "dsi", method, "test")
    assert cell["achieved_sparsity"] == summary["achieved_sparsity"] and cell["pqi"] == summary["pqi"]
    assert (cell["prunable_params"], cell["total_params"]) == (summary["dense_prunable_params"],
                                                               summary["dense_total_params"])
    assert cell["sparsity_prunable"] == pytest.approx(summary["achieved_sparsity"])
    assert cell["sparsity_all"] == pytest.approx(1 - cell["nonzero_params"] / cell["total_params"])
    assert cell["sparsity_all"] < cell["sparsity_prunable"]        # the tied embedding matrix stays dense
    record = json.loads((out / "metrics.json").read_text())
    assert record["map"] == cell["map"] and 0.0 <= record["hits@10"] <= 1.0
    per = json.loads((out / "per_query.json").read_text())
    assert set(per) == {"test"} and "hits@10" in per["test"]
    log = json.loads((out / "pruning_log.json").read_text())["entries"]
    updates = 1 if method == "magnitude" else 1 + 3    # GMP: step 0 plus gmp.updates
    assert len(log) == updates + 1                      # + the recovered weights
    assert log[-1]["sparsity"] == pytest.approx(summary["achieved_sparsity"], abs=1e-9)


def test_prune_recover_masks_stay_zero_and_gmp_follows_its_schedule() -> None:
    corpus, queries, qrels = toy()
    ids = build_ids(list(corpus), corpus, DSIIdConfig(scheme="atomic"))
    m = build_model(SMALL, list(corpus.values()), ids, seed=0)
    ex = build_examples(m.tokenizer.encode, corpus, list(corpus), queries, qrels, 64, 16)
    cfg = DSIPruneConfig(recovery_steps=20, gmp=GMPSchedule(updates=4, end_frac=0.6))
    assert gmp_steps(20, 0.0, 0.6, 4) == (0, 12, 3)
    log = PruningLog()
    res = prune_recover(m, 0.7, ex, DSITrainConfig(steps=20, batch_size=8, warmup_steps=2), cfg, method="gmp",
                        keep_masks=True, log=None, pruning_log=log)
    targets = [e["target_sparsity"] for e in log.entries[:-1]]
    assert targets == sorted(targets) and targets[0] == 0.0 and targets[-1] == pytest.approx(0.7)
    assert [e["step"] for e in log.entries[:-1]] == [0, 3, 6, 9, 12]
    mask = current_mask(m.net)
    assert set(mask) == set(dsi_prunable(m.net)) and res.recovery is not None and len(res.recovery.losses) == 20
    with torch.no_grad():
        for name, keep in mask.items():
            w = m.net.get_submodule(name.rsplit(".", 1)[0]).weight
            assert torch.count_nonzero(w[~keep]) == 0
            assert abs(int((~keep).sum()) - 0.7 * keep.numel()) <= 1
    assert res.sparsity["encoder"] == pytest.approx(0.7, abs=0.01) and res.sparsity["decoder"] == pytest.approx(
        0.7, abs=0.01)


def test_bad_method_schedule_and_checkpoint(dense, tmp_path) -> None:
    with pytest.raises(RegistryError, match="gmp"):
        _prune(dense, "snip", 0.5)
    assert set(DSI_METHODS) == {"magnitude", "gmp"}
    with pytest.raises(ConfigError, match="too few for GMP"):
        _prune(dense, "gmp", 0.5, recovery_steps=0)
    with pytest.raises(ConfigError, match="sparsity"):
        _prune(dense, "magnitude", 1.0)
    with pytest.raises(ConfigError, match="gmp.end_frac = 0.5 must exceed gmp.start_frac"):
        from_mapping(DSIPruneConfig, {"gmp": {"start_frac": 0.8, "end_frac": 0.5}})
    cfg = from_mapping(dsi_prune_stage.DSIPruneStage, {"dsi": {**TINY, "n_docs": 20}, "evaluation": EVAL})
    with pytest.raises(DataFormatError, match="re-run the dsi stage"):
        dsi_prune_stage.run(cfg, "magnitude", 0.5, 0, dataset_dir=dense / "ds", checkpoint_dir=dense / "ckpt",
                            out_root=tmp_path)
    with pytest.raises(DataFormatError, match="dvc repro dsi"):
        dsi_prune_stage.run(cfg, "magnitude", 0.5, 0, dataset_dir=dense / "ds", checkpoint_dir=tmp_path / "none",
                            out_root=tmp_path)


def test_dense_stage_writes_the_dsi_and_bm25_subset_cells(dense) -> None:
    metrics = json.loads((dense / "m.json").read_text())
    d = read_cell(dense / "cells" / "dense.test.json")
    b = read_cell(dense / "cells" / "bm25.test.json")
    assert (d["task"], d["model"], d["method"]) == ("dsi", "dsi", "dense") and d["map"] == metrics["map"]
    assert (b["task"], b["model"], b["method"]) == ("dsi", "bm25", "bm25") and b["map"] == metrics["bm25_subset_map"]
    assert 0.0 < metrics["random_hits@10"] <= 1.0


def test_random_hits_matches_a_simulation() -> None:
    """1 - C(n - r, k) / C(n, k) against shuffled rankings (and k / n for one relevant document)."""
    qrels = {"a": {"d0": 2}, "b": {"d1": 2, "d2": 3, "d3": 1}, "c": {}}
    n, k = 12, 3
    exact = dsi_stage.random_hits_at_k(qrels, n, k, relevance_level=2)
    assert dsi_stage.random_hits_at_k({"a": {"d0": 2}}, n, k, 2) == pytest.approx(k / n)
    rng = random.Random(0)
    docs = [f"d{i}" for i in range(n)]
    trials, hits = 20000, 0.0
    for _ in range(trials):
        for q in ("a", "b"):
            top = set(rng.sample(docs, k))
            hits += any(d in top for d, lab in qrels[q].items() if lab >= 2) / 2
    assert exact == pytest.approx(hits / trials, abs=0.01)
    assert exact == pytest.approx((k / n + 1 - math.comb(n - 2, k) / math.comb(n, k)) / 2)
