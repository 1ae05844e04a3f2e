"""What the largest sandbox outputs the grader's limits allow cost the grader (trusted side).

Each case writes an output folder (or a model description) as hostile as the bounds in
`autograder/grading/collect.py`, `autograder/judging/checks.py` and `autograder/judging/models.py` let through, then times
the grader's own work on it in a fresh process and records that process's peak memory: the
growth of its peak RSS (VmHWM, reset before the work) over its RSS after imports and setup, and the peak of
Python's heap (`tracemalloc`, numpy's buffers included) during the work. Batch workers are threads
of one grader process, so these figures add up per worker.

    python benchmarks/grader_limits.py [--case NAME ...]

Cases (the bound each one sits at, or the attack it replays):
  zeros_json       an answer that is a JSON list of 20 million zeros (60 MB of probe.json), beside
                   an honest answer: refused before parsing (the red team's 3.5 GB)
  values_at_bound  answers of MAX_ANSWER_VALUES values each ({} objects, the costliest value per
                   byte) up to MAX_TOTAL_VALUES in all: everything the bounds accept, parsed and decoded
  structure_bomb   64 MB of probe.json that is one unknown entry of nested brackets (near
                   MAX_STRUCTURE): the walk that finds the answers
  npz_at_cap       arrays.npz of 280 MB (20 M-element arrays of float64, float32, int16), read and checked
  list_check       a check of an answer that is a list of MAX_LIST_ITEMS floats (as_float_array)
  many_references  an answer naming one 20 M-element array 16 times (a randomness answer's tuple),
                   converted as a check does: refused (each reference counts; the red team's 5.5 GB)
  model_layers     the red team's 2,000 Activation layers on 10,000 images: refused up front
  model_reference  02's reference model (271,346 weights) on the same images, for scale
  model_at_bounds  the costliest model the bounds accept (3 M weights, 2 Activation layers after them),
                   evaluated on 10,000 images of 28x28 (the size of the real test split)
  notebook_outputs the red team's notebook: one code cell with 1,000,000 empty stream outputs (51 MB),
                   read as grading reads a submission (`read_notebook`)
  notebook_at_cap  the largest notebook the limits allow (MAX_NOTEBOOK_BYTES, 200 MB) full of empty
                   outputs (~4 M), and an attachment: read the same way

Each row also gives the case's process's own peak RSS (`ru_maxrss`: imports, setup and work).
  model_rowwise    02's bn_model on Input((28, 28)) without Flatten, Dense 1700, 1700, 10 (2.96 M
                   weights): a Dense layer runs on each of an image's 28 rows: refused up front
                   (the red team's 200 s and 3.3 GB)
  model_rows_at_bounds  the costliest model without Flatten the bounds accept (4 rows of 784, one
                   Dense layer of 944 units: the multiply-add bound), checked and drawn as a failed
                   model is: one evaluation
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder.grading import collect  # noqa: E402
from autograder.judging import checks, models  # noqa: E402


def _folder(probe_text: str, arrays: dict[str, np.ndarray] | None = None) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="grader-limits-"))
    (folder / "probe.json").write_text(probe_text)
    np.savez(folder / "arrays.npz", **(arrays or {"a0": np.ones(3)}))
    return folder


def zeros_json() -> Callable[[], Any]:
    folder = _folder(
        '{"complete": true, "results": {"q/big": {"ok": true, "value": ['
        + "0, " * 19_999_999
        + '0]}, "q/small": {"ok": true, "value": {"$array": "a0"}}}}'
    )

    def work() -> dict[str, Any]:  # read, then convert as a check does (where the 3.5 GB were spent)
        outputs = collect.read_outputs(folder, ["q/big", "q/small"])
        for out in outputs.values():
            checks.as_float_array(out.value)
        return outputs

    return work


def values_at_bound() -> Callable[[], Any]:
    from autograder.grading.untrusted import count_values

    # lists of MAX_LIST_ITEMS empty objects, as many as one answer's bound lets through
    chunk = "[" + ", ".join(["{}"] * collect.MAX_LIST_ITEMS) + "]"
    chunks = [chunk]
    while count_values("[" + ", ".join(chunks + [chunk]) + "]") + 10 <= collect.MAX_ANSWER_VALUES:
        chunks.append(chunk)
    value = "[" + ", ".join(chunks) + "]"
    ids = [f"q/{i}" for i in range(collect.MAX_TOTAL_VALUES // (count_values(value) + 10))]
    results = ", ".join(f'"{cid}": {{"ok": true, "value": {value}}}' for cid in ids)
    folder = _folder('{"complete": true, "results": {' + results + "}}")
    return lambda: collect.read_outputs(folder, ids)


def structure_bomb() -> Callable[[], Any]:
    depth = collect.MAX_STRUCTURE // 2 - 100  # just under MAX_STRUCTURE: the walk runs to its end
    folder = _folder(
        '{"complete": true, "results": {"q/forged": '
        + "[" * depth
        + "]" * depth
        + ', "q/1": {"ok": true, "value": 3}}}'
    )
    return lambda: collect.read_outputs(folder, ["q/1"])


def npz_at_cap() -> Callable[[], Any]:
    arrays = {f"a{i}": np.full(collect.MAX_ARRAY_ELEMENTS - 1, 0.5) for i in range(1)}
    arrays["b"] = np.zeros(collect.MAX_ARRAY_ELEMENTS - 1, np.float32)
    arrays["c"] = np.zeros(collect.MAX_ARRAY_ELEMENTS - 1, np.int16)
    ids = list(arrays)
    results = ", ".join(f'"{k}": {{"ok": true, "value": {{"$array": "{k}"}}}}' for k in ids)
    folder = _folder('{"complete": true, "results": {' + results + "}}", arrays)
    return lambda: [checks.as_float_array(o.value) is not None for o in collect.read_outputs(folder, ids).values()]


def many_references() -> Callable[[], Any]:
    arrays = {"a0": np.zeros(collect.MAX_ARRAY_ELEMENTS, np.int8)}
    value = '{"$tuple": [' + ", ".join(['{"$array": "a0"}'] * 16) + "]}"
    folder = _folder('{"complete": true, "results": {"q/many": {"ok": true, "value": ' + value + "}}}", arrays)

    def work() -> dict[str, Any]:
        outputs = collect.read_outputs(folder, ["q/many"])
        for out in outputs.values():
            if isinstance(out.value, tuple):
                checks.as_float_array(np.asarray(out.value))  # what the randomness checks did
        return outputs

    return work


def list_check() -> Callable[[], Any]:
    value = [0.5] * collect.MAX_LIST_ITEMS
    return lambda: checks.as_float_array(value)


def _images() -> np.ndarray:
    return np.random.default_rng(0).random((10_000, 28, 28))


def model_layers() -> Callable[[], Any]:
    x = _images()
    layers = [{"class": "Flatten", "config": {}, "weights": []}] + [
        {"class": "Activation", "config": {"activation": "selu"}, "weights": []}
    ] * 2000

    def work() -> str:
        try:
            models.forward({"layers": layers}, x)
        except models.UnsupportedModel as exc:
            return str(exc)
        return "evaluated"

    return work


def model_at_bounds() -> Callable[[], Any]:
    x = _images()
    # one wide Dense layer and a 10-way output: every weight the bound allows
    width = min((models.MAX_PARAMETERS - 10) // (784 + 1 + 10), (models.MAX_VALUES_PER_IMAGE - 784 * 2 - 10) // 3)
    rng = np.random.default_rng(1)
    dense = {
        "class": "Dense",
        "config": {"activation": "selu"},
        "weights": [rng.normal(0, 0.01, (784, width)).astype(np.float32), np.zeros(width, np.float32)],
    }
    stack = [{"class": "Flatten", "config": {}, "weights": []}, dense]
    stack += [{"class": "Activation", "config": {"activation": "selu"}, "weights": []}] * 2
    stack.append(
        {
            "class": "Dense",
            "config": {"activation": "softmax"},
            "weights": [np.zeros((width, 10), np.float32), np.zeros(10, np.float32)],
        }
    )
    description = {"layers": stack}
    models.check_bounds(description, 784)  # accepted: this is inside the bounds

    def work() -> str:
        return f"evaluated, output {models.forward(description, x).shape}, {width} units"

    return work


def _layer(kind: str, weights: list[np.ndarray], **config: Any) -> dict[str, Any]:
    return {"class": kind, "config": config, "weights": weights}


def model_rowwise() -> Callable[[], Any]:
    x = _images()
    rng = np.random.default_rng(3)
    stack, width = [], 28
    for units, activation in ((1700, "elu"), (1700, "elu"), (10, "softmax")):
        stack.append(_layer("BatchNormalization", [np.ones(width), np.zeros(width), np.zeros(width), np.ones(width)]))
        stack.append(_layer("Dense", [rng.normal(0, 0.05, (width, units)), np.zeros(units)], activation=activation))
        width = units

    def work() -> str:
        try:
            models.forward({"layers": stack}, x)
        except models.UnsupportedModel as exc:
            return str(exc)
        return "evaluated"

    return work


def model_rows_at_bounds() -> Callable[[], Any]:
    """A failed model is checked and drawn (its confusion matrix): both from one evaluation."""
    from autograder.questions.base import CaseContext
    from autograder.questions.pictures import trained_accuracy

    rows = np.random.default_rng(4).random((10_000, 4, 784))
    labels = np.ones(10_000, np.int64)  # the model predicts class 0 everywhere: a failed model
    models.test_tasks = lambda: {"all": (rows, labels)}  # this process only: 4 rows of 784 per image
    units = models.MAX_MULTIPLY_ADDS_PER_IMAGE // (4 * 784 + 4 * 10)  # both Dense layers within the bound
    stack = [
        _layer("Dense", [np.zeros((784, units), np.float32), np.zeros(units, np.float32)], activation="relu"),
        _layer("Flatten", []),
        _layer("Dense", [np.zeros((4 * units, 10), np.float32), np.ones(10, np.float32)], activation="softmax"),
    ]
    description = {"layers": stack}
    models.check_bounds(description, (4, 784))  # accepted: this is inside the bounds
    threshold = models.Threshold("all", 0.99, "benchmark")
    forward, passes = models.forward, []
    models.forward = lambda d, x: passes.append(1) or forward(d, x)

    def work() -> str:
        models._EVALUATED.entries = []  # each measured run evaluates afresh (measure runs twice)
        passes.clear()
        verdict, _ = models.check_trained(description, threshold)
        ctx = CaseContext(None, {}, None, description, {})  # type: ignore[arg-type]
        picture = trained_accuracy(threshold)(ctx)
        return (
            f"{verdict.message}; picture drawn (accuracy {picture['accuracy']}); "
            f"{len(passes)} forward pass; {units} units x 4 rows"
        )

    return work


def model_reference() -> Callable[[], Any]:
    """02's bn_model (271,346 weights), for scale."""
    x = _images()
    rng = np.random.default_rng(2)
    stack: list[dict[str, Any]] = [{"class": "Flatten", "config": {}, "weights": []}]
    width = 784
    for units, activation in ((300, "elu"), (100, "elu"), (10, "softmax")):
        stack.append(
            {
                "class": "BatchNormalization",
                "config": {},
                "weights": [np.ones(width), np.zeros(width), np.zeros(width), np.ones(width)],
            }
        )
        stack.append(
            {
                "class": "Dense",
                "config": {"activation": activation},
                "weights": [rng.normal(0, 0.05, (width, units)), np.zeros(units)],
            }
        )
        width = units
    return lambda: f"evaluated, output {models.forward({'layers': stack}, x).shape}"


_EMPTY_STREAM = '{"name": "stdout", "output_type": "stream", "text": []}'


def _outputs_notebook(size: int) -> Path:
    """A valid notebook of about `size` bytes: a code cell with empty stream outputs, then a
    markdown cell with an attachment."""
    from autograder.grading.notebook import MAX_NOTEBOOK_BYTES

    size = min(size, MAX_NOTEBOOK_BYTES)
    tail = (
        ']}, {"cell_type": "markdown", "id": "m0", "metadata": {}, "source": "![p](attachment:p.png)", '
        '"attachments": {"p.png": {"image/png": "' + "A" * 1000 + '"}}}]}'
    )
    head = (
        '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "id": "c0", '
        '"metadata": {}, "source": "x = 1", "execution_count": 1, "outputs": ['
    )
    count = (size - len(head) - len(tail)) // (len(_EMPTY_STREAM) + 2)
    path = Path(tempfile.mkdtemp(prefix="grader-limits-")) / "outputs.ipynb"
    with open(path, "w") as fh:  # in pieces: the setup's own peak stays out of the case's figures
        fh.write(head + _EMPTY_STREAM)
        for start in range(1, count, 100_000):
            fh.write(", " + ", ".join([_EMPTY_STREAM] * min(100_000, count - start)))
        fh.write(tail)
    return path


def _read(path: Path) -> Callable[[], Any]:
    from autograder.grading.notebook import read_notebook

    def work() -> str:
        nb = read_notebook(path)
        return f"{path.stat().st_size / 1024**2:.0f} MB read: {len(nb.cells)} cells, outputs {len(nb.cells[0].outputs)}"

    return work


def notebook_outputs() -> Callable[[], Any]:
    return _read(_outputs_notebook(1_000_000 * (len(_EMPTY_STREAM) + 2)))


def notebook_at_cap() -> Callable[[], Any]:
    from autograder.grading.notebook import MAX_NOTEBOOK_BYTES

    return _read(_outputs_notebook(MAX_NOTEBOOK_BYTES))


CASES = {
    f.__name__: f
    for f in (
        zeros_json,
        values_at_bound,
        structure_bomb,
        npz_at_cap,
        list_check,
        many_references,
        model_layers,
        model_reference,
        model_at_bounds,
        notebook_outputs,
        notebook_at_cap,
        model_rowwise,
        model_rows_at_bounds,
    )
}


def _summary(value: Any) -> str:
    if isinstance(value, dict) and (not value or not all(isinstance(v, collect.CallOutput) for v in value.values())):
        return f"{len(value)} cells, {sum(len(c.evalue) for c in value.values())} characters of messages"
    if isinstance(value, dict):
        kinds = {}
        for out in value.values():
            v = out.value
            key = f"{v.type}: {v.message[:70]}" if isinstance(v, collect.Raised) else type(v).__name__
            kinds[key] = kinds.get(key, 0) + 1
        return "; ".join(f"{n} x {k}" for k, n in kinds.items())
    if isinstance(value, np.ndarray):
        return f"array {value.shape}"
    if isinstance(value, list):
        return f"{len(value)} results"
    return str(value)[:140]


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))


def measure(name: str) -> dict[str, Any]:
    """One case in this process: setup, then the grader's work twice: timed, with the growth of the
    peak RSS over the RSS before it (the peak is reset first: /proc/self/clear_refs), then under
    tracemalloc (which slows allocation down: its run is not timed)."""
    work = CASES[name]()
    gc.collect()
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # resets VmHWM (the peak RSS) to the current RSS
    rss_before = _status_kb("VmRSS")
    start = time.perf_counter()
    value = work()
    seconds = time.perf_counter() - start
    rss_growth = _status_kb("VmHWM") - rss_before
    del value
    gc.collect()
    tracemalloc.start()
    value = work()
    heap_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "case": name,
        "seconds": round(seconds, 2),
        "heap_peak_mb": round(heap_peak / 2**20, 1),
        "rss_growth_mb": round(rss_growth / 1024, 1),
        "maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "result": _summary(value),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="run only these (default: all)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one case here, print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one)))
        return
    print(
        "| case | time (s) | peak Python heap (MB) | peak RSS growth (MB) | process peak RSS (MB) | what the grader made of it |"
    )
    print("|---|---|---|---|---|---|")
    for name in args.case or CASES:
        done = subprocess.run(
            [sys.executable, __file__, "--one", name],
            capture_output=True,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
        )
        if done.returncode:
            print(f"| {name} | failed: {done.stderr.strip().splitlines()[-1:]} | | | | |")
            continue
        row = json.loads(done.stdout)
        print(
            f"| {name} | {row['seconds']} | {row['heap_peak_mb']} | {row['rss_growth_mb']} | {row['maxrss_mb']} "
            f"| {row['result']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
