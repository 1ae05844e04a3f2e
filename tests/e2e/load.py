"""A loaded machine for the batch tests: busy processes outside any sandbox, ended by their pids.

A grader shares its machine (other jobs, other graders, a CI runner's neighbours). Time limits
must not blame a notebook for time the machine gave to others, so the batch tests run beside
this burner: `with cpu_burner(): ...`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

# Each burner dies with the process that started it (PR_SET_PDEATHSIG): a test run killed
# mid-way must not leave the machine loaded for what runs next.
BURN = "import ctypes, signal\nctypes.CDLL(None).prctl(1, signal.SIGKILL)\nwhile True:\n    pass"


@contextmanager
def cpu_burner(processes: int | None = None) -> Iterator[list[int]]:
    """`processes` busy interpreters (default: one per core), in the grader's own cgroups; each
    killed by its pid at the end, whatever happened meanwhile."""
    count = processes if processes is not None else os.cpu_count() or 2
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(count)]
    try:
        yield [p.pid for p in burners]
    finally:
        for proc in burners:
            proc.kill()
            proc.wait()
