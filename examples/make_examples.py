"""Regenerate examples/class/: a small class as an LMS (Canvas) download would deliver it.

Each student's notebook is a real notebook derived from solutions/ (see tests/submissions/variants.py):
correct, alternative-correct, buggy, a stub, a hostile one, a broken file and a stray non-notebook.
Run from the repository root: python examples/make_examples.py
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import make_variant  # noqa: E402
from tests.submissions.variants import ALTERNATIVES, BUGGY, HOSTILE, Variant  # noqa: E402

CLASS = REPO / "examples" / "class"
BY_NAME = {v.name: v for v in ALTERNATIVES + BUGGY + HOSTILE}
CORRECT = {a: Variant(f"correct_{a}", a) for a in ("04_optimizers", "05_regularisation")}

# (canvas file prefix, variant or "stub" or "broken", assignment)
ROSTER = [
    ("alice_1001_50001", CORRECT["04_optimizers"], "04_optimizers"),
    ("alice_1001_50002", CORRECT["05_regularisation"], "05_regularisation"),
    ("bob_1002_50003", BY_NAME["adam_without_bias_correction"], "04_optimizers"),
    ("bob_1002_50004", BY_NAME["dropout_keeps_rate"], "05_regularisation"),
    ("carol_1003_50005", "stub", "04_optimizers"),
    ("carol_1003_50006", BY_NAME["exit_in_a_cell"], "05_regularisation"),
    ("dave_1004_50007", "broken", "04_optimizers"),
    ("dave_1004_50008", BY_NAME["patched_numpy_cannot_help"], "05_regularisation"),
    ("erin_LATE_1005_50009", BY_NAME["lists_instead_of_arrays"], "04_optimizers"),
    ("erin_1005_50010", BY_NAME["network_and_secrets"], "05_regularisation"),
]


def main() -> None:
    shutil.rmtree(CLASS, ignore_errors=True)
    CLASS.mkdir(parents=True)
    scratch = CLASS / ".tmp"
    scratch.mkdir()
    for prefix, what, assignment in ROSTER:
        target = CLASS / f"{prefix}_{assignment}.ipynb"
        if what == "stub":
            shutil.copy(REPO / "assignments" / f"{assignment}.ipynb", target)
        elif what == "broken":
            text = (REPO / "assignments" / f"{assignment}.ipynb").read_text()
            target.write_text(text[: len(text) // 2])  # an upload cut in half
        else:
            make_variant(what, scratch).rename(target)
    shutil.rmtree(scratch)
    (CLASS / "frank_1006_50011_notes.txt").write_text("I could not get the notebook to run, sorry.\n")
    print(f"wrote {len(list(CLASS.iterdir()))} files to {CLASS}")


if __name__ == "__main__":
    main()
