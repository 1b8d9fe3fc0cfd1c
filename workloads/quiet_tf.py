"""Importing TensorFlow without the notices its C++ runtime prints while it loads."""

from __future__ import annotations

import os
import sys
import tempfile

from facts.verbosity import verbose_enabled

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
