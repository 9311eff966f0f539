"""The vision task bundle: config, data loading, training loss, evaluation, SynFlow's all-ones input, MAC example.

Image classification pruned with the rankers' kernels: conv kernels and linear weights are prunable
(``tasks.pruning.include`` lists ``conv`` and ``linear``), the metric is test accuracy (macro-F1 beside it), and
MACs follow :mod:`irprune.tasks.flops` (conv: output positions x kernel weights).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Optional

import torch
from torch import nn
from torch.nn import functional as F

from ...config import frozen, param
from ...errors import ConfigError, RegistryError
from ...models.device import select_device
from ...paths import TORCHVISION_DATA
from ...pruning.scorers import ScoreContext
from ..classification.metrics import accuracy, macro_f1
from ..common import TaskTrainConfig
from .data import DATASETS, ImageData, ImageSplit, load_image_data
from .models import VISION_MODELS, LeNetConfig, ResNetCifarConfig


@frozen
class VisionTaskConfig:
    """``tasks.vision`` in ``params.yaml``."""

    dataset: str = param("digits", nonempty=True, doc="digits (scikit-learn's 8x8 digits, offline) | mnist | "
                                                      "cifar10 (torchvision; need the network once)")
    data_dir: str = param(str(TORCHVISION_DATA), nonempty=True, doc="where torchvision keeps mnist / cifar10")
    test_fraction: float = param(0.2, gt=0, lt=1, doc="digits: fraction of each class held out as test")
    split_seed: int = param(0, ge=0, doc="digits: seed of the stratified split; all: of the max_train subset")
    max_train: Optional[int] = param(None, ge=1, doc="use at most this many training images (seeded subset)")
    max_test: Optional[int] = param(None, ge=1, doc="evaluate on at most this many test images (the first ones)")
    augment: Literal["none", "crop_flip"] = param("none", doc="crop_flip: random 4-pixel-padded crops and "
                                                             "horizontal flips per batch (the CIFAR recipe)")
    models: tuple[Literal["lenet", "resnet20"], ...] = param(("lenet",), nonempty=True)
    lenet: LeNetConfig = param(LeNetConfig)
    resnet20: ResNetCifarConfig = param(ResNetCifarConfig)
    train: TaskTrainConfig = param(TaskTrainConfig)

    def validate(self) -> None:
        if self.dataset not in DATASETS:
            raise ConfigError(f"params.yaml: tasks.vision.dataset = {self.dataset!r} is not a known dataset; use "
                              f"one of {', '.join(DATASETS.names())}")
        info = DATASETS.get(self.dataset)
        for model in self.models:   # an image size a model cannot take fails on load, before any data is read
            cls, _ = VISION_MODELS.get(model)
            try:
                cls.check_input(info.size, getattr(self, model))  # type: ignore[attr-defined]
            except ConfigError as e:
                raise ConfigError(f"params.yaml: tasks.vision: dataset {self.dataset!r} ({info.size}x{info.size}) "
                                  f"with model {model!r}: {e}") from None


def _subset(split: ImageSplit, n: int | None, seed: int | None) -> ImageSplit:
    if n is None or len(split) <= n:
        return split
    if seed is None:
        idx = torch.arange(n)
    else:
        idx = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))[:n].sort().values
    return ImageSplit(split.images[idx], split.labels[idx])


def load_vision_data(cfg: VisionTaskConfig) -> ImageData:
    """The train/test images of ``cfg.dataset`` (train subset seeded by ``split_seed``, test: the first images)."""
    data = load_image_data(cfg.dataset, test_fraction=cfg.test_fraction, split_seed=cfg.split_seed,
                           root=cfg.data_dir)
    return ImageData(_subset(data.train, cfg.max_train, cfg.split_seed), _subset(data.test, cfg.max_test, None),
                     data.label_names, data.meta)


def crop_flip(x: torch.Tensor, g: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random ``pad``-pixel-padded crops (zero padding) and horizontal flips of a batch ``[B, C, H, W]`` (He et
    al. 2016, Sec. 4.2), drawn from ``g``."""
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=g).tolist()
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=g).tolist()
    flip = (torch.rand(b, generator=g) < 0.5).tolist()
    out = torch.stack([padded[i, :, dy[i]: dy[i] + h, dx[i]: dx[i] + w] for i in range(b)])
    return torch.where(torch.tensor(flip, device=x.device)[:, None, None, None], out.flip(-1), out)


class VisionTask:
    """Image classification: cross-entropy training, accuracy and macro-F1 on the test split."""

    task = "vision"
    primary_metric = "accuracy"
    metric_names = ("accuracy", "macro_f1")

    def __init__(self, cfg: VisionTaskConfig = VisionTaskConfig(), data: ImageData | None = None) -> None:
        cfg.validate()
        self.cfg = cfg
        self.models = tuple(cfg.models)
        self.device = select_device(cfg.train.device)
        self.data = load_vision_data(cfg) if data is None else data
        self.train_x = self.data.train.images.to(self.device)
        self.train_y = self.data.train.labels.to(self.device)

    def describe(self) -> dict[str, Any]:
        d = self.data
        c, h, w = d.shape
        return {"task": self.task, "dataset": d.meta.get("dataset", self.cfg.dataset), "source": d.meta.get("source"),
                "n_train": len(d.train), "n_test": len(d.test), "n_classes": d.n_classes, "image_shape": [c, h, w],
                "train_class_counts": d.train.counts(d.n_classes), "test_class_counts": d.test.counts(d.n_classes),
                "augment": self.cfg.augment, **{k: v for k, v in d.meta.items() if k not in ("source", "dataset")}}

    def build_model(self, model: str, seed: int) -> nn.Module:
        if model not in self.models:
            raise RegistryError(f"vision model {model!r} is not in tasks.vision.models = {list(self.models)}")
        cls, _ = VISION_MODELS.get(model)
        torch.manual_seed(seed)
        c, h, _ = self.data.shape
        return cls(c, h, self.data.n_classes, getattr(self.cfg, model)).to(self.device)

    def batches(self, epoch: int, seed: int) -> list[dict[str, torch.Tensor]]:
        g = torch.Generator().manual_seed(seed * 1000003 + epoch)
        order = torch.randperm(len(self.train_y), generator=g)
        bs = self.cfg.train.batch_size
        out = []
        for s in range(0, len(order), bs):
            idx = order[s: s + bs].to(self.device)
            x = self.train_x[idx]
            if self.cfg.augment == "crop_flip":
                x = crop_flip(x, g)
            out.append({"x": x, "labels": self.train_y[idx]})
        return out

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.cross_entropy(model(batch["x"]), batch["labels"])

    def score_context(self, seed: int, n_batches: int) -> ScoreContext:
        c, h, w = self.data.shape
        ones = torch.ones(1, c, h, w, device=self.device)
        return ScoreContext(batches=self.batches(0, seed)[:n_batches], forward_fn=lambda m, b: m(b["x"]),
                            criterion=lambda out, b: F.cross_entropy(out, b["labels"]),
                            forward_ones=lambda m: m(ones), seed=seed)

    @torch.no_grad()
    def predict(self, model: nn.Module, batch_size: int = 512) -> list[int]:
        model.eval()
        x = self.data.test.images
        return [p for s in range(0, len(x), batch_size)
                for p in model(x[s: s + batch_size].to(self.device)).argmax(-1).tolist()]

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        pred, gold = self.predict(model), self.data.test.labels.tolist()
        return {"accuracy": accuracy(gold, pred), "macro_f1": macro_f1(gold, pred, self.data.n_classes)}

    def mac_example(self) -> Callable[[nn.Module], object]:
        """One test image (the count depends on the image size only)."""
        x = self.data.test.images[:1].to(self.device)
        return lambda m: m(x)


__all__ = ["VisionTaskConfig", "VisionTask", "load_vision_data", "crop_flip"]
