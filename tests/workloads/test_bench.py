"""The benchmark's machine record: infra's base fields plus the workload's packages and GPUs."""

from __future__ import annotations

import os
from importlib import metadata

import pytest

pytest.importorskip("tensorflow")


def test_machine_info_extends_infras_with_the_workloads_packages() -> None:
    from facts.machine import machine_info as base_info
    from workloads.cifar10.bench import machine_info

    info = machine_info()
    base = base_info(())
    assert {key: info[key] for key in base} == base
    assert info["keras"] == metadata.version("keras")
    assert info["kserve"] == metadata.version("kserve")
    assert "pulumi" not in info and info["gpus"] >= 0
    assert 1 <= info["usable_cpus"] <= (os.cpu_count() or 1)


def _cell(rps: float, p50: float, p99: float) -> dict[str, float]:
    return {"requests_per_s": rps, "p50_ms": p50, "p99_ms": p99}


@pytest.mark.parametrize(("ours", "direct", "met"), [
    (_cell(900, 10, 50), _cell(300, 20, 50), True),     # 3× and p99 equal
    (_cell(899, 10, 40), _cell(300, 20, 50), False),    # 2.997×
    (_cell(1200, 10, 51), _cell(300, 20, 50), False),   # 4×, p99 worse
])
def test_the_serving_throughput_goal_is_computed_from_the_matrix(ours, direct, met) -> None:
    from workloads.cifar10.bench import serving_goals

    matrix = {"1_image_per_request": {"16_clients": {"ours_kserve": ours,
                                                     "direct_serving_function": direct}}}
    goal = serving_goals(matrix)["16_clients_1_image"]
    assert goal["met"] is met
    assert goal["ratio"] == round(ours["requests_per_s"] / direct["requests_per_s"], 2)


@pytest.mark.parametrize(("alone", "above"), [(900.0, True), (899.0, False)])
def test_the_throughput_goal_has_a_ceiling_from_the_model_alone(alone: float,
                                                               above: bool) -> None:
    from workloads.cifar10.bench import serving_goals

    matrix = {"1_image_per_request": {"16_clients": {
        "ours_kserve": _cell(600, 10, 40), "direct_serving_function": _cell(300, 20, 50)}}}
    goal = serving_goals(matrix, {1: 100.0, 16: alone})["16_clients_1_image"]
    assert goal["ceiling_ratio"] == round(alone / 300, 2)
    assert goal["ceiling_above_goal"] is above and goal["met"] is False
    assert "ceiling_ratio" not in serving_goals(matrix, {1: 100.0})["16_clients_1_image"]


@pytest.mark.parametrize(("ours_p50", "met"), [(11.0, True), (11.1, False)])
def test_the_lone_client_latency_goal_allows_ten_percent(ours_p50: float, met: bool) -> None:
    from workloads.cifar10.bench import serving_goals

    matrix = {"1_image_per_request": {"1_clients": {
        "ours_kserve": _cell(90, ours_p50, 20), "direct_serving_function": _cell(100, 10, 20)}}}
    assert serving_goals(matrix)["1_client_1_image"]["met"] is met


def test_the_precision_goal_is_judged_on_the_width_0_25_vgg() -> None:
    from workloads.cifar10.bench import precision_goal

    def section(ratio: float, policy: str = "mixed_bfloat16") -> dict:
        return {"ours_policy": policy, "precision_speedup_after_first_epoch": ratio}

    met = precision_goal({"end_to_end_width_0.25": section(1.3),
                          "end_to_end_width_0.0625": section(0.9)})
    assert met["met"] is True and met["other_widths"] == {"end_to_end_width_0.0625": 0.9}
    assert precision_goal({"end_to_end_width_0.25": section(1.29)})["met"] is False
    unmeasured = precision_goal({"end_to_end_width_0.25": section(1.0, "float32")})
    assert unmeasured["met"] is None and "no native bfloat16" in unmeasured["why"]


def test_mfu_is_training_flops_over_the_peak_of_the_precision() -> None:
    from workloads.cifar10.bench_gpu import mfu

    # 1,000 images/s × 3 × 1 GFLOP = 3 TFLOP/s; of 65 fp16 and 8.1 fp32 peaks.
    peaks = {"fp16": "65", "fp32": "8.1"}
    assert mfu(1000, 10**9, peaks, "mixed_float16") == round(3 / 65, 4)
    assert mfu(1000, 10**9, peaks, "float32") == round(3 / 8.1, 4)
    assert mfu(1000, 10**9, {"fp32": "5.5"}, "mixed_float16") == round(3 / 5.5, 4)
    assert mfu(1000, 10**9, None, "float32") is None


def test_cuda_device_names_find_their_gpu_in_the_hardware_catalog() -> None:
    from facts.hardware import catalog

    assert catalog().accelerator_named("Tesla T4").name == "nvidia-tesla-t4"
    assert catalog().accelerator_named("NVIDIA L4").name == "nvidia-l4"
    assert catalog().accelerator_named("NVIDIA H200") is None
    assert all(gpu.peak_tflops and gpu.peak_sources and gpu.device_names
               for gpu in catalog().accelerators.values())


def test_a_full_gpu_run_without_a_gpu_stops_with_exit_2(monkeypatch, capsys, tmp_path) -> None:
    from workloads.cifar10 import bench_gpu

    monkeypatch.setattr(bench_gpu, "gpu_device", lambda: {"gpus": 0})
    assert bench_gpu.main(["--out", str(tmp_path / "r.yaml")]) == 2
    assert "TensorFlow sees no GPU here" in capsys.readouterr().err
    assert not (tmp_path / "r.yaml").exists()


def test_the_gpu_benchmark_smoke_run_measures_every_cell(tmp_path) -> None:
    """`make bench-gpu`'s entry point in its CPU smoke mode, as a subprocess."""
    import subprocess
    import sys

    import yaml

    from workloads.cifar10.bench_gpu import MODELS, MODES, RESULTS_GPU, SMOKE

    out = tmp_path / "results-gpu.yaml"
    done = subprocess.run([sys.executable, "-m", "workloads.cifar10.bench_gpu", "--smoke",
                           "--out", str(out)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": "",
                               "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-2000:]
    results = yaml.safe_load(out.read_text())
    assert results["smoke"] is True and results["machine"]["gpus"] == 0
    for model in MODELS:
        runs = results["training"][model]["runs"]
        assert {(r["mode"], r["batch_size"]) for r in runs} == {
            (mode, batch) for mode in MODES for batch in SMOKE.batch_sizes}
        measured = [r for r in runs if "skipped" not in r]
        assert all(r["images_per_s"] > 0 and r["mfu"] is None for r in measured)
        assert {r["mode"] for r in measured} == (set(MODES) if model in SMOKE.xla_models
                                                 else set(MODES) - {"mixed_float16_xla"})
        assert results["training"][model]["forward_flops_per_image"] > 0
    matrix = results["serving"]["matrix"]["1_image_per_request"]
    for cell in matrix.values():
        assert set(cell) == {"ours_kserve", "direct_serving_function"}
        assert all(row["errors"] == 0 and row["requests"] > 0 for row in cell.values())
    assert out != RESULTS_GPU


def test_the_readme_benchmark_tables_are_generated_from_the_committed_results() -> None:
    from workloads.cifar10 import bench_report

    readme = (bench_report.BENCHMARKS.parents[1] / "README.md").read_text()
    block = bench_report.render(bench_report._read(bench_report.BENCHMARKS / "results.yaml"),
                                bench_report._read(bench_report.BENCHMARKS / "results-gpu.yaml"))
    assert bench_report.replace_block(readme, block) == readme, (
        "run: python -m workloads.cifar10.bench_report --write workloads/README.md")
    results = bench_report._read(bench_report.BENCHMARKS / "results.yaml")
    for goal in results["goals"].values():
        assert ("**met**" if goal["met"] else "not met") in block


@pytest.mark.slow
def test_the_feature_log_section_measures_both_servers_and_logs_what_it_served(tmp_path) -> None:
    """`--only feature-log` at smoke size: one round of each server, every request of the
    logged one written to the feature log."""
    from workloads.cifar10.bench import measure

    section = measure("feature-log", tmp_path, quick=True)
    for name in ("without_feature_log", "with_feature_log"):
        assert section[name]["requests_per_s"] > 0
        assert len(section[name]["p50_ms_rounds"]) == 1
    assert section["records_logged"] > 0
    assert isinstance(section["difference_within_noise"], bool)


@pytest.mark.parametrize(("cores", "unused"), [(1.2, True), (1.6, False)])
def test_the_cpu_sentence_says_cpu_is_left_unused_only_when_it_is(cores: float,
                                                                  unused: bool) -> None:
    from workloads.cifar10.bench_report import cpu_lines

    row = {"server_cpu_ms_per_request": 1.3, "server_cores": cores}
    serving = {"matrix": {"1_image_per_request": {"16_clients": {
        "ours_kserve": row, "direct_serving_function": {"server_cpu_ms_per_request": 2.3,
                                                        "server_cores": 1.7}}}}}
    direct = serving["matrix"]["1_image_per_request"]["16_clients"]["direct_serving_function"]
    direct["requests_per_s"] = 500.0
    text = cpu_lines(serving, 2)[0]
    assert f"used 1.3 ms of CPU per request ({cores:g} cores" in text
    assert ("leaves CPU unused" in text) is unused
    # 3 × 500 requests/s at 1.3 ms each
    assert "(1,500.0) would take 1.95 cores for the predictor alone, of the 2." in text
    assert cpu_lines({"matrix": {}}, 2) == []
