"""Image classification: data (scikit-learn digits offline; MNIST, CIFAR-10 through torchvision), LeNet-5 and
ResNet-20-style models, the task bundle."""

from .data import (CIFAR10_CLASSES, DATASETS, DatasetInfo, ImageData, ImageSplit, load_digits_data, load_image_data,
                   offline, stratified_indices)
from .models import VISION_MODELS, LeNet, LeNetConfig, ResNetCifar, ResNetCifarConfig
from .task import VisionTask, VisionTaskConfig, load_vision_data

__all__ = ["CIFAR10_CLASSES", "DATASETS", "DatasetInfo", "ImageData", "ImageSplit", "load_digits_data",
           "load_image_data", "offline", "stratified_indices", "VISION_MODELS", "LeNet", "LeNetConfig", "ResNetCifar",
           "ResNetCifarConfig", "VisionTask", "VisionTaskConfig", "load_vision_data"]
