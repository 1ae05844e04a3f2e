"""Runs inside the VM (`vm.py`), as its `/init` hands over: grade each notebook of `CASES` with the
`autograder grade` command, as root, as an instructor would, and print one `RESULT {json}` line per
case on the console, plus one about the kernel first. Only the standard library and the package.

What the result file says is taken from the result file; what only the kernel knows (that
`pids.max` refused forks, that `memory.max` killed) is read from the sandbox's own cgroup while it
lives (`pids.events`, `memory.events`), since the grader removes the cgroup when the run ends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")
COURSE = Path(os.environ.get("GUEST_COURSE", "/opt/dnn-grader"))
CASES = Path(os.environ.get("GUEST_CASES", "/opt/cases"))
OUT = Path("/tmp/graded")
SEED = "2026"


def say(**fields: object) -> None:
    print("RESULT " + json.dumps(fields, sort_keys=True), flush=True)


def kernel_facts() -> dict:
    mounts = [line.split()[:3] for line in Path("/proc/mounts").read_text().splitlines() if "cgroup" in line]
    return {
        "case": "kernel",
        "release": os.uname().release,
        "cgroup_mounts": mounts,
        "controllers": (CGROUP / "cgroup.controllers").read_text().split(),
        "own_cgroup": Path("/proc/self/cgroup").read_text().strip(),
        "root_files": sorted(p.name for p in CGROUP.glob("cgroup.*")),
        "bwrap": subprocess.run(["bwrap", "--version"], capture_output=True, text=True).stdout.strip(),
    }


class Events:
    """The largest counters seen in any sandbox cgroup (`dnn-grader-*`) while a case runs."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}
        self.cgroups: set[str] = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.poll, daemon=True)

    def poll(self) -> None:
        while not self.stop.is_set():
            try:
                self.read()
            except OSError:
                pass  # a cgroup removed while the tree was walked: read again at the next poll
            self.stop.wait(0.05)

    def read(self) -> None:
        for folder in CGROUP.rglob("dnn-grader-*"):
            self.cgroups.add(str(folder.relative_to(CGROUP)))
            for name, keys in (("pids.events", ("max",)), ("memory.events", ("max", "oom", "oom_kill"))):
                try:
                    lines = (folder / name).read_text().splitlines()
                except OSError:
                    continue
                for line in lines:
                    key, _, value = line.partition(" ")
                    if key in keys:
                        label = f"{name.split('.')[0]}.{key}"
                        self.seen[label] = max(self.seen.get(label, 0), int(value))

    def __enter__(self) -> Events:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def grade(notebook: Path) -> dict:
    out = OUT / notebook.stem
    started = time.monotonic()
    with Events() as events:
        proc = subprocess.run(
            [sys.executable, "-m", "autograder", "grade", str(notebook), "--out", str(out), "--seed", SEED],
            cwd=COURSE,
            capture_output=True,
            text=True,
            timeout=900,
        )
    found: dict = {
        "case": notebook.stem,
        "exit": proc.returncode,
        "seconds": round(time.monotonic() - started, 1),
        "events": events.seen,
        "sandbox_cgroups": sorted(events.cgroups),
        "left_cgroups": sorted(str(p.relative_to(CGROUP)) for p in CGROUP.rglob("dnn-grader-*")),
        "stderr": proc.stderr[-1500:],
    }
    path = out / f"{notebook.stem}.json"
    if not path.is_file():
        files = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
        return found | {"result": None, "files": files, "stdout": proc.stdout[-1500:]}
    result = json.loads(path.read_text())
    execution = result.get("execution") or {}
    return found | {
        "score": result.get("score"),
        "max_score": result.get("max_score"),
        "error": result.get("error"),
        "isolation": result.get("isolation"),
        "memory_exceeded": execution.get("memory_exceeded"),
        "killed": execution.get("killed"),
        "passes": execution.get("passes"),
        "cell_errors": [(e.get("cell"), e.get("status"), e.get("ename")) for e in execution.get("cell_errors", [])],
        "lost": sorted(q["id"] for q in result.get("questions", []) if q.get("score") != q.get("max_score")),
    }


def main() -> None:
    say(**kernel_facts())
    for notebook in sorted(CASES.glob("*.ipynb")):
        print(f"guest: grading {notebook.name}", flush=True)
        try:
            say(**grade(notebook))
        except Exception as exc:  # noqa: BLE001 - reported to the host, which fails the test
            say(case=notebook.stem, crash=f"{type(exc).__name__}: {exc}")
    say(case="done")


if __name__ == "__main__":
    main()
