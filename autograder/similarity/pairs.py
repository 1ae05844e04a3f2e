"""Pairs of submissions of one assignment that share their own code, ranked for a person to read.

Each submission's fingerprints (`fingerprints.py`) lose those of the given code first: every
k-gram of the assignment notebook (stubs, given cells, self-checks) is boilerplate, as MOSS's
base file and Dolos' template. A fingerprint found in more than `common_limit(n)` submissions is
dropped too: with hundreds of correct solutions of a function specified to the formula, its idiom
is everyone's, and it says nothing about who copied from whom (MOSS's `-m` does the same). The
price: more than `common_limit(n)` copies of one piece of code are not found (it is "common").

An index (fingerprint -> submissions) gives the pairs that share anything, so only those are
counted: the work grows with the shared fingerprints, not with n^2 pairs. A pair's score is the
share of the smaller fingerprint set found in the other, |A & B| / min(|A|, |B|) (containment;
the larger of the two sides' shares): 1.0 for the same code however renamed, reformatted,
commented or reordered, 0 for nothing in common; the share of each side is shown too. Not the
Dice coefficient 2 |A & B| / (|A| + |B|) it was: code added to one side only (dead statements,
extra helpers, a student who copied part of a notebook) lowers Dice but not what was copied.
On the labelled benchmark (`benchmarks/similarity_quality.py`, `benchmarks/README.md`) with
the same fingerprints, containment ranks better (AUC-PR 0.939 against 0.934) and finds more
disguised copies at the same false-flag rate (84 % against 82 % at 0.4, 0.2 % of independent
pairs flagged by either). A pair is *flagged* at `similarity_threshold` (config) with at
least `MIN_SHARED` shared fingerprints, so two notebooks with a line of their own each are not
flagged. Flagged is not a verdict: it says which pairs a person should read first.

Matching regions: shared fingerprints at token positions (a, b) with the same offset b - a lie
on one copied run (a disguise changes names and layout, not the number of tokens); runs of them
closer than the window become fragments, longest first, shown side by side (`page.py`).

Code run from strings (`exec` and the like, `obfuscation.py`) is listed with each assignment's
pairs: what is hidden in a string has no fingerprints of its own to match.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .fingerprints import K, W, kgram_hashes, winnow
from .obfuscation import Obfuscation, find
from .sources import Code
from .tokens import Tokens, tokenize_cells

COMMON_FRACTION = 0.1  # a fingerprint in more than 10 % of the submissions (and more than
COMMON_MIN = 10  # 10 of them) is common idiom, dropped
MIN_SHARED = 4  # fewer shared fingerprints (about 30 tokens, three lines) are never flagged
MAX_OCCURRENCES = 8  # positions of one fingerprint per submission used for fragments
MAX_FRAGMENTS = 12  # regions shown per pair
MAX_LISTED_BELOW = 10  # pairs under the threshold listed after the flagged ones, for scale
MAX_DETAILED = 100  # flagged pairs whose regions are found and shown (the best ranked): a page
# stays readable (a class of 10 groups of 30 copies flags 4,350 pairs)


@dataclass(frozen=True)
class Fragment:
    left_lines: tuple[int, int]  # first and last line (0-based, inclusive) in `Code.joined()`
    right_lines: tuple[int, int]
    tokens: int  # length of the shared run in tokens


@dataclass(frozen=True)
class Pair:
    left: Code
    right: Code
    similarity: float
    shared: int
    left_share: float
    right_share: float
    flagged: bool
    fragments: tuple[Fragment, ...] = ()

    @property
    def longest(self) -> int:
        return max((f.tokens for f in self.fragments), default=0)


@dataclass(frozen=True)
class AssignmentPairs:
    assignment: str
    threshold: float
    submissions: int
    without_code: tuple[str, ...]  # students with no fingerprint left (only given code or common idiom)
    common_limit: int
    pairs: tuple[Pair, ...]  # flagged ones, then up to MAX_LISTED_BELOW more, best first
    obfuscated: tuple[Obfuscation, ...] = ()  # code run from strings, listed whatever it matches

    @property
    def flagged(self) -> tuple[Pair, ...]:
        return tuple(p for p in self.pairs if p.flagged)


@dataclass
class _Prepared:
    code: Code
    tokens: Tokens
    positions: dict[int, list[int]]  # kept fingerprint -> its token positions


def common_limit(n: int) -> int:
    return max(COMMON_MIN, math.ceil(COMMON_FRACTION * n))


def boilerplate(given: Sequence[str]) -> np.ndarray:
    """Every k-gram hash of the given code (not only the winnowed ones: a student's k-gram is
    given if it occurs anywhere in the given code, whatever its neighbours)."""
    tokens = tokenize_cells((0, source) for source in given)
    return np.unique(kgram_hashes(tokens.codes, K))


def _spanning(n: int, k: int, at: Sequence[int]) -> np.ndarray:
    """Which of n k-grams run across one of the token positions `at` (start before, end at or after)."""
    spans = np.zeros(n, dtype=bool)
    for b in at:  # k-grams i with i < b <= i + k - 1
        spans[max(0, b - k + 1) : min(n, b)] = True
    return spans


def own_kgrams(
    hashes: np.ndarray, given: np.ndarray, k: int = K, breaks: Sequence[int] = (), cells: Sequence[int] = ()
) -> np.ndarray:
    """Which k-grams (by start) are the student's own (`given`: sorted, as `boilerplate` gives): those with no token in a k-gram of the
    given code, and not spanning a break (the first token after a cell skipped as given).
    Not only the given k-grams themselves: a k-gram that straddles the end of a given stretch and
    the start of the student's code is half given, and two students who both kept a given cell
    next to their own code would share it (a region shown as matching would run into the given
    cell). A skipped cell is given code that is not there: the k-grams across it are excluded as
    if it were, so a submission that kept a given cell and one that touched it compare alike.
    Only k-grams inside one cell (`cells`: the first token of each) mark given code: one that
    runs from a student's cell into the next given cell can equal the given code's own junction
    of two cells (a self-check cell ending in `)` before a given `print(...)`), and would take
    the student's last token with it."""
    n = len(hashes)
    if n == 0:
        return np.zeros(0, dtype=bool)
    spans = _spanning(n, k, breaks)  # k-grams across a break: not code anyone wrote in a row
    covered = np.zeros(n + k, dtype=np.int64)  # +1 where a given k-gram starts, -1 past its end
    at = np.minimum(np.searchsorted(given, hashes), max(0, len(given) - 1))  # `given` is sorted
    is_given = given[at] == hashes if len(given) else np.zeros(n, dtype=bool)
    starts = np.flatnonzero(is_given & ~spans & ~_spanning(n, k, cells))
    np.add.at(covered, starts, 1)
    np.add.at(covered, starts + k, -1)
    given_token = np.cumsum(covered)[: n + k - 1] > 0  # per token
    in_window = np.concatenate(([0], np.cumsum(given_token)))  # given tokens before each position
    return ((in_window[k : n + k] - in_window[:n]) == 0) & ~spans


def _prepare(code: Code, given: np.ndarray, given_cells: set[str]) -> _Prepared:
    # A cell left as given is all boilerplate: not tokenizing it halves the work (most cells are)
    cells = code.joined()[1]
    kept_cells = [(line, source) for line, source in cells if source.strip() not in given_cells]
    tokens = tokenize_cells(kept_cells)
    after_skip = [line for (line, _), (_, before) in zip(cells[1:], cells) if before.strip() in given_cells]
    token_lines = np.asarray(tokens.lines, dtype=np.int64)
    breaks = np.searchsorted(token_lines, after_skip).tolist()
    starts = np.searchsorted(token_lines, [line for line, _ in kept_cells]).tolist()
    hashes = kgram_hashes(tokens.codes)
    own = own_kgrams(hashes, given, breaks=breaks, cells=starts)
    # given k-grams never win a window (the largest hash), so the student's own code keeps its
    # fingerprints next to given code; then only own ones are kept
    kept = winnow(np.where(own, hashes, np.uint64(2**64 - 1)))
    kept = kept[own[kept]]
    positions: dict[int, list[int]] = defaultdict(list)
    for h, p in zip(hashes[kept].tolist(), kept.tolist()):
        positions[h].append(p)
    return _Prepared(code, tokens, dict(positions))


@dataclass
class _Ranked:
    prepared: list[_Prepared]
    limit: int
    common: set[int]
    sizes: list[int]
    ranked: list[tuple[float, int, int, int]]  # (score, shared, a, b), best first
    given_cells: set[str]


def _rank(codes: Sequence[Code], given: Sequence[str]) -> _Ranked:
    base = boilerplate(given)
    given_cells = {source.strip() for source in given}
    prepared = [_prepare(c, base, given_cells) for c in sorted(codes, key=lambda c: c.student)]
    limit = common_limit(len(prepared))
    index: dict[int, list[int]] = defaultdict(list)
    for i, prep in enumerate(prepared):
        for h in prep.positions:
            index[h].append(i)
    common = {h for h, owners in index.items() if len(owners) > limit}
    sizes = [sum(1 for h in p.positions if h not in common) for p in prepared]
    counts: dict[tuple[int, int], int] = defaultdict(int)
    for owners in index.values():
        if 1 < len(owners) <= limit:
            for x in range(len(owners)):
                for y in range(x + 1, len(owners)):
                    counts[owners[x], owners[y]] += 1
    ranked = sorted(
        ((c / min(sizes[a], sizes[b]), c, a, b) for (a, b), c in counts.items()),
        key=lambda t: (-t[0], -t[1], prepared[t[2]].code.student, prepared[t[3]].code.student),
    )
    return _Ranked(prepared, limit, common, sizes, ranked, given_cells)


def scores(codes: Sequence[Code], given: Sequence[str]) -> dict[tuple[str, str], tuple[float, int]]:
    """(similarity, shared fingerprints) of every pair of students that shares anything of their
    own, keyed by their names in order: what `compare` ranks, unbounded (for benchmarks)."""
    r = _rank(codes, given)
    return {
        (r.prepared[a].code.student, r.prepared[b].code.student): (score, shared) for score, shared, a, b in r.ranked
    }


def compare(codes: Sequence[Code], given: Sequence[str], threshold: float) -> AssignmentPairs:
    """The ranked pairs of one assignment's submissions (`codes`), the given code excluded."""
    if not codes:
        return AssignmentPairs("", threshold, 0, (), common_limit(0), ())
    r = _rank(codes, given)
    prepared, limit, common, sizes, ranked = r.prepared, r.limit, r.common, r.sizes, r.ranked
    pairs: list[Pair] = []
    below = 0
    for score, shared, a, b in ranked:
        flagged = score >= threshold and shared >= MIN_SHARED
        if not flagged:
            below += 1
            if below > MAX_LISTED_BELOW:
                break
        detailed = flagged and len(pairs) < MAX_DETAILED
        pairs.append(
            Pair(
                prepared[a].code,
                prepared[b].code,
                round(score, 4),
                shared,
                round(shared / sizes[a], 4),
                round(shared / sizes[b], 4),
                flagged,
                fragments(prepared[a], prepared[b], common) if detailed else (),
            )
        )
    return AssignmentPairs(
        prepared[0].code.assignment,
        threshold,
        len(prepared),
        tuple(p.code.student for p, n in zip(prepared, sizes) if n == 0),
        limit,
        tuple(pairs),
        tuple(o for p in prepared for o in find(p.code, r.given_cells)),
    )


def fragments(
    left: _Prepared, right: _Prepared, common: set[int] | frozenset[int] = frozenset()
) -> tuple[Fragment, ...]:
    """The shared runs of two submissions, longest first, none overlapping another on either side."""
    by_offset: dict[int, list[int]] = defaultdict(list)
    for h, lefts in left.positions.items():
        rights = right.positions.get(h)
        if rights is None or h in common:
            continue
        for a in lefts[:MAX_OCCURRENCES]:
            for b in rights[:MAX_OCCURRENCES]:
                by_offset[b - a].append(a)
    runs: list[tuple[int, int, int]] = []  # (left start, left end exclusive, offset)
    for offset, starts in by_offset.items():
        starts.sort()
        first = last = starts[0]
        for a in starts[1:]:
            if a - last > W:  # a gap no shared run of tokens leaves between kept fingerprints
                runs.append((first, last + K, offset))
                first = a
            last = a
        runs.append((first, last + K, offset))
    runs.sort(key=lambda r: (-(r[1] - r[0]), r[0]))
    chosen: list[tuple[int, int, int]] = []
    for start, end, offset in runs:
        if any(start < e and s < end or start + offset < e + o and s + o < end + offset for s, e, o in chosen):
            continue
        chosen.append((start, end, offset))
        if len(chosen) == MAX_FRAGMENTS:
            break
    return tuple(
        Fragment(_lines(left.tokens, start, end), _lines(right.tokens, start + offset, end + offset), end - start)
        for start, end, offset in chosen
    )


def _lines(tokens: Tokens, start: int, end: int) -> tuple[int, int]:
    last = min(end, len(tokens.lines)) - 1
    return tokens.lines[max(0, start)], tokens.lines[max(0, last)]
