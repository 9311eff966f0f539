"""Cross-task cells: compression/sparsity notation, MAC counts against hand counts, prunable selection, pruned
cells keeping masks exactly zero (one-shot and GMP), and the stage writing schema-valid cells."""

from __future__ import annotations

import json

import pytest
import torch

from irprune.config import from_mapping
from irprune.errors import ConfigError, RegistryError
from irprune.pruning import current_mask, plain_state_dict
from irprune.pruning.sparsity import sparsity_from_compression
from irprune.tasks import TaskPruningConfig, count_macs, run_cell, task_prunable
from irprune.tasks.classification import (ClassificationTask, ClassificationTaskConfig, EmbeddingBagClassifier,
                                          EmbeddingBagConfig, SyntheticClassificationConfig, TransformerClassifier,
                                          TransformerClassifierConfig)
from irprune.tasks.common import TaskTrainConfig
from irprune.tasks.translation import (GrammarConfig, Seq2SeqConfig, Seq2SeqTransformer, TranslationTask,
                                       TranslationTaskConfig)


pytestmark = pytest.mark.usefixtures("one_thread")


def test_grasp_compression_notation():
    # the compression axis of the GraSP/NLP report (../shared/seeds/report-grasp-random-nlp.txt): compression c
    # keeps 10^-c of the weights (0.5, 1, 2 -> 31.6%, 10%, 1%)
    for c, kept in ((0.5, 0.316227766), (1.0, 0.1), (2.0, 0.01)):
        assert 1 - sparsity_from_compression(c) == pytest.approx(kept)


def test_macs_embedding_bag_hand_count():
    m = EmbeddingBagClassifier(10, 3, EmbeddingBagConfig(dim=4))
    ids = torch.tensor([[1, 2, 3, 4, 5, 0, 0]])  # 5 tokens + 2 pads
    dense = count_macs(m, lambda mod: mod(ids))
    assert dense.dense == 4 * 3  # bag: lookups, 0; fc: 4 x 3
    assert (dense.flops_dense, dense.flops_sparse) == (24, 24)  # FLOPs = 2 x MACs
    with torch.no_grad():
        m.embedding.weight.view(-1)[:8] = 0.0     # zero embedding entries change no count
        m.fc.weight[0, :2] = 0.0                  # 10 of 12 left
    c = count_macs(m, lambda mod: mod(ids))
    assert c.dense == 12 and c.sparse == 10 and c.flops_sparse == 20
    assert c.flop_sparsity == pytest.approx(1 - 10 / 12)


def test_macs_transformer_classifier_hand_count():
    m = TransformerClassifier(10, 3, TransformerClassifierConfig(d_model=8, nhead=2, num_layers=1,
                                                                 dim_feedforward=16))
    L, d, ff = 5, 8, 16
    c = count_macs(m, lambda mod: mod(torch.ones(1, L, dtype=torch.long)))
    hand = 3 * L * d * d + 2 * L * L * d + L * d * d + 2 * L * d * ff + d * 3  # embedding lookups: 0
    assert c.dense == hand == 2984
    assert c.sparse == hand  # the all-zero pad row of the embedding is a lookup: nothing to skip


def test_macs_seq2seq_hand_count_dense_and_sparse():
    m = Seq2SeqTransformer(11, 13, Seq2SeqConfig(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                                                 dim_feedforward=16))
    S, T, d, ff, V = 5, 4, 8, 16, 13
    run = lambda mod: mod(torch.ones(1, S, dtype=torch.long), torch.ones(1, T, dtype=torch.long))  # noqa: E731
    enc = 3 * S * d * d + 2 * S * S * d + S * d * d + 2 * S * d * ff
    dec_self = 3 * T * d * d + 2 * T * T * d + T * d * d
    dec_cross = T * d * d + 2 * S * d * d + 2 * T * S * d + T * d * d
    hand = enc + dec_self + dec_cross + 2 * T * d * ff + T * d * V  # embedding lookups: 0
    assert count_macs(m, run).dense == hand == 7152
    with torch.no_grad():  # prune the encoder's whole K projection and half of the generator
        m.transformer.encoder.layers[0].self_attn.in_proj_weight[d: 2 * d] = 0.0
        m.generator.weight[: V // 2 + 1] = 0.0
    c = count_macs(m, run)
    assert c.sparse == hand - S * d * d - T * d * (V // 2 + 1)


def test_task_flops_equal_the_ranker_counter_on_the_same_model():
    """One FLOPs definition: the task counter's 2 x MACs equals irprune.costs.flops (the rankers' counter) on a
    transformer classifier and an EmbeddingBag model, dense and with pruned weights."""
    from irprune.costs.flops import count_flops

    models = [(TransformerClassifier(10, 3, TransformerClassifierConfig(d_model=8, nhead=2, num_layers=1,
                                                                       dim_feedforward=16)),
               torch.ones(1, 5, dtype=torch.long)),
              (EmbeddingBagClassifier(10, 3, EmbeddingBagConfig(dim=4)), torch.tensor([[1, 2, 3, 0]]))]
    for m, x in models:
        with torch.no_grad():
            for p in m.parameters():
                if p.dim() == 2:
                    p.view(-1)[::3] = 0.0
        c = count_macs(m, lambda mod: mod(x))
        r = count_flops(m, (x,), batch_size=1)
        assert (c.flops_dense, c.flops_sparse) == pytest.approx((r.total_dense, r.total_sparse)), type(m).__name__


def test_task_prunable_selection():
    m = Seq2SeqTransformer(11, 13, Seq2SeqConfig(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                                                 dim_feedforward=16))
    lin = task_prunable(m, ("linear",))
    assert "transformer.encoder.layers.0.self_attn.in_proj_weight" in lin
    assert "transformer.decoder.layers.0.multihead_attn.out_proj.weight" in lin and "generator.weight" in lin
    assert not any("tok_emb" in n or "norm" in n or "bias" in n for n in lin)
    both = task_prunable(m)
    assert set(both) - set(lin) == {"src_tok_emb.weight", "tgt_tok_emb.weight"}
    with pytest.raises(ConfigError, match="include"):
        task_prunable(m, ("attention",))
    with pytest.raises(ConfigError, match="no prunable tensors of kinds \\['conv'\\].*tasks.pruning.include"):
        task_prunable(m, ("conv",))                          # a valid kind this model does not have


def _cls_task() -> ClassificationTask:
    return ClassificationTask(ClassificationTaskConfig(
        synthetic=SyntheticClassificationConfig(n_train=600, n_test=200), models=("embedding_bag", "transformer"),
        transformer=TransformerClassifierConfig(d_model=16, nhead=2, num_layers=1, dim_feedforward=32),
        train=TaskTrainConfig(epochs=3, finetune_epochs=2, lr=1e-2, batch_size=32, device="cpu")))


def _assert_masked_zero(res, target: float) -> None:
    model, mask = res.model, res.mask
    assert mask is not None and mask.sparsity == pytest.approx(target, abs=1e-3)
    for name, keep in mask.items():
        mname, _, attr = name.rpartition(".")
        w = getattr(model.get_submodule(mname), attr)
        assert torch.count_nonzero(w[~keep]) == 0, name  # pruned weights stayed exactly zero through training
    r = res.record
    assert r["achieved_sparsity"] == pytest.approx(target, abs=1e-3)
    assert r["zero_fraction"] >= r["achieved_sparsity"]
    assert r["flops_sparse"] < r["flops_dense"] and 0 < r["flop_sparsity"] < 1
    assert r["nonzero_params"] <= r["total_params"] - round(target * r["prunable_params"]) + 1
    per = r["tensor_sparsity"]  # per-tensor shares: one per masked tensor, weighted back to the overall sparsity
    assert set(per) == set(mask)
    sizes = {n: mask[n].numel() for n in mask}
    assert sum(per[n] * sizes[n] for n in per) / sum(sizes.values()) == pytest.approx(mask.sparsity, abs=1e-9)
    assert all(per[n] == pytest.approx(1 - mask[n].float().mean().item()) for n in per)


@pytest.mark.parametrize("method", ["random", "snip", "grasp", "synflow"])
def test_pruned_cell_keeps_masks_zero(method):
    task = _cls_task()
    res = run_cell(task, "embedding_bag", method, 0.9, 0, TaskPruningConfig(synflow_rounds=5))
    _assert_masked_zero(res, 0.9)
    assert res.record["compression"] == pytest.approx(1.0)  # 10% kept = compression 1 in GraSP's notation
    assert res.record["accuracy"] > 0.3


def test_gmp_and_prune_at_dense_from_dense_model():
    task = _cls_task()
    dense = run_cell(task, "transformer", "dense", 0.0, 0)
    assert dense.mask is None and dense.record["achieved_sparsity"] == 0.0
    state = plain_state_dict(dense.model)
    gmp = run_cell(task, "transformer", "gmp", 0.8, 0, dense_state=state)
    _assert_masked_zero(gmp, 0.8)
    assert "encoder.layers.0.self_attn.in_proj_weight" in current_mask(gmp.model)
    mag = run_cell(task, "transformer", "magnitude", 0.5, 0, TaskPruningConfig(prune_at="dense"), dense_state=state)
    _assert_masked_zero(mag, 0.5)
    assert mag.record["prune_at"] == "dense" and mag.record["epochs"] == 2
    with pytest.raises(ConfigError, match="dense_state"):
        run_cell(task, "transformer", "gmp", 0.8, 0)
    with pytest.raises(RegistryError, match="known pruning methods"):
        run_cell(task, "transformer", "obd", 0.8, 0)
    with pytest.raises(RegistryError, match="classification runs: dense, magnitude"):
        run_cell(task, "transformer", "imp", 0.8, 0)
    with pytest.raises(ConfigError, match="use method 'dense'"):
        run_cell(task, "transformer", "random", 0.0, 0)


def test_translation_cell_grasp_and_synflow():
    task = TranslationTask(TranslationTaskConfig(
        synthetic=GrammarConfig(n_train=200, n_test=20, n_nouns=5, n_verbs=2, n_adjectives=3),
        seq2seq=Seq2SeqConfig(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=32),
        train=TaskTrainConfig(epochs=1, batch_size=32, device="cpu")))
    for method in ("grasp", "synflow"):
        res = run_cell(task, "seq2seq", method, 0.99, 1, TaskPruningConfig(synflow_rounds=3, score_batches=2))
        _assert_masked_zero(res, 0.99)
        assert res.record["compression"] == pytest.approx(2.0) and 0 <= res.record["bleu"] <= 100


def test_stage_writes_valid_cells(tmp_path, monkeypatch):
    from irprune.pipeline import task_stage
    from irprune.cells.schema import COLUMNS, read_cell

    params = tmp_path / "params.yaml"
    params.write_text(json.dumps({"tasks": {
        "num_threads": 1,
        "classification": {"models": ["embedding_bag"], "synthetic": {"n_train": 400, "n_test": 100},
                           "train": {"epochs": 2, "finetune_epochs": 1, "lr": 0.01, "device": "cpu"}},
        "pruning": {"gmp": {"updates": 4}}}}),                # 7 fine-tuning steps: updates at 0, 1, 2, 3, 4
        encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    cfg = task_stage.load_task_stage(params)
    task_stage.run(cfg, "classification", "embedding_bag", "dense", 0.0, 0)
    assert task_stage.dense_weights_path("classification", "embedding_bag", 0).is_file()
    task_stage.run(cfg, "classification", "embedding_bag", "gmp", 0.9, 0)
    cell = read_cell(task_stage.cell_path("classification", "embedding_bag", "gmp", 0.9, 0))
    assert set(cell) == set(COLUMNS) and cell["method"] == "gmp" and cell["primary_metric"] == "accuracy"
    record = json.loads(task_stage.record_path("classification", "embedding_bag", "gmp", 0.9, 0).read_text())
    assert record["compression"] == pytest.approx(1.0) and record["data"]["n_train"] == 400
    # what the sparsity covers, counted on the pruned model: the prunable zeros are among all zeros
    assert cell["sparsity_prunable"] == pytest.approx(record["zero_fraction"]) and "linear" in cell["prunable_kinds"]
    assert cell["prunable_params"] < cell["total_params"] and cell["frozen_params"] == 0
    assert cell["sparsity_all"] == pytest.approx(1 - cell["nonzero_params"] / cell["total_params"])
    assert cell["sparsity_prunable"] * cell["prunable_params"] <= cell["sparsity_all"] * cell["total_params"] + 0.5
    with pytest.raises(ConfigError, match="tasks.pruning.scope"):
        from_mapping(task_stage.TaskStage, {"tasks": {"pruning": {"scope": "per_row"}}})
    with pytest.raises(ConfigError, match="not in tasks.classification.models"):
        task_stage.run(cfg, "classification", "transformer", "dense", 0.0, 0)
