"""Python run as another uid, outside any sandbox: what a notebook of that uid leaves in the
kernel (keys, SysV objects) is made and read back this way."""

from __future__ import annotations

import os
import subprocess
import sys


def python_as(uid: int, code: str, *args: str) -> str:
    """`code` run by the base interpreter (`-I -S`: reachable by any uid) as `uid`; its stdout."""
    return subprocess.run(
        [os.path.realpath(sys.executable), "-I", "-S", "-c", code, *args],
        user=uid,
        group=uid,
        extra_groups=[],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
