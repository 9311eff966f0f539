"""Image classification data: scikit-learn's 8x8 digits (offline), MNIST and CIFAR-10 through torchvision.

* ``digits``: the 1,797 8x8 grey-level images of handwritten digits shipped inside scikit-learn
  (``sklearn.datasets.load_digits``; the test set of the UCI "Optical Recognition of Handwritten Digits" data,
  Alpaydin & Kaynak 1998), pixel values 0..16.  It has no official split: a seeded stratified split holds out
  ``test_fraction`` of each class.  No download; the offline default.
* ``mnist`` (LeCun et al. 1998; 60,000 / 10,000 28x28 grey images) and ``cifar10`` (Krizhevsky 2009; 50,000 /
  10,000 32x32 colour images): torchvision's loaders with their official train/test splits, stored under the
  project cache (:data:`irprune.paths.TORCHVISION_DATA`).  They need ``torchvision`` and the network the first
  time; both are checked first, with an error naming the fix.

Images are returned as float32 tensors ``[N, C, H, W]`` scaled to [0, 1] and then standardised per channel with
the *training* split's mean and standard deviation (the test split uses the same statistics).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import ConfigError, DataFormatError
from ...registry import Registry


@dataclass(frozen=True)
class ImageSplit:
    """``images [N, C, H, W]`` float32 and ``labels [N]`` int64 (0-based)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dim() != 4 or self.labels.dim() != 1 or len(self.images) != len(self.labels):
            raise ValueError(f"images {tuple(self.images.shape)} and labels {tuple(self.labels.shape)}: expected "
                             "[N, C, H, W] and [N]")

    def __len__(self) -> int:
        return len(self.labels)

    def counts(self, n_classes: int) -> list[int]:
        return torch.bincount(self.labels, minlength=n_classes).tolist()


@dataclass(frozen=True)
class ImageData:
    train: ImageSplit
    test: ImageSplit
    label_names: tuple[str, ...]
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def n_classes(self) -> int:
        return len(self.label_names)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(channels, height, width)`` of one image."""
        c, h, w = self.train.images.shape[1:]
        return int(c), int(h), int(w)


@dataclass(frozen=True)
class DatasetInfo:
    """What the config validation needs to know before loading anything, and the loader."""

    channels: int
    size: int                    # images are size x size
    n_classes: int
    label_names: tuple[str, ...]
    download: bool               # needs torchvision and (once) the network
    description: str
    loader: Callable[..., ImageData]


def stratified_indices(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded per-class split of ``range(len(labels))``: ``round(test_fraction * n_c)`` indices of each class go
    to test; both index arrays come back in a seeded random order."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction = {test_fraction}; expected 0 < test_fraction < 1")
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    is_test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        is_test[idx[: int(round(test_fraction * len(idx)))]] = True
    order = rng.permutation(len(labels))
    return order[~is_test[order]], order[is_test[order]]


def standardise(train: np.ndarray, test: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, dict[str, list[float]]]:
    """``[N, C, H, W]`` arrays in [0, 1] -> float32 tensors standardised per channel by the training statistics."""
    mean = train.mean(axis=(0, 2, 3), keepdims=True)
    std = train.std(axis=(0, 2, 3), keepdims=True) + 1e-8
    f = lambda a: torch.from_numpy(((a - mean) / std).astype(np.float32))  # noqa: E731
    return f(train), f(test), {"mean": mean.ravel().tolist(), "std": std.ravel().tolist()}


def load_digits_data(test_fraction: float = 0.2, split_seed: int = 0, **_: Any) -> ImageData:
    """scikit-learn's digits (1,797 images, 8x8, 10 classes) with a seeded stratified split."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ConfigError("tasks.vision.dataset = 'digits' reads scikit-learn's bundled digits, but scikit-learn "
                          "is not installed; run `make setup` (requirements/lock.txt pins it) or "
                          "`pip install scikit-learn`") from None
    d = load_digits()
    images = (np.asarray(d.images, dtype=np.float64) / 16.0)[:, None]   # [N, 1, 8, 8] in [0, 1]
    labels = np.asarray(d.target, dtype=np.int64)
    tr, te = stratified_indices(labels, test_fraction, split_seed)
    xtr, xte, stats = standardise(images[tr], images[te])
    return ImageData(ImageSplit(xtr, torch.from_numpy(labels[tr])), ImageSplit(xte, torch.from_numpy(labels[te])),
                     tuple(str(i) for i in range(10)),
                     {"source": "sklearn:load_digits", "dataset": "digits", "split_seed": split_seed,
                      "test_fraction": test_fraction, "normalisation": stats})


def offline() -> bool:
    """Downloads are off: ``OFFLINE`` set to anything but ``0`` (the Makefile's default), or Hugging Face's
    ``HF_HUB_OFFLINE`` / ``HF_DATASETS_OFFLINE`` switched on (as the pipeline's notebooks do unless OFFLINE=0)."""
    if os.environ.get("OFFLINE", "0") not in ("", "0"):
        return True
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def _torchvision_dataset(name: str, cls_name: str, root: Path) -> tuple[Any, Any]:
    """torchvision's ``cls_name`` train and test sets under ``root``: read from the cache when present, else
    downloaded when downloads are allowed; otherwise an error naming the fix."""
    try:
        import torchvision.datasets as tvd
    except ImportError:
        raise ConfigError(f"tasks.vision.dataset = {name!r} needs torchvision, which is not installed: install "
                          f"torchvision built for this torch ({torch.__version__}), e.g. `pip install torchvision`, "
                          "and run once with the network (OFFLINE=0); or use dataset: digits (offline)") from None
    cls = getattr(tvd, cls_name)
    root = Path(root)
    try:
        return cls(str(root), train=True, download=False), cls(str(root), train=False, download=False)
    except RuntimeError:
        pass  # not in the cache yet
    if offline():
        raise ConfigError(f"tasks.vision.dataset = {name!r} is not in {root} and downloads are off (OFFLINE / "
                          "HF_HUB_OFFLINE is set): run once with the network, e.g. `make repro OFFLINE=0` or "
                          "`OFFLINE=0 dvc repro`, or use dataset: digits (offline, ships with scikit-learn)")
    root.mkdir(parents=True, exist_ok=True)
    try:
        return cls(str(root), train=True, download=True), cls(str(root), train=False, download=True)
    except (OSError, RuntimeError) as e:   # URLError is an OSError
        raise ConfigError(f"tasks.vision.dataset = {name!r}: downloading it into {root} failed ({e}); it needs "
                          "the network once (OFFLINE=0); or use dataset: digits (offline)") from None


def _as_nchw(data: Any, channels: int) -> np.ndarray:
    a = data.numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
    if a.ndim == 3:                      # MNIST: [N, H, W]
        a = a[:, None]
    elif a.ndim == 4 and a.shape[-1] == channels:   # CIFAR: [N, H, W, C]
        a = a.transpose(0, 3, 1, 2)
    if a.ndim != 4 or a.shape[1] != channels:
        raise DataFormatError(f"torchvision returned images of shape {a.shape}; expected {channels} channel(s)",
                              fix="check the torchvision version")
    return a.astype(np.float64) / 255.0


def _load_torchvision(name: str, cls_name: str, channels: int, root: str | Path, **_: Any) -> ImageData:
    train, test = _torchvision_dataset(name, cls_name, Path(root))
    xtr, xte, stats = standardise(_as_nchw(train.data, channels), _as_nchw(test.data, channels))
    ytr = torch.as_tensor(np.asarray(train.targets), dtype=torch.long)
    yte = torch.as_tensor(np.asarray(test.targets), dtype=torch.long)
    return ImageData(ImageSplit(xtr, ytr), ImageSplit(xte, yte), tuple(str(c) for c in train.classes),
                     {"source": f"torchvision:{cls_name}", "dataset": name, "root": str(root),
                      "normalisation": stats})


CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

#: dataset name -> what it is (explicit; unknown names fail listing these)
DATASETS: Registry[DatasetInfo] = Registry("vision dataset")
DATASETS.add("digits", DatasetInfo(1, 8, 10, tuple(str(i) for i in range(10)), False,
                                   "scikit-learn digits, 1,797 8x8 grey images (offline)", load_digits_data))
DATASETS.add("mnist", DatasetInfo(1, 28, 10, tuple(str(i) for i in range(10)), True,
                                  "MNIST, 60,000 + 10,000 28x28 grey images (torchvision)",
                                  lambda **kw: _load_torchvision("mnist", "MNIST", 1, **kw)))
DATASETS.add("cifar10", DatasetInfo(3, 32, 10, CIFAR10_CLASSES, True,
                                    "CIFAR-10, 50,000 + 10,000 32x32 colour images (torchvision)",
                                    lambda **kw: _load_torchvision("cifar10", "CIFAR10", 3, **kw)))


def load_image_data(name: str, *, test_fraction: float = 0.2, split_seed: int = 0,
                    root: str | Path = ".cache/torchvision") -> ImageData:
    """The train/test data of dataset ``name`` (:data:`DATASETS`)."""
    return DATASETS.get(name).loader(test_fraction=test_fraction, split_seed=split_seed, root=root)


__all__ = ["ImageSplit", "ImageData", "DatasetInfo", "DATASETS", "CIFAR10_CLASSES", "stratified_indices",
           "standardise", "load_digits_data", "offline", "load_image_data"]
