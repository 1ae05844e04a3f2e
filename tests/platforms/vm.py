"""A real Linux kernel under qemu, booted from an initramfs: the platforms this machine is not.

This machine mounts cgroup v1 (hybrid); most instructors' machines mount cgroup v2 alone. A test
that meets the v2 code path only through a fake tree proves nothing about the kernel, so this
boots Debian's own kernel under qemu (software emulation is enough: the CPU here offers no
virtualisation) with a bookworm root file system held entirely in an initramfs (no disk, so no
driver module), runs an `/init` script the test writes and reads what it prints on the console.

Everything slow is cached under `CACHE` in folders named by the hash of what made them (the
kernel package's name, debootstrap's arguments, the pinned Python packages), so a second run
only packs the small per-run layer and boots. A fresh machine builds it all (debootstrap, pip)
once. The initramfs is two gzip'd cpio archives concatenated, which the kernel unpacks in turn:
the cached base (Debian + a venv) and the run's own layer (`/init`, the package, the notebooks).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("DNN_GRADER_CACHE", "/var/cache/dnn-grader")) / "vm"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# minbase has util-linux (prlimit, setpriv) and coreutils; the rest is what a grader needs.
DEBIAN_PACKAGES = ("python3", "python3-venv", "bubblewrap", "ca-certificates")
VENV = "/opt/venv"
RESULT = "RESULT "  # a console line `RESULT {json}` is one result the guest reports
TOOLS = ("qemu-system-x86_64", "cpio", "gzip", "debootstrap", "apt-get", "apt-cache", "dpkg-deb", "chroot")
# Left out of the base image: documentation, translations, package lists (about a third of it).
PRUNE = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/cache/apt", "var/lib/apt/lists")


def missing() -> list[str]:
    """Why a VM cannot be built and booted here (empty: it can)."""
    out = [f"{tool} is not installed" for tool in TOOLS if shutil.which(tool) is None]
    if os.geteuid() != 0:
        out.append("building the root file system (debootstrap, chroot) needs root")
    return out


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


@contextmanager
def _locked(name: str) -> Iterator[None]:
    """One builder of `name` at a time across processes (two test sessions on one machine)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _cached(name: str, key: str, build: Callable[[Path], None]) -> Path:
    """`CACHE/name-key`, made by `build(tmp)` into a temporary path then renamed: a build that
    fails or is killed half-way never leaves something that looks finished."""
    final = CACHE / f"{name}-{key}"
    if final.exists():
        return final
    with _locked(name):
        if final.exists():
            return final
        tmp = CACHE / f".{name}-{key}.{os.getpid()}"
        _remove(tmp)
        started = time.monotonic()
        build(tmp)
        os.rename(tmp, final)
        print(f"vm: built {final.name} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return final


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _run(argv: Sequence[str], **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(argv), capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv[:4])}... failed ({proc.returncode}): {(proc.stderr or proc.stdout)[-2000:]}"
        )
    return proc


# --- kernel ------------------------------------------------------------------------------------------
def kernel_package() -> str:
    """The versioned package Debian's `linux-image-amd64` depends on now (e.g. linux-image-6.1.0-57-amd64)."""
    text = _run(["apt-cache", "depends", "linux-image-amd64"]).stdout
    found = re.findall(r"Depends:\s*(linux-image-[0-9][\w.+-]*-amd64)", text)
    if not found:
        raise RuntimeError(f"apt-cache names no kernel for linux-image-amd64: {text[:300]}")
    return found[0]


def kernel() -> Path:
    """Debian's kernel image (`vmlinuz`), downloaded with apt and unpacked once."""
    package = kernel_package()

    def build(tmp: Path) -> None:
        tmp.mkdir(parents=True)
        _run(["apt-get", "download", package], cwd=tmp)
        [deb] = tmp.glob("*.deb")
        tree = tmp / "tree"
        _run(["dpkg-deb", "-x", str(deb), str(tree)])
        [image] = (tree / "boot").glob("vmlinuz-*")
        shutil.copy(image, tmp / "vmlinuz")
        shutil.rmtree(tree)
        deb.unlink()

    return _cached("kernel", _key(package), build) / "vmlinuz"


# --- root file system --------------------------------------------------------------------------------
def debootstrap_argv(target: Path) -> list[str]:
    return [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(DEBIAN_PACKAGES)}",
        SUITE,
        str(target),
        MIRROR,
    ]


def base_rootfs() -> Path:
    """A minimal Debian bookworm tree with Python 3.11 and bubblewrap (debootstrap, 3-5 min once)."""

    def build(tmp: Path) -> None:
        _run(debootstrap_argv(tmp), timeout=1800)

    return _cached("rootfs", _key(debootstrap_argv(Path("T"))), build)


def requirements(names: Sequence[str]) -> list[str]:
    """`names` pinned to the versions of the environment running the tests: the guest computes the
    reference with the same numpy as the host would."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in names]


def base_initramfs(pins: Sequence[str]) -> Path:
    """The cached first half of the initramfs: the Debian tree plus a venv at `VENV` holding
    `pins` (wheels for CPython 3.11 on x86-64 Linux, installed by this machine's pip with its
    configured indexes into the venv's site-packages: no pip and no network inside the tree)."""
    rootfs = base_rootfs()
    pins = sorted(pins)

    def build(tmp: Path) -> None:
        tmp.mkdir(parents=True)
        tree = tmp / "tree"
        _run(["cp", "-a", "--reflink=auto", str(rootfs), str(tree)])
        for rel in PRUNE:
            shutil.rmtree(tree / rel, ignore_errors=True)
        _run(["chroot", str(tree), "python3", "-m", "venv", "--without-pip", VENV])
        site = tree / VENV.lstrip("/") / "lib" / "python3.11" / "site-packages"
        if not site.is_dir():
            raise RuntimeError(f"the guest's venv has no {site} (is its Python 3.11?)")
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--only-binary=:all:",
                "--python-version=3.11",
                "--implementation=cp",
                "--abi=cp311",
                "--platform=manylinux_2_28_x86_64",
                "--platform=manylinux_2_17_x86_64",
                "--platform=manylinux2014_x86_64",
                "--target",
                str(site),
                *pins,
            ],
            timeout=1800,
        )
        pack(tree, tmp / "base.cpio.gz")
        shutil.rmtree(tree)

    return _cached("initramfs", _key(_key(debootstrap_argv(Path("T"))), pins), build) / "base.cpio.gz"


def pack(tree: Path, out: Path) -> None:
    """`tree` as a gzip'd cpio archive in the kernel's initramfs format (newc, owner root)."""
    files = subprocess.run(
        ["find", ".", "-mindepth", "1"], cwd=tree, capture_output=True, check=True
    ).stdout  # paths with newlines do not occur in a Debian tree or this package
    with open(out, "wb") as fh:
        cpio = subprocess.Popen(
            ["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"],
            cwd=tree,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        gz = subprocess.Popen(["gzip", "-1"], stdin=cpio.stdout, stdout=fh)
        assert cpio.stdout is not None and cpio.stdin is not None
        cpio.stdout.close()
        cpio.stdin.write(files)
        cpio.stdin.close()
        if cpio.wait() != 0 or gz.wait() != 0:
            raise RuntimeError(f"cannot pack {tree} into {out}")


# --- booting -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Boot:
    console: str  # everything the guest printed (kernel messages and /init's output)
    seconds: float
    timed_out: bool

    def results(self) -> list[dict]:
        """The `RESULT {json}` lines of the console, parsed, in order."""
        out = []
        for line in self.console.splitlines():
            # not only at the start: the first line follows the firmware's terminal reset codes
            at = line.find(RESULT)
            if at >= 0:
                out.append(json.loads(line[at + len(RESULT) :].strip()))
        return out


def boot(
    vmlinuz: Path, initrds: Sequence[Path], workdir: Path, *, memory_mb: int = 2048, cpus: int = 2, timeout: float = 600
) -> Boot:
    """Boot the kernel with the initramfs archives (concatenated in order) and `rdinit=/init`, under
    qemu's software emulation, until the guest powers off (or `timeout`); the console is kept in
    `workdir/console.log` as well."""
    initrd = workdir / "initramfs.gz"
    with open(initrd, "wb") as fh:
        for part in initrds:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, fh, 1 << 20)
    log = workdir / "console.log"
    argv = [
        "qemu-system-x86_64",
        "-machine",
        "q35",
        "-accel",
        "tcg,thread=multi",
        "-cpu",
        "max",
        "-m",
        str(memory_mb),
        "-smp",
        str(cpus),
        "-nographic",
        "-no-reboot",
        "-nic",
        "none",
        "-kernel",
        str(vmlinuz),
        "-initrd",
        str(initrd),
        "-append",
        "console=ttyS0 rdinit=/init quiet panic=-1",
    ]
    started = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        try:
            proc.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            timed_out = True
    return Boot(log.read_text(errors="replace"), time.monotonic() - started, timed_out)


def compile_tree(folder: Path, guest: str) -> None:
    """Byte-compile `folder` (which the guest sees at `guest`) here: under emulation, compiling the
    package in every sandboxed run (read-only there, so never cached) would cost seconds each."""
    _run([sys.executable, "-m", "compileall", "-q", "-s", str(folder), "-p", guest, str(folder)])
