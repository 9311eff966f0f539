"""Classification task: AG News loaders (real file, HF conversion, malformed input), the synthetic topic corpus,
metrics against hand counts, the bag-of-embeddings model against nn.EmbeddingBag, and a tiny training run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from irprune.data.types import SkipReport
from irprune.errors import ConfigError, DataFormatError
from irprune.config import from_mapping
from irprune.tasks.classification import (ClassificationTask, ClassificationTaskConfig, EmbeddingBagClassifier,
                                          EmbeddingBagConfig, SyntheticClassificationConfig, accuracy,
                                          from_hf_records, macro_f1, make_topic_corpus, read_ag_news_csv,
                                          stratified_split)
from irprune.tasks.common import TaskTrainConfig, fit


pytestmark = pytest.mark.usefixtures("one_thread")


def test_ag_news_real_test_csv(shared_data):
    split = read_ag_news_csv(shared_data / "ag-news" / "test.csv")
    assert len(split) == 7600  # SOURCE.md: 7,600 rows, 1,900 per class
    assert split.counts(4) == [1900, 1900, 1900, 1900]
    assert split.labels[0] == 2  # "3" = Business, stored 0-based
    assert split.texts[0].startswith("Fears for T N pension after talks Unions representing workers")
    train, test = stratified_split(split, 0.2, seed=0)
    assert test.counts(4) == [380] * 4 and train.counts(4) == [1520] * 4
    assert sorted(train.texts + test.texts) == sorted(split.texts)
    again = stratified_split(split, 0.2, seed=0)
    assert again[1].texts == test.texts and stratified_split(split, 0.2, seed=1)[1].texts != test.texts


def test_ag_news_malformed_rows(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text('"1","a","b"\n"2","only two"\n"9","x","y"\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"bad\.csv:2: expected 3 fields"):
        read_ag_news_csv(bad)
    report = SkipReport()
    split = read_ag_news_csv(bad, on_error="skip", report=report)
    assert len(split) == 1 and report.counts == {"bad_row": 2}
    header = tmp_path / "header.csv"
    header.write_text('class,title,description\n"1","a","b"\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match="header"):
        read_ag_news_csv(header)
    with pytest.raises(DataFormatError, match="not found"):
        read_ag_news_csv(tmp_path / "missing.csv")


def test_hf_ag_news_conversion_on_local_file(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = [{"text": "Stocks fall on Wall Street", "label": 2}, {"text": "Team wins the cup", "label": 1}]
    path = tmp_path / "ag.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    ds = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache"))
    split = from_hf_records(ds)
    assert split.texts == ("Stocks fall on Wall Street", "Team wins the cup") and split.labels == (2, 1)
    with pytest.raises(DataFormatError, match="label 7"):
        from_hf_records([{"text": "x", "label": 7}])
    with pytest.raises(DataFormatError, match="expected 'text' and 'label'"):
        from_hf_records([{"sentence": "x", "label": 0}])


def test_synthetic_topic_corpus_deterministic_and_not_trivial():
    cfg = SyntheticClassificationConfig(n_train=400, n_test=400)
    a, b = make_topic_corpus(cfg), make_topic_corpus(cfg)
    assert a == b and a.train.counts(4) == [100] * 4
    c = make_topic_corpus(SyntheticClassificationConfig(n_train=400, n_test=400, seed=8))
    assert c.train.texts != a.train.texts
    # the Bayes-optimal ceiling of the default generator: learnable, but not 100%
    assert 0.85 <= a.meta["bayes_accuracy"] <= 0.97


def test_metrics_against_hand_counts():
    gold, pred = [0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0]
    # per class (P, R, F1): 0 -> (1/2, 1/2, 1/2); 1 -> (2/3, 1, 4/5); 2 -> (1, 1/2, 2/3)
    assert accuracy(gold, pred) == pytest.approx(4 / 6)
    assert macro_f1(gold, pred, 3) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert macro_f1([0, 0], [1, 1], 3) == 0.0  # class 2 absent from both: left out; classes 0 and 1 have F1 0


@pytest.mark.parametrize("mode", ["mean", "sum"])
def test_bag_equals_nn_embedding_bag(mode):
    torch.manual_seed(0)
    m = EmbeddingBagClassifier(20, 3, EmbeddingBagConfig(dim=5, mode=mode))
    ref = nn.EmbeddingBag(20, 5, mode=mode, padding_idx=0)
    ref.weight.data.copy_(m.embedding.weight.data)
    ids = torch.tensor([[3, 4, 5, 0, 0], [7, 0, 0, 0, 0], [1, 2, 3, 4, 19]])
    torch.testing.assert_close(m.bag(ids), ref(ids))


def test_ag_news_csv_source_needs_a_path():
    with pytest.raises(ConfigError, match="csv_path"):
        from_mapping(ClassificationTaskConfig, {"source": "ag_news_csv"})


def test_tiny_dense_training_learns():
    cfg = ClassificationTaskConfig(
        synthetic=SyntheticClassificationConfig(n_train=800, n_test=400), models=("embedding_bag",),
        train=TaskTrainConfig(epochs=6, lr=1e-2, batch_size=32, device="cpu"))
    task = ClassificationTask(cfg)
    model = task.build_model("embedding_bag", 0)
    before = task.evaluate(model)["accuracy"]
    hist = fit(model, lambda e: task.batches(e, 0), task.loss, cfg.train, task.device)
    after = task.evaluate(model)
    assert hist.epoch_loss[-1] < hist.epoch_loss[0]
    assert before < 0.45 and after["accuracy"] > 0.7 and after["macro_f1"] > 0.65
    assert after["accuracy"] <= task.data.meta["bayes_accuracy"] + 0.03  # cannot beat the ceiling (beyond noise)
    assert np.isfinite(after["macro_f1"])
