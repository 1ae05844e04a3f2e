"""The reports as a browser shows them: headless Chromium renders summary.html and a feedback
page, and the screenshots must show our page (its colours), not a blank or an error page."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image

from autograder.report import write_reports
from autograder.report.naming import file_names
from tests.unit.test_report import EVIL, a4_full, a5_full, full, q, result, run

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")]


def screenshot(page: Path, png: Path, profile: Path) -> np.ndarray:
    assert page.is_file(), page  # chromium renders its own error page for a missing file
    subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={profile}", f"--screenshot={png}", "--window-size=1280,2000",
                    page.resolve().as_uri()], check=True, capture_output=True, timeout=120)
    assert png.is_file() and png.stat().st_size > 0
    pixels = image.imread(str(png))[..., :3]
    assert pixels.shape[:2] == (2000, 1280)
    return np.round(pixels * 255).astype(int)


def has_colour(pixels: np.ndarray, hex_colour: str, at_least: int = 50) -> bool:
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(pixels - rgb).max(axis=-1) <= 3).sum()) >= at_least


def not_blank(pixels: np.ndarray) -> None:
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 20, "a (nearly) single-colour screenshot"
    dark = (pixels.max(axis=-1) < 100).mean()
    assert 0.001 < dark < 0.5, f"text should be a small dark fraction of the page, got {dark:.4f}"


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reports")
    results = [a4_full(f"s{i}", execution=run(1 + i / 3)) for i in range(6)]
    partial = q("adam_step", 0.5, 2, "partial", 1, 4, "hidden case (2-D parameters): wrong values")
    results += [result("bob", "04_optimizers", [full("momentum_step"), partial]),
                a5_full("alice"), result(EVIL, "05_regularisation", [full("l1_penalty", 1.0),
                                                                    q("augment", 0, 2, "failed", 0, 4, "got <b>")])]
    write_reports(results, out, [("notes.txt", "not a notebook")])
    return out


def test_summary_renders(reports, tmp_path):
    pixels = screenshot(reports / "summary.html", tmp_path / "summary.png", tmp_path / "profile")
    not_blank(pixels)
    assert has_colour(pixels, "#0969da", 2000), "the histogram / time bars (embedded PNG) are not visible"
    assert has_colour(pixels, "#2da44e", 2000), "the pass-rate bars are not visible"


def test_feedback_renders(reports, tmp_path):
    page = reports / "feedback" / f"{file_names([EVIL])[EVIL]}.html"
    pixels = screenshot(page, tmp_path / "feedback.png", tmp_path / "profile")
    not_blank(pixels)
    assert has_colour(pixels, "#1a7f37"), "the 'passed' badge is not visible"
    assert has_colour(pixels, "#f6f8fa", 2000), "the feedback block is not visible"
