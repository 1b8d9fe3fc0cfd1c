"""CIFAR-10 reference workload: data, models, the training entry point and the KServe predictor.

Submodules import TensorFlow; this package and `config` do not, so the CLI can parse arguments
and print help without paying TensorFlow's import time.
"""

CLASS_NAMES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
"""Label order of CIFAR-10 (tfds `cifar10` and the binary release), also the order of every
probability vector the model returns."""

NUM_CLASSES = len(CLASS_NAMES)
IMAGE_SHAPE: tuple[int, int, int] = (32, 32, 3)
MODEL_NAME = "cifar10"
"""Name on the serving path: `POST /v1/models/cifar10:predict`."""
