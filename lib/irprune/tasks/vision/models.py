"""Vision models: a LeNet-5-style CNN and a ResNet-20-style CIFAR network.

* :class:`LeNet`: LeCun et al. (1998), "Gradient-based learning applied to document recognition": two blocks of
  convolution -> ReLU -> 2x2 max-pooling, then two hidden fully connected layers and the classifier (LeNet-5 is
  6 and 16 channels, 5x5 kernels, 120 and 84 hidden units on 32x32 inputs; ReLU and max-pooling as in the
  modern re-implementations the pruning papers use, e.g. Lee et al. 2019's "LeNet-5-Caffe").  The kernel size and
  padding are configurable so the same shape runs on 8x8 digits (3x3, "same" padding).
* :class:`ResNetCifar`: He et al. (2016), "Deep residual learning for image recognition", Sec. 4.2: a 3x3 stem,
  three stages of ``n`` basic blocks with widths ``w, 2w, 4w`` (stride 2 between stages), global average pooling
  and a linear classifier; depth ``6n + 2`` (ResNet-20: n = 3, w = 16).  Shortcuts that change shape are option A
  of the paper (subsample + zero-pad the channels), so they carry no weights.

Both check the input size up front (:meth:`check_input`): an image too small for the network's down-sampling is a
:class:`~irprune.errors.ConfigError` naming the size and the fix.  Inputs are ``[B, C, H, W]`` float tensors.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from ...config import frozen, param
from ...errors import ConfigError
from ...registry import Registry


@frozen
class LeNetConfig:
    """``tasks.vision.lenet``."""

    channels: tuple[int, ...] = param((6, 16), nonempty=True, ge=1, doc="output channels of each conv block")
    kernel_size: int = param(3, ge=1, doc="square convolution kernel (LeNet-5: 5; 3 fits 8x8 digits)")
    padding: Literal["valid", "same"] = param("same", doc="same (keeps the size before pooling; fits 8x8 digits) | "
                                                          "valid (LeNet-5)")
    hidden: tuple[int, ...] = param((120, 84), ge=1, doc="hidden fully connected widths (LeNet-5: 120, 84)")

    def validate(self) -> None:
        if self.padding == "same" and self.kernel_size % 2 == 0:
            raise ConfigError(f"tasks.vision.lenet: padding 'same' needs an odd kernel_size, got {self.kernel_size}")


@frozen
class ResNetCifarConfig:
    """``tasks.vision.resnet20``."""

    depth: int = param(20, ge=8, doc="6n + 2 layers (20, 32, 44, 56, 110)")
    width: int = param(16, ge=1, doc="channels of the first stage (then 2x, 4x)")

    def validate(self) -> None:
        if (self.depth - 2) % 6:
            raise ConfigError(f"tasks.vision.resnet20.depth = {self.depth}: a CIFAR ResNet has 6n + 2 layers "
                              "(20, 32, 44, 56, 110)")


def _conv_out(size: int, kernel: int, padding: int, stride: int = 1) -> int:
    return (size + 2 * padding - kernel) // stride + 1


class LeNet(nn.Module):
    def __init__(self, in_channels: int, image_size: int, n_classes: int, cfg: LeNetConfig = LeNetConfig()) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        pad = cfg.kernel_size // 2 if cfg.padding == "same" else 0
        self.check_input(image_size, cfg)
        convs, c = [], in_channels
        for out_c in cfg.channels:
            convs.append(nn.Conv2d(c, out_c, cfg.kernel_size, padding=pad))
            c = out_c
        self.convs = nn.ModuleList(convs)
        side = self.feature_side(image_size, cfg)
        dims = [c * side * side, *cfg.hidden, n_classes]
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    @staticmethod
    def feature_side(image_size: int, cfg: LeNetConfig) -> int:
        """Side of the feature map after the conv blocks (0 or less: the image is too small)."""
        pad = cfg.kernel_size // 2 if cfg.padding == "same" else 0
        side = image_size
        for _ in cfg.channels:
            side = _conv_out(side, cfg.kernel_size, pad)
            if side < 2:
                return 0
            side //= 2
        return side

    @staticmethod
    def check_input(image_size: int, cfg: LeNetConfig) -> None:
        if LeNet.feature_side(image_size, cfg) < 1:
            raise ConfigError(
                f"LeNet with {len(cfg.channels)} conv blocks (kernel {cfg.kernel_size}, padding {cfg.padding}, 2x2 "
                f"pooling) cannot take {image_size}x{image_size} images: the feature map vanishes; use padding: "
                "same, a smaller kernel_size or fewer channels entries in tasks.vision.lenet (8x8 digits: "
                "kernel_size 3, padding same), or a dataset with larger images")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, classes]
        for conv in self.convs:
            x = F.max_pool2d(F.relu(conv(x)), 2)
        x = x.flatten(1)
        for fc in self.fcs[:-1]:
            x = F.relu(fc(x))
        return self.fcs[-1](x)


class BasicBlock(nn.Module):
    """Two 3x3 conv + batch-norm layers with an identity (option A) shortcut (He et al. 2016, Sec. 4.2)."""

    def __init__(self, in_c: int, out_c: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_c, out_c, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_c)
        self.conv2 = nn.Conv2d(out_c, out_c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_c)
        self.stride, self.pad = stride, out_c - in_c

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.pad:
            x = F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNetCifar(nn.Module):
    def __init__(self, in_channels: int, image_size: int, n_classes: int,
                 cfg: ResNetCifarConfig = ResNetCifarConfig()) -> None:
        super().__init__()
        cfg.validate()
        self.check_input(image_size, cfg)
        n, w = (cfg.depth - 2) // 6, cfg.width
        self.conv = nn.Conv2d(in_channels, w, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(w)
        blocks, c = [], w
        for stage, width in enumerate((w, 2 * w, 4 * w)):
            for i in range(n):
                blocks.append(BasicBlock(c, width, 2 if stage > 0 and i == 0 else 1))
                c = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(c, n_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    @staticmethod
    def check_input(image_size: int, cfg: ResNetCifarConfig) -> None:
        if image_size < 4:
            raise ConfigError(f"a CIFAR ResNet halves the image twice (stride-2 stages) and cannot take "
                              f"{image_size}x{image_size} images; use images of at least 4x4 (e.g. dataset: "
                              "digits 8x8, mnist, cifar10)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, classes]
        x = self.blocks(F.relu(self.bn(self.conv(x))))
        return self.fc(x.mean((2, 3)))


#: model name -> (model class, its config class)
VISION_MODELS: Registry[tuple[type[nn.Module], type]] = Registry("vision model")
VISION_MODELS.add("lenet", (LeNet, LeNetConfig))
VISION_MODELS.add("resnet20", (ResNetCifar, ResNetCifarConfig))

__all__ = ["LeNetConfig", "ResNetCifarConfig", "LeNet", "BasicBlock", "ResNetCifar", "VISION_MODELS"]
