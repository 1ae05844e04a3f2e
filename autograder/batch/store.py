"""A class's results on disk: one file per (student, assignment), and the batch's seed.

Each result is written atomically when it is done, under a name fixed by (student, assignment),
and the batch's seed is stored in `batch.json` beside them, so rerunning the same command after a
crash or `kill -9` grades only what is missing and yields exactly the same scores.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..files import safe_name, unique_names, write_atomic
from ..grading import seeds
from ..result import SCHEMA_VERSION, Result
from .discover import Submission


def folders(subs: Iterable[Submission]) -> dict[str, str]:
    """Each student id's folder under `results/` (and the similarity pass's `code/`): the ids
    are text students chose, so the names are `files.unique_names` of the class."""
    return unique_names(sub.student for sub in subs)


def result_path(out: Path, sub: Submission, named: Mapping[str, str] | None = None) -> Path:
    """Where `sub`'s result is kept: `named` is the class's `folders`; alone, `files.safe_name`."""
    folder = (named or {}).get(sub.student) or safe_name(sub.student)
    return out / "results" / folder / f"{sub.assignment}.json"


def load_done(path: Path, digest: str, seed: int, settings_hash: str | None = None) -> Result | None:
    """A finished result for exactly this file, seed and (if given) settings, or None (missing,
    damaged, stale): a batch resumed after the course changed points or limits regrades."""
    try:
        doc = json.loads(path.read_text())
        result = Result.from_dict(doc)
    except (OSError, ValueError, TypeError, KeyError):
        return None
    fresh = settings_hash is None or result.settings_hash == settings_hash
    return result if result.submission_sha256 == digest and result.seed == seed and fresh else None


def batch_seed(out: Path, requested: int | None, configured: int | None) -> int:
    """The seed of this batch, kept in out/batch.json so that a resumed batch uses the same one."""
    meta = out / "batch.json"
    stored = None
    if meta.is_file():
        try:
            stored = int(json.loads(meta.read_text())["seed"])
        except (OSError, ValueError, KeyError, TypeError):
            stored = None
    seed = seeds.choose(requested, configured, stored)
    write_atomic(meta, json.dumps({"seed": seed, "schema_version": SCHEMA_VERSION}, indent=2) + "\n")
    return seed
