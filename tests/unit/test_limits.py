"""autograder.grading.limits and reference.reference_timing: time limits derived from the reference's run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from autograder.course.config import Config, load_config
from autograder.grading import execute, limits, reference
from autograder.grading.limits import Timing, derive, item_seconds, timing_from_events
from autograder.grading.notebook import code_cells, read_notebook
from autograder.questions import get_assignment

REPO = Path(__file__).resolve().parents[2]
A02, A04 = "02_batch_normalisation", "04_optimizers"


def timing(total: float, cells: list[float], calls: list[float]) -> Timing:
    return Timing(
        total, {f"cell:{i}": s for i, s in enumerate(cells)}, {f"probe:q/case-{i}": s for i, s in enumerate(calls)}
    )


def test_item_seconds_pairs_starts_with_ends_and_drops_the_rest():
    events = [
        {"item": "cell:1", "event": "start", "t": 100.0},
        {"item": "cell:1", "event": "end", "t": 103.5},
        {"item": "cell:2", "event": "skipped", "t": 103.6},
        {"item": "probe:q/a", "event": "start", "t": 104.0},
        {"item": "probe:q/a", "event": "end", "t": 104.25},
        {"item": "cell:3", "event": "end", "t": 105.0},  # an end without a start
        {"item": "cell:4", "event": "start", "t": "soon"},  # no usable clock
        {"item": "cell:5", "event": "start", "t": 106.0},
    ]  # never ended
    assert item_seconds(events) == {"cell:1": 3.5, "probe:q/a": 0.25}
    found = timing_from_events(7.25, events)
    assert (found.total, found.cells, found.calls) == (7.25, {"cell:1": 3.5}, {"probe:q/a": 0.25})


def test_a_cell_run_twice_counts_its_last_run():
    events = [
        {"item": "cell:1", "event": "start", "t": 0.0},
        {"item": "cell:1", "event": "end", "t": 9.0},
        {"item": "cell:1", "event": "start", "t": 10.0},
        {"item": "cell:1", "event": "end", "t": 11.0},
    ]
    assert item_seconds(events) == {"cell:1": 1.0}


def test_limits_are_the_multiple_of_the_longest_reference_item_above_the_floor():
    config = Config()  # 5x, 30 s floor, ceilings 900 / 600 / 60
    got = derive(timing(22.0, [3.0, 17.6, 0.1], [0.05, 8.0]), config)
    assert (got.cell_seconds, got.call_seconds, got.notebook_seconds) == (88.0, 40.0, 118.0)  # 88 + floor > 5 x 22
    assert (got.reference_total, got.reference_cell, got.reference_call) == (22.0, 17.6, 8.0)
    assert (got.multiple, got.floor_seconds) == (5.0, 30.0)
    slow = derive(timing(60.0, [20.0, 25.0], [1.0]), config)
    assert slow.notebook_seconds == 300.0 and slow.cell_seconds == 125.0


def test_short_notebooks_get_the_floor_and_the_notebook_room_for_one_cell_at_its_limit():
    got = derive(timing(1.2, [0.66, 0.1], [0.002]), Config())
    assert (got.cell_seconds, got.call_seconds, got.notebook_seconds) == (30.0, 30.0, 60.0)
    assert derive(Timing(0.5, {}, {}), Config()).cell_seconds == 30.0  # nothing measured: the floor


def test_the_config_seconds_are_ceilings_and_the_keys_apply():
    capped = derive(timing(400.0, [200.0], [30.0]), Config())
    assert (capped.notebook_seconds, capped.cell_seconds, capped.call_seconds) == (900.0, 600.0, 60.0)
    small = derive(timing(22.0, [17.6], [0.05]), Config(cell_seconds=5, call_seconds=1, notebook_seconds=60))
    assert (small.cell_seconds, small.call_seconds, small.notebook_seconds) == (5.0, 1.0, 60.0)
    tuned = derive(timing(22.0, [17.6], [0.05]), Config(limit_multiple=2, limit_floor_seconds=10))
    assert (tuned.cell_seconds, tuned.call_seconds, tuned.notebook_seconds) == (35.2, 10.0, 45.2)


def test_applied_replaces_only_the_wall_clock_limits():
    config = Config(memory_mb=1024, pids=64)
    derived = derive(timing(1.0, [0.5], [0.1]), config)
    sandbox_limits = limits.applied(config, derived)
    assert (sandbox_limits.notebook_seconds, sandbox_limits.cell_seconds, sandbox_limits.call_seconds) == (60, 30, 30)
    assert sandbox_limits.notebook_wall_seconds == 900.0  # the ceiling caps the stretched wall clock
    assert (
        dataclasses.replace(
            sandbox_limits, notebook_seconds=900.0, cell_seconds=600.0, call_seconds=60.0, notebook_wall_seconds=None
        )
        == config.limits
    )


def test_timing_json_round_trip_and_damage():
    original = timing(5.8, [3.3, 2.0], [0.003])
    assert Timing.from_json(original.to_json()) == original
    for damaged in ("", "[]", '{"total": 1}', '{"total": "x", "cells": {}, "calls": {}}', '{"total": 1, "cells": 3}'):
        with pytest.raises(ValueError):
            Timing.from_json(damaged)


@pytest.fixture
def fake_runs(monkeypatch):
    """reference._run_solution replaced by one that writes the supervisor's events: the caching is tested
    here, the sandboxed run by tests/e2e/test_limits.py."""
    runs: list[list[str]] = []

    def run(job, config, use_sandbox, out: Path) -> float:
        runs.append([f"cell:{c.index}" for c in job.cells])
        out.mkdir(parents=True, exist_ok=True)
        events = [
            {"item": "cell:1", "event": "start", "t": 0.0},
            {"item": "cell:1", "event": "end", "t": 2.0},
            {"item": f"probe:{job.calls[0]['id']}", "event": "start", "t": 2.0},
            {"item": f"probe:{job.calls[0]['id']}", "event": "end", "t": 2.5},
        ]
        (out / execute.EVENTS_FILE).write_text(json.dumps(events))
        return 3.0

    monkeypatch.setattr(reference, "_run_solution", run)
    monkeypatch.setattr(reference, "sandbox_data_dir", lambda cache_dir: cache_dir / "data")
    return runs


def test_reference_timing_runs_every_cell_once_then_reads_the_cache(tmp_path, fake_runs):
    config = load_config(REPO, cache_dir=tmp_path)
    assignment = get_assignment(A04)
    first = reference.reference_timing(assignment, config, use_sandbox=True)
    assert (first.total, first.longest_cell, first.longest_call) == (3.0, 2.0, 0.5)
    assert reference.reference_timing(assignment, config, use_sandbox=True) == first
    assert len(fake_runs) == 1
    reference.reference_timing(assignment, dataclasses.replace(config, tf_threads=0), use_sandbox=True)
    reference.reference_timing(assignment, config, use_sandbox=False)
    assert len(fake_runs) == 3  # other threads, no sandbox: other times, measured apart


def test_the_timing_run_includes_the_training_cells(tmp_path, fake_runs):
    """The reference outputs are computed without `train` cells; the limits must not be."""
    config = load_config(REPO, cache_dir=tmp_path)
    nb = read_notebook(REPO / "solutions" / f"{A02}.ipynb")
    assert len(code_cells(nb)) > len(code_cells(nb, skip_training=True))  # 02 has `train` cells
    reference.reference_timing(get_assignment(A02), config, use_sandbox=True)
    assert fake_runs == [[f"cell:{c.index}" for c in code_cells(nb)]]


def test_a_damaged_timing_is_measured_again(tmp_path, fake_runs):
    config = load_config(REPO, cache_dir=tmp_path)
    assignment = get_assignment(A04)
    reference.reference_timing(assignment, config, use_sandbox=True)
    (entry,) = (tmp_path / "timing").glob("*.json")
    entry.write_text("{not json")
    assert reference.reference_timing(assignment, config, use_sandbox=True).total == 3.0
    assert len(fake_runs) == 2 and Timing.from_json(entry.read_text()).total == 3.0
