"""One unprivileged uid per running sandbox, machine-wide.

Why: `RLIMIT_NPROC` counts every process and thread of a *uid* on the whole machine. When every
sandbox ran as uid 65534, one notebook holding ~250 threads used up the budget of all the others
graded beside it, and their TensorFlow could not start (three correct notebooks scored 0). With a
uid of its own, a sandbox's threads count against its own cgroup's `pids.max` and its own
`RLIMIT_NPROC` only.

The pool is `BASE .. BASE + COUNT - 1` (60000-60063), uid = gid. It sits above ordinary accounts
(1000-59999 on Debian) and below systemd's dynamic users (61184-65519); a uid or gid that names an
account or group on this host is never used, nor one that still has processes.

A uid is held by an exclusive `flock` on `<runtime dir>/<uid>.lock`. flock locks belong to the
open file description, so two threads of one batch (each opens the file itself) exclude each
other exactly as two grader processes or Dask workers on one machine do; and the kernel drops the
lock when its holder dies, even by `kill -9`, so nothing stale is ever left to clean up.
"""

from __future__ import annotations

import errno
import fcntl
import grp
import os
import platform
import pwd
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import InfrastructureError

BASE = 60000
COUNT = 64
WAIT_SECONDS = 600.0  # more than COUNT sandboxes at once on one machine: wait for one to end
# Another first uid for the pool. Containers without user namespaces (Docker's default, Gradescope)
# share the host's uids, and RLIMIT_NPROC counts a uid's processes on the whole host, while the
# lock files in one container's /run are not seen by another: two containers grading at once on
# one host would both take 60000, and a fork bomb in one would stop the other's imports. The zip's
# run_autograder sets a random base per container instead.
ENV_BASE = "DNN_GRADER_UID_BASE"
TOP = 2**31 - 1  # uid_t is 32 bits and (uid_t)-1 means "no change": stay well below it


def base() -> int:
    """The pool's first uid: `BASE`, or `DNN_GRADER_UID_BASE` (1000 to 2**31 - COUNT - 1)."""
    value = os.environ.get(ENV_BASE)
    if value is None:
        return BASE
    if not value.isdigit() or not 1000 <= int(value) <= TOP - COUNT:
        raise InfrastructureError(f"{ENV_BASE}={value!r}: must be a uid from 1000 to {TOP - COUNT}")
    return int(value)


def pool() -> range:
    return range(base(), base() + COUNT)


def lock_dir() -> Path:
    """Where the lock files live: the same folder for every grader of this user on this machine.

    `/run` (root, a tmpfs emptied at boot) when writable, else a private folder in the temp dir.
    The folder must be ours and not writable by others: whoever can replace a lock file can make
    two sandboxes share a uid.
    """
    base = Path("/run") if os.access("/run", os.W_OK) else Path(tempfile.gettempdir())
    path = base / f"dnn-grader-uids-{os.geteuid()}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(path)
    except OSError as exc:
        raise InfrastructureError(f"cannot make the sandbox uid lock folder {path}: {exc}") from exc
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise InfrastructureError(
            f"{path} is not a private folder of uid {os.geteuid()}: remove it (sandbox uids are allocated there)"
        )
    return path


def _named(uid: int) -> bool:
    """A host account or group with this id: its files and processes must not meet a sandbox's."""
    for lookup in (pwd.getpwuid, grp.getgrgid):
        try:
            lookup(uid)
            return True
        except KeyError:
            continue
    return False


def processes_of(uid: int) -> list[int]:
    """Pids (threads' leaders) whose real uid is `uid`, read from /proc."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as fh:
                for line in fh:
                    if line.startswith(b"Uid:"):
                        if int(line.split()[1]) == uid:
                            found.append(int(name))
                        break
        except (OSError, ValueError, IndexError):
            continue
    return found


def _try(folder: Path, uid: int) -> int | None:
    """An fd holding `uid`'s lock, or None if someone else holds it or the uid is not clean."""
    fd = os.open(folder / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return None
        raise
    if _named(uid) or processes_of(uid):
        os.close(fd)
        return None
    return fd


def _least_recently_used(folder: Path) -> list[int]:
    """The pool, the uid released longest ago first (its lock file's time; never used: first).

    Why not the lowest free uid: a uid just released would be the next notebook's at once, while
    the run before may still be settling (its last processes dying, its files at the no-namespace
    level being removed), and a look at what a finished run left (`processes_of`, the shared
    places) would meet the next notebook instead. Oldest first, a uid comes back only after every
    other uid of the pool has been used, by any grader on the machine (the lock files are shared)."""

    def released(uid: int) -> float:
        try:
            return os.stat(folder / f"{uid}.lock").st_mtime
        except OSError:
            return 0.0

    return sorted(pool(), key=lambda uid: (released(uid), uid))


# keyctl(2) has no glibc wrapper: its number on the architectures the grader runs on.
_KEYCTL = {"x86_64": 250, "aarch64": 219}
# As the uid: empty its user and user-session keyrings (KEYCTL_CLEAR on @u, @us) and its
# persistent keyring (KEYCTL_GET_PERSISTENT into the process keyring, then cleared).
_FORGET_KEYS = """
import ctypes, sys
libc = ctypes.CDLL(None)
keyctl = int(sys.argv[1])
for ring in (-4, -5):
    libc.syscall(keyctl, 7, ring)
persistent = libc.syscall(keyctl, 22, -1, -2)
if persistent > 0:
    libc.syscall(keyctl, 7, persistent)
"""


def keys_held(uid: int, table: Path = Path("/proc/key-users")) -> bool:
    """Whether `uid` owns kernel keys (`/proc/key-users` lists a uid from its first key on)."""
    try:
        lines = table.read_text().splitlines()
    except OSError:
        return False
    return any(line.split(":", 1)[0].strip() == str(uid) for line in lines)


def forget_keys(uid: int) -> None:
    """Empty the kernel keyrings of `uid`, whose processes have all ended.

    Why: a uid's keyrings (keyctl's `@u`, `@us`, the persistent one) are kept per uid in the user
    namespace, and a sandbox has none of its own, so they outlive every process of the run, and a
    key with rights for "other" is listed in /proc/keys and readable by every later notebook,
    whatever its uid. Only the uid itself can clear them (root's capabilities
    do not reach another user's keys), so a short-lived process of the uid does; a uid that never
    made a key (every honest run) costs nothing. Best effort: where the base interpreter is
    unreachable for the uid, or keyctl is refused (Docker's default seccomp), there is nothing it
    could have kept, or nothing more to do."""
    number = _KEYCTL.get(platform.machine())
    if number is None or not keys_held(uid):
        return
    try:
        subprocess.run(
            [os.path.realpath(sys.executable), "-I", "-S", "-c", _FORGET_KEYS, str(number)],
            user=uid,
            group=uid,
            extra_groups=[],
            env={},
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        pass


@contextmanager
def lease(wait_seconds: float = WAIT_SECONDS) -> Iterator[int]:
    """A uid of the pool that no other running sandbox on this machine has, for the `with` block."""
    folder = lock_dir()
    deadline = time.monotonic() + wait_seconds
    while True:
        for uid in _least_recently_used(folder):
            try:
                fd = _try(folder, uid)
            except OSError as exc:
                raise InfrastructureError(f"cannot lock a sandbox uid in {folder}: {exc}") from exc
            if fd is not None:
                try:
                    yield uid
                finally:
                    try:
                        forget_keys(uid)  # the run's processes are gone: its keys must go too
                        os.utime(fd)  # released now: the last to be taken again
                    finally:
                        os.close(fd)
                return
        if time.monotonic() > deadline:
            raise InfrastructureError(
                f"all {COUNT} sandbox uids ({pool()[0]}-{pool()[-1]}) stayed in use for {wait_seconds:.0f} s"
            )
        time.sleep(0.2)
