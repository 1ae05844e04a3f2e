"""The job folder: what the sandbox sees of one run, laid out on the host before it starts.

`in/` (the runtime, calls.json, inputs.npz: the grader's alone, which the supervisor hands over after
the last cell), `lib/` (only the data loader of the grader's package),
`out/` and `work/` (the only folders the sandbox's uid may write), the mounts that show them at
`/job`, the environment of the notebook's interpreter, and what must stay hidden from it (the
grader's package, the real Fashion-MNIST, the base interpreter's site-packages).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import data, sandbox
from ..course.locate import installed_courses, is_course
from .notebook import CodeCell

RUNTIME_DIR = Path(__file__).parent.parent / "runtime"
# What the sandbox runs, copied flat into in/runtime/: the runtime, the wire it shares with the grader,
# and the call handlers kept beside the question module that needs them (questions/*_calls.py).
RUNTIME_FILES = (
    *(
        RUNTIME_DIR / name
        for name in (
            "supervisor.py",
            "landlock.py",
            "runner.py",
            "processes.py",
            "probe.py",
            "safe.py",
            "handlers.py",
            "npz.py",
        )
    ),
    Path(__file__).parent.parent / "wire.py",
    *sorted((Path(__file__).parent.parent / "questions").glob("*_calls.py")),
)
EVENTS_FILE = "events.json"  # written beside kept outputs
DATA_MODULE = Path(__file__).parent.parent / "data.py"
JOB = "/job"


@dataclass(frozen=True)
class Job:
    """Everything one run needs, prepared on the host."""

    cells: list[CodeCell]
    calls: list[dict[str, Any]]
    inputs: dict[str, np.ndarray]
    submission: Path
    data_dir: Path | None

    @property
    def items(self) -> frozenset[str]:
        """Every item of this job as the runner names it (`runtime/runner.py`): only these count in
        the events, since the notebook can print any name."""
        return frozenset({f"cell:{c.index}" for c in self.cells} | {f"probe:{c['id']}" for c in self.calls})


def job_env(job_root: str, data: bool, tf_threads: int) -> dict[str, str]:
    env = {
        "HOME": f"{job_root}/work",
        "PYTHONPATH": f"{job_root}/lib",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": f"{job_root}/work/.matplotlib",
        "IPYTHONDIR": f"{job_root}/work/.ipython",
        "KERAS_HOME": f"{job_root}/work/.keras",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "TMPDIR": f"{job_root}/work",  # without namespaces /tmp is the host's, shared with later notebooks
        "PATH": "/usr/bin:/bin",
    }
    if tf_threads > 0:
        env |= {
            "TF_NUM_INTRAOP_THREADS": str(tf_threads),
            "TF_NUM_INTEROP_THREADS": str(tf_threads),
            "OMP_NUM_THREADS": str(tf_threads),
        }
    if data:
        env["FASHION_MNIST_DIR"] = f"{job_root}/data"
    return env


def layout(root: Path, job: Job, uid: int | None) -> None:
    (root / "in" / "runtime").mkdir(parents=True)
    for path in RUNTIME_FILES:
        shutil.copy(path, root / "in" / "runtime" / path.name)
    (root / "lib" / "autograder").mkdir(parents=True)
    (root / "lib" / "autograder" / "__init__.py").write_text('"""Only the data loader is visible in the sandbox."""\n')
    shutil.copy(DATA_MODULE, root / "lib" / "autograder" / "data.py")
    (root / "in" / "calls.json").write_text(json.dumps(job.calls))
    np.savez(root / "in" / "inputs.npz", **job.inputs)
    os.chmod(root / "in" / "inputs.npz", 0o600)  # the supervisor reads it; the notebook's uid cannot
    for name in ("out", "work"):
        (root / name).mkdir()
    shutil.copy(job.submission, root / "work" / "submission.ipynb")
    if uid is not None and os.geteuid() == 0:  # the sandbox's own uid (uids.py) may write only these
        for name in ("out", "work"):
            for path in [root / name, *(root / name).rglob("*")]:
                os.chown(path, uid, uid)


def job_mounts(root: Path, data_dir: Path | None) -> list[sandbox.Mount]:
    mounts = sandbox.python_mounts()
    mounts += [
        sandbox.Mount(root / "in", f"{JOB}/in"),
        sandbox.Mount(root / "lib", f"{JOB}/lib"),
        sandbox.Mount(root / "out", f"{JOB}/out", writable=True),
        sandbox.Mount(root / "work", f"{JOB}/work", writable=True),
    ]
    if data_dir is not None:
        mounts.append(sandbox.Mount(data_dir, f"{JOB}/data"))
    return mounts


def secret_paths() -> list[Path]:
    """What the notebook must never read and that may lie where it could: the grader's package and
    every place the real Fashion-MNIST may live (the installed course: `masked_paths`, `execute._without_namespaces`)."""
    found = [Path(__file__).resolve().parent.parent]
    for _, folder in data.candidate_dirs():
        try:
            found.append(folder.resolve())
        except OSError:
            continue
    return found


def hidden_paths() -> list[Path]:
    """Everything the notebook must not see even where it lies inside what it may see (`masked_paths`
    under bubblewrap, the holes of the Landlock rules without it): the grader's package, the real
    test split, every course folder (solutions, the example class), and the base interpreter's
    own site-packages when the grader runs from a virtual environment."""
    candidates = [*secret_paths(), *(c.resolve() for c in installed_courses() if is_course(c))]
    if sys.prefix != sys.base_prefix:
        base = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_exec_prefix})
        candidates += [Path(base[key]).resolve() for key in ("purelib", "platlib")]
    return candidates


def masked_paths() -> list[Path]:
    """Host folders that a mount would otherwise show to the submission, hidden by an empty tmpfs.

    - the grader's own package and the course a wheel installs beside it (`<prefix>/share/dnn-grader`,
      with solutions/), if inside a mounted prefix;
    - every place the real Fashion-MNIST may live (Debian's package under /usr/share/datasets,
      `$FASHION_MNIST_DIR`, keras' cache) when it lies inside something mounted: /usr is mounted
      whole, and the real test split must never be readable in the sandbox (only the stand-in
      under /job/data is);
    - the base interpreter's own site-packages when the grader runs from a virtual environment:
      the base installation is mounted for its standard library, and a package installed there by
      hand must not be importable by a submission (it sees the venv's packages only).
    """
    visible = [Path("/usr")] + [m.source for m in sandbox.python_mounts()]
    hidden = []
    for path in hidden_paths():
        if path.is_dir() and any(path == v or v in path.parents for v in visible) and path not in hidden:
            hidden.append(path)
    return hidden
