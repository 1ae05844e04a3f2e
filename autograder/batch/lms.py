"""Who uploaded a file, read from the name an LMS gave it: the one place that knows those names.

The rules below are the LMSs' own, read from their source (not from examples):

Canvas, `lib/content_zipper.rb` (instructure/canvas-lms), "Download Submissions":
  `get_filename` joins `[sortable name, "LATE" if late, user id]` with `_` and deletes every
  character that is not `[[:word:]]` (Unicode letters, marks, digits, `_` survive; spaces,
  commas, hyphens, apostrophes do not). `sanitize_user_name` lowercases the sortable name and
  removes the underscores around any `_<digits>_` in it, so the name never holds `_<digits>_`,
  but it may hold other underscores (`smith_jones, ann` -> `smith_jonesann`). With anonymous
  grading the name is left out and the id is `anon_<anonymous id>` (`LATE_anon_<id>` when
  late). `add_upload_submission` then appends `_<attachment id>_<display name>`: the third
  number is the *attachment* id (ids grow with uploads, so a higher one is a later upload), and
  the display name of a re-uploaded file may carry Canvas' `-1`, `-2` suffix.
  The anonymous id is per submission, so it cannot join one student across assignments.

Moodle, `mod/assign/locallib.php` (moodle/moodle), `download_submissions`:
  the prefix is `clean_filename(<full name with "_" replaced by " "> + "_" + <participant id>)`,
  then `_assignsubmission_file_` and either `/<path>/<file>` (download as folders, the default
  since 3.1) or `<file>` directly (flat). With blind marking the name is the word
  `Participant`; in team submissions it is `<group>-<full name>`. The participant id comes from
  `get_uniqueid_for_user`, which is unique **per assignment**: the same student has another id
  in the next assignment, so Moodle students are keyed by full name (a roster makes it exact).

Anything else falls back to a folder per student (`<student>/<file>`) or a flat
`<student>_<assignment id>.ipynb`; see `batch._place`. Names are parsed once, at discovery: the
`LmsName` travels on the `Submission` to the roster (`roster.py`) and the Canvas gradebook
(`report/gradebook.py`), which never read file names again.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

Kind = Literal["canvas", "canvas_anonymous", "moodle", "moodle_blind"]

# Canvas: the name is [[:word:]] characters (Unicode letters, marks, digits, `_`; Python's `\w`
# lacks the marks, e.g. Devanagari vowel signs, so: anything but whitespace and ASCII punctuation
# other than `_`). It may contain `_` but never `_<digits>_`, so the first `_<digits>_<digits>_`
# after it (the shortest name) is where the ids are. A name that itself ends in `_<digits>` cannot
# be told from the ids: it is read as the shorter name, which a roster then rejects (`roster.py`
# checks the name against the id) rather than crediting someone else.
_WORD = r"[^\s!-/:-@\[-^`{-~]"
_CANVAS = re.compile(rf"^(?P<name>{_WORD}+?)(?P<late>_LATE)?_(?P<id>\d+)_(?P<att>\d+)_(?P<file>.+)$")
_CANVAS_ANON = re.compile(r"^(?P<late>LATE_)?anon_(?P<id>[A-Za-z0-9]+)_(?P<att>\d+)_(?P<file>.+)$")
# Moodle: the prefix of the folder (`..._assignsubmission_file_`) or of the flat file name.
_MOODLE = re.compile(r"^(?P<name>.+?)_(?P<id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<file>.*)$")
_BLIND = "participant"  # Moodle's get_string('participant', 'assign') in English


@dataclass(frozen=True)
class LmsName:
    """One upload as the LMS named it.

    `name` is the student's name as written (Canvas: the sanitised sortable name; Moodle: the
    full name), `lms_id` the LMS's number (Canvas user id, anonymous id, Moodle participant id),
    `file` the student's own file name, `order` the Canvas attachment id (later upload = higher).
    """

    kind: Kind
    name: str
    lms_id: str
    file: str
    late: bool = False
    order: int = 0

    def student(self, assignment: str) -> str:
        """The student id the batch records.

        Canvas: `<name>_<user id>` (the user id is the same in every assignment; the Canvas
        gradebook takes it from the upload's `LmsName`, carried on the batch's `Submission`, never
        from this id). Moodle: the full name, since the
        participant id changes per assignment. Ids that only exist within one assignment
        (Canvas anonymous ids, Moodle blind-marking participants) carry the assignment, so that two
        different people never merge into one row.
        """
        if self.kind == "canvas":
            return f"{self.name}_{self.lms_id}"
        if self.kind == "moodle":
            return self.name
        prefix = "anon" if self.kind == "canvas_anonymous" else "participant"
        return f"{prefix}_{self.lms_id}_{assignment}"


def nfc(text: str) -> str:
    """Unicode NFC: zips made on macOS store decomposed names (u + combining diaeresis), others
    composed; without this one student would be two."""
    return unicodedata.normalize("NFC", text)


def canvas_name(sortable_name: str) -> str:
    """What Canvas writes into a download for a sortable name ("Müller, Jürgen" ->
    "müllerjürgen"): underscores around digits removed, lowercased, non-word characters deleted.
    A roster keys its students with it, so results keep their key with and without a roster."""
    name = re.sub(r"_(\d+)_", r"\1", nfc(sortable_name)).lower()
    return "".join(c for c in name if c == "_" or unicodedata.category(c)[0] in "LMN")


def parse_canvas(file_name: str) -> LmsName | None:
    """A Canvas submission download's file name, or None."""
    file_name = nfc(file_name)
    if m := _CANVAS_ANON.match(file_name):
        return LmsName("canvas_anonymous", "", m["id"], m["file"], bool(m["late"]), int(m["att"]))
    if m := _CANVAS.match(file_name):
        return LmsName("canvas", m["name"], m["id"], m["file"], bool(m["late"]), int(m["att"]))
    return None


def parse_moodle(parts: tuple[str, ...]) -> LmsName | None:
    """A Moodle download's relative path (folder layout: the prefix is a folder; flat: the file
    name itself), or None. Team submissions (`<group>-<name>`) keep the whole prefix as name."""
    for index, part in enumerate(parts):
        m = _MOODLE.match(nfc(part))
        if not m:
            continue
        inner = m["file"] if index == len(parts) - 1 else parts[-1]
        if not inner:
            return None
        name = " ".join(m["name"].split())
        blind = name.casefold() == _BLIND
        return LmsName("moodle_blind" if blind else "moodle", name, m["id"], nfc(inner))
    return None
