"""autograder.grading.notebook: submissions in every state become a v4 notebook or SubmissionUnreadable."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest

from autograder.errors import SubmissionUnreadable
from autograder.grading.notebook import (
    TAG_SELF_CHECK,
    TAG_TRAIN,
    assignment_from_name,
    cell_name,
    code_cells,
    read_notebook,
    stamped_assignment,
    tags,
)
from autograder.questions import ASSIGNMENTS

KNOWN = list(ASSIGNMENTS)


def v4(cells, metadata=None, minor=5):
    return {"nbformat": 4, "nbformat_minor": minor, "metadata": metadata or {}, "cells": cells}


def code(source, tags_=None, id_="c"):
    meta = {"tags": tags_} if tags_ is not None else {}
    return {"cell_type": "code", "id": id_, "metadata": meta, "source": source, "outputs": [], "execution_count": None}


def write(tmp_path, content, name="sub.ipynb"):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content)
    else:
        path.write_text(json.dumps(content))
    return path


def unreadable(path) -> str:
    with pytest.raises(SubmissionUnreadable) as err:
        read_notebook(path)
    return str(err.value)


def test_reads_a_v4_notebook(tmp_path):
    nb = read_notebook(write(tmp_path, v4([code(["x = 1\n", "y = 2"])], {"autograder": {"assignment": "05_x"}})))
    assert nb.nbformat == 4 and nb.cells[0].source == "x = 1\ny = 2"
    assert stamped_assignment(nb) == "05_x"


def test_empty_file(tmp_path):
    assert unreadable(write(tmp_path, b"")) == "sub.ipynb: the file is empty"


def test_missing_file(tmp_path):
    assert "cannot read" in unreadable(tmp_path / "nope.ipynb")


def test_binary_garbage(tmp_path):
    message = unreadable(write(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe\xfa"))
    assert message.startswith("sub.ipynb: not UTF-8 text") and "is it a notebook?" in message


@pytest.mark.parametrize("text", ['{"cells": [', "not json at all", '{"cells": []} trailing'])
def test_invalid_json(tmp_path, text):
    message = unreadable(write(tmp_path, text))
    assert message.startswith("sub.ipynb: not valid JSON") and "damaged" in message


@pytest.mark.parametrize("doc", [[1, 2], {"metadata": {}}, json.dumps("a string"), "42"])
def test_json_but_not_a_notebook(tmp_path, doc):
    assert "not a Jupyter notebook" in unreadable(write(tmp_path, doc))


def test_nbformat_3_is_converted(tmp_path):
    doc = {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {"name": "old"},
        "worksheets": [
            {
                "metadata": {},
                "cells": [
                    {"cell_type": "heading", "level": 1, "metadata": {}, "source": "Title"},
                    {
                        "cell_type": "code",
                        "collapsed": False,
                        "input": ["x = 1\n", "print(x)"],
                        "language": "python",
                        "metadata": {},
                        "outputs": [],
                    },
                    {"cell_type": "markdown", "metadata": {}, "source": "text"},
                ],
            }
        ],
    }
    nb = read_notebook(write(tmp_path, doc))
    assert nb.nbformat == 4
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "markdown"]
    assert nb.cells[1].source == "x = 1\nprint(x)"
    assert [c.source for c in code_cells(nb)] == ["x = 1\nprint(x)"]


@pytest.mark.parametrize("major", [5, 2, "4", None])
def test_unsupported_format(tmp_path, major):
    doc = v4([code("x = 1")])
    doc["nbformat"] = major
    message = unreadable(write(tmp_path, doc))
    assert f"notebook format {major!r} is not supported" in message


@pytest.mark.parametrize(
    "cells",
    [
        5,
        [1, 2],
        [{"source": "x"}],
        [{"cell_type": "code", "metadata": [], "source": "x", "outputs": [], "execution_count": None}],
    ],
)
def test_damaged_structure(tmp_path, cells):
    assert "sub.ipynb" in unreadable(write(tmp_path, v4(cells)))


def test_non_text_source(tmp_path):
    assert "source is not text" in unreadable(write(tmp_path, v4([code(5)])))


def test_deeply_nested_json_is_unreadable_not_a_crash(tmp_path):
    depth = 100_000
    unreadable(write(tmp_path, '{"cells": ' + "[" * depth + "]" * depth + "}"))


def test_written_by_nbformat_roundtrip(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("a = 1"), nbformat.v4.new_markdown_cell("# t")])
    path = tmp_path / "rt.ipynb"
    nbformat.write(nb, path)
    assert [c.source for c in read_notebook(path).cells] == ["a = 1", "# t"]


# --- cells and tags ---------------------------------------------------------------------------------


def test_code_cells_skip_self_checks_and_optionally_training(tmp_path):
    nb = read_notebook(
        write(
            tmp_path,
            v4(
                [
                    {"cell_type": "markdown", "id": "m", "metadata": {}, "source": "# hi"},
                    code("a = 1", id_="a"),
                    code("train()", [TAG_TRAIN], id_="b"),
                    code("check()", [TAG_SELF_CHECK, "other"], id_="c"),
                    code("b = 2", ["other"], id_="d"),
                ]
            ),
        )
    )
    assert [(c.index, c.source) for c in code_cells(nb)] == [(1, "a = 1"), (2, "train()"), (4, "b = 2")]
    assert [c.index for c in code_cells(nb, skip_training=True)] == [1, 4]
    assert code_cells(nb)[2].tags == ("other",)


def test_tags_tolerates_junk():
    assert tags({"metadata": {"tags": "train"}}) == ()
    assert tags({"metadata": {"tags": ["train", 3, None]}}) == ("train",)
    assert tags({}) == ()


def test_stamped_assignment_only_from_well_formed_metadata():
    assert stamped_assignment(nbformat.from_dict({"metadata": {"autograder": {"assignment": "01_x"}}})) == "01_x"
    assert stamped_assignment(nbformat.from_dict({"metadata": {"autograder": "01_x"}})) is None
    assert stamped_assignment(nbformat.from_dict({"metadata": {"autograder": {"assignment": 1}}})) is None
    assert stamped_assignment(nbformat.from_dict({"metadata": {}})) is None


# --- assignment_from_name ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        ("smith_1234_03_transfer_learning.ipynb", "03_transfer_learning"),
        ("03_transfer_learning.ipynb", "03_transfer_learning"),
        ("SMITH_05_REGULARISATION (1).ipynb", "05_regularisation"),
        ("jones_04_.ipynb", "04_optimizers"),
        ("hw02_lee.ipynb", "02_batch_normalisation"),
        ("2024_01_activations_and_initialisation_v2.ipynb", "01_activations_and_initialisation"),
        ("student_2001_05_late.ipynb", "05_regularisation"),  # '01_' inside 2001_ is not assignment 01
        ("notebook.ipynb", None),
        ("smith_1203_final.ipynb", None),  # '03_' preceded by a digit
        ("smith_3_final.ipynb", None),
        ("06_something.ipynb", None),
    ],
)
def test_assignment_from_name(name, expected):
    assert assignment_from_name(name, KNOWN) == expected


def test_known_assignments_are_the_five():
    assert KNOWN == [
        "01_activations_and_initialisation",
        "02_batch_normalisation",
        "03_transfer_learning",
        "04_optimizers",
        "05_regularisation",
    ]


# --- outputs nobody grades ------------------------------------------------------------------------

EMPTY_STREAM = '{"name": "stdout", "output_type": "stream", "text": []}'
# Peak RSS of a fresh interpreter reading a 100 MB notebook of empty outputs (imports included):
# the file's bytes and its text (~200 MB) and the code; measured ~290 MB (docs/instructors.md).
# Parsed whole and validated by nbformat it was ~3 GB.
READ_PEAK_MB = 450


def outputs_notebook(path, megabytes: int) -> int:
    """A valid notebook whose one code cell has `megabytes` MB of empty stream outputs."""
    count = megabytes * 1024**2 // (len(EMPTY_STREAM) + 2)
    head = '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "id": "c0", '
    head += '"metadata": {}, "source": "x = 1", "execution_count": 1, "outputs": ['
    with open(path, "w") as fh:
        fh.write(head)
        fh.write(", ".join([EMPTY_STREAM] * count))
        fh.write(
            ']}, {"cell_type": "markdown", "id": "m0", "metadata": {}, "source": "![p](attachment:p.png)", '
            '"attachments": {"p.png": {"image/png": "' + "A" * 1000 + '"}}}]}'
        )
    return count


def test_outputs_and_attachments_are_dropped_and_the_rest_validated(tmp_path):
    path = tmp_path / "sub.ipynb"
    outputs_notebook(path, 1)
    nb = read_notebook(path)
    assert nb.cells[0].source == "x = 1" and nb.cells[0].outputs == []
    assert "attachments" not in nb.cells[1]
    assert read_notebook(path, whole=True).cells[1].attachments  # the course's own: kept
    # what is left is still validated: a damaged cell is damage, outputs or not
    damaged = json.loads(path.read_text())
    damaged["cells"][0]["source"] = 7
    write(tmp_path, damaged, "bad.ipynb")
    with pytest.raises(SubmissionUnreadable):
        read_notebook(tmp_path / "bad.ipynb")


def test_reading_a_notebook_full_of_outputs_is_bounded_in_memory(tmp_path):
    """Peak memory, not time: measured in a fresh interpreter by its own VmHWM (ru_maxrss would not
    do: Linux keeps it across exec, so a child of a large pytest process starts at its parent's size)."""
    path = tmp_path / "outputs.ipynb"
    count = outputs_notebook(path, 100)
    probe = (
        "import sys\n"
        "from autograder.grading.notebook import read_notebook\n"
        "nb = read_notebook(__import__('pathlib').Path(sys.argv[1]))\n"
        "assert nb.cells[0].outputs == []\n"
        "hwm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM:'))\n"
        "print(int(hwm.split()[1]) // 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    peak_mb = int(done.stdout.split()[-1])
    assert count > 1_800_000
    print(f"peak RSS reading {count} outputs: {peak_mb} MB")
    assert peak_mb < READ_PEAK_MB, f"reading {count} outputs took {peak_mb} MB"


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("import numpy as np\n\ndef adam_step(theta, grad):\n    pass", "the `def adam_step(...)` cell"),
        ("class Net(keras.Model):\n    pass", "the `class Net` cell"),
        (
            "# set-up\n\nx = np.linspace(-3, 3, 61)  # inputs",
            "the cell that starts `x = np.linspace(-3, 3, 61) # inputs`",
        ),
        ("print('" + "a" * 200 + "')", "the cell that starts `print('" + "a" * 52 + "…`"),
        ("raise ValueError(`x`)", "the cell that starts `raise ValueError('x')`"),
        ("\x1b[2Jx = '\ud800'", "the cell that starts `x = '\ufffd'`"),
        ("# nothing but a comment", "code cell 2 (no code)"),
    ],
)
def test_a_cell_is_named_by_what_it_defines_or_its_first_line(source, name):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("import numpy as np"),
        nbformat.v4.new_code_cell(source),
    ]
    assert cell_name(nb, 2) == name
    assert cell_name(nb, 99) == "cell 100"


def test_cells_that_start_alike_are_told_apart_by_a_line_of_their_own():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("keras.utils.set_random_seed(42)\nmodel_A = train(A)"),
        nbformat.v4.new_code_cell("keras.utils.set_random_seed(42)\nmodel_B = train(B)"),
    ]
    assert cell_name(nb, 1) == "the cell that starts `keras.utils.set_random_seed(42)` and has `model_B = train(B)`"
