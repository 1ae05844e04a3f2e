"""The term's rules (`course/term.py`): due dates, extensions, late policy, overrides and the
instructor's CSV files; the regrade diff (`report/diff.py`); and a download's assignment
(`batch/discover.py`). No sandbox: results are made by hand, grading is faked."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from autograder import batch
from autograder.batch.roster import accepted, load_roster, match
from autograder.cli import main as cli
from autograder.course import term
from autograder.course.config import load_config
from autograder.errors import UsageError
from autograder.report import diff
from autograder.report.gradebook import gradebook_csv
from autograder.result import SCHEMA_VERSION, QuestionResult, Result

NB = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
CET = timezone(timedelta(hours=1))
DUE = datetime(2026, 11, 20, 23, 59, tzinfo=CET)
MAXIMA = {"04_optimizers": {"adam_step": 2.0, "momentum_step": 2.0}}


def result(student: str = "alice_1001", scores: tuple[float, float] = (2.0, 1.0), **kw) -> Result:
    return Result(
        assignment="04_optimizers",
        submission=f"{student}.ipynb",
        student=student,
        score=sum(scores),
        max_score=4.0,
        seed=7,
        grader_version="0.1.0",
        sandboxed=True,
        questions=(
            QuestionResult("adam_step", scores[0], 2.0, "passed", 4, 4),
            QuestionResult("momentum_step", scores[1], 2.0, "partial", 2, 4),
        ),
        execution=None,
        submission_sha256="a" * 64,
        settings_hash="b" * 64,
        **kw,
    )


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- lateness and penalties ----------------------------------------------------------------------


def test_a_times_csv_counts_days_begun_up_to_the_cap():
    policy = term.Policy("per_day", 0.1, 0.3)
    record, fraction = term.late(term.Submitted(time=DUE + timedelta(hours=25)), DUE, None, policy)
    assert record.seconds == 25 * 3600 and fraction == pytest.approx(0.2)
    _, fraction = term.late(term.Submitted(time=DUE + timedelta(days=9)), DUE, None, policy)
    assert fraction == pytest.approx(0.3)
    assert term.late(term.Submitted(time=DUE - timedelta(seconds=1)), DUE, None, policy) == (None, None)


def test_an_extension_moves_the_due_date_and_the_cutoff_zeroes():
    policy = term.Policy("per_hour", 0.05, 1.0, cutoff_hours=48)
    extended = DUE + timedelta(days=3)
    assert term.late(term.Submitted(time=DUE + timedelta(days=2)), DUE, extended, policy) == (None, None)
    record, fraction = term.late(term.Submitted(time=DUE + timedelta(days=3)), DUE, None, policy)
    assert fraction == 1.0 and "cutoff" in record.note


def test_the_canvas_marker_alone_is_the_least_lateness_and_an_extension_is_not_guessed():
    record, fraction = term.late(term.Submitted(marker=True), None, None, term.Policy("per_day", 0.1, 0.5))
    assert record.source == "Canvas' LATE marker" and record.seconds is None
    assert fraction == pytest.approx(0.1) and "one unit" in record.note
    record, fraction = term.late(term.Submitted(marker=True), DUE, DUE + timedelta(days=2), term.Policy("fixed", 0.5))
    assert fraction == 0.0 and record.extension and "not penalised" in record.note
    assert term.late(term.Submitted(), DUE, None, term.Policy("fixed", 0.5)) == (None, None)


def test_apply_records_raw_lateness_penalty_and_overrides_and_starts_over_each_time():
    lateness = term.late(term.Submitted(marker=True), None, None, term.Policy("fixed", 0.25))
    lines = [
        term.OverrideLine(2, "alice_1001", "04_optimizers", "momentum_step", "regrade request", points=2.0),
        term.OverrideLine(3, "alice_1001", "04_optimizers", "total", "bonus for the write-up", adjustment=0.5),
    ]
    once = term.apply(result(), lateness, lines)
    assert [q.score for q in once.questions] == [2.0, 2.0]
    assert once.term.raw_score == 3.0 and once.term.late.penalty == 1.0  # 25% of 4 (after the question override)
    assert once.score == 3.5
    assert [(o.question, o.before, o.after) for o in once.term.overrides] == [
        ("momentum_step", 1.0, 2.0),
        ("total", 3.0, 3.5),
    ]
    assert term.apply(once, lateness, lines) == once  # a resume applies again: the same, not twice
    assert term.apply(once, (None, None), []) == result()  # the override removed: the graded result again
    back = Result.from_dict(json.loads(once.to_json()))
    assert back == once


def test_a_version_3_result_is_still_read():
    doc = result().to_dict()
    doc["schema_version"] = 3
    del doc["term"]
    assert SCHEMA_VERSION == 4 and Result.from_dict(doc) == result()


# --- the instructor's files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("mallory_9,04_optimizers,adam_step,2,x", "line 2: unknown student 'mallory_9'"),
        ("alice_1001,04_optimizers,adam,2,x", "line 2: 04_optimizers has no question 'adam'"),
        ("alice_1001,09_nothing,adam_step,2,x", "line 2: unknown assignment"),
        ("alice_1001,04_optimizers,adam_step,3,x", "line 2: 3 points is outside 0..2"),
        ("alice_1001,04_optimizers,adam_step,two,x", "line 2: 'two' is not a number"),
        ("alice_1001,04_optimizers,adam_step,2,", "line 2: give a reason"),
    ],
)
def test_an_override_line_that_cannot_apply_is_a_usage_error_naming_it(tmp_path, row, message):
    path = write(tmp_path / "overrides.csv", f"student,assignment,question,points,reason\n{row}\n")
    with pytest.raises(UsageError, match=message):
        term.read_overrides(path, {"alice_1001"}, MAXIMA)


def test_overrides_read_sets_and_adjustments_and_refuse_a_second_line(tmp_path):
    text = (
        "student,assignment,question,points,reason\n"
        "# a comment\n"
        "alice_1001,04_optimizers,momentum_step,2,regrade request\n"
        'alice_1001,04_optimizers,total,-1.5,"copied, said so"\n'
    )
    lines = term.read_overrides(write(tmp_path / "o.csv", text), {"alice_1001"}, MAXIMA)
    assert [(o.line, o.question, o.points, o.adjustment) for o in lines] == [
        (3, "momentum_step", 2.0, None),
        (4, "total", None, -1.5),
    ]
    with pytest.raises(UsageError, match="line 4: a second line .* first is line 3"):
        term.read_overrides(
            write(tmp_path / "o.csv", text.replace("total,-1.5", "momentum_step,+1")), {"alice_1001"}, MAXIMA
        )
    with pytest.raises(UsageError, match="line 1: the header must be"):
        term.read_overrides(write(tmp_path / "o.csv", "who,what\n"), {"alice_1001"}, MAXIMA)


def test_times_need_their_offset_and_matches_both_columns(tmp_path):
    path = write(tmp_path / "t.csv", "student,assignment,submitted\nbob_1002,04_optimizers,2026-11-21T10:00:00+01:00\n")
    assert term.read_times(path, {"bob_1002"}) == {("bob_1002", "04_optimizers"): DUE + timedelta(hours=10, minutes=1)}
    write(path, "student,assignment,submitted\nbob_1002,04_optimizers,2026-11-21T10:00:00\n")
    with pytest.raises(UsageError, match="line 2: .* no UTC offset"):
        term.read_times(path, {"bob_1002"})
    with pytest.raises(UsageError, match="line 2: both columns"):
        term.read_matches(write(tmp_path / "m.csv", "upload,student\nsmithj_1001,\n"))


def test_the_config_keys_are_checked(tmp_path):
    course = tmp_path / "course"
    base = '[tool.autograder]\nsolutions_dir = "s"\n'
    write(course / "pyproject.toml", base + 'late_policy = "per_week"\n')
    with pytest.raises(UsageError, match="late_policy must be one of"):
        load_config(course)
    write(course / "pyproject.toml", base + "[tool.autograder.due]\n04_optimizers = 2026-11-20T23:59:00\n")
    with pytest.raises(UsageError, match="no UTC offset"):
        load_config(course)
    write(
        course / "pyproject.toml",
        base
        + 'late_policy = "per_day"\nlate_fraction = 0.1\noverrides = "o.csv"\n'
        + "[tool.autograder.due]\n04_optimizers = 2026-11-20T23:59:00+01:00\n"
        + '[tool.autograder.extensions]\n"bob_1002.04_optimizers" = "2026-11-23T23:59:00+01:00"\n',
    )
    config = load_config(course)
    assert config.due == {"04_optimizers": DUE}
    assert config.extensions == {("bob_1002", "04_optimizers"): DUE + timedelta(days=3)}
    assert config.late_rules == term.Policy("per_day", 0.1, 1.0) and config.overrides == Path("o.csv")


# --- the regrade diff ------------------------------------------------------------------------------


def keep(out: Path, *results: Result) -> Path:
    for r in results:
        write(out / "results" / r.student / f"{r.assignment}.json", r.to_json())
    return out


def test_diff_lists_who_changes_and_why_and_the_exit_code_says_so(tmp_path, capsys):
    old = keep(tmp_path / "old", result("alice_1001"), result("bob_1002"), result("=cmd|x_1", (0.0, 0.0)))
    alice_new = replace(
        result("alice_1001"),
        questions=(result().questions[0], replace(result().questions[1], max_score=3.0)),
        max_score=5.0,
        settings_hash="c" * 64,
    )
    new = keep(tmp_path / "new", alice_new, result("bob_1002"), result("=cmd|x_1", (0.0, 0.0)))
    changes = diff.compare(diff.load_results(old)[0], diff.load_results(new)[0])
    assert [(c.student, c.questions) for c in changes] == [("alice_1001", (("momentum_step", "1/2", "1/3"),))]
    assert changes[0].why == ("settings (points, thresholds, limits) bbbbbbbbbbbb -> cccccccccccc",)
    assert cli.main(["diff", str(old), str(new), "--csv", str(tmp_path / "d.csv")]) == 6
    shown = capsys.readouterr().out
    assert "alice_1001  04_optimizers  total 3/4 -> 3/5" in shown and "1 of 3 graded submissions changed" in shown
    assert "total,3/4,3/5" in (tmp_path / "d.csv").read_text()
    assert cli.main(["diff", str(old), str(old)]) == 0


def test_diff_says_when_only_the_run_differs_and_when_a_file_is_damaged(tmp_path, capsys):
    old = keep(tmp_path / "old", result("alice_1001"))
    new = keep(tmp_path / "new", result("alice_1001", (2.0, 0.0)))
    write(new / "results" / "x" / "04_optimizers.json", "{not json")
    changes = diff.compare(diff.load_results(old)[0], diff.load_results(new)[0])
    assert changes[0].why == (diff.NO_REASON,)
    assert cli.main(["diff", str(old), str(new)]) == 6
    assert "not compared:" in capsys.readouterr().err
    assert cli.main(["diff", str(old), str(tmp_path / "nowhere")]) == 2


# --- the gradebook ---------------------------------------------------------------------------------


def test_the_gradebook_shows_raw_lateness_penalty_overrides_and_roster_notes():
    lateness = term.late(term.Submitted(marker=True), None, None, term.Policy("fixed", 0.5))
    late_one = term.apply(result("erin_1005"), lateness, [])
    plain = gradebook_csv([result("alice_1001")])
    assert plain.splitlines()[0] == "student,04_optimizers,total,max_total"  # nothing applied: as before
    rows = gradebook_csv([result("alice_1001"), late_one], notes={"erin_1005": "upload erin_9 accepted as Erin"})
    assert rows.splitlines() == [
        "student,04_optimizers,total,max_total,04_optimizers raw,04_optimizers late,04_optimizers penalty,"
        "04_optimizers overrides,note",
        "alice_1001,3,3,4,3,,,,",
        "erin_1005,1.5,1.5,4,3,late (LATE marker),1.5,,upload erin_9 accepted as Erin",
    ]


# --- a download is one assignment's ----------------------------------------------------------------


def canvas_zip(path: Path, names: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            zf.writestr(name, NB)
    return path


def test_an_upload_named_for_another_assignment_in_a_canvas_download_is_reported_not_graded(tmp_path):
    """A late 01 notebook handed in to 05's slot must not replace the on-time 01 upload."""
    dl01 = canvas_zip(
        tmp_path / "dl-ws26-01-activations-and-initialisation_submissions.zip",
        ["mallory_1007_50001_01_activations_and_initialisation.ipynb"],
    )
    dl05 = canvas_zip(
        tmp_path / "dl-ws26-05-regularisation_submissions.zip",
        [
            "mallory_1007_50120_05_regularisation.ipynb",
            "mallory_1007_50121_01_activations_and_initialisation.ipynb",
            "bob_1002_50122_homework.ipynb",  # names no assignment: the download's
        ],
    )
    found = batch.discover([dl01, dl05], tmp_path / "work")
    assert {s.key: s.upload for s in found.submissions} == {
        "mallory_1007/01_activations_and_initialisation": "mallory_1007_50001_01_activations_and_initialisation.ipynb",
        "mallory_1007/05_regularisation": "mallory_1007_50120_05_regularisation.ipynb",
        "bob_1002/05_regularisation": "bob_1002_50122_homework.ipynb",
    }
    assert [u.file for u in found.unplaced] == ["mallory_1007_50121_01_activations_and_initialisation.ipynb"]
    assert "uploaded to the download of 05_regularisation" in found.unplaced[0].reason


def test_a_renamed_mixed_zip_is_refused_and_assignment_decides_it(tmp_path):
    dl = canvas_zip(
        tmp_path / "download.zip",
        [
            "mallory_1007_50120_05_regularisation.ipynb",
            "mallory_1007_50121_01_activations_and_initialisation.ipynb",
        ],
    )
    found = batch.discover([dl], tmp_path / "work")
    assert found.submissions == [] and all("--assignment" in u.reason for u in found.unplaced)
    found = batch.discover([dl], tmp_path / "work2", "05_regularisation")
    assert [s.key for s in found.submissions] == ["mallory_1007/05_regularisation"]


def test_a_canvas_title_with_the_assignment_number_as_people_write_it_names_the_download(tmp_path):
    """Round 5: Canvas names its zip after the assignment's title, which says "Assignment 5", not
    "05": the uploads decided, and one student's upload named for 01 refused the whole class's."""
    dl = canvas_zip(
        tmp_path / "DL2026-Assignment 5 Regularization submissions.zip",
        [
            "alice_1001_50001_05_regularisation.ipynb",
            "bob_1002_50002_05_regularisation.ipynb",
            "mallory_1007_50003_01_activations_and_initialisation.ipynb",
        ],
    )
    found = batch.discover([dl], tmp_path / "work")
    assert sorted(s.key for s in found.submissions) == ["alice_1001/05_regularisation", "bob_1002/05_regularisation"]
    assert [u.file for u in found.unplaced] == ["mallory_1007_50003_01_activations_and_initialisation.ipynb"]
    assert "uploaded to the download of 05_regularisation" in found.unplaced[0].reason
    # a title with two numbers that are assignments names none: the uploads decide, as before
    two = canvas_zip(
        tmp_path / "DL2026-Week 3 Assignment 5 submissions.zip", ["alice_1001_50001_05_regularisation.ipynb"]
    )
    assert [s.key for s in batch.discover([two], tmp_path / "work2").submissions] == ["alice_1001/05_regularisation"]


def test_a_merged_folder_still_goes_by_file_names(tmp_path):
    for name in ("alice_1001_50001_04_optimizers.ipynb", "alice_1001_50002_05_regularisation.ipynb"):
        write(tmp_path / "class" / name, NB)
    found = batch.discover([tmp_path / "class"], tmp_path / "work")
    assert sorted(s.key for s in found.submissions) == ["alice_1001/04_optimizers", "alice_1001/05_regularisation"]


# --- roster matches --------------------------------------------------------------------------------


def test_a_roster_match_accepts_the_renamed_upload_and_names_a_bad_line(tmp_path):
    roster = load_roster(
        write(
            tmp_path / "roster.csv",
            'Student,ID,SIS User ID,SIS Login ID,Section\n"Smith, Jane",1001,,jsmith,A\n"Lee, Ann",1002,,alee,A\n',
        )
    )
    sub = batch.discover([write(tmp_path / "dl" / "doejane_1001_50001_04_optimizers.ipynb", NB)], tmp_path / "w")
    plain = match(roster, sub.submissions)
    assert plain.submissions == [] and "doejane_1001,1001" in plain.unmatched[0].reason
    accept = accepted(roster, [(2, "doejane_1001", "jsmith")], "matches")
    done = match(roster, sub.submissions, accept)
    assert [s.key for s in done.submissions] == ["smithjane_1001/04_optimizers"]
    assert done.notes == {"smithjane_1001": "upload doejane_1001 accepted as Smith, Jane (roster matches)"}
    with pytest.raises(UsageError, match="matches, line 3: 'nobody' is no one on the roster"):
        accepted(roster, [(3, "doejane_1001", "nobody")], "matches")
