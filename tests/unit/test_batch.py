"""autograder.batch: placing submissions, safe zip extraction, seeds and resume bookkeeping."""

from __future__ import annotations

import importlib
import json
import stat
import zipfile
from pathlib import Path, PurePath

import pytest

from autograder import batch
from autograder.errors import UsageError

discover_module = importlib.import_module("autograder.batch.discover")  # `batch.discover` is the function
NB = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def touch(path: Path, text: str = NB) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def placed(found: batch.Discovery) -> dict[str, str]:
    return {s.key: s.upload for s in found.submissions}


def test_canvas_moodle_folder_and_flat_names(tmp_path):
    root = tmp_path / "class"
    touch(root / "smithjohn_1234_98765_04_optimizers.ipynb")
    touch(root / "doejane_LATE_2345_98766_05_regularisation-1.ipynb")
    touch(root / "Ann Lee_3456_assignsubmission_file_" / "03_transfer_learning.ipynb")
    touch(root / "bob" / "my work 01_activations.ipynb")
    touch(root / "carol_02_batch_normalisation.ipynb")
    found = batch.discover([root], tmp_path / "work")
    assert placed(found) == {
        "smithjohn_1234/04_optimizers": "smithjohn_1234_98765_04_optimizers.ipynb",
        "doejane_2345/05_regularisation": "doejane_LATE_2345_98766_05_regularisation-1.ipynb",
        "Ann Lee/03_transfer_learning": "03_transfer_learning.ipynb",
        "bob/01_activations_and_initialisation": "my work 01_activations.ipynb",
        "carol/02_batch_normalisation": "carol_02_batch_normalisation.ipynb",
    }
    assert found.unplaced == []


def test_unplaceable_and_non_notebooks_are_reported_not_guessed(tmp_path):
    root = tmp_path / "class"
    touch(root / "mystery.ipynb")
    touch(root / "readme.pdf", "x")
    touch(root / ".hidden" / "x_04_optimizers.ipynb")
    touch(root / "__MACOSX" / "._x_04_optimizers.ipynb")
    found = batch.discover([root], tmp_path / "work")
    assert found.submissions == []
    reasons = {u.file: u.reason for u in found.unplaced}
    assert reasons.keys() == {"mystery.ipynb", "readme.pdf"}
    assert "--assignment" in reasons["mystery.ipynb"] and "not a notebook" in reasons["readme.pdf"]
    forced = batch.discover([root], tmp_path / "work2", forced_assignment="04_optimizers")
    assert placed(forced) == {"mystery/04_optimizers": "mystery.ipynb"}


def test_resubmission_keeps_the_latest_canvas_submission(tmp_path):
    root = tmp_path / "class"
    touch(root / "smith_1_100_04_optimizers.ipynb")
    touch(root / "smith_1_205_04_optimizers.ipynb")
    found = batch.discover([root], tmp_path / "work")
    assert placed(found) == {"smith_1/04_optimizers": "smith_1_205_04_optimizers.ipynb"}
    assert "superseded" in found.unplaced[0].reason


def test_zip_traversal_links_and_bombs_are_refused(tmp_path):
    archive = tmp_path / "download.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("smith_1_100_04_optimizers.ipynb", NB)
        zf.writestr("../../evil_1_1_04_optimizers.ipynb", NB)
        zf.writestr("/etc/evil_1_1_05_regularisation.ipynb", NB)
        link = zipfile.ZipInfo("link_1_1_04_optimizers.ipynb")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    work = tmp_path / "work"
    found = batch.discover([archive], work)
    assert placed(found) == {"smith_1/04_optimizers": "smith_1_100_04_optimizers.ipynb"}
    assert sorted(u.reason for u in found.unplaced) == ["refused: path outside the archive"] * 2 + [
        "refused: symbolic link"
    ]
    assert not (tmp_path / "evil_1_1_04_optimizers.ipynb").exists()
    assert all(work in p.parents for p in work.rglob("*"))

    not_zip = touch(tmp_path / "broken.zip", "not a zip")
    assert "not a readable zip" in batch.discover([not_zip], tmp_path / "w3").unplaced[0].reason


def test_one_upload_too_compressible_refuses_that_upload_not_the_class(tmp_path):
    """Eight honest notebooks and one that compresses ~1000:1: the eight are extracted and placed,
    the one is placed with its reason (graded 0 with it), and never written to disk."""
    archive = tmp_path / "canvas.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for n in range(8):
            zf.writestr(f"student{n}_{n + 1}_{100 + n}_04_optimizers.ipynb", NB)
        zf.writestr("bomber_9_200_04_optimizers.ipynb", b" " * (20 * 1024**2))
    work = tmp_path / "work"
    found = batch.discover([archive], work)
    honest = [s for s in found.submissions if not s.refused]
    refused = [s for s in found.submissions if s.refused]
    assert len(honest) == 8 and all(s.path.read_bytes() == NB.encode() for s in honest)
    assert [s.key for s in refused] == ["bomber_9/04_optimizers"]
    assert "zip bomb" in refused[0].refused and not refused[0].path.exists()
    assert refused[0].upload == "bomber_9_200_04_optimizers.ipynb"
    assert found.unplaced == []


def test_what_belongs_to_no_one_still_refuses_the_archive(tmp_path, monkeypatch):
    archive = tmp_path / "canvas.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for n in range(3):
            zf.writestr(f"s{n}_{n + 1}_{100 + n}_04_optimizers.ipynb", NB)
    monkeypatch.setattr(discover_module, "MAX_ZIP_BYTES", 2 * len(NB))
    found = batch.discover([archive], tmp_path / "work")
    assert found.submissions == [] and "add up to" in found.unplaced[0].reason
    monkeypatch.setattr(discover_module, "MAX_ZIP_FILES", 2)
    found = batch.discover([archive], tmp_path / "work2")
    assert found.submissions == [] and "more than 2 files" in found.unplaced[0].reason


def big_entry(zf: zipfile.ZipFile, name: str, size: int) -> None:
    """An entry of `size` zeros, written in chunks: it deflates about 1000:1, so a GB costs a
    MB of zip (and a second of CPU); the tests scale the limits down instead of writing GBs."""
    with zf.open(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), "w", force_zip64=True) as out:
        chunk = bytes(min(size, 1 << 20))
        for start in range(0, size, len(chunk)):
            out.write(chunk[: size - start])


def test_one_students_many_uploads_refuse_that_students_excess_not_the_class(tmp_path, monkeypatch):
    """21 uploads of one student in a Canvas download, each within a notebook's bounds, together
    over the archive's total (the limits scaled from GB to KB): honest students are graded, the
    student's latest upload is, the rest is refused with the reason, and a class over the total
    after every student's budget is still refused."""
    kib = 1024
    monkeypatch.setattr(discover_module, "MAX_NOTEBOOK_BYTES", 200 * kib)
    monkeypatch.setattr(discover_module, "RATIO_FLOOR", 1024 * kib)  # zeros: only the sizes count here
    monkeypatch.setattr(discover_module, "MAX_STUDENT_BYTES", 1024 * kib)
    monkeypatch.setattr(discover_module, "MAX_ZIP_BYTES", 4096 * kib)
    archive = tmp_path / "dl05.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("alice_1001_50001_05_regularisation.ipynb", NB)
        zf.writestr("bob_1002_50002_05_regularisation.ipynb", NB)
        for n in range(21):
            big_entry(zf, f"mallory_1007_{60000 + n}_05_regularisation-{n}.ipynb", 199 * kib)
    found = batch.discover([archive], tmp_path / "work")
    graded = {s.key: s for s in found.submissions}
    assert graded.keys() == {
        "alice_1001/05_regularisation",
        "bob_1002/05_regularisation",
        "mallory_1007/05_regularisation",
    }
    assert not any(s.refused for s in found.submissions)  # each student's latest upload is within budget
    assert graded["mallory_1007/05_regularisation"].upload.endswith("-20.ipynb")
    assert graded["mallory_1007/05_regularisation"].path.stat().st_size == 199 * kib
    extracted = sum(p.stat().st_size for p in (tmp_path / "work").rglob("*"))
    assert extracted <= 1024 * kib + 2 * len(NB)  # 5 of hers: the other 16 never written
    assert len(found.unplaced) == 20 and all("superseded" in u.reason for u in found.unplaced)

    # A budget smaller than the latest upload: that one is refused, graded 0 with the reason.
    monkeypatch.setattr(discover_module, "MAX_STUDENT_BYTES", 150 * kib)
    found = batch.discover([archive], tmp_path / "work2")
    graded = {s.key: s for s in found.submissions}
    assert "one student's may" in graded["mallory_1007/05_regularisation"].refused
    assert not graded["alice_1001/05_regularisation"].refused

    # A class whose uploads, each student within budget, still add up to more: the archive.
    monkeypatch.setattr(discover_module, "MAX_STUDENT_BYTES", 1024 * kib)
    monkeypatch.setattr(discover_module, "MAX_ZIP_BYTES", 900 * kib)
    found = batch.discover([archive], tmp_path / "work3")
    assert found.submissions == [] and "add up to" in found.unplaced[0].reason


def test_a_students_budget_goes_to_the_latest_upload_of_each_assignment_first(monkeypatch):
    """Re-uploads of 05 after the one upload of 04: the budget admits 05's latest and 04's before
    05's older uploads; whose an upload is comes from the LMS name whatever the assignment."""
    monkeypatch.setattr(discover_module, "MAX_STUDENT_BYTES", 3)

    def entry(name: str) -> tuple[zipfile.ZipInfo, PurePath, str]:
        info = zipfile.ZipInfo(name)
        info.file_size = 1
        return info, PurePath(name), ""

    names = ["m_7_100_04_optimizers.ipynb"] + [f"m_7_{101 + n}_05_regularisation.ipynb" for n in range(4)]
    names += ["anna_8_99_notes.ipynb"]  # no assignment in its name: still anna's
    kept = discover_module._over_budget([entry(n) for n in names], None)
    admitted = [rel.name for _, rel, why in kept if not why]
    assert admitted == [
        "m_7_100_04_optimizers.ipynb",
        "m_7_103_05_regularisation.ipynb",
        "m_7_104_05_regularisation.ipynb",
        "anna_8_99_notes.ipynb",
    ]
    refused = [why for _, rel, why in kept if why]
    assert len(refused) == 2 and all("m_7's uploads" in why for why in refused)


def test_an_entry_name_never_becomes_a_path(tmp_path):
    """A 283-byte entry name (Canvas' prefix before the student's own long file name) ended a
    batch with ENAMETOOLONG; entries are extracted under names of the grader's own."""
    archive = tmp_path / "canvas.zip"
    long_name = "smith_1_100_" + "x" * 251 + "_04_optimizers.ipynb"
    assert len(long_name.encode()) == 283
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(long_name, NB)
        zf.writestr("김" * 100 + "/04_optimizers.ipynb", NB)
    work = tmp_path / "work"
    found = batch.discover([archive], work)
    assert placed(found) == {"smith_1/04_optimizers": long_name, "김" * 66 + "/04_optimizers": "04_optimizers.ipynb"}
    assert all(len(p.name) < 20 for p in work.rglob("*"))


def test_missing_input_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        batch.discover([tmp_path / "nope"], tmp_path / "work")


def test_student_ids():
    for hostile in ("../../etc/passwd", "/abs", ".hidden", "a\\b", "x\x00y"):
        name = batch.student_id(hostile)
        assert "/" not in name and "\\" not in name and "\x00" not in name and not name.startswith("."), name
    assert batch.student_id("..") == "unnamed"
    assert batch.student_id("Ann Lee_12") == "Ann Lee_12"
    assert batch.student_id("a/@:b") == "a_b"
    assert batch.student_id("अनिल_2345") == "अनिल_2345"  # a Devanagari vowel sign is a mark, kept
    assert len(batch.student_id("ü" * 300).encode()) <= batch.MAX_NAME_BYTES


def test_batch_seed_is_kept_for_resume(tmp_path):
    first = batch.batch_seed(tmp_path, None, None)
    assert batch.batch_seed(tmp_path, None, 5) == first  # a resumed batch keeps its seed
    assert batch.batch_seed(tmp_path, 9, None) == 9  # an explicit seed wins and is stored
    assert json.loads((tmp_path / "batch.json").read_text())["seed"] == 9


def test_default_workers_respects_cores_and_memory(monkeypatch):
    from autograder.batch import run
    from autograder.course.config import Config

    monkeypatch.setattr(run.os, "cpu_count", lambda: 8)
    assert batch.default_workers(Config(memory_mb=3072)) >= 1
    assert batch.default_workers(Config(memory_mb=10**7)) == 1


def test_a_class_grading_gives_the_canvas_gradebook_the_ids_discovery_carried(tmp_path, monkeypatch):
    """grade_class hands each Submission's LMS name to the reports: the Canvas user id reaches the
    `ID` column with no file name parsed twice (grading itself is faked: no sandbox here); and it
    reads each notebook once: the similarity report's code copy is made from grading's read."""
    import csv
    from types import SimpleNamespace

    from autograder.course.config import load_config
    from autograder.grading.notebook import read_notebook
    from autograder.result import QuestionResult, Result
    from autograder.similarity import sources
    from tests.conftest import REPO

    def fake_prepare(assignment_id, config, *, seed, use_sandbox):
        return SimpleNamespace(assignment_id=assignment_id, seed=seed, use_sandbox=use_sandbox)

    def fake_grade(path, prepared, *, student, refused=None, on_read=None):
        on_read(read_notebook(path), batch.run.file_sha256(path))
        question = QuestionResult("adam_step", 2.0, 2.0, "passed", 4, 4)
        return Result(
            assignment=prepared.assignment_id,
            submission=path.name,
            student=student,
            score=2.0,
            max_score=2.0,
            seed=prepared.seed,
            grader_version="0.1.0",
            sandboxed=prepared.use_sandbox,
            questions=(question,),
            execution=None,
            submission_sha256=batch.run.file_sha256(path),
        )

    monkeypatch.setattr(batch, "grade", fake_grade)
    monkeypatch.setattr(batch, "prepare_assignment", fake_prepare)
    read_again: list[Path] = []
    monkeypatch.setattr(sources, "read_notebook", lambda path: read_again.append(path) or read_notebook(path))
    touch(tmp_path / "download" / "müllerjürgen_2345_900003_04_optimizers.ipynb")
    touch(tmp_path / "download" / "leeann_04_optimizers.ipynb")
    done = batch.grade_class(
        [tmp_path / "download"],
        tmp_path / "out",
        load_config(REPO, cache_dir=tmp_path / "cache"),
        batch.ClassOptions(seed=1, workers=1, use_sandbox=False),
    )
    rows = list(csv.reader(done.paths["gradebook_canvas"].read_text(encoding="utf-8").splitlines()))
    assert [r[:4] for r in rows[2:]] == [["leeann", "", "", "leeann"], ["müllerjürgen", "2345", "", ""]]
    assert sorted(p.parent.name for p in (tmp_path / "out" / "code").glob("*/*.json")) == [
        "leeann",
        "müllerjürgen_2345",
    ]
    assert [p for p in read_again if "download" in p.parts] == []


def test_a_file_that_cannot_be_written_is_that_students_failure_not_the_batchs(tmp_path, monkeypatch):
    """One student's result folder and feedback file are in the way (a file where the folder
    goes, a folder where the page goes): both students are in the gradebook and the summary, and
    the one's two files are listed as failures with their reason."""
    from types import SimpleNamespace

    from autograder.course.config import load_config
    from autograder.result import QuestionResult, Result
    from tests.conftest import REPO

    def fake_grade(path, prepared, *, student, refused=None, on_read=None):
        return Result(
            assignment=prepared.assignment_id,
            submission=path.name,
            student=student,
            score=2.0,
            max_score=2.0,
            seed=prepared.seed,
            grader_version="0.1.0",
            sandboxed=prepared.use_sandbox,
            questions=(QuestionResult("adam_step", 2.0, 2.0, "passed", 4, 4),),
            execution=None,
            submission_sha256=batch.run.file_sha256(path),
        )

    monkeypatch.setattr(batch, "grade", fake_grade)
    monkeypatch.setattr(
        batch,
        "prepare_assignment",
        lambda aid, config, *, seed, use_sandbox: SimpleNamespace(
            assignment_id=aid, seed=seed, use_sandbox=use_sandbox
        ),
    )
    touch(tmp_path / "download" / "blocked_04_optimizers.ipynb")
    touch(tmp_path / "download" / "fine_04_optimizers.ipynb")
    out = tmp_path / "out"
    touch(out / "results" / "blocked", "a file where the student's folder goes")
    touch(out / "feedback" / "blocked.html" / "x", "a folder where the page goes")
    done = batch.grade_class(
        [tmp_path / "download"],
        out,
        load_config(REPO, cache_dir=tmp_path / "cache"),
        batch.ClassOptions(seed=1, workers=1, use_sandbox=False),
    )
    assert sorted(r.student for r in done.results) == ["blocked", "fine"]
    assert sorted(f for f, _ in done.failures) == ["blocked_04_optimizers.ipynb", "feedback of blocked"]
    assert "blocked" in (out / "gradebook.csv").read_text() and (out / "summary.html").is_file()
    assert (out / "results" / "fine" / "04_optimizers.json").is_file() and (out / "feedback" / "fine.html").is_file()
