"""Per-student feedback, `feedback/<name>.md` and `.html`: for each assignment the student handed
in, the score and status of every question, what to fix, and what went wrong while running.

The messages come from `compare` and already hide hidden-case values; they do contain the
student's own values and exception text, so in HTML everything is escaped and in Markdown every
student-controlled string sits in a code span or a fenced block (literal in every renderer).
The two files say the same thing: Markdown for pasting into an LMS comment, HTML for reading;
only the HTML holds the pictures of failed questions (`pictures.py`), the Markdown points to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..files import write_atomic
from ..grading.problems import Problem, problems
from ..result import ProblemKind, QuestionResult, QuestionStatus, Result
from .common import badge, code_block, code_span, esc, fmt, page, pick, term_lines, title
from .naming import file_names
from .pictures import MARKDOWN_NOTE, picture_html, svg_and_alt

INTRO = (
    "For every question: your score, its status, and for what did not pass, what went wrong. Public cases "
    "show the input, the expected and your output; hidden cases only say what kind of case failed."
)

UNREADABLE_HINT = "Check that the file you uploaded is the notebook and opens in Jupyter."
CELLS = "cells are named by the function they define or their first line"
WEAKER = "Graded with weaker limits than a full sandbox (the grader's machine could not set them):"
SEPARATOR = "\n\n"  # between the messages of one question, shown in one block

HINTS = {
    ProblemKind.TIMED_OUT: "Make the slow part faster (fewer epochs or loop iterations, vectorised numpy); code after "
    "it may not have run.",
    ProblemKind.KILLED: "Something ended the Python process (for example exit(), os._exit(), a crash, or too much "
    "memory). The grader ran your notebook again without that cell.",
    ProblemKind.OUT_OF_MEMORY: "Use smaller arrays or batches; a run that needs more memory is stopped.",
    ProblemKind.FAILED_TO_RUN: "These cells raised an error. Anything the cell would have defined after the failing "
    "line does not exist when grading.",
    ProblemKind.NOTHING_DEFINED: "Check that you uploaded this assignment's notebook, with your code saved in it.",
}


def _messages(result: Result, q: QuestionResult) -> list[str]:
    """A question's feedback without the unreadable-file message repeated under every question."""
    return [m for m in q.feedback if not (result.error and m == result.error)]


def _run_problems(result: Result) -> list[Problem]:
    return [p for p in problems(result) if p.kind != ProblemKind.UNREADABLE]


# --- HTML --------------------------------------------------------------------------------------


def _html_result(result: Result) -> str:
    parts = [
        f"<section>\n<h2>{esc(result.assignment)} · {esc(title(result.assignment))}"
        f'<span class="score">{fmt(result.score)} / {fmt(result.max_score)}</span></h2>\n'
        f'<p class="meta">Submission: <code class="break">{esc(result.submission)}</code></p>\n'
    ]
    if result.error:
        parts.append(
            '<div class="box bad"><b>Your submission could not be read</b>, so it was not run and every '
            f"question scores 0:<pre>{esc(result.error)}</pre>{esc(UNREADABLE_HINT)}</div>\n"
        )
    if applied := term_lines(result):
        parts.append(
            '<div class="box warn"><ul>' + "".join(f"<li>{esc(line)}</li>" for line in applied) + "</ul></div>\n"
        )
    if result.isolation is not None and result.isolation.shortfalls():
        parts.append(
            f'<div class="box warn"><b>{esc(WEAKER)}</b><ul>'
            + "".join(f"<li>{esc(m)}</li>" for m in result.isolation.shortfalls())
            + "</ul></div>\n"
        )
    run = _run_problems(result)
    if run:
        items = "".join(
            f"<li><b>{esc(p.kind)}</b>: {esc(HINTS.get(p.kind, ''))}<ul>"
            + "".join(f'<li class="break">{esc(d)}</li>' for d in p.details)
            + "</ul></li>"
            for p in run
        )
        parts.append(
            f'<div class="box warn"><b>Problems while running your notebook</b> <small>({esc(CELLS)})</small>'
            f"<ul>{items}</ul></div>\n"
        )
    rows = "".join(
        f'<tr><td><code>{esc(q.id)}</code></td><td class="num">{fmt(q.score)} / {fmt(q.max_score)}'
        f'</td><td>{badge(q.status)}</td><td class="num">{q.cases_passed} / {q.cases_total}</td></tr>\n'
        for q in result.questions
    )
    parts.append(
        '<table>\n<tr><th>Question</th><th class="num">Score</th><th>Status</th>'
        f'<th class="num">Cases passed</th></tr>\n{rows}</table>\n'
    )
    todo = [(q, _messages(result, q)) for q in result.questions if q.status != QuestionStatus.PASSED]
    todo = [(q, msgs) for q, msgs in todo if msgs]
    if todo:
        parts.append("<h3>What to fix</h3>\n")
        for q, msgs in todo:
            parts.append(f"<h4><code>{esc(q.id)}</code> {badge(q.status)}</h4>\n")
            if q.picture is not None:  # first: the picture is what a student sees at a glance
                parts.append(picture_html(q.id, q.picture))
            parts.append(f"<pre>{esc(SEPARATOR.join(msgs))}</pre>\n")
    elif not result.error and all(q.status == QuestionStatus.PASSED for q in result.questions):
        parts.append('<div class="box good">Every question passed.</div>\n')
    parts.append("</section>\n")
    return "".join(parts)


def feedback_html(student: str, results: Sequence[Result]) -> str:
    chosen = sorted(results, key=lambda r: r.assignment)
    total = sum(r.score for r in chosen)
    possible = sum(r.max_score for r in chosen)
    body = (
        f'<p class="meta">Student <code class="break">{esc(student)}</code> · '
        f"{len(chosen)} assignment{'s' if len(chosen) != 1 else ''} · total {fmt(total)} / {fmt(possible)}</p>\n"
        f"<p>{esc(INTRO)}</p>\n" + "".join(_html_result(r) for r in chosen)
    )
    return page("Feedback", body, doc_title=f"Feedback: {student}")


# --- Markdown ----------------------------------------------------------------------------------


def _md_result(result: Result) -> str:
    lines = [
        f"## {code_span(result.assignment)} {title(result.assignment)}: {fmt(result.score)} / {fmt(result.max_score)}",
        "",
        f"Submission: {code_span(result.submission)}",
        "",
    ]
    if result.error:
        lines += [
            "**Your submission could not be read**, so it was not run and every question scores 0:",
            "",
            code_block(result.error),
            UNREADABLE_HINT,
            "",
        ]
    if applied := term_lines(result):
        lines += [*(f"- {line}" for line in applied), ""]
    if result.isolation is not None and result.isolation.shortfalls():
        lines += [f"**{WEAKER}**", "", *(f"- {m}" for m in result.isolation.shortfalls()), ""]
    run = _run_problems(result)
    if run:
        lines += [f"**Problems while running your notebook** ({CELLS})", ""]
        for p in run:
            lines.append(f"- **{p.kind}**: {HINTS.get(p.kind, '')}")
            lines += [f"  - {code_span(d)}" for d in p.details]
        lines.append("")
    lines += ["| Question | Score | Status | Cases passed |", "|---|---:|---|---:|"]
    lines += [
        f"| {code_span(q.id)} | {fmt(q.score)} / {fmt(q.max_score)} | {q.status} | {q.cases_passed} / {q.cases_total} |"
        for q in result.questions
    ]
    lines.append("")
    todo = [(q, _messages(result, q)) for q in result.questions if q.status != QuestionStatus.PASSED]
    todo = [(q, msgs) for q, msgs in todo if msgs]
    if todo:
        lines += ["### What to fix", ""]
        for q, msgs in todo:
            lines += [f"#### {code_span(q.id)} ({q.status})", ""]
            lines.append(code_block(SEPARATOR.join(msgs)))
            if q.picture is not None and not isinstance(svg_and_alt(q.id, q.picture), str):
                lines += [MARKDOWN_NOTE, ""]  # Markdown in an LMS comment cannot carry the image
    elif not result.error and all(q.status == QuestionStatus.PASSED for q in result.questions):
        lines += ["Every question passed.", ""]
    return "\n".join(lines)


def feedback_markdown(student: str, results: Sequence[Result]) -> str:
    chosen = sorted(results, key=lambda r: r.assignment)
    total = sum(r.score for r in chosen)
    possible = sum(r.max_score for r in chosen)
    head = [
        f"# Feedback for {code_span(student)}",
        "",
        f"{len(chosen)} assignment{'s' if len(chosen) != 1 else ''}, total {fmt(total)} / {fmt(possible)}.",
        "",
        INTRO,
        "",
        "",
    ]
    return "\n".join(head) + "\n".join(_md_result(r) for r in chosen).rstrip("\n") + "\n"


def write_feedback(
    results: Sequence[Result], folder: Path, failed: list[tuple[str, str]] | None = None
) -> dict[str, Path]:
    """Write `<name>.md` and `<name>.html` per student into `folder`; returns student -> HTML path.
    Names come from `naming.file_names`: sanitised, and distinct even when two ids collide. A
    student whose files cannot be written (a full disk) is appended to `failed` with why, and
    the others are written: one student's file is never the end of the reports."""
    chosen = pick(results)
    by_student: dict[str, list[Result]] = {}
    for r in chosen:
        by_student.setdefault(r.student, []).append(r)
    names = file_names(by_student)
    written: dict[str, Path] = {}
    for student, mine in sorted(by_student.items()):
        try:
            write_atomic(folder / f"{names[student]}.md", feedback_markdown(student, mine))
            written[student] = write_atomic(folder / f"{names[student]}.html", feedback_html(student, mine))
        except OSError as exc:
            if failed is None:
                raise
            failed.append((f"feedback of {student}", f"not written: {exc.strerror or exc}"))
    return written
