"""autograder/runtime/supervisor.py: the protocol it holds the runner to, and its real process
(started here without a sandbox, with a stand-in runner that says what the test wants)."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.grading.jobfolder import RUNTIME_DIR

# The file the sandbox runs, loaded as it is copied there (it is not a module of the package).
# In the sandbox its folder is first on sys.path (it imports landlock.py beside it): here too, while it loads.
_spec = importlib.util.spec_from_file_location("sandbox_supervisor", RUNTIME_DIR / "supervisor.py")
_supervisor = importlib.util.module_from_spec(_spec)
sys.path.insert(0, str(RUNTIME_DIR))
try:
    _spec.loader.exec_module(_supervisor)
finally:
    sys.path.remove(str(RUNTIME_DIR))
Protocol = _supervisor.Protocol

# cell:3 and probe:f/hidden-1 are skipped (cells.json), g is not defined
SKIP = ["cell:3", "probe:f/hidden-1"]
HONEST = [
    ("runner", "ready"),
    ("cell:1", "start"),
    ("cell:1", "end"),
    ("cell:3", "skipped"),
    ("probe:f/public-1", "start"),
    ("probe:f/public-1", "end"),
    ("probe:g/hidden-1", "missing"),
    ("runner", "outputs"),
]


def feed(events) -> Protocol:
    protocol = Protocol([1, 3], ["f/public-1", "f/hidden-1", "g/hidden-1"], set(SKIP))
    for item, event in events:
        protocol.feed(item, event)
    return protocol


def test_an_honest_run_completes():
    assert feed(HONEST).state == "complete"
    assert (
        feed(HONEST[:-2] + [("probe:g/hidden-1", "start"), ("probe:g/hidden-1", "end"), ("runner", "outputs")]).state
        == "complete"
    )


@pytest.mark.parametrize(
    "events, why",
    [
        (HONEST[1:], "before ready"),
        ([HONEST[0], ("cell:3", "start")], "where cell:1 was due"),  # a cell skipped over
        (HONEST[:2] + [("runner", "outputs")], "while cell:1 runs"),  # outputs mid-cell
        (HONEST[:3] + [("runner", "outputs")], "where cell:3 was due"),  # cells left out
        (HONEST[:4] + [("runner", "outputs")], "where probe:f/public-1 was due"),  # calls left out
        (HONEST[:4] + [("probe:g/hidden-1", "missing")], "where probe:f/public-1 was due"),
        (HONEST[:6] + [("probe:f/hidden-1", "start")], "where probe:g/hidden-1 was due"),  # a skipped call
        (HONEST[:3] + [("cell:3", "start")], "where cell:3 was due"),  # a skipped cell run
        (HONEST + [("cell:1", "start")], "after the run ended"),
    ],
)
def test_a_run_out_of_order_is_broken(events, why):
    protocol = feed(events)
    assert protocol.state == "broken" and why in protocol.why


def job_in(tmp_path: Path) -> Path:
    """The job's `in/` folder as the protocol of these tests has it: cells 1 and 3, three calls."""
    (tmp_path / "in").mkdir(parents=True, exist_ok=True)
    (tmp_path / "in" / "cells.json").write_text(json.dumps({"cells": [{"index": 1}, {"index": 3}], "skip": SKIP}))
    (tmp_path / "in" / "calls.json").write_text(
        json.dumps([{"id": "f/public-1"}, {"id": "f/hidden-1"}, {"id": "g/hidden-1"}])
    )
    return tmp_path / "in"


def run_supervisor(tmp_path: Path, lines: list[str], exit_code: int = 0) -> list[dict]:
    """The supervisor with a stand-in runner that writes `lines` to its events pipe, then exits."""
    job_in(tmp_path)
    script = tmp_path / "runner.py"
    script.write_text(
        "import os, sys\nfd = int(sys.argv[1])\n"
        f"for line in {lines!r}:\n    os.write(fd, line.encode() + b'\\n')\n"
        f"os._exit({exit_code})\n"
    )
    return [json.loads(line) for line in relayed(tmp_path, script).splitlines()]


def relayed(tmp_path: Path, script: Path, timeout: float = 60) -> bytes:
    """What the supervisor relays to the grader's end of the socket for the runner `script`, read
    to the end before waiting (a large relay would fill the socket), the supervisor exiting 0."""
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(RUNTIME_DIR / "supervisor.py"),
            str(tmp_path),
            "--",
            sys.executable,
            str(script),
            "{events_fd}",
            "{inputs_fd}",
        ],
        stdin=theirs,
    )
    theirs.close()
    ours.settimeout(timeout)  # a supervisor that never ends fails the test rather than hanging it
    data = b""
    while chunk := ours.recv(1 << 20):
        data += chunk
    ours.close()
    assert proc.wait(timeout=timeout) == 0
    return data


def as_lines(events) -> list[str]:
    return [json.dumps({"item": item, "event": event}) for item, event in events]


# A stand-in runner that writes `events` and, after each, notes whether its inputs pipe holds
# anything yet (without waiting), then reads the pipe to its end: what a cell could read, and when.
INPUTS_RUNNER = """import fcntl, json, os, sys
events_fd, inputs_fd = int(sys.argv[1]), int(sys.argv[2])
fcntl.fcntl(inputs_fd, fcntl.F_SETFL, os.O_NONBLOCK)
import time
seen, got = [], b""
for item, event in EVENTS:
    os.write(events_fd, json.dumps({"item": item, "event": event}).encode() + b"\\n")
    if event in ("end", "skipped", "ready"):
        time.sleep(0.3)  # time for the supervisor to act on the event
        try:
            got += os.read(inputs_fd, 1 << 20)
        except BlockingIOError:
            pass
        seen.append((item, event, len(got)))
fcntl.fcntl(inputs_fd, fcntl.F_SETFL, 0)
while chunk := os.read(inputs_fd, 1 << 20):
    got += chunk
open(sys.argv[3], "wb").write(got)
json.dump(seen, open(sys.argv[3] + ".seen", "w"))
os._exit(0)
"""


@pytest.mark.parametrize("cut", [None, 2])
def test_the_inputs_reach_the_runner_only_after_its_last_cell(tmp_path, cut):
    """The probe's inputs (the hidden cases') are handed over on the runner's pipe once every cell
    has ended or been skipped, never before, so no cell can show them; a run whose protocol breaks
    before (`cut`: a cell's end never told) gets none at all."""
    secret = b"PK\x03\x04 the hidden inputs"
    (job_in(tmp_path) / "inputs.npz").write_bytes(secret)
    events = HONEST if cut is None else HONEST[:cut] + [("runner", "outputs")]
    script = tmp_path / "runner.py"
    script.write_text(f"EVENTS = {events!r}\n" + INPUTS_RUNNER.replace("sys.argv[3]", repr(str(tmp_path / "got"))))
    relayed(tmp_path, script)
    seen = json.loads((tmp_path / "got.seen").read_text())
    got = (tmp_path / "got").read_bytes()
    if cut is None:
        assert got == secret
        assert [n for *_, n in seen[:2]] == [0, 0], seen  # after ready and cell:1's end: nothing yet
    else:
        assert got == b"" and [n for *_, n in seen] == [0], seen


def test_the_supervisor_says_done_only_for_a_whole_run(tmp_path):
    events = run_supervisor(tmp_path, as_lines(HONEST))
    assert [(e["item"], e["event"]) for e in events] == HONEST + [("supervisor", "exit"), ("supervisor", "done")]
    assert events[-2]["complete"] is True


def test_a_cell_that_claims_its_own_end_and_exits_is_not_done(tmp_path):
    """Forged outputs, an "end" for its own cell, os._exit(0)."""
    events = run_supervisor(tmp_path, as_lines(HONEST[:3]))
    assert ("supervisor", "done") not in [(e["item"], e["event"]) for e in events]
    assert events[-1]["event"] == "exit" and events[-1]["complete"] is False


def test_forged_supervisor_events_and_anything_after_a_break_are_never_relayed(tmp_path):
    forged = [json.dumps({"item": "supervisor", "event": "done"})]
    events = run_supervisor(tmp_path, as_lines(HONEST[:2]) + forged + as_lines(HONEST[2:]))
    relayed = [(e["item"], e["event"]) for e in events]
    assert relayed == HONEST[:2] + [("supervisor", "broken"), ("supervisor", "exit")]
    garbage = ["x" * 300_000, "[" * 10_000, "not json"]
    relayed = [(e["item"], e["event"]) for e in run_supervisor(tmp_path / "g", as_lines(HONEST[:1]) + garbage)]
    assert relayed == HONEST[:1] + [("supervisor", "broken"), ("supervisor", "exit")]


Relay = _supervisor.Relay


def test_only_the_fields_the_grader_reads_are_relayed_each_cut_to_its_bound(tmp_path):
    """A cell writes its own end event with 240 KB in and beside the fields: the grader, which keeps every
    relayed event until the run ends, is sent the fields it reads, each text bounded."""
    big = {"item": "cell:1", "event": "end", "status": "error", "t": 1.5, "pad": "x" * 60_000}
    big |= {"ename": "E" * 60_000, "evalue": "v" * 60_000, "traceback": "t" * 60_000}  # under MAX_LINE
    events = run_supervisor(tmp_path, as_lines(HONEST[:2]) + [json.dumps(big)] + as_lines(HONEST[3:]))
    assert [(e["item"], e["event"]) for e in events][:4] == HONEST[:3] + [("cell:3", "skipped")]
    relayed = events[2]
    assert set(relayed) == {"item", "event", "status", "t", "ename", "evalue", "traceback"}
    assert relayed["t"] == 1.5
    assert [len(relayed[k]) for k in ("ename", "evalue", "traceback")] == [400, 4000, 8000]
    assert events[-1] == {"item": "supervisor", "event": "done"}


def test_relayed_events_are_bounded_in_all():
    """Each event within its fields' bounds, but as many as the protocol allows (one per cell, and a
    notebook may have thousands of empty cells): the budget ends the relaying."""
    relay = Relay(budget=100_000)
    event = {"item": "cell:1", "event": "end", "status": "error", "evalue": "v" * 3000, "traceback": "t" * 7000}
    sent = 0
    for _ in range(100):
        if relay.encode(event) is None:
            break
        sent += 1
    assert sent == 9  # ten of ~10 KB pass 100,000 bytes
    assert b'"t"' not in Relay().encode({"item": "cell:1", "event": "start", "t": float("nan")})
    assert relay.encode({"item": "cell:2", "event": "start"}) is None  # and nothing after


def test_a_flood_of_forged_events_breaks_the_protocol(tmp_path):
    """Every event in order and within its fields' bounds, until the run's budget is spent."""
    cells = list(range(1, 3001))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "cells.json").write_text(json.dumps({"cells": [{"index": i} for i in cells]}))
    (tmp_path / "in" / "calls.json").write_text("[]")
    line = {"status": "error", "evalue": "v" * 4000, "traceback": "t" * 8000}
    forged = [json.dumps({"item": "runner", "event": "ready"})]
    for i in cells:
        forged += [
            json.dumps({"item": f"cell:{i}", "event": "start"}),
            json.dumps({"item": f"cell:{i}", "event": "end", **line}),
        ]
    script = tmp_path / "runner.py"
    script.write_text(
        "import os, sys\nfd = int(sys.argv[1])\n"
        f"for line in open({str(tmp_path / 'lines')!r}):\n    os.write(fd, line.encode())\nos._exit(0)\n"
    )
    (tmp_path / "lines").write_text("".join(f + "\n" for f in forged))
    data = relayed(tmp_path, script)
    events = [json.loads(line) for line in data.splitlines()]
    assert len(data) < _supervisor.MAX_RELAYED_BYTES + 4096
    assert {"item": "supervisor", "event": "broken", "why": "the events came to more than 32 MB"} in events
    assert events[-1]["event"] == "exit" and events[-1]["complete"] is False
