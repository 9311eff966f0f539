"""The vision task: the digits loader (shapes, seeded stratified split), model shapes, conv MACs against a hand
count, every task pruning method on a tiny LeNet reaching its target sparsity, the torchvision paths with a fake
torchvision (offline, missing, downloaded), bad input, and the vision rows in the report's macros and table."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from irprune.config import from_mapping
from irprune.errors import ConfigError
from irprune.pruning import plain_state_dict
from irprune.pruning import GMPSchedule
from irprune.tasks import TaskPruningConfig, count_macs, run_cell, schema_cell, task_prunable
from irprune.tasks.vision import (DATASETS, LeNet, LeNetConfig, ResNetCifar, ResNetCifarConfig, VisionTask,
                                  VisionTaskConfig, load_digits_data, load_image_data, stratified_indices)
from irprune.tasks.vision.task import crop_flip

pytest.importorskip("sklearn", reason="scikit-learn (requirements/lock.txt) ships the digits images")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits():
    return load_digits_data(0.2, 0)


# --- data -----------------------------------------------------------------------------------------------------

def test_digits_shapes_split_and_normalisation(digits):
    tr, te = digits.train, digits.test
    assert len(tr) + len(te) == 1797 and digits.n_classes == 10 and digits.shape == (1, 8, 8)
    assert tr.images.shape == (len(tr), 1, 8, 8) and tr.images.dtype == torch.float32
    assert tr.labels.dtype == torch.int64 and te.images.shape[1:] == (1, 8, 8)
    # standardised by the training split's statistics
    assert abs(float(tr.images.mean())) < 1e-4 and float(tr.images.std()) == pytest.approx(1.0, abs=1e-3)
    # stratified: round(0.2 * n_c) test images of every class
    from sklearn.datasets import load_digits

    per_class = np.bincount(load_digits().target, minlength=10)
    assert te.counts(10) == [int(round(0.2 * n)) for n in per_class]
    assert [a + b for a, b in zip(tr.counts(10), te.counts(10))] == per_class.tolist()


def test_digits_split_is_seeded(digits):
    again, other = load_digits_data(0.2, 0), load_digits_data(0.2, 1)
    assert torch.equal(again.test.images, digits.test.images) and torch.equal(again.test.labels, digits.test.labels)
    assert not torch.equal(other.test.images, digits.test.images)


def test_stratified_indices_partition_and_are_seeded():
    labels = np.repeat(np.arange(3), [10, 20, 31])
    tr, te = stratified_indices(labels, 0.3, 5)
    assert sorted(np.concatenate([tr, te]).tolist()) == list(range(61))
    assert np.bincount(labels[te]).tolist() == [3, 6, 9]
    tr2, te2 = stratified_indices(labels, 0.3, 5)
    assert np.array_equal(te, te2) and np.array_equal(tr, tr2)
    with pytest.raises(ValueError, match="test_fraction"):
        stratified_indices(labels, 1.0, 0)


def test_crop_flip_keeps_shapes_and_is_seeded():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    a = crop_flip(x, torch.Generator().manual_seed(0))
    b = crop_flip(x, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and torch.equal(a, b)


# --- models and MACs ------------------------------------------------------------------------------------------

def test_model_forward_shapes():
    assert LeNet(1, 8, 10)(torch.randn(4, 1, 8, 8)).shape == (4, 10)
    lenet5 = LeNet(1, 28, 10, LeNetConfig(channels=(6, 16), kernel_size=5, padding="valid"))
    assert lenet5(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert lenet5.fcs[0].in_features == 16 * 4 * 4          # 28 -> 24 -> 12 -> 8 -> 4
    res = ResNetCifar(3, 32, 10)
    assert res(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert ResNetCifar(1, 8, 10)(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    weights = [m for m in res.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(weights) == 20                                # ResNet-20: 19 conv layers + the classifier
    assert set(task_prunable(res)) == {n for n, m in res.named_modules()
                                       if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) for n in [n + ".weight"]}


def test_conv_macs_hand_count():
    m = LeNet(1, 8, 10, LeNetConfig(channels=(2, 3), kernel_size=3, padding="same", hidden=(5,)))
    x = torch.zeros(1, 1, 8, 8)
    c = count_macs(m, lambda mod: mod(x))
    # conv MACs = out_h * out_w * out_c * in_c * kh * kw; pooling halves the side; linear = in * out
    conv1, conv2 = 8 * 8 * 2 * 1 * 3 * 3, 4 * 4 * 3 * 2 * 3 * 3
    fc1, fc2 = (3 * 2 * 2) * 5, 5 * 10
    assert c.dense == conv1 + conv2 + fc1 + fc2 == 2126 and c.sparse == c.dense
    with torch.no_grad():
        m.convs[0].weight.view(-1)[:5] = 0.0                  # 13 of 18 kernel weights left
        m.convs[1].weight.view(-1)[:6] = 0.0                  # 48 of 54 left
    c = count_macs(m, lambda mod: mod(x))
    assert c.sparse == 8 * 8 * 13 + 4 * 4 * 48 + fc1 + fc2
    assert c.flop_sparsity == pytest.approx(1 - c.sparse / 2126)


def test_conv_macs_with_stride_and_batch_norm_left_untouched():
    m = ResNetCifar(1, 8, 10)
    before = [b.clone() for b in m.buffers()]
    c = count_macs(m, lambda mod: mod(torch.zeros(1, 1, 8, 8)))
    assert all(torch.equal(a, b) for a, b in zip(before, m.buffers()))   # running statistics not updated
    stem = 8 * 8 * 16 * 1 * 9
    stage1 = 6 * 8 * 8 * 16 * 16 * 9
    stage2 = 4 * 4 * 32 * 16 * 9 + 5 * 4 * 4 * 32 * 32 * 9     # first conv strided (8 -> 4), then 5 at 4x4
    stage3 = 2 * 2 * 64 * 32 * 9 + 5 * 2 * 2 * 64 * 64 * 9
    assert c.dense == stem + stage1 + stage2 + stage3 + 64 * 10


# --- one cell per method --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_task(digits):
    cfg = from_mapping(VisionTaskConfig, {
        "max_train": 256, "max_test": 120, "lenet": {"channels": [4, 8], "hidden": [16]},
        "train": {"epochs": 1, "finetune_epochs": 1, "batch_size": 64, "lr": 0.01, "device": "cpu"}})
    return VisionTask(cfg, data=digits.__class__(
        digits.train.__class__(digits.train.images[:256], digits.train.labels[:256]),
        digits.test.__class__(digits.test.images[:120], digits.test.labels[:120]), digits.label_names, digits.meta))


@pytest.fixture(scope="module")
def tiny_dense(tiny_task):
    res = run_cell(tiny_task, "lenet", "dense", 0.0, 0)
    assert res.record["accuracy"] > 0.1 and res.record["task"] == "vision"
    return plain_state_dict(res.model)


@pytest.mark.parametrize("method", ["random", "magnitude", "snip", "grasp", "synflow", "gmp"])
def test_every_method_reaches_its_target_sparsity(tiny_task, tiny_dense, method):
    pcfg = TaskPruningConfig(synflow_rounds=5, score_batches=2, gmp=GMPSchedule(updates=2))
    res = run_cell(tiny_task, "lenet", method, 0.8, 0, pcfg, dense_state=tiny_dense)
    r = res.record
    prunable = task_prunable(res.model)
    assert set(prunable) == {"convs.0.weight", "convs.1.weight", "fcs.0.weight", "fcs.1.weight"}
    n = sum(p.numel() for p in prunable.values())
    assert r["prunable_params"] == n and set(r["tensor_sparsity"]) == set(prunable)
    assert r["achieved_sparsity"] == pytest.approx(0.8, abs=1.5 / n)
    # the fraction of prunable weights that are zero after training with the mask
    assert r["zero_fraction"] >= 0.8 - 1.5 / n
    assert r["flops_sparse"] < r["flops_dense"] and 0 < r["flop_sparsity"] < 1
    assert r["primary_metric"] == "accuracy" and 0 <= r["accuracy"] <= 1
    cell = schema_cell(r)
    assert cell["task"] == "vision" and cell["accuracy"] == r["accuracy"] and cell["bleu"] is None


# --- bad input ------------------------------------------------------------------------------------------------

def test_unknown_dataset_lists_the_valid_names():
    with pytest.raises(ConfigError) as e:
        from_mapping(VisionTaskConfig, {"dataset": "svhn"})
    assert "svhn" in str(e.value) and all(n in str(e.value) for n in ("digits", "mnist", "cifar10"))
    with pytest.raises(Exception, match="digits"):
        load_image_data("svhn")


def test_an_image_size_the_model_cannot_take_fails_on_load():
    with pytest.raises(ConfigError) as e:
        from_mapping(VisionTaskConfig, {"lenet": {"kernel_size": 5, "padding": "valid"}})
    msg = str(e.value)
    assert "8x8" in msg and "digits" in msg and "padding: same" in msg
    from_mapping(VisionTaskConfig, {"dataset": "mnist", "lenet": {"kernel_size": 5, "padding": "valid"}})
    with pytest.raises(ConfigError, match="4x4"):
        ResNetCifar(1, 2, 10)
    with pytest.raises(ConfigError, match="6n \\+ 2"):
        from_mapping(ResNetCifarConfig, {"depth": 21})
    with pytest.raises(ConfigError, match="odd kernel_size"):
        from_mapping(LeNetConfig, {"kernel_size": 4, "padding": "same"})


def _fake_torchvision(monkeypatch, cached: bool, download_error: Exception | None = None) -> list:
    """A stand-in ``torchvision.datasets.MNIST``: found in the cache when ``cached``, else only with download."""
    calls = []

    class MNIST:
        classes = [str(i) for i in range(10)]

        def __init__(self, root, train=True, download=False):
            calls.append((root, train, download))
            if not cached and not download:
                raise RuntimeError("Dataset not found. You can use download=True to download it")
            if download and download_error is not None:
                raise download_error
            n = 30 if train else 10
            self.data = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8)
            self.targets = torch.arange(n) % 10

    tv = types.ModuleType("torchvision")
    tv.datasets = types.SimpleNamespace(MNIST=MNIST)
    monkeypatch.setitem(sys.modules, "torchvision", tv)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", tv.datasets)
    return calls


def test_torchvision_dataset_offline_names_the_fix(monkeypatch, tmp_path: Path):
    calls = _fake_torchvision(monkeypatch, cached=False)
    monkeypatch.setenv("OFFLINE", "1")
    with pytest.raises(ConfigError) as e:
        load_image_data("mnist", root=tmp_path)
    msg = str(e.value)
    assert "mnist" in msg and "OFFLINE=0" in msg and "digits" in msg and str(tmp_path) in msg
    assert all(not download for _, _, download in calls)
    monkeypatch.delenv("OFFLINE")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")          # the pipeline's offline default counts too
    with pytest.raises(ConfigError, match="OFFLINE=0"):
        load_image_data("mnist", root=tmp_path)


def test_torchvision_dataset_cached_downloaded_or_failing(monkeypatch, tmp_path: Path):
    for var in ("OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    _fake_torchvision(monkeypatch, cached=True)
    data = load_image_data("mnist", root=tmp_path)
    assert data.shape == (1, 28, 28) and len(data.train) == 30 and len(data.test) == 10
    calls = _fake_torchvision(monkeypatch, cached=False)
    load_image_data("mnist", root=tmp_path)
    assert any(download for _, _, download in calls)
    _fake_torchvision(monkeypatch, cached=False, download_error=OSError("no route to host"))
    with pytest.raises(ConfigError, match="network"):
        load_image_data("mnist", root=tmp_path)


def test_missing_torchvision_says_install_it(monkeypatch, tmp_path: Path):
    monkeypatch.setitem(sys.modules, "torchvision", None)   # import fails
    monkeypatch.setitem(sys.modules, "torchvision.datasets", None)
    with pytest.raises(ConfigError) as e:
        load_image_data("cifar10", root=tmp_path)
    assert "install torchvision" in str(e.value) and "digits" in str(e.value)
    assert DATASETS.get("cifar10").download and not DATASETS.get("digits").download


# --- pipeline and report --------------------------------------------------------------------------------------

def test_vision_pair_and_stage_config():
    from irprune.pipeline.task_stage import TaskStage, split_pair

    assert split_pair("vision-lenet") == ("vision", "lenet")
    assert split_pair("vision-resnet20") == ("vision", "resnet20")
    with pytest.raises(ConfigError, match="lenet"):
        split_pair("vision-vgg")
    cfg = from_mapping(TaskStage, {"tasks": {"vision": {"dataset": "cifar10", "models": ["lenet", "resnet20"]}}})
    assert cfg.tasks.vision.dataset == "cifar10" and "conv" in cfg.tasks.pruning.include


def test_vision_rows_in_macros_and_cross_task_table(tmp_path: Path):
    from irprune.report import macros, tables
    from irprune.report.config import ReportConfig
    from irprune.report.results import collect
    from irprune.significance import SignificanceConfig

    from test_report_fakegrid import CARD, write_task_grid

    methods = {"gmp": (0.97, 12.0), "random": (0.8, 6.0), "snip": (0.93, 30.0), "synflow": (0.985, 30.0)}
    files = write_task_grid(tmp_path, pairs={("vision", "lenet"): (0.98, "accuracy")}, methods=methods,
                            sparsities=(0.9, 0.99), seeds=(0, 1, 2))
    df = collect(files)
    M = macros.build(df, ReportConfig(), SignificanceConfig(), CARD, None, {},
                     {"cpu": "c", "cores": "2", "gpu": "none", "torch": "2", "python": "3"})
    macros.add_vision_data(M, [{"task": "vision", "method": "dense",
                                "data": {"dataset": "digits", "n_train": 1438, "n_test": 359}}])
    v, f = M.values, M.flags
    assert f["HaveImage"] and f["HaveTasks"] and f["HaveImageData"] and f["ImageSmallScale"]
    assert v["ImageModel"] == "LeNet-5" and "digits" in v["ImageData"] and v["ImageTestImages"] == "359"
    gmp, rnd = float(v["ImageGmpRetained"].rstrip("\\%")), float(v["ImageRandomRetained"].rstrip("\\%"))
    assert gmp > rnd and f["ImageGmpAboveRandom"] and v["ImageGmpRandomSeeds"] == "3" and f["ImageGmpRandomTested"]
    assert 0 <= float(v["ImageGmpRandomP"]) <= 1
    assert f["HaveImageSynflowSnip"] and f["ImageSynflowAboveSnip"] and v["ImageSynflowSnipSparsity"] == "99\\%"
    assert v["ImageMagnitudeRetained"] == tables.NOT_RUN and not f["HaveImageMagnitudeRandom"]
    table, by = tables.cross_task(df)
    labels = [r[0] for r in table.rows]
    i = labels.index("Image classification")
    assert table.rows[i][1] == "LeNet-5" and ("vision", "lenet") in by[0.95]
    assert table.rows[i + 1][0] == "ImageNet (vision)"      # the published ResNet-50 series right below ours
