"""Text and JSON from the sandbox, made safe and bounded before the grader works on them (trusted).

Two things every reader of sandbox output needs, kept here so that `collect` applies them once,
where the data comes in, and no later stage has to remember them:

- `clean_text`: a string the submission chose (an exception message, a traceback, a layer name)
  may hold lone surrogates (`"\\ud800"`, which no UTF-8 writer accepts: one of them crashed the
  report writers and stopped a batch), terminal escape sequences or other control characters
  (which would rewrite an instructor's terminal or break a CSV/HTML cell). Lone surrogates and
  controls become U+FFFD, terminal escape sequences are dropped, `\\r\\n`/`\\r` become `\\n`, and
  the length is capped. A cleaned string encodes to UTF-8 and prints on any terminal.
- `object_members` / `count_values`: the positions of an object's members in a JSON text and an
  upper bound on the values inside a span, found without building anything. `json.loads` of 64 MB
  of hostile JSON can build tens of millions of objects (a list of 20 million zeros, or of 20
  million empty dicts: over a GB); with these, each answer's size is known before it is parsed,
  and an answer over its bound is refused on its own, without costing the other answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from json.decoder import scanstring  # the C implementation where available: fast on long strings

REPLACEMENT = "\ufffd"
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
# C0 controls but tab and newline, DEL, C1 controls, lone surrogates, and the bidirectional
# overrides/isolates that can make a line display as something else than what it holds.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile("[\t\n]")


def clean_text(value: object, limit: int = 2000, one_line: bool = False) -> str:
    """`value` as a string that every writer (UTF-8 files, JSON, HTML, CSV, a terminal) accepts.

    Non-strings (from a forged JSON document: numbers, lists) are shown by their repr, so a field
    that should be text never makes a later `str` operation fail. The cap applies before the
    substitutions (bounded work) and after them (bounded size)."""
    text = value if type(value) is str else repr(value)[: limit * 2]
    text = text[: limit * 4]
    text = _ESCAPES.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _UNSAFE.sub(REPLACEMENT, text)
    if one_line:
        text = _LINE_BREAKS.sub(" ", text)
    return text[:limit]


# --- JSON structure without building values ------------------------------------------------------

_WS = re.compile(r"[ \t\n\r]*")
_STRUCTURE = re.compile(r'["\[\]{}]')
_SCALAR_END = re.compile(r"[,\]} \t\n\r]")


def _skip(text: str, i: int) -> int:
    match = _WS.match(text, i)
    return match.end() if match else i


def value_end(text: str, i: int) -> int:
    """The end of the JSON value that starts at `i`, found by jumping from one bracket or quote to
    the next (C-speed between them). Raises ValueError when the text ends first. The value itself
    is validated later, by `json.loads` of its span."""
    if i >= len(text):
        raise ValueError("the document ends where a value should start")
    first = text[i]
    if first == '"':
        return scanstring(text, i + 1)[1]
    if first not in "[{":
        match = _SCALAR_END.search(text, i)
        return match.start() if match else len(text)
    depth = 0
    while True:
        match = _STRUCTURE.search(text, i)
        if match is None:
            raise ValueError("the document ends inside a value")
        i = match.end()
        char = match.group()
        if char == '"':
            i = scanstring(text, i)[1]
        elif char in "[{":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return i


def object_members(text: str, i: int = 0, last: str | None = None) -> Iterator[tuple[str, int, int]]:
    """(key, start, end) of each member of the JSON object at `i`; ValueError if it is not one.

    The member named `last`, if any, is yielded with end -1 and ends the iteration: its end is not
    looked for (finding it would walk through the whole value once more)."""
    i = _skip(text, i)
    if text[i : i + 1] != "{":
        raise ValueError("not a JSON object")
    i = _skip(text, i + 1)
    if text[i : i + 1] == "}":
        return
    while True:
        if text[i : i + 1] != '"':
            raise ValueError("an object key is not a string")
        key, i = scanstring(text, i + 1)
        i = _skip(text, i)
        if text[i : i + 1] != ":":
            raise ValueError("a key without a value")
        start = _skip(text, i + 1)
        if key == last:
            yield key, start, -1
            return
        end = value_end(text, start)
        yield key, start, end
        i = _skip(text, end)
        if text[i : i + 1] == ",":
            i = _skip(text, i + 1)
        elif text[i : i + 1] == "}":
            return
        else:
            raise ValueError("members are not separated by commas")


def count_values(text: str, start: int = 0, end: int | None = None) -> int:
    """An upper bound on the JSON values in text[start:end], counted in C: every value but the
    first follows a comma or opens a container (brackets inside strings count too: the bound only
    errs on the safe side)."""
    end = len(text) if end is None else end
    return 1 + text.count(",", start, end) + text.count("[", start, end) + text.count("{", start, end)


def count_structure(text: str) -> int:
    """How many brackets and quotes `value_end` may have to step over in the whole text."""
    return sum(text.count(char) for char in '[]{}"')
