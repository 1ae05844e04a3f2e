"""Reference outputs: the solutions' functions run on the very cases a submission gets.

The solution notebook runs through the same sandboxed executor as a submission (minus its
`train` cells, which the functions do not need), and its probe output is cached under a key made
of everything that could change it: the notebook's bytes, the calls and inputs, the runtime code
and the grader version. The cache lives on the grader's side and is never mounted in a sandbox.

The time limits of a submission are derived from the solution's own times (`limits.py`), so the
solution is also run once in full, training included, exactly as a submission is graded; its
times are cached by content too, and per `tf_threads` and sandboxing, which change them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from .. import __version__
from ..course.config import Config
from ..errors import InfrastructureError
from ..questions.base import Assignment
from ..wire import CallOutput, Raised
from . import collect, execute, jobfolder
from .cache import locked
from .limits import Timing, timing_from_events
from .notebook import code_cells, read_notebook
from .prepare import Plan, make_plan, sandbox_data_dir


def solution_path(config: Config, assignment_id: str) -> Path:
    path = config.path(config.solutions_dir) / f"{assignment_id}.ipynb"
    if not path.is_file():
        raise InfrastructureError(f"reference solution {path} not found (set solutions_dir in [tool.autograder])")
    return path


def cache_key(solution: Path, plan: Plan) -> str:
    digest = hashlib.sha256()
    digest.update(solution.read_bytes())
    digest.update(plan.fingerprint().encode())
    for path in jobfolder.RUNTIME_FILES:
        digest.update(path.read_bytes())
    digest.update(__version__.encode())
    return digest.hexdigest()[:32]


def reference_outputs(plan: Plan, config: Config, *, use_sandbox: bool) -> dict[str, CallOutput]:
    calls = plan.calls(reference=True)
    if not calls:
        return {}
    solution = solution_path(config, plan.assignment.id)
    folder = config.cache_dir / "reference" / f"{plan.assignment.id}-{cache_key(solution, plan)}"
    ids = [c["id"] for c in calls]
    with locked(folder):
        if not (folder / "probe.json").is_file():
            _compute(plan, config, calls, solution, folder, use_sandbox)
    outputs = collect.read_outputs(folder, ids)
    broken = [cid for cid, out in outputs.items() if isinstance(out.value, Raised) and out.value.type == "NoOutput"]
    if broken:
        shutil.rmtree(folder, ignore_errors=True)
        raise InfrastructureError(f"the cached reference for {plan.assignment.id} is damaged; removed it, run again")
    return outputs


def _compute(plan: Plan, config: Config, calls: list[dict], solution: Path, folder: Path, use_sandbox: bool) -> None:
    nb = read_notebook(solution)
    job = execute.Job(code_cells(nb, skip_training=True), calls, plan.inputs, solution, None)
    tmp = folder.with_name(folder.name + ".tmp")
    _run_solution(job, config, use_sandbox, tmp)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def _run_solution(job: execute.Job, config: Config, use_sandbox: bool, out: Path) -> float:
    """Run the solution under the config's ceilings into `out`; its seconds, or InfrastructureError."""
    shutil.rmtree(out, ignore_errors=True)
    execution = execute.run(
        job, config.limits, use_sandbox=use_sandbox, max_passes=1, tf_threads=config.tf_threads, out=out
    )
    if execution.cell_errors or not (out / "probe.json").is_file():
        shutil.rmtree(out, ignore_errors=True)
        details = "; ".join(f"cell {e.cell}: {e.status} {e.ename}: {e.evalue}" for e in execution.cell_errors)
        traceback = execution.last_traceback
        raise InfrastructureError(
            f"the reference solution {job.submission} failed to run: {details or 'no output'}"
            + ("\n" + traceback if traceback else "")
        )
    return execution.seconds


def reference_timing(assignment: Assignment, config: Config, *, use_sandbox: bool) -> Timing:
    """How long the solution takes on this machine when graded as a submission is: every code cell
    (training too), the probe on every public and hidden case of seed 0 (other seeds have as many
    cases; their sizes vary within bounds, e.g. 01's fans up to 3000, but the calls take
    milliseconds against the 30 s floor). Measured once per content, then cached, not per seed:
    every submission of a batch, and a regrade on this machine, get the same limits."""
    solution = solution_path(config, assignment.id)
    plan = make_plan(assignment, 0)
    key = cache_key(solution, plan) + f"-t{config.tf_threads}{'' if use_sandbox else '-unsandboxed'}"
    path = config.cache_dir / "timing" / f"{assignment.id}-{key}.json"
    with locked(path):
        try:
            return Timing.from_json(path.read_text())
        except (OSError, ValueError):
            pass  # not measured yet, or damaged: measure (again)
        data_dir = sandbox_data_dir(config.cache_dir) if assignment.needs_data else None
        job = execute.Job(code_cells(read_notebook(solution)), plan.calls(), plan.inputs, solution, data_dir)
        out = path.with_name(path.stem + ".run")
        seconds = _run_solution(job, config, use_sandbox, out)
        timing = timing_from_events(seconds, json.loads((out / execute.EVENTS_FILE).read_text()))
        shutil.rmtree(out, ignore_errors=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(timing.to_json() + "\n")
        tmp.rename(path)
        return timing
