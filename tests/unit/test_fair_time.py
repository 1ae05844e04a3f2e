"""Time limits count a run's own time: its CPU time and its starved time with the wall clock
(docs/limits.md).

The watchdog's rule (`watchdog.over`) and the runtime's alarm (`safe.start_alarm`) agree: a span is
over its limit when its wall time and its own CPU time both are, or its wall time less the time it
waited for a CPU (its run delay) is, or its wall time alone is past the stretched limit. Waiting for
a CPU (a neighbour's 200 busy processes, a loaded machine) passes wall time and run delay, not CPU
time; sleeping passes wall time only. Starvation is a sleep with a run delay made up to match here,
or a busy process pinned to the same CPU.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from autograder.sandbox import watchdog
from tests.unit.private_runtime import runtime


def never_demoted(tid: int) -> bool:
    """The fake task ids of these tests are nobody's: none asked to run after others."""
    return False


@pytest.mark.parametrize(
    "wall, cpu, waited, over",
    [
        (40.0, 2.0, 37.0, False),  # starved: waited for the CPU most of the time
        (40.0, 2.0, 80.0, False),  # starved, its threads waiting at once: counted twice, spared
        (31.0, 0.5, 0.0, True),  # a sleeping hang: waited for nothing, so its plain limit
        (40.0, 2.0, 5.0, True),  # slept most of the time, starved a little: the rest is its own
        (40.0, 31.0, 39.0, True),  # busy past its limit, however starved
        (10.0, 31.0, 60.0, False),  # several threads: CPU past the limit, wall clock not
        (121.0, 0.5, 120.0, True),  # starved past the stretched wall clock: the ceiling
        (40.0, 2.0, None, False),  # no run delay known: the stretch is granted whole...
        (121.0, 0.5, None, True),  # ...up to the stretched wall clock
        (31.0, None, None, True),  # no CPU time known: the wall clock alone, unstretched
    ],
)
def test_a_span_is_over_when_its_own_time_is(wall, cpu, waited, over):
    assert watchdog.over(wall, cpu, 30.0, 120.0 if cpu is not None else 30.0, waited) is over


def test_the_wait_clock_keeps_what_ended_tasks_waited():
    """A task's run delay is kept as last read once it ends; a reused number is a new task."""
    steps = [{1: 0.5, 2: 1.0}, {1: 2.0, 2: 3.0}, {2: 4.0}, {1: 0.25, 2: 0.5}, {}]
    now: dict[int, float] = {}

    def tasks() -> list[int]:
        now.clear()
        now.update(steps.pop(0))
        return list(now)

    clock = watchdog.WaitClock(tasks, read=lambda tid: now[tid], demoted=never_demoted)
    assert clock.last == 1.5
    # task 1 ends (2.0 kept); then 1 is new and 2 a new task under an old number (4.0 kept)
    assert [clock.tick() for _ in range(4)] == [5.0, 6.0, 6.75, 6.75]
    assert watchdog.WaitClock(lambda: [1], read=lambda tid: None, demoted=never_demoted).tick() is None  # no schedstat
    assert watchdog.WaitClock(None).tick() is None


def test_a_spans_credit_is_what_its_longest_waiting_tasks_waited():
    """The sum, but at most TAKING_TURNS times the one task that waited longest in the span: 100
    tasks queueing behind each other (2 s each) earn 4 s, not 200; a span begun later counts from
    its own start."""
    delays = {tid: 0.0 for tid in range(100)}
    clock = watchdog.WaitClock(lambda: list(delays), read=lambda tid: delays[tid], demoted=never_demoted)
    for tid in delays:
        delays[tid] = 2.0
    clock.tick()
    assert clock.last == 200.0 and clock.waited("run") == watchdog.TAKING_TURNS * 2.0
    clock.begin("item")
    assert clock.waited("item") == 0.0  # nothing read since it began
    delays[7] = 5.0
    clock.tick()
    assert clock.waited("item") == 3.0 and clock.waited("run") == watchdog.TAKING_TURNS * 5.0
    assert watchdog.WaitClock(None).waited("run") is None


def test_a_task_that_asked_to_run_after_others_earns_no_more_credit():
    """Task 2 waits as long as task 1, then is seen deprioritised: its delay stays as last read
    (1 s), whatever it waits after, even once it looks like the others again."""
    delays, demoted = {1: 1.0, 2: 1.0}, set()
    clock = watchdog.WaitClock(lambda: list(delays), read=lambda tid: delays[tid], demoted=lambda tid: tid in demoted)
    assert clock.last == 2.0
    demoted.add(2)
    delays.update({1: 2.0, 2: 30.0})
    assert clock.tick() == 3.0
    demoted.clear()
    delays[2] = 60.0
    assert clock.tick() == 3.0 and clock.waited("run") == 3.0


def test_the_idle_policy_and_a_higher_nice_are_deprioritised():
    """Read from the kernel for threads of this process: the idle policy, the batch policy and a
    nice value above the grader's are; a plain thread is not."""
    nice = os.getpriority(os.PRIO_PROCESS, 0)
    done, tids = threading.Event(), {}

    def thread(name: str) -> None:
        tid = threading.get_native_id()
        if name in ("idle", "batch"):
            os.sched_setscheduler(tid, os.SCHED_IDLE if name == "idle" else os.SCHED_BATCH, os.sched_param(0))
        elif name == "niced":
            os.setpriority(os.PRIO_PROCESS, tid, nice + 1)
        tids[name] = tid
        done.wait()

    threads = [threading.Thread(target=thread, args=(n,)) for n in ("plain", "idle", "batch", "niced")]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 10
        while len(tids) < len(threads) and time.monotonic() < deadline:
            time.sleep(0.01)
        found = {n: watchdog.deprioritised(t, nice) for n, t in tids.items()}
        assert found == {"plain": False, "idle": True, "batch": True, "niced": True}
    finally:
        done.set()
        for t in threads:
            t.join()


def test_a_task_has_a_run_delay_here():
    """This machine's kernel keeps scheduler statistics: without them the stretch is whole again."""
    assert watchdog.run_delay(os.getpid()) is not None
    assert watchdog.run_delay(2**22 + 1) is None


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


def _timed(safe, work, limit: float = 0.3) -> tuple[bool, float, float]:
    """Whether an alarm of `limit` s ended `work`, after how many seconds of wall clock and of CPU."""
    start, cpu = time.perf_counter(), time.process_time()
    safe.start_alarm(limit)
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


def _starved(safe, monkeypatch):
    """The runtime's run delay made to grow with the wall clock: every second waited for a CPU."""
    monkeypatch.setitem(safe.__dict__, "_run_delays", lambda: {"1": time.perf_counter()})


def test_the_alarm_spares_a_wait_for_the_cpu(safe, monkeypatch):
    _starved(safe, monkeypatch)
    timed_out, seconds, _ = _timed(safe, lambda: time.sleep(0.8))
    assert not timed_out and seconds >= 0.8


def test_the_alarm_spares_a_cell_starved_by_busy_neighbours(safe):
    """Really starved: two busy processes pinned to this thread's CPU leave it a third of it at
    most. The work needs 0.2 s of CPU, so it takes 0.6 s or more: over its 0.5 s of wall clock,
    not over it less what it waited. (The stretch is raised so that the ceiling is not what a
    loaded machine meets first: this is about the time starved, not about the ceiling.)"""
    safe.WALL_STRETCH = 20.0
    cpu = min(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    spin = f"import os\nos.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"
    hogs = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(2)]
    try:
        os.sched_setaffinity(0, {cpu})
        time.sleep(0.3)  # the hogs are running
        timed_out, seconds, used = _timed(safe, lambda: _busy_cpu(0.2), limit=0.5)
    finally:
        os.sched_setaffinity(0, before)
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert seconds > 0.5, "not starved: the test proves nothing"
    assert not timed_out, (seconds, used)


def _busy_cpu(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_the_alarm_stops_a_busy_loop_at_the_limit(safe):
    timed_out, seconds, cpu = _timed(safe, lambda: _busy(5.0))
    # at its limit of CPU time; on a machine so busy that it got less than a quarter of a CPU,
    # at the stretched wall clock
    assert timed_out and (0.3 <= cpu < 0.6 or 1.2 <= seconds) and seconds < 2.0


def test_the_alarm_stops_a_sleeping_hang_at_its_plain_limit(safe):
    """Sleeping waits for no CPU: no stretch (the run goes on; the watchdog need not kill it)."""
    timed_out, seconds, _ = _timed(safe, lambda: time.sleep(5.0))
    assert timed_out and 0.3 <= seconds < 1.2


def test_the_alarm_stops_a_starved_hang_at_the_stretched_limit(safe, monkeypatch):
    _starved(safe, monkeypatch)
    timed_out, seconds, _ = _timed(safe, lambda: time.sleep(5.0))
    assert timed_out and 1.2 <= seconds < 2.0


def test_without_a_run_delay_the_alarm_stretches_the_wall_clock(safe, monkeypatch):
    monkeypatch.setitem(safe.__dict__, "_run_delays", lambda: None)
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


def _watch(tmp_path, *, cpu, notebook_wall_seconds=None, tasks=None) -> tuple[watchdog.Verdict, float]:
    """The watchdog over a silent run of 0.3 s limits (run and item) that spends `cpu()` seconds
    and whose threads are `tasks()` (None: no run delay known)."""
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
            tasks=tasks,
        )
    ours.close()
    theirs.close()
    return verdict, time.monotonic() - start


def test_the_watchdog_spares_a_starved_run_until_the_stretched_wall_clock(tmp_path, monkeypatch):
    start = time.monotonic()
    monkeypatch.setattr(watchdog, "run_delay", lambda tid: time.monotonic() - start)
    verdict, seconds = _watch(tmp_path, cpu=lambda: 0.0, tasks=lambda: [1])
    assert verdict.timed_out and 1.2 <= seconds < 2.0


def test_the_watchdog_ends_a_wait_storm_near_its_plain_limit(tmp_path, monkeypatch):
    """A wait storm: 120 tasks of the notebook's own woken together each wait their place in
    the queue, a few ms of every 20; summed, that was more than the wall clock, and the hang ran to
    the stretched 4x. Each task here waits 2 % of the time: ended near the plain limit."""
    start = time.monotonic()
    monkeypatch.setattr(watchdog, "run_delay", lambda tid: 0.02 * (time.monotonic() - start))
    verdict, seconds = _watch(tmp_path, cpu=lambda: 0.0, tasks=lambda: list(range(120)))
    assert verdict.timed_out and seconds < 0.9


def test_the_watchdog_spares_two_threads_starved_in_turns(tmp_path, monkeypatch):
    """The interpreter and TensorFlow's pool thread take turns at a cell's work: starved, each
    waits half the time, and the cell keeps the whole stretch."""
    start = time.monotonic()
    monkeypatch.setattr(watchdog, "run_delay", lambda tid: 0.5 * (time.monotonic() - start))
    verdict, seconds = _watch(tmp_path, cpu=lambda: 0.0, tasks=lambda: [1, 2])
    assert verdict.timed_out and 1.2 <= seconds < 2.0


def test_the_watchdog_ends_a_sleeping_run_at_its_plain_limit(tmp_path):
    """The run's one task sleeps: its real run delay stays near 0, whatever the machine's load."""
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        verdict, seconds = _watch(tmp_path, cpu=lambda: 0.0, tasks=lambda: [sleeper.pid])
    finally:
        sleeper.kill()
        sleeper.wait()
    assert verdict.timed_out and seconds < 1.2


def test_without_a_run_delay_the_watchdog_stretches_the_wall_clock(tmp_path):
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
