"""Keeps the sandbox's processes in check and ends the run alone. UNTRUSTED SIDE.

Loaded by the runner as a private module before any cell runs (runner.py), so every function
used here is bound at that moment and its builtins are its own: a notebook that patches `os`,
`signal` or a builtin does not change how its processes are killed or how the results are written.

- `kill_others`: after each cell, every process of the sandbox but the runner is killed (a fork
  bomb, a background writer do not outlive their cell);
- `finish_alone`: the results are written by a forked copy of the runner, which has none of the
  notebook's threads: it stops the runner, kills every other process, writes, and ends the sandbox.
"""

import os
import signal
import time

_kill, _listdir, _getpid, _waitpid, _fork, _exit = os.kill, os.listdir, os.getpid, os.waitpid, os.fork, os._exit
_SIGKILL, _SIGSTOP, _SIGXFSZ, _SIG_IGN, _WNOHANG = (
    signal.SIGKILL,
    signal.SIGSTOP,
    signal.SIGXFSZ,
    signal.SIG_IGN,
    os.WNOHANG,
)
_signal, _sleep = signal.signal, time.sleep
try:
    import ctypes

    _LIBC_FORK = ctypes.PyDLL(None).fork
    _LIBC_FORK.restype = ctypes.c_int
except (ImportError, OSError, AttributeError):
    _LIBC_FORK = None
_SUPERVISOR_PID = os.getppid()  # loaded by the runner, whose parent is the supervisor


def _pids() -> list[int]:
    try:
        return [int(p) for p in _listdir("/proc") if p.isdigit()]
    except OSError:
        return []


def _state(pid: int) -> str | None:
    """The process state letter from /proc (R, S, T, Z...), None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        return stat[stat.rindex(b")") + 2 :][:1].decode()
    except (OSError, ValueError):
        return None


def kill_others(spare: tuple[int, ...] = ()) -> bool:
    """SIGKILL every live process of the sandbox but this one (and `spare`); True when none was left.

    Only called in the sandbox: its pid namespace holds bwrap's init (pid 1, not ours to signal)
    and the notebook's processes, nothing else.
    """
    me = _getpid()
    for _ in range(100):
        alive = []
        for pid in _pids():
            if pid in (me, 1, _SUPERVISOR_PID, *spare) or _state(pid) in (None, "Z", "X"):
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


def _raw_fork() -> int:
    """fork(2) without Python's at-fork hooks: a hook registered by the notebook (or by a library
    it drove into a bad state: IPython's, which joins a thread) could block the end of the run for
    ever. The child only makes system calls and calls functions bound before any cell ran, then
    exits, so the thread states it inherits are never needed. The libc call keeps the GIL (PyDLL)."""
    if _LIBC_FORK is None:
        return _fork()
    pid = _LIBC_FORK()
    if pid < 0:
        raise OSError("fork failed")
    return pid


def finish_alone(write) -> None:
    """Run `write` when no notebook code can run any more, then end the sandbox.

    A forked child has only the thread that forked it. It stops this process (all its threads),
    kills every other process, writes, and kills this process. If forking is impossible, write here.
    """
    parent = _getpid()
    try:
        child = _raw_fork()
    except OSError:
        write()
        _exit(0)
    if child == 0:
        try:
            _signal(_SIGXFSZ, _SIG_IGN)  # a write over the limit fails instead of killing
            for _ in range(20):
                _kill(parent, _SIGSTOP)
                if kill_others(spare=(parent,)) and _state(parent) in ("T", "t"):
                    break
                _sleep(0.002)
            write()
        finally:
            try:
                _kill(parent, _SIGKILL)
            finally:
                _exit(0)
    while True:  # stopped, then killed, by the child
        try:
            _waitpid(child, 0)
        except ChildProcessError:
            pass
        _exit(3)  # the child died without killing us: the grader finds no "done" and reruns
