"""Time limits that follow the assignment: derived from how long the reference solution takes.

A hang is only noticed when a limit runs out, so one fixed limit sized for the slowest notebook
(600 s per cell) made a hang in a 5-second notebook cost ten minutes, and one such submission
doubled its worker's share of a class. Instead, the solution notebook is run once in full
(training cells included, graded on the probe calls a submission gets, in the same sandbox, on
this machine; `reference.reference_timing` caches it by content) and each limit is

    limit = min(ceiling, max(floor, multiple x reference time))

with `cell_seconds`, `call_seconds`, `notebook_seconds` as the ceilings (an instructor's hard cap
stays a cap) and `limit_multiple`, `limit_floor_seconds` from the config:

- per cell: the reference time is the solution's *longest* cell. A student's cells do not map 1:1
  onto the solution's (cells are added, split, merged, moved; a student may train in the cell
  that defines the model), so matching cells would be a guess, and a wrong guess cuts an honest
  cell. The longest reference cell bounds what any one step of the assignment needs (training
  3 epochs in 02, 20 in 03); a cell taking five times that is far outside the assignment.
- per probe call: the solution's longest call, for the same reason at a smaller scale: the
  runtime has one call limit per run, and hidden cases differ per seed, so a call id's time
  under another seed is not the time measured.
- per run (notebook): the solution's whole sandboxed run (interpreter start, cells, probe), and
  never less than the cell limit plus the floor: a run with one cell at its limit still fits, so
  a hang is ended by the cell limit and reported as that cell's `timeout`. The notebook limit
  only decides for many slow cells (where a low one would cut honest extra work and save little).

Each limit counts the run's own time, not its neighbours' (docs/limits.md): a span is over when
both its wall time and its sandbox's CPU time are past the limit, or its wall time alone is past
`wall_stretch` (4) times it, and the run's wall clock never passes the ceiling `notebook_seconds`.

Why 5x and 30 s (the defaults). The reference is timed on the grading machine itself, so the
multiple need not cover a slow machine, only the difference between the moment of measuring and
the moment of grading, and honest variation between students' code and the solution's. Measured
on the 2-core reference machine: with two solutions graded at once (as 2 workers do) and other
jobs running, the 02 training cell took 22-30 s against 17.6 s alone (1.3-1.7x), the TensorFlow
import 5.4-7.5 s against 3.3 s (up to 2.3x), the 03 run 41-48 s against 29 s. 5x leaves more than
2x over the worst of these, also for a Dask worker slower than the machine that measured (the
cache, and so the timing, is shared). The floor covers what does not scale with the assignment:
the TensorFlow import in a notebook whose solution has none (05's solution runs 0.5 s), a correct
answer written as a Python loop where the solution vectorises (the test suite's alternatives), a
cold disk. Measured defaults: 01, 04, 05 get 30 s per cell and 60 s per run (the old fixed limit
was 600 s per cell); 02 gets 88 s per cell, 03 75 s (their training cells: 17.6 s and 15.1 s).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from ..course.config import Config
from ..result import TimeLimits
from ..sandbox import Limits


@dataclass(frozen=True)
class Timing:
    """How long the reference solution took, graded as a submission would be, on this machine."""

    total: float  # the whole sandboxed run, seconds
    cells: dict[str, float]  # "cell:<index>" -> seconds
    calls: dict[str, float]  # "probe:<call id>" -> seconds

    @property
    def longest_cell(self) -> float:
        return max(self.cells.values(), default=0.0)

    @property
    def longest_call(self) -> float:
        return max(self.calls.values(), default=0.0)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True)

    @staticmethod
    def from_json(text: str) -> Timing:
        """Raises ValueError on anything but what `to_json` writes (a damaged cache entry)."""
        try:
            doc = json.loads(text)
            timing = Timing(
                float(doc["total"]),
                {str(k): float(v) for k, v in doc["cells"].items()},
                {str(k): float(v) for k, v in doc["calls"].items()},
            )
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a timing record: {exc}") from None
        return timing


def item_seconds(events: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds from each item's start to its end, from the runner's progress events ("t" is the
    runner's clock). Items that never ended are left out: the timing run must finish anyway."""
    started: dict[str, float] = {}
    seconds: dict[str, float] = {}
    for event in events:
        item, kind, t = event.get("item"), event.get("event"), event.get("t")
        if not isinstance(item, str) or not isinstance(t, (int, float)):
            continue
        if kind == "start":
            started[item] = float(t)
        elif kind == "end" and item in started:
            seconds[item] = round(max(0.0, float(t) - started.pop(item)), 3)
    return seconds


def timing_from_events(total: float, events: list[dict[str, Any]]) -> Timing:
    seconds = item_seconds(events)
    return Timing(
        round(total, 3),
        {k: v for k, v in seconds.items() if k.startswith("cell:")},
        {k: v for k, v in seconds.items() if k.startswith("probe:")},
    )


def derive(timing: Timing, config: Config) -> TimeLimits:
    """The limits for every submission of this assignment (see the module docstring)."""
    multiple, floor = config.limit_multiple, config.limit_floor_seconds

    def limit(reference: float, ceiling: float) -> float:
        return round(float(min(ceiling, max(floor, multiple * reference))), 1)

    cell = limit(timing.longest_cell, config.cell_seconds)
    notebook = round(
        float(min(config.notebook_seconds, max(limit(timing.total, config.notebook_seconds), cell + floor))), 1
    )
    return TimeLimits(
        notebook_seconds=notebook,
        cell_seconds=cell,
        call_seconds=limit(timing.longest_call, config.call_seconds),
        reference_total=timing.total,
        reference_cell=timing.longest_cell,
        reference_call=timing.longest_call,
        multiple=multiple,
        floor_seconds=floor,
    )


def applied(config: Config, limits: TimeLimits) -> Limits:
    """The sandbox's limits: the config's, with the derived limits in place of the ceilings. A run's
    time is its own (CPU time with the wall clock, docs/limits.md), and its wall clock alone may
    run to `wall_stretch` times the derived limit, but never past the ceiling: an instructor's
    `notebook_seconds` stays a cap on the run's wall clock (Gradescope's timeout is sized by it)."""
    return dataclasses.replace(
        config.limits,
        notebook_seconds=limits.notebook_seconds,
        cell_seconds=limits.cell_seconds,
        call_seconds=limits.call_seconds,
        notebook_wall_seconds=max(limits.notebook_seconds, config.notebook_seconds),
    )
