"""`summary.html`: the class at a glance for the instructor, one self-contained file.

Counts first (including what could not be graded, so nothing is silently missing), then per
assignment the score histogram, pass rate per question and grading times (PNG charts embedded as
base64, see `charts`) with a per-question table, then every submission that timed out, was
killed, ran out of memory, failed to run or was unreadable, then the uploads that could not be
attributed (with a roster: also those matching no one or several students, and who submitted
nothing). Student ids, file names and error text are student-controlled: all escaped.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from ..grading.problems import problems
from ..result import STATUSES, Result
from .charts import assignment_figure, data_uri
from .common import assignments_of, badge, esc, fmt, max_scores, page, pick, title


def _card(label: str, value: int | str, alert: bool = False) -> str:
    return f'<div class="card{" alert" if alert else ""}"><b>{esc(value)}</b>{esc(label)}</div>'


def _counts(results: Sequence[Result], unplaced: Sequence[tuple[str, str]]) -> str:
    with_problems = sum(1 for r in results if problems(r))
    unreadable = sum(1 for r in results if r.error)
    full = sum(1 for r in results if r.max_score and r.score >= r.max_score)
    unsandboxed = sum(1 for r in results if not r.sandboxed)
    cards = [
        _card("submissions graded", len(results)),
        _card("students", len({r.student for r in results})),
        _card("assignments", len({r.assignment for r in results})),
        _card("full marks", full),
        _card("with problems", with_problems, with_problems > 0),
        _card("unreadable", unreadable, unreadable > 0),
        _card("not placed", len(unplaced), len(unplaced) > 0),
    ]
    if unsandboxed:
        cards.append(_card("NOT sandboxed", unsandboxed, True))
    weaker = [r for r in results if r.isolation is not None and r.isolation.shortfalls()]
    if weaker:
        cards.append(_card("weaker limits", len(weaker), True))
    seeds = ", ".join(str(s) for s in sorted({r.seed for r in results})) or "none"
    versions = ", ".join(sorted({r.grader_version for r in results})) or "none"
    out = f'<div class="cards">{"".join(cards)}</div>\n<p class="meta">Seed {esc(seeds)} · grader {esc(versions)}</p>\n'
    if unsandboxed:
        out += (
            f'<div class="box bad">{unsandboxed} submission(s) ran <b>without the sandbox</b> '
            "(<code>--no-sandbox</code>): their code could read and write what the grader can.</div>\n"
        )
    if weaker:
        missing = sorted({s for r in weaker for s in r.isolation.shortfalls()})  # type: ignore[union-attr]
        out += (
            f'<div class="box bad">{len(weaker)} submission(s) ran with <b>weaker isolation</b> than a full '
            "sandbox (recorded in each result's <code>isolation</code>):<ul>"
            + "".join(f"<li>{esc(m)}</li>" for m in missing)
            + "</ul></div>\n"
        )
    return out


def _assignment(aid: str, results: Sequence[Result], max_score: float) -> str:
    scores = [r.score for r in results]
    stats = (
        f"{len(results)} submission{'s' if len(results) != 1 else ''}"
        f" · mean {fmt(round(statistics.fmean(scores), 2))}"
        f" · median {fmt(statistics.median(scores))} · min {fmt(min(scores))} · max {fmt(max(scores))}"
        f" / {fmt(max_score)} · full marks {sum(1 for s in scores if s >= max_score)}"
    )
    chart = data_uri(assignment_figure(results, max_score))
    questions: list[str] = []
    for r in results:
        questions += [q.id for q in r.questions if q.id not in questions]
    head = "".join(f'<th class="num">{badge(s)}</th>' for s in STATUSES)
    rows = []
    for qid in questions:
        mine = [q for r in results for q in r.questions if q.id == qid]
        counts = "".join(f'<td class="num">{sum(1 for q in mine if q.status == s) or ""}</td>' for s in STATUSES)
        points = max((q.max_score for q in mine), default=0.0)
        mean = statistics.fmean(q.score for q in mine) if mine else 0.0
        rows.append(
            f'<tr><td><code>{esc(qid)}</code></td><td class="num">{fmt(points)}</td>'
            f'<td class="num">{fmt(round(mean, 2))}</td>{counts}</tr>\n'
        )
    return (
        f'<section>\n<h2>{esc(aid)} · {esc(title(aid))}</h2>\n<p class="meta">{esc(stats)}</p>\n'
        f'<img class="chart" alt="{esc(aid)}: score histogram, pass rate per question, grading time per '
        f'submission" src="{chart}">\n'
        f'<table>\n<tr><th>Question</th><th class="num">Points</th><th class="num">Mean</th>{head}</tr>\n'
        f"{''.join(rows)}</table>\n</section>\n"
    )


def _problem_table(results: Sequence[Result]) -> str:
    rows = []
    for r in results:
        for p in problems(r):
            details = "<br>".join(esc(d) for d in p.details)
            rows.append(
                f"<tr><td><code>{esc(r.student)}</code></td><td>{esc(r.assignment)}</td>"
                f'<td class="num">{fmt(r.score)} / {fmt(r.max_score)}</td>'
                f'<td style="white-space:nowrap"><b>{esc(p.kind)}</b></td>'
                f'<td class="break">{details}<br><small class="meta">{esc(r.submission)}</small></td></tr>\n'
            )
    if not rows:
        return "<h2>Submissions with problems</h2>\n<p>None: every submission was read and ran to the end.</p>\n"
    return (
        '<h2>Submissions with problems</h2>\n<p class="meta">Timed out, killed, out of memory, cells that '
        "raised, unreadable files. The student's feedback says the same.</p>\n"
        '<table>\n<tr><th>Student</th><th>Assignment</th><th class="num">Score</th><th>Problem</th>'
        f"<th>Details</th></tr>\n{''.join(rows)}</table>\n"
    )


def _unplaced(unplaced: Sequence[tuple[str, str]]) -> str:
    if not unplaced:
        return "<h2>Not graded</h2>\n<p>None: every upload was attributed to a student and an assignment.</p>\n"
    rows = "".join(
        f'<tr><td><code class="break">{esc(f)}</code></td><td class="break">{esc(why)}</td></tr>\n'
        for f, why in sorted(unplaced)
    )
    return (
        f'<h2>Not graded ({len(unplaced)})</h2>\n<p class="meta">Uploads that could not be attributed to a '
        "student and an assignment; nothing was guessed.</p>\n"
        f"<table>\n<tr><th>File</th><th>Reason</th></tr>\n{rows}</table>\n"
    )


def _missing(missing: Sequence[str]) -> str:
    if not missing:
        return ""
    items = "".join(f"<li>{esc(name)}</li>" for name in missing)
    return (
        f'<h2>On the roster, nothing graded ({len(missing)})</h2>\n<p class="meta">No upload of theirs was '
        f"found or placed; their gradebook cells are empty.</p>\n<ul>{items}</ul>\n"
    )


def _all(results: Sequence[Result]) -> str:
    rows = "".join(
        f"<tr><td><code>{esc(r.student)}</code></td><td>{esc(r.assignment)}</td>"
        f'<td class="num">{fmt(r.score)} / {fmt(r.max_score)}</td>'
        f'<td class="num">{"" if r.execution is None else f"{r.execution.seconds:.1f} s"}</td>'
        f"<td>{esc(', '.join(p.kind for p in problems(r)))}</td></tr>\n"
        for r in results
    )
    return (
        f"<details>\n<summary>All submissions ({len(results)})</summary>\n<table>\n<tr><th>Student</th>"
        '<th>Assignment</th><th class="num">Score</th><th class="num">Time</th><th>Problems</th></tr>\n'
        f"{rows}</table>\n</details>\n"
    )


def summary_html(
    results: Sequence[Result],
    unplaced: Sequence[tuple[str, str]] = (),
    missing: Sequence[str] = (),
    similarity: str = "",
) -> str:
    """The page; `missing` names the roster's students without any result (none without a roster);
    `similarity` is the similarity section (HTML, escaped by its maker), placed before the list of all."""
    chosen = pick(results)
    maxima = max_scores(chosen)
    body = [_counts(chosen, unplaced)]
    if not chosen:
        body.append("<p>No submission was graded.</p>\n")
    for aid in assignments_of(chosen):
        body.append(_assignment(aid, [r for r in chosen if r.assignment == aid], maxima[aid]))
    body += [_problem_table(chosen), _unplaced(unplaced), _missing(missing), similarity, _all(chosen) if chosen else ""]
    return page("Grading summary", "".join(body))
