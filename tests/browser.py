"""Headless Chromium for the tests that must see an HTML report as a reader does.

A report can be valid HTML and still show nothing: an SVG sized to zero, a chart hidden by a
stylesheet, a template that ends before the figures. These helpers render a page in Debian's
Chromium and measure what its charts add to the picture, by rendering it a second time with every
chart hidden and counting the pixels that differ.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
HIDE_CHARTS = "<style>svg, img, canvas { visibility: hidden !important; }</style>"


def chromium() -> str:
    """The browser's path. Skipped where none is installed, except under CI, which installs one
    (`.ci/run`), so that a missing browser there fails instead of passing silently."""
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("no headless Chromium on PATH; .ci/run installs Debian's chromium package")
    pytest.skip("no Chromium on PATH (apt-get install chromium)")


def screenshot(html: Path, png: Path, *, width: int = 1280, height: int = 2400) -> np.ndarray:
    """Render `html` headless into `png` and return its pixels as an (h, w, channels) array."""
    browser = chromium()
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--allow-file-access-from-files",
        f"--user-data-dir={png.parent / (png.stem + '-profile')}",
        f"--window-size={width},{height}",
        f"--screenshot={png}",
        html.resolve().as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    why = done.stderr[-800:]
    assert png.is_file(), f"chromium wrote no screenshot (exit {done.returncode}): {why}"
    return mpimg.imread(png)


def chart_pixels(html: Path, out: Path) -> tuple[int, int]:
    """Screenshot `html` as it is and with its charts hidden; return (pixels that differ, all
    pixels). The first screenshot is kept as `out` for a person to look at."""
    shown = screenshot(html, out)
    hidden_page = out.with_name(out.stem + "-hidden.html")
    text = html.read_text(encoding="utf-8")
    at = text.find("</head>")
    assert at >= 0, f"{html} has no </head>"
    hidden_page.write_text(text[:at] + HIDE_CHARTS + text[at:], encoding="utf-8")
    hidden = screenshot(hidden_page, out.with_name(out.stem + "-hidden.png"))
    assert shown.shape == hidden.shape
    differ = np.any(np.abs(shown[..., :3] - hidden[..., :3]) > 0.05, axis=-1)
    return int(differ.sum()), int(differ.size)
