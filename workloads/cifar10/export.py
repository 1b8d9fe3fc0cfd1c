"""SavedModel export and loading: the artifact every server (KServe, TF Serving, Vertex) loads.

Signatures (input `images`, output `probabilities` float32 [N, 10] in `CLASS_NAMES` order):

- `serving_default`: float32 [N, 32, 32, 3], pixel values in [0, 255] (what JSON numbers become).
- `serving_uint8`: uint8 [N, 32, 32, 3], raw pixels.

With a single output, TF Serving and Vertex AI's prebuilt TensorFlow containers answer
`{"predictions": [[p0..p9], ...]}`, the same body as the KServe predictor here.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf

from workloads.cifar10 import IMAGE_SHAPE

INPUT_NAME = "images"
OUTPUT_NAME = "probabilities"
SIGNATURES = ("serving_default", "serving_uint8")


def float32_copy(model: keras.Model, build: Callable[[], keras.Model]) -> keras.Model:
    """`model` itself if it computes in float32, else the same network built by `build` under
    the float32 policy with `model`'s weights (mixed-precision variables are float32 already).

    A model trained under `mixed_bfloat16` or `mixed_float16` would otherwise be exported with
    its casts, and run in that precision wherever it is served: on a CPU without bfloat16
    support TensorFlow emulates it, slower than float32.
    """
    if model.dtype_policy.name == "float32":
        return model
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        copy = build()
    finally:
        keras.mixed_precision.set_global_policy(previous)
    copy.set_weights(model.get_weights())
    return copy


def export_saved_model(model: keras.Model, path: str) -> str:
    """Write `model` as a SavedModel with both serving signatures to `path` (local or gs://)."""
    archive = keras.export.ExportArchive()
    archive.track(model)

    def probabilities(images: tf.Tensor) -> dict[str, tf.Tensor]:
        return {OUTPUT_NAME: tf.cast(model(tf.cast(images, tf.float32), training=False),
                                     tf.float32)}

    for name, dtype in zip(SIGNATURES, (tf.float32, tf.uint8), strict=True):
        archive.add_endpoint(
            name, tf.function(probabilities),
            input_signature=[tf.TensorSpec([None, *IMAGE_SHAPE], dtype, name=INPUT_NAME)])
    archive.write_out(path, verbose=False)
    return path


class NotAnExport(ValueError):
    """A SavedModel that is not this workload's export; the message says what it lacks."""


def _signature(module: object, path: str, name: str, dtype: tf.DType) -> Callable:
    """Signature `name` of a loaded SavedModel, checked to take `images` [N, 32, 32, 3] of
    `dtype` and to answer `probabilities`; NotAnExport naming what differs."""
    found = module.signatures  # type: ignore[attr-defined]
    expected = f"{INPUT_NAME!r} {dtype.name} [N, 32, 32, 3] → {OUTPUT_NAME!r}"
    if name not in found:
        raise NotAnExport(f"the SavedModel at {path!r} has no {name!r} signature (it has "
                          f"{', '.join(sorted(found)) or 'none'}); serve a CIFAR-10 export, "
                          f"whose {' and '.join(SIGNATURES)} take {expected}")
    fn = found[name]
    spec = fn.structured_input_signature[1].get(INPUT_NAME)
    if (spec is None or spec.dtype != dtype or spec.shape.as_list() != [None, *IMAGE_SHAPE]
            or OUTPUT_NAME not in fn.structured_outputs):
        takes = ", ".join(f"{key!r} {value.dtype.name} {value.shape.as_list()}"
                          for key, value in fn.structured_input_signature[1].items())
        answers = ", ".join(map(repr, fn.structured_outputs))
        raise NotAnExport(f"the SavedModel at {path!r}: signature {name!r} takes "
                          f"{takes or 'nothing'} and answers {answers or 'nothing'}; a CIFAR-10 "
                          f"export takes {expected}")
    return fn


class LoadedClassifier:
    """A loaded export: call with a float32 or uint8 batch, get probabilities as numpy."""

    def __init__(self, path: str) -> None:
        if not tf.io.gfile.exists(f"{path.rstrip('/')}/saved_model.pb"):
            raise FileNotFoundError(f"no SavedModel at {path!r} (saved_model.pb missing); "
                                    "pass the version folder, e.g. MODEL_DIR/1")
        self.path = path
        self._module = tf.saved_model.load(path)
        self._float = _signature(self._module, path, SIGNATURES[0], tf.float32)
        self._uint8 = _signature(self._module, path, SIGNATURES[1], tf.uint8)

    def __call__(self, images: tf.Tensor) -> tf.Tensor:
        fn = self._uint8 if images.dtype == tf.uint8 else self._float
        return fn(**{INPUT_NAME: images})[OUTPUT_NAME]
