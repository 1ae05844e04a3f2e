"""A fake cgroup2 filesystem in a temporary folder, laid out and behaving as the kernel's does.

What `autograder.sandbox.cgroups` relies on, and what a plain folder would get wrong:
- mkdir makes a cgroup with its interface files: `cgroup.procs`, `cgroup.controllers` (what the
  parent enables in its `cgroup.subtree_control`), `cgroup.subtree_control`, `cgroup.events`,
  `cgroup.kill`, and `memory.*` / `pids.*` / `cpu.weight` only if the parent enabled that controller (`cpu.stat`
  always);
- writing a file that does not exist fails (ENOENT): it is never created;
- `+ctl` in `cgroup.subtree_control` fails with ENOENT for a controller not in `cgroup.controllers`,
  and with EBUSY while the cgroup itself holds processes (no internal processes; the root is exempt);
- writing a pid to `cgroup.procs` moves it (it leaves every other cgroup), and fails with EBUSY
  into a cgroup that has controllers enabled for children;
- `cgroup.kill` empties the cgroup; rmdir fails with EBUSY on a cgroup with processes or children;
- `/proc/self/cgroup` (a file here) follows this process when it is moved;
- the root has no `cgroup.type`, `cgroup.events`, `cgroup.kill` and no `memory.*`/`pids.*` limits,
  and holds kernel threads (`KTHREADS`), which cannot be moved (EINVAL), as on a booted kernel.
`refuse` names interface files whose writes the "kernel" refuses (EACCES), as a cgroup the grader
does not own would.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from autograder.sandbox.cgroups import Kernel

MEMORY_EVENTS = "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n"
KTHREADS = (2, 3, 4)  # kthreadd and two of its workers: in the root cgroup, never movable


class FakeCgroup2(Kernel):
    def __init__(
        self, root: Path, *, controllers: Iterable[str] = ("cpu", "io", "memory", "pids"), refuse: Iterable[str] = ()
    ) -> None:
        self.root = root
        self.self_cgroup = root.parent / "proc-self-cgroup"
        self.refuse = set(refuse)
        self.writes: list[tuple[str, str]] = []  # (path relative to root, text), in order
        root.mkdir(parents=True)
        self._files(root, controllers, root=True)
        for pid in KTHREADS:
            self.place(pid, root)
        self.place(os.getpid(), root)

    # --- building the tree the test starts from ---------------------------------------------------

    def group(self, rel: str, *, procs: Iterable[int] = (), enable: Iterable[str] = ()) -> Path:
        """A cgroup at `rel` (parents enabled for `enable` on the way), holding `procs`."""
        path = self.root
        for part in Path(rel).parts:
            if enable:
                (path / "cgroup.subtree_control").write_text(" ".join(enable))
            path = path / part
            if not path.exists():
                self.mkdir(path)
        for pid in procs:
            self.place(pid, path)
        return path

    def place(self, pid: int, path: Path) -> None:
        for procs in self.root.rglob("cgroup.procs"):
            kept = [p for p in procs.read_text().split() if p != str(pid)]
            procs.write_text("".join(f"{p}\n" for p in kept))
        with open(path / "cgroup.procs", "a") as fh:
            fh.write(f"{pid}\n")
        if pid == os.getpid():
            self.self_cgroup.write_text(
                f"0::/{path.relative_to(self.root).as_posix()}".rstrip("/") + "\n" if path != self.root else "0::/\n"
            )

    def procs(self, path: Path) -> list[str]:
        return (path / "cgroup.procs").read_text().split()

    def _files(self, path: Path, controllers: Iterable[str], root: bool = False) -> None:
        controllers = list(controllers)
        files = {
            "cgroup.procs": "",
            "cgroup.controllers": " ".join(controllers),
            "cgroup.subtree_control": "",
        }
        if not root:
            files |= {"cgroup.events": "populated 0\nfrozen 0\n", "cgroup.type": "domain", "cgroup.kill": ""}
            if "memory" in controllers:
                files |= {
                    "memory.max": "max",
                    "memory.swap.max": "max",
                    "memory.current": "0",
                    "memory.events": MEMORY_EVENTS,
                }
            if "pids" in controllers:
                files |= {"pids.max": "max", "pids.current": "0"}
            if "cpu" in controllers:
                files |= {"cpu.weight": "100", "cpu.max": "max 100000"}
            files["cpu.stat"] = "usage_usec 0\nuser_usec 0\nsystem_usec 0\n"  # every cgroup has it
        for name, text in files.items():
            (path / name).write_text(text)

    # --- the kernel's side ------------------------------------------------------------------------

    def mkdir(self, path: Path) -> None:
        path.mkdir()  # FileExistsError as the kernel's EEXIST
        self._files(path, (path.parent / "cgroup.subtree_control").read_text().split())

    def rmdir(self, path: Path) -> None:
        if self.procs(path) or any(p.is_dir() for p in path.iterdir()):
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(path))
        shutil.rmtree(path)

    def write(self, path: Path, text: str) -> None:
        if not path.is_file():
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
        if path.name in self.refuse:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        self.writes.append((path.relative_to(self.root).as_posix(), text))
        group = path.parent
        if path.name == "cgroup.subtree_control":
            enabled = (group / "cgroup.subtree_control").read_text().split()
            available = (group / "cgroup.controllers").read_text().split()
            for token in text.split():
                sign, ctl = token[0], token[1:]
                if ctl not in available:
                    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
                if sign == "+" and group != self.root and self.procs(group):
                    raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(path))
                enabled = [c for c in enabled if c != ctl] + ([ctl] if sign == "+" else [])
            path.write_text(" ".join(sorted(enabled)))
        elif path.name == "cgroup.procs":
            if int(text) in KTHREADS:
                raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), str(path))
            if group != self.root and (group / "cgroup.subtree_control").read_text().split():
                raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(path))
            self.place(int(text), group)
        elif path.name == "cgroup.kill":
            (group / "cgroup.procs").write_text("")
        else:
            path.write_text(text)
