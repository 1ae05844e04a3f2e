"""autograder.sandbox: the bubblewrap command line and the event follower (no process started)."""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

import pytest

from autograder.sandbox import Mount, _ancestors, _EventReader, as_user, bwrap_argv, python_mounts

MOUNTS = [
    Mount(Path("/opt/python/3.11"), "/opt/python/3.11"),
    Mount(Path("/srv/jobs/42/in"), "/job/in"),
    Mount(Path("/srv/jobs/42/out"), "/job/out", writable=True),
    Mount(Path("/var/cache/fm"), "/job/data/fashion-mnist"),
    Mount(Path("/srv/scratch"), "/tmp/scratch", writable=True),
]


def options(argv: list[str], flag: str, arity: int) -> list[tuple[str, ...]]:
    return [tuple(argv[i + 1:i + 1 + arity]) for i, a in enumerate(argv) if a == flag]


def test_ancestors():
    assert _ancestors("/a/b/c") == ["/a", "/a/b"]
    assert _ancestors("/a") == []


def test_parent_dirs_are_made_0755_before_each_mount():
    argv = bwrap_argv(MOUNTS, [], "/job/out", {})
    for mount in MOUNTS:
        flag = "--bind" if mount.writable else "--ro-bind"
        index = next(i for i in range(len(argv) - 2) if argv[i:i + 3] == [flag, str(mount.source), mount.target])
        for parent in _ancestors(mount.target):
            if parent == "/tmp":
                continue  # a tmpfs made earlier
            made = [i for i in range(len(argv) - 1) if argv[i:i + 2] == ["--dir", parent]]
            assert len(made) == 1, parent  # once, even when several mounts share it
            assert made[0] < index, parent
    # every --dir carries its own --perms 0755 right before it (bwrap applies --perms to the next op)
    for i, arg in enumerate(argv):
        if arg == "--dir":
            assert argv[i - 2:i] == ["--perms", "0755"], argv[i + 1]
    made = [d for (d,) in options(argv, "--dir", 1)]
    assert set(made) >= {"/opt", "/opt/python", "/job", "/job/data"}
    assert len(made) == len(set(made))


def test_mount_modes_masks_env_and_cwd():
    argv = bwrap_argv(MOUNTS, [Path("/job/in/secret")], "/job/out", {"HOME": "/tmp", "MPLBACKEND": "Agg"})
    assert ("/srv/jobs/42/out", "/job/out") in options(argv, "--bind", 2)
    assert ("/srv/jobs/42/in", "/job/in") in options(argv, "--ro-bind", 2)
    assert ("/srv/jobs/42/in", "/job/in") not in options(argv, "--bind", 2)
    assert ("/usr", "/usr") in options(argv, "--ro-bind", 2)
    assert ("/job/in/secret",) in options(argv, "--tmpfs", 1)
    assert argv.index("/job/in/secret") > argv.index("/job/in")  # masked after being mounted
    assert set(options(argv, "--setenv", 2)) == {("HOME", "/tmp"), ("MPLBACKEND", "Agg")}
    assert argv[-2:] == ["--chdir", "/job/out"]
    for flag in ("--unshare-pid", "--unshare-net", "--unshare-ipc", "--die-with-parent", "--new-session",
                 "--clearenv"):
        assert flag in argv
    assert argv[0] == "bwrap"
    # the supervisor keeps only what starting student code as another uid needs
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    assert sorted(c for (c,) in options(argv, "--cap-add", 1)) == ["CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID"]


def test_student_code_runs_as_an_unprivileged_user_without_capabilities():
    argv = as_user(["python", "runner.py"], sandbox=True, uid=60001)
    assert argv[0] == "setpriv" and argv[-3:] == ["--", "python", "runner.py"]
    assert {"--reuid=60001", "--regid=60001", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"} <= set(argv)
    assert as_user(["python", "runner.py"], sandbox=False) == ["python", "runner.py"]


def test_python_mounts_cover_the_interpreter():
    mounts = python_mounts()
    real = Path(sys.executable).resolve()
    visible = [Path("/usr")] + [Path(m.target) for m in mounts]
    assert any(real == v or v in real.parents for v in visible)
    for m in mounts:
        assert not m.writable and m.target == str(m.source) and Path(m.target).is_absolute()
        assert not (Path(m.target) == Path("/usr") or Path("/usr") in Path(m.target).parents)


# --- _EventReader ------------------------------------------------------------------------------------

@pytest.fixture
def channel():
    """The grader's end (read by the reader) and the supervisor's end of the event socket."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    yield _EventReader(ours), theirs
    ours.close()
    theirs.close()


def line(item, event, **extra) -> bytes:
    return (json.dumps({"item": item, "event": event, **extra}) + "\n").encode()


def test_event_reader_tracks_the_current_and_last_started_item(channel):
    reader, sup = channel
    reader.poll()  # nothing yet, and no blocking
    assert reader.current is None and reader.events == []
    sup.sendall(line("runner", "ready") + line("cell:0", "start"))
    before = time.monotonic()
    reader.poll()
    assert reader.current == "cell:0" and reader.since >= before - 1
    sup.sendall(line("cell:0", "end", status="ok"))
    reader.poll()
    assert reader.current is None and reader.last_started == "cell:0"
    sup.sendall(line("cell:1", "start") + line("cell:0", "end"))  # an end for another item
    reader.poll()
    assert reader.current == "cell:1"
    sup.sendall(line("cell:1", "end") + line("probe:q/public-1", "start"))
    reader.poll()
    assert reader.current == "probe:q/public-1" and len(reader.events) == 7
    sup.close()
    reader.poll()
    assert reader.closed


def test_event_reader_ignores_garbage(channel):
    reader, sup = channel
    sup.sendall(line("cell:3", "start"))
    garbage = ["not json", "[1, 2]", "null", "5", '"text"', '{"item": "cell:3"}', '{"event": "end"}',
               '{"item": "cell:3", "event": "end"', "\xff\xfe"]
    sup.sendall("\n".join(garbage).encode("utf-8", "surrogateescape") + b"\n" + b"\xff\xfe\x00\n")
    reader.poll()
    assert reader.current == "cell:3" and len(reader.events) == 1
    sup.sendall(line("cell:3", "end"))
    reader.poll()
    assert reader.current is None


def test_event_reader_waits_for_whole_lines(channel):
    reader, sup = channel
    text = line("cell:5", "start")
    sup.sendall(text[:10])
    reader.poll()
    assert reader.current is None
    sup.sendall(text[10:])
    reader.poll()
    assert reader.current == "cell:5"


def test_event_reader_truncates_long_item_names(channel):
    reader, sup = channel
    sup.sendall(line("cell:" + "9" * 1000, "start"))
    reader.poll()
    assert reader.current is not None and len(reader.current) == 200


def test_event_reader_survives_a_huge_line_and_deep_nesting(channel):
    reader, sup = channel
    sup.setblocking(False)
    payload = b"x" * 600_000 + b"\n" + b"[" * 5000 + b"]" * 5000 + b"\n" + line("cell:2", "start")
    sent = 0
    for _ in range(200):
        try:
            sent += sup.send(payload[sent:])
        except BlockingIOError:
            pass
        reader.poll()
        if sent == len(payload):
            break
    reader.poll()
    assert reader.current == "cell:2" and len(reader.events) == 1
