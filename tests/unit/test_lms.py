"""LMS download names, as Canvas and Moodle really write them, and who they must be graded as.

Each fixture is a path inside a download and the (student, assignment) the batch must give it.
The names were made by hand following the LMS's rule, not taken from our own parser.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from pathlib import Path

import pytest

from autograder import batch
from autograder.batch import lms
from autograder.report import canvas_csv
from autograder.result import QuestionResult, Result

A1, A4, A5 = "01_activations_and_initialisation", "04_optimizers", "05_regularisation"

CANVAS = [
    # canvas-lms lib/content_zipper.rb: get_filename joins [sortable name, "LATE"?, user id] with "_" and
    # deletes every non-[[:word:]] character; add_upload_submission appends _<attachment id>_<display name>.
    # "Müller, Jürgen" (user 2345, attachment 900003): Unicode letters are [[:word:]] and stay.
    ("müllerjürgen_2345_900003_04_optimizers.ipynb", "müllerjürgen_2345", A4),
    # The same student's later upload of the 05 notebook, late: "LATE" between name and user id.
    ("müllerjürgen_LATE_2345_900010_05_regularisation.ipynb", "müllerjürgen_2345", A5),
    # sanitize_user_name only removes underscores around digits: "Smith_Jones, Ann" keeps its "_".
    ("smith_jonesann_4567_900007_04_optimizers.ipynb", "smith_jonesann_4567", A4),
    # A re-uploaded file's display name carries Canvas' "-1" suffix.
    ("leeann_5678_900020_05_regularisation-1.ipynb", "leeann_5678", A5),
    # "O'Brien-Smith, Seán": the apostrophe, hyphen, comma and space are not [[:word:]].
    ("obriensmithseán_6789_900030_01_activations.ipynb", "obriensmithseán_6789", A1),
    # [[:word:]] holds combining marks too: "अनिल" keeps its vowel sign (Mc), unlike Python's \w.
    ("अनिल_3456_900035_04_optimizers.ipynb", "अनिल_3456", A4),
    # Anonymous grading: no name, id "anon_<anonymous id>" (per submission, so per assignment).
    ("anon_Xk3pQ_900040_04_optimizers.ipynb", f"anon_Xk3pQ_{A4}", A4),
    ("LATE_anon_b7Rt2_900041_04_optimizers.ipynb", f"anon_b7Rt2_{A4}", A4),
]

MOODLE = [
    # moodle mod/assign/locallib.php download_submissions: clean_filename(<full name, "_" -> " "> + "_" +
    # <participant id>) + "_assignsubmission_file_" + "/<file>" (as folders, the default) or "<file>" (flat).
    # The participant id (get_uniqueid_for_user) is per assignment: 112 in 04 and 587 in 05 are one student.
    ("Bob Jones_112_assignsubmission_file_/04_optimizers.ipynb", "Bob Jones", A4),
    ("Bob Jones_587_assignsubmission_file_05_regularisation.ipynb", "Bob Jones", A5),
    # Unicode is kept by clean_filename; an underscore in a name became a space.
    ("Zoë Ångström_113_assignsubmission_file_/work/04_optimizers.ipynb", "Zoë Ångström", A4),
    # The student's own file name inside the folder is theirs, even if it looks like a Canvas name.
    ("Cleo Park_115_assignsubmission_file_/park_1_2_05_regularisation.ipynb", "Cleo Park", A5),
    # Blind marking: the name is get_string('participant'); the id joins nothing across assignments.
    ("Participant_114_assignsubmission_file_/04_optimizers.ipynb", f"participant_114_{A4}", A4),
]

FALLBACK = [
    # Not an LMS name (documented in README): a folder per student, or flat <student>_<assignment>.
    ("carol/my 04_optimizers.ipynb", "carol", A4),
    ("dave_05_regularisation.ipynb", "dave", A5),
]


def placed(tmp_path: Path, cases: list[tuple[str, str, str]]) -> batch.Discovery:
    root = tmp_path / "class"
    for rel, _, _ in cases:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("{}")
    return batch.discover([root], tmp_path / "work")


@pytest.mark.parametrize("case", CANVAS + MOODLE + FALLBACK, ids=lambda c: c[0])
def test_each_name_gives_its_student_and_assignment(tmp_path, case):
    found = placed(tmp_path, [case])
    assert [(s.student, s.assignment) for s in found.submissions] == [case[1:]]
    assert found.unplaced == []


def test_a_whole_class_gives_one_row_per_student(tmp_path):
    found = placed(tmp_path, CANVAS + MOODLE + FALLBACK)
    assert sorted((s.student, s.assignment) for s in found.submissions) == sorted(
        c[1:] for c in CANVAS + MOODLE + FALLBACK
    )
    assert len({s.student for s in found.submissions}) == 13  # müller and Bob Jones: one student each


def test_macos_decomposed_names_are_the_same_student(tmp_path):
    decomposed = unicodedata.normalize("NFD", "müllerjürgen_2345_900050_05_regularisation.ipynb")
    found = placed(tmp_path, [(CANVAS[0][0], "", ""), (decomposed, "", "")])
    assert {s.student for s in found.submissions} == {"müllerjürgen_2345"}


def test_later_canvas_attachment_wins_and_unordered_duplicates_are_listed(tmp_path):
    found = placed(
        tmp_path,
        [
            ("leeann_5678_900020_04_optimizers.ipynb", "", ""),
            ("leeann_5678_900100_04_optimizers-1.ipynb", "", ""),
            ("Bob Jones_112_assignsubmission_file_/04_optimizers.ipynb", "", ""),
            ("Bob Jones_112_assignsubmission_file_/04_optimizers_v2.ipynb", "", ""),
        ],
    )
    assert [s.path.name for s in found.submissions] == ["leeann_5678_900100_04_optimizers-1.ipynb"]
    reasons = {u.file: u.reason for u in found.unplaced}
    assert "superseded by leeann_5678_900100" in reasons["leeann_5678_900020_04_optimizers.ipynb"]
    assert all("no upload order" in reasons[n] for n in ("04_optimizers.ipynb", "04_optimizers_v2.ipynb"))


def test_two_moodle_participants_with_one_name_are_listed_not_merged(tmp_path):
    found = placed(
        tmp_path,
        [
            ("Anna Schmidt_113_assignsubmission_file_/04_optimizers.ipynb", "", ""),
            ("Anna Schmidt_118_assignsubmission_file_/x/04_optimizers.ipynb", "", ""),
        ],
    )
    assert found.submissions == []
    reason = (
        "2 participants (ids 113, 118) are named Anna Schmidt/04_optimizers: "
        "rename each <email>_04_optimizers.ipynb; not graded"
    )
    assert [u.reason for u in found.unplaced] == [reason, reason]


def test_parsers_read_the_numbers():
    parsed = lms.parse_canvas("müllerjürgen_LATE_2345_900010_05_regularisation.ipynb")
    assert parsed == lms.LmsName("canvas", "müllerjürgen", "2345", "05_regularisation.ipynb", True, 900010)
    assert lms.parse_canvas("carol_05_regularisation.ipynb") is None
    flat = lms.parse_moodle(("Bob Jones_587_assignsubmission_file_05_regularisation.ipynb",))
    assert flat == lms.LmsName("moodle", "Bob Jones", "587", "05_regularisation.ipynb")
    assert lms.parse_moodle(("carol", "04_optimizers.ipynb")) is None


def _result(student: str, submission: str, assignment: str = A4) -> Result:
    question = QuestionResult("adam_step", 2.0, 2.0, "passed", 4, 4, ())
    return Result(
        assignment=assignment,
        submission=submission,
        student=student,
        score=2.0,
        max_score=2.0,
        seed=1,
        grader_version="0.1.0",
        sandboxed=True,
        questions=(question,),
        execution=None,
        error=None,
    )


def test_the_canvas_user_id_reaches_the_canvas_csv(tmp_path):
    found = placed(tmp_path, CANVAS[:3])
    results = [_result(s.student, s.path.name, s.assignment) for s in found.submissions]
    rows = list(csv.reader(io.StringIO(canvas_csv(results, uploads=batch.lms_names(found.submissions)))))
    assert [r[:4] for r in rows[2:]] == [["müllerjürgen", "2345", "", ""], ["smith_jonesann", "4567", "", ""]]
    assert rows[2][5:] == ["2", "2"]  # one row, both assignments
    anonymous = [_result(f"anon_Xk3pQ_{A4}", CANVAS[6][0])]
    uploads = batch.lms_names(placed(tmp_path / "anonymous", [CANVAS[6]]).submissions)
    assert list(csv.reader(io.StringIO(canvas_csv(anonymous, uploads=uploads))))[2][:4] == [
        f"anon_Xk3pQ_{A4}",
        "",
        "",
        "",
    ]


def test_discovery_carries_the_lms_id_on_each_submission(tmp_path):
    """The LMS's number is read from the name once, at discovery, and travels on the Submission
    (Canvas user id, anonymous id, Moodle participant id); names of no LMS carry none."""
    found = placed(tmp_path, CANVAS + MOODLE + FALLBACK)
    ids = {s.path.name: s.lms.lms_id if s.lms else None for s in found.submissions}
    assert ids["müllerjürgen_LATE_2345_900010_05_regularisation.ipynb"] == "2345"
    assert ids["anon_Xk3pQ_900040_04_optimizers.ipynb"] == "Xk3pQ"
    assert ids["Bob Jones_587_assignsubmission_file_05_regularisation.ipynb"] == "587"  # a flat Moodle download
    assert ids["my 04_optimizers.ipynb"] is None and ids["dave_05_regularisation.ipynb"] is None
    uploads = batch.lms_names(found.submissions)
    assert set(uploads) == {s.key for s in found.submissions if s.lms is not None}
    assert uploads[f"müllerjürgen_2345/{A4}"].kind == "canvas"


def test_the_canvas_gradebook_takes_the_id_from_the_submission_not_the_file_name(tmp_path):
    """Only what discovery carried counts: a result whose file name looks like a Canvas download
    gets no ID without it, and the carried one is used whatever the file is called."""
    looks_canvas = _result("leeann_5678", "leeann_5678_900020_04_optimizers.ipynb")
    assert list(csv.reader(io.StringIO(canvas_csv([looks_canvas]))))[2][:4] == ["leeann_5678", "", "", "leeann_5678"]
    carried = {f"leeann_5678/{A4}": lms.LmsName("canvas", "leeann", "5678", "04_optimizers.ipynb")}
    renamed = _result("leeann_5678", "04_optimizers.ipynb")
    assert list(csv.reader(io.StringIO(canvas_csv([renamed], uploads=carried))))[2][:4] == ["leeann", "5678", "", ""]
