"""How much `mlp` prints: one line per failure unless asked for more.

`--debug` (or MLP_DEBUG=1) adds the traceback behind a one-line error; `-v`/`--verbose` (or
MLP_VERBOSE=1) lets TensorFlow, kfp and FastAPI log and warn as they do by default. The state is
set by the root command on every invocation, so in-process test runs do not leak it into each
other; the environment variables also reach the entry points that run without the root command
(`python -m workloads.cifar10.train`, the containers).
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
import warnings
from dataclasses import dataclass

DEBUG_ENV = "MLP_DEBUG"
VERBOSE_ENV = "MLP_VERBOSE"

QUIET_LOGGERS = ("tensorflow", "absl", "kfp", "h5py", "matplotlib")
"""Library loggers held at WARNING (ERROR for TensorFlow and absl) unless verbose."""

QUIET_WARNINGS: tuple[tuple[str, type[Warning], str], ...] = (
    # kfp.local, for every task: the components name the trainer image, which is not python:*,
    # though this runner executes them in this very environment on purpose.
    (r"You may be attemping to run a task that uses custom or non-Python base image",
     RuntimeWarning, r"kfp\.local\."),
    # kfp.local: display names and accelerators mean nothing to a local subprocess.
    (r"Task '[^']*': settings .* have no effect in the current local runner", UserWarning,
     r"kfp\.local\."),
    # kserve 0.20 answers with FastAPI's ORJSONResponse, which FastAPI now deprecates (its
    # FastAPIDeprecationWarning is a UserWarning); once per request type, from FastAPI's router.
    (r"ORJSONResponse is deprecated", UserWarning, r"fastapi\."),
)
"""(message regex, category, module regex) of third-party warnings our commands hide."""


@dataclass
class _State:
    debug: bool = False
    verbose: bool = False


_STATE = _State()


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def debug_enabled() -> bool:
    """Whether failures should show their traceback (--debug or MLP_DEBUG=1)."""
    return _STATE.debug or _env_flag(DEBUG_ENV)


def verbose_enabled() -> bool:
    """Whether libraries may log and warn as they do by default (-v or MLP_VERBOSE=1)."""
    return _STATE.verbose or _env_flag(VERBOSE_ENV)


def configure(debug: bool = False, verbose: bool = False) -> None:
    """Set this invocation's flags and quiet the libraries unless verbose."""
    _STATE.debug, _STATE.verbose = debug, verbose
    if not verbose_enabled():
        quiet_libraries()


def reset() -> None:
    """Forget this invocation's flags (the environment variables still count)."""
    _STATE.debug = _STATE.verbose = False


def quiet_libraries() -> None:
    """Silence TensorFlow's C++ and Python logs, and the library warnings in QUIET_WARNINGS.

    The C++ level is read when TensorFlow loads, so this must run before its import; an explicit
    TF_CPP_MIN_LOG_LEVEL in the environment wins. Errors still print."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in QUIET_LOGGERS:
        level = logging.ERROR if name in ("tensorflow", "absl") else logging.WARNING
        logging.getLogger(name).setLevel(level)
    for message, category, module in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)


def print_traceback_if_debug() -> None:
    """Print the exception being handled to stderr when --debug is on; nothing otherwise."""
    if debug_enabled() and sys.exc_info()[0] is not None:
        traceback.print_exc(file=sys.stderr)


DEBUG_HINT = f"run again with --debug (or {DEBUG_ENV}=1) for the traceback"
