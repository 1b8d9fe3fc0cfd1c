"""Precision: `--precision auto` picks mixed bfloat16 on CPUs that compute it natively, a flag
turns it off, the choice is in metrics.json and the fingerprint, and the export is float32."""

from __future__ import annotations

from pathlib import Path

import pytest

from workloads.cifar10.precision import (
    CPU_BF16_FLAGS,
    PRECISIONS,
    bf16_flags,
    choose_policy,
    cpu_flags,
)

SAPPHIRE_RAPIDS = "processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
SKYLAKE = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw\n"


@pytest.mark.parametrize(("cpuinfo", "gpu", "policy"), [
    (SAPPHIRE_RAPIDS, False, "mixed_bfloat16"),
    (SKYLAKE, False, "float32"),
    (SAPPHIRE_RAPIDS, True, "mixed_float16"),
    ("", False, "float32"),
])
def test_auto_follows_the_hardware(tmp_path: Path, cpuinfo: str, gpu: bool,
                                   policy: str) -> None:
    path = tmp_path / "cpuinfo"
    path.write_text(cpuinfo)
    chosen, why = choose_policy("auto", gpu, cpu_flags(path))
    assert chosen == policy and why.startswith("auto")


def test_a_machine_without_proc_cpuinfo_stays_float32(tmp_path: Path) -> None:
    assert cpu_flags(tmp_path / "absent") == frozenset()
    assert choose_policy("auto", False, cpu_flags(tmp_path / "absent"))[0] == "float32"


@pytest.mark.parametrize("asked", [p for p in PRECISIONS if p != "auto"])
def test_an_explicit_precision_wins(asked: str) -> None:
    assert choose_policy(asked, True, frozenset(CPU_BF16_FLAGS)) == (asked, "--precision")


def test_an_unknown_precision_is_refused_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="--precision 'bf16' is not allowed; use one of auto"):
        choose_policy("bf16", False, frozenset())
    assert bf16_flags(frozenset({"amx_bf16", "sse2"})) == ["amx_bf16"]


def test_the_trainer_flag_is_checked_before_tensorflow(capsys: pytest.CaptureFixture) -> None:
    from workloads.cifar10.config import parse_args

    with pytest.raises(SystemExit) as done:
        parse_args(["--precision", "half"], environ={})
    assert done.value.code == 2
    assert "argument --precision: invalid choice: 'half'" in capsys.readouterr().err
    assert parse_args(["--precision", "float32"], environ={}).precision == "float32"
    assert parse_args([], environ={}).hyperparameters()["precision"] == "auto"


def test_a_run_records_its_policy_and_a_resume_cannot_switch_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    import workloads.cifar10.train as train_module
    from workloads.cifar10.config import parse_args
    from workloads.cifar10.loop import ResumeError, read_fingerprint

    from .conftest import backup_of, tiny_args

    class Preempted(Exception):
        pass

    report = train_module.EpochReporter.__call__

    def preempted_after_the_first_epoch(self, result) -> None:
        report(self, result)
        raise Preempted

    first = parse_args(tiny_args(tmp_path, "--epochs", "2", "--precision", "mixed_bfloat16"),
                       environ={})
    resumed = parse_args(tiny_args(tmp_path, "--epochs", "2", "--precision", "float32"),
                         environ={})
    try:
        with monkeypatch.context() as patch:
            patch.setattr(train_module.EpochReporter, "__call__",
                          preempted_after_the_first_epoch)
            with pytest.raises(Preempted):
                train_module.train(first, environ={})
        assert read_fingerprint(str(backup_of(tmp_path)))["precision"] == "mixed_bfloat16"
        with pytest.raises(ResumeError,
                           match="precision='mixed_bfloat16' there, 'float32' here"):
            train_module.train(resumed, environ={})
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_a_mixed_precision_run_exports_a_float32_model(tmp_path: Path) -> None:
    import json

    import keras
    import numpy as np
    import tensorflow as tf

    from workloads.cifar10.export import LoadedClassifier

    from .conftest import export_of, train_in_process

    try:
        run = train_in_process(tmp_path, "--epochs", "1", "--precision", "mixed_bfloat16")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    metrics = json.loads((export_of(tmp_path) / "metrics.json").read_text())
    assert metrics["precision_policy"] == "mixed_bfloat16"
    assert metrics["hyperparameters"]["precision"] == "mixed_bfloat16"
    loaded = LoadedClassifier(str(run.export_dir))
    graph = loaded._float.graph.as_graph_def()
    dtypes = {attr.type for node in graph.node for attr in node.attr.values() if attr.type}
    dtypes |= {fn_attr.type for fn in graph.library.function for node in fn.node_def
               for fn_attr in node.attr.values() if fn_attr.type}
    assert tf.bfloat16.as_datatype_enum not in dtypes
    images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    probabilities = loaded(images).numpy()
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
