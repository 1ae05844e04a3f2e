"""Landlock through `ctypes`: a process denies itself every file, TCP port, abstract socket and
signal it was not given, and so does every process it starts afterwards. UNTRUSTED SIDE's first step.

Copied into the sandbox and imported by the supervisor, which applies it to itself before it
starts the notebook's interpreter (`restrict`); the grader imports it only to ask the kernel's
ABI (`abi`). It imports nothing but the standard library, so that nothing installed beside the
notebook's packages runs in the root-owned supervisor.

Why our own `ctypes` module and not a binding from PyPI (compared on the registry): `landlock`
has only pre-releases (1.0.0.dev0-dev5, alpha, last 2025) and covers the file rights only (no
TCP, no scoping); `py-landlock` (0.1.0-0.1.1, alpha) and `landlockpy` (0.1.0-0.2.0, beta) are a
few releases old, each by a single maintainer, with no record yet of following new ABIs. What we
need is three system calls and a handful of constants that the kernel keeps stable (the ABI is
versioned and only grows): about a hundred lines we can read whole, with no dependency to vet or
install inside the sandbox's environment.

Rules are paths with a kind: "read" (read files, list folders, execute), "list" (list folders
only), "write" (everything but making device nodes) and "device" (read and write one character
device such as /dev/null). A rule covers everything beneath its path.
Every file right the ABI knows is handled (denied unless a rule grants it); from ABI 4 every TCP
bind and connect is denied; from ABI 6 abstract unix sockets and signals are scoped to the
sandbox (it can reach neither a socket nor a process outside it).
"""

from __future__ import annotations

import ctypes
import os
import stat

# The syscall numbers are the same on every architecture but alpha (generic table since 5.13).
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15  # ABI 2, 3, 5
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6

FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # what a rule on a non-folder may grant
NET_ABI, SCOPE_ABI = 4, 6


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _syscall(libc: ctypes.CDLL, number: int, *args: object) -> int:
    """syscall(2) with every integer passed as a C long (variadic: no promotion to rely on)."""
    return int(libc.syscall(ctypes.c_long(number), *(ctypes.c_long(a) if isinstance(a, int) else a for a in args)))


def abi() -> int:
    """The kernel's Landlock ABI version; 0 where Landlock is missing, disabled or refused
    (an old kernel, `lsm=` without landlock, a seccomp profile that denies the call)."""
    try:
        version = _syscall(_libc(), _CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION)
    except (OSError, AttributeError):
        return 0
    return max(0, int(version))


def handled_fs(version: int) -> int:
    """Every file right the ABI `version` knows (all of them denied unless a rule grants them)."""
    rights = (1 << 13) - 1
    rights |= REFER if version >= 2 else 0
    rights |= TRUNCATE if version >= 3 else 0
    rights |= IOCTL_DEV if version >= 5 else 0
    return rights


def granted(kind: str, version: int) -> int:
    """The rights a rule of `kind` gives, within what the ABI `version` handles."""
    handled = handled_fs(version)
    if kind == "read":
        return (READ_FILE | READ_DIR | EXECUTE) & handled
    if kind == "write":
        return handled & ~(MAKE_CHAR | MAKE_BLOCK | IOCTL_DEV)
    if kind == "list":
        return READ_DIR & handled
    if kind == "device":
        return (READ_FILE | WRITE_FILE) & handled
    raise ValueError(f"unknown kind of rule: {kind!r}")


def _check(value: int, what: str) -> int:
    if value < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"landlock: {what}: {os.strerror(errno)}")
    return value


def restrict(rules: list[tuple[str, str]], version: int) -> None:
    """Confine this process and its future children to `rules` ([(path, kind)]) at ABI `version`.

    A path that does not exist is skipped (a machine without /lib64). Raises `OSError` when the
    kernel offers less than `version` or refuses a step: the caller must then not run the notebook.
    """
    if version < 1 or abi() < version:
        raise OSError(f"landlock: ABI {version} asked for, the kernel offers {abi()}")
    libc = _libc()
    attr = _RulesetAttr(
        handled_fs(version),
        NET_BIND_TCP | NET_CONNECT_TCP if version >= NET_ABI else 0,
        SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if version >= SCOPE_ABI else 0,
    )
    size = 8 if version < NET_ABI else 16 if version < SCOPE_ABI else 24
    ruleset = _check(_syscall(libc, _CREATE_RULESET, ctypes.byref(attr), size, 0), "create")
    try:
        for path, kind in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                access = granted(kind, version)
                if not stat.S_ISDIR(os.fstat(fd).st_mode):
                    access &= FILE_ONLY
                rule = _PathBeneathAttr(access, fd)
                _check(
                    _syscall(libc, _ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0), f"rule for {path}"
                )
            finally:
                os.close(fd)
        _check(
            libc.prctl(ctypes.c_int(_PR_SET_NO_NEW_PRIVS), *(ctypes.c_ulong(v) for v in (1, 0, 0, 0))), "no_new_privs"
        )
        _check(_syscall(libc, _RESTRICT_SELF, ruleset, 0), "restrict_self")
    finally:
        os.close(ruleset)
