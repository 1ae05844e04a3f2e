"""autograder.report: gradebooks (exact contents), feedback and summary (escaping, content),
file names of student-controlled ids, determinism."""

from __future__ import annotations

import base64
import csv
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from autograder.batch import lms
from autograder.files import MAX_NAME_BYTES
from autograder.report import canvas_csv, feedback_markdown, file_names, gradebook_csv, sanitise, write_reports
from autograder.report.common import code_block, code_span, fmt
from autograder.result import CellError, Execution, QuestionResult, Result

A4, A5 = "04_optimizers", "05_regularisation"
EVIL = '<script>alert("x")</script>/../../etc/passwd'
XSS = "<img src=x onerror=alert(1)>"


def run(seconds=1.0, *, timed_out=False, killed=False, memory=False, skipped=(), cell_errors=()) -> Execution:
    return Execution(seconds, timed_out, killed, memory, 1 + len(skipped), tuple(skipped), tuple(cell_errors))


def result(student, assignment, questions, *, submission=None, error=None, execution=None) -> Result:
    questions = tuple(questions)
    return Result(
        assignment=assignment,
        submission=submission or f"{student}_{assignment}.ipynb",
        student=student,
        score=round(sum(q.score for q in questions), 4),
        max_score=sum(q.max_score for q in questions),
        seed=7,
        grader_version="0.1.0",
        sandboxed=True,
        questions=questions,
        execution=None if error else (execution or run()),
        error=error,
    )


def q(qid, score, max_score, status, passed, total, *feedback) -> QuestionResult:
    return QuestionResult(qid, score, max_score, status, passed, total, tuple(feedback))


def full(qid, points=2.0, cases=4) -> QuestionResult:
    return q(qid, points, points, "passed", cases, cases)


def a4_full(student, **kw) -> Result:
    return result(student, A4, [full("adam_step"), full("momentum_step")], **kw)


def a5_full(student, **kw) -> Result:
    return result(student, A5, [full("l1_penalty", 1.0), full("augment")], **kw)


@pytest.fixture
def results() -> list[Result]:
    unreadable = "carol_04_optimizers.ipynb: not valid JSON (Unterminated string); the notebook file is damaged"
    return [
        a4_full("alice_1001", submission="alice_1001_50001_04_optimizers.ipynb"),
        a5_full("alice_1001", submission="alice_1001_50002_05_regularisation.ipynb"),
        result(
            "bob",
            A4,
            [
                full("momentum_step"),
                q(
                    "adam_step",
                    0.5,
                    2.0,
                    "partial",
                    1,
                    4,
                    "public case (3 parameters): theta from step 1: wrong values\n  expected: [0.9]\n  got:      [0.68]",
                    "hidden case (2-D parameters): theta from step 1: wrong values",
                ),
            ],
        ),
        result(
            "carol",
            A4,
            [q("adam_step", 0, 2, "error", 0, 0, unreadable), q("momentum_step", 0, 2, "error", 0, 0, unreadable)],
            error=unreadable,
        ),
        result(
            "dave",
            A5,
            [full("l1_penalty", 1.0), q("augment", 0, 2, "timeout", 0, 4, "the call did not finish")],
            execution=run(
                61.5,
                killed=True,
                skipped=("cell:3",),
                cell_errors=(CellError(3, "timeout"), CellError(5, "error", "ValueError", f"bad {XSS}")),
            ),
        ),
        result(
            EVIL,
            A5,
            [
                q("l1_penalty", 0, 1, "failed", 0, 4, f"public case (a list): wrong values\n  got: '{XSS}'"),
                q("augment", 1, 2, "partial", 2, 4, "hidden case: ```\n# not a heading"),
            ],
            submission=f"{XSS}.ipynb",
        ),
        a5_full('=HYPERLINK("http://x")'),
    ]


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


# --- gradebooks --------------------------------------------------------------------------------


def test_gradebook_exact(results):
    assert rows(gradebook_csv(results)) == [
        ["student", A4, A5, "total", "max_total"],
        [EVIL, "", "1", "1", "7"],
        ['\'=HYPERLINK("http://x")', "", "3", "3", "7"],  # a formula is neutralised
        ["alice_1001", "4", "3", "7", "7"],
        ["bob", "2.5", "", "2.5", "7"],
        ["carol", "0", "", "0", "7"],  # unreadable: submitted, scores 0
        ["dave", "", "1", "1", "7"],
    ]
    assert gradebook_csv(results).endswith("\r\n")


def test_canvas_gradebook_exact(results):
    # what discovery carries on a Canvas download's Submission (batch.lms_names)
    uploads = {f"{r.student}/{r.assignment}": parsed for r in results if (parsed := lms.parse_canvas(r.submission))}
    assert rows(canvas_csv(results, uploads=uploads)) == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", A4, A5],
        ["Points Possible", "", "", "", "", "4", "3"],
        [EVIL, "", "", EVIL, "", "", "1"],
        ['\'=HYPERLINK("http://x")', "", "", '\'=HYPERLINK("http://x")', "", "", "3"],
        ["alice", "1001", "", "", "", "4", "3"],  # a Canvas download: the Canvas user id goes to ID
        ["bob", "", "", "bob", "", "2.5", ""],  # otherwise the id is taken as the login
        ["carol", "", "", "carol", "", "0", ""],
        ["dave", "", "", "dave", "", "", "1"],
    ]
    named = rows(canvas_csv(results, names={A4: "Lecture 13: Optimizers"}))
    assert named[0][5:] == ["Lecture 13: Optimizers", A5]


def test_canvas_never_takes_a_student_for_the_points_row():
    doc = rows(canvas_csv([a4_full("Points Possible hack")]))
    assert [r[0] for r in doc] == ["Student", "Points Possible", ""]
    assert doc[2][3] == "Points Possible hack"


def test_duplicates_keep_one_result_whatever_the_order():
    low, high = a4_full("bob"), result("bob", A4, [full("adam_step"), q("momentum_step", 1, 2, "partial", 2, 4)])
    assert gradebook_csv([low, high]) == gradebook_csv([high, low])
    assert rows(gradebook_csv([high, low]))[1] == ["bob", "4", "4", "4"]


@pytest.mark.parametrize(
    "value, text", [(10.0, "10"), (8.33333333, "8.3333"), (0.0, "0"), (-0.0, "0"), (2.5, "2.5"), (7.499999999, "7.5")]
)
def test_score_format(value, text):
    assert fmt(value) == text


# --- file names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "student",
    [EVIL, "../..", ".hidden", "..", "", "a/b\\c", "CON", "nul.txt", "-rf", "x" * 500, "Élodie Müller", "a\x00b"],
)
def test_sanitised_names_are_safe(student):
    name = sanitise(student)
    assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*", name), name
    assert ".." not in name and len(name.encode()) <= MAX_NAME_BYTES
    assert name.split(".")[0].lower() not in {"con", "nul"}


def test_accents_keep_their_letters():
    assert sanitise("Élodie Müller") == "Elodie_Muller"
    assert sanitise("alice_1001") == "alice_1001"  # what the batch records stays as it is


def test_colliding_names_never_share_a_file():
    students = ["a/b", "a_b", "a b", "Ann", "ann", "ok"]
    names = file_names(students)
    assert len({n.casefold() for n in names.values()}) == len(students)
    assert names["ok"] == "ok"
    # the suffix comes from the id, so another student joining renames nobody
    assert file_names(students + ["a:b"])["a/b"] == names["a/b"]
    # a student named like another's suffixed name gets a name of its own
    crafted = names["Ann"]
    again = file_names(students + [crafted])
    assert len({n.casefold() for n in again.values()}) == len(students) + 1


def test_feedback_files(results, tmp_path):
    out = write_reports(results, tmp_path)
    assert out["feedback"] == tmp_path / "feedback"
    files = sorted(p.name for p in (tmp_path / "feedback").iterdir())
    students = {r.student for r in results}
    assert len(files) == 2 * len(students)
    for name in files:
        assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*\.(md|html)", name), name
        assert ".." not in name
    assert not list(tmp_path.rglob("passwd*")) or all(
        p.parent == tmp_path / "feedback" for p in tmp_path.rglob("*passwd*")
    )
    assert {p.parent for p in tmp_path.rglob("*") if p.is_file()} <= {tmp_path, tmp_path / "feedback"}


# --- escaping ----------------------------------------------------------------------------------


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: set[str] = set()
        self.links: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs |= {a for a, _ in attrs}
        self.links |= {v or "" for a, v in attrs if a in ("src", "href", "action", "srcset")}


SAFE_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "h1",
    "h2",
    "h3",
    "h4",
    "p",
    "section",
    "div",
    "span",
    "b",
    "small",
    "br",
    "code",
    "pre",
    "ul",
    "li",
    "table",
    "tr",
    "th",
    "td",
    "img",
    "details",
    "summary",
}


def check_html(text: str) -> None:
    parser = Tags()
    parser.feed(text)
    assert parser.tags <= SAFE_TAGS, parser.tags - SAFE_TAGS
    assert not {a for a in parser.attrs if a.startswith("on")}
    assert "<script" not in text and "<img src=x" not in text
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    assert all(link.startswith("data:image/png;base64,") for link in parser.links)  # nothing to load


def test_html_is_escaped_and_self_contained(results, tmp_path):
    write_reports(results, tmp_path, [("../<b>bad</b>.ipynb", f"cannot tell the assignment {XSS}")])
    for page in [tmp_path / "summary.html", *(tmp_path / "feedback").glob("*.html")]:
        check_html(page.read_text(encoding="utf-8"))
    summary = (tmp_path / "summary.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;/../../etc/passwd" in summary
    assert "../&lt;b&gt;bad&lt;/b&gt;.ipynb" in summary and "&lt;img src=x onerror=alert(1)&gt;" in summary
    evil = (tmp_path / "feedback" / f"{file_names([EVIL])[EVIL]}.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;" in evil and "got: &#x27;&lt;img src=x" in evil


def test_markdown_keeps_student_text_literal(results):
    evil = [r for r in results if r.student == EVIL]
    text = feedback_markdown(EVIL, evil)
    assert f"# Feedback for `{EVIL}`" in text
    assert "````text\nhidden case: ```\n# not a heading\n````" in text  # the fence outgrows the content
    assert code_span("a`b") == "``a`b``" and code_span("`x") == "`` `x ``"
    assert code_block("x").startswith("```text\n")


# --- feedback content --------------------------------------------------------------------------


def test_feedback_says_what_to_fix(results, tmp_path):
    write_reports(results, tmp_path)
    feedback = tmp_path / "feedback"
    bob = (feedback / "bob.md").read_text()
    assert "## `04_optimizers` Optimizers: 2.5 / 4" in bob
    assert "| `adam_step` | 0.5 / 2 | partial | 1 / 4 |" in bob
    assert "theta from step 1: wrong values\n  expected: [0.9]\n  got:      [0.68]" in bob
    assert "#### `momentum_step`" not in bob  # passed: nothing to fix
    assert "05_regularisation" not in bob  # not submitted: not reported

    carol = (feedback / "carol.html").read_text()
    assert "Your submission could not be read" in carol and "Unterminated string" in carol
    assert carol.count("Unterminated string") == 1  # not repeated under every question

    dave = (feedback / "dave.md").read_text()
    assert "**timed out**" in dave and "`cell 4 did not finish in time`" in dave
    assert "calling augment did not finish in time" in dave
    assert "**failed to run**" in dave and "cell 6: ValueError: bad <img" in dave
    assert "Every question passed." in (feedback / "alice_1001.md").read_text()


def test_summary_lists_problems_unplaced_and_counts(results, tmp_path):
    write_reports(results, tmp_path, [("frank_notes.txt", "not a notebook (.ipynb)")])
    text = (tmp_path / "summary.html").read_text(encoding="utf-8")
    table = text[text.index("<h2>Submissions with problems</h2>") : text.index("<h2>Not graded")]
    assert "<b>unreadable</b>" in table and "<b>timed out</b>" in table and "<b>failed to run</b>" in table
    assert ">carol<" in table and ">dave<" in table and ">bob<" not in table
    assert "frank_notes.txt" in text and "not a notebook (.ipynb)" in text
    assert "<b>7</b>submissions graded" in text and "<b>1</b>unreadable" in text and "<b>1</b>not placed" in text
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == 2  # one figure per assignment
    assert all(base64.b64decode(i).startswith(b"\x89PNG\r\n\x1a\n") for i in images)


def test_unsandboxed_results_are_flagged(tmp_path):
    r = a4_full("x")
    write_reports([Result(**{**r.__dict__, "sandboxed": False})], tmp_path)
    assert "without the sandbox" in (tmp_path / "summary.html").read_text()


# --- determinism and edge cases ----------------------------------------------------------------


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_input_same_bytes(results, tmp_path):
    unplaced = [("b.txt", "not a notebook"), ("a.txt", "not a notebook")]
    write_reports(results, tmp_path / "one", unplaced)
    write_reports(list(reversed(results)), tmp_path / "two", list(reversed(unplaced)))
    one, two = tree(tmp_path / "one"), tree(tmp_path / "two")
    assert one.keys() == two.keys() and len(one) == 3 + 2 * 6
    assert one == two


def test_nothing_to_report(tmp_path):
    paths = write_reports([], tmp_path, [("x.txt", "not a notebook")])
    assert rows(paths["gradebook"].read_text()) == [["student", "total", "max_total"]]
    assert rows(paths["gradebook_canvas"].read_text())[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert "No submission was graded" in paths["summary"].read_text()
    assert list(paths["feedback"].iterdir()) == []


def test_weaker_isolation_is_warned_in_summary_and_feedback(tmp_path):
    """A limit the machine could not set shows in the instructor's summary and the feedback; a
    fully isolated result shows no such warning."""
    from autograder.sandbox.isolation import Isolation

    full = Isolation("bwrap", "none", 60001, "cgroup-v2", "cgroup-v2", "cgroup-v2")
    weak = Isolation("bwrap", "none", 60002, "guard", "rlimit")
    ok, guarded = a4_full("ok"), a4_full("guarded")
    write_reports(
        [Result(**{**ok.__dict__, "isolation": full}), Result(**{**guarded.__dict__, "isolation": weak})], tmp_path
    )
    summary = (tmp_path / "summary.html").read_text()
    assert "weaker isolation" in summary and "memory guard" in summary and "RLIMIT_NPROC" in summary
    feedback = {p.stem: p.read_text() for p in (tmp_path / "feedback").glob("*.*")}
    assert "weaker limits" in feedback["guarded"] and "memory guard" in feedback["guarded"]
    assert "weaker limits" not in feedback["ok"]
    assert "memory guard" in feedback_markdown("guarded", [Result(**{**guarded.__dict__, "isolation": weak})])


def test_cells_are_named_as_the_student_sees_them_and_an_empty_notebook_is_a_problem(tmp_path):
    named = CellError(17, "error", "NameError", "name 'np' is not defined", name="the `def adam_step(...)` cell")
    erin = result("erin", A4, [full("adam_step"), full("momentum_step")], execution=run(cell_errors=(named,)))
    missing = q("adam_step", 0, 2, "missing", 0, 4, "`adam_step` is not defined")
    frank = result("frank", A4, [missing, q("momentum_step", 0, 2, "missing", 0, 4, "not defined")])
    write_reports([erin, frank], tmp_path)
    md = (tmp_path / "feedback" / "erin.md").read_text()
    assert "the `def adam_step(...)` cell: NameError" in md.replace("\\`", "`") and "cell 18" not in md
    summary = (tmp_path / "summary.html").read_text(encoding="utf-8")
    table = summary[summary.index("<h2>Submissions with problems</h2>") : summary.index("<h2>Not graded")]
    assert ">frank<" in table and "<b>nothing defined</b>" in table


def test_grading_time_bars_are_labelled_by_student():
    from matplotlib.figure import Figure

    from autograder.report import charts

    ax = Figure().subplots()
    charts._times(ax, [("alice", 2.0), ("bob", 9.0), ("$\\frac{mallory}{}", 4.0)], 4)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["bob", "\\$\\frac{mallory}…", "alice"]
    png = charts.assignment_figure([a4_full("$evil$ {\\", execution=run(3.0)), a4_full("bob")], 4.0)
    assert png.startswith(b"\x89PNG")
