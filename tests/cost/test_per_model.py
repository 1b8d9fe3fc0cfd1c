"""`mlp cost per-model`: the arithmetic by hand, the measured/estimated/given labels, bad input."""

from __future__ import annotations

from decimal import Decimal

import pytest
from typer.testing import CliRunner

from cost.catalog import load_catalog
from cost.per_model import (
    PerModelError,
    estimated_images_per_s,
    load_results,
    load_throughput_data,
    per_model,
    spot_hours,
    training_hours,
    usd_per_million,
)
from cost.scenario import Gpu
from mlp.cli import app

runner = CliRunner()
T4 = Gpu(type="nvidia-tesla-t4", count=1)
PRICES = load_catalog("2026-07-30")


def _run(**kwargs):
    args = {"model": "vgg", "machine": "n1-standard-8", "gpu": T4,
            "serving_machine": "n1-standard-4", **kwargs}
    return per_model(PRICES, load_throughput_data(), load_results(), **args)


def test_training_hours_are_epochs_times_images_over_rate_plus_overhead() -> None:
    # 2 epochs × 3,600 images at 10 images/s = 720 s = 0.2 h, plus 0.5 h.
    assert training_hours(2, 3600, Decimal(10), Decimal("0.5")) == Decimal("0.7")
    assert spot_hours(Decimal(2), Decimal("0.5")) == Decimal(3)


def test_dollars_per_million_predictions() -> None:
    # 0.36 USD/h at 100 requests/s = 360,000 requests an hour: 1 USD per million.
    assert usd_per_million(Decimal("0.36"), Decimal(100)) == Decimal(1)


def test_estimate_is_peak_times_utilisation_over_training_flops() -> None:
    # 60 TFLOPS × 0.5 / (3 × 1 GFLOP) = 10,000 images/s; two GPUs double it.
    assert estimated_images_per_s(10**9, Decimal(3), Decimal(60), Decimal("0.5")) == 10_000
    assert estimated_images_per_s(10**9, Decimal(3), Decimal(60), Decimal("0.5"), 2) == 20_000


def test_per_model_study_and_million_by_hand() -> None:
    # 10 epochs × 45,000 images at 1,250 images/s = 360 s = 0.1 h, + 0.1 h overhead = 0.2 h.
    r = _run(throughput=Decimal(1250), requests_per_s=Decimal(100), epochs=10, trials=12,
             overhead_hours=Decimal("0.1"), spot_rerun=Decimal("0.15"))
    rows = {o.option: o for o in r.options}
    hourly = (PRICES.machine("n1-standard-8").usd + PRICES.gpu("nvidia-tesla-t4").usd)
    assert hourly == Decimal("0.729998")  # n1-standard-8 0.379998 + T4 0.35
    gke = rows["GKE on-demand"]
    assert gke.hours_per_model == Decimal("0.2")
    assert gke.per_model == Decimal("0.1459996")
    assert gke.per_study == Decimal("1.7519952")
    # serving: n1-standard-4 on-demand 0.189999 USD/h / 360,000 requests an hour × 1e6.
    assert gke.serve_hourly == Decimal("0.189999")
    assert gke.per_million == Decimal("0.527775")
    spot = rows["GKE spot"]
    assert spot.hours_per_model == Decimal("0.230")
    assert spot.per_model == Decimal("0.230") * (PRICES.machine("n1-standard-8", "spot").usd
                                                 + PRICES.gpu("nvidia-tesla-t4", "spot").usd)
    vertex = rows["Vertex on-demand"]
    assert vertex.per_model == Decimal("0.2") * (
        PRICES.vertex("training_machine", "n1-standard-8").usd
        + PRICES.vertex("training_gpu", "nvidia-tesla-t4").usd)
    vertex_spot = rows["Vertex spot"]
    assert vertex_spot.hours_per_model == Decimal("0.230")  # re-runs, as on GKE spot
    assert vertex_spot.per_model == Decimal("0.230") * (
        PRICES.vertex("spot_training_machine", "n1-standard-8").usd
        + PRICES.vertex("spot_training_gpu", "nvidia-tesla-t4").usd)
    assert vertex_spot.per_million is None
    assert "serving not priced" in vertex_spot.notes[0]
    assert r.training.kind == "given" and r.serving is not None and r.serving.kind == "given"


@pytest.mark.parametrize(("model", "gpu", "peak"), [
    ("vgg", "nvidia-tesla-t4", "65 TFLOPS fp16"), ("vgg", "nvidia-tesla-v100", "125 TFLOPS fp16"),
    ("resnet", "nvidia-tesla-t4", "65 TFLOPS fp16"),
    ("resnet", "nvidia-tesla-v100", "125 TFLOPS fp16"),
    ("resnet", "nvidia-tesla-p4", "5.5 TFLOPS fp32")])
def test_gpu_without_benchmark_is_estimated(model: str, gpu: str, peak: str) -> None:
    r = _run(model=model, gpu=Gpu(type=gpu, count=1))
    assert r.training.kind == "estimated"
    assert peak in r.training.basis and gpu in r.training.hardware
    data = load_throughput_data()
    assert r.training.value == estimated_images_per_s(
        data.models[model].forward_flops, Decimal(3), Decimal(peak.split()[0]), Decimal("0.3"))
    assert any("peak sources" in a for a in r.assumptions)


def _bench_row(results: dict, description: str) -> dict:
    return next(section for section in results["training"].values()
                if isinstance(section, dict) and section.get("model") == description)


def test_cpu_row_of_the_benchmark_is_measured() -> None:
    results = load_results()
    r = _run(model="vgg-width-0.25", gpu=None)
    row = _bench_row(results, "vgg (num_layers 3, num_units 1024, width 0.25)")
    assert r.training.kind == "measured"
    assert r.training.value == Decimal(str(row["ours"]["images_per_s_after_first_epoch"]))
    assert r.training.hardware.startswith(f"CPU: {results['machine']['cpu']}, 2 usable CPUs")


def _serving(cells: dict[str, tuple[float, float]]) -> dict:
    """A results mapping whose serving matrix has `ours_kserve` at (requests/s, p99) per cell."""
    return {"machine": {"cpu": "test CPU", "usable_cpus": 2}, "serving": {
        "model": "vgg (num_layers 3, num_units 1024, width 0.25), untrained weights",
        "matrix": {"1_image_per_request": {
            key: {"ours_kserve": {"requests_per_s": rps, "p99_ms": p99}}
            for key, (rps, p99) in cells.items()}}}}


def test_serving_takes_the_fastest_load_whose_p99_meets_the_target() -> None:
    results = _serving({"1_clients": (200.0, 8.0), "4_clients": (400.0, 90.0),
                        "16_clients": (500.0, 600.0)})
    r = per_model(PRICES, load_throughput_data(), results, model="vgg", machine="n1-standard-8",
                  gpu=None, serving_machine="n1-standard-4", throughput=Decimal(10),
                  target_p99_ms=Decimal(100))
    assert r.serving is not None and r.serving.kind == "measured"
    assert r.serving.value == Decimal(400) and "4_clients" in r.serving.basis


def test_a_gpu_benchmark_replaces_the_estimate() -> None:
    results = load_results()
    results = {**results, "machine": {**results["machine"], "gpus": 1,
                                      "gpu_type": "nvidia-tesla-t4"}}
    r = per_model(PRICES, load_throughput_data(), results, model="vgg-width-0.25",
                  machine="n1-standard-8", gpu=T4, serving_machine="n1-standard-4")
    assert r.training.kind == "measured" and r.training.hardware == "GPU: 1 × nvidia-tesla-t4"
    # the same results on a V100 option are still an estimate
    r = per_model(PRICES, load_throughput_data(), results, model="vgg-width-0.25",
                  machine="n1-standard-8", gpu=Gpu(type="nvidia-tesla-v100", count=1),
                  serving_machine="n1-standard-4")
    assert r.training.kind == "estimated"


def _gpu_results(path, gpu_type: str = "nvidia-tesla-t4") -> dict:
    import yaml

    path.write_text(yaml.safe_dump({
        "machine": {"gpus": 1, "gpu_type": gpu_type, "date": "2027-01-01T00:00:00Z"},
        "training": {"vgg": {"model": "vgg (num_layers 3, num_units 1024, width 1.0)", "runs": [
            {"mode": "mixed_float16", "precision": "mixed_float16", "xla": False,
             "batch_size": 512, "images_per_s": 9999.0, "trainer_default": False},
            {"mode": "mixed_float16", "precision": "mixed_float16", "xla": False,
             "batch_size": 128, "images_per_s": 1234.5, "trainer_default": True}]}}}))
    return load_results(path)


def test_a_gpu_results_file_is_the_measured_rate_for_its_gpu(tmp_path) -> None:
    gpu_results = _gpu_results(tmp_path / "results-gpu.yaml")
    r = _run(model="vgg", gpu=T4, gpu_results=gpu_results)
    assert r.training.kind == "measured" and r.training.value == Decimal("1234.5")
    assert "results-gpu.yaml training.vgg, mixed_float16 at batch 128" in r.training.basis
    assert r.training.hardware == "GPU: 1 × nvidia-tesla-t4"
    on_v100 = _run(model="vgg", gpu=Gpu(type="nvidia-tesla-v100", count=1),
                   gpu_results=gpu_results)
    assert on_v100.training.kind == "estimated"
    two_t4 = _run(model="vgg", gpu=Gpu(type="nvidia-tesla-t4", count=2), gpu_results=gpu_results)
    assert two_t4.training.kind == "estimated"
    assert _run(model="resnet", gpu=T4, gpu_results=gpu_results).training.kind == "estimated"


def test_the_cli_reads_the_gpu_results_file_and_refuses_a_half_written_one(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cost.per_model

    path = tmp_path / "results-gpu.yaml"
    _gpu_results(path)
    monkeypatch.setattr(cost.per_model, "GPU_RESULTS_FILE", path)
    done = runner.invoke(app, ["cost", "per-model", "--model", "vgg"])
    assert done.exit_code == 0, done.output
    assert "1,234.5 images/s, measured (GPU: 1 × nvidia-tesla-t4)" in done.output
    path.write_text("machine: {gpus: 1\ntraining: [")
    done = runner.invoke(app, ["cost", "per-model", "--model", "vgg"])
    assert done.exit_code == 2
    assert f"{path}: cannot read benchmark results" in done.output
    assert "Traceback" not in done.output


def test_serving_rate_that_misses_the_p99_target_is_not_used() -> None:
    results = _serving({"1_clients": (200.0, 150.0), "16_clients": (500.0, 600.0)})
    r = per_model(PRICES, load_throughput_data(), results, model="vgg", machine="n1-standard-8",
                  gpu=T4, serving_machine="n1-standard-4", target_p99_ms=Decimal(100))
    assert r.serving is None
    assert ("the lowest measured p99, 150.0 ms (1_clients), is above the target 100 ms"
            in r.serving_note)
    assert all(o.per_million is None for o in r.options)


def test_cpu_without_measurement_needs_a_throughput() -> None:
    with pytest.raises(PerModelError, match="--throughput"):
        _run(model="resnet", gpu=None)


def test_flops_data_match_the_keras_models() -> None:
    from facts.flops import forward_flops
    from workloads.cifar10.model import build_model

    for spec in load_throughput_data().models.values():
        kwargs = {"width": spec.width}
        if spec.architecture == "vgg":
            kwargs |= {"num_layers": spec.num_layers, "num_units": spec.num_units}
        assert forward_flops(build_model(spec.architecture, **kwargs)) == spec.forward_flops


def test_cli_prints_labels() -> None:
    result = runner.invoke(app, ["cost", "per-model", "--model", "resnet", "--gpu",
                                 "nvidia-tesla-v100:1"])
    assert result.exit_code == 0, result.output
    assert "images/s, estimated (GPU: 1 × nvidia-tesla-v100)" in result.output
    assert "requests/s per node, measured (CPU" in result.output
    assert "Vertex spot" in result.output and "not priced" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "alexnet"], "--model: 'alexnet' is not one of resnet, vgg, vgg-width-0.25"),
    (["--throughput", "fast"], "--throughput: 'fast' is not allowed"),
    (["--throughput", "0"], "--throughput: '0' is not allowed"),
    (["--utilisation", "1.5"], "--utilisation: 1.5 is not allowed"),
    (["--spot-rerun", "-1"], "--spot-rerun: '-1' is not allowed"),
    (["--epochs", "0"], "--epochs: 0 is not allowed"),
    (["--gpu", "nvidia-tesla-t4:0"], "--gpu: 'nvidia-tesla-t4:0' has COUNT 0"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["cost", "per-model", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
