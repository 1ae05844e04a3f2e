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
from pathlib import Path, PurePath

from ..errors import UsageError
from ..grading.notebook import MAX_NOTEBOOK_BYTES, assignment_from_name
from ..questions import ASSIGNMENTS
from .lms import LmsName, nfc, parse_canvas, parse_moodle

# Zip limits. Each upload is checked on its own: one student's upload that is too large or
# compresses suspiciously well is refused for that student (graded 0 with the reason), never the
# class. Then each student's uploads together: beyond `MAX_STUDENT_BYTES` that student's further
# uploads are refused the same way, so that one student cannot make the archive's total refuse
# everyone. Only what belongs to no one refuses the archive: more entries than a class uploads, or
# notebooks adding up to more than a grader should unpack after every student's budget.
MAX_ZIP_FILES = 20_000
MAX_ZIP_BYTES = 4 * 1024**3
# Room for the latest upload of five assignments at the largest a notebook may be; honest
# notebooks are a few MB, so only a student trying to fill the disk meets it.
MAX_STUDENT_BYTES = 1024**3
MAX_ZIP_RATIO = 200
RATIO_FLOOR = 8 * 1024**2  # below this an entry's ratio does not matter: it cannot fill a disk

# A student id (not a file name: paths are made by `files.safe_name`) keeps Unicode letters,
# marks and digits (Canvas and Moodle keep them): `müllerjürgen` must not become `m_llerj_rgen`.
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
    # The file's name as uploaded: a zip entry is extracted under a name of the grader's own, so
    # that an entry's name (300 bytes, `..`) never becomes a path; messages and results show this.
    name: str = ""
    # Why the upload was not extracted (too large, a suspicious ratio): graded 0 with this reason.
    refused: str = ""

    @property
    def key(self) -> str:
        return f"{self.student}/{self.assignment}"

    @property
    def upload(self) -> str:
        return self.name or self.path.name


@dataclass(frozen=True)
class Unplaced:
    file: str
    reason: str


@dataclass
class Discovery:
    submissions: list[Submission] = field(default_factory=list)
    unplaced: list[Unplaced] = field(default_factory=list)


def student_id(text: str) -> str:
    """A student id made of `text` (no separators, no leading dots, bounded), in NFC: what a
    roster compares and reports show. Not a file name: `files.safe_name` makes those."""
    kept = [c if c in "._ -" or unicodedata.category(c)[0] in "LMN" else None for c in nfc(text)]
    # A run of refused characters becomes one "_" (as ids were named before Unicode was kept).
    text = "".join(c or "_" for i, c in enumerate(kept) if c is not None or i == 0 or kept[i - 1] is not None)
    cleaned = text.strip(" .") or "unnamed"
    return cleaned.encode()[:MAX_NAME_BYTES].decode(errors="ignore").rstrip(" .") or "unnamed"


def _lms(rel: PurePath) -> LmsName | None:
    # Moodle first: its `_assignsubmission_` marker is specific, and a student's own file inside a
    # Moodle folder may look like a Canvas name (`smith_1_2_04_optimizers.ipynb`).
    return parse_moodle(rel.parts) or parse_canvas(rel.name)


def _download_of(rel: PurePath) -> PurePath:
    """The folder an LMS upload sits in, relative to what was given: one LMS download (for Moodle's
    folder layout, the folder that holds the participants' folders)."""
    for index, part in enumerate(rel.parts):
        if "_assignsubmission_" in part:
            return PurePath(*rel.parts[:index])
    return rel.parent


def _assignment_named(name: str) -> str | None:
    """The assignment a download's own name names: Canvas names its zip `<course>-<assignment title>
    submissions` with `-` and `_` for spaces (`content_zipper.rb`, `assignment_zip_filename`); an
    instructor's folder may carry just the number (`dl05`), a Canvas title the number as people
    write it (`Assignment 5: Regularization`): one assignment number standing alone, with or
    without its leading zeros. Without it the uploads' own names decide, and one upload named for
    another assignment would refuse the whole download."""
    if found := assignment_from_name(re.sub(r"[-\s]+", "_", name), list(ASSIGNMENTS)):
        return found
    numbers = {aid for aid in ASSIGNMENTS if re.search(rf"(?<!\d)0*{int(aid.split('_', 1)[0])}(?!\d)", name)}
    return numbers.pop() if len(numbers) == 1 else None


def download_assignments(
    given: Path, files: Sequence[tuple[Path, PurePath, str]], forced: str | None
) -> dict[PurePath, tuple[str | None, str]]:
    """Each LMS download among `files` (what `given` holds) -> (its assignment, or None and why).

    An LMS download is one assignment's: Canvas' and Moodle's "download submissions" are per
    assignment. So its assignment is `--assignment`, else the one its own name (the zip's, the
    folder's) names, else the one all its uploads name; never a student's file name alone: an upload
    named for another assignment would otherwise be graded as that one, ranked against the on-time
    upload of it by attachment id (a late improvement smuggled in through another assignment's slot).
    A zip whose uploads name several assignments and whose name names none is refused (its uploads
    listed); a folder like it is one the instructor merged from several downloads (the example
    class), where only the file names are left to go by: they decide, as before.
    """
    groups: dict[PurePath, set[str]] = {}
    for _, rel, _ in files:
        if (lms := _lms(rel)) is not None:
            own = assignment_from_name(lms.file, list(ASSIGNMENTS))
            groups.setdefault(_download_of(rel), set()).update([own] if own else [])
    found: dict[PurePath, tuple[str | None, str]] = {}
    for folder, own in groups.items():
        name = folder.name if folder.parts else (given.stem if given.is_file() else given.name)
        if named := forced or _assignment_named(name):
            found[folder] = (named, "")
        elif len(own) <= 1:
            found[folder] = (next(iter(own), None), "")
        elif not given.is_file():  # a folder the instructor filled (downloads merged): file names decide
            found[folder] = (None, "")
        else:
            found[folder] = (
                None,
                f"the download {name!r} holds uploads named for {', '.join(sorted(own))} and its own name names "
                "no assignment: grade each download under the name the LMS gave it, or alone with --assignment",
            )
    return found


def _place(
    path: Path,
    rel: PurePath,
    forced_assignment: str | None,
    refused: str = "",
    download: tuple[str | None, str] | None = None,
) -> Submission | Unplaced:
    """Student and assignment of one file, from `rel`, its name as uploaded (relative to the
    folder or archive given): a Moodle name (folder or flat), a Canvas name, else a folder per
    student, else a flat `<student>_<assignment>.ipynb` (the documented fallback). An LMS upload's
    assignment is its download's (`download`, from `download_assignments`)."""
    lms = _lms(rel)
    name = lms.file if lms else rel.name
    if lms is not None and download is not None:
        assignment, why = download
        own = assignment_from_name(name, list(ASSIGNMENTS))
        if assignment is None and why:
            return Unplaced(str(rel), why)
        if assignment is not None and own is not None and own != assignment:
            return Unplaced(
                str(rel),
                f"named for {own} but uploaded to the download of {assignment} (an upload belongs to the "
                "assignment it was handed in to): not graded; grade it as that assignment only if you accept it",
            )
        assignment = assignment or own
    else:
        assignment = forced_assignment or assignment_from_name(name, list(ASSIGNMENTS))
    if assignment is None:
        why = "cannot tell the assignment from the file name; pass --assignment"
        return Unplaced(str(rel), f"{refused}; {why}" if refused else why)
    if lms is not None:
        student = lms.student(assignment)
    elif len(rel.parts) >= 2:
        student = rel.parts[0]
    else:
        stem = PurePath(name).stem  # flat: <student>_<assignment>.ipynb, or just <assignment>.ipynb
        student = re.sub(re.escape(assignment), "", stem, flags=re.I).strip("_- .") or stem
    return Submission(
        path, student_id(student), assignment, (lms.order if lms else 0, rel.name), lms, rel.name, refused
    )


def _skipped(rel: PurePath) -> bool:
    """Hidden files, macOS resource forks and Jupyter's checkpoints are not submissions."""
    return any(part.startswith(".") or part == "__MACOSX" for part in rel.parts)


def _safe_extract(
    archive: Path, target: Path, forced_assignment: str | None = None
) -> tuple[list[tuple[Path, PurePath, str]], list[Unplaced]]:
    """Extract a zip's notebooks, each under a name of the grader's own (`<n>.ipynb`): returns
    (file, its name in the archive, why it was refused or "") per notebook, and what was refused
    outright (links, paths leaving the archive, other files, a damaged archive).

    A notebook larger than a submission may be, or compressing better than `MAX_ZIP_RATIO` while
    larger than `RATIO_FLOOR`, or beyond its student's budget (`_over_budget`), is not extracted:
    it is returned with the reason, so that the student it belongs to is graded 0 with it and the
    rest of the class is graded as usual."""
    refused: list[Unplaced] = []
    found: list[tuple[Path, PurePath, str]] = []
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        return [], [Unplaced(str(archive), f"not a readable zip file ({exc})")]
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ZIP_FILES:
            return [], [Unplaced(str(archive), f"more than {MAX_ZIP_FILES} files in the archive")]
        wanted: list[tuple[zipfile.ZipInfo, PurePath, str]] = []
        for info in infos:
            rel = PurePath(*PurePath(info.filename.replace("\\", "/")).parts)
            label = f"{archive.name}:{info.filename}"
            mode = (info.external_attr >> 16) & 0o170000
            if info.filename.startswith(("/", "\\")) or ".." in rel.parts or ":" in info.filename:
                refused.append(Unplaced(label, "refused: path outside the archive"))
            elif mode == stat.S_IFLNK:
                refused.append(Unplaced(label, "refused: symbolic link"))
            elif info.is_dir() or not rel.parts or _skipped(rel):
                continue
            elif rel.suffix.lower() != ".ipynb":
                refused.append(Unplaced(str(rel), "not a notebook (.ipynb)"))
            else:
                wanted.append((info, rel, _entry_refusal(info)))
        wanted = _over_budget(wanted, forced_assignment)
        total = sum(info.file_size for info, _, why in wanted if not why)
        if total > MAX_ZIP_BYTES:  # belongs to no one upload: each is within its own bounds
            return [], [
                Unplaced(
                    str(archive),
                    f"refused: its notebooks add up to {total / 1024**3:.1f} GB uncompressed, more than "
                    f"{MAX_ZIP_BYTES // 1024**3} GB; download the submissions in parts",
                )
            ]
        for index, (info, rel, why) in enumerate(wanted):
            dest = target / f"{index:05d}.ipynb"  # never the entry's own name: see `files.safe_name`
            if not why:
                _copy_entry(zf, info, dest)
            found.append((dest, rel, why))
    return found, refused


def _over_budget(
    wanted: list[tuple[zipfile.ZipInfo, PurePath, str]], forced_assignment: str | None
) -> list[tuple[zipfile.ZipInfo, PurePath, str]]:
    """`wanted` with each student's uploads beyond `MAX_STUDENT_BYTES` refused.

    Whose an entry is comes from its name alone (`_owner`), known before anything is extracted
    and before the download's assignment is. A student's uploads are admitted latest first, and
    the latest upload for each assignment its name names (the one graded) before any older one,
    so a budget spent on re-uploads never costs the student an assignment."""
    owners: dict[str, list[tuple[str | None, tuple[int, str], int]]] = {}
    latest: dict[tuple[str, str | None], tuple[int, str]] = {}
    for index, (_, rel, why) in enumerate(wanted):
        if why:
            continue  # refused on its own: never extracted, costs no budget
        owner, assignment, order = _owner(rel, forced_assignment)
        owners.setdefault(owner, []).append((assignment, order, index))
        latest[owner, assignment] = max(latest.get((owner, assignment), order), order)
    result = list(wanted)
    for owner, entries in owners.items():
        ranked = sorted(((latest[owner, a] == order, order, i) for a, order, i in entries), reverse=True)
        spent = 0
        for _, _, index in ranked:
            info, rel, _ = wanted[index]
            if spent + info.file_size > MAX_STUDENT_BYTES:
                result[index] = (
                    info,
                    rel,
                    f"refused: {owner}'s uploads in this archive add up to more than the "
                    f"{MAX_STUDENT_BYTES / 1024**3:.1f} GB one student's may ({info.file_size / 1024**2:.0f} MB "
                    f"more with this one); clear the notebooks' outputs and upload only the one to grade",
                )
            else:
                spent += info.file_size
    return result


def _owner(rel: PurePath, forced_assignment: str | None) -> tuple[str, str | None, tuple[int, str]]:
    """Whose upload an entry is, the assignment its name names, and its upload order, from its
    name alone: the LMS's person (whatever the assignment), else the student folder, else the
    flat name's student (the file itself when that cannot be told)."""
    lms = _lms(rel)
    name = lms.file if lms else rel.name
    assignment = forced_assignment or assignment_from_name(name, list(ASSIGNMENTS))
    order = (lms.order if lms else 0, rel.name)
    if lms is not None:
        person = lms.name if lms.kind == "moodle" else f"{lms.name}_{lms.lms_id}".lstrip("_")
        return student_id(person), assignment, order
    if len(rel.parts) >= 2:
        return student_id(rel.parts[0]), assignment, order
    placed = _place(Path(), rel, forced_assignment)
    return (placed.student if isinstance(placed, Submission) else str(rel)), assignment, order


def _entry_refusal(info: zipfile.ZipInfo) -> str:
    """Why one upload is not extracted, or "": sizes from the archive's directory (a header
    that lies about them is caught while copying)."""
    size, packed = info.file_size, max(1, info.compress_size)
    if size > MAX_NOTEBOOK_BYTES:
        return (
            f"refused: {size / 1024**2:.0f} MB uncompressed, larger than the "
            f"{MAX_NOTEBOOK_BYTES // 1024**2} MB a notebook may be"
        )
    if size > RATIO_FLOOR and size / packed > MAX_ZIP_RATIO:
        return (
            f"refused: {size / 1024**2:.0f} MB that compress {size / packed:.0f}:1 (more than "
            f"{MAX_ZIP_RATIO}:1; a zip bomb?); clear the notebook's outputs and upload it again"
        )
    return ""


def _copy_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zf.open(info) as src, open(dest, "wb") as out:
        copied = 0
        while chunk := src.read(1 << 20):
            copied += len(chunk)
            if copied > info.file_size:  # the header lied about the size
                break
            out.write(chunk)


def discover(inputs: Sequence[Path], workdir: Path, forced_assignment: str | None = None) -> Discovery:
    """Every notebook under the inputs, placed or reported; zips are extracted under workdir."""
    found = Discovery()
    for index, item in enumerate(inputs):
        if not item.exists():
            raise UsageError(f"{item}: no such file or folder")
        files: list[tuple[Path, PurePath, str]] = []
        if item.is_file() and item.suffix.lower() == ".zip":
            files, refused = _safe_extract(item, workdir / f"zip{index}", forced_assignment)
            found.unplaced += refused
        elif item.is_dir():
            for path in sorted(p for p in item.rglob("*") if p.is_file() and not p.is_symlink()):
                rel = path.relative_to(item)
                if _skipped(rel):
                    continue
                if path.suffix.lower() != ".ipynb":
                    found.unplaced.append(Unplaced(str(rel), "not a notebook (.ipynb)"))
                    continue
                files.append((path, rel, ""))
        elif item.suffix.lower() == ".ipynb" and not _skipped(PurePath(item.name)):
            files.append((item, PurePath(item.name), ""))
        downloads = download_assignments(item, files, forced_assignment)
        for path, rel, refused_why in files:
            placed = _place(path, rel, forced_assignment, refused_why, downloads.get(_download_of(rel)))
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
            names = ", ".join(s.upload for s in group)
            ids = sorted({s.lms.lms_id for s in group if s.lms is not None})
            why = (
                f"{len(ids)} participants (ids {', '.join(ids)}) are named {key}: rename each "
                f"<email>_{group[0].assignment}.ipynb"
                if len(ids) > 1
                else f"{len(group)} notebooks for {key} and no upload order to choose by ({names}): keep one"
            )
            dropped += [Unplaced(s.upload, f"{why}; not graded") for s in group]
            continue
        kept.append(group[-1])
        dropped += [
            Unplaced(s.upload, f"superseded by {group[-1].upload} (a later upload) for {key}") for s in group[:-1]
        ]
    return kept, dropped


def cleanup(workdir: Path) -> None:
    shutil.rmtree(workdir, ignore_errors=True)
