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
import tempfile
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


NATIVE_NOISE = ("All log messages before absl::InitializeLog() is called",
                "oneDNN custom operations are on")
"""Lines TensorFlow's C++ runtime writes while it loads, before TF_CPP_MIN_LOG_LEVEL is read."""


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its load-time C++ notices (NATIVE_NOISE) filtered out of stderr.

    TensorFlow 2.21 logs the oneDNN notice through absl before absl reads any log level, so no
    setting hides it; the C++ code writes to file descriptor 2 directly, which is captured for
    the import and replayed without those lines. Anything else it writes is kept."""
    if "tensorflow" in sys.modules or verbose_enabled():
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode(errors="replace").splitlines(keepends=True):
                if not any(noise in line for noise in NATIVE_NOISE):
                    sys.stderr.write(line)
            sys.stderr.flush()


def print_traceback_if_debug() -> None:
    """Print the exception being handled to stderr when --debug is on; nothing otherwise."""
    if debug_enabled() and sys.exc_info()[0] is not None:
        traceback.print_exc(file=sys.stderr)


DEBUG_HINT = f"run again with --debug (or {DEBUG_ENV}=1) for the traceback"
