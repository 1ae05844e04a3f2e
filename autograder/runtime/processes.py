"""Keeps the sandbox's processes in check and ends the run alone. UNTRUSTED SIDE.

Loaded by the runner as a private module before any cell runs (runner.py), so every function
used here is bound at that moment and its builtins are its own: a notebook that patches `os`,
`signal` or a builtin does not change how its processes are killed or how the results are written.

- `kill_others`: after each cell, every process of the sandbox but the runner is killed (a fork
  bomb, a background writer do not outlive their cell);
- `finish_alone`: the results are written by a fresh interpreter running this file (the writer,
  `main` below), which has none of the notebook's threads, objects or hooks: it stops the runner,
  kills every other process, empties out/, writes the files the runner handed it in memory, and
  ends the sandbox.

Why a fresh interpreter rather than a fork of the runner: a forked copy of a process with other
threads inherits the interpreter's lock as it was at that instant. A notebook thread waiting for
that lock (any thread that sleeps or reads in a loop does, many times a second) leaves it held
or a hand-over pending, and the copy blocks for ever the first time it lets go of the lock,
before writing anything: on a loaded machine, 2 runs in 14 of a notebook with one polling thread
lost their last question that way. Python's own fork repairs the lock, but only by running every
at-fork hook and finaliser the notebook registered. `posix_spawn` runs no Python in the new
process before it executes the interpreter.
"""

import hashlib
import os
import signal
import sys
import time

_kill, _listdir, _getpid, _waitpid, _exit = os.kill, os.listdir, os.getpid, os.waitpid, os._exit
_os_open, _os_close, _os_write, _os_unlink = os.open, os.close, os.write, os.unlink
_os_scandir, _os_rmdir, _os_path_join, _pread = os.scandir, os.rmdir, os.path.join, os.pread
_spawn, _memfd, _set_inheritable = os.posix_spawn, os.memfd_create, os.set_inheritable
_SIGKILL, _SIGSTOP, _SIGXFSZ, _SIG_IGN, _WNOHANG = (
    signal.SIGKILL,
    signal.SIGSTOP,
    signal.SIGXFSZ,
    signal.SIG_IGN,
    os.WNOHANG,
)
_O_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
_signal, _sleep, _now, _sha256 = signal.signal, time.sleep, time.time, hashlib.sha256
_PARENT_PID = os.getppid()  # the runner's parent is the supervisor; the writer's, the runner
_PYTHON, _THIS_FILE = sys.executable, os.path.abspath(__file__)
_CHUNK = 2**20
SPAWN_TRIES = 3
NO_OUTPUTS = 3  # the runner's exit status when no writer could finish: the grader finds no "done"


def _pids() -> list[int]:
    try:
        return [int(p) for p in _listdir("/proc") if p.isdigit()]
    except OSError:
        return []


def _stat(pid: int) -> list[bytes] | None:
    """The fields of /proc/<pid>/stat after the command's name (state first), None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        return stat[stat.rindex(b")") + 2 :].split()
    except (OSError, ValueError):
        return None


def _state(pid: int) -> str | None:
    """The process state letter from /proc (R, S, T, Z...), None if it is gone."""
    fields = _stat(pid)
    return fields[0].decode() if fields else None


def kill_others(spare: tuple[int, ...] = ()) -> bool:
    """SIGKILL every live process of the sandbox but this one, its parent (and `spare`); True when
    none was left.

    Only called in the sandbox: its pid namespace holds bwrap's init (pid 1, not ours to signal)
    and the notebook's processes, nothing else.
    """
    me = _getpid()
    for _ in range(100):
        alive = []
        for pid in _pids():
            if pid in (me, 1, _PARENT_PID, *spare) or _state(pid) in (None, "Z", "X"):
                continue
            try:
                _kill(pid, _SIGKILL)
                alive.append(pid)
            except OSError:
                pass
        while True:  # reap our own children, so they do not linger as zombies
            try:
                if _waitpid(-1, _WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        if not alive:
            return True
        _sleep(0.005)
    return False


# --- the output folder --------------------------------------------------------------------------


def _write_all(fd: int, data: bytes) -> None:
    """All of `data` to `fd` (a write may be partial)."""
    view = memoryview(data)
    while view:
        view = view[_os_write(fd, view) :]


def _write_new(path: str, chunks) -> None:
    fd = _os_open(path, _O_NEW, 0o644)
    try:
        for chunk in chunks:
            _write_all(fd, chunk)
    finally:
        _os_close(fd)


def _remove(path: str) -> None:
    """Delete a file, a symlink (not its target) or a folder tree, with functions bound above."""
    try:
        _os_unlink(path)
        return
    except OSError:
        pass
    try:
        for entry in list(_os_scandir(path)):
            if entry.is_dir(follow_symlinks=False):
                _remove(entry.path)
            else:
                _os_unlink(entry.path)
        _os_rmdir(path)
    except OSError:
        pass


def write_files(out_dir: str, files) -> None:
    """Empty the output folder, then write each `(name, chunks)` of `files` afresh.

    Called when no notebook code can run any more: whatever a notebook planted in the folder
    (symlinks, directories, fifos, forged files) is removed, not written through. The grader reads
    them only once the supervisor has seen the whole run end (supervisor.py).
    """
    for entry in list(_os_scandir(out_dir)):
        _remove(entry.path)
    for name, chunks in files:
        _write_new(_os_path_join(out_dir, name), chunks)


# --- the end of the run -------------------------------------------------------------------------


def _in_memory(name: str, data: bytes) -> int:
    """A file in memory holding `data` (memfd), inheritable, for the writer to read once the runner
    is stopped."""
    fd = _memfd(name)
    _write_all(fd, data)
    _set_inheritable(fd, True)
    return fd


def finish_alone(out_dir: str, files, events_fd: int) -> None:
    """Hand `files` (`(name, bytes)` pairs) to a writer process, which writes them when no notebook
    code can run any more and ends the sandbox, this process included; never returns.

    Each file goes in a memfd with its SHA-256 on the writer's command line: a notebook thread can
    still reach the memfd (/proc/self/fd) until the writer has stopped this process, but not the
    digest, which was taken from this process's memory before the memfd existed. The writer
    writes nothing that does not match.

    If no writer can be started (the notebook holds every process the sandbox may have, say) after
    the notebook's other processes are killed, this process ends without outputs: writing them here,
    beside the notebook's threads, is what the writer is for."""
    _signal(_SIGXFSZ, _SIG_IGN)  # a file over the size limit fails instead of killing
    try:
        handed = [f"{name}={_in_memory(name, data)}:{_sha256(data).hexdigest()}" for name, data in files]
    except OSError:
        _exit(NO_OUTPUTS)
    argv = [_PYTHON, "-I", "-S", "-B", _THIS_FILE, out_dir, str(events_fd), *handed]
    for _ in range(SPAWN_TRIES):
        try:
            writer = _spawn(_PYTHON, argv, {})  # no environment: nothing the notebook set reaches it
            break
        except OSError:
            kill_others()
    else:
        _exit(NO_OUTPUTS)
    while True:  # stopped, then killed, by the writer
        try:
            _waitpid(writer, 0)
        except ChildProcessError:
            pass
        _exit(NO_OUTPUTS)  # the writer died without killing us: the grader finds no "done" and reruns


class _Checked:
    """A memfd's content in chunks, hashed as it is read: `matches` once read to its end."""

    def __init__(self, fd: int, digest: str) -> None:
        self.fd, self.digest, self.hash = fd, digest, _sha256()

    def __iter__(self):
        offset = 0
        while True:
            chunk = _pread(self.fd, _CHUNK, offset)
            if not chunk:
                return
            offset += len(chunk)
            self.hash.update(chunk)
            yield chunk

    @property
    def matches(self) -> bool:
        return self.hash.hexdigest() == self.digest


def main(argv: list[str]) -> int:
    """The writer: `processes.py OUT_DIR EVENTS_FD NAME=FD:SHA256...`, started by `finish_alone`.

    Stops the runner (all its threads), kills every other process of the sandbox but the
    supervisor, writes the files from the descriptors it inherited and, if each matches its digest,
    sends the runner's last event; then kills the runner. A mismatch (a notebook thread rewrote a
    memfd before the runner was stopped) sends nothing: the pass ends without outputs."""
    out_dir, events_fd = argv[1], int(argv[2])
    files = []
    for arg in argv[3:]:
        name, _, handed = arg.rpartition("=")
        fd, _, digest = handed.partition(":")
        files.append((name, _Checked(int(fd), digest)))
    runner = _PARENT_PID
    fields = _stat(runner)
    if runner <= 1 or not fields:  # the runner is gone: nothing to write for
        return NO_OUTPUTS
    supervisor = int(fields[1])
    _signal(_SIGXFSZ, _SIG_IGN)  # a write over the limit fails instead of killing
    try:
        for _ in range(20):
            _kill(runner, _SIGSTOP)
            if kill_others(spare=(supervisor,)) and _state(runner) in ("T", "t"):
                break
            _sleep(0.002)
        write_files(out_dir, files)
        if not all(checked.matches for _, checked in files):
            return NO_OUTPUTS
        event = f'{{"item": "runner", "event": "outputs", "t": {_now():.6f}}}\n'
        _os_write(events_fd, event.encode("ascii"))  # a pipe takes a line this short whole
    finally:
        _kill(runner, _SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
