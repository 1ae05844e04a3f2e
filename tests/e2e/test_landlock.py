"""Deny by default at the no-namespace level (Landlock), as a student would attack it: every file
it can find, the paths on the machine's command lines, the example class, the solutions, the
grader's package, TCP to the host and a port of its own, an abstract socket and a process outside.
Each attempt is refused by the kernel and gains no mark. Real sandboxes, bubblewrap failing as in
Docker (`failing_bwrap_and_open_interpreter`)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from autograder import batch
from autograder.runtime import landlock
from autograder.sandbox import bubblewrap_available, levels
from tests.conftest import REPO, make_variant
from tests.e2e.test_hostile import grade_within, limits_for, lost, report
from tests.e2e.test_isolation_levels import failing_bwrap_and_open_interpreter
from tests.submissions import hostile
from tests.submissions.variants import A05, Variant

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not bubblewrap_available(), reason="bubblewrap cannot sandbox here")]

REFUSED = ("PermissionError", "FileNotFoundError")

# Walks / and reads whatever it can (bounded: 20,000 files or 10 s), then every absolute path on any
# process's command line, then the course's secrets by name; and copies an answer from the example
# class if any file of it opens (its l1_penalty is replaced by a wrong one below).
WALKS_AND_READS = """import glob, os, sys, time
{attempt}
def opens(path):
    try:
        with open(path, "rb") as fh:
            fh.read(1)
        return True
    except OSError:
        return False
def walk():
    found, seen, start = [], 0, time.monotonic()
    for top, dirs, files in os.walk("/"):
        dirs[:] = [d for d in dirs if os.path.join(top, d) not in ("/proc", "/sys", "/dev")]
        for name in files:
            seen += 1
            path = os.path.join(top, name)
            if opens(path):
                found.append(path)
        if seen > 20000 or time.monotonic() - start > 10:
            break
    return found
def allowed(path):
    real = os.path.realpath(path)
    roots = ("/usr/", "/proc/", "/dev/", "/etc/ld.so", "/etc/localtime", "/etc/nsswitch.conf",
             os.path.realpath(sys.prefix) + "/", os.path.realpath(sys.base_prefix) + "/",
             os.path.dirname(os.environ["HOME"]) + "/")
    return any(real == root.rstrip("/") or real.startswith(root) for root in roots)
attempt("walk", lambda: [p[-60:] for p in walk() if not allowed(p)][:5])
def from_command_lines():
    paths = set()
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            args = open(cmdline, "rb").read().decode(errors="replace").split("\\0")
            paths.update(a for a in args if a.startswith("/"))
        except OSError:
            continue
    got = []
    for path in sorted(paths):
        if allowed(path):
            continue
        try:
            got.append(path[-60:] if os.path.isdir(path) and os.listdir(path) or opens(path) else None)
        except OSError:
            continue
    return [g for g in got if g][:5]
attempt("command lines", from_command_lines)
attempt("folder above the interpreter", lambda: len(os.listdir(os.path.dirname(os.path.realpath(sys.prefix)))))
attempt("example class", lambda: len(os.listdir({klass!r})))
attempt("installed example class", lambda: len(os.listdir(sys.prefix + "/share/dnn-grader/examples/class")))
attempt("solutions", lambda: open({solution!r}, "rb").read(10).hex())
attempt("grader package", lambda: open({package!r}, "rb").read(10).hex())
attempt("grader import", lambda: __import__("autograder.grading.compare").__name__)
attempt("etc passwd", lambda: open("/etc/passwd").read(10))
attempt("host tmp", lambda: len(os.listdir("/tmp")))
attempt("write outside", lambda: open("/tmp/landlock-was-here", "w").write("x"))
attempt("dev shm", lambda: open("/dev/shm/landlock-was-here", "w").write("x"))
import json as _json
for path in glob.glob({klass!r} + "/*05_regularisation.ipynb"):
    try:
        cells = _json.load(open(path))["cells"]
    except OSError:
        continue
    for cell in cells:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and "def l1_penalty" in source:
            exec(source, globals())
            report["copied from"] = path
"""


def walks_and_reads() -> Variant:
    cell = WALKS_AND_READS.format(
        attempt=hostile.ATTEMPT,
        klass=str(REPO / "examples" / "class"),
        solution=str(REPO / "solutions" / "05_regularisation.ipynb"),
        package=str(REPO / "autograder" / "grading" / "compare.py"),
    )
    return Variant(
        "walks_and_reads",
        A05,
        replace={"l1_penalty": "def l1_penalty(theta):\n    return 0.0"},
        append=(cell + hostile.REPORT,),
        lost=frozenset({"l1_penalty"}),
    )


# A TCP port of its own, and signals to every process it can see that is not its own (the
# grader, the supervisor, other sandboxes, the process started outside by the test).
BINDS_AND_SIGNALS = """import os, signal, socket
{attempt}
def bind():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s.getsockname()[1]
attempt("tcp bind", bind)
attempt("ipv6 bind", lambda: socket.socket(socket.AF_INET6).bind(("::1", 0)))
def signal_outside():
    mine = {{os.getpid()}}
    sent = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in mine:
            try:
                os.kill(int(name), 0)
                sent.append(int(name))
            except OSError:
                pass
    return sent
attempt("signal outside", signal_outside)
attempt("signal the bystander", lambda: os.kill({bystander}, signal.SIGTERM))
"""


@pytest.fixture(scope="module")
def no_namespaces(config, tmp_path_factory):
    with failing_bwrap_and_open_interpreter(tmp_path_factory.mktemp("stand-in-bwrap")):
        yield dataclasses.replace(config, namespaces=False)


def test_the_kernel_here_has_the_landlock_the_level_needs():
    """On this machine it must run (the notes measured ABI 7, also under Docker's seccomp)."""
    assert levels.landlock_abi() >= levels.LANDLOCK_NEEDED


def test_a_walk_of_the_machine_finds_nothing_to_read(no_namespaces, tmp_path):
    """The stub of the red team: / walked, every command line's paths, the example class (0644,
    made from the reference solution), the solutions and the grader's package: every read is
    refused, and copying from the class gains no mark."""
    variant = walks_and_reads()
    limits = dataclasses.replace(limits_for(no_namespaces, variant), cell_seconds=60)  # the walk's 10 s, if it walks
    result = grade_within(make_variant(variant, tmp_path), limits)
    assert result.isolation.landlock >= levels.LANDLOCK_NEEDED and result.isolation.network == "no-tcp"
    found = report(result)
    assert found["walk"] == [] and found["command lines"] == [], found
    for what in (
        "folder above the interpreter",
        "example class",
        "installed example class",
        "solutions",
        "grader package",
        "etc passwd",
    ):
        assert found[what] in REFUSED, (what, found[what])
    for what in ("host tmp", "write outside", "dev shm"):
        assert found[what] in REFUSED, (what, found[what])
    assert found["grader import"] in ("ModuleNotFoundError", "PermissionError")
    assert "copied from" not in found
    assert lost(result) == {"l1_penalty"}


def test_tcp_abstract_sockets_and_signals_stay_inside(no_namespaces, tmp_path):
    """TCP connect to the host's loopback and bind of a port, an abstract unix socket of the host,
    and a signal to a process outside (same kernel, no namespace between them): all refused."""
    server = socket.create_server(("127.0.0.1", 0))
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    name = f"landlock-test-{os.getpid()}"
    abstract.bind("\0" + name)
    abstract.listen()
    stop = threading.Event()

    def serve(sock: socket.socket) -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                conn.sendall(b"reached")
                conn.close()
            except OSError:
                continue

    threads = [threading.Thread(target=serve, args=(s,), daemon=True) for s in (server, abstract)]
    for t in threads:
        t.start()
    bystander = subprocess.Popen(["sleep", "120"])
    try:
        network = hostile.network(server.getsockname()[1], name)
        cell = BINDS_AND_SIGNALS.format(attempt=hostile.ATTEMPT, bystander=bystander.pid) + hostile.REPORT
        variant = dataclasses.replace(network, insert_first=(*network.insert_first, cell))
        result = grade_within(make_variant(variant, tmp_path), limits_for(no_namespaces, variant))
    finally:
        stop.set()
        alive = bystander.poll() is None
        bystander.kill()
        server.close()
        abstract.close()
    found = {
        k: v
        for e in result.execution.cell_errors
        if e.evalue.startswith("REPORT ")
        for k, v in report(result, e.cell).items()
    }
    assert found["host loopback"] == "PermissionError", found
    assert found["host abstract socket"] == "PermissionError", found
    assert found["tcp bind"] == "PermissionError" and found["ipv6 bind"] == "PermissionError", found
    assert found["signal outside"] == [] and found["signal the bystander"] == "PermissionError", found
    assert alive
    assert lost(result) == set()


LANDLOCKED_CHILD = """import os, signal, sys
sys.path.insert(0, {runtime!r})
import landlock
landlock.restrict([("/usr", "read")], {abi})
try:
    os.kill({target}, signal.SIGTERM)
    print("signalled")
except PermissionError:
    print("refused")
"""


@pytest.mark.parametrize("abi", [levels.LANDLOCK_NEEDED, levels.LANDLOCK_NEEDED - 1])
def test_signals_are_scoped_from_abi_6(abi):
    """Landlock's own part in the signal rule, where no uid tells the processes apart (both root
    here): scoped from ABI 6, not before."""
    target = subprocess.Popen(["sleep", "60"])
    try:
        runtime = str(Path(landlock.__file__).parent)
        code = LANDLOCKED_CHILD.format(runtime=runtime, abi=abi, target=target.pid)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
        assert out.stdout.strip() == ("refused" if abi >= 6 else "signalled"), out.stderr
    finally:
        target.kill()
        target.wait()


def test_without_landlock_the_level_is_refused_unless_accepted(no_namespaces, tmp_path, monkeypatch):
    """A kernel without Landlock: grading refuses to run (exit 4 at the CLI) and says how to
    accept it; accepted, the result records it and the network as the host's."""
    from autograder.errors import InfrastructureError

    monkeypatch.setattr(levels, "landlock_abi", lambda: 0)
    solution = REPO / "solutions" / "05_regularisation.ipynb"
    with pytest.raises(InfrastructureError, match=r'landlock: ABI 0.*accept_weaker = \["landlock"\]'):
        grade_within(solution, no_namespaces)
    accepted = dataclasses.replace(no_namespaces, accept_weaker=("landlock",))
    result = grade_within(solution, accepted)
    assert (result.isolation.landlock, result.isolation.network) == (0, "host")
    assert result.score == result.max_score
    assert any("no network isolation" in m for m in result.isolation.shortfalls())


def copies_from_the_class(klass_glob: str) -> Variant:
    """A wrong l1_penalty, then a cell that walks every class folder matching `klass_glob` (their
    paths are on the grader's command line, without a pid namespace) into hidden folders too, and
    runs the l1_penalty of any notebook it can open: a superseded upload, a checkpoint copy."""
    steal = f"""import glob, json, os
for klass in glob.glob({klass_glob!r}):
    for top, _, files in os.walk(klass):
        for name in files:
            try:
                cells = json.load(open(os.path.join(top, name)))["cells"]
            except (OSError, ValueError, KeyError):
                continue
            for cell in cells:
                source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
                if cell["cell_type"] == "code" and "def l1_penalty" in source and "return 0.0" not in source:
                    exec(source, globals())"""
    return Variant(
        "copies_from_the_class",
        A05,
        replace={"l1_penalty": "def l1_penalty(theta):\n    return 0.0"},
        append=(steal,),
        lost=frozenset({"l1_penalty"}),
    )


def test_files_the_batch_does_not_grade_stay_unreadable(no_namespaces, tmp_path):
    """A 2-worker batch over a world-readable class folder (umask 022) that also holds what the
    batch does not grade and so does not close: an earlier upload and a Jupyter checkpoint copy,
    both correct. Modes alone left them readable; Landlock grants no class folder at all."""
    klass = Path(tempfile.mkdtemp(prefix="landlock-class-"))
    try:
        variant = copies_from_the_class(str(Path(tempfile.gettempdir()) / "landlock-class-*"))
        shutil.move(make_variant(variant, tmp_path), klass / f"mallory_{A05}.ipynb")
        shutil.copy(REPO / "solutions" / f"{A05}.ipynb", klass / f"honest_{A05}.ipynb")
        (klass / "old").mkdir()
        shutil.copy(REPO / "solutions" / f"{A05}.ipynb", klass / "old" / f"superseded_{A05}.txt")
        (klass / ".ipynb_checkpoints").mkdir()
        shutil.copy(
            REPO / "solutions" / f"{A05}.ipynb", klass / ".ipynb_checkpoints" / f"mallory_{A05}-checkpoint.ipynb"
        )
        for path in [klass, *klass.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        done = batch.grade_class([klass], tmp_path / "grades", no_namespaces, batch.ClassOptions(workers=2, seed=5))
    finally:
        shutil.rmtree(klass)
    results = {r.student: r for r in done.results}
    assert results["honest"].score == results["honest"].max_score
    assert lost(results["mallory"]) == {"l1_penalty"}  # it gained no classmate's or earlier answer
