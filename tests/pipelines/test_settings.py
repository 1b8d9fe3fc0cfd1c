"""Pipeline defaults: the shipped file loads, and a bad file names the field and the value."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from workloads.pipelines.settings import DEFAULTS_PATH, SettingsError, load_settings


def test_shipped_defaults() -> None:
    settings = load_settings()
    images = settings.images("r.example/p/repo", "1.0.0")
    assert images.trainer == "r.example/p/repo/cifar10-trainer:1.0.0"
    assert images.trainer_gpu == "r.example/p/repo/cifar10-trainer:1.0.0-gpu"
    assert images.predictor == "r.example/p/repo/cifar10-predictor:1.0.0"
    assert settings.local.train.data == "synthetic" and settings.local.train.epochs == 1
    assert 0.1 < settings.local.accuracy_threshold < settings.accuracy_threshold


def test_bad_file_names_field_and_value(tmp_path: Path) -> None:
    raw = yaml.safe_load(DEFAULTS_PATH.read_text())
    raw["serving"]["traffic_percent"] = 150
    bad = tmp_path / "defaults.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(SettingsError, match=r"serving\.traffic_percent: .*100.*\(got 150\)"):
        load_settings(bad)
    with pytest.raises(SettingsError, match="cannot read pipeline settings"):
        load_settings(tmp_path / "missing.yaml")


def test_registry_must_not_be_a_url() -> None:
    with pytest.raises(SettingsError, match=r"registry 'https://r.example/p' is not allowed"):
        load_settings().images("https://r.example/p")


@pytest.mark.parametrize("section,key,value,reason", [
    ("train", "momentum", 1.5, r"allowed: a float in \[0, 1\]"),
    ("train", "epochs", 0, r"allowed: an integer in \[1, 10000\]"),
    ("local.train", "width", 0.0, r"allowed: a float in \(0, 4\]"),
])
def test_hyperparameters_are_checked_by_the_trainer_parser(
        tmp_path: Path, section: str, key: str, value: float, reason: str) -> None:
    raw = yaml.safe_load(DEFAULTS_PATH.read_text())
    target = raw
    for part in section.split("."):
        target = target[part]
    target[key] = value
    bad = tmp_path / "defaults.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(SettingsError, match=rf"{section}\.{key}: {value!r} is not allowed .*"
                                            rf"{reason}"):
        load_settings(bad)


def test_optimizer_choices_are_the_trainer_s(tmp_path: Path) -> None:
    raw = yaml.safe_load(DEFAULTS_PATH.read_text())
    raw["train"]["optimizer"] = "rmsprop"
    bad = tmp_path / "defaults.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(SettingsError, match=r"train\.optimizer: .*'sgd', 'adam' or 'ftrl'.*"
                                            r"\(got 'rmsprop'\)"):
        load_settings(bad)
