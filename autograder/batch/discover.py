"""Find a class's submissions: which file is whose, for which assignment; what cannot be placed.

Discovery accepts notebook files, folders (one sub-folder per student, or flat) and `.zip`
downloads from an LMS, and works out student and assignment for each file from the names Canvas
and Moodle write (`lms.py` has their rules and sources), a folder per student, or a flat
`<student>_<assignment id>.ipynb`. What cannot be placed is reported, never guessed.
"""

from __future__ import annotations

import re
import shutil
import stat
import unicodedata
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError
from ..grading.notebook import assignment_from_name
from ..questions import ASSIGNMENTS
from .lms import LmsName, nfc, parse_canvas, parse_moodle

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
    # How the LMS named it (its id: `lms.lms_id`), parsed once here: for matching to a roster
    # (`roster.py`) and the Canvas gradebook's ID column (`lms_names`, `report/gradebook.py`).
    lms: LmsName | None = None

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
            return [
                Unplaced(str(archive), f"refused: {total} bytes uncompressed (ratio {total / packed:.0f}), a zip bomb?")
            ]
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
            files = (
                [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
            )
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


def lms_names(subs: Sequence[Submission]) -> dict[str, LmsName]:
    """How the LMS named each graded upload, by `Submission.key` (`<student>/<assignment>`, as a
    result is keyed): what the Canvas gradebook needs of a download, without parsing names again."""
    return {sub.key: sub.lms for sub in subs if sub.lms is not None}


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
            why = (
                f"{len(ids)} participants (ids {', '.join(ids)}) are named {key}: rename each "
                f"<email>_{group[0].assignment}.ipynb"
                if len(ids) > 1
                else f"{len(group)} notebooks for {key} and no upload order to choose by ({names}): keep one"
            )
            dropped += [Unplaced(s.path.name, f"{why}; not graded") for s in group]
            continue
        kept.append(group[-1])
        dropped += [
            Unplaced(s.path.name, f"superseded by {group[-1].path.name} (a later upload) for {key}") for s in group[:-1]
        ]
    return kept, dropped


def cleanup(workdir: Path) -> None:
    shutil.rmtree(workdir, ignore_errors=True)
