"""autograder.grading.collect: hostile output folders become plain data or 'no output', never exceptions."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from autograder.grading import collect
from autograder.result import CellError
from autograder.wire import Raised

UNPICKLED: list[str] = []


class Tripwire:
    """Records it if anything ever unpickles it."""

    def __setstate__(self, state):
        UNPICKLED.append("unpickled")
        self.__dict__.update(state)


def deeply_nested(depth: int = 100_000) -> str:
    return "[" * depth + "]" * depth


# --- read_untrusted ------------------------------------------------------------------------------


def test_read_untrusted_regular_file(tmp_path):
    (tmp_path / "f").write_bytes(b"0123456789")
    assert collect.read_untrusted(tmp_path / "f", cap=10) == b"0123456789"


def test_read_untrusted_refuses_oversize(tmp_path):
    (tmp_path / "f").write_bytes(b"0123456789A")
    assert collect.read_untrusted(tmp_path / "f", cap=10) is None


def test_read_untrusted_refuses_symlink(tmp_path):
    target = Path("/etc/passwd")
    if not target.is_file():
        target = tmp_path / "secret"
        target.write_text("root:x:0:0\n")
    (tmp_path / "link").symlink_to(target)
    assert collect.read_untrusted(tmp_path / "link", cap=1 << 20) is None
    # ... also a symlink to a harmless file in the same folder
    (tmp_path / "ok").write_text("fine")
    (tmp_path / "link2").symlink_to(tmp_path / "ok")
    assert collect.read_untrusted(tmp_path / "link2", cap=1 << 20) is None


def test_read_untrusted_refuses_fifo_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    result: list = []
    worker = threading.Thread(
        target=lambda: result.append(collect.read_untrusted(tmp_path / "fifo", 1 << 20)), daemon=True
    )
    worker.start()
    worker.join(5)
    if worker.is_alive():  # unblock the thread before failing
        with open(os.open(tmp_path / "fifo", os.O_WRONLY | os.O_NONBLOCK), "wb"):
            pass
        pytest.fail("read_untrusted blocked on a fifo")
    assert result == [None]


def test_read_untrusted_refuses_directory_and_missing(tmp_path):
    (tmp_path / "d").mkdir()
    assert collect.read_untrusted(tmp_path / "d", cap=1 << 20) is None
    assert collect.read_untrusted(tmp_path / "missing", cap=1 << 20) is None


# --- read_outputs ---------------------------------------------------------------------------------

IDS = [
    "q/public-1",
    "q/public-2",
    "q/public-3",
    "q/hidden-1",
    "q/hidden-2",
    "q/hidden-3",
    "q/hidden-4",
    "q/hidden-5",
    "q/absent",
]


def write_outputs(folder: Path, results: dict, arrays: dict[str, np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "probe.json").write_text(json.dumps({"results": results}))
    np.savez(folder / "arrays.npz", **arrays)  # savez pickles object arrays silently
    return folder


@pytest.fixture
def good_folder(tmp_path):
    arrays = {
        "a0": np.arange(6.0).reshape(2, 3),
        "a1": np.array(7, dtype=np.int64),
        "a2": np.array([True, False]),
        "a3": np.array(["text"]),
        "a4": np.array([1 + 2j]),
    }
    results = {
        "q/public-1": {"ok": True, "value": {"$array": "a0"}},
        "q/public-2": {
            "ok": True,
            "value": {
                "$tuple": [{"$array": "a1"}, {"$none": True}, {"$str": "hi"}, {"$list": [{"$array": "a2"}, 3, 2.5]}]
            },
            "modified_input": True,
        },
        "q/public-3": {"ok": False, "error": {"type": "ValueError" + "x" * 200, "message": "bad rate " + "m" * 900}},
        "q/hidden-1": {"ok": True, "value": {"$array": "missing-key"}},
        "q/hidden-2": {"ok": True, "value": {"$array": "a3"}},  # strings are not numbers
        "q/hidden-3": {"ok": True, "value": {"$array": "a4"}},  # nor are complex numbers
        "q/hidden-4": {"ok": True, "value": [[[[[[[[[[[1]]]]]]]]]]]},  # nested too deeply
        "q/hidden-5": "not a dict",
    }
    return write_outputs(tmp_path / "out", results, arrays)


def test_read_outputs_decodes_values(good_folder):
    out = collect.read_outputs(good_folder, IDS)
    assert set(out) == set(IDS)
    np.testing.assert_array_equal(out["q/public-1"].value, np.arange(6.0).reshape(2, 3))
    assert out["q/public-1"].modified_input is False
    value = out["q/public-2"].value
    assert isinstance(value, tuple) and len(value) == 4
    assert value[0] == 7 and value[1] is None and value[2] == "hi"
    assert isinstance(value[3], list)
    np.testing.assert_array_equal(value[3][0], [True, False])
    assert value[3][1:] == [3, 2.5]
    assert out["q/public-2"].modified_input is True


def test_read_outputs_reports_raised_truncated(good_folder):
    raised = collect.read_outputs(good_folder, IDS)["q/public-3"].value
    assert isinstance(raised, Raised)
    assert raised.type.startswith("ValueError") and len(raised.type) == 100
    assert raised.message.startswith("bad rate") and len(raised.message) == 500


@pytest.mark.parametrize("cid", ["q/hidden-1", "q/hidden-2", "q/hidden-3", "q/hidden-4"])
def test_read_outputs_unreadable_values_are_bad_output(good_folder, cid):
    value = collect.read_outputs(good_folder, IDS)[cid].value
    assert isinstance(value, Raised) and value.type == "BadOutput"


@pytest.mark.parametrize("cid", ["q/hidden-5", "q/absent"])
def test_read_outputs_missing_entries_are_no_output(good_folder, cid):
    value = collect.read_outputs(good_folder, IDS)[cid].value
    assert isinstance(value, Raised) and value.type == "NoOutput"


def test_object_array_is_never_unpickled(tmp_path):
    UNPICKLED.clear()
    obj = np.empty(1, dtype=object)
    obj[0] = Tripwire()
    obj[0].payload = "x"
    folder = write_outputs(
        tmp_path / "out",
        {
            "q/public-1": {"ok": True, "value": {"$array": "evil"}},
            "q/public-2": {"ok": True, "value": {"$array": "fine"}},
        },
        {"evil": obj, "fine": np.ones(3)},
    )
    out = collect.read_outputs(folder, ["q/public-1", "q/public-2"])
    assert UNPICKLED == []
    for cid in ("q/public-1", "q/public-2"):
        assert isinstance(out[cid].value, Raised) and out[cid].value.type in ("NoOutput", "BadOutput")
    # the tripwire works: loading the same archive with pickles allowed does set it off
    with np.load(folder / "arrays.npz", allow_pickle=True) as npz:
        npz["evil"]
    assert UNPICKLED == ["unpickled"]


@pytest.mark.parametrize(
    "probe", [b"{not json", b"", b"\xff\xfe\x00garbage", b"[1, 2, 3]", b'{"results": [1]}', b'{"other": {}}', b"null"]
)
def test_garbage_json_gives_no_output_for_every_call(tmp_path, probe):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "probe.json").write_bytes(probe)
    np.savez(folder / "arrays.npz", a0=np.ones(2))
    out = collect.read_outputs(folder, IDS)
    assert set(out) == set(IDS)
    assert all(isinstance(o.value, Raised) and o.value.type == "NoOutput" for o in out.values())


def test_garbage_npz_gives_no_output(good_folder):
    (good_folder / "arrays.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    out = collect.read_outputs(good_folder, IDS)
    assert all(o.value.type == "NoOutput" for o in out.values())


@pytest.mark.parametrize(
    "flag",
    [
        ("PK\x01\x02", 8, 0x01, "PK\x03\x04", 6, 0x01),  # encrypted: zipfile raises RuntimeError
        ("PK\x01\x02", 8, 0x40, "PK\x03\x04", 6, 0x40),  # strong encryption: NotImplementedError
        ("PK\x01\x02", 6, 0xC7, None, 0, 0),  # needs zip version 19.9: NotImplementedError
    ],
    ids=["encrypted", "strong-encryption", "newer-version"],
)
def test_an_archive_zipfile_refuses_to_open_gives_no_output(good_folder, flag):
    """A run that forges its own outputs (a known limit: it played the protocol to its end) hands
    over an archive whose member zipfile will not open: no output, never an exception in the grader."""
    central, offset, bits, local, local_offset, local_bits = flag
    data = bytearray((good_folder / "arrays.npz").read_bytes())
    start = 0
    while (at := data.find(central.encode("latin-1"), start)) != -1:
        data[at + offset] |= bits
        start = at + 4
    if local:
        start = 0
        while (at := data.find(local.encode("latin-1"), start)) != -1:
            data[at + local_offset] |= local_bits
            start = at + 4
    (good_folder / "arrays.npz").write_bytes(bytes(data))
    out = collect.read_outputs(good_folder, IDS)
    assert all(o.value.type == "NoOutput" for o in out.values())


def test_symlinked_probe_json_is_not_followed(tmp_path, good_folder):
    real = tmp_path / "elsewhere.json"
    (good_folder / "probe.json").rename(real)
    (good_folder / "probe.json").symlink_to(real)
    out = collect.read_outputs(good_folder, IDS)
    assert all(o.value.type == "NoOutput" for o in out.values())


def test_missing_folder_gives_no_output(tmp_path):
    out = collect.read_outputs(tmp_path / "nothing", ["a", "b"])
    assert set(out) == {"a", "b"} and not any(o.modified_input for o in out.values())
    assert all(o.value.type == "NoOutput" for o in out.values())


def test_deeply_nested_probe_json_is_no_output_not_an_exception(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "probe.json").write_text('{"results": {"q/a": {"ok": true, "value": ' + deeply_nested() + "}}}")
    np.savez(folder / "arrays.npz", a0=np.ones(2))
    out = collect.read_outputs(folder, ["q/a"])
    assert isinstance(out["q/a"].value, Raised)


# --- progress events --------------------------------------------------------------------------------

EVENTS = [
    {"item": "runner", "event": "ready"},
    {"item": "cell:0", "event": "start"},
    {"item": "cell:0", "event": "end", "status": "ok"},
    {"item": "cell:1", "event": "start"},
    {
        "item": "cell:1",
        "event": "end",
        "status": "error",
        "ename": "E" * 300,
        "evalue": "v" * 3000,
        "traceback": "t" * 5000,
    },
    {"item": "cell:2", "event": "skipped"},
    {"item": "cell:oops", "event": "start"},
    {"item": "probe:q/public-1", "event": "start"},
    {"item": "probe:q/public-1", "event": "end"},
    {"item": "cell:3", "event": "start"},
    {"item": "cell:3", "event": "end"},  # no status: an error
    {"item": "cell:4", "event": "start"},  # never ended: killed
]


def test_cell_events_last_word_per_cell():
    cells = collect.cell_events(EVENTS)
    assert set(cells) == {0, 1, 2, 3, 4}
    assert cells[0] == CellError(0, "ok")
    assert cells[1].status == "error"
    assert (len(cells[1].ename), len(cells[1].evalue), len(cells[1].traceback)) == (200, 2000, 4000)
    assert cells[2] == CellError(2, "skipped")
    assert cells[3].status == "error"
    assert cells[4] == CellError(4, "killed")


def test_cell_events_second_pass_overrides_first():
    events = [
        {"item": "cell:0", "event": "start"},
        {"item": "cell:0", "event": "end", "status": "timeout"},
        {"item": "cell:0", "event": "start"},
        {"item": "cell:0", "event": "end", "status": "ok"},
    ]
    assert collect.cell_events(events)[0].status == "ok"
    assert collect.cell_events(events[:3])[0].status == "killed"


def test_decode_rejects_unexpected_types():
    with pytest.raises(ValueError):
        collect.decode({"$array": "a"}, {"a": np.array(["s"])})
    assert collect.decode({"x": [1, {"$none": True}]}, {}) == {"x": [1, None]}


def test_one_array_referenced_many_times_counts_every_reference(tmp_path):
    """A list naming one 20 M-element array 16 times is 16 arrays to the check that converts it
    (np.asarray copies each reference): refused, while the same array once, beside it, is read."""
    big = np.zeros(collect.MAX_ARRAY_ELEMENTS, np.int8)
    folder = write_outputs(
        tmp_path,
        {
            "q/many": {"ok": True, "value": {"$tuple": [{"$array": "a0"}] * 16}},
            "q/once": {"ok": True, "value": {"$array": "a0"}},
        },
        {"a0": big},
    )
    out = collect.read_outputs(folder, ["q/many", "q/once"])
    refused = out["q/many"].value
    assert isinstance(refused, Raised) and refused.type == "BadOutput"
    assert "once per reference" in refused.message
    assert isinstance(out["q/once"].value, np.ndarray)


def test_references_of_a_run_count_their_bytes_together():
    """Across answers too: each answer may name a 20 M-element float64 array once, but the run's
    references together stop at what an archive at its cap could hold."""
    arrays = {"a0": np.zeros(collect.MAX_ARRAY_ELEMENTS)}  # 160 MB: two fit in MAX_REFERENCED_BYTES
    references = collect._References()
    read = []
    for _ in range(3):
        try:
            collect.decode({"$array": "a0"}, arrays, budget=collect._Budget(10, references))
            read.append(True)
        except ValueError as exc:
            assert "once per reference" in str(exc)
            read.append(False)
    assert read == [True, True, False]


@pytest.mark.parametrize(
    ("warnings", "read"),
    [
        ([{"category": "RuntimeWarning", "message": "overflow encountered in exp", "count": 3}], 1),
        ("not a list", 0),
        ([{"category": "W" * 500, "message": "m\x1b[2J\n" * 500, "count": 10**30}] * 50, 4),
        ([1, None, {"category": ["x"], "message": {"a": 1}, "count": -4}], 1),
    ],
)
def test_warnings_are_read_as_bounded_text(tmp_path, warnings, read):
    folder = write_outputs(tmp_path / "out", {"q/public-1": {"ok": True, "value": 1.5, "warnings": warnings}}, {})
    got = collect.read_outputs(folder, ["q/public-1"])["q/public-1"]
    assert got.value == 1.5 and len(got.warnings) == read
    for w in got.warnings:
        assert len(w.category) <= 100 and len(w.message) <= 200 and "\n" not in w.message and "\x1b" not in w.message
        assert isinstance(w.count, int) and 1 <= w.count <= 10**9
