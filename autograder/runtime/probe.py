"""Calls the submission's functions on the grading inputs and writes plain data. UNTRUSTED SIDE.

Runs inside the sandbox, in the student's interpreter, after the notebook's cells. It imports
nothing from the grader but the runtime's own modules and the wire, all loaded by the runner into
private modules before any student code runs (runner.py; see safe.py for what that protects).
Every call is isolated: its own try/except and alarm, copies of its inputs, its own JSON encoding
and its own share of the output size, so one broken or hostile function costs at most its own
question.

calls.json holds one entry per case: `{"id": "<question>/<case>", **call.to_json()}` for a call
kind of `wire.py`; the kind's handler (handlers.py, or a `*_calls.py` beside a question module)
makes it. probe.json maps each id to `{"ok": true, "value": ..., "seconds"}` (and `"warnings"`:
what the call warned, `safe.warning_summary`; values encoded as
`wire.encode_value` does, arrays in arrays.npz) or `{"ok": false, "error": {"type", "message"}}`.
"""

from ..wire import from_json, target
from .handlers import HANDLERS
from .safe import (
    MAX_TOTAL_ARRAYS,
    MAX_TOTAL_BYTES,
    NUMPY_DEFAULTS,
    Arrays,
    CallTimeout,
    _errstate,
    _perf_counter,
    _simplefilter,
    _str_copy,
    dumps,
    name,
    quote,
    recording_warnings,
    start_alarm,
    stop_alarm,
    text,
    warning_summary,
)


def _error(kind: str, message: str) -> str:
    return dumps({"ok": False, "error": {"type": kind, "message": message}})


def _one_call(ns, call, inputs, arrays, call_seconds) -> str:
    """One call, as the JSON text of its result; student objects are described inside the alarm."""
    start_alarm(call_seconds)
    started = _perf_counter()
    try:
        try:
            with recording_warnings() as seen, _errstate(**NUMPY_DEFAULTS):
                _simplefilter("always")
                result = HANDLERS[call.kind](ns, call, inputs, arrays)
            result["ok"] = True
            warned = warning_summary(seen)
            if warned:
                result["warnings"] = warned
            result["seconds"] = round(_perf_counter() - started, 3)
            return dumps(result)
        except CallTimeout:
            return _error("Timeout", f"did not return within {call_seconds:g} s")
        except BaseException as exc:  # noqa: BLE001 - SystemExit and friends are answers too
            return _error(name(type(exc)), text(exc, 500))
    except BaseException:  # noqa: BLE001 - e.g. the alarm went off while describing a hostile object
        return _error("Error", "the call failed and what it raised could not be described")
    finally:
        stop_alarm()


def names(ns) -> dict:
    """The notebook's namespace as a plain dict with exact `str` keys, so that `name in ns` and
    `ns[name]` run none of its code: a key of a str subclass (its `__eq__`, `__hash__`) would run
    outside any call's alarm, crash the probe, and get another question's case blamed for it."""
    for _ in range(3):  # a thread of the notebook may change the dict while it is copied
        try:
            return {_str_copy(k): v for k, v in dict.items(ns) if issubclass(type(k), str)}
        except RuntimeError:
            continue
        except BaseException:  # noqa: BLE001 - not a dict at all: every name is missing
            break
    return {}


def run(ns, calls, inputs, skip, progress, call_seconds, stuck=()) -> tuple[str, dict]:
    """Make every call of calls.json (`skip`: items that hung in an earlier attempt, `stuck`: those
    of them that had to be killed from outside); return the text of probe.json and the arrays
    (the files the runner has written: `npz.output_files`)."""
    ns = names(ns)
    questions = {str(c["id"]).split("/", 1)[0] for c in calls}
    share = max(1, len(questions))
    arrays = Arrays(MAX_TOTAL_BYTES // share, MAX_TOTAL_ARRAYS // share)
    parts = []
    for entry in calls:
        cid = entry["id"]
        item = f"probe:{cid}"
        arrays.question = str(cid).split("/", 1)[0]
        try:
            call = from_json(entry)
        except (KeyError, TypeError, ValueError):
            call = None
        if call is None:
            text_ = _error("Error", "the grader could not read this call")
        elif item in skip:
            why = (
                "did not finish within its time limit and had to be stopped from outside; skipped in a rerun"
                if item in stuck
                else "not run: another case of this function hung in an earlier attempt"
            )
            text_ = _error("Timeout", why)
        elif target(call) not in ns:
            progress.event(item, "missing")
            text_ = _error("Missing", f"`{target(call)}` is not defined")
        else:
            progress.event(item, "start")
            try:
                text_ = _one_call(ns, call, inputs, arrays, call_seconds)
            except BaseException:  # noqa: BLE001 - the alarm fired in the last moment of _one_call
                stop_alarm()
                text_ = _error("Timeout", f"did not return within {call_seconds:g} s")
            progress.event(item, "end")
        parts.append(quote(cid) + ": " + text_)
    return '{"complete": true, "results": {' + ", ".join(parts) + "}}", arrays.store
