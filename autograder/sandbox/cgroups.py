"""The cgroup of one sandbox: memory and process limits, its CPU share and CPU time, its processes.

Apart from the launcher and the watchdog, which start and watch a run, because this is only the
kernel's bookkeeping for it. v1 (memory + pids controllers, one folder each) and v2 (one folder),
made below the grader's own cgroup. Each sandbox also gets a CPU share of its own (v1 `cpu.shares`,
v2 `cpu.weight`, both the kernel's default, so every sandbox weighs as much as one ordinary busy
process of the machine), whatever number of processes it runs: 200 busy processes of one sandbox
get the CPU one process of its neighbour gets. Its CPU time (v1 `cpuacct.usage`, v2 `cpu.stat`)
is what the watchdog counts against the time limits (`watchdog.py`, docs/limits.md). A process
that leaves its session (`setsid`, a double fork) stays in every cgroup it was born in, so the
cgroup, not the process group, is what `kill_all` ends. Nothing here fails silently: a limit that could not be set
is left out of `applied` and said in `problems`, and `levels.require` turns it into an
infrastructure error unless the config accepts the weaker level.

cgroup v2 (`delegate_v2`): a child gets `memory.max` and `pids.max` only once its parent lists
`+memory +pids` in `cgroup.subtree_control`, and a cgroup holding processes cannot enable
controllers for its children ("no internal processes"). So the grader's own processes move into
a leaf (`dnn-grader.grader`) first, then the controllers are enabled, then each sandbox gets a
sibling leaf of its own. The hierarchy's root is the exception (a grader started by an init
without systemd, as in the cgroup v2 VM of the test suite): it is exempt from that rule and its
kernel threads cannot move, so nothing moves and the controllers are enabled in place.

Every file operation goes through `Kernel`, so that unit tests run against a fake cgroup2 tree in a
temporary folder that behaves as cgroupfs does (files appear with mkdir, writes to missing files
fail, no internal processes): `tests/unit/fake_cgroup2.py`.
"""

from __future__ import annotations

import errno
import os
import signal
import time
import uuid
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
SELF_CGROUP = Path("/proc/self/cgroup")
PREFIX = "dnn-grader-"  # one sandbox's cgroup
LEAF = "dnn-grader.grader"  # the grader's own processes (v2); not matched by PREFIX + "*"
CONTROLLERS = ("memory", "pids")
CPU_V1 = ("cpu", "cpuacct")  # v1: the share and the CPU time, one hierarchy each or co-mounted
CPU_SHARES = 1024  # v1: the weight of one nice-0 process, the kernel's default for a cgroup
CPU_WEIGHT = 100  # v2: the same, on v2's scale


class Kernel:
    """The file operations on cgroupfs, as cgroupfs does them: a write never creates a file (a
    missing interface file is a controller that is not enabled, and must fail, not be created)."""

    def read(self, path: Path) -> str:
        return path.read_text()

    def write(self, path: Path, text: str) -> None:
        fd = os.open(path, os.O_WRONLY)  # no O_CREAT
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)

    def mkdir(self, path: Path) -> None:
        path.mkdir()

    def rmdir(self, path: Path) -> None:
        path.rmdir()


class Cgroup:
    """A fresh cgroup (v1: memory + pids controllers; v2: one folder) below our own, or nothing.

    `root`, `self_cgroup` and `kernel` are the machine's unless a test passes a fake tree;
    `enabled=False` (config `cgroups = false`) makes nothing.
    """

    def __init__(
        self,
        memory_bytes: int,
        pids: int,
        *,
        root: Path = CGROUP_ROOT,
        self_cgroup: Path = SELF_CGROUP,
        kernel: Kernel | None = None,
        enabled: bool = True,
    ) -> None:
        self.dirs: list[Path] = []
        self.cpu_usage_file: Path | None = None  # v1 cpuacct.usage (ns); v2 reads cpu.stat instead
        self.applied: list[str] = []
        self.problems: list[str] = []
        self.kernel = kernel or Kernel()
        self.root = root
        self.version = "none"
        if not enabled:  # cgroups turned off in the config: no limits here, none asked for
            return
        name = f"{PREFIX}{uuid.uuid4().hex[:12]}"
        v1, v2 = self._own_paths(self_cgroup)
        self.version = "cgroup-v1" if v1 else "cgroup-v2"
        if v1:
            if "memory" in v1:
                self._make(
                    v1["memory"] / name,
                    {"memory.limit_in_bytes": memory_bytes},
                    optional={"memory.memsw.limit_in_bytes": memory_bytes},
                )  # memsw: only with swap accounting
            else:
                self.problems.append("no cgroup v1 memory controller for the grader's process")
            if "pids" in v1:
                self._make(v1["pids"] / name, {"pids.max": pids})
            else:
                self.problems.append("no cgroup v1 pids controller for the grader's process")
            self._make_cpu_v1(v1, name)
        elif v2 is not None:
            base = delegate_v2(self.kernel, v2, self.problems)
            if base is not None:
                enabled = set(_words(self._read(base / "cgroup.subtree_control")))
                required = {"memory.max": memory_bytes} if "memory" in enabled else {}
                required |= {"pids.max": pids} if "pids" in enabled else {}
                if "cpu" not in enabled:
                    enabled |= enable_cpu_v2(self.kernel, base, self.problems)
                required |= {"cpu.weight": CPU_WEIGHT} if "cpu" in enabled else {}
                self._make(base / name, required, optional={"memory.swap.max": 0} if "memory" in enabled else {})
        else:
            self.problems.append(f"no cgroup found for the grader's process in {self_cgroup}")

    def _read(self, path: Path) -> str:
        try:
            return self.kernel.read(path)
        except OSError:
            return ""

    def _own_paths(self, self_cgroup: Path) -> tuple[dict[str, Path], Path | None]:
        """v1: controller -> the grader's folder in that hierarchy; v2: the grader's folder."""
        v1: dict[str, Path] = {}
        v2: Path | None = None
        for line in self._read(self_cgroup).splitlines():
            _, controllers, rel = (line.split(":", 2) + ["", ""])[:3]
            for ctl in controllers.split(","):
                base = self.root / ctl
                if ctl in CONTROLLERS + CPU_V1 and base.is_dir():
                    v1[ctl] = base / rel.lstrip("/") if (base / rel.lstrip("/")).is_dir() else base
            if line.startswith("0::"):
                v2 = self.root / rel.lstrip("/")
        return v1, v2

    def _make_cpu_v1(self, v1: dict[str, Path], name: str) -> None:
        """The share (`cpu`) and the CPU time (`cpuacct`): one folder if the two are co-mounted
        (`cpu,cpuacct`, most distributions), two otherwise (this machine)."""
        if "cpu" not in v1 or "cpuacct" not in v1:
            missing = " and ".join(c for c in CPU_V1 if c not in v1)
            self.problems.append(f"no cgroup v1 {missing} controller for the grader's process")
            return
        self._make(v1["cpu"] / name, {"cpu.shares": CPU_SHARES})
        if v1["cpuacct"].resolve() != v1["cpu"].resolve():
            self._make(v1["cpuacct"] / name, {})
        self.cpu_usage_file = v1["cpuacct"] / name / "cpuacct.usage"

    def _make(self, path: Path, required: dict[str, int], optional: dict[str, int] | None = None) -> None:
        _sweep_stale(path.parent, self.kernel)
        if path in self.dirs:
            return
        try:
            self.kernel.mkdir(path)
        except OSError as exc:
            self.problems.append(f"cannot make the sandbox's cgroup {path}: {exc.strerror or exc}")
            return
        self.dirs.append(path)
        for key, value in {**required, **(optional or {})}.items():
            try:
                self.kernel.write(path / key, str(value))
                self.applied.append(f"cgroup:{key}")
            except OSError as exc:
                if key in required:
                    self.problems.append(f"cannot set {key} in {path}: {exc.strerror or exc}")

    @property
    def memory_level(self) -> str | None:
        """`cgroup-v1`/`cgroup-v2` if a memory limit is really set, else None."""
        key = "cgroup:memory.max" if self.version == "cgroup-v2" else "cgroup:memory.limit_in_bytes"
        return self.version if key in self.applied else None

    @property
    def pids_level(self) -> str | None:
        """`cgroup-v1`/`cgroup-v2` if a process limit is really set, else None."""
        return self.version if "cgroup:pids.max" in self.applied else None

    @property
    def cpu_level(self) -> str | None:
        """`cgroup-v1`/`cgroup-v2` if the sandbox has a CPU share of its own and its CPU time can
        be read, else None (then the time limits are the wall clock's alone)."""
        key = "cgroup:cpu.weight" if self.version == "cgroup-v2" else "cgroup:cpu.shares"
        return self.version if key in self.applied and self.cpu_seconds() is not None else None

    def cpu_seconds(self) -> float | None:
        """CPU time used by every process the sandbox ever held (those ended included), or None
        when it cannot be read."""
        try:
            if self.version == "cgroup-v1" and self.cpu_usage_file is not None:
                return int(self.kernel.read(self.cpu_usage_file)) / 1e9
            if self.version == "cgroup-v2" and self.dirs:
                for line in self.kernel.read(self.dirs[0] / "cpu.stat").splitlines():
                    key, _, value = line.partition(" ")
                    if key == "usage_usec":
                        return int(value) / 1e6
        except (OSError, ValueError):
            pass
        return None

    def tasks(self) -> set[int]:
        """Every thread of the sandbox now (v1 `tasks`, v2 `cgroup.threads`): whose run delay the
        watchdog sums (`watchdog.WaitClock`)."""
        found: set[int] = set()
        for path in self.dirs:
            for name in ("tasks", "cgroup.threads"):
                try:
                    found |= {int(p) for p in _words(self.kernel.read(path / name))}
                    break
                except (OSError, ValueError):
                    continue
        return found

    def pids(self) -> set[int]:
        found: set[int] = set()
        for path in self.dirs:
            try:
                found |= {int(p) for p in _words(self.kernel.read(path / "cgroup.procs"))}
            except (OSError, ValueError):
                pass
        return found

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of this cgroup for memory (v2: `memory.events`;
        v1: `memory.oom_control`, kernels 4.13+), counted as `oom_kill`."""
        for path in self.dirs:
            for name in ("memory.oom_control", "memory.events"):
                try:
                    for line in self.kernel.read(path / name).splitlines():
                        key, _, value = line.partition(" ")
                        if key == "oom_kill" and int(value) > 0:
                            return True
                except (OSError, ValueError):
                    continue
        return False

    def kill_all(self) -> None:
        """SIGKILL every process: `cgroup.kill` where the kernel has it (v2, 5.14+: atomic, also
        catches a process forking meanwhile), then signal whatever is still listed."""
        for path in self.dirs:
            try:
                self.kernel.write(path / "cgroup.kill", "1")
            except OSError:
                pass  # v1, or an older v2 kernel: the loop below
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
                    self.kernel.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


def delegate_v2(kernel: Kernel, own: Path, problems: list[str]) -> Path | None:
    """The cgroup v2 folder the grader owns, with memory and pids enabled for its children.

    The grader's folder is `own`, or its parent once the grader moved itself into `LEAF` (a second
    sandbox of the same process, or a grader started from a shell that an earlier one moved).
    Every process of that folder moves into the leaf first (no internal processes), then
    `+memory +pids` go into `cgroup.subtree_control`. A controller that is not delegated, or a
    write refused, is appended to `problems` (and its limit is then not applied).
    """
    base = own.parent if own.name == LEAF else own
    try:
        available = set(_words(kernel.read(base / "cgroup.controllers")))
        enabled = set(_words(kernel.read(base / "cgroup.subtree_control")))
    except OSError as exc:
        problems.append(f"cannot read the grader's cgroup {base}: {exc.strerror or exc}")
        return None
    missing = [c for c in CONTROLLERS if c not in available]
    if missing:
        problems.append(
            f"the {' and '.join(missing)} controller{'s are' if len(missing) > 1 else ' is'} not delegated "
            f"to the grader's cgroup {base} (its cgroup.controllers: {' '.join(sorted(available)) or 'none'})"
        )
    wanted = [c for c in CONTROLLERS if c in available and c not in enabled]
    if not wanted:
        return base if enabled & set(CONTROLLERS) else None
    if not (base / "cgroup.type").exists():
        # The hierarchy's root (only it lacks cgroup.type): a grader started by an init without
        # systemd, or in a VM. It is exempt from "no internal processes", and the kernel threads
        # it holds cannot move (EINVAL): nothing moves, the controllers are simply enabled.
        return _enable(kernel, base, wanted, enabled, problems)
    leaf = base / LEAF
    try:
        kernel.mkdir(leaf)
    except FileExistsError:
        pass
    except OSError as exc:
        problems.append(f"cannot make the grader's leaf cgroup {leaf}: {exc.strerror or exc}")
        return None
    try:
        for pid in _words(kernel.read(base / "cgroup.procs")):
            try:
                kernel.write(leaf / "cgroup.procs", pid)
            except ProcessLookupError:
                continue  # exited meanwhile
    except OSError as exc:
        problems.append(f"cannot move the grader's processes into {leaf}: {exc.strerror or exc}")
        return None
    return _enable(kernel, base, wanted, enabled, problems)


def _enable(kernel: Kernel, base: Path, wanted: list[str], enabled: set[str], problems: list[str]) -> Path | None:
    """`+wanted` in `base`'s cgroup.subtree_control: `base`, or None if no controller we need is on."""
    try:
        kernel.write(base / "cgroup.subtree_control", " ".join(f"+{c}" for c in wanted))
    except OSError as exc:
        hint = " (processes left in it: no internal processes)" if exc.errno == errno.EBUSY else ""
        problems.append(
            f"cannot enable {' '.join(wanted)} in {base}/cgroup.subtree_control: {exc.strerror or exc}{hint}"
        )
        return base if enabled & set(CONTROLLERS) else None
    return base


def enable_cpu_v2(kernel: Kernel, base: Path, problems: list[str]) -> set[str]:
    """`{"cpu"}` once `+cpu` is in the subtree control of `base` (the folder `delegate_v2`
    returned, whose own processes it moved to the leaf), else an empty set and the reason in
    `problems`: the sandbox then has no CPU share of its own."""
    try:
        available = set(_words(kernel.read(base / "cgroup.controllers")))
    except OSError:
        available = set()
    if "cpu" not in available:
        problems.append(f"the cpu controller is not delegated to the grader's cgroup {base}")
        return set()
    try:
        kernel.write(base / "cgroup.subtree_control", "+cpu")
    except OSError as exc:
        problems.append(f"cannot enable cpu in {base}/cgroup.subtree_control: {exc.strerror or exc}")
        return set()
    return {"cpu"}


def enclosing_memory_limit(root: Path = CGROUP_ROOT, self_cgroup: Path = SELF_CGROUP) -> int | None:
    """The memory limit (bytes) of the cgroup the grader runs in, or of the nearest ancestor
    visible from here: a container's own `--memory`, which binds even where /sys/fs/cgroup is
    read-only and no sandbox cgroup can be made (Docker). None: no finite limit found.

    Read-only, v1 (`memory/.../memory.limit_in_bytes`) and v2 (`.../memory.max`). Inside a
    container the path /proc/self/cgroup names may be the host's (v1 has no cgroup namespace), so
    the folders are tried from the grader's own up to the mount's root, which is the container's.
    """
    try:
        lines = self_cgroup.read_text().splitlines()
    except OSError:
        return None
    limits = []
    for line in lines:
        _, controllers, rel = (line.split(":", 2) + ["", ""])[:3]
        if "memory" in controllers.split(","):
            base, name = root / "memory", "memory.limit_in_bytes"
        elif line.startswith("0::"):
            base, name = root, "memory.max"
        else:
            continue
        own = base / rel.lstrip("/")
        for folder in [own, *own.parents]:
            if folder == base.parent:
                break
            try:
                text = (folder / name).read_text().strip()
            except OSError:
                continue
            if text.isdigit() and int(text) < 2**60:  # v1 writes "no limit" as a page-rounded 2**63
                limits.append(int(text))
    return min(limits) if limits else None


def _words(text: str) -> list[str]:
    return text.split()


def _sweep_stale(parent: Path, kernel: Kernel, min_age: float = 600.0) -> None:
    """Remove cgroups left behind by a grader that was killed (kill -9 skips our cleanup).

    Only old ones: a fresh, still empty cgroup may belong to a sandbox that is about to join it.
    rmdir fails on a cgroup with processes in it, so a running sandbox is never touched.
    """
    try:
        stale = [p for p in parent.glob(f"{PREFIX}*") if time.time() - p.stat().st_mtime > min_age]
    except OSError:
        return
    for path in stale:
        try:
            kernel.rmdir(path)
        except OSError:
            pass
