"""Student code as a stream of normalised tokens: what two copies still share after disguise.

Python's own `tokenize` reads each cell; then
- identifiers (variables, functions, attributes, modules, builtins) become one class `N`, so a
  renamed variable changes nothing; keywords and operators stay as they are (they are the shape);
- numbers become `0`, strings (docstrings and f-strings included) `S`;
- comments, blank lines, indentation and line breaks are dropped, so reformatting changes nothing
  (a statement split over lines, a different indent width, an added comment).

Cells are hostile text (whatever a student saved): IPython syntax (`%magic`, `!shell`, `name?`)
is skipped line by line; a syntax error the tokenizer cannot pass (an unterminated string, a bad
dedent) costs only the line it is on: tokenizing restarts on the next line, so every line is
read at most twice. Lone surrogates and control characters are replaced first (`clean_text`).
Work is bounded by the caller's caps on characters (`sources.MAX_CODE_CHARS`) and by
`MAX_TOKENS` here.
"""

from __future__ import annotations

import io
import keyword
import re
import tokenize
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..untrusted import clean_text

MAX_TOKENS = 60_000  # per submission; the largest reference solution (01) has about 4,500
_SKIPPED = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENCODING, tokenize.ENDMARKER}
_STRING_PARTS = {getattr(tokenize, n) for n in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END") if hasattr(tokenize, n)}
_IPYTHON_LINE = re.compile(r"^\s*(?:[%!]|[\w.]+\?{1,2}\s*$)")  # %magic, !shell, name?


@dataclass(frozen=True)
class Tokens:
    """One submission's normalised tokens: `codes[i]` is token i's class (a stable 32-bit number),
    `lines[i]` the line it starts on in `text` (the cells joined, see `sources.joined`)."""

    codes: tuple[int, ...]
    lines: tuple[int, ...]


def token_code(text: str) -> int:
    """A class's number, the same in every process (Python's `hash` of a str is salted)."""
    return zlib.crc32(text.encode("utf-8", "replace"))


_NAME, _NUMBER, _STRING, _ERROR = (token_code(t) for t in ("N", "0", "S", "?"))


def _normalised(tok: tokenize.TokenInfo) -> int | None:
    kind, text = tok.type, tok.string
    if kind in _SKIPPED or not text.strip():
        return None
    if kind == tokenize.NAME:
        return token_code(text) if keyword.iskeyword(text) else _NAME
    if kind == tokenize.NUMBER:
        return _NUMBER
    if kind == tokenize.STRING or kind in _STRING_PARTS:
        return _STRING
    if kind == tokenize.OP:
        return token_code(text)
    return _ERROR


def _raw_tokens(lines: list[str]) -> Iterator[tuple[int, int]]:
    """(code, 0-based line) of each token; a line the tokenizer fails on is dropped and it
    restarts after it."""
    start = 0
    while start < len(lines):
        feed = iter(lines[start:])
        last_line = start
        f_depth = 0  # Python 3.12 splits f-strings into parts: one S for the whole string
        try:
            for tok in tokenize.generate_tokens(lambda: next(feed, "")):
                last_line = start + tok.start[0] - 1
                if tok.type in _STRING_PARTS:
                    name = tokenize.tok_name[tok.type]
                    f_depth += 1 if name == "FSTRING_START" else -1 if name == "FSTRING_END" else 0
                    if name == "FSTRING_START" and f_depth == 1:
                        yield _STRING, last_line
                    continue
                if f_depth:
                    continue
                code = _normalised(tok)
                if code is not None:
                    yield code, last_line
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
        kept = ["\n" if _IPYTHON_LINE.match(line) else line for line in text.splitlines(keepends=True)]
        for code, line in _raw_tokens(kept):
            codes.append(code)
            lines.append(first_line + line)
            if len(codes) >= MAX_TOKENS:
                return Tokens(tuple(codes), tuple(lines))
    return Tokens(tuple(codes), tuple(lines))
