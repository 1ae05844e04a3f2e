"""Student code as a stream of normalised tokens: what two copies still share after disguise.

Python's own `tokenize` reads each cell; then
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
is skipped line by line; a syntax error the tokenizer cannot pass (an unterminated string, a bad
dedent) costs only the line it is on: tokenizing restarts on the next line, so every line is
read at most twice. Lone surrogates and control characters are replaced first (`clean_text`).
Work is bounded by the caller's caps on characters (`sources.MAX_CODE_CHARS`) and by
`MAX_TOKENS` here.
"""

from __future__ import annotations

import keyword
import re
import tokenize
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

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


def _raw_tokens(lines: list[str]) -> Iterator[tuple[int, int]]:
    """(code, 0-based line) of each token; a line the tokenizer fails on is dropped and it
    restarts after it. The hot loop of the report (`benchmarks/similarity.py`): kept flat."""
    start = 0
    name, op, keywords = tokenize.NAME, tokenize.OP, frozenset(keyword.kwlist)
    while start < len(lines):
        feed = iter(lines[start:])
        last_line = start
        f_depth = 0  # Python 3.12 splits f-strings into parts: one S for the whole string
        parens: list[bool] = []  # per open `(`: whether it is kept (a call's) or dropped (grouping)
        previous = ""  # the last token's kind: "name", "close" (`)` or `]`), or "" for anything else
        try:
            for kind, text, (row, _), _, _ in tokenize.generate_tokens(lambda feed=feed: next(feed, "")):
                last_line = start + row - 1
                if kind in _STRING_PARTS:
                    part = tokenize.tok_name[kind]
                    f_depth += 1 if part == "FSTRING_START" else -1 if part == "FSTRING_END" else 0
                    if part == "FSTRING_START" and f_depth == 1:
                        yield _STRING, last_line
                    continue
                if f_depth or kind in _SKIPPED:
                    continue
                if kind == name:
                    is_keyword = text in keywords
                    previous = "" if is_keyword else "name"
                    yield (token_code(text) if is_keyword else _NAME), last_line
                elif kind == op:
                    if text == "(":
                        kept = previous in ("name", "close")
                        parens.append(kept)  # at most one per character read: bounded by the caller's caps
                        previous = ""
                        if not kept:
                            continue
                    elif text == ")":
                        kept = parens.pop() if parens else True
                        previous = "close"
                        if not kept:
                            continue
                    elif text == ";":
                        previous = ""
                        continue
                    else:
                        previous = "close" if text == "]" else ""
                    yield token_code(text), last_line
                elif text.strip():
                    previous = "name" if kind == tokenize.STRING else ""
                    yield _CLASS.get(kind, _ERROR), last_line
            return
        except (tokenize.TokenError, SyntaxError) as exc:  # IndentationError is a SyntaxError
            where = getattr(exc, "lineno", None) or (exc.args[1][0] if len(exc.args) > 1 else 1)
            failed = start + max(1, int(where)) - 1
            start = max(failed, last_line) + 1


def tokenize_cells(cells: Iterable[tuple[int, str]]) -> Tokens:
    """The tokens of cells given as (first line of the cell in the joined text, source)."""
    codes: list[int] = []
    lines: list[int] = []
    for first_line, source in cells:
        text = clean_text(source, limit=len(source) + 1)
        kept = ["\n" if IPYTHON_LINE.match(line) else line for line in text.splitlines(keepends=True)]
        for code, line in _raw_tokens(kept):
            codes.append(code)
            lines.append(first_line + line)
            if len(codes) >= MAX_TOKENS:
                return Tokens(tuple(codes), tuple(lines))
    return Tokens(tuple(codes), tuple(lines))
