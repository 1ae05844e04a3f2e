"""Writing the grader's own files: one atomic writer for results, reports, exports and metadata.

Why atomic: a batch is killed and resumed, reports are read while a batch runs, and an LMS upload
may pick a file up at any moment; a reader must see the old file or the new one, never half of
one. The temporary file is unique per call (`mkstemp`), not per process, because a batch's
workers are threads of one process and may write the same folder at once; it is removed if
writing fails, so no `.tmp` is ever left behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .grading.untrusted import encodable


def write_atomic(path: Path, data: str | bytes, *, durable: bool = False) -> Path:
    """Write `data` to `path` via a temporary file in the same folder and a rename.

    Text is written as UTF-8 with lone surrogates (a file name from a zip made elsewhere, say)
    replaced rather than failing the write, and with it a batch. `durable` also syncs the file to
    disk before the rename: for results, which a resumed batch trusts instead of regrading.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = encodable(data).encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
