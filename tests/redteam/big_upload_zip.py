"""A Canvas download in which one student's submission holds 21 notebooks of 199 MiB each.

Each of mallory's files is under the 200 MiB a notebook may be and compresses about 97:1 (under
the 200:1 ratio that marks a zip bomb), so none is refused on its own; together they declare
4.1 GiB, over the archive's 4 GiB, and that refuses the whole archive: the honest students in it
are not graded either. The zip is about 45 MB; nothing of 4 GiB is ever written to disk.

    .venv/bin/python tests/redteam/big_upload_zip.py /tmp/redteam/zip/class.zip
    .venv/bin/autograder grade /tmp/redteam/zip/class.zip --out /tmp/redteam/zip/out; echo "exit $?"
"""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MIB = 1 << 20


def block() -> bytes:
    """1 MiB that deflates about 97:1: 6 random bytes in every KiB, zeros elsewhere."""
    data = bytearray(MIB)
    noise = os.urandom(MIB)
    for i in range(0, MIB, 1024):
        data[i : i + 6] = noise[i : i + 6]
    return bytes(data)


def main(target: Path, files: int = 21, mib: int = 199) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    chunk = block()
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for student, user, attachment in (("alice", 1001, 50001), ("bob", 1002, 50002)):
            zf.write(
                ROOT / "solutions/05_regularisation.ipynb", f"{student}_{user}_{attachment}_05_regularisation.ipynb"
            )
        for n in range(files):
            info = zipfile.ZipInfo(f"mallory_1007_{60000 + n}_05_regularisation-{n}.ipynb")
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as fh:
                for _ in range(mib):
                    fh.write(chunk)
    print(target, f"{target.stat().st_size / MIB:.0f} MiB")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
