"""Grade a class: find the submissions, grade them in parallel, never lose one, resume.

Discovery accepts notebook files, folders (one sub-folder per student, or flat) and `.zip`
downloads from an LMS, and works out student and assignment for each file from the names Canvas
and Moodle write (`lms.py` has their rules and sources), a folder per student, or a flat
`<student>_<assignment id>.ipynb`. What cannot be placed is reported, never guessed.

Each result is written atomically when it is done, under a name fixed by (student, assignment),
and the batch's seed is stored in `batch.json` beside them, so rerunning the same command after
a crash or `kill -9` grades only what is missing and yields exactly the same scores.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import stat
import tempfile
import time
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .config import Config
from .errors import UsageError
from .grade import file_sha256
from .lms import LmsName, nfc, parse_canvas, parse_moodle
from .notebook import assignment_from_name
from .questions import ASSIGNMENTS
from .result import SCHEMA_VERSION, Result

# Zip limits: a class download is a few hundred notebooks of a few MB at most.
MAX_ZIP_FILES = 20_000
MAX_ZIP_BYTES = 4 * 1024**3
MAX_ZIP_RATIO = 200

# Unicode letters, marks and digits stay (Canvas and Moodle keep them): `müllerjürgen` must not become
# `m_llerj_rgen`. A name is cut to MAX_NAME_BYTES of UTF-8, within every file system's 255.
MAX_NAME_BYTES = 200


@dataclass(frozen=True)
class Submission:
    path: Path
    student: str
    assignment: str | None
    order: tuple[int, str] = (0, "")  # (Canvas attachment id, name): the latest upload wins on duplicates
    lms: LmsName | None = None  # how the LMS named it, for matching to a roster (`roster.py`)

    @property
    def key(self) -> str:
        return f"{self.student}/{self.assignment}"


@dataclass(frozen=True)
class Unplaced:
    file: str
    reason: str


@dataclass
class Discovery:
    submissions: list[Submission] = field(default_factory=list)
    unplaced: list[Unplaced] = field(default_factory=list)


def safe_name(text: str) -> str:
    """A file-system-safe version of a student id (no separators, no leading dots), in NFC."""
    kept = [c if c in "._ -" or unicodedata.category(c)[0] in "LMN" else None for c in nfc(text)]
    # A run of refused characters becomes one "_" (as ids were named before Unicode was kept).
    text = "".join(c or "_" for i, c in enumerate(kept) if c is not None or i == 0 or kept[i - 1] is not None)
    cleaned = text.strip(" .") or "unnamed"
    return cleaned.encode()[:MAX_NAME_BYTES].decode(errors="ignore").rstrip(" .") or "unnamed"


def _place(path: Path, root: Path | None, forced_assignment: str | None) -> Submission | Unplaced:
    """Student and assignment of one file: a Moodle name (folder or flat), a Canvas name, else a
    folder per student, else a flat `<student>_<assignment>.ipynb` (the documented fallback)."""
    rel = path.relative_to(root) if root is not None else Path(path.name)
    # Moodle first: its `_assignsubmission_` marker is specific, and a student's own file inside a
    # Moodle folder may look like a Canvas name (`smith_1_2_04_optimizers.ipynb`).
    lms = parse_moodle(rel.parts) or parse_canvas(path.name)
    name = lms.file if lms else path.name
    assignment = forced_assignment or assignment_from_name(name, list(ASSIGNMENTS))
    if assignment is None:
        return Unplaced(str(rel), "cannot tell the assignment from the file name; pass --assignment")
    if lms is not None:
        return Submission(path, safe_name(lms.student(assignment)), assignment, (lms.order, path.name), lms)
    if len(rel.parts) >= 2:
        return Submission(path, safe_name(rel.parts[0]), assignment, (0, path.name))
    stem = Path(name).stem  # flat: <student>_<assignment>.ipynb, or just <assignment>.ipynb
    rest = re.sub(re.escape(assignment), "", stem, flags=re.I).strip("_- .")
    return Submission(path, safe_name(rest or stem), assignment, (0, path.name))


def _safe_extract(archive: Path, target: Path) -> list[Unplaced]:
    """Extract a zip, refusing path traversal, links and bombs; returns what was refused."""
    refused: list[Unplaced] = []
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        return [Unplaced(str(archive), f"not a readable zip file ({exc})")]
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ZIP_FILES:
            return [Unplaced(str(archive), f"more than {MAX_ZIP_FILES} files in the archive")]
        total = sum(i.file_size for i in infos)
        packed = max(1, sum(i.compress_size for i in infos))
        if total > MAX_ZIP_BYTES or total / packed > MAX_ZIP_RATIO:
            return [Unplaced(str(archive), f"refused: {total} bytes uncompressed (ratio {total / packed:.0f}), a zip bomb?")]
        for info in infos:
            parts = Path(info.filename).parts
            mode = (info.external_attr >> 16) & 0o170000
            if info.filename.startswith(("/", "\\")) or ".." in parts or ":" in info.filename:
                refused.append(Unplaced(f"{archive.name}:{info.filename}", "refused: path outside the archive"))
                continue
            if mode == stat.S_IFLNK:
                refused.append(Unplaced(f"{archive.name}:{info.filename}", "refused: symbolic link"))
                continue
            if info.is_dir():
                continue
            dest = target / Path(*parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(dest, "wb") as out:
                copied = 0
                while chunk := src.read(1 << 20):
                    copied += len(chunk)
                    if copied > info.file_size:  # the header lied about the size
                        break
                    out.write(chunk)
    return refused


def discover(inputs: Sequence[Path], workdir: Path, forced_assignment: str | None = None) -> Discovery:
    """Every notebook under the inputs, placed or reported; zips are extracted under workdir."""
    found = Discovery()
    for index, item in enumerate(inputs):
        if not item.exists():
            raise UsageError(f"{item}: no such file or folder")
        roots: list[tuple[Path, Path | None]] = []
        if item.is_file() and item.suffix.lower() == ".zip":
            target = workdir / f"zip{index}"
            found.unplaced += _safe_extract(item, target)
            roots.append((target, target))
        elif item.is_dir():
            roots.append((item, item))
        else:
            roots.append((item, None))
        for root, base in roots:
            files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
            for path in files:
                rel = str(path.relative_to(base)) if base else path.name
                if any(part.startswith(".") or part == "__MACOSX" for part in Path(rel).parts):
                    continue
                if path.suffix.lower() != ".ipynb":
                    if base is not None:
                        found.unplaced.append(Unplaced(rel, "not a notebook (.ipynb)"))
                    continue
                placed = _place(path, base, forced_assignment)
                (found.submissions if isinstance(placed, Submission) else found.unplaced).append(placed)
    found.submissions, dropped = latest_per_key(found.submissions)
    found.unplaced += dropped
    return found


def latest_per_key(subs: list[Submission]) -> tuple[list[Submission], list[Unplaced]]:
    """One submission per (student, assignment): the highest Canvas attachment id (the later
    upload). Where no LMS number orders them (two notebooks in one Moodle submission or folder),
    choosing would be a guess: all of them are listed instead, and none is graded."""
    groups: dict[str, list[Submission]] = {}
    for sub in subs:
        groups.setdefault(sub.key, []).append(sub)
    kept: list[Submission] = []
    dropped: list[Unplaced] = []
    for key, group in sorted(groups.items()):
        group.sort(key=lambda s: s.order)
        if len(group) > 1 and group[-1].order[0] == group[-2].order[0]:
            names = ", ".join(s.path.name for s in group)
            ids = sorted({s.lms.lms_id for s in group if s.lms is not None})
            why = (f"{len(ids)} participants (ids {', '.join(ids)}) are named {key}: rename each "
                   f"<email>_{group[0].assignment}.ipynb" if len(ids) > 1 else
                   f"{len(group)} notebooks for {key} and no upload order to choose by ({names}): keep one")
            dropped += [Unplaced(s.path.name, f"{why}; not graded") for s in group]
            continue
        kept.append(group[-1])
        dropped += [Unplaced(s.path.name, f"superseded by {group[-1].path.name} (a later upload) for {key}")
                    for s in group[:-1]]
    return kept, dropped


# --- results on disk ------------------------------------------------------------------------------

def result_path(out: Path, sub: Submission) -> Path:
    return out / "results" / sub.student / f"{sub.assignment}.json"


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_done(path: Path, digest: str, seed: int) -> Result | None:
    """A finished result for exactly this file and seed, or None (missing, damaged, stale)."""
    try:
        doc = json.loads(path.read_text())
        result = Result.from_dict(doc)
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return result if result.submission_sha256 == digest and result.seed == seed else None


def batch_seed(out: Path, requested: int | None, configured: int | None) -> int:
    """The seed of this batch, kept in out/batch.json so that a resumed batch uses the same one."""
    meta = out / "batch.json"
    stored = None
    if meta.is_file():
        try:
            stored = int(json.loads(meta.read_text())["seed"])
        except (OSError, ValueError, KeyError, TypeError):
            stored = None
    seed = requested if requested is not None else stored if stored is not None else (
        configured if configured is not None else secrets.randbelow(2**31))
    write_atomic(meta, json.dumps({"seed": seed, "schema_version": SCHEMA_VERSION}, indent=2) + "\n")
    return seed


# --- running --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    skipped: int
    current: str
    eta_seconds: float | None
    last: Result | None = None
    failure: str | None = None


GradeFn = Callable[[Submission, int], Result]


def default_workers(config: Config) -> int:
    """As many as cores allow, and no more than memory allows at the configured limit each."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 8 * 1024**3
    by_memory = max(1, int(total * 0.8) // (config.memory_mb * 1024**2))
    return max(1, min(os.cpu_count() or 1, by_memory))


def run_batch(subs: Sequence[Submission], out: Path, seed: int, grade_fn: GradeFn, *, workers: int,
              force: bool = False, on_progress: Callable[[Progress], None] = lambda p: None,
              dask: Any = None, dask_config: dict[str, Any] | None = None
              ) -> tuple[list[Result], list[tuple[str, str]]]:
    """Grade what is not done yet; returns all results (old and new) and the failures.

    `grade_fn` runs in a worker thread; with a Dask `Client` as `dask`, `grade_task` runs on the
    cluster's workers instead (settings in `dask_config`), results coming back as JSON.
    A failure of the grader on one submission (not a student's failure, which is a result) is
    reported and the batch goes on; its result is not written, so a rerun retries it.
    """
    results: dict[str, Result] = {}
    todo: list[tuple[Submission, str]] = []
    for sub in subs:
        digest = file_sha256(sub.path)
        done = None if force else load_done(result_path(out, sub), digest, seed)
        if done is not None:
            results[sub.key] = done
        else:
            todo.append((sub, digest))
    skipped = len(results)
    failures: list[tuple[str, str]] = []
    start = time.monotonic()
    finished = 0
    on_progress(Progress(0, len(todo), skipped, todo[0][0].key if todo else "", None))

    def finish(sub: Submission, digest: str, outcome: Result | BaseException) -> None:
        nonlocal finished
        finished += 1
        failure = None
        last = None
        if isinstance(outcome, BaseException):
            failure = f"{type(outcome).__name__}: {outcome}"
            failures.append((str(sub.path), failure))
        else:
            last = replace(outcome, student=sub.student, submission=sub.path.name)
            write_atomic(result_path(out, sub), last.to_json() + "\n")
            results[sub.key] = last
        elapsed = time.monotonic() - start
        eta = elapsed / finished * (len(todo) - finished) if finished else None
        on_progress(Progress(finished, len(todo), skipped, sub.key, eta, last, failure))

    if dask is not None:
        try:
            from distributed import as_completed as dask_completed
        except ImportError:  # the caller holds a Client, so this only fails in a broken install
            raise UsageError("the Dask backend needs: pip install 'dnn-grader[dask]'") from None

        futures = {dask.submit(grade_task, str(sub.path), sub.assignment, sub.student, seed, dask_config,
                               pure=False): (sub, digest) for sub, digest in todo}
        _drain(futures, dask_completed(list(futures)), finish, from_json=True)
    else:
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="grader") as pool:
            futures = {pool.submit(grade_fn, sub, seed): (sub, digest) for sub, digest in todo}
            _drain(futures, as_completed(futures), finish)
    return [results[k] for k in sorted(results)], failures


def _drain(futures: dict[Any, tuple[Submission, str]], completed: Iterable[Any], finish: Callable[..., None],
           from_json: bool = False) -> None:
    for future in completed:
        sub, digest = futures[future]
        try:
            value = future.result()
            outcome: Result | BaseException = Result.from_dict(json.loads(value)) if from_json else value
        except Exception as exc:  # noqa: BLE001 - one submission never stops the batch
            outcome = exc
        finish(sub, digest, outcome)


def grade_task(path: str, assignment: str, student: str, seed: int, settings: dict[str, Any]) -> str:
    """What a Dask worker runs: grade one file, return the result as JSON (plain data).

    The worker needs the same package, solutions and data set, and the submission's path must
    be readable on it (a shared file system, as on a Slurm/PBS cluster).
    """
    from .config import load_config
    from .grade import grade

    config = load_config(Path(settings["root"]), cache_dir=Path(settings["cache_dir"]),
                         namespaces=settings.get("namespaces"))  # --no-namespaces reaches the workers
    result = grade(Path(path), config, assignment_id=assignment, seed=seed, use_sandbox=settings["sandbox"],
                   student=student)
    return result.to_json()


def cleanup(workdir: Path) -> None:
    shutil.rmtree(workdir, ignore_errors=True)
