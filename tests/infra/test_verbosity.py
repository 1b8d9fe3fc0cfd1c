"""Quiet by default: library warnings and logs hidden unless -v; flags from options or env."""

from __future__ import annotations

import logging
import warnings

import pytest

from facts import verbosity

KFP_IMAGE = ('You may be attemping to run a task that uses custom or non-Python base image '
             '"us-docker.pkg.dev/p/r/cifar10-trainer:0.1.0" in a Python environment.')


def _warn(message: str, category: type[Warning], module: str) -> list[str]:
    """Warnings that get through the current filters when `module` warns `message`."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        verbosity.configure()  # the filters go on top of "always", as under `mlp`
        warnings.warn_explicit(message, category, "x.py", 1, module=module)
    return [str(w.message) for w in seen]


def test_quiet_hides_the_named_library_warnings_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(verbosity.VERBOSE_ENV, raising=False)
    assert _warn(KFP_IMAGE, RuntimeWarning, "kfp.local.subprocess_task_handler") == []
    from fastapi.exceptions import FastAPIDeprecationWarning

    assert _warn("ORJSONResponse is deprecated, FastAPI now serializes data directly",
                 FastAPIDeprecationWarning, "fastapi.routing") == []
    # The same text from our own code, or another warning from kfp, still shows.
    assert _warn(KFP_IMAGE, RuntimeWarning, "workloads.pipelines.submit") == [KFP_IMAGE]
    assert _warn("something new", UserWarning, "kfp.local.x") == ["something new"]


def test_quiet_holds_tensorflow_logs_at_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(verbosity.VERBOSE_ENV, raising=False)
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    verbosity.configure()
    assert logging.getLogger("tensorflow").level == logging.ERROR
    assert verbosity.os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"


@pytest.mark.parametrize(("flags", "env", "debug", "verbose"), [
    ({}, {}, False, False),
    ({"debug": True}, {}, True, False),
    ({}, {"MLP_DEBUG": "1", "MLP_VERBOSE": "yes"}, True, True),
    ({}, {"MLP_DEBUG": "0", "MLP_VERBOSE": "false"}, False, False),
    ({"verbose": True}, {}, False, True),
])
def test_flags_come_from_options_or_the_environment(monkeypatch: pytest.MonkeyPatch, flags: dict,
                                                    env: dict, debug: bool,
                                                    verbose: bool) -> None:
    for name in (verbosity.DEBUG_ENV, verbosity.VERBOSE_ENV):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with warnings.catch_warnings():
        verbosity.configure(**flags)
    assert (verbosity.debug_enabled(), verbosity.verbose_enabled()) == (debug, verbose)
