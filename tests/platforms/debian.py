"""A Debian root file system made with `debootstrap`, the base of the real-platform tests.

No image registry is reachable from the machines this project runs on, so a base image (Docker)
or an initramfs (a VM) is made from Debian's own packages. Building one takes minutes, so the
result is kept under a content key (`key`): the suite, the variant and the packages, nothing of
the machine. Gradescope's base images are Ubuntu; bookworm is the closest this machine can
build (docs/gradescope.md says what differs).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

MIRROR = "http://deb.debian.org/debian"
BUILDER_VERSION = 1  # raise when what `build` does changes, so that cached trees are not reused


@dataclass(frozen=True)
class RootfsSpec:
    """What a root file system is made of; `key` names it wherever it is cached."""

    suite: str = "bookworm"
    variant: str = "minbase"
    include: tuple[str, ...] = ("python3", "python3-venv", "python3-pip", "ca-certificates")

    @property
    def key(self) -> str:
        text = f"{BUILDER_VERSION} {self.suite} {self.variant} {','.join(sorted(self.include))}"
        return f"{self.suite}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


BOOKWORM = RootfsSpec()  # what the Gradescope container test builds on


def why_not() -> str | None:
    """Why `build` cannot run here (None: it can)."""
    if os.geteuid() != 0:
        return "debootstrap needs root"
    if shutil.which("debootstrap") is None:
        return "debootstrap is not installed (scripts/setup installs it with SETUP_PLATFORMS=1, as CI does)"
    return None


def build(spec: RootfsSpec, dest: Path, *, log: Path) -> Path:
    """Make the tree `dest` with debootstrap (3-5 minutes): built beside it and renamed, so that a
    tree at `dest` is always whole. Raises `RuntimeError` with the log's tail on failure."""
    if dest.exists():
        return dest
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with open(log, "ab") as out:
        done = subprocess.run(
            [
                "debootstrap",
                f"--variant={spec.variant}",
                f"--include={','.join(spec.include)}",
                spec.suite,
                str(partial),
                MIRROR,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"debootstrap failed (exit {done.returncode}); {log}:\n{tail}")
    partial.rename(dest)
    print(f"[platforms] debootstrap {spec.suite} ({spec.key}): {time.monotonic() - start:.0f} s", flush=True)
    return dest
