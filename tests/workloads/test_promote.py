"""`mlp model promote`: the only way a run's export becomes a served version."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("tensorflow")

from mlp.cli import app
from tests.workloads.conftest import TrainedRun


@pytest.fixture
def candidate(trained: TrainedRun, tmp_path: Path) -> Path:
    """A copy of the trained run's export, laid out as a run folder."""
    source = tmp_path / "model" / "runs" / "r1" / "1"
    shutil.copytree(trained.export_dir, source)
    return source


def _promote(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["model", "promote", *args])
    return result.exit_code, result.output


def test_promote_copies_a_checked_export_to_a_served_version(candidate: Path,
                                                             trained: TrainedRun) -> None:
    from workloads.cifar10.serve import resolve_model_dir

    root = candidate.parents[2]
    code, out = _promote("--from", str(candidate), "--to", str(root), "--version", "3")
    assert code == 0, out
    target = root / "3"
    assert out.strip() == (f"promoted {candidate} to {target} (test accuracy "
                           f"{trained.metrics['accuracy']:.4f})")
    for name in ("saved_model.pb", "metrics.json", "variables/variables.index"):
        assert (target / name).read_bytes() == (candidate / name).read_bytes()
    record = json.loads((target / "promotion.json").read_text())
    assert record["from"] == str(candidate) and record["version"] == 3
    assert record["accuracy"] == trained.metrics["accuracy"]
    # What a predictor pointed at the model folder loads now; the runs folder is never a version.
    assert resolve_model_dir(str(root)) == str(target)


def test_an_existing_version_is_kept_unless_overwrite_is_given(candidate: Path) -> None:
    root = candidate.parents[2]
    (root / "1").mkdir()
    (root / "1" / "marker").write_text("served")
    code, out = _promote("--from", str(candidate), "--to", str(root), "--version", "1")
    assert code == 2
    assert out.strip() == (f"error: version 1 already exists at '{root / '1'}'; pass --overwrite "
                           "to replace it, or promote to a new --version")
    assert (root / "1" / "marker").exists()
    code, out = _promote("--from", str(candidate), "--to", str(root), "--version", "1",
                         "--overwrite")
    assert code == 0, out
    assert not (root / "1" / "marker").exists() and (root / "1" / "saved_model.pb").exists()


@pytest.mark.parametrize(("damage", "says"), [
    (lambda d: (d / "metrics.json").unlink(), "is not a complete export: metrics.json missing"),
    (lambda d: (d / "saved_model.pb").unlink(), "is not a complete export: saved_model.pb missing"),
    (lambda d: (d / "variables" / "variables_temp").mkdir(), "holds variables/variables_temp"),
    (lambda d: [p.unlink() for p in (d / "variables").glob("variables.data-*")],
     "variables data shards are incomplete"),
    (lambda d: (d / "metrics.json").write_text("{"), "metrics.json is not JSON"),
    (lambda d: (d / "metrics.json").write_text('{"accuracy": "high"}'),
     "metrics.json has no numeric 'accuracy'"),
])
def test_an_incomplete_export_is_refused_before_anything_is_copied(candidate: Path, damage,
                                                                   says: str) -> None:
    damage(candidate)
    root = candidate.parents[2]
    code, out = _promote("--from", str(candidate), "--to", str(root), "--version", "2")
    assert code == 2
    assert out.startswith(f"error: --from '{candidate}'") and says in out
    assert len(out.strip().splitlines()) == 1
    assert not (root / "2").exists()


@pytest.mark.parametrize(("version", "says"), [
    ("0", "--version '0' is not allowed; use a positive integer"),
    ("two", "--version 'two' is not allowed; use a positive integer"),
])
def test_bad_version_is_one_line(candidate: Path, version: str, says: str) -> None:
    code, out = _promote("--from", str(candidate), "--to", str(candidate.parents[2]),
                         "--version", version)
    assert code == 2 and out.strip() == f"error: {says}"


def test_saved_model_pb_is_copied_last(candidate: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server scanning the folder takes a version only once saved_model.pb is there."""
    import tensorflow as tf

    from workloads.cifar10.promote import promote

    copied: list[str] = []
    real_copy = tf.io.gfile.copy

    def record(src: str, dst: str, overwrite: bool = False) -> None:
        copied.append(Path(dst).name)
        real_copy(src, dst, overwrite=overwrite)

    monkeypatch.setattr(tf.io.gfile, "copy", record)
    target, _ = promote(str(candidate), str(candidate.parents[2]), 5)
    assert copied[-1] == "saved_model.pb" and len(copied) > 3
    assert Path(target, "promotion.json").exists()
