"""Reference outputs: the solutions' functions run on the very cases a submission gets.

The solution notebook runs through the same sandboxed executor as a submission (minus its
`train` cells, which the functions do not need), and its probe output is cached under a key made
of everything that could change it: the notebook's bytes, the calls and inputs, the runtime code
and the grader version. The cache lives on the grader's side and is never mounted in a sandbox.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from . import __version__, collect, execute
from .collect import CallOutput, Raised
from .cache import locked
from .config import Config
from .errors import InfrastructureError
from .notebook import code_cells, read_notebook
from .prepare import Plan


def solution_path(config: Config, assignment_id: str) -> Path:
    path = config.path(config.solutions_dir) / f"{assignment_id}.ipynb"
    if not path.is_file():
        raise InfrastructureError(f"reference solution {path} not found (set solutions_dir in [tool.autograder])")
    return path


def cache_key(solution: Path, plan: Plan) -> str:
    digest = hashlib.sha256()
    digest.update(solution.read_bytes())
    digest.update(plan.fingerprint().encode())
    for name in execute.RUNTIME_FILES:
        digest.update((execute.RUNTIME_DIR / name).read_bytes())
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
    shutil.rmtree(tmp, ignore_errors=True)
    record, _ = execute.run(job, config.limits, use_sandbox=use_sandbox, max_passes=1,
                            tf_threads=config.tf_threads, keep_outputs=tmp)
    if record.cell_errors or not (tmp / "probe.json").is_file():
        shutil.rmtree(tmp, ignore_errors=True)
        details = "; ".join(f"cell {e.cell}: {e.ename}: {e.evalue}" for e in record.cell_errors) or "no output"
        raise InfrastructureError(f"the reference solution {solution} failed to run: {details}"
                                  + ("\n" + record.tracebacks[-1] if record.tracebacks else ""))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
