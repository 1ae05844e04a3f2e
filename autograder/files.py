"""The grader's own files: one way from untrusted text to a file name, one atomic writer.

Names. A student id, a roster's name or a zip entry's name is text a student (or an LMS on their
behalf) chose: it may hold separators, `..`, a NUL, control characters, 300 bytes of CJK (the
file system's limit is 255 *bytes*), or differ from a classmate's only in case. Every file or
folder name made from such text is made by `safe_name` (one name) or `unique_names` (the names of
one folder): bounded in UTF-8 bytes, cut on a character boundary, no separators, no NUL, no
control or format characters, no dot names, and, within a folder, unique even on a file system
that ignores case. What was cut, or collides, gets a short hash of the text itself (not of its
position in the class), so the same student keeps the same name from one run to the next.

Writing.

Why atomic: a batch is killed and resumed, reports are read while a batch runs, and an LMS upload
may pick a file up at any moment; a reader must see the old file or the new one, never half of
one. The temporary file is unique per call (`mkstemp`), not per process, because a batch's
workers are threads of one process and may write the same folder at once; it is removed if
writing fails, so no `.tmp` is ever left behind.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable
from pathlib import Path

# Well under every file system's 255 bytes: room for a suffix the writer adds (`.md`, `.json`,
# `.<name>.<random>.tmp` of `write_atomic`) without reaching the limit.
MAX_NAME_BYTES = 120
HASH_CHARS = 8
# Separators and what Windows refuses in a name; a zip made there must unpack anywhere.
_REFUSED = frozenset('/\\:*?"<>|')
_PORTABLE_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_RUNS = re.compile(r"_{2,}")
_DOTS = re.compile(r"\.{2,}")
# Device names that Windows refuses as a file name, with or without an extension.
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def safe_name(text: str, *, portable: bool = False, limit: int = MAX_NAME_BYTES) -> str:
    """A file name for untrusted `text`: never empty, at most `limit` UTF-8 bytes, no separator,
    NUL, control or format character, not `.`/`..`, no leading dot, not a Windows device name.

    Unicode letters stay (`müller`, `김민준`: a folder per student should be recognisable); with
    `portable`, the name is ASCII `A-Za-z0-9._-` (accents keep their base letter), for files
    instructors download and upload elsewhere (feedback). A name longer than `limit` is cut on a
    character boundary and ends in `-<hash of text>`, so two long names sharing a prefix stay two.
    Text is NFC-normalised first: a zip made on macOS spells `ü` as two code points.
    """
    nfc = unicodedata.normalize("NFC", text)
    if portable:
        name = "".join(c for c in unicodedata.normalize("NFKD", nfc) if not unicodedata.combining(c))
        name = _DOTS.sub(".", _PORTABLE_UNSAFE.sub("_", name))
        name = name.lstrip("._-")
    else:
        name = "".join("_" if c in _REFUSED or _invisible(c) else c for c in nfc)
        name = name.lstrip(". ")
    name = _RUNS.sub("_", name).rstrip(". ")  # Windows drops trailing dots and spaces
    if not name:
        name = "unnamed"
    if name.split(".")[0].casefold() in _RESERVED:
        name = f"_{name}"
    if len(name.encode("utf-8", "surrogatepass")) > limit:
        name = _with_tag(name, _digest(nfc), limit)
    return name


def unique_names(texts: Iterable[str], *, portable: bool = False, limit: int = MAX_NAME_BYTES) -> dict[str, str]:
    """Each text's `safe_name`, distinct within one folder even where case or Unicode
    normalisation is ignored (macOS, Windows).

    Texts whose names collide all get `-<hash of the text>`; anything still taken (a student
    named like another's suffixed name) gets a counter, in sorted order, so the mapping depends
    only on the set of texts, and a name that collides with nobody is the plain `safe_name`.
    """
    texts = sorted(set(texts))
    plain = {t: safe_name(t, portable=portable, limit=limit) for t in texts}
    count: dict[str, int] = {}
    for name in plain.values():
        count[_fold(name)] = count.get(_fold(name), 0) + 1
    wanted = {
        t: name if count[_fold(name)] == 1 else _with_tag(name, _digest(unicodedata.normalize("NFC", t)), limit)
        for t, name in plain.items()
    }
    taken: set[str] = set()
    result: dict[str, str] = {}
    # Texts keeping their plain name go first, so they never lose it to a suffixed one.
    for t in sorted(texts, key=lambda t: (wanted[t] != plain[t], t)):
        name, n = wanted[t], 2
        while _fold(name) in taken:
            name, n = _with_tag(wanted[t], str(n), limit), n + 1
        taken.add(_fold(name))
        result[t] = name
    return result


def _invisible(c: str) -> bool:
    """Control, format, surrogate, private and unassigned characters, and every space but " "
    (line and paragraph separators break listings; a no-break space fakes a plain one)."""
    category = unicodedata.category(c)
    return category[0] == "C" or (category[0] == "Z" and c != " ")


def _with_tag(name: str, tag: str, limit: int) -> str:
    room = limit - len(tag.encode()) - 1
    cut = name.encode("utf-8", "surrogatepass")[:room].decode("utf-8", "ignore").rstrip(". ")
    return f"{cut or 'unnamed'}-{tag}"


def _fold(name: str) -> str:
    return unicodedata.normalize("NFKC", name).casefold()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_CHARS]


def write_atomic(path: Path, data: str | bytes, *, durable: bool = False) -> Path:
    """Write `data` to `path` via a temporary file in the same folder and a rename.

    Text is written as UTF-8 with lone surrogates (a file name from a zip made elsewhere, say)
    replaced rather than failing the write, and with it a batch. `durable` also syncs the file to
    disk before the rename: for results, which a resumed batch trusts instead of regrading.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = encodable(data).encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


_SURROGATES = re.compile("[\ud800-\udfff]")


def encodable(text: str) -> str:
    """`text` with lone surrogates as U+FFFD: what a writer does with text that did not come
    through `grading.untrusted.clean_text` (a file name that is not UTF-8 decodes to lone surrogates)."""
    return _SURROGATES.sub("\ufffd", text)
