"""The sandbox's first process: starts the notebook's interpreter and says how its run ended.

UNTRUSTED SIDE, but no student code ever runs in this process. It is copied into the sandbox and
started there before anything else, as root of the sandbox with only the capabilities needed to
start its child as the sandbox's unprivileged uid (`argv` after `--`, built by the grader). The
child (runner.py: the cells, then the probe) reports its progress on a pipe; this process relays
each event to the grader on its standard input, a socket only it holds, and at the end adds the
one event the grader trusts: `{"item": "supervisor", "event": "done"}`, sent only if the child
went through the whole protocol in order (every cell started and ended or skipped, the probe's
calls, then "outputs" once the results are written).

Why a separate process: everything in the notebook's interpreter is the
notebook's — a key kept there can be read from frames or `gc`, a progress file can be forged.
This process runs under another uid than the notebook and is not dumpable: the notebook can
neither signal nor trace it, nor read its memory or descriptors. A cell that writes forged output
files, claims its own end and exits leaves the protocol unfinished: no "done", the grader blames
the last item that started and reruns without it.

The probe's input arrays (`in/inputs.npz`, the hidden cases' among them) are the grader's file, closed
to the notebook's uid: this process reads them before the child exists and writes them to the
child's inputs pipe only once the protocol has seen every cell end or skipped. No cell can read
them, so none can show them in its own output or error (which the feedback shows, on Gradescope
at once); only the functions the probe calls see them, as they must.

At the no-namespace level (no mount or network namespace), cells.json carries Landlock rules:
this process confines itself with them (`landlock.py`) before the child exists, so the notebook
and everything it starts inherit them, and it refuses to start the child at all (exit
CONFINE_FAILED, no event) if the kernel refuses. Applied here rather than in the runner because
this is the last process no student code has touched, and it needs nothing the rules deny.

What remains (README, known limits): a cell can reimplement the runner's side of the protocol,
claim that every remaining cell and call ran, and hand over outputs of its own making. It gains no
value it could not compute, but the probe's in-process observations are then its word.

Protocol on the child's pipe: one JSON object per line, `{"item": ..., "event": ...}`; items are
"runner" (event "ready" first, "outputs" last), "cell:<index>" (events "start", "end", "skipped")
and "probe:<call id>" (events "start", "end", "missing"; a skipped call sends nothing). A line over MAX_LINE, not of that shape or out of order breaks the
protocol: it and everything after it is never relayed, so the watchdog keeps timing the item that
was running (a cell cannot keep itself alive, or claim its own end, with forged events).

What is relayed is bounded (`Relay`), because the grader keeps every relayed event until the run
ends and a cell can write events in order for every later cell itself: only the fields the grader
reads, each text cut to twice what it keeps (`grading/collect.py`), and `MAX_RELAYED_BYTES` in all,
past which the protocol breaks. Without these bounds, 4,000 empty cells forging 250 KB events
grow the grader's memory by ~2.3 MB a second for as long as the notebook's time limit lets them
(the protocol's own bounds allow 100,000 events of 256 KB: 25 GB).
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import subprocess
import sys
import threading
import time

import landlock  # beside this file in the sandbox's runtime folder (its folder is first on sys.path)

MAX_LINE = 256 * 1024  # a cell's end event: error text and traceback, JSON-escaped
MAX_EVENTS = 100_000
# What the grader reads of an event, and the most of each text it can use (twice what
# grading/collect.py keeps: its cleaning drops escape sequences before it cuts). "t" is a number.
FIELDS = {"item": 300, "event": 20, "status": 20, "ename": 400, "evalue": 4000, "traceback": 8000}
# An honest run relays a few hundred events of at most ~13 KB each (a cell's error and traceback).
MAX_RELAYED_BYTES = 32 * 1024**2
CONFINE_FAILED = 122  # sandbox/launch.py: Landlock was asked for and could not be applied
_PR_SET_DUMPABLE = 4


class Protocol:
    """The order the runner must follow: ready; each cell in order, started and ended or skipped;
    each call not skipped, in order, started and ended or reported missing; then outputs."""

    def __init__(self, cells: list[int], calls: list[str], skip: set[str]) -> None:
        self.due = [f"cell:{i}" for i in cells] + [f"probe:{c}" for c in calls if f"probe:{c}" not in skip]
        self.cells = len(cells)
        self.skip = skip
        self.state = "ready"  # ready -> running -> complete | broken
        self.next = 0  # index into due
        self.open: str | None = None
        self.why = ""

    def _break(self, why: str) -> bool:
        self.state, self.why = "broken", why
        return False

    @property
    def cells_done(self) -> bool:
        """Every cell has ended or been skipped, and nothing broke: the probe's turn."""
        return self.state in ("running", "complete") and self.open is None and self.next >= self.cells

    def feed(self, item: str, event: str) -> bool:
        """Advance on one event; False (and broken for good) on anything out of order."""
        if self.state == "broken":
            return False
        if self.state == "complete":
            return self._break(f"{item} {event} after the run ended")
        if self.state == "ready":
            if (item, event) != ("runner", "ready"):
                return self._break(f"{item} {event} before ready")
            self.state = "running"
            return True
        if self.open is not None:
            if (item, event) != (self.open, "end"):
                return self._break(f"{item} {event} while {self.open} runs")
            self.open = None
            return True
        if self.next == len(self.due):
            if (item, event) != ("runner", "outputs"):
                return self._break(f"{item} {event} where the outputs were due")
            self.state = "complete"
            return True
        due = self.due[self.next]
        allowed = ("start", "skipped") if due.startswith("cell:") else ("start", "missing")
        if item != due or event not in allowed or (event == "skipped") != (item in self.skip):
            return self._break(f"{item} {event} where {due} was due")
        self.next += 1
        self.open = item if event == "start" else None
        return True


def _not_dumpable() -> None:
    """No ptrace, no /proc/<pid>/mem or fd/ for anyone without privileges (the notebook's uid)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class Relay:
    """What the grader is sent of the runner's events: the fields it reads, each text cut to its
    bound, and at most `budget` bytes in all (the grader keeps them all until the run ends)."""

    def __init__(self, budget: int = MAX_RELAYED_BYTES) -> None:
        self.left = budget

    def encode(self, event: dict) -> bytes | None:
        """The line to relay for `event`, or None once the relayed lines would pass the budget."""
        kept = {key: event[key][:cap] for key, cap in FIELDS.items() if isinstance(event.get(key), str)}
        if type(event.get("t")) in (int, float) and math.isfinite(event["t"]):  # json.loads reads NaN
            kept["t"] = event["t"]
        data = _line(kept)
        self.left -= len(data)
        return data if self.left >= 0 else None


def _line(event: dict) -> bytes:
    return (json.dumps(event, ensure_ascii=True) + "\n").encode("ascii")


def _send(channel: int, event: dict | bytes) -> None:
    data = event if isinstance(event, bytes) else _line(event)
    try:
        while data:
            data = data[os.write(channel, data) :]
    except OSError:
        pass  # the grader stopped listening: nothing left to tell


def _lines(fd: int):
    """Complete lines from the child's pipe; an over-long line is yielded as None (and skipped)."""
    buffer = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            return
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        yield from (line if len(line) <= MAX_LINE else None for line in lines)
        if len(buffer) > MAX_LINE:
            buffer = b""
            yield None


def _event(line: bytes | None) -> dict | None:
    if line is None:
        return None
    try:
        event = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if (
        not isinstance(event, dict)
        or not isinstance(event.get("item"), str)
        or not isinstance(event.get("event"), str)
        or event["item"].startswith("supervisor")
    ):
        return None
    return event


def _read_inputs(job: str) -> bytes:
    """The probe's input file, read while this process may (before Landlock and the child)."""
    try:
        with open(os.path.join(job, "in", "inputs.npz"), "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return b""


class Inputs:
    """The runner's inputs pipe: the probe's inputs written to it once every cell has ended or been
    skipped (`settle`), or its end of file alone if the protocol broke first (nothing to hand over
    to a run that is not trusted, and a runner waiting for them must not wait for its time limit)."""

    def __init__(self, fd: int, data: bytes) -> None:
        self.fd: int | None = fd
        self.data = data

    def settle(self, protocol: Protocol) -> None:
        if self.fd is None:
            return
        if protocol.state == "broken":
            self.close()
        elif protocol.cells_done:
            fd, self.fd = self.fd, None
            # from a thread of its own: a runner that does not read must not stop the events' relay
            threading.Thread(target=self._write, args=(fd,), daemon=True).start()

    def _write(self, fd: int) -> None:
        _send(fd, self.data)
        os.close(fd)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def main() -> int:
    channel = 0
    job, child_argv = sys.argv[1], sys.argv[sys.argv.index("--") + 1 :]
    _not_dumpable()
    with open(os.path.join(job, "in", "cells.json"), encoding="utf-8") as fh:
        spec = json.load(fh)
    with open(os.path.join(job, "in", "calls.json"), encoding="utf-8") as fh:
        calls = [c["id"] for c in json.load(fh)]
    protocol = Protocol([c["index"] for c in spec["cells"]], calls, set(spec.get("skip", [])))
    inputs = _read_inputs(job)
    confine = spec.get("landlock")
    if confine:  # before the child exists: it and everything it starts inherit the confinement
        try:
            landlock.restrict([(path, kind) for path, kind in confine["rules"]], int(confine["abi"]))
        except OSError as exc:
            print(f"supervisor: {exc}", file=sys.stderr, flush=True)
            return CONFINE_FAILED  # no event: the grader refuses the run rather than run it unconfined
    read_end, write_end = os.pipe()
    inputs_read, inputs_write = os.pipe()
    fds = {"{events_fd}": str(write_end), "{inputs_fd}": str(inputs_read)}
    child_argv = [fds.get(arg, arg) for arg in child_argv]
    try:
        child = subprocess.Popen(
            child_argv, stdin=subprocess.DEVNULL, pass_fds=(write_end, inputs_read), close_fds=True
        )
    except OSError as exc:
        _send(channel, {"item": "supervisor", "event": "exit", "complete": False, "why": f"cannot start: {exc}"})
        return 1
    os.close(write_end)
    os.close(inputs_read)
    pending = Inputs(inputs_write, inputs)
    count = 0
    relay = Relay()
    for line in _lines(read_end):
        try:
            if protocol.state == "broken":
                continue  # drained, never relayed: the watchdog keeps timing the item that was running
            event = _event(line)
            count += 1
            valid = event is not None and count <= MAX_EVENTS and protocol.feed(event["item"], event["event"])
            if not valid:
                if protocol.state != "broken":
                    protocol._break("an unreadable event")
                _send(channel, {"item": "supervisor", "event": "broken", "why": protocol.why[:300]})
                continue
            data = relay.encode(event)
            if data is None:
                protocol._break(f"the events came to more than {MAX_RELAYED_BYTES // 1024**2} MB")
                _send(channel, {"item": "supervisor", "event": "broken", "why": protocol.why})
                continue
            _send(channel, data)
        finally:
            pending.settle(protocol)
        if protocol.state == "complete":
            break  # the writer has finished; later lines could only come from the notebook
    os.close(read_end)
    pending.close()
    deadline = time.monotonic() + 10.0
    while child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # the runner's writer kills the runner once the outputs are written
    if child.poll() is None:
        child.kill()
    complete = protocol.state == "complete"
    _send(
        channel,
        {
            "item": "supervisor",
            "event": "exit",
            "complete": complete,
            "why": protocol.why[:300],
            "returncode": child.wait(),
        },
    )
    if complete:
        _send(channel, {"item": "supervisor", "event": "done"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
