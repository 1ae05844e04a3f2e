"""Grade what is not done yet, in parallel, and never lose a result.

Where a submission is graded is an `Executor`: threads of this process (`Threads`) or the workers
of a Dask cluster (`Dask`). Both take the same (submission, seed) pairs and yield each one's
outcome as it finishes, a `Result` or the exception that stopped the grader on it, so the
bookkeeping (what is done, writing each result the moment it exists, progress, failures) is
written once, in `run_batch`.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from ..course.config import Config, load_config
from ..errors import InfrastructureError, UsageError
from ..files import write_atomic
from ..grading.grade import Prepared, file_sha256, grade, prepare_assignment
from ..result import Result
from ..runtime import landlock
from ..sandbox import levels
from .discover import Submission
from .store import folders, load_done, result_path

DASK_CONNECT_SECONDS = 10.0  # README: how long an unreachable scheduler is waited for

GradeFn = Callable[[Submission, int], Result]
Outcome = Result | BaseException


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    skipped: int
    current: str
    eta_seconds: float | None
    last: Result | None = None
    failure: str | None = None


class Executor(Protocol):
    """Grades submissions somewhere; yields (submission, outcome) in the order they finish."""

    def grade(self, subs: Sequence[Submission], seed: int) -> Iterator[tuple[Submission, Outcome]]: ...


class Threads:
    """`grade_fn` in a pool of threads of this process (each sandbox is its own process tree)."""

    def __init__(self, grade_fn: GradeFn, workers: int) -> None:
        self.grade_fn, self.workers = grade_fn, max(1, workers)

    def grade(self, subs: Sequence[Submission], seed: int) -> Iterator[tuple[Submission, Outcome]]:
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="grader") as pool:
            futures = {pool.submit(self.grade_fn, sub, seed): sub for sub in subs}
            for future in as_completed(futures):
                yield futures[future], _outcome(future.result)


class Dask:
    """`grade_task` on a Dask cluster's workers; results come back as JSON (plain data).

    The workers need the same package, solutions and data set, and each submission's path must be
    readable on them (a shared file system, as on a Slurm/PBS cluster).

    A worker runs whatever function a client submits, as its own user (root, where the sandbox
    drops to its pool uids): an unauthenticated scheduler is code execution as root for anyone who
    can reach it, a notebook included. So the cluster must authenticate: `local` starts the
    batch's own cluster on this machine with credentials made for it alone
    (`Security.temporary()`: a private CA and certificate, in memory, handed to the workers'
    processes through their start-up pipe, never a file or a command line); any other address must
    be `tls://`, with the credentials in Dask's configuration (`distributed.comm.tls.*`, and
    `require-encryption`). A `tcp://` scheduler is refused. And at the no-namespace level a Dask
    batch needs network isolation in the sandbox (Landlock's TCP rules, ABI 4): without it the
    notebook shares the workers' network, and reaching a scheduler is the first step of any
    attack on it (`require_network_isolation`, on the client and again on each worker).
    """

    def __init__(self, client: Any, config: Config, use_sandbox: bool, cluster: Any = None) -> None:
        self.client, self.cluster = client, cluster
        self.settings = {
            "root": str(config.root),
            "cache_dir": str(config.cache_dir),
            "sandbox": use_sandbox,
            "namespaces": config.namespaces,
        }  # --no-namespaces reaches the workers

    @classmethod
    def connect(cls, address: str, config: Config, use_sandbox: bool, workers: int = 1) -> Dask:
        """A connected client, or a one-line error: a usage error when the extra is not installed
        or the address is not authenticated (nothing ran yet), an infrastructure error naming the
        address and the time waited when the scheduler cannot be reached (distributed would
        otherwise retry for 30 s, then raise a traceback). `local`: the batch's own cluster of
        `workers` worker processes."""
        try:
            from distributed import Client, LocalCluster
            from distributed.security import Security
        except ImportError:
            raise UsageError("--dask-scheduler needs the Dask extra: pip install 'dnn-grader[dask]'") from None
        if address != "local" and not address.startswith("tls://"):
            raise UsageError(
                f"--dask-scheduler {address}: a scheduler without authentication runs anyone's code on its "
                "workers (as root here): use --dask-scheduler local (the batch's own cluster, with credentials "
                "made for it), or a tls:// scheduler with Dask's TLS configuration (distributed.comm.tls.*)"
            )
        require_network_isolation({"sandbox": use_sandbox, "namespaces": config.namespaces})
        start = time.monotonic()
        if address == "local":
            try:
                security = Security.temporary()
            except ImportError:
                raise UsageError(
                    "--dask-scheduler local needs the Dask extra: pip install 'dnn-grader[dask]'"
                ) from None
            cluster = LocalCluster(
                n_workers=max(1, workers),
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                security=security,
            )
            return cls(Client(cluster, security=security, timeout=DASK_CONNECT_SECONDS), config, use_sandbox, cluster)
        try:
            return cls(Client(address, timeout=DASK_CONNECT_SECONDS), config, use_sandbox)
        except Exception as exc:  # noqa: BLE001 - OSError, TimeoutError, ValueError for a bad address...
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise InfrastructureError(
                f"cannot reach the Dask scheduler at {address} (waited {time.monotonic() - start:.0f} s): {reason}"
            ) from None

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def grade(self, subs: Sequence[Submission], seed: int) -> Iterator[tuple[Submission, Outcome]]:
        try:
            from distributed import as_completed as dask_completed
        except ImportError:  # the caller holds a Client, so this only fails in a broken install
            raise UsageError("the Dask backend needs: pip install 'dnn-grader[dask]'") from None
        futures = {
            self.client.submit(
                grade_task, str(sub.path), sub.assignment, sub.student, seed, self.settings, sub.refused, pure=False
            ): sub
            for sub in subs
        }
        for future in dask_completed(list(futures)):
            yield futures[future], _outcome(lambda f=future: Result.from_dict(json.loads(f.result())))


def _outcome(get: Callable[[], Result]) -> Outcome:
    try:
        return get()
    except Exception as exc:  # noqa: BLE001 - one submission never stops the batch
        return exc


# A Dask worker's prepared assignments, per (settings, assignment, seed): prepared once per worker
# process, as the batch prepares once on the machine that runs it.
_PREPARED: dict[tuple[str, str, int], Prepared] = {}
_PREPARED_LOCK = threading.Lock()


def require_network_isolation(settings: Mapping[str, Any]) -> None:
    """Refuse a Dask batch whose sandboxes would share the workers' network: the no-namespace
    level without Landlock's TCP rules (bubblewrap's network namespace, or no sandbox at all, as
    asked for, are what they are). Not an `accept_weaker` part: no config makes it safe."""
    if settings["sandbox"] and not settings["namespaces"] and levels.landlock_abi() < landlock.NET_ABI:
        raise InfrastructureError(
            "a Dask batch at the no-namespace level needs network isolation in the sandbox (Landlock ABI 4, "
            f"Linux 6.7; this kernel offers ABI {levels.landlock_abi()}): a notebook could reach the scheduler "
            "and run code on the workers as root. Grade with threads (no --dask-scheduler) on this machine"
        )


def grade_task(path: str, assignment: str, student: str, seed: int, settings: dict[str, Any], refused: str = "") -> str:
    """What a Dask worker runs: grade one file, return the result as JSON (plain data)."""
    require_network_isolation(settings)  # this worker's kernel, which may not be the client's
    key = (json.dumps(settings, sort_keys=True), assignment, seed)
    with _PREPARED_LOCK:  # a worker's threads share one preparation
        if key not in _PREPARED:
            config = load_config(
                Path(settings["root"]), cache_dir=Path(settings["cache_dir"]), namespaces=settings.get("namespaces")
            )
            _PREPARED[key] = prepare_assignment(assignment, config, seed=seed, use_sandbox=settings["sandbox"])
    return grade(Path(path), _PREPARED[key], student=student, refused=refused or None).to_json()


def default_workers(config: Config) -> int:
    """As many as cores allow, and no more than memory allows at the configured limit each."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 8 * 1024**3
    by_memory = max(1, int(total * 0.8) // (config.memory_mb * 1024**2))
    return max(1, min(os.cpu_count() or 1, by_memory))


def run_batch(
    subs: Sequence[Submission],
    out: Path,
    seed: int,
    executor: Executor,
    *,
    force: bool = False,
    on_progress: Callable[[Progress], None] = lambda p: None,
    settings_hashes: Mapping[str, str] | None = None,
    named: Mapping[str, str] | None = None,
) -> tuple[list[Result], list[tuple[str, str]]]:
    """Grade what is not done yet; returns all results (old and new) and the failures.

    `settings_hashes` (assignment -> `Config.settings_hash`): a result graded under other settings
    is not done. A failure of the grader on one submission (not a student's failure, which is a
    result) is reported and the batch goes on; its result is not written, so a rerun retries it.
    """
    named = named if named is not None else folders(subs)
    results: dict[str, Result] = {}
    todo: list[Submission] = []
    for sub in subs:
        done = (
            None
            if force
            else load_done(
                result_path(out, sub, named),
                file_sha256(sub.path),
                seed,
                (settings_hashes or {}).get(sub.assignment or ""),
            )
        )
        if done is not None:
            results[sub.key] = done
        else:
            todo.append(sub)
    skipped, failures = len(results), []
    start = time.monotonic()
    on_progress(Progress(0, len(todo), skipped, todo[0].key if todo else "", None))
    for finished, (sub, outcome) in enumerate(executor.grade(todo, seed), start=1):
        failure = last = None
        if isinstance(outcome, BaseException):
            failure = f"{type(outcome).__name__}: {outcome}"
            failures.append((sub.upload, failure))
        else:
            last = replace(outcome, student=sub.student, submission=sub.upload)
            results[sub.key] = last
            try:
                write_atomic(result_path(out, sub, named), last.to_json() + "\n", durable=True)
            except OSError as exc:  # this student's file, not the batch: graded, and said so
                failure = f"cannot keep the result ({exc.strerror or exc}); it is in the gradebook, a rerun regrades it"
                failures.append((sub.upload, failure))
        eta = (time.monotonic() - start) / finished * (len(todo) - finished)
        on_progress(Progress(finished, len(todo), skipped, sub.key, eta, last, failure))
    return [results[k] for k in sorted(results)], failures
