"""Every procedure the rankers run (irprune.prune_cell.RANKING_METHODS) on a tiny Conv-KNRM: the target
sparsity is reached and pruned weights are exactly zero after recovery; SAP through pruning.sap.sap_prune
prunes exactly as the driver's former inline loop did."""

from __future__ import annotations

import pytest
import torch

from irprune.config import from_mapping
from irprune.models import build_model
from irprune.prune_cell import RANKING_METHODS, PruneConfig, run_cell
from irprune.pruning import methods
from irprune.pruning.methods import Method
from irprune.pruning import Mask, apply_mask, capture_rewind_state, current_mask, masks_from_scores
from irprune.pruning.apply import load_plain_state_dict
from irprune.pruning.pqi import pq_index
from irprune.pruning.prunable import effective_named_tensors
from irprune.pruning.sap import sap_num_prune
from irprune.pruning.scorers import magnitude
from irprune.text import Vocab
from irprune.registry import Registry
from irprune.training import TrainConfig, build_pool

STRUCTURED = {"heads", "structured"}                 # monoBERT only; tests/test_engines.py runs 'structured'


def ranking_data() -> dict:
    """A 30-document collection, 8 judged queries with 5 candidates each, its training pool, vocabulary and a
    one-thread CPU training config."""
    words = [f"w{i}" for i in range(30)]
    corpus = {f"d{i}": " ".join(words[(i + j) % 30] for j in range(8)) for i in range(30)}
    queries = {f"q{i}": f"{words[i]} {words[(i + 1) % 30]}" for i in range(8)}
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(8)}
    cands = {f"q{i}": {f"d{(i + j) % 30}": 5.0 - j for j in range(5)} for i in range(8)}
    pool = build_pool(queries, qrels, cands, corpus, depth=5)
    vocab = Vocab.build(list(corpus.values()) + list(queries.values()))
    tcfg = from_mapping(TrainConfig, {"negatives": 2, "negative_depth": 5, "batch_queries": 4, "lr": 0.001,
                                      "device": "cpu", "threads": 1, "progress": False, "seed": 0})
    return {"corpus": corpus, "queries": queries, "qrels": qrels, "cands": cands, "pool": pool, "vocab": vocab,
            "tcfg": tcfg}


@pytest.fixture(scope="module")
def setup():
    d = ranking_data()
    return d["vocab"], d["tcfg"], d["pool"]


def tiny(vocab):
    return build_model("conv_knrm", {"embedding_dim": 8, "n_filters": 4, "max_ngram": 2, "n_kernels": 3}, vocab,
                       seed=0)


def prune_cfg(**over):
    return from_mapping(PruneConfig, {"recovery_steps": 10, "score_batches": 1, "synflow_rounds": 3,
                                      "imp_rounds": 2, "sap_rounds": 3, **over})


@pytest.mark.parametrize("method", [m for m in RANKING_METHODS if m not in STRUCTURED])
def test_every_cell_procedure_reaches_its_target_and_keeps_pruned_weights_zero(setup, method):
    vocab, tcfg, pool = setup
    model = tiny(vocab)
    cell = run_cell(model, method, 0.5, 0, prune_cfg(), tcfg, pool)
    mask = {n: k for n, k in current_mask(model).items() if n in cell.prunable}
    assert set(mask) == set(cell.prunable), method
    kept = sum(int(k.sum()) for k in mask.values())
    total = sum(k.numel() for k in mask.values())
    achieved = 1 - kept / total
    if method == "sap":                                  # SAP's own count may stop short of the target
        assert 0 < achieved <= 0.5 + 1 / total
    else:
        assert achieved == pytest.approx(0.5, abs=0.02), method
    eff = dict(effective_named_tensors(model))
    for n, k in mask.items():                            # masked weights read as exact zeros after recovery
        assert torch.count_nonzero(eff[n].detach()[~k]) == 0, (method, n)
    assert cell.recovery is not None and cell.log.entries, method


def _inline_sap(cell) -> Mask:
    """The driver's SAP procedure before it called sap_prune (p=0.5, q=1, eta_r=0, gamma=1, beta=0.9 inline)."""
    rewind = capture_rewind_state(cell.model)
    per_round = max(1, cell.task.train_steps() // cell.settings.sap_rounds)
    mask = Mask.ones_like(cell.prunable)
    for r_idx in range(1, cell.settings.sap_rounds + 1):
        cell.train(per_round)
        kept = torch.cat([p.detach().flatten()[mask[n].flatten()] for n, p in cell.prunable.items()])
        r = sap_num_prune(float(pq_index(kept, 0.5, 1.0)), kept.numel(), p=0.5, q=1.0, eta_r=0.0, gamma=1.0,
                          beta=0.9)
        target = min(cell.sparsity, (mask.num_pruned + r) / mask.numel)
        mask = masks_from_scores(magnitude(cell.model, cell.prunable), target, scope="global", current=mask)
        apply_mask(cell.model, mask, log=cell.log, method="sap", iteration=r_idx, target_sparsity=target)
        load_plain_state_dict(cell.model, rewind)
        if target >= cell.sparsity:
            break
    cell.train()
    return mask


@pytest.mark.parametrize("sparsity", [0.3, 0.9])
def test_sap_procedure_equals_the_former_inline_loop(setup, sparsity, monkeypatch):
    vocab, tcfg, pool = setup
    cfg = prune_cfg(recovery_steps=6)
    model = tiny(vocab)
    cell = run_cell(model, "sap", sparsity, 0, cfg, tcfg, pool)
    inline: Registry = Registry("pruning method")
    inline.add("sap", Method(_inline_sap))
    monkeypatch.setattr(methods, "METHODS", inline)
    ref_model = tiny(vocab)
    ref = run_cell(ref_model, "sap", sparsity, 0, cfg, tcfg, pool)
    got, want = current_mask(model), current_mask(ref_model)
    assert set(got) == set(want) and all(torch.equal(got[n], want[n]) for n in want)
    assert [e["target_sparsity"] for e in cell.log.entries] == [e["target_sparsity"] for e in ref.log.entries]
    assert [e["pqi"] for e in cell.log.entries] == [e["pqi"] for e in ref.log.entries]
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), ref_model.state_dict().values()))


def test_per_ranker_prune_overrides_apply_to_that_ranker_only():
    """prune.models.<name> overrides this section for one ranker (nested mappings merge key by key); an unknown
    ranker or key is refused with the allowed names."""
    from irprune.errors import ConfigError, RegistryError

    cfg = from_mapping(PruneConfig, {"recovery_steps": 100, "gmp": {"end_frac": 0.7, "updates": 10},
                                     "models": {"monobert": {"recovery_steps": 50, "gmp": {"updates": 5}}}},
                       prefix="prune")
    bert = cfg.for_model("monobert")
    assert (bert.recovery_steps, bert.gmp.updates, bert.gmp.end_frac) == (50, 5, 0.7)
    assert cfg.for_model("conv_knrm") is cfg
    with pytest.raises(RegistryError, match="known models: conformer_kernel, conv_knrm, monobert"):
        from_mapping(PruneConfig, {"models": {"bert": {}}}, prefix="prune")
    with pytest.raises(ConfigError, match="prune.models.monobert.recovery_step; allowed keys"):
        from_mapping(PruneConfig, {"models": {"monobert": {"recovery_step": 3}}}, prefix="prune")
    with pytest.raises(ConfigError, match="other than models"):
        from_mapping(PruneConfig, {"models": {"monobert": {"models": {}}}}, prefix="prune")
