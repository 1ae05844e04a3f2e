"""Read what came out of the sandbox, as plain data only (trusted side, untrusted input).

The output folder was writable by the submission, so every file is treated as hostile: opened
without following symlinks, required to be a regular file, size-capped, parsed as JSON or as an
`.npz` with `allow_pickle=False`, and every array reference resolved against that archive with
its dtype restricted to numbers. Anything malformed becomes "no output" for the calls concerned,
never an exception that would stop the grader.

Everything is bounded *before* the grader works on it (see `untrusted.py`): each answer's size is
counted in its JSON text before it is parsed (an answer over `MAX_ANSWER_VALUES` is that call's
failure, not the grader's memory), lists and nesting are capped while decoding, every array's
element count is checked from its header, and every string that comes out is `clean_text`-ed
here, once: no report writer downstream can meet a lone surrogate or a terminal escape.
"""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..result import CellError, CellStatus
from ..wire import ARRAY, LIST, NONE, STR, TUPLE, CallOutput, Raised, Warned
from .untrusted import clean_text, count_structure, count_values, object_members

MAX_JSON_BYTES = 64 * 1024**2
# The probe writes at most 256 MB of arrays per run (runtime/safe.py MAX_TOTAL_BYTES), plus headers,
# and at most 50,000 arrays (MAX_TOTAL_ARRAYS: its writer has no ZIP64, 65,535 members at most).
MAX_NPZ_BYTES = 320 * 1024**2
MAX_ARRAYS = 100_000
MAX_ARRAY_ELEMENTS = 20_000_000  # the probe's own cap per returned array (runtime/safe.py MAX_ELEMENTS)
# An answer may name one stored array many times, and a check copies it once per reference
# (`np.asarray` of a list of them, then a float64 conversion): what an answer costs is what its
# references cost, not what the archive holds. So every reference counts, every time it occurs:
# one answer's references at most the float64 size of one array at the element cap (8 bytes an
# element, or the dtype's own size if wider: what a check's conversion makes of them), and a
# run's references together at most the archive's cap in their stored bytes. The probe gives every
# returned array a key of its own (runtime/safe.py `Arrays.add`): an honest run references each
# array once, and the assignment's largest answer (a model's weights) is ~3 M elements.
MAX_ANSWER_ARRAY_BYTES = MAX_ARRAY_ELEMENTS * 8
MAX_REFERENCED_BYTES = MAX_NPZ_BYTES
# What the probe writes for one call is small: values are array references, lists and tuples hold at
# most 64 items, a model description a few thousand values. These bounds are ~30x that, and they
# hold before anything is parsed (MAX_ANSWER_*) or while decoding (MAX_LIST_ITEMS, depth 8).
MAX_ANSWER_BYTES = 8 * 1024**2
MAX_ANSWER_VALUES = 100_000
MAX_TOTAL_VALUES = 500_000  # all answers of one run together
MAX_STRUCTURE = 2_000_000  # brackets and quotes in probe.json: bounds the time to find the answers
MAX_LIST_ITEMS = 10_000
MAX_STRING = 2_000
EVENT_STATUSES = frozenset(CellStatus)  # an "end" event's status; any other text is an error
_EVENT_FIELDS = {"item": 300, "event": 20, "status": 20, "ename": 200, "evalue": 2000, "traceback": 4000}


def read_untrusted(path: Path, cap: int) -> bytes | None:
    """The bytes of a regular file, or None (missing, a symlink, a fifo, too large)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > cap:
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:  # read(n) allocates n bytes: ask for the size only
            data = fh.read(info.st_size + 1)
        return data if len(data) == info.st_size else None  # else it changed while being read
    finally:
        os.close(fd)


def _field(event: dict[str, Any], key: str, default: str = "") -> str:
    """One field of an event as clean text of its capped length (idempotent)."""
    return clean_text(event.get(key, default), _EVENT_FIELDS[key], one_line=key not in ("evalue", "traceback"))


def cell_events(events: list[dict[str, Any]]) -> dict[int, CellError]:
    """The last word on each cell; a cell that started and never ended is 'killed'."""
    cells: dict[int, CellError] = {}
    for event in events:
        item = event["item"]
        if not item.startswith("cell:"):
            continue
        try:
            index = int(item[5:])
        except ValueError:
            continue
        kind = event.get("event")
        if kind == "start":
            cells[index] = CellError(index, CellStatus.KILLED)
        elif kind == "skipped":
            cells[index] = CellError(index, CellStatus.SKIPPED)
        elif kind == "end":
            status = _field(event, "status", "error")
            cells[index] = CellError(
                index,
                CellStatus(status if status in EVENT_STATUSES else "error"),
                _field(event, "ename"),
                _field(event, "evalue"),
                _field(event, "traceback"),
            )
    return cells


_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _load_npz(path: Path) -> dict[str, np.ndarray] | None:
    """The archive's arrays, or None. Only uncompressed members whose header fits their stored size
    are read: a compressed member (a few MB that inflate to many GB) or a header claiming a huge
    shape would otherwise make the grader allocate what the sandbox never had to. The number of
    members and each array's element count are bounded like the probe bounds what it writes (an
    int8 array of 300 M elements is 300 MB here, 2.4 GB once a check converts it to floats).

    The arrays are read-only views into the file's bytes, not copies: the archive costs the grader
    its size once, not twice."""
    data = read_untrusted(path, MAX_NPZ_BYTES)
    if data is None:
        return None
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            if len(members) > MAX_ARRAYS:
                return None
            for info in members:
                if info.compress_type != zipfile.ZIP_STORED or info.file_size > MAX_NPZ_BYTES:
                    return None
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    if version not in _HEADER_READERS:
                        return None
                    shape, fortran, dtype = _HEADER_READERS[version](member)
                    header = member.tell()
                count = int(np.prod(shape, dtype=object))
                if dtype.hasobject or count > MAX_ARRAY_ELEMENTS or count * dtype.itemsize > info.file_size:
                    return None
                # the member's data follows its local header: 30 bytes, its name and its extra field
                name_len, extra_len = np.frombuffer(data, "<u2", 2, info.header_offset + 26)
                start = info.header_offset + 30 + int(name_len) + int(extra_len) + header
                flat = np.frombuffer(data, dtype, count, start)
                key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                arrays[key] = flat.reshape(shape, order="F" if fortran else "C")
        return arrays
    except (
        ValueError,
        OSError,
        zipfile.BadZipFile,
        EOFError,
        MemoryError,
        TypeError,
        KeyError,
        OverflowError,
        SyntaxError,
        RuntimeError,  # zipfile: a member flagged as encrypted
        NotImplementedError,  # zipfile: strong encryption, patched data, a newer zip version
    ):
        return None


class _References:
    """Stored bytes a run's array references may still cost (MAX_REFERENCED_BYTES), shared by its answers."""

    def __init__(self, limit: int = MAX_REFERENCED_BYTES) -> None:
        self.limit = self.left = limit

    def take(self, arr: np.ndarray) -> None:
        self.left -= int(arr.nbytes)
        if self.left < 0:
            raise ValueError(
                f"the answers' arrays, counted once per reference, come to more than the "
                f"{self.limit // 1024**2} MB the grader reads for a run (return each array once)"
            )


class _Budget:
    """Values one answer may still decode into (a second line behind the count before parsing), and
    the run's budget of array references it draws on."""

    def __init__(self, values: int, references: _References | None = None) -> None:
        self.left = values
        self.references = references or _References()
        self.array_bytes = MAX_ANSWER_ARRAY_BYTES

    def take_array(self, arr: np.ndarray) -> None:
        """Count one reference to `arr`: by its float64 size in this answer, by its bytes in the run."""
        self.array_bytes -= int(arr.size) * max(int(arr.dtype.itemsize), 8)
        if self.array_bytes < 0:
            raise ValueError(
                f"its arrays, counted once per reference, hold more than {MAX_ARRAY_ELEMENTS:,} values "
                "(return each array once)"
            )
        self.references.take(arr)

    def take(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise ValueError(f"more than {MAX_ANSWER_VALUES:,} values, more than the grader reads")


def decode(value: Any, arrays: dict[str, np.ndarray], depth: int = 0, budget: _Budget | None = None) -> Any:
    """Inverse of the probe's encoding; raises ValueError on anything unexpected or too large.

    Strings (values and keys) come back cleaned (`clean_text`), lists hold at most MAX_LIST_ITEMS."""
    budget = budget or _Budget(MAX_ANSWER_VALUES)
    budget.take(1)
    if depth > 8:
        raise ValueError("nested too deeply")
    if isinstance(value, list) and len(value) > MAX_LIST_ITEMS:
        raise ValueError(f"a list of {len(value):,} items, more than the {MAX_LIST_ITEMS:,} the grader reads")
    if isinstance(value, dict):
        if set(value) == {ARRAY}:
            arr = arrays.get(str(value[ARRAY]))
            if arr is None or arr.dtype.kind not in "biuf":
                raise ValueError("missing or non-numeric array")
            budget.take_array(arr)
            return arr
        if set(value) == {TUPLE} and isinstance(value[TUPLE], list):
            return tuple(decode({LIST: value[TUPLE]}, arrays, depth, budget))
        if set(value) == {LIST} and isinstance(value[LIST], list):
            return decode(value[LIST], arrays, depth, budget)
        if set(value) == {STR}:
            return clean_text(value[STR], MAX_STRING)
        if set(value) == {NONE}:
            return None
        if any(str(k).startswith("$") for k in value):
            raise ValueError("a malformed encoding")  # e.g. {"$tuple": 5}: not something the probe writes
        return {clean_text(k, 200): decode(v, arrays, depth + 1, budget) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v, arrays, depth + 1, budget) for v in value]
    if isinstance(value, str):
        return clean_text(value, MAX_STRING)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    raise ValueError(f"unexpected {type(value).__name__}")


def _check_shape(kind: str | None, value: Any) -> None:
    """What the probe writes for this call type; anything else is a forgery the compare step
    must not see (e.g. a 0-d trajectory would crash its feedback)."""
    if kind == "trajectory":
        if not (
            isinstance(value, dict) and value and all(isinstance(v, np.ndarray) and v.ndim >= 1 for v in value.values())
        ):
            raise ValueError("not a trajectory (a history array per state variable)")


NO_OUTPUT = Raised("NoOutput", "the notebook did not get as far as this check (see the execution errors)")


def no_outputs(call_ids: list[str]) -> dict[str, CallOutput]:
    """What a run that never finished gives: no output for any call."""
    return {cid: CallOutput(NO_OUTPUT) for cid in call_ids}


def _answers(raw: bytes, wanted: set[str]) -> dict[str, Any]:
    """The parsed entries of probe.json's "results" for the wanted call ids, each bounded before it
    is parsed; an entry over a bound becomes a `Raised` saying which. ValueError if the document is
    not what the probe writes (the probe writes ASCII only)."""
    text = raw.decode("ascii")  # UnicodeDecodeError is a ValueError
    if count_structure(text) > MAX_STRUCTURE:
        raise ValueError(f"more than {MAX_STRUCTURE:,} brackets and quotes")
    results = next((start for key, start, _ in object_members(text, last="results") if key == "results"), None)
    if results is None:
        raise ValueError("no results")
    found: dict[str, Any] = {}
    total = 0
    for cid, start, end in object_members(text, results):
        if cid not in wanted:
            continue  # never parsed: unknown entries cost nothing
        values = count_values(text, start, end)
        if end - start > MAX_ANSWER_BYTES or values > MAX_ANSWER_VALUES:
            found[cid] = Raised(
                "BadOutput",
                f"the answer is too large for the grader: {end - start:,} bytes and up "
                f"to {values:,} values (at most {MAX_ANSWER_BYTES // 1024**2} MB and "
                f"{MAX_ANSWER_VALUES:,} values per answer; return arrays, not long lists)",
            )
        elif total + values > MAX_TOTAL_VALUES:
            found[cid] = Raised(
                "BadOutput",
                f"the answers of this notebook are too large for the grader together "
                f"(more than {MAX_TOTAL_VALUES:,} values)",
            )
        else:
            total += values
            try:
                found[cid] = json.loads(text[start:end])
            except (ValueError, RecursionError):
                found[cid] = None
    return found


MAX_WARNING_KINDS = 4


def _warnings(raw: Any) -> tuple[Warned, ...]:
    """What the probe says a call warned (`safe.warning_summary`), bounded: at most
    `MAX_WARNING_KINDS` entries of clean one-line text; anything else is dropped."""
    if not isinstance(raw, list):
        return ()
    found = []
    for item in raw[:MAX_WARNING_KINDS]:
        if not isinstance(item, dict):
            continue
        count = item.get("count")
        found.append(
            Warned(
                clean_text(item.get("category", ""), 100, one_line=True),
                clean_text(item.get("message", ""), 200, one_line=True),
                min(count, 10**9) if type(count) is int and count > 0 else 1,
            )
        )
    return tuple(found)


def read_outputs(out_dir: Path, call_ids: list[str], kinds: dict[str, str] | None = None) -> dict[str, CallOutput]:
    """Every call id gets an output: its value, what it raised, or why there is none.

    `kinds` (call id -> call type), when given, lets each value be checked for the shape its call
    type produces."""
    missing = NO_OUTPUT
    raw = read_untrusted(out_dir / "probe.json", MAX_JSON_BYTES)
    arrays = _load_npz(out_dir / "arrays.npz")
    if raw is None or arrays is None:
        return no_outputs(call_ids)
    try:
        entries = _answers(raw, set(call_ids))
    except (ValueError, RecursionError) as exc:
        unreadable = Raised("NoOutput", f"the notebook's outputs could not be read ({clean_text(exc, 200)})")
        return {cid: CallOutput(unreadable) for cid in call_ids}
    outputs = {}
    references = _References()
    for cid in call_ids:
        entry = entries.get(cid)
        if isinstance(entry, Raised):
            outputs[cid] = CallOutput(entry)
        elif not isinstance(entry, dict):
            outputs[cid] = CallOutput(missing)
        elif entry.get("ok") is True:
            try:
                value = decode(entry.get("value"), arrays, budget=_Budget(MAX_ANSWER_VALUES, references))
                _check_shape((kinds or {}).get(cid), value)
                outputs[cid] = CallOutput(value, entry.get("modified_input") is True, _warnings(entry.get("warnings")))
            except (ValueError, RecursionError) as exc:
                outputs[cid] = CallOutput(
                    Raised("BadOutput", f"the returned value could not be read: {clean_text(exc, 300)}")
                )
        else:
            err = entry.get("error") if isinstance(entry.get("error"), dict) else {}
            outputs[cid] = CallOutput(
                Raised(
                    clean_text(err.get("type", "Error"), 100, one_line=True), clean_text(err.get("message", ""), 500)
                )
            )
    return outputs
