"""The two CIFAR-10 networks. Both take float images in [0, 255] and return class probabilities.

Scaling and per-channel standardisation are layers inside the model, so training, the exported
SavedModel and every server see the same raw pixel contract.

- `vgg`: the study's VGG-like net — conv blocks of 128, 256, 384 filters (two 3×3 convs with
  batch-norm and ReLU, max-pool, dropout), then dense 1024 and 512 with dropout. `num_layers`
  sets the number of conv blocks (blocks after the third keep 384 filters) and `num_units` the
  first dense width (the second is half of it), the knobs its Katib and Vertex specs tune.
- `resnet`: a ResNet-9-style residual net (prep 64, 128 + residual, 256, 512 + residual), the
  usual design for fast time-to-accuracy on CIFAR-10.

`width` scales every conv filter count (1.0 = as published); tests use small widths.
"""

from __future__ import annotations

import keras
from keras import layers

from workloads.cifar10 import IMAGE_SHAPE, NUM_CLASSES
from workloads.cifar10.config import MAX_CONV_BLOCKS

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
"""Per-channel mean and standard deviation of the CIFAR-10 training set, pixels scaled to [0, 1]."""

VGG_FILTERS = (128, 256, 384, 384, 384)
VGG_DROPOUT = (0.2, 0.3, 0.4, 0.4, 0.4)
DENSE_DROPOUT = 0.5
BN_MOMENTUM = 0.9
"""Moving-statistics momentum of batch-norm (PyTorch's 0.1): Keras's 0.99 lags on short runs."""


def _filters(n: int, width: float) -> int:
    return max(1, round(n * width))


def _preprocess(inputs: keras.KerasTensor) -> keras.KerasTensor:
    x = layers.Rescaling(1.0 / 255.0, name="scale")(inputs)
    return layers.Normalization(mean=list(CIFAR10_MEAN),
                                variance=[s * s for s in CIFAR10_STD], name="standardise")(x)


def _conv_bn(x: keras.KerasTensor, filters: int, name: str) -> keras.KerasTensor:
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _head(x: keras.KerasTensor) -> keras.KerasTensor:
    # float32 output keeps softmax stable under the mixed_float16 policy.
    return layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32", name="probabilities")(x)


def build_vgg(num_layers: int = 3, num_units: int = 1024, width: float = 1.0) -> keras.Model:
    """The study's VGG-like network; see the module docstring for the knobs."""
    if not 1 <= num_layers <= MAX_CONV_BLOCKS:
        raise ValueError(f"num_layers={num_layers} is not allowed; use 1..{MAX_CONV_BLOCKS}")
    if num_units < 1:
        raise ValueError(f"num_units={num_units} is not allowed; it must be ≥ 1")
    inputs = keras.Input(IMAGE_SHAPE, name="images")
    x = _preprocess(inputs)
    for block in range(num_layers):
        filters = _filters(VGG_FILTERS[block], width)
        x = _conv_bn(x, filters, f"block{block + 1}a")
        x = _conv_bn(x, filters, f"block{block + 1}b")
        x = layers.MaxPooling2D(name=f"block{block + 1}_pool")(x)
        x = layers.Dropout(VGG_DROPOUT[block], name=f"block{block + 1}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate((num_units, max(1, num_units // 2)), start=1):
        x = layers.Dense(units, use_bias=False, name=f"dense{i}")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"dense{i}_bn")(x)
        x = layers.ReLU(name=f"dense{i}_relu")(x)
        x = layers.Dropout(DENSE_DROPOUT, name=f"dense{i}_dropout")(x)
    return keras.Model(inputs, _head(x), name="vgg")


def _residual(x: keras.KerasTensor, filters: int, name: str) -> keras.KerasTensor:
    y = _conv_bn(x, filters, f"{name}_res1")
    y = _conv_bn(y, filters, f"{name}_res2")
    return layers.Add(name=f"{name}_add")([x, y])


def build_resnet(width: float = 1.0) -> keras.Model:
    """ResNet-9-style network for fast training."""
    inputs = keras.Input(IMAGE_SHAPE, name="images")
    x = _conv_bn(_preprocess(inputs), _filters(64, width), "prep")
    for name, filters, residual in (("layer1", 128, True), ("layer2", 256, False),
                                    ("layer3", 512, True)):
        x = _conv_bn(x, _filters(filters, width), name)
        x = layers.MaxPooling2D(name=f"{name}_pool")(x)
        if residual:
            x = _residual(x, _filters(filters, width), name)
    x = layers.GlobalMaxPooling2D(name="pool")(x)
    return keras.Model(inputs, _head(x), name="resnet")


def build_model(architecture: str, num_layers: int = 3, num_units: int = 1024,
                width: float = 1.0) -> keras.Model:
    """The named architecture (`vgg` or `resnet`)."""
    if architecture == "vgg":
        return build_vgg(num_layers=num_layers, num_units=num_units, width=width)
    if architecture == "resnet":
        return build_resnet(width=width)
    raise ValueError(f"model {architecture!r} is not allowed; use vgg or resnet")
