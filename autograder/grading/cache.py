"""The grader's cache folder, safe for several workers (threads, processes, Dask workers) at once.

Reference outputs and the sandbox's copy of the data set are computed once and shared. Whoever
holds the lock computes; the others wait, then find the result. Entries are written to a
temporary name and renamed, so a reader never sees half an entry.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` + '.lock' (created as needed), released on exit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
