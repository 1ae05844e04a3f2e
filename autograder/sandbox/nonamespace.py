"""The sandbox level for containers that refuse namespaces (Gradescope, Docker's default seccomp).

There bubblewrap fails (`bwrap: Creating new namespace failed: Operation not permitted`), but
root in the container can still start the notebook as an unprivileged uid of its own (the pool,
`uids.py`), in a job folder only that uid can enter, with rlimits, the cgroup or the memory guard,
and the watchdog. What bubblewrap's mounts did, file ownership and modes do here:

- the job folder is root's, group the sandbox's gid (= its uid, no host group), mode 0750: the
  notebook enters its own job and no other (another sandbox's uid cannot even list it), and
  cannot rename what the grader reads there (its logs);
- every secret (the solutions, the grader's cache with the reference outputs, the grader's
  package, the real test split, the results folder) is made unreachable for a uid that owns
  nothing on the host: `protect` takes `o-rwx` off the secret itself where it was reachable (a
  pool uid is never an owner or a group of a host file, so the "others" bits decide), and a secret
  still reachable afterwards is an infrastructure error;
- the interpreter must be reachable (`require_reachable`): under a 0700 home it is not, and the
  run would fail in every cell rather than say why;
- at the end, every process of the uid is killed (there is no pid namespace whose end kills them).

Deny by default on top of the modes (`landlock_rules`, applied by the supervisor to itself before
it starts the notebook, `runtime/landlock.py`): the notebook may read the interpreter and its
packages, the system's libraries, /proc and the job's inputs and data, write its job's out/ and
work/, and nothing else; no TCP connect or bind; no abstract socket or signal outside the
sandbox. This is bubblewrap's view made of rules instead of mounts: the same places, the same
holes (the grader's package, every course folder with its solutions and example class, the real
test split, the base interpreter's own site-packages). A secret the modes miss (a class folder
left 0644, a course installed beside the interpreter) stays unreadable, and a process whose
command line names it gains nothing from the name. Without Landlock (a kernel before 5.13, or an
ABI below what the level needs) the run is refused unless the instructor accepts it (`levels`).

What it cannot give (README, docs/security.md): the host's process list (command lines are
readable in /proc), UDP and other non-TCP protocols (Landlock filters TCP only), and, without
Landlock, a view of the host restricted to what was mounted: every world-readable file.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import time
from collections.abc import Iterable
from pathlib import Path

from ..errors import InfrastructureError

# What any program needs besides the interpreter (bubblewrap's view: bwrap_argv).
SYSTEM = (
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/localtime",
    "/etc/nsswitch.conf",
)
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


def blocking(path: Path) -> Path | None:
    """The first folder (or `path` itself) that a uid owning nothing cannot pass; None: reachable."""
    path = Path(os.path.abspath(path))
    try:
        path = path.resolve(strict=True)
        for folder in [*reversed(path.parents), path]:
            mode = os.stat(folder).st_mode
            need = stat.S_IXOTH | (stat.S_IROTH if folder == path else 0)
            if folder == path and not stat.S_ISDIR(mode):
                need = stat.S_IROTH
            if mode & need != need:
                return folder
    except OSError:
        return path  # gone or unreadable even to us: not reachable either
    return None


def protect(secrets: Iterable[Path]) -> list[Path]:
    """Make every existing secret unreachable for a pool uid; returns those whose mode changed.

    Only the secret itself changes (`o-rwx`), never its parents: a parent can hold what the
    notebook needs (the course folder holds the virtual environment). Raises `InfrastructureError`
    if a secret is still reachable afterwards (a file system that ignores modes).
    """
    changed = []
    for path in secrets:
        if not os.path.lexists(path) or blocking(path) is not None:
            continue
        real = Path(path).resolve()
        os.chmod(real, os.stat(real).st_mode & ~0o007)
        changed.append(real)
        if blocking(real) is None:
            raise InfrastructureError(f"cannot hide {real} from the sandbox's uid (chmod o-rwx did not take)")
    return changed


def require_reachable(paths: Iterable[Path]) -> None:
    """The interpreter and its libraries must be usable by the sandbox's uid."""
    for path in paths:
        where = blocking(path)
        if where is not None:
            raise InfrastructureError(
                f"the sandbox's uid cannot reach {path} ({where} is closed to other users): without namespaces the "
                "notebook runs the grader's Python as another user; install it where every user can read it "
                "(/usr, /opt), or give that folder o+x"
            )


def own_job_folder(folder: Path, uid: int) -> None:
    """`folder` enterable by the sandbox's uid alone (and root): root's, group the uid's gid, 0750."""
    os.chown(folder, 0, uid)
    os.chmod(folder, 0o750)


def share_data(source: Path, target: Path) -> None:
    """The sandbox's data set (the stand-in test split) inside the job folder: hard links where the
    file system allows (no copy), else copies. The cache that holds it stays closed."""
    target.mkdir()
    for item in source.iterdir():
        if item.is_file():
            try:
                os.link(item, target / item.name)
            except OSError:
                shutil.copyfile(item, target / item.name)
    for path in [target, *target.iterdir()]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


def kill_uid(uid: int, proc: Path = Path("/proc")) -> None:
    """SIGKILL every process of `uid` until none is left (at most ~2 s): without a pid namespace a
    double-forked child outlives the run's process group, and would hold the uid's lease open."""
    for _ in range(100):
        found = []
        for entry in os.scandir(proc):
            if entry.name.isdigit():
                try:
                    if entry.stat().st_uid == uid:
                        os.kill(int(entry.name), signal.SIGKILL)
                        found.append(entry.name)
                except OSError:
                    continue
        if not found:
            return
        time.sleep(0.02)


def landlock_rules(readable: Iterable[Path], writable: Iterable[Path], hidden: Iterable[Path]) -> list[tuple[str, str]]:
    """The Landlock rules of one run ([(path, kind)], `runtime/landlock.py`): the system's files,
    /proc, the few devices, `readable` (the interpreter's folders, the job's inputs and data) and
    `writable` (the job's out/ and work/), less every path of `hidden` inside them.

    Landlock only allows, it has no "except": a folder that holds a hidden path is granted entry
    by entry instead, down to the hidden path, which gets no rule (nor does a symlink into it).
    Such a folder itself may only be listed (Python's imports list the standard library's folder,
    which holds the base installation's site-packages): Landlock's rights cover a whole subtree,
    so the names beneath it, a hidden path's too, can be listed, never read.
    A folder inside a hidden one is still granted when asked for (a virtual environment inside a
    course checkout): hiding the checkout does not hide the interpreter.
    """
    holes = {_real(p) for p in hidden if os.path.lexists(p)}
    rules: list[tuple[str, str]] = []
    for kind, paths in (
        ("read", [*map(Path, SYSTEM), Path("/proc"), *readable]),
        ("write", list(writable)),
        ("device", list(map(Path, DEVICES))),
    ):
        for path in paths:
            if os.path.lexists(path):
                real = _real(path)
                rules += [(str(p), k) for p, k in _granted(real, kind, {h for h in holes if real in h.parents})]
    return list(dict.fromkeys(rules))


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _granted(folder: Path, kind: str, holes: set[Path]) -> list[tuple[Path, str]]:
    """`folder` itself if no hole lies beneath it, else the right to list it and its entries but
    the holes, recursively."""
    if not holes:
        return [(folder, kind)]
    out: list[tuple[Path, str]] = [(folder, "list")]
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return []
    for entry in entries:
        if entry.is_symlink():
            continue  # a link needs no rule (Landlock checks its target), and a target elsewhere gets none
        real = Path(entry.path)
        inside = {h for h in holes if h == real or real in h.parents}
        if not inside:
            out.append((real, kind))
        elif real not in holes:
            out += _granted(real, kind, inside)
    return out
