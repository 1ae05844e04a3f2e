"""autograder.sandbox: the bubblewrap command line and the event follower (no process started);
then, where bubblewrap can sandbox, short real runs: a uid per sandbox, reaping, the log in the quota."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from autograder import sandbox
from autograder.sandbox import (
    EventReader,
    Mount,
    _ancestors,
    as_user,
    bubblewrap_available,
    bwrap_argv,
    launch,
    python_mounts,
    uids,
    watchdog,
)
from tests.unit.as_uid import python_as

MOUNTS = [
    Mount(Path("/opt/python/3.11"), "/opt/python/3.11"),
    Mount(Path("/srv/jobs/42/in"), "/job/in"),
    Mount(Path("/srv/jobs/42/out"), "/job/out", writable=True),
    Mount(Path("/var/cache/fm"), "/job/data/fashion-mnist"),
    Mount(Path("/srv/scratch"), "/tmp/scratch", writable=True),
]


def options(argv: list[str], flag: str, arity: int) -> list[tuple[str, ...]]:
    return [tuple(argv[i + 1 : i + 1 + arity]) for i, a in enumerate(argv) if a == flag]


def test_ancestors():
    assert _ancestors("/a/b/c") == ["/a", "/a/b"]
    assert _ancestors("/a") == []


def test_parent_dirs_are_made_0755_before_each_mount():
    argv = bwrap_argv(MOUNTS, [], "/job/out", {})
    for mount in MOUNTS:
        flag = "--bind" if mount.writable else "--ro-bind"
        index = next(i for i in range(len(argv) - 2) if argv[i : i + 3] == [flag, str(mount.source), mount.target])
        for parent in _ancestors(mount.target):
            if parent == "/tmp":
                continue  # a tmpfs made earlier
            made = [i for i in range(len(argv) - 1) if argv[i : i + 2] == ["--dir", parent]]
            assert len(made) == 1, parent  # once, even when several mounts share it
            assert made[0] < index, parent
    # every --dir carries its own --perms 0755 right before it (bwrap applies --perms to the next op)
    for i, arg in enumerate(argv):
        if arg == "--dir":
            assert argv[i - 2 : i] == ["--perms", "0755"], argv[i + 1]
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
    for flag in ("--unshare-pid", "--unshare-net", "--unshare-ipc", "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in argv
    assert argv[0] == "bwrap"
    # the supervisor keeps only what starting student code as another uid needs
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    assert sorted(c for (c,) in options(argv, "--cap-add", 1)) == ["CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID"]


def test_student_code_runs_as_an_unprivileged_user_without_capabilities():
    argv = as_user(["python", "runner.py"], sandbox=True, uid=60001)
    assert argv[0] == "setpriv" and argv[-3:] == ["--", "python", "runner.py"]
    assert {"--reuid=60001", "--regid=60001", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"} <= set(argv)
    assert as_user(["python", "runner.py"], sandbox=False, uid=None) == ["python", "runner.py"]
    with pytest.raises(ValueError, match="uid of its own"):
        as_user(["python", "runner.py"], sandbox=True, uid=None)  # no shared default uid


def test_python_mounts_cover_the_interpreter():
    mounts = python_mounts()
    real = Path(sys.executable).resolve()
    visible = [Path("/usr")] + [Path(m.target) for m in mounts]
    assert any(real == v or v in real.parents for v in visible)
    for m in mounts:
        assert not m.writable and m.target == str(m.source) and Path(m.target).is_absolute()
        assert not (Path(m.target) == Path("/usr") or Path("/usr") in Path(m.target).parents)


# --- EventReader ------------------------------------------------------------------------------------


@pytest.fixture
def channel():
    """The grader's end (read by the reader) and the supervisor's end of the event socket."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    yield EventReader(ours), theirs
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
    garbage = [
        "not json",
        "[1, 2]",
        "null",
        "5",
        '"text"',
        '{"item": "cell:3"}',
        '{"event": "end"}',
        '{"item": "cell:3", "event": "end"',
        "\xff\xfe",
    ]
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


# --- real runs (sub-second shell programs; need bubblewrap and root; those that start a sandbox are
# marked slow: the fast tier starts none) ---------------------------------------------------------

needs_bwrap = pytest.mark.skipif(
    not (bubblewrap_available() and os.geteuid() == 0), reason="bubblewrap cannot sandbox here, or not root (setpriv)"
)


def _sandbox_run(tmp_path: Path, script: str, limits: sandbox.Limits) -> tuple[sandbox.RunOutcome, str]:
    """`sh -c script` in the sandbox as a leased uid, with a writable /job/out: outcome and log."""
    tag = uuid.uuid4().hex[:8]
    out, log = tmp_path / f"out-{tag}", tmp_path / f"log-{tag}"
    out.mkdir()
    with uids.lease() as uid:
        os.chown(out, uid, uid)
        outcome = sandbox.run(
            as_user(["/bin/sh", "-c", script], sandbox=True, uid=uid),
            mounts=[Mount(out, "/job/out", writable=True)],
            env={},
            cwd="/",
            limits=limits,
            log_file=log,
        )
    return outcome, log.read_text(errors="replace")


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def _started(pid: int) -> int | None:
    """The start time of `pid` (clock ticks since boot): with the pid, what names one process."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _descendants(root: int) -> set[int]:
    parents = {}
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            parents[int(name)] = int(Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def test_uids_are_leased_apart_in_threads_and_processes():
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nfrom autograder.sandbox import uids\n"
            "with uids.lease() as uid:\n    print(uid, flush=True)\n    sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        theirs = int(holder.stdout.readline())
        ours: list[int] = []
        together = threading.Barrier(3)

        def hold() -> None:
            with uids.lease() as uid:
                ours.append(uid)
                together.wait(10)  # all three threads hold theirs at once

        threads = [threading.Thread(target=hold) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len({theirs, *ours}) == 4 and {theirs, *ours} <= set(uids.pool())
    finally:
        holder.kill()
        holder.wait()
    fd = uids._try(uids.lock_dir(), theirs)  # the kernel dropped a killed holder's lock: free again
    assert fd is not None
    os.close(fd)


def test_a_released_uid_is_leased_again_only_after_every_other(tmp_path, monkeypatch):
    """Oldest release first: a finished run's uid is not the next notebook's, so what the run left
    (processes being ended, files being removed) is never met by, or blamed on, the next one."""
    monkeypatch.setattr(uids, "lock_dir", lambda: tmp_path)
    usable = [u for u in uids.pool() if not uids._named(u) and not uids.processes_of(u)]
    taken = []
    for _ in range(len(usable) + 1):
        with uids.lease() as uid:
            taken.append(uid)
    assert sorted(taken[:-1]) == usable and taken[-1] == taken[0], taken


@needs_bwrap
def test_a_uid_that_still_has_processes_is_not_leased():
    with uids.lease() as uid:
        pass
    squatter = subprocess.Popen(["sleep", "30"], user=uid, group=uid)
    try:
        assert uids._try(uids.lock_dir(), uid) is None
    finally:
        squatter.kill()
        squatter.wait()


# As a uid: leave a key readable by everyone in its user keyring (add_key, then KEYCTL_SETPERM),
# or print what a search of its user keyring for that key finds (the key's serial, or -1).
_KEY_AS_UID = """
import ctypes, sys
libc = ctypes.CDLL(None)
if sys.argv[1] == "leave":
    key = libc.syscall(248, b"user", b"left-behind", b"a run's words", 13, -4)
    libc.syscall(250, 5, key, 0x3F3F3F3F)
else:
    print(libc.syscall(250, 10, -4, b"user", b"left-behind", 0))
"""


def _key_as(uid: int, what: str) -> str:
    return python_as(uid, _KEY_AS_UID, what)


@needs_bwrap
@pytest.mark.skipif(not os.path.exists("/proc/key-users"), reason="a kernel without keys")
def test_a_uid_is_released_without_the_keys_its_run_made():
    """A uid's kernel keyrings outlive its processes (kept per uid, and a sandbox has no user
    namespace of its own): a key left with rights for everyone was read by later notebooks of any
    uid. Released, the uid keeps none."""
    with uids.lease() as uid:
        _key_as(uid, "leave")
        assert int(_key_as(uid, "find")) > 0 and uids.keys_held(uid)
    assert _key_as(uid, "find") == "-1"


@needs_bwrap
@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/key-users"), reason="a kernel without keys")
def test_a_pass_leaves_no_key_for_the_next_pass_of_its_job(tmp_path):
    """Every pass of a job runs as one uid (`execute.run`), and a pass can be handed the probe's
    inputs early (a cell can forge every cell's end): the keys a sandboxed run made go when it
    ends, not when its uid is released, so none carries them into the next pass's cells."""
    with uids.lease() as uid:
        outcome = sandbox.run(
            as_user([os.path.realpath(sys.executable), "-I", "-S", "-c", _KEY_AS_UID, "leave"], sandbox=True, uid=uid),
            mounts=python_mounts(),
            env={},
            cwd="/",
            limits=sandbox.Limits(notebook_seconds=30),
            log_file=tmp_path / "log",
            uid=uid,
        )
        assert outcome.returncode == 0, (tmp_path / "log").read_text()
        assert _key_as(uid, "find") == "-1"


@needs_bwrap
@pytest.mark.slow
def test_a_sandbox_holding_its_process_budget_does_not_starve_another(tmp_path):
    """Finding 5 in small: sandbox A holds 45 of its 50 processes; B, running meanwhile, still
    starts its 20. With one uid for both, RLIMIT_NPROC (per uid, machine-wide) would refuse B."""
    limits = sandbox.Limits(pids=50, notebook_seconds=30)
    holder = threading.Thread(
        target=_sandbox_run, args=(tmp_path, "for i in $(seq 45); do sleep 6 & done; wait"), kwargs={"limits": limits}
    )
    holder.start()
    try:
        deadline = time.monotonic() + 10
        while sum(len(uids.processes_of(u)) for u in uids.pool()) < 45 and time.monotonic() < deadline:
            time.sleep(0.05)
        starts_20 = "id -u; for i in $(seq 20); do sleep 0.2 & done; wait && echo started-all"
        outcome, log = _sandbox_run(tmp_path, starts_20, limits=limits)
    finally:
        holder.join()
    assert outcome.returncode == 0 and "started-all" in log, log
    assert int(log.split()[0]) in uids.pool()


@needs_bwrap
@pytest.mark.slow
@pytest.mark.parametrize(
    "script, seconds, killed",
    [("sleep 60 & sleep 60", 1.5, True), ("sleep 60 & sleep 1", 30.0, False)],
    ids=["killed", "ends-beside-a-child"],
)
def test_a_run_leaves_no_zombie(tmp_path, script, seconds, killed):
    """Killed by the watchdog, or ending while a child still lives: every process the run had is
    gone and reaped, none a zombie. Bubblewrap's outer process exits without waiting for its init,
    whose zombie went to the machine's pid 1 (`[bwrap] <defunct>`): after every run that ends
    beside a live child, and about one killed run in five on a loaded machine; the reaper inherits
    and reaps it. A process is known by its pid and start time: pid_max is 32768 here, and on a
    busy machine a pid this run used can belong to someone else's process by the end."""
    seen: dict[int, int] = {}
    stop = threading.Event()
    earlier = set(_descendants(os.getpid()))  # children of other tests in this process are not this run's

    def watch() -> None:
        while not stop.is_set():
            for pid in set(_descendants(os.getpid())) - earlier - set(seen):
                started = _started(pid)
                if started is not None:
                    seen[pid] = started
            stop.wait(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        outcome, _ = _sandbox_run(tmp_path, script, limits=sandbox.Limits(notebook_seconds=seconds))
    finally:
        stop.set()
        watcher.join()
    assert outcome.killed == outcome.timed_out == killed
    assert len(seen) >= 4  # the reaper, bubblewrap outside, bubblewrap's init, the shell (and its sleeps)
    left = {pid: _state(pid) for pid, started in seen.items() if _started(pid) == started}
    assert left == {}


def test_the_reaper_ends_as_its_program_after_reaping_its_orphans():
    """reaper.py: the exit code and the killing signal of its program are its own, and it returns
    only once the orphan its program left (reparented to it) is reaped."""
    reaper = [sys.executable, "-I", "-S", str(launch.REAPER)]
    started = time.monotonic()
    done = subprocess.run([*reaper, "/bin/sh", "-c", "(sleep 0.5; exit 0) & exit 3"], timeout=30)
    assert done.returncode == 3 and time.monotonic() - started >= 0.5
    assert subprocess.run([*reaper, "/bin/sh", "-c", "kill -9 $$"], timeout=30).returncode == -9
    assert subprocess.run([*reaper, "/nonexistent"], capture_output=True, timeout=30).returncode == 126


@needs_bwrap
@pytest.mark.slow
def test_printing_counts_in_the_disk_quota(tmp_path):
    """The log of stdout/stderr is written by the notebook: 20 MB/s of output hits an 8 MB quota
    (well before the 128 MB file-size limit would stop it)."""
    limits = sandbox.Limits(file_size_bytes=128 * 2**20, disk_bytes=8 * 2**20, notebook_seconds=20)
    outcome, _ = _sandbox_run(tmp_path, "while :; do head -c 1048576 /dev/zero; sleep 0.05; done", limits=limits)
    assert outcome.disk_exceeded and outcome.killed and not outcome.timed_out


@needs_bwrap
@pytest.mark.slow
def test_the_oom_killer_takes_the_sandbox_first_and_descriptors_are_bounded(tmp_path):
    """oom_score_adj 1000 (the kernel's OOM killer picks a sandbox's process before the grader's)
    and 1024 descriptors a process (what one process can hold in files with no name, held.py)."""
    outcome, log = _sandbox_run(
        tmp_path, "cat /proc/self/oom_score_adj; ulimit -n", limits=sandbox.Limits(notebook_seconds=20)
    )
    assert log.split()[-2:] == ["1000", "1024"], log
    assert "rlimit:nofile" in outcome.limits_applied


@pytest.mark.parametrize("walk_seconds, spacing", [(0.0, watchdog.DISK_CHECK_SECONDS), (0.2, 2.0)])
def test_disk_walks_take_at_most_their_share_of_the_graders_time(walk_seconds, spacing):
    """The quota's walks run in the grader's process: a tree that takes 0.2 s to walk is walked
    every 2 s, not every 0.5 s (a hang beside 90,000 empty files cost the grader 0.27 of a core)."""
    walks = []

    def used() -> int:
        walks.append(time.monotonic())
        time.sleep(walk_seconds)
        return 0

    start = time.monotonic()
    check = watchdog.DiskCheck(used, quota=10, start=start)
    assert not check.over(start) and walks == []  # the first check is DISK_CHECK_SECONDS in
    now = start + watchdog.DISK_CHECK_SECONDS
    assert not check.over(now) and len(walks) == 1
    assert spacing <= check.next - now < spacing + 0.3
    assert not check.over(check.next - 0.01) and len(walks) == 1


def test_a_tree_of_more_files_than_an_exercise_writes_is_over_any_quota(tmp_path):
    for k in range(10):
        folder = tmp_path / str(k)
        folder.mkdir()
        for n in range(1001):
            (folder / str(n)).touch()
    assert watchdog.disk_usage([tmp_path], stop_above=10**9) > 10**9
