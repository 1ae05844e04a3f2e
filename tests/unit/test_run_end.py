"""The end of a sandboxed run (runtime/processes.py `finish_alone`): the runner hands its outputs
to a fresh writer process, which stops it, writes them and ends the run, whatever threads the
notebook left running in the runner.

Real processes as a leased pool uid, outside any sandbox: the writer kills every other process of
its uid, so it must never run as the test's own.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from autograder.grading.jobfolder import RUNTIME_FILES
from autograder.sandbox import uids
from tests.unit.as_uid import python_as

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="running as a pool uid needs root")

# The runner's end, alone: eight notebook threads that take and give back the interpreter's lock
# all the time (a stat each turn), then the outputs handed to the writer.
RUNNER = """import importlib.util, os, sys, threading, time
folder, out, fd = sys.argv[1], sys.argv[2], int(sys.argv[3])
spec = importlib.util.spec_from_file_location("processes", os.path.join(folder, "processes.py"))
processes = importlib.util.module_from_spec(spec)
spec.loader.exec_module(processes)
def poll():
    while True:
        os.stat("/")
for _ in range(8):
    threading.Thread(target=poll, daemon=True).start()
time.sleep(0.02)
processes.finish_alone(out, [("arrays.npz", b"PK-" + out.encode()), ("probe.json", b'{"complete": true}')], fd)
"""

# The supervisor's part: start the runner on an events pipe, read it to its end (or 10 s), say
# what came and how the runner ended.
SUPERVISOR = """import json, os, select, subprocess, sys, time
folder, out, runner_code = sys.argv[1], sys.argv[2], sys.argv[3]
read_end, write_end = os.pipe()
runner = subprocess.Popen(
    [sys.executable, "-I", "-S", "-c", runner_code, folder, out, str(write_end)],
    pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
)
os.close(write_end)
data, ended, deadline = b"", False, time.monotonic() + 10
while not ended and time.monotonic() < deadline:
    if select.select([read_end], [], [], 0.1)[0]:
        chunk = os.read(read_end, 65536)
        data, ended = data + chunk, not chunk
try:
    code = runner.wait(timeout=2)
except subprocess.TimeoutExpired:
    code = None
os.kill(-1, 9)  # every other process of this uid (leased: only this run's), a blocked writer too
print(json.dumps({"events": data.decode(), "returncode": code, "ended": ended}))
"""


@pytest.fixture
def place():
    """A folder the pool uid can reach (pytest's own are closed to other users), with the runtime."""
    top = Path(tempfile.mkdtemp(prefix="run-end-"))
    os.chmod(top, 0o755)
    (top / "runtime").mkdir()
    for path in RUNTIME_FILES:
        shutil.copy(path, top / "runtime" / path.name)
    yield top
    shutil.rmtree(top)


def finish(folder: Path, out: Path, uid: int, runner: str = RUNNER) -> dict:
    os.chown(out, uid, uid)
    return json.loads(python_as(uid, SUPERVISOR, str(folder), str(out), runner))


def test_the_writer_ends_every_run_beside_threads_that_want_the_interpreter(place):
    """20 runs of a runner whose threads keep asking for the interpreter's lock: each ends with
    its outputs written and "outputs" sent. A forked writer blocked for ever in about one run of
    six here (the lock's state copied mid-hand-over), leaving no outputs."""
    with uids.lease() as uid:
        for run in range(20):
            out = place / f"out{run}"
            out.mkdir()
            (out / "forged.json").write_text("{}")  # planted: the writer empties the folder first
            seen = finish(place / "runtime", out, uid)
            assert seen["ended"], f"run {run}: no outputs within 10 s"
            assert [json.loads(line)["event"] for line in seen["events"].splitlines()] == ["outputs"], seen
            assert seen["returncode"] == -9  # killed by the writer once the outputs were written
            assert sorted(p.name for p in out.iterdir()) == ["arrays.npz", "probe.json"]
            assert (out / "arrays.npz").read_bytes() == b"PK-" + str(out).encode()
            assert (out / "probe.json").read_text() == '{"complete": true}'


def test_outputs_changed_after_they_were_handed_over_are_not_sent(place):
    """A memfd whose content is not what the runner hashed (a notebook thread rewrote it through
    /proc/self/fd before the writer stopped the runner, here made certain): the writer sends no
    "outputs", so the supervisor never says the run finished, and the runner still ends."""
    rewritten = RUNNER.replace(
        "processes.finish_alone(",
        "handed = processes._in_memory\n"
        "processes._in_memory = lambda name, data: handed(name, data.replace(b'true', b'fals'))\n"
        "processes.finish_alone(",
    )
    with uids.lease() as uid:
        out = place / "out"
        out.mkdir()
        seen = finish(place / "runtime", out, uid, rewritten)
    assert seen["ended"] and seen["events"] == "" and seen["returncode"] == -9, seen
