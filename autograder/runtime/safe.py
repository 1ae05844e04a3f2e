"""Primitives the probe can trust after student code ran: bound functions, text, JSON. UNTRUSTED SIDE.

Loaded by the runner into a private module (its own copy of the builtins, not in `sys.modules`)
before any notebook cell runs. Every numpy/os/signal function used by the probe is bound once,
here, at that moment: a notebook that patches `np.asarray`, `np.array_equal`, `np.ndarray`,
`np.savez`, `json.dumps` or a builtin afterwards does not change what the probe sees or writes
(the JSON writer here uses no `json` module at all). What remains possible for code running in
this interpreter (trace/audit/at-fork hooks, reaching these modules through frames or `gc`,
patching numpy's or the standard library's internals) is listed in README's security limits;
the grader re-validates everything written and compares values with references it keeps outside.
"""

import functools
import io
import math
import os
import resource
import signal
import time
import warnings
from itertools import islice as _islice
from json.encoder import encode_basestring_ascii  # a C function: cannot be patched from Python

import numpy as np

from ..wire import array_ref

# --- bound before student code runs -------------------------------------------------------------
_asarray = np.asarray
_array = np.array
_ndarray = np.ndarray
_np_scalars = (np.integer, np.floating, np.bool_)
_load = np.load
_default_rng = np.random.default_rng
_isfinite = math.isfinite
_BytesIO = io.BytesIO
_signal, _setitimer, _SIGALRM, _ITIMER_REAL = signal.signal, signal.setitimer, signal.SIGALRM, signal.ITIMER_REAL
_perf_counter = time.perf_counter
_process_time = time.process_time  # every thread of this interpreter
_listdir, _os_open, _os_read, _os_close, _O_RDONLY = os.listdir, os.open, os.read, os.close, os.O_RDONLY
_str_copy = str.__str__  # a plain str copy of a str subclass, without calling its methods
_float_copy = float.__float__
_int_copy = int.__int__
_type_name = type.__dict__["__name__"].__get__
quote = encode_basestring_ascii
_recording = functools.partial(warnings.catch_warnings, record=True, module=warnings)
_simplefilter = warnings.simplefilter
_errstate = np.errstate

MAX_ELEMENTS = 20_000_000
MAX_LIST = 64
# All arrays of one run stay well below the file-size rlimit (else writing arrays.npz would kill
# the interpreter with SIGXFSZ and every answer would be lost); each question gets an equal share,
# so a function returning huge arrays cannot use up the room of the others.
_FSIZE = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
MAX_TOTAL_BYTES = min(256 * 1024**2, _FSIZE // 2 if _FSIZE != resource.RLIM_INFINITY else 256 * 1024**2)
# The number of arrays has a per-question share as well: empty arrays cost no bytes, and the writer
# (npz.py, no ZIP64) cannot hold more than 65,535 (collect refuses over 100,000). Past it, nothing
# at all was written and every question was lost. Honest runs write at most ~300 (the references).
MAX_TOTAL_ARRAYS = 50_000


class CallTimeout(BaseException):
    """Raised by the alarm when one call runs too long."""


# The alarm counts this interpreter's own CPU time and starved time with the wall clock, as the
# watchdog counts the sandbox's (sandbox/watchdog.py `over`, docs/limits.md): it goes off once the
# wall clock and the CPU time are both past the limit, or the wall clock less the time this
# interpreter's threads waited for a CPU (their run delay) is, or the wall clock alone is past
# WALL_STRETCH times it. A cell starved by its neighbours is not cut; a busy loop spends CPU time
# and is; a sleeping hang waits for no CPU and is cut at its plain limit, here, so that the run
# goes on instead of being killed from outside. Set by the runner from cells.json (1.0: wall
# clock only, as where the grader has no CPU time to count). Without a readable run delay (no
# scheduler statistics) the stretch is granted whole.
WALL_STRETCH = 1.0
_alarm_state = [0.0, 0.0, None, 0.0, CallTimeout, "the call ran longer than its time limit"]


def _run_delays():
    """Seconds each thread of this interpreter spent runnable but not running (`schedstat`'s
    second field, ns), by thread id, or None. Not its child processes': the watchdog counts those."""
    try:
        tids = _listdir("/proc/self/task")
    except OSError:
        return None
    delays = {}
    for tid in tids:
        try:
            fd = _os_open("/proc/self/task/" + tid + "/schedstat", _O_RDONLY)
            try:
                delays[tid] = int(_os_read(fd, 200).split()[1]) / 1e9
            finally:
                _os_close(fd)
        except (OSError, ValueError, IndexError):
            continue
    return delays or None


def _waited_since(before):
    """Seconds the threads waited since `before` (`_run_delays`), or None. A thread that ended
    meanwhile counts nothing (its delay went with it), a thread started meanwhile all of its."""
    now = _run_delays() if before is not None else None
    if now is None:
        return None
    return sum(max(0.0, delay - before.get(tid, 0.0)) for tid, delay in now.items())


def _alarm(signum, frame):  # noqa: ARG001
    started, cpu_started, delays_started, seconds, error, message = _alarm_state
    wall, cpu = _perf_counter() - started, _process_time() - cpu_started
    stretch = WALL_STRETCH if WALL_STRETCH > 1.0 else 1.0
    waited = _waited_since(delays_started) if stretch > 1.0 else None
    unstarved = wall - waited if waited is not None else 0.0
    if (wall >= seconds and cpu >= seconds) or wall >= stretch * seconds or stretch == 1.0 or unstarved >= seconds:
        raise error(message)
    # not yet: look again when the CPU time, the time not starved or the stretched wall clock could be over
    _setitimer(_ITIMER_REAL, max(0.05, min(seconds - cpu, seconds - unstarved, stretch * seconds - wall)))


def start_alarm(seconds: float, error=CallTimeout, message: str = "the call ran longer than its time limit") -> None:
    delays = _run_delays() if WALL_STRETCH > 1.0 else None
    _alarm_state[:] = [_perf_counter(), _process_time(), delays, seconds, error, message]
    _signal(_SIGALRM, _alarm)
    _setitimer(_ITIMER_REAL, seconds)


def stop_alarm() -> None:
    _setitimer(_ITIMER_REAL, 0)


# --- warnings a call raised ---------------------------------------------------------------------

# NumPy's own defaults, whatever the notebook set with np.seterr: a contract that promises no
# warnings is kept (or not) by the function itself, as a student calling it would see it.
NUMPY_DEFAULTS = {"over": "warn", "divide": "warn", "invalid": "warn", "under": "ignore"}
MAX_WARNING_KINDS = 4
_MAX_WARNINGS_READ = 1000


def recording_warnings():
    """A context that records every warning of the call (each occurrence, not once per place)
    under NumPy's default error handling; enter it inside the call's alarm and try, since the
    notebook may have patched the `warnings` module it works with."""
    return _recording()


def warning_summary(seen) -> list:
    """The recorded warnings as plain data: at most `MAX_WARNING_KINDS` distinct (category name,
    message) pairs with how often each was raised, in the order first seen."""
    counts: dict = {}
    for w in _islice(seen, _MAX_WARNINGS_READ):
        key = (name(getattr(w, "category", None)), text(getattr(w, "message", ""), 200))
        if key in counts:
            counts[key] += 1
        elif len(counts) < MAX_WARNING_KINDS:
            counts[key] = 1
    return [{"category": c, "message": m, "count": n} for (c, m), n in counts.items()]


# --- text and JSON without trusting student objects ---------------------------------------------


def text(value, limit: int = 500) -> str:
    """str(value) as a plain str of at most `limit` characters, whatever `value.__str__` does."""
    try:
        s = str(value)
        s = _str_copy(s) if isinstance(s, str) else "<unprintable>"
    except BaseException:  # noqa: BLE001 - a hostile __str__ may raise anything, even SystemExit
        s = "<unprintable>"
    return s[:limit]


def name(cls) -> str:
    """A class's real name (a metaclass cannot make it lie or raise)."""
    try:
        return _str_copy(_type_name(cls))[:100]
    except BaseException:  # noqa: BLE001
        return "<unknown>"


def dumps(value) -> str:
    """JSON for plain data only (exact dict/list/tuple/str/int/float/bool/None); TypeError else."""
    kind = type(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return float.__repr__(value)
    if kind is str:
        return encode_basestring_ascii(value)
    if kind is list or kind is tuple:
        return "[" + ", ".join([dumps(v) for v in value]) + "]"
    if kind is dict:
        parts = []
        for key, item in dict.items(value):
            if type(key) is not str:
                raise TypeError("a key that is not a string")
            parts.append(encode_basestring_ascii(key) + ": " + dumps(item))
        return "{" + ", ".join(parts) + "}"
    raise TypeError(f"cannot write a {name(kind)} as plain data")


def jsonable(value, depth=0):
    """Configs from student objects, reduced to plain JSON scalars/lists/dicts of bounded size."""
    if depth > 4:
        return None
    if value is None or type(value) is bool:
        return value
    if isinstance(value, int):
        return _int_copy(value)
    if isinstance(value, str):
        return _str_copy(value)[:200]
    if isinstance(value, float):
        value = _float_copy(value)
        return value if _isfinite(value) else text(value, 20)
    if isinstance(value, (list, tuple)):
        return [jsonable(v, depth + 1) for v in _islice(value, 32)]
    if isinstance(value, dict):
        return {text(k, 100): jsonable(v, depth + 1) for k, v in _islice(value.items(), 64)}
    if isinstance(value, _np_scalars):
        return jsonable(value.item(), depth + 1)
    return name(type(value))


# --- arrays in and out --------------------------------------------------------------------------


def read_inputs(fd: int) -> dict:
    """The probe's input arrays, read to the end of `fd`: an npz file's bytes, which the supervisor
    writes there once every cell has run (nothing at all: no arrays)."""
    chunks = []
    while chunk := _os_read(fd, 1 << 20):
        chunks.append(chunk)
    _os_close(fd)
    if not chunks:
        return {}
    with _load(_BytesIO(b"".join(chunks)), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def numbers(value, what: str):
    """What numpy makes of `value`, as a plain ndarray of numbers (never a subclass, which could
    lie about its contents), or TypeError/ValueError saying what is wrong with `what`."""
    arr = _asarray(value)
    if type(arr) is not _ndarray:
        arr = _array(arr, subok=False)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what} of dtype {text(arr.dtype, 40)} (expected numbers)")
    if arr.size > MAX_ELEMENTS:
        raise ValueError(f"{what} of {arr.size} values, more than {MAX_ELEMENTS}")
    return arr


class Arrays:
    """Collects output arrays under fresh keys, as plain ndarrays of numeric dtype."""

    def __init__(self, budget_per_question: int = MAX_TOTAL_BYTES, count_per_question: int = MAX_TOTAL_ARRAYS) -> None:
        self.store: dict[str, np.ndarray] = {}
        self.budget = budget_per_question
        self.count_budget = count_per_question
        self.used: dict[str, int] = {}
        self.counted: dict[str, int] = {}
        self.question = ""

    def add(self, value) -> dict:
        arr = numbers(value, "returned a value")
        used = self.used.get(self.question, 0) + arr.nbytes
        if used > self.budget:
            raise ValueError(
                f"returned more than {self.budget / 1024**2:.0f} MB of arrays for this question, "
                "more than the grader accepts"
            )
        counted = self.counted.get(self.question, 0) + 1
        if counted > self.count_budget:
            raise ValueError(
                f"returned more than {self.count_budget} arrays for this question, more than the grader accepts"
            )
        self.used[self.question], self.counted[self.question] = used, counted
        key = f"a{len(self.store)}"
        self.store[key] = _array(arr, copy=True, subok=False)
        return array_ref(key)


# How far `snapshot` looks into the arguments: the grader's arguments are arrays, numbers and
# lists/tuples/dicts of them a level or two deep (a list of gradient arrays), built by the wire.
_SNAPSHOT_DEPTH = 8
_SNAPSHOT_ITEMS = 10_000


def snapshot(values):
    """What every argument holds before the call: an exact copy of every array reachable from it
    through lists, tuples and dicts (ndarray methods are C code: a notebook cannot patch them),
    and the items of every list and dict, so that `modified` sees `g *= f` on an array inside a
    list as well as `grads[0] = ...`. The arguments are the grader's own (decoded from the wire
    before the call), so the walk is bounded by what the grader sent."""
    found = []
    stack = [(v, 0) for v in values]
    while stack and len(found) < _SNAPSHOT_ITEMS:
        v, depth = stack.pop()
        kind = type(v)
        if kind is _ndarray:
            found.append((v, v.copy()))
        elif depth < _SNAPSHOT_DEPTH and (kind is list or kind is tuple):
            if kind is list:
                found.append((v, list.copy(v)))
            stack.extend((item, depth + 1) for item in v)
        elif depth < _SNAPSHOT_DEPTH and kind is dict:
            found.append((v, dict.copy(v)))
            stack.extend((item, depth + 1) for item in dict.values(v))
    return found


def same_array(w, v) -> bool:
    return type(w) is _ndarray and w.shape == v.shape and w.dtype == v.dtype and w.tobytes() == v.tobytes()


def modified(values, before) -> bool:  # noqa: ARG001 - `values` kept for the handlers' call
    """Did the call change anything `snapshot` recorded: an array's values, shape or dtype, or
    the items of a list or dict (an item replaced, added or removed)? Anything that cannot be
    compared counts as changed."""
    try:
        for v, saved in before:
            if type(saved) is _ndarray:
                if not same_array(v, saved):
                    return True
            elif type(saved) is list:
                if type(v) is not list or list.__len__(v) != len(saved):
                    return True
                if any(a is not b for a, b in zip(list.copy(v), saved)):
                    return True
            elif type(v) is not dict or dict.__len__(v) != len(saved):
                return True
            else:
                current = dict.copy(v)
                if any(key not in current or current[key] is not item for key, item in saved.items()):
                    return True
    except BaseException:  # noqa: BLE001
        return True
    return False
