"""The parent of bubblewrap: a child subreaper that reaps every process the sandbox leaves behind.

Run as a script by the launcher (`python -I -S reaper.py PROGRAM ARGS...`, standard library only,
nothing of the package imported), between joining the cgroup and `prlimit`/`bwrap`.

Why it exists: bubblewrap's outer process exits as soon as its init (pid 1 of the sandbox's pid
namespace) reports the exit status of the sandboxed command on an eventfd, without waiting for
that init to exit. The init, still tearing the namespace down, is then orphaned and reparented
to the machine's pid 1, which in a container (a shell, `sleep`, a job runner) may never reap it:
one `[bwrap] <defunct>` per run, more often on a loaded machine where the race is wider. As a
child subreaper (`PR_SET_CHILD_SUBREAPER`) this process, not the machine's pid 1, inherits that
orphan, and it exits only once every child it has, born or inherited, is reaped. It ends as its
program ended (same exit code, or killed by the same signal), so the launcher sees bubblewrap's
own status.

It waits on `-1` safely: this process has no other children. The wait for inherited orphans is
bounded by the sandbox itself: bubblewrap's init dies with its parent (`--die-with-parent`), and
with it every process of the pid namespace.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_CHILD_SUBREAPER = 36
CANNOT_START = 126  # as a shell's: the program could not be started


def main(argv: list[str]) -> int:
    if not argv:
        print("reaper: no program to run", file=sys.stderr)
        return CANNOT_START
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print(f"reaper: cannot become a child subreaper: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return CANNOT_START
    try:
        child = os.posix_spawnp(argv[0], argv, os.environ)
    except OSError as exc:
        print(f"reaper: cannot start {argv[0]}: {exc.strerror}", file=sys.stderr)
        return CANNOT_START
    status: int | None = None
    while True:
        try:
            pid, wait_status = os.wait()
        except ChildProcessError:
            break  # nothing left: the program and every orphan it left are reaped
        if pid == child:
            status = wait_status
    if status is not None and os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):  # those two cannot be handled, nor reset
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)  # end as the program ended: the launcher reads -sig
    return os.waitstatus_to_exitcode(status) if status is not None else CANNOT_START


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
