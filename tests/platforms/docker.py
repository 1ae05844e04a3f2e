"""Docker for the real-platform tests: the daemon, a base image from `debian.py`, build mounts.

The daemon is started without touching the host's network (`--iptables=false --ip-forward=false
--bridge=none`): containers then have either no network (`--network none`, as Gradescope grades)
or the host's (`--network host`, as its image build installs packages). Images are cached by tag:
the base by its root file system's key, anything built on it by the caller's key, so a second
run of a test skips what did not change.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from pathlib import Path

from . import debian

DOCKERD_FLAGS = ("--iptables=false", "--ip-forward=false", "--bridge=none")
CACHE = Path(os.environ.get("DNN_GRADER_PLATFORM_CACHE", "/var/cache/dnn-grader"))
# What pip needs inside a build container to install as it does on this machine: its configuration,
# the CA bundle it names, and the local package folders the configuration points at (read-only).
PIP_PATHS = (
    Path("/etc/pip.conf"),
    Path("/etc/xdg/pip"),
    Path("/etc/ssl/certs/ca-certificates.crt"),
    Path("/opt/wheels"),
    Path("/opt/pypi"),
    Path("/opt/pypi-more"),
)


def docker(*args: str, timeout: float = 120, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """`docker ARGS`, output captured as text; raises `RuntimeError` with its stderr when `check`."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])} ... failed ({done.returncode}): {done.stderr[-2000:]}")
    return done


def _answers() -> bool:
    try:
        return docker("info", "--format", "{{.ServerVersion}}", timeout=30, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ensure_daemon(log: Path = CACHE / "dockerd.log", wait_seconds: float = 60) -> str | None:
    """A Docker daemon that answers, started here if none runs; None, or why there is none.

    The daemon started here is left running (detached, like a system service): the next test or
    CI step reuses it, and CI's machine ends everything at the end of its run."""
    if shutil.which("docker") is None:
        return "the docker client is not installed (scripts/setup installs docker.io with SETUP_PLATFORMS=1)"
    if _answers():
        return None
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        return "no Docker daemon answers, and this user cannot start one (needs root and dockerd)"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        subprocess.Popen(
            ["dockerd", *DOCKERD_FLAGS],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if _answers():
            print(f"[platforms] started dockerd {' '.join(DOCKERD_FLAGS)} (log {log})", flush=True)
            return None
        time.sleep(1)
    return f"dockerd did not answer within {wait_seconds:.0f} s; its log: {log}"


def remove(container: str) -> None:
    """`docker rm -f`, never raising: a cleanup (a big container's layer takes minutes to remove
    on a loaded machine; the daemon finishes it in the background)."""
    try:
        docker("rm", "-f", container, timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"[platforms] docker rm -f {container}: {exc}", flush=True)


def has_image(tag: str) -> bool:
    return docker("image", "inspect", tag, timeout=30, check=False).returncode == 0


def import_tree(tree: Path, tag: str) -> str:
    """The root file system `tree` as the image `tag` (`tar | docker import`, about a minute)."""
    start = time.monotonic()
    tar = subprocess.Popen(["tar", "-C", str(tree), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
    try:
        docker("import", "-", tag, stdin=tar.stdout, timeout=900)
    finally:
        assert tar.stdout is not None
        tar.stdout.close()
        tar.wait()
    print(f"[platforms] docker import {tag}: {time.monotonic() - start:.0f} s", flush=True)
    return tag


def base_image(spec: debian.RootfsSpec = debian.BOOKWORM) -> str:
    """The Debian image of `spec`, made (debootstrap, import) only when no image has its key.
    Under a lock: two test processes (scripts/test runs 2) would otherwise debootstrap into the same
    partial tree at once."""
    tag = f"dnn-grader-base:{spec.key}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"base-{spec.key}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if has_image(tag):
            return tag
        tree = debian.build(spec, CACHE / "rootfs" / spec.key, log=CACHE / f"debootstrap-{spec.key}.log")
        return import_tree(tree, tag)


def pip_mounts() -> list[str]:
    """`docker run` options that let `pip install` in a build container work as it does here:
    the machine's pip configuration, CA bundle and local package folders, read-only."""
    options = []
    for path in PIP_PATHS:
        if path.exists():
            options += ["-v", f"{path}:{path}:ro"]
    return options


def pip_environment() -> dict[str, str]:
    """The machine's `PIP_*` variables (pip's configuration from the environment)."""
    return {k: v for k, v in os.environ.items() if k.startswith("PIP_")}
