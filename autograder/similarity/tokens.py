"""Student code as a stream of normalised tokens: what two copies still share after disguise.

One regular expression reads each cell in one pass, with the lexical grammar of Python's
`tokenize` (its own patterns for numbers and operators; the same tokens on the course's
notebooks and the benchmarks' classes, at twice the speed: its per-line machinery was most of
the report's time); then
- identifiers (variables, functions, attributes, modules, builtins) become one class `N`, so a
  renamed variable changes nothing; keywords and operators stay as they are (they are the shape);
- numbers become `0`, strings (docstrings and f-strings included) `S`;
- comments, blank lines, indentation and line breaks are dropped, so reformatting changes nothing
  (a statement split over lines, a different indent width, an added comment);
- statement separators (`;`) are dropped too, as line breaks are: `a = 1; b = 2` is two
  statements on one line, the same program as two lines (and a `;` after every statement, the
  cheapest disguise of all, changes nothing);
- parentheses that only group (those not after a name, a `)` or a `]`, which call or subscript)
  are dropped with their closing one: wrapping an expression in parentheses to spread it over
  lines, `return (a, b)` for `return a, b`, or `(x * y) + z` for `x * y + z` change nothing.
  The backslash of a continued line is not a token at all.

Cells are hostile text (whatever a student saved): IPython syntax (`%magic`, `!shell`, `name?`)
is skipped line by line. Broken code costs nothing more: indentation is not read, a character
Python does not know is one error token `?`, and an unterminated string runs to the end of its
line (a triple-quoted one to the end of the cell). No alternative of the expression backtracks,
so each cell is read once, whatever it holds. Lone surrogates and control characters are replaced first (`clean_text`).
Work is bounded by the caller's caps on characters (`sources.MAX_CODE_CHARS`) and by
`MAX_TOKENS` here.
"""

from __future__ import annotations

import keyword
import re
import tokenize
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..grading.untrusted import clean_text

MAX_TOKENS = 15_000  # per submission, in cells not left as given: 11x the 01 reference's own 1,367
_SKIPPED = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENCODING,
    tokenize.ENDMARKER,
}
_STRING_PARTS = {
    getattr(tokenize, n) for n in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END") if hasattr(tokenize, n)
}  # Python 3.12 and later
IPYTHON_LINE = re.compile(r"^\s*(?:[%!]|[\w.]+\?{1,2}\s*$)")  # %magic, !shell, name?


@dataclass(frozen=True)
class Tokens:
    """One submission's normalised tokens: `codes[i]` is token i's class (a stable 32-bit number),
    `lines[i]` the line it starts on in `text` (the cells joined, see `sources.joined`)."""

    codes: tuple[int, ...]
    lines: tuple[int, ...]


_CODES: dict[str, int] = {}  # keywords and operators: a few dozen texts


def token_code(text: str) -> int:
    """A class's number, the same in every process (Python's `hash` of a str is salted)."""
    code = _CODES.get(text)
    if code is None:
        code = zlib.crc32(text.encode("utf-8", "replace"))
        if len(_CODES) < 1000:
            _CODES[text] = code
    return code


_NAME, _NUMBER, _STRING, _ERROR = (token_code(t) for t in ("N", "0", "S", "?"))
_CLASS = {tokenize.NUMBER: _NUMBER, tokenize.STRING: _STRING}


# One pass of one regular expression over a cell: the lexical grammar of Python's `tokenize` (its
# own patterns for numbers and operators), without its per-line state machine, which cost most of
# the report's time. Each alternative is one group, in this order: comment, line break (a line
# continued by a backslash included), string, number, name, operator, any other character. A
# string runs to its closing quote, or (unterminated: broken code) to the end of its line, or of
# the cell for a triple-quoted one: every alternative matches without backtracking, so a cell is
# read once, whatever it holds.
_PREFIX = r"(?:[bB][rR]?|[rR][bBfF]?|[fF][rR]?|[uU])?"
_TOKEN = re.compile(
    r"(?:[ \t\f]+|#[^\r\n]*|\\?\r?\n)*(?:"  # white space, comments, line breaks: skipped
    r"(?P<word>(?![0-9])\w+(?![\w'\"]))"  # a name not followed by a quote: most tokens, tried first
    rf"|(?P<number>{tokenize.Number})"
    rf"|(?P<op>{tokenize.Special})"
    rf"|(?P<string>{_PREFIX}(?:"
    r"\'\'\'(?:[^'\\]|\\[\s\S]?|'(?!''))*(?:\'\'\'|\Z)"
    r'|"""(?:[^"\\]|\\[\s\S]?|"(?!""))*(?:"""|\Z)'
    r"|'(?:[^\n'\\]|\\[\s\S]?)*(?:'|(?=\n)|\Z)"
    r'|"(?:[^\n"\\]|\\[\s\S]?)*(?:"|(?=\n)|\Z)'
    r"))"
    r"|(?P<other>.)"
    r"|\Z"  # the end, after white space or a comment: nothing to give back
    r")",
    re.S,
)
_STR, _NUM, _WORD, _OP = (_TOKEN.groupindex[g] for g in ("string", "number", "word", "op"))
_KEYWORDS = {word: token_code(word) for word in keyword.kwlist}
_OPS = {op: token_code(op) for op in tokenize.EXACT_TOKEN_TYPES}


def _raw_tokens(text: str, limit: int) -> tuple[list[int], list[int]]:
    """(codes, start offsets in `text`) of one cell's first `limit` tokens. The hot loop of the report
    (`benchmarks/similarity.py`): kept flat."""
    codes: list[int] = []
    offsets: list[int] = []
    keywords, ops = _KEYWORDS, _OPS
    parens: list[bool] = []  # per open `(`: whether it is kept (a call's) or dropped (grouping)
    previous = ""  # the last token's kind: "name", "close" (`)` or `]`), or "" for anything else
    for m in _TOKEN.finditer(text):
        kind = m.lastindex
        if kind is None:  # the end
            break
        if kind == _WORD:
            code = keywords.get(m.group(kind))
            if code is not None:
                previous = ""
                codes.append(code)
            else:
                previous = "name"
                codes.append(_NAME)
        elif kind == _OP:
            op = m.group(kind)
            if op == "(":
                kept = previous in ("name", "close")
                parens.append(kept)  # at most one per character read: bounded by the caller's caps
                previous = ""
                if not kept:
                    continue
            elif op == ")":
                kept = parens.pop() if parens else True
                previous = "close"
                if not kept:
                    continue
            elif op == ";":
                previous = ""
                continue
            else:
                previous = "close" if op == "]" else ""
            codes.append(ops[op])
        elif kind == _STR:
            previous = "name"
            codes.append(_STRING)
        elif kind == _NUM:
            previous = ""
            codes.append(_NUMBER)
        else:  # any other character: an error token, as `tokenize`'s; white space of other kinds skipped
            if m.group(kind).isspace():
                continue
            previous = ""
            codes.append(_ERROR)
        offsets.append(m.start(kind))
        if len(offsets) >= limit:
            break
    return codes, offsets


def tokenize_cells(cells: Iterable[tuple[int, str]]) -> Tokens:
    """The tokens of cells given as (first line of the cell in the joined text, source)."""
    codes: list[int] = []
    lines: list[int] = []
    for first_line, source in cells:
        text = clean_text(source, limit=len(source) + 1)
        kept = ["\n" if IPYTHON_LINE.match(line) else line for line in text.splitlines(keepends=True)]
        cell_codes, offsets = _raw_tokens("".join(kept), MAX_TOKENS - len(codes))
        # lines as `str.splitlines` counts them (what `Code.joined` shows), found for all at once
        ends = np.cumsum([len(line) for line in kept])
        codes += cell_codes
        lines += (first_line + np.searchsorted(ends, offsets, side="right")).tolist()
        if len(codes) >= MAX_TOKENS:
            break
    return Tokens(tuple(codes), tuple(lines))
