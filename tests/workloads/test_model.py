"""The study's VGG-like network and the residual network."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from workloads.cifar10.model import build_model, build_resnet, build_vgg


def _layer_widths(model, kind: str) -> list[int]:
    return [layer.filters if kind == "Conv2D" else layer.units for layer in model.layers
            if type(layer).__name__ == kind]


def test_vgg_is_the_published_network_by_default() -> None:
    model = build_vgg()
    assert _layer_widths(model, "Conv2D") == [128, 128, 256, 256, 384, 384]
    assert _layer_widths(model, "Dense") == [1024, 512, 10]
    kinds = {type(layer).__name__ for layer in model.layers}
    assert {"BatchNormalization", "MaxPooling2D", "Dropout", "Rescaling",
            "Normalization"} <= kinds
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 10)


def test_vgg_knobs_change_depth_and_dense_width() -> None:
    model = build_vgg(num_layers=5, num_units=64)
    assert _layer_widths(model, "Conv2D") == [128, 128, 256, 256, 384, 384, 384, 384, 384, 384]
    assert _layer_widths(model, "Dense") == [64, 32, 10]
    assert _layer_widths(build_vgg(num_layers=2, width=0.5), "Conv2D") == [64, 64, 128, 128]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"num_layers": 6}, "num_layers=6 is not allowed; use 1..5"),
    ({"num_layers": 0}, "num_layers=0 is not allowed"),
    ({"num_units": 0}, "num_units=0 is not allowed"),
])
def test_vgg_rejects_impossible_shapes(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_vgg(**kwargs)


def test_unknown_architecture_is_named() -> None:
    with pytest.raises(ValueError, match="model 'lenet' is not allowed; use vgg or resnet"):
        build_model("lenet")


def test_resnet_returns_probabilities_from_raw_pixels() -> None:
    model = build_resnet(width=0.125)
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)).astype(np.float32)
    probs = model(images, training=False).numpy()
    assert probs.shape == (4, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert any(type(layer).__name__ == "Add" for layer in model.layers)


def test_scaling_is_inside_the_model() -> None:
    """Raw [0, 255] pixels and their standardised form reach the first conv identically."""
    import keras

    model = build_vgg(num_layers=1, num_units=8, width=0.125)
    standardise = keras.Model(model.input, model.get_layer("standardise").output)
    pixels = np.full((1, 32, 32, 3), 255.0, dtype=np.float32)
    out = standardise(pixels).numpy()[0, 0, 0]
    np.testing.assert_allclose(out, (1.0 - np.array([0.4914, 0.4822, 0.4465]))
                               / np.array([0.2470, 0.2435, 0.2616]), rtol=1e-4)
