"""The bubblewrap command line: what a sandbox can see (mounts, masks), and dropping to the sandbox's uid.

Apart from the watchdog and the cgroup because it is the one part that depends on bubblewrap's
options and on the host's file layout; nothing here starts a process but the availability probe.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import uids


@dataclass(frozen=True)
class Mount:
    """A host path made visible at `target` inside the sandbox."""

    source: Path
    target: str
    writable: bool = False


def bubblewrap_available() -> bool:
    """bwrap needs to exist and to be allowed to make namespaces (root, or unprivileged userns)."""
    bwrap = shutil.which("bwrap")
    if not bwrap or not shutil.which("setpriv"):
        return False
    try:
        probe = subprocess.run(
            [bwrap, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "--die-with-parent", "true"],
            capture_output=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def can_drop_uid() -> bool:
    """Whether student code can be started as an unprivileged uid here (the no-namespace level):
    root, and `setpriv` really switching to the top uid of the pool."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return False
    try:
        top = uids.pool()[-1]
        probe = subprocess.run(
            ["setpriv", f"--reuid={top}", f"--regid={top}", "--clear-groups", "--", "true"],
            capture_output=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def python_mounts() -> list[Mount]:
    """The interpreter, its standard library and site-packages, read-only at the same paths.

    Both the venv (`sys.prefix`) and the base installation are needed: a venv's interpreter is
    a symlink into the base one.
    """
    paths: set[Path] = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        value = sysconfig.get_paths().get(key)
        if value:
            paths.add(Path(value).resolve())
    paths.add(Path(sys.executable).resolve().parent)
    # Keep only the outermost paths; /usr is mounted anyway.
    keep = sorted(p for p in paths if not any(q != p and q in p.parents for q in paths))
    return [Mount(p, str(p)) for p in keep if not (p == Path("/usr") or Path("/usr") in p.parents)]


def _ancestors(target: str) -> list[str]:
    parts = Path(target).parts[1:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def as_user(argv: Sequence[str], *, sandbox: bool, uid: int | None) -> list[str]:
    """`argv` run as the unprivileged `uid`: what a supervisor in the sandbox starts student code
    with. Every capability is dropped (also from the bounding and inheritable sets) and no
    privilege can be regained (bwrap sets no_new_privs). Without a sandbox, `argv` as it is.

    The uid is one leased for this sandbox alone (`uids.lease`), never a default: sandboxes that
    share a uid share its process budget (RLIMIT_NPROC counts per uid, machine-wide)."""
    if not sandbox:
        return list(argv)
    if uid is None:
        raise ValueError("a sandboxed run needs a uid of its own (uids.lease)")
    return [
        "setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--",
        *argv,
    ]


def bwrap_argv(mounts: Sequence[Mount], masked: Iterable[Path], cwd: str, env: dict[str, str]) -> list[str]:
    """The bubblewrap command line (without the program to run).

    Parent folders of every mount are created with mode 0755 first: bwrap would make them 0700,
    and the unprivileged uid would then silently fail to reach the interpreter.
    """
    argv = [
        "bwrap",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        # the supervisor keeps exactly what it needs to start student code as another uid
        "--cap-drop",
        "ALL",
        "--cap-add",
        "CAP_SETUID",
        "--cap-add",
        "CAP_SETGID",
        "--cap-add",
        "CAP_SETPCAP",
    ]
    argv += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(f"/{name}"):
            argv += ["--symlink", os.readlink(f"/{name}"), f"/{name}"]
        elif os.path.isdir(f"/{name}"):
            argv += ["--ro-bind", f"/{name}", f"/{name}"]
    argv += ["--perms", "0755", "--dir", "/etc"]  # else bwrap makes it 0700 and the sandbox's uid reads nothing there
    for etc in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime", "/etc/nsswitch.conf"):
        if os.path.exists(etc):
            argv += ["--ro-bind", etc, etc]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    made: set[str] = {"/", "/usr", "/tmp", "/proc", "/dev", "/etc"}
    for mount in mounts:
        for parent in _ancestors(mount.target):
            if parent not in made:
                argv += ["--perms", "0755", "--dir", parent]
                made.add(parent)
        argv += ["--bind" if mount.writable else "--ro-bind", str(mount.source), mount.target]
        made.add(mount.target)
    for path in masked:
        argv += ["--tmpfs", str(path)]
    for key, value in env.items():
        argv += ["--setenv", key, value]
    argv += ["--chdir", cwd]
    return argv
