"""The reports as a browser shows them: headless Chromium renders summary.html and a feedback
page, and the screenshots must show our page (its colours), not a blank or an error page; a
feedback page of real failing gradings shows a picture for every failed question that has one."""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image

from autograder.grading.grade import grade_notebook
from autograder.questions import get_assignment
from autograder.questions.base import PICTURE_KINDS
from autograder.report import write_reports
from autograder.report.naming import file_names
from autograder.report.pictures import MARKDOWN_NOTE
from autograder.result import Result
from autograder.sandbox import bubblewrap_available
from tests.conftest import make_variant
from tests.submissions.variants import BUGGY, Variant
from tests.unit.test_report import EVIL, a4_full, a5_full, full, q, result, run

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")]


def screenshot(page: Path, png: Path, profile: Path, size: tuple[int, int] = (1280, 2000)) -> np.ndarray:
    assert page.is_file(), page  # chromium renders its own error page for a missing file
    subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            f"--window-size={size[0]},{size[1]}",
            page.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert png.is_file() and png.stat().st_size > 0
    pixels = image.imread(str(png))[..., :3]
    assert pixels.shape[:2] == (size[1], size[0])
    return np.round(pixels * 255).astype(int)


def has_colour(pixels: np.ndarray, hex_colour: str, at_least: int = 50) -> bool:
    rgb = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
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
    results += [
        result("bob", "04_optimizers", [full("momentum_step"), partial]),
        a5_full("alice"),
        result(EVIL, "05_regularisation", [full("l1_penalty", 1.0), q("augment", 0, 2, "failed", 0, 4, "got <b>")]),
    ]
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


# --- pictures of real failing gradings ---------------------------------------------------------------

_ELU = next(v for v in BUGGY if v.name == "wrong_elu_branch")
FAILING = [  # one failing notebook per assignment (one result per student and assignment), every picture kind
    Variant(
        "elu_and_initializer_wrong",
        _ELU.assignment,
        replace={
            **_ELU.replace,
            "variance_scaling": """def variance_scaling(shape, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
    rng = np.random.default_rng(seed)
    limit = np.sqrt(3 * scale / shape[0])   # the bug: always fan_in
    return rng.uniform(-limit, limit, shape)""",
        },
    ),
    Variant(
        "bn_wrong_axis_untrained",
        "02_batch_normalisation",
        drop_train=True,
        append=("bn_model = build_bn_model()",),
        replace={
            "batch_norm_train": """def batch_norm_train(x, gamma, beta, epsilon=1e-3):
    x = np.asarray(x, dtype=float)
    mean, var = x.mean(axis=-1, keepdims=True), x.var(axis=-1, keepdims=True)   # the bug: per sample
    return gamma * (x - mean) / np.sqrt(var + epsilon) + beta, x.mean(axis=0), x.var(axis=0)"""
        },
    ),
    Variant(
        "untrained_models",
        "03_transfer_learning",
        drop_train=True,
        append=("model_A = build_model_A()\nmodel_B = build_model_B()\nmodel_B_on_A = build_model_B_on_A(model_A)",),
    ),
    next(v for v in BUGGY if v.name == "adam_without_bias_correction"),
    next(v for v in BUGGY if v.name == "dropout_keeps_rate"),
]
STUDENT = "pat_1234"


@pytest.fixture(scope="module")
def failing(tmp_path_factory, config) -> tuple[list[Result], Path]:
    """Real sandboxed gradings of the failing notebooks, for one student, and their reports."""
    if not bubblewrap_available():
        pytest.skip("bubblewrap cannot sandbox here")
    folder = tmp_path_factory.mktemp("failing")
    results = [grade_notebook(make_variant(v, folder), config, seed=7, student=STUDENT) for v in FAILING]
    write_reports(results, folder / "out")
    return results, folder / "out" / "feedback" / f"{file_names([STUDENT])[STUDENT]}.html"


def _pictured(result: Result) -> list[str]:
    """The failed questions whose picture's public case failed: each must have its picture."""
    assignment = get_assignment(result.assignment)
    out = []
    for qr in result.questions:
        picture = assignment.question(qr.id).picture
        if qr.status != "passed" and picture is not None:
            case = next(c for c in qr.cases if c.public and c.description == picture.case)
            if not case.passed:
                out.append(qr.id)
    return out


def _figures(page: str) -> dict[str, str]:
    """question id -> the SVG of the picture under its heading in the "What to fix" list."""
    found = {}
    for block in page.split("<h4>")[1:]:
        qid = re.match(r"<code>([^<]+)</code>", block).group(1)
        img = re.search(r'<img class="picture" src="data:image/svg\+xml;base64,([^"]+)" alt="([^"]+)"', block)
        if img:
            assert len(img.group(2)) > 40, "alt text says what the picture shows"
            found[qid] = base64.b64decode(img.group(1)).decode()
    return found


def test_every_failed_question_has_its_picture(failing):
    results, page = failing
    expected = {(r.assignment, qid) for r in results for qid in _pictured(r)}
    kinds = {q.picture["kind"] for r in results for q in r.questions if q.picture and "note" not in q.picture}
    assert kinds == set(PICTURE_KINDS), kinds
    assert {
        ("01_activations_and_initialisation", "elu"),
        ("01_activations_and_initialisation", "variance_scaling"),
        ("02_batch_normalisation", "batch_norm_train"),
        ("02_batch_normalisation", "bn_model"),
        ("03_transfer_learning", "model_A"),
        ("04_optimizers", "adam_step"),
        ("05_regularisation", "dropout_train"),
    } <= expected
    html = page.read_text()
    sections = html.split("<section>")[1:]
    assert len(sections) == len(results)
    for graded, section in zip(sorted(results, key=lambda r: r.assignment), sections):
        assert set(_figures(section)) == set(_pictured(graded)), graded.assignment
    markdown = page.with_suffix(".md").read_text()
    assert markdown.count(MARKDOWN_NOTE) == len(expected) and "data:" not in markdown


def test_feedback_pictures_render(failing, tmp_path):
    """Chromium draws every picture (each SVG alone, then the whole page against the same page
    without its pictures)."""
    results, page = failing
    figures = _figures(page.read_text())
    for qid, svg in figures.items():
        alone = tmp_path / f"{qid}.svg"
        alone.write_text(svg)
        pixels = screenshot(alone, tmp_path / f"{qid}.png", tmp_path / "profile", (700, 300))
        not_blank(pixels)
        assert has_colour(pixels, "#cf222e", 40) or has_colour(pixels, "#0969da", 40), f"{qid}: no student data drawn"
    size = (1280, 16000)
    shown = screenshot(page, tmp_path / "feedback.png", tmp_path / "profile", size)
    bare = tmp_path / "bare" / page.name
    bare.parent.mkdir()
    bare.write_text(re.sub(r'<figure class="picture">.*?</figure>', "", page.read_text()))
    without = screenshot(bare, tmp_path / "bare.png", tmp_path / "profile", size)
    red = [int((np.abs(p - [0xCF, 0x22, 0x2E]).max(axis=-1) <= 3).sum()) for p in (shown, without)]
    assert red[0] - red[1] > 100 * len(figures), red
