"""Floating-point operations per image of a Keras model, from its layer shapes.

Shared by the cost estimate of a GPU that has not been benchmarked (peak FLOP/s × utilisation /
training FLOPs per image) and the GPU benchmark's model FLOPs utilisation; it reads the layers it
is given and imports no TensorFlow. Only convolutions and dense layers are
counted (multiply and add = 2 FLOPs per weight use); batch-norm, activations, pooling and
dropout add well under 1 % for these networks and are left out, so the count is a lower bound.
"""

from __future__ import annotations

from typing import Any


def layer_flops(layer: Any) -> int:
    """Forward FLOPs of one image through `layer` (0 for layers that are not counted).

    Conv2D: 2 × output height × output width × kernel height × kernel width × input channels
    × filters; Dense: 2 × inputs × units.
    """
    kind = type(layer).__name__
    if kind == "Conv2D":
        _, height, width, filters = layer.output.shape
        kernel_h, kernel_w = layer.kernel_size
        channels = layer.input.shape[-1]
        return 2 * int(height) * int(width) * kernel_h * kernel_w * int(channels) * int(filters)
    if kind == "Dense":
        return 2 * int(layer.input.shape[-1]) * int(layer.units)
    return 0


def forward_flops(model: Any) -> int:
    """Forward FLOPs of one image through every counted layer of a Keras model."""
    return sum(layer_flops(layer) for layer in model.layers)
