"""GPU benchmark: `python -m workloads.cifar10.bench_gpu` (`make bench-gpu`), one GPU, < 8 min.

Per model (the study's VGG and the residual net, full width), per mode (float32, mixed float16,
mixed float16 compiled with XLA) and per batch size (128, 512): training images/s of our input
pipeline (cached, augmented, prefetched) into a training step (SGD with momentum; a loss-scale
optimizer under mixed float16, as the trainer does). With the model's FLOPs per image
(`facts.flops`, 3 × forward for a training step) and the GPU's peak from the hardware catalog
(`facts/data/hardware.yaml`) each row carries its model FLOPs utilisation (MFU). Then the
predictor's serving throughput on the GPU against the direct serving-function server.

Results go to `workloads/cifar10/benchmarks/results-gpu.yaml`, beside the CPU results, and
`mlp cost per-model` reads the row marked `trainer_default` (the trainer's batch size and
precision on a GPU) as the measured rate for that GPU. Only a run on a GPU writes that file.

`--smoke` runs every step at toy sizes on whatever device there is (a CPU in the tests), so the
benchmark is known to work before a GPU is lent to it; it writes only to an explicit `--out`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

RESULTS_GPU = Path(__file__).parent / "benchmarks" / "results-gpu.yaml"
MODELS = ("vgg", "resnet")
MODES = {"float32": ("float32", False), "mixed_float16": ("mixed_float16", False),
         "mixed_float16_xla": ("mixed_float16", True)}
"""Mode name → (Keras policy, XLA)."""
BATCH_SIZES = (128, 512)
TRAINING_FLOPS_FACTOR = 3
"""A training step costs about 3 forward passes (forward, then backward ≈ 2 × forward), the
factor `cost/data/throughput.yaml` states for its estimates."""
BUDGET_S = 420.0
"""Seconds the training cells may take together; what is left is reported as skipped, so the
whole run, serving included, stays under 8 minutes."""


class NoGpu(RuntimeError):
    """A full run without a GPU: nothing to measure."""


@dataclass(frozen=True)
class Sizes:
    """How big a run is: the full one on a GPU, or the smoke run."""

    width: float
    batch_sizes: tuple[int, ...]
    warmup_steps: int
    min_steps: int
    min_seconds: float
    images: int
    serving_seconds: float
    serving_clients: tuple[int, ...]
    xla_models: tuple[str, ...] = MODELS
    """Models measured with XLA: compiling costs about 15 s a model on a CPU, the same code
    path for both, so the smoke run compiles one."""


FULL = Sizes(1.0, BATCH_SIZES, 5, 20, 4.0, 8192, 3.0, (1, 16))
SMOKE = Sizes(0.0625, (8,), 1, 2, 0.0, 32, 0.3, (1, 4), xla_models=("vgg",))


def gpu_device() -> dict[str, object]:
    """The GPU TensorFlow sees (name, count, catalog key and peak TFLOPS), or CPU-only."""
    import tensorflow as tf

    from facts.hardware import catalog

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return {"gpus": 0, "gpu_device_name": None, "gpu_type": None, "peak_tflops": None}
    name = str(tf.config.experimental.get_device_details(gpus[0]).get("device_name", "?"))
    known = catalog().accelerator_named(name)
    return {"gpus": len(gpus), "gpu_device_name": name,
            "gpu_type": known.name if known else None,
            "peak_tflops": dict(known.peak_tflops) if known and known.peak_tflops else None,
            "peak_sources": list(known.peak_sources) if known else [],
            "peak_note": ("" if known else f"'{name}' is not in facts/data/hardware.yaml "
                          "(accelerators.*.device_names): no peak, so no MFU")}


def _dataset(images: int, batch: int):
    """Our training pipeline over in-memory synthetic images, endless."""
    import tensorflow as tf

    from workloads.cifar10 import data

    x, y = data.synthetic_arrays(images, seed=0)
    return data.train_pipeline(tf.data.Dataset.from_tensor_slices((x, y)), batch, seed=0,
                               repeat=True)


def _step(model, policy: str, xla: bool):
    """A training step as the trainer takes it, compiled with XLA when asked."""
    import keras
    import tensorflow as tf

    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    if policy == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()

    @tf.function(jit_compile=xla)
    def step(images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True))
            scaled = optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    return step


def train_cell(architecture: str, policy: str, xla: bool, batch: int,
               sizes: Sizes) -> dict[str, object]:
    """Images/s of one model, mode and batch size, after its warm-up (tracing, XLA)."""
    import keras

    from workloads.cifar10.model import build_model

    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = build_model(architecture, width=sizes.width)
        step = _step(model, policy, xla)
        batches = iter(_dataset(sizes.images, batch))
        started = time.perf_counter()
        for _ in range(sizes.warmup_steps):
            step(*next(batches)).numpy()
        warmup = time.perf_counter() - started
        steps, started = 0, time.perf_counter()
        while steps < sizes.min_steps or time.perf_counter() - started < sizes.min_seconds:
            loss = step(*next(batches))
            steps += 1
        loss.numpy()  # wait for the device to finish the last step
        seconds = time.perf_counter() - started
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return {"images_per_s": round(steps * batch / seconds, 1), "steps": steps,
            "warmup_seconds": round(warmup, 2)}


def mfu(images_per_s: float, forward_flops: int, peak_tflops: dict[str, str] | None,
        policy: str) -> float | None:
    """Model FLOPs utilisation: training FLOP/s achieved over the GPU's peak for the policy's
    precision (its fp16 peak under mixed float16 when it has one, else fp32)."""
    if not peak_tflops:
        return None
    key = "fp16" if policy == "mixed_float16" and "fp16" in peak_tflops else "fp32"
    if key not in peak_tflops:
        return None
    achieved = images_per_s * TRAINING_FLOPS_FACTOR * forward_flops
    return round(achieved / (float(peak_tflops[key]) * 1e12), 4)


def bench_training(sizes: Sizes, device: dict[str, object],
                   budget_s: float = BUDGET_S) -> dict[str, object]:
    """Every model × mode × batch size, each with its MFU; cells past the budget are skipped."""
    from facts.flops import forward_flops
    from workloads.cifar10.config import build_parser
    from workloads.cifar10.model import build_model

    trainer_batch = build_parser().get_default("batch_size")
    deadline = time.monotonic() + budget_s
    result: dict[str, object] = {}
    for architecture in MODELS:
        flops = forward_flops(build_model(architecture, width=sizes.width))
        description = (f"vgg (num_layers 3, num_units 1024, width {sizes.width})"
                       if architecture == "vgg" else f"resnet (width {sizes.width})")
        runs = []
        for mode, (policy, xla) in MODES.items():
            for batch in sizes.batch_sizes:
                row: dict[str, object] = {"mode": mode, "precision": policy, "xla": xla,
                                          "batch_size": batch}
                if xla and architecture not in sizes.xla_models:
                    row["skipped"] = "XLA is compiled for one model only in the smoke run"
                elif time.monotonic() > deadline:
                    row["skipped"] = f"past the {budget_s:g} s budget of the training cells"
                else:
                    row.update(train_cell(architecture, policy, xla, batch, sizes))
                    row["mfu"] = mfu(float(row["images_per_s"]), flops,
                                     device.get("peak_tflops"), policy)  # type: ignore[arg-type]
                row["trainer_default"] = (policy == "mixed_float16" and not xla
                                          and batch == trainer_batch)
                runs.append(row)
        result[architecture] = {"model": description, "forward_flops_per_image": flops,
                                "training_flops_per_image": TRAINING_FLOPS_FACTOR * flops,
                                "runs": runs}
    return result


def bench_serving(sizes: Sizes, workdir: Path) -> dict[str, object]:
    """The shipped predictor against the direct serving-function server on this device."""
    from workloads.cifar10 import bench

    matrix = bench.bench_serving(width=sizes.width, seconds=sizes.serving_seconds, repeats=1,
                                 workdir=workdir, concurrency=sizes.serving_clients,
                                 images_per_request=(1, 32),
                                 servers=("direct_serving_function", "ours_kserve"))
    return {key: matrix[key] for key in ("model", "client", "servers", "ours_batching",
                                         "ours_model_threads", "matrix",
                                         "model_alone_images_per_s_by_batch_size")}


def run(smoke: bool, workdir: Path) -> dict[str, object]:
    """The whole benchmark; NoGpu for a full run on a machine without a GPU."""
    from workloads.cifar10.bench import machine_info

    sizes = SMOKE if smoke else FULL
    device = gpu_device()
    if not smoke and not device["gpus"]:
        raise NoGpu("TensorFlow sees no GPU here; `make bench-gpu` needs an NVIDIA GPU and its "
                    "driver (use --smoke to check the benchmark on a CPU)")
    started = time.perf_counter()
    results: dict[str, object] = {"machine": {**machine_info(), **device},
                                  "smoke": smoke}
    results["training"] = bench_training(sizes, device)
    results["serving"] = bench_serving(sizes, workdir)
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["date"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Run and write the results; exit 2 with one line when there is no GPU to measure."""
    parser = argparse.ArgumentParser(prog="python -m workloads.cifar10.bench_gpu",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true",
                        help="toy sizes on any device; writes only to an explicit --out")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"results file (default {RESULTS_GPU.name} beside the CPU "
                             "results, for a GPU run)")
    args = parser.parse_args(argv)
    from workloads.quiet_tf import import_tensorflow_quietly

    import_tensorflow_quietly()
    with tempfile.TemporaryDirectory(prefix="cifar10-bench-gpu-") as tmp:
        try:
            results = run(args.smoke, Path(tmp))
        except NoGpu as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    text = yaml.safe_dump(results, sort_keys=False, allow_unicode=True)
    print(text)
    out = args.out or (None if args.smoke else RESULTS_GPU)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("# Measured by `python -m workloads.cifar10.bench_gpu` (make bench-gpu); "
                       "regenerate, do not edit.\n" + text)
        print(f"results written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
