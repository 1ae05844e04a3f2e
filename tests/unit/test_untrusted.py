"""Sandbox output that is hostile text or hostile size: made safe and bounded where it is read.

Text: lone surrogates, terminal escapes and control characters in anything collect returns
(events, errors, values, keys) come out as strings every writer accepts. Size: an answer over its
bound is that call's failure, with a message, and costs the grader neither the other answers nor
its memory.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from autograder.grading import collect
from autograder.grading.untrusted import clean_text, count_values, object_members, value_end
from autograder.wire import Raised

HOSTILE = [
    "\ud800",
    "a\udfffb",
    "\x1b[2J\x1b[31mred\x1b[0m",
    "bell\x07 nul\x00 del\x7f c1\x9b",
    "line\r\nnext\rlast",
    "\u202egnp.exe",
    "\x1b]0;title\x07x",
    "ok \u00e9 \U0001f600 \t tab",
]


def safe(text: str) -> bool:
    """Encodes to UTF-8 and holds no control character but tab and newline."""
    text.encode("utf-8")
    return not any(
        (ord(c) < 32 and c not in "\t\n")
        or 0x7F <= ord(c) <= 0x9F
        or 0xD800 <= ord(c) <= 0xDFFF
        or c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
        for c in text
    )


@pytest.mark.parametrize("text", HOSTILE)
def test_clean_text_is_writable_everywhere(text):
    cleaned = clean_text(text)
    assert safe(cleaned)
    assert clean_text(cleaned) == cleaned  # idempotent: cleaning twice changes nothing


def test_clean_text_keeps_what_is_readable():
    assert clean_text("\ud800") == "\ufffd"
    assert clean_text("\x1b[31mred\x1b[0m") == "red"  # colours dropped, the text kept
    assert clean_text("line\r\nnext\rlast") == "line\nnext\nlast"
    assert clean_text("ok \u00e9 \U0001f600 \t tab") == "ok \u00e9 \U0001f600 \t tab"
    assert clean_text("a\nb\tc", one_line=True) == "a b c"
    assert clean_text("x" * 10_000, limit=50) == "x" * 50
    assert clean_text(12) == "12" and clean_text(["\ud800"]) == "['\\ud800']"  # non-strings: their repr


def write(folder: Path, probe_text: str, arrays: dict[str, np.ndarray] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "probe.json").write_text(probe_text)
    np.savez(folder / "arrays.npz", **(arrays or {"a0": np.ones(2)}))
    return folder


def test_hostile_strings_in_answers_and_errors_come_out_clean(tmp_path):
    bad = "".join(HOSTILE)
    results = {
        "q/1": {"ok": False, "error": {"type": "Value\ud800Error\n", "message": bad}},
        "q/2": {"ok": True, "value": {"$str": bad}},
        "q/3": {"ok": True, "value": {"layers": [{"class": bad, "config": {bad: [bad]}}]}},
    }
    out = collect.read_outputs(write(tmp_path / "out", json.dumps({"results": results})), ["q/1", "q/2", "q/3"])
    raised = out["q/1"].value
    assert isinstance(raised, Raised) and raised.type == "Value\ufffdError " and safe(raised.message)
    assert safe(out["q/2"].value) and "\ufffd" in out["q/2"].value
    layer = out["q/3"].value["layers"][0]
    (key,) = layer["config"]
    assert safe(layer["class"]) and safe(key) and safe(layer["config"][key][0])


def test_hostile_strings_in_progress_events_come_out_clean():
    """Events reach collect.cell_events as the sandbox's event reader parsed them: every text field
    a report shows is cleaned there."""
    bad = "".join(HOSTILE)
    events = [
        {"item": "cell:0", "event": "start"},
        {"item": "cell:0", "event": "end", "status": "error\ud800", "ename": bad, "evalue": bad, "traceback": bad},
        {"item": "cell:1", "event": "end", "status": "ok", "ename": ["\ud800"], "evalue": 5},
    ]
    cells = collect.cell_events(events)
    cell = cells[0]
    assert cell.status == "error"  # an unknown status is an error, not text the reports must show
    assert all(safe(text) for text in (cell.ename, cell.evalue, cell.traceback))
    assert "\n" not in cell.ename and "\n" in cell.evalue  # names are one line, messages keep their lines
    assert (cells[1].ename, cells[1].evalue) == ("['\\ud800']", "5")  # not text: shown as such


def test_non_ascii_probe_json_is_refused_with_a_reason(tmp_path):
    folder = write(tmp_path / "out", '{"results": {"q/1": {"ok": true, "value": {"$str": "\u00e9"}}}}')
    (value,) = collect.read_outputs(folder, ["q/1"]).values()
    assert value.value.type == "NoOutput" and "could not be read" in value.value.message


# --- size bounds -----------------------------------------------------------------------------------

ZEROS = 20_000_000


def test_a_list_of_20_million_zeros_is_that_answers_failure_and_costs_little(tmp_path):
    """probe.json with one answer of 20 M zeros (60 MB, under the file cap) beside honest ones: the
    big one is refused before it is parsed, the others are read, and the grader's Python heap
    never holds more than the file's text (measured: ~125 MB; before: 3.5 GB)."""
    text = (
        '{"complete": true, "results": {"q/big": {"ok": true, "value": [' + "0, " * (ZEROS - 1) + "0]}, "
        '"q/small": {"ok": true, "value": {"$array": "a0"}}, "q/other": {"ok": true, "value": [1, 2]}}}'
    )
    folder = write(tmp_path / "out", text)
    del text
    tracemalloc.start()
    try:
        out = collect.read_outputs(folder, ["q/big", "q/small", "q/other"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    big = out["q/big"].value
    assert isinstance(big, Raised) and big.type == "BadOutput" and "too large for the grader" in big.message
    assert "up to 20,000,003 values" in big.message  # counted, not parsed: the bound errs high
    np.testing.assert_array_equal(out["q/small"].value, np.ones(2))
    assert out["q/other"].value == [1, 2]
    print(f"peak {peak / 2**20:.0f} MB")
    assert peak < 200 * 2**20, f"peak {peak / 2**20:.0f} MB"


def test_a_long_list_under_the_byte_bound_is_refused_while_decoding():
    with pytest.raises(ValueError, match="more than the 10,000 the grader reads"):
        collect.decode({"$list": [0] * 10_001}, {})
    with pytest.raises(ValueError, match="more than 100,000 values"):
        collect.decode([[0] * 10_000] * 11, {})  # each list allowed, together too many


def test_the_run_total_bounds_many_answers_under_their_own_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(collect, "MAX_TOTAL_VALUES", 25)
    results = {f"q/{i}": {"ok": True, "value": list(range(9))} for i in range(4)}
    out = collect.read_outputs(write(tmp_path / "out", json.dumps({"results": results})), list(results))
    assert [o.value == list(range(9)) for o in out.values()] == [True, True, False, False]
    assert "too large for the grader together" in out["q/3"].value.message


def test_structure_bombs_cost_a_bounded_walk(tmp_path, monkeypatch):
    monkeypatch.setattr(collect, "MAX_STRUCTURE", 1000)
    folder = write(tmp_path / "out", '{"results": {"q/1": {"ok": true, "value": [' + "[]," * 600 + "[]]}}}")
    (value,) = collect.read_outputs(folder, ["q/1"]).values()
    assert value.value.type == "NoOutput" and "more than 1,000 brackets" in value.value.message


def test_unknown_entries_are_never_parsed(tmp_path):
    folder = write(
        tmp_path / "out",
        '{"results": {"q/forged": {"ok": true, "value": [' + "{}, " * 200_000 + "{}]},"
        ' "q/1": {"ok": true, "value": 3}}}',
    )
    assert collect.read_outputs(folder, ["q/1"])["q/1"].value == 3


def test_object_members_and_value_end():
    text = ' { "a" : [1, "]", {"b": "}"}] , "c":"x\\"y", "d": -1.5e3 }'
    members = [(key, text[start:end]) for key, start, end in object_members(text)]
    assert members == [("a", '[1, "]", {"b": "}"}]'), ("c", '"x\\"y"'), ("d", "-1.5e3")]
    assert value_end("[[]]tail", 0) == 4
    for broken in ("[1, 2", '{"a" 1}', '{"a": 1 "b": 2}', "[1]"):
        with pytest.raises(ValueError):
            list(object_members(broken))
    assert count_values("[1, [2, 3], {}]") >= 5


def test_arrays_over_the_element_bound_are_refused(tmp_path):
    folder = write(
        tmp_path / "out",
        '{"results": {"q/1": {"ok": true, "value": {"$array": "big"}}}}',
        {"big": np.zeros(collect.MAX_ARRAY_ELEMENTS + 1, np.int8)},
    )
    assert collect.read_outputs(folder, ["q/1"])["q/1"].value.type == "NoOutput"
