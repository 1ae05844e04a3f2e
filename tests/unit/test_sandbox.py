"""autograder.sandbox: the bubblewrap command line and the progress follower (no process started)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from autograder.sandbox import Mount, _ancestors, _ProgressReader, bwrap_argv, python_mounts

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


def test_python_mounts_cover_the_interpreter():
    mounts = python_mounts()
    real = Path(sys.executable).resolve()
    visible = [Path("/usr")] + [Path(m.target) for m in mounts]
    assert any(real == v or v in real.parents for v in visible)
    for m in mounts:
        assert not m.writable and m.target == str(m.source) and Path(m.target).is_absolute()
        assert not (Path(m.target) == Path("/usr") or Path("/usr") in Path(m.target).parents)


# --- _ProgressReader --------------------------------------------------------------------------------

def append(path: Path, text: str | bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(text.encode() if isinstance(text, str) else text)


def line(item, event, **extra) -> str:
    return json.dumps({"item": item, "event": event, **extra}) + "\n"


def test_progress_reader_tracks_the_current_item(tmp_path):
    path = tmp_path / "progress.jsonl"
    reader = _ProgressReader(path)
    reader.poll()  # no file yet
    assert reader.current is None
    append(path, line("runner", "ready") + line("cell:0", "start"))
    before = time.monotonic()
    reader.poll()
    assert reader.current == "cell:0" and reader.since >= before
    append(path, line("cell:0", "end", status="ok"))
    reader.poll()
    assert reader.current is None
    append(path, line("cell:1", "start") + line("cell:0", "end"))  # an end for another item
    reader.poll()
    assert reader.current == "cell:1"
    first_since = reader.since
    append(path, line("cell:1", "end") + line("probe:q/public-1", "start"))
    reader.poll()
    assert reader.current == "probe:q/public-1" and reader.since >= first_since


def test_progress_reader_ignores_garbage(tmp_path):
    path = tmp_path / "progress.jsonl"
    reader = _ProgressReader(path)
    append(path, line("cell:3", "start"))
    garbage = ["not json", "[1, 2]", "null", "5", '"text"', '{"item": "cell:3"}', '{"event": "end"}',
               '{"item": "cell:3", "event": "end"', "\xff\xfe"]
    append(path, "\n".join(garbage).encode("utf-8", "surrogateescape") + b"\n" + b"\xff\xfe\x00\n")
    reader.poll()
    assert reader.current == "cell:3"
    append(path, line("cell:3", "end"))
    reader.poll()
    assert reader.current is None


def test_progress_reader_waits_for_whole_lines(tmp_path):
    path = tmp_path / "progress.jsonl"
    reader = _ProgressReader(path)
    text = line("cell:5", "start")
    append(path, text[:10])
    reader.poll()
    assert reader.current is None
    append(path, text[10:])
    reader.poll()
    assert reader.current == "cell:5"


def test_progress_reader_truncates_long_item_names(tmp_path):
    path = tmp_path / "progress.jsonl"
    reader = _ProgressReader(path)
    append(path, line("cell:" + "9" * 1000, "start"))
    reader.poll()
    assert reader.current is not None and len(reader.current) == 200


def test_progress_reader_survives_a_huge_line(tmp_path):
    path = tmp_path / "progress.jsonl"
    reader = _ProgressReader(path)
    append(path, "x" * 300_000 + "\n" + line("cell:2", "start"))
    for _ in range(10):
        reader.poll()
    assert reader.current == "cell:2"


def test_progress_reader_survives_deeply_nested_json(tmp_path):
    path = tmp_path / "progress.jsonl"
    reader = _ProgressReader(path)
    append(path, "[" * 5000 + "]" * 5000 + "\n" + line("cell:2", "start"))
    reader.poll()
    assert reader.current == "cell:2"
