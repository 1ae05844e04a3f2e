"""--roster: Canvas gradebook exports and Moodle participant lists, matching, the LMS gradebooks."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from autograder import batch
from autograder.batch.roster import load_roster, match
from autograder.errors import UsageError
from autograder.report import write_reports
from autograder.result import QuestionResult, Result

A4, A5 = "04_optimizers", "05_regularisation"

# The header and points row of a Canvas gradebook export (Grades -> Export), with a BOM as Canvas writes it.
CANVAS_ROSTER = (
    "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,04 Optimizers (51)\r\n"
    "    Points Possible,,,,,10\r\n"
    '"Müller, Jürgen",2345,S-2345,jmueller,Lecture A,\r\n'
    '"Smith_Jones, Ann",4567,S-4567,asmithjones,Lecture B,\r\n'
    '"Quiet, Quinn",7777,S-7777,qquiet,Lecture A,\r\n'
)
# Moodle's participants download: two students share the name Anna Schmidt.
MOODLE_ROSTER = (
    "First name,Last name,ID number,Email address,Roles\n"
    "Bob,Jones,1001,bob.jones@uni.example,Student\n"
    "Anna,Schmidt,1002,anna.s@uni.example,Student\n"
    "Anna,Schmidt,1003,anna.schmidt@uni.example,Student\n"
    "Zoë,Ångström,1004,zoe@uni.example,Student\n"
    "Nadia,Nothing,1005,nadia@uni.example,Student\n"
)


def write(path: Path, text: str = "{}") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def found(tmp_path: Path, *rels: str) -> batch.Discovery:
    for rel in rels:
        write(tmp_path / "class" / rel)
    return batch.discover([tmp_path / "class"], tmp_path / "work")


def result(sub: batch.Submission) -> Result:
    question = QuestionResult("q", 3.0, 4.0, "partial", 3, 4, ())
    return Result(
        assignment=sub.assignment,
        submission=sub.path.name,
        student=sub.student,
        score=3.0,
        max_score=4.0,
        seed=1,
        grader_version="0.1.0",
        sandboxed=True,
        questions=(question,),
        execution=None,
        error=None,
    )


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_canvas_roster_matches_by_user_id_and_fills_the_canvas_csv(tmp_path):
    roster = load_roster(write(tmp_path / "export.csv", CANVAS_ROSTER))
    assert roster.kind == "canvas" and [p.canvas_id for p in roster.people] == ["2345", "4567", "7777"]
    # Keyed as a download without a roster is (lms.canvas_name), so results keep their place.
    assert [p.key for p in roster.people] == ["müllerjürgen_2345", "smith_jonesann_4567", "quietquinn_7777"]
    disc = found(
        tmp_path,
        "müllerjürgen_2345_900003_04_optimizers.ipynb",
        "müllerjürgen_LATE_2345_900010_05_regularisation.ipynb",
        "smith_jonesann_4567_900007_04_optimizers.ipynb",
        "strangerx_9999_900011_04_optimizers.ipynb",  # not on the roster
        "quinnquiet_7777_900012_04_optimizers.ipynb",  # Quinn's id, another name: listed, not credited
        "anon_Xk3pQ_900040_04_optimizers.ipynb",
    )  # anonymous: cannot be matched
    matched = match(roster, disc.submissions)
    assert sorted((s.student, s.assignment) for s in matched.submissions) == [
        ("müllerjürgen_2345", A4),
        ("müllerjürgen_2345", A5),
        ("smith_jonesann_4567", A4),
    ]
    reasons = {u.file: u.reason for u in matched.unmatched}
    assert "matches no one" in reasons["strangerx_9999_900011_04_optimizers.ipynb"]
    assert "anonymous" in reasons["anon_Xk3pQ_900040_04_optimizers.ipynb"]
    assert (
        "7777 is Quiet, Quinn on the roster, but the upload is named 'quinnquiet'"
        in reasons["quinnquiet_7777_900012_04_optimizers.ipynb"]
    )
    assert [p.name for p in matched.missing] == ["Quiet, Quinn"]
    paths = write_reports(
        [result(s) for s in matched.submissions],
        tmp_path / "out",
        [(u.file, u.reason) for u in matched.unmatched],
        roster,
    )
    assert rows(paths["gradebook_canvas"].read_text()) == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", A4, A5],
        ["Points Possible", "", "", "", "", "4", "4"],
        ["Müller, Jürgen", "2345", "S-2345", "jmueller", "Lecture A", "3", "3"],
        ["Quiet, Quinn", "7777", "S-7777", "qquiet", "Lecture A", "", ""],  # on the roster, nothing submitted
        ["Smith_Jones, Ann", "4567", "S-4567", "asmithjones", "Lecture B", "3", ""],
    ]
    assert rows(paths["gradebook"].read_text())[2] == ["quietquinn_7777", "", "", "", "8"]  # no total: nothing graded
    assert "gradebook_moodle" not in paths
    summary = paths["summary"].read_text()
    assert "On the roster, nothing graded (1)" in summary and "Quiet, Quinn" in summary
    assert "strangerx_9999_900011_04_optimizers.ipynb" in summary


def test_moodle_roster_by_full_name_lists_ambiguous_names_and_writes_moodle_csv(tmp_path):
    roster = load_roster(write(tmp_path / "participants.csv", MOODLE_ROSTER))
    assert roster.kind == "moodle"
    disc = found(
        tmp_path,
        "Bob Jones_112_assignsubmission_file_/04_optimizers.ipynb",
        "Bob Jones_587_assignsubmission_file_05_regularisation.ipynb",  # another participant id, same student
        "Anna Schmidt_113_assignsubmission_file_/04_optimizers.ipynb",  # two Anna Schmidts: never guessed
        "Zoë Ångström_114_assignsubmission_file_/04_optimizers.ipynb",
        "anna.schmidt@uni.example/05_regularisation.ipynb",  # a folder named by email: exact
        "anna.s@uni.example_04_optimizers.ipynb",
    )  # renamed as the message below says
    matched = match(roster, disc.submissions)
    keys = {p.email: p.key for p in roster.people}
    assert sorted((s.student, s.assignment) for s in matched.submissions) == sorted(
        [
            ("Bob Jones", A4),
            ("Bob Jones", A5),
            ("Zoë Ångström", A4),
            (keys["anna.schmidt@uni.example"], A5),
            (keys["anna.s@uni.example"], A4),
        ]
    )
    [ambiguous] = matched.unmatched
    assert "matches 2 students" in ambiguous.reason and "anna.s@uni.example" in ambiguous.reason
    assert ambiguous.reason.endswith("rename it <email>_04_optimizers.ipynb")
    assert sorted(p.name for p in matched.missing) == ["Nadia Nothing"]
    paths = write_reports([result(s) for s in matched.submissions], tmp_path / "out", (), roster)
    moodle = rows(paths["gradebook_moodle"].read_text())
    assert moodle[0] == ["First name", "Last name", "ID number", "Email address", A4, A5]
    assert ["Bob", "Jones", "1001", "bob.jones@uni.example", "3", "3"] in moodle
    assert ["Anna", "Schmidt", "1003", "anna.schmidt@uni.example", "", "3"] in moodle
    assert ["Anna", "Schmidt", "1002", "anna.s@uni.example", "3", ""] in moodle
    assert ["Nadia", "Nothing", "1005", "nadia@uni.example", "", ""] in moodle
    assert len(moodle) == 6


def test_a_batch_applies_the_roster_and_unmatched_uploads_become_unplaced(tmp_path):
    roster = write(tmp_path / "export.csv", CANVAS_ROSTER)
    disc = found(tmp_path, "müllerjürgen_2345_900003_04_optimizers.ipynb", "strangerx_9999_900011_04_optimizers.ipynb")
    class_list, missing, _ = batch._apply_roster(roster, disc)
    assert class_list.kind == "canvas"
    assert [s.student for s in disc.submissions] == ["müllerjürgen_2345"]
    assert [u.file for u in disc.unplaced] == ["strangerx_9999_900011_04_optimizers.ipynb"]  # -> exit code 3
    assert "Quiet, Quinn <qquiet>" in missing and any("Smith_Jones, Ann" in m for m in missing)


def test_a_file_that_is_no_roster_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="neither a Canvas gradebook export"):
        load_roster(write(tmp_path / "x.csv", "name,score\nbob,1\n"))
    with pytest.raises(UsageError, match="cannot read"):
        load_roster(tmp_path / "missing.csv")
