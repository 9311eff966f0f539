"""The one cell layer: every procedure a task runs, on a tiny model of every task (ranking, classification,
translation, vision, DSI, the bi-encoder's query encoder), through the one driver (irprune.pruning.driver.run_method) and that task's adapter.
Per cell: the mask reaches the target over the prunable weights, masked weights read as exact zeros after the
training that follows, and the task's evaluation runs.  Also: a method a task cannot run fails listing what it can,
and the one GMP schedule's update steps."""

from __future__ import annotations

import pytest
import torch

from irprune.config import from_mapping
from irprune.errors import ConfigError, RegistryError
from irprune.pruning import GMPSchedule, gmp_steps
from irprune.pruning.driver import run_method
from irprune.pruning.methods import METHODS, is_structured
from irprune.pruning.prunable import effective_named_tensors

TARGET = 0.6


pytestmark = pytest.mark.usefixtures("one_thread")


def _check(cell, target: float = TARGET) -> None:
    """Target reached over the prunable weights; masked weights exactly zero after training."""
    mask = cell.mask if cell.mask is not None else cell.installed()
    assert mask is not None and set(mask) == set(cell.prunable), cell.method
    n = mask.numel
    tol = 0.02 if cell.settings.scope == "layerwise" else 1.5 / n
    if cell.method == "sap":                             # SAP's own count may stop short of the target
        assert 0 < mask.sparsity <= target + 1 / n
    else:
        assert mask.sparsity == pytest.approx(target, abs=max(tol, 1.5 / n)), cell.method
    eff = dict(effective_named_tensors(cell.model))
    for name, keep in mask.items():
        assert torch.count_nonzero(eff[name].detach()[~keep]) == 0, (cell.method, name)


# --- ranking -------------------------------------------------------------------------------------------------------
def _ranking(method: str, sparsity: float = TARGET):
    from irprune.evaluation import EvalConfig
    from irprune.prune_cell import PruneConfig, RankingTask
    from test_prune_cell import ranking_data, tiny

    d = ranking_data()
    pcfg = from_mapping(PruneConfig, {"recovery_steps": 6, "score_batches": 1, "synflow_rounds": 3, "imp_rounds": 2,
                                      "sap_rounds": 2, "gmp": {"updates": 2}})
    task = RankingTask(tiny(d["vocab"]), pcfg, d["tcfg"], d["pool"], 0, corpus=d["corpus"],
                       eval_data={"test": (d["queries"], d["qrels"], d["cands"])},
                       eval_config=lambda q: EvalConfig(metrics=("mrr@10",)))
    return task, run_method(task, method, sparsity, 0)


@pytest.mark.parametrize("method", ["gmp", "magnitude", "random", "snip", "grasp", "synflow", "shuffled-snip",
                                    "shuffled-grasp", "shuffled-synflow", "imp", "movement", "sap"])
def test_ranking_procedures(method):
    task, cell = _ranking(method)
    _check(cell)
    assert 0.0 <= task.evaluate()["test"]["mrr@10"] <= 1.0


def test_a_method_the_task_cannot_run_lists_what_it_can():
    with pytest.raises(RegistryError) as e:
        _ranking("heads", 0.5)                        # conv_knrm has no attention heads
    msg = str(e.value)
    assert "'heads' cannot run on ranking" in msg and "gmp" in msg and "heads," not in msg
    with pytest.raises(RegistryError, match="known pruning methods: dense"):
        _ranking("obd", 0.5)
    with pytest.raises(ConfigError, match="sparsity = 1.0"):
        _ranking("gmp", 1.0)


# --- classification, translation, vision ---------------------------------------------------------------------------
def _bundle(family: str):
    from irprune.tasks.classification import ClassificationTask, ClassificationTaskConfig
    from irprune.tasks.translation import TranslationTask, TranslationTaskConfig
    from irprune.tasks.vision.task import VisionTask, VisionTaskConfig

    train = {"epochs": 1, "finetune_epochs": 1, "batch_size": 64, "device": "cpu", "max_steps": 4}
    if family == "classification":
        return ClassificationTask(from_mapping(ClassificationTaskConfig, {
            "synthetic": {"n_train": 200, "n_test": 40}, "train": train})), "embedding_bag"
    if family == "translation":
        return TranslationTask(from_mapping(TranslationTaskConfig, {
            "synthetic": {"n_train": 100, "n_test": 8},
            "seq2seq": {"d_model": 16, "nhead": 2, "num_encoder_layers": 1, "num_decoder_layers": 1,
                        "dim_feedforward": 32}, "train": train})), "seq2seq"
    return VisionTask(from_mapping(VisionTaskConfig, {
        "max_train": 128, "max_test": 32, "lenet": {"channels": [4, 8], "hidden": [16]}, "train": train})), "lenet"


@pytest.fixture(scope="module")
def bundles():
    return {f: _bundle(f) for f in ("classification", "translation", "vision")}


@pytest.mark.parametrize("family", ["classification", "translation", "vision"])
@pytest.mark.parametrize("method", ["dense", "magnitude", "random", "snip", "grasp", "synflow", "gmp"])
def test_task_procedures(bundles, family, method):
    from irprune.tasks.cell import TaskCell, TaskPruningConfig

    bundle, model_name = bundles[family]
    torch.manual_seed(0)
    model = bundle.build_model(model_name, 0)
    pcfg = TaskPruningConfig(synflow_rounds=3, score_batches=1, gmp=GMPSchedule(updates=2))
    task = TaskCell(bundle, model, pcfg, 0, epochs=1)
    cell = run_method(task, method, 0.0 if method == "dense" else TARGET, 0)
    if method == "dense":
        assert cell.mask is None and task.history.steps > 0
    else:
        _check(cell)
    metrics = task.evaluate()
    assert bundle.primary_metric in metrics


def test_tasks_fail_loudly_on_methods_they_cannot_run(bundles):
    from irprune.tasks.cell import TASK_METHODS, TaskCell, TaskPruningConfig

    bundle, model_name = bundles["vision"]
    task = TaskCell(bundle, bundle.build_model(model_name, 0), TaskPruningConfig(), 0, epochs=1)
    for method in set(METHODS.names()) - set(TASK_METHODS):
        with pytest.raises(RegistryError, match="vision runs: dense, magnitude, random, snip, grasp, synflow, gmp"):
            run_method(task, method, 0.5, 0)


# --- DSI -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["magnitude", "gmp"])
def test_dsi_procedures(method):
    from irprune.dsi.config import DSIIdConfig, DSIModelConfig, DSIPruneConfig, DSITrainConfig
    from irprune.dsi.data import build_examples
    from irprune.dsi.ids import build_ids
    from irprune.dsi.model import build_model
    from irprune.dsi.prune import DSITask
    from irprune.dsi.retrieve import retrieve
    from irprune.evaluation import EvalConfig
    from irprune.pipeline.dsi_stage import score

    corpus = {f"d{i}": f"w{i} w{(i + 1) % 12} w{(i + 3) % 12} topic{i % 3}" for i in range(12)}
    queries = {f"q{i}": f"w{i} topic{i % 3}" for i in range(12)}
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(12)}
    ids = build_ids(list(corpus), corpus, DSIIdConfig(scheme="atomic"))
    model = build_model(DSIModelConfig(d_model=32, d_kv=8, d_ff=64, num_layers=1, num_decoder_layers=1),
                        list(corpus.values()), ids, seed=0)
    ex = build_examples(model.tokenizer.encode, corpus, list(corpus), queries, qrels, 16, 8)

    def evaluate(m):
        return score(qrels, retrieve(m, queries, 5), EvalConfig(metrics=("mrr@10",)))[0]

    cfg = DSIPruneConfig(recovery_steps=6, gmp=GMPSchedule(updates=2))
    task = DSITask(model, ex, DSITrainConfig(steps=6, batch_size=8, warmup_steps=1), cfg, {"log": None}, evaluate)
    cell = run_method(task, method, TARGET, 0)
    assert cell.recovery is not None and len(cell.recovery.losses) == 6
    assert cell.settings.scope == "layerwise"
    _check(cell)
    assert "hits@10" in task.evaluate()
    with pytest.raises(RegistryError, match="DSI runs: magnitude, gmp"):
        run_method(task, "snip", 0.5, 0)


# --- dense retrieval: the bi-encoder's query encoder ----------------------------------------------------------------
def _query_encoder_task(tmp_path, scope: str = "layerwise"):
    from irprune.dense import index as ix
    from irprune.dense.config import DensePruneConfig, DenseTrainConfig
    from irprune.dense.prune import QueryEncoderTask
    from irprune.evaluation import EvalConfig, evaluate
    from test_dense import _pairs, tiny_corpus, tiny_encoder

    enc = tiny_encoder(tmp_path)
    corpus = tiny_corpus(40)
    ids = ix.doc_order(corpus)
    docs = enc.encode([corpus[d] for d in ids], "doc", max_tokens=16, label=False)
    pairs, queries, qrels = _pairs(corpus, ids)

    def retrieval(e):
        qids = sorted(queries)
        q = e.encode([queries[i] for i in qids], "query", max_tokens=16, label=False)
        return evaluate(qrels, ix.run_from_scores(q @ docs.T, qids, ids, 10), EvalConfig(metrics=("mrr@10",))).aggregate

    cfg = DensePruneConfig(scope=scope, recovery_steps=6, recovery_lr=1e-3, gmp=GMPSchedule(updates=2))
    return QueryEncoderTask(enc, pairs, docs, cfg, DenseTrainConfig(batch_size=8), 0, 16, retrieval), enc


@pytest.mark.parametrize("method", ["magnitude", "random", "gmp"])
def test_query_encoder_procedures(tmp_path, method):
    from irprune.dense.prune import QUERY_ENCODER_METHODS

    task, enc = _query_encoder_task(tmp_path)
    assert method in QUERY_ENCODER_METHODS
    doc_before = {k: v.clone() for k, v in enc.doc.state_dict().items()}
    cell = run_method(task, method, TARGET, 0)
    assert cell.recovery is not None and cell.recovery.steps == 6
    assert "pooler.dense.weight" not in cell.prunable and all("embeddings" not in n for n in cell.prunable)
    _check(cell)
    assert 0.0 <= task.evaluate()["mrr@10"] <= 1.0
    assert all(torch.equal(v, doc_before[k]) for k, v in enc.doc.state_dict().items())   # documents untouched
    if method == "gmp":                               # the one schedule: updates at 0, 2, 4 of 6 steps
        assert [e["step"] for e in cell.log.entries] == [0, 2, 4]


def test_the_query_encoder_task_lists_what_it_runs(tmp_path):
    task, _ = _query_encoder_task(tmp_path)
    for method in ("snip", "movement", "heads", "dense"):
        with pytest.raises(RegistryError, match="'.*' cannot run on dense retrieval; dense retrieval runs: "
                                                "magnitude, random, gmp"):
            run_method(task, method, 0.5, 0)


def test_a_schedule_longer_than_the_training_names_the_keys_to_change(tmp_path, bundles):
    from irprune.dense.config import DensePruneConfig
    from irprune.tasks.cell import TaskCell, TaskPruningConfig

    task, _ = _query_encoder_task(tmp_path)
    task.cfg = DensePruneConfig(recovery_steps=6, gmp=GMPSchedule(updates=7))      # 4 steps to 70%, 7 updates
    with pytest.raises(ConfigError, match=r"dense.prune.recovery_steps gives 6 training steps, too few .* raise "
                                          r"dense.prune.recovery_steps or lower dense.prune.gmp.updates to 4 or fewer"):
        run_method(task, "gmp", 0.5, 0)
    bundle, model_name = bundles["vision"]                      # 2 steps of training
    ttask = TaskCell(bundle, bundle.build_model(model_name, 0), TaskPruningConfig(), 0, epochs=1)
    with pytest.raises(ConfigError, match=r"tasks.vision.train.epochs gives 2 training steps, too few .* lower "
                                          r"tasks.pruning.gmp.updates to 1 or fewer"):
        run_method(ttask, "gmp", 0.5, 0)


# --- the one GMP schedule ------------------------------------------------------------------------------------------
def test_gmp_steps_is_one_schedule_for_every_loop():
    assert gmp_steps(100, 0.0, 0.7, 10) == (0, 70, 7)                # update at step 0, then n = 10 every Δt
    assert gmp_steps(126, 0.0, 0.7, 10) == (0, 80, 8)                # n = updates, not as many Δt as fit to 70%
    assert gmp_steps(60, 0.0, 0.7, 7) == (0, 42, 6)                  # the bi-encoder's default
    assert gmp_steps(100, 0.2, 0.7, 5) == (20, 70, 10)
    for steps in range(1, 400):
        start, end, freq = gmp_steps(steps, 0.0, 0.7, 10)
        assert start == 0 and (end - start) // freq == 10
    with pytest.raises(ConfigError, match="start_frac < end_frac"):
        gmp_steps(10, 0.5, 0.5, 2)
    assert all(not is_structured(m) for m in ("gmp", "magnitude")) and is_structured("heads")


def test_every_adapter_calls_back_from_step_one(tmp_path, bundles):
    """The one convention of the adapters' loops: after_step first sees step 1 and then every step."""
    from irprune.pruning.cell import TrainHooks
    from irprune.tasks.cell import TaskCell, TaskPruningConfig

    task, _ = _query_encoder_task(tmp_path)
    rtask, _ = _ranking("magnitude")
    bundle, model_name = bundles["vision"]
    ttask = TaskCell(bundle, bundle.build_model(model_name, 0), TaskPruningConfig(), 0, epochs=1)
    for name, adapter in (("dense", task), ("ranking", rtask), ("vision", ttask)):
        steps: list[int] = []
        adapter.train(TrainHooks(after_step=steps.append))
        assert steps == list(range(1, adapter.train_steps() + 1)), name


def test_monobert_score_heads_are_never_pruned():
    """A new score head smaller than every pretrained encoder weight is emptied first by a global magnitude
    threshold (the score then becomes a constant); monoBERT's heads are therefore never prunable."""
    from irprune.pruning import prunable_parameters, prune_oneshot
    from irprune.pruning.prunable import raw_weight
    from test_engines import batches, tiny_monobert

    def pruned(with_head: bool):
        m = tiny_monobert()
        with torch.no_grad():
            m.bert.classifier.weight.mul_(1e-4)
        prunable = prunable_parameters(m, ("linear",))
        assert "bert.classifier.weight" not in prunable and any("encoder" in n for n in prunable)
        if with_head:                                         # what a prunable head would do
            prunable["bert.classifier.weight"] = raw_weight(m.bert.classifier)
        prune_oneshot(m, "magnitude", 0.9, prunable=prunable)
        return m, dict(effective_named_tensors(m))["bert.classifier.weight"]

    _, head = pruned(with_head=True)
    assert torch.count_nonzero(head) == 0                     # the failure: the head went first
    m, head = pruned(with_head=False)
    assert torch.equal(head != 0, torch.ones_like(head, dtype=torch.bool))
    with torch.inference_mode():
        assert m(batches(1)[0]).std() > 0                    # the score still depends on the pair
