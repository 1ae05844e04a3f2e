"""autograder.files: the one atomic writer every result, report and export goes through."""

from __future__ import annotations

import threading

import pytest

from autograder.files import write_atomic


def test_writes_text_and_bytes_and_makes_the_folder(tmp_path):
    target = tmp_path / "a" / "b.json"
    assert write_atomic(target, "{}") == target
    assert target.read_text() == "{}" and [p.name for p in target.parent.iterdir()] == ["b.json"]
    write_atomic(target, b"\x00\x01", durable=True)
    assert target.read_bytes() == b"\x00\x01"


def test_lone_surrogates_are_written_and_a_failed_write_leaves_no_tmp(tmp_path):
    """A file name that is not UTF-8 reaches the reports as lone surrogates (not through collect):
    written as U+FFFD. A write that fails anyway leaves no .tmp behind."""
    write_atomic(tmp_path / "a.md", "student \udcff\udcfe")
    assert (tmp_path / "a.md").read_text(encoding="utf-8") == "student \ufffd\ufffd"
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("")
    with pytest.raises(OSError):
        write_atomic(tmp_path / "taken", "text")  # a non-empty folder cannot be replaced by a file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.md", "taken"]


def test_threads_of_one_process_writing_one_file_never_share_a_temporary(tmp_path):
    """Batch workers are threads: a temporary named after the pid was shared by all of them, and
    one thread's rename could publish another's half-written file or fail on a vanished temp."""
    target, errors = tmp_path / "same.json", []
    texts = [str(k) * 200_000 for k in range(8)]

    def write(text: str) -> None:
        try:
            for _ in range(20):
                write_atomic(target, text)
        except OSError as exc:  # pragma: no cover - what the test is for
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert target.read_text() in texts
    assert [p.name for p in tmp_path.iterdir()] == ["same.json"]
