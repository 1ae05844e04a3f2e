"""Time limits count a run's own time: its CPU time with the wall clock (docs/limits.md).

The watchdog's rule (`watchdog.over`) and the runtime's alarm (`safe.start_alarm`) agree: a span is
over its limit when its wall time and its own CPU time both are, or its wall time alone is past the
stretched limit. Waiting for a CPU (a neighbour's 200 busy processes, a loaded machine) looks to
both like sleeping: wall time passes, CPU time does not. A sleep stands for it here.
"""

from __future__ import annotations

import socket
import time

import pytest

from autograder.sandbox import watchdog
from tests.unit.private_runtime import runtime


@pytest.mark.parametrize(
    "wall, cpu, over",
    [
        (40.0, 2.0, False),  # starved: waited for the CPU most of the time
        (40.0, 31.0, True),  # busy past its limit
        (10.0, 31.0, False),  # several threads: CPU past the limit, wall clock not
        (121.0, 0.5, True),  # a sleeping hang, past the stretched wall clock
        (31.0, None, True),  # no CPU time known: the wall clock alone, unstretched
    ],
)
def test_a_span_is_over_when_its_own_time_is(wall, cpu, over):
    assert watchdog.over(wall, cpu, 30.0, wall_limit=120.0 if cpu is not None else 30.0) is over


def test_a_failed_read_keeps_the_last_cpu_time():
    values = iter([1.0, None, 3.0])
    clock = watchdog.CpuClock(lambda: next(values))
    assert (clock.last, clock.tick(), clock.tick()) == (1.0, 1.0, 3.0)
    assert watchdog.CpuClock(None).tick() is None


@pytest.fixture
def safe():
    module = runtime()["safe"]
    before = module.WALL_STRETCH
    module.WALL_STRETCH = 4.0
    yield module
    module.stop_alarm()
    module.WALL_STRETCH = before


def _timed(safe, work) -> tuple[bool, float, float]:
    """Whether a 0.3 s alarm ended `work`, after how many seconds of wall clock and of CPU."""
    start, cpu = time.perf_counter(), time.process_time()
    safe.start_alarm(0.3)
    try:
        work()
        timed_out = False
    except safe.CallTimeout:
        timed_out = True
    finally:
        safe.stop_alarm()
    return timed_out, time.perf_counter() - start, time.process_time() - cpu


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_the_alarm_spares_a_wait_that_costs_no_cpu_time(safe):
    timed_out, seconds, _ = _timed(safe, lambda: time.sleep(0.8))
    assert not timed_out and seconds >= 0.8


def test_the_alarm_stops_a_busy_loop_at_the_limit(safe):
    timed_out, seconds, cpu = _timed(safe, lambda: _busy(5.0))
    # at its limit of CPU time; on a machine so busy that it got less than a quarter of a CPU,
    # at the stretched wall clock
    assert timed_out and (0.3 <= cpu < 0.6 or 1.2 <= seconds) and seconds < 2.0


def test_the_alarm_stops_a_sleeping_hang_at_the_stretched_limit(safe):
    timed_out, seconds, _ = _timed(safe, lambda: time.sleep(5.0))
    assert timed_out and 1.2 <= seconds < 2.0


def test_without_a_stretch_the_alarm_is_the_wall_clock(safe):
    safe.WALL_STRETCH = 1.0
    timed_out, seconds, _ = _timed(safe, lambda: time.sleep(0.8))
    assert timed_out and seconds < 0.6


class _Forever:
    """A run that never ends on its own (the watchdog's `proc`)."""

    returncode = None

    def poll(self):
        return None


def _watch(tmp_path, *, cpu, notebook_wall_seconds=None) -> tuple[watchdog.Verdict, float]:
    """The watchdog over a silent run of 0.3 s limits (run and item) that spends `cpu()` seconds."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    start = time.monotonic()
    with open(tmp_path / "log", "wb") as log:
        verdict = watchdog.watch(
            _Forever(),
            watchdog.EventReader(ours),
            start=start,
            notebook_seconds=0.3,
            item_seconds=lambda _item: 60.0,
            log=log,
            writable=[],
            disk_quota=10**9,
            kill=lambda: None,
            cpu_seconds=cpu,
            wall_stretch=4.0,
            notebook_wall_seconds=notebook_wall_seconds,
        )
    ours.close()
    theirs.close()
    return verdict, time.monotonic() - start


def test_the_watchdog_spares_a_starved_run_until_the_stretched_wall_clock(tmp_path):
    verdict, seconds = _watch(tmp_path, cpu=lambda: 0.0)
    assert verdict.timed_out and 1.2 <= seconds < 2.0


def test_the_watchdog_ends_a_busy_run_at_its_limit(tmp_path):
    start = time.monotonic()
    verdict, seconds = _watch(tmp_path, cpu=lambda: time.monotonic() - start)
    assert verdict.timed_out and seconds < 0.8


def test_the_ceiling_caps_the_stretched_wall_clock(tmp_path):
    verdict, seconds = _watch(tmp_path, cpu=lambda: 0.0, notebook_wall_seconds=0.5)
    assert verdict.timed_out and 0.5 <= seconds < 0.9


def test_without_cpu_time_the_watchdog_is_the_wall_clock(tmp_path):
    verdict, seconds = _watch(tmp_path, cpu=None)
    assert verdict.timed_out and seconds < 0.8
