"""The cgroup of one sandbox: memory and process limits, the list of its processes, killing them.

Apart from the launcher and the watchdog, which start and watch a run, because this is only the kernel's
bookkeeping for it. v1 (memory + pids controllers, one folder each) and v2 (one folder), made
below the grader's own cgroup, or nothing where that is not writable.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

_CGROUP_ROOT = Path("/sys/fs/cgroup")


class Cgroup:
    """A fresh cgroup (v1: memory + pids controllers; v2: one folder) below our own, or nothing."""

    def __init__(self, memory_bytes: int, pids: int) -> None:
        self.dirs: list[Path] = []
        self.applied: list[str] = []
        name = f"dnn-grader-{uuid.uuid4().hex[:12]}"
        own = self._own_paths()
        self.version = "cgroup-v2" if "" in own else "cgroup-v1"
        if "" in own:  # cgroup v2 (unified)
            self._make(own[""] / name, {"memory.max": memory_bytes, "pids.max": pids,
                                        "memory.swap.max": 0})
        else:
            if "memory" in own:
                self._make(own["memory"] / name, {"memory.limit_in_bytes": memory_bytes,
                                                  "memory.memsw.limit_in_bytes": memory_bytes})
            if "pids" in own:
                self._make(own["pids"] / name, {"pids.max": pids})

    @staticmethod
    def _own_paths() -> dict[str, Path]:
        paths: dict[str, Path] = {}
        try:
            lines = Path("/proc/self/cgroup").read_text().splitlines()
        except OSError:
            return paths
        v1 = [line for line in lines if not line.startswith("0::")]
        for line in lines:
            _, controllers, rel = line.split(":", 2)
            for ctl in controllers.split(","):
                if ctl in ("memory", "pids") and v1:
                    base = _CGROUP_ROOT / ctl
                    paths[ctl] = base / rel.lstrip("/") if (base / rel.lstrip("/")).is_dir() else base
            if controllers == "" and not (_CGROUP_ROOT / "memory").is_dir():
                paths[""] = _CGROUP_ROOT / rel.lstrip("/")
        return paths

    def _make(self, path: Path, settings: dict[str, int]) -> None:
        _sweep_stale(path.parent)
        try:
            path.mkdir()
        except OSError:
            return
        self.dirs.append(path)
        for key, value in settings.items():
            try:
                (path / key).write_text(str(value))
                self.applied.append(f"cgroup:{key}")
            except OSError:
                pass  # e.g. memsw without swap accounting: the plain memory limit still holds

    @property
    def memory_level(self) -> str | None:
        """`cgroup-v1`/`cgroup-v2` if a memory limit is really set, else None."""
        key = "cgroup:memory.max" if self.version == "cgroup-v2" else "cgroup:memory.limit_in_bytes"
        return self.version if key in self.applied else None

    @property
    def pids_level(self) -> str | None:
        """`cgroup-v1`/`cgroup-v2` if a process limit is really set, else None."""
        return self.version if "cgroup:pids.max" in self.applied else None

    def pids(self) -> set[int]:
        found: set[int] = set()
        for path in self.dirs:
            try:
                found |= {int(p) for p in (path / "cgroup.procs").read_text().split()}
            except (OSError, ValueError):
                pass
        return found

    def oom_killed(self) -> bool:
        for path in self.dirs:
            for name in ("memory.oom_control", "memory.events"):
                try:
                    for line in (path / name).read_text().splitlines():
                        key, _, value = line.partition(" ")
                        if key == "oom_kill" and int(value) > 0:
                            return True
                except (OSError, ValueError):
                    continue
        return False

    def kill_all(self) -> None:
        for path in self.dirs:
            try:
                (path / "cgroup.kill").write_text("1")
            except OSError:
                pass
        for _ in range(50):
            remaining = self.pids()
            if not remaining:
                return
            for pid in remaining:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.05)

    def remove(self) -> None:
        for path in self.dirs:
            for _ in range(40):
                try:
                    path.rmdir()
                    break
                except OSError:
                    time.sleep(0.05)


def _sweep_stale(parent: Path, min_age: float = 600.0) -> None:
    """Remove cgroups left behind by a grader that was killed (kill -9 skips our cleanup).

    Only old ones: a fresh, still empty cgroup may belong to a sandbox that is about to join it.
    rmdir fails on a cgroup with processes in it, so a running sandbox is never touched.
    """
    try:
        stale = [p for p in parent.glob("dnn-grader-*") if time.time() - p.stat().st_mtime > min_age]
    except OSError:
        return
    for path in stale:
        try:
            path.rmdir()
        except OSError:
            pass
