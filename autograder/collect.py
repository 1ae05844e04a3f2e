"""Read what came out of the sandbox, as plain data only (trusted side, untrusted input).

The output folder was writable by the submission, so every file is treated as hostile: opened
without following symlinks, required to be a regular file, size-capped, parsed as JSON or as an
`.npz` with `allow_pickle=False`, and every array reference resolved against that archive with
its dtype restricted to numbers. Anything malformed becomes "no output" for the calls concerned,
never an exception that would stop the grader.
"""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MAX_JSON_BYTES = 64 * 1024**2
MAX_NPZ_BYTES = 1024**3


@dataclass(frozen=True)
class Raised:
    """The student's code raised (or the probe could not run it)."""

    type: str
    message: str


@dataclass(frozen=True)
class CallOutput:
    value: Any  # decoded value, or a Raised
    modified_input: bool = False


@dataclass(frozen=True)
class CellEvent:
    index: int
    status: str  # ok | error | timeout | skipped | killed
    ename: str = ""
    evalue: str = ""
    traceback: str = ""


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
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(cap + 1)
        return data if len(data) <= cap else None
    finally:
        os.close(fd)


def cell_events(events: list[dict[str, Any]]) -> dict[int, CellEvent]:
    """The last word on each cell; a cell that started and never ended is 'killed'."""
    cells: dict[int, CellEvent] = {}
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
            cells[index] = CellEvent(index, "killed")
        elif kind == "skipped":
            cells[index] = CellEvent(index, "skipped")
        elif kind == "end":
            cells[index] = CellEvent(index, str(event.get("status", "error"))[:20], str(event.get("ename", ""))[:200],
                                     str(event.get("evalue", ""))[:2000], str(event.get("traceback", ""))[:4000])
    return cells


_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _load_npz(path: Path) -> dict[str, np.ndarray] | None:
    """The archive's arrays, or None. Only uncompressed members whose header fits their stored size
    are read: a compressed member (a few MB that inflate to many GB) or a header claiming a huge
    shape would otherwise make the grader allocate what the sandbox never had to."""
    data = read_untrusted(path, MAX_NPZ_BYTES)
    if data is None:
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if info.compress_type != zipfile.ZIP_STORED or info.file_size > MAX_NPZ_BYTES:
                    return None
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    if version not in _HEADER_READERS:
                        return None
                    shape, _, dtype = _HEADER_READERS[version](member)
                if dtype.hasobject or int(np.prod(shape, dtype=object)) * dtype.itemsize > info.file_size:
                    return None
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, MemoryError, TypeError, KeyError,
            OverflowError, SyntaxError):
        return None


def decode(value: Any, arrays: dict[str, np.ndarray], depth: int = 0) -> Any:
    """Inverse of the probe's encoding; raises ValueError on anything unexpected."""
    if depth > 8:
        raise ValueError("nested too deeply")
    if isinstance(value, dict):
        if set(value) == {"$array"}:
            arr = arrays.get(str(value["$array"]))
            if arr is None or arr.dtype.kind not in "biuf":
                raise ValueError("missing or non-numeric array")
            return arr
        if set(value) == {"$tuple"} and isinstance(value["$tuple"], list):
            return tuple(decode(v, arrays, depth + 1) for v in value["$tuple"])
        if set(value) == {"$list"} and isinstance(value["$list"], list):
            return [decode(v, arrays, depth + 1) for v in value["$list"]]
        if set(value) == {"$str"}:
            return str(value["$str"])
        if set(value) == {"$none"}:
            return None
        if any(str(k).startswith("$") for k in value):
            raise ValueError("a malformed encoding")  # e.g. {"$tuple": 5}: not something the probe writes
        return {str(k): decode(v, arrays, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v, arrays, depth + 1) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(f"unexpected {type(value).__name__}")


def _check_shape(kind: str | None, value: Any) -> None:
    """What the probe writes for this call type; anything else is a forgery the compare step
    must not see (e.g. a 0-d trajectory would crash its feedback)."""
    if kind == "trajectory":
        if not (isinstance(value, dict) and value and all(
                isinstance(v, np.ndarray) and v.ndim >= 1 for v in value.values())):
            raise ValueError("not a trajectory (a history array per state variable)")


NO_OUTPUT = Raised("NoOutput", "the notebook did not get as far as this check (see the execution errors)")


def no_outputs(call_ids: list[str]) -> dict[str, CallOutput]:
    """What a run that never finished gives: no output for any call."""
    return {cid: CallOutput(NO_OUTPUT) for cid in call_ids}


def read_outputs(out_dir: Path, call_ids: list[str], kinds: dict[str, str] | None = None) -> dict[str, CallOutput]:
    """Every call id gets an output: its value, what it raised, or why there is none.

    `kinds` (call id -> call type), when given, lets each value be checked for the shape its call
    type produces."""
    missing = NO_OUTPUT
    raw = read_untrusted(out_dir / "probe.json", MAX_JSON_BYTES)
    arrays = _load_npz(out_dir / "arrays.npz")
    try:
        doc = json.loads(raw) if raw is not None else None
    except (ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), dict) or arrays is None:
        return no_outputs(call_ids)
    outputs = {}
    for cid in call_ids:
        entry = doc["results"].get(cid)
        if not isinstance(entry, dict):
            outputs[cid] = CallOutput(missing)
        elif entry.get("ok") is True:
            try:
                value = decode(entry.get("value"), arrays)
                _check_shape((kinds or {}).get(cid), value)
                outputs[cid] = CallOutput(value, entry.get("modified_input") is True)
            except (ValueError, RecursionError) as exc:
                outputs[cid] = CallOutput(Raised("BadOutput", f"the returned value could not be read: {exc}"))
        else:
            err = entry.get("error") if isinstance(entry.get("error"), dict) else {}
            outputs[cid] = CallOutput(Raised(str(err.get("type", "Error"))[:100], str(err.get("message", ""))[:500]))
    return outputs
