"""autograder.course.config: [tool.autograder] from pyproject.toml."""

from __future__ import annotations

import dataclasses
import shutil
import tomllib
from pathlib import Path

import pytest

from autograder.course.config import Config, find_pyproject, load_config, reference_table, write_reference
from autograder.errors import UsageError

REPO = Path(__file__).resolve().parents[2]


def pyproject(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pyproject.toml"
    path.write_text("[project]\nname = 'x'\n\n[tool.autograder]\n" + body)
    return path


def test_values_load_from_pyproject(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    pyproject(
        tmp_path / "course",
        'solutions_dir = "sol"\nassignments_dir = "/abs/assign"\ncache_dir = "~/c"\n'
        "seed = 7\nmemory_mb = 1024\npids = 64\nfile_size_mb = 10\nnotebook_seconds = 30\n"
        "cell_seconds = 20.5\ncall_seconds = 2\nmax_passes = 1\ntf_threads = 2\nlimit_multiple = 3\n"
        "limit_floor_seconds = 12.5\n",
    )
    config = load_config(tmp_path / "course")
    assert config.root == (tmp_path / "course").resolve()
    assert config.seed == 7 and config.max_passes == 1 and config.tf_threads == 2
    assert config.path(config.solutions_dir) == (tmp_path / "course").resolve() / "sol"
    assert config.path(config.assignments_dir) == Path("/abs/assign")
    assert config.cache_dir == tmp_path / "home" / "c"
    limits = config.limits
    assert limits.memory_bytes == 1024 * 2**20 and limits.pids == 64 and limits.file_size_bytes == 10 * 2**20
    assert (limits.notebook_seconds, limits.cell_seconds, limits.call_seconds) == (30, 20.5, 2)
    assert (config.limit_multiple, config.limit_floor_seconds) == (3.0, 12.5)
    assert isinstance(config.limit_multiple, float)


def test_found_from_a_subfolder(tmp_path):
    pyproject(tmp_path / "course", "seed = 3\n")
    (tmp_path / "course" / "a" / "b").mkdir(parents=True)
    config = load_config(tmp_path / "course" / "a" / "b")
    assert config.seed == 3 and config.root == (tmp_path / "course").resolve()
    assert find_pyproject((tmp_path / "course" / "a").resolve()) == (tmp_path / "course" / "pyproject.toml").resolve()


def test_unknown_key_is_an_error(tmp_path):
    pyproject(tmp_path, "memory_mb = 10\nmemroy_mb = 20\n")
    with pytest.raises(UsageError, match="unknown \\[tool.autograder\\] keys: memroy_mb"):
        load_config(tmp_path)


def test_root_is_not_a_setting(tmp_path):
    pyproject(tmp_path, 'root = "/"\n')
    with pytest.raises(UsageError, match="root"):
        load_config(tmp_path)


def test_broken_toml_is_a_usage_error(tmp_path):
    pyproject(tmp_path, "memory_mb = = 3\n")
    with pytest.raises(UsageError, match="pyproject.toml"):
        load_config(tmp_path)


def test_overrides_win_and_none_is_ignored(tmp_path):
    pyproject(tmp_path, "seed = 3\nmemory_mb = 100\n")
    config = load_config(tmp_path, seed=9, memory_mb=None, solutions_dir="elsewhere")
    assert config.seed == 9 and config.memory_mb == 100 and config.solutions_dir == Path("elsewhere")


def test_defaults_without_pyproject(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if find_pyproject(tmp_path.resolve()) is not None:
        pytest.skip("a pyproject.toml above the temporary folder")
    config = load_config(tmp_path)
    assert config == Config(root=tmp_path.resolve(), cache_dir=tmp_path / "xdg" / "dnn-grader")
    assert config.seed is None and config.limits.memory_bytes == 3072 * 2**20


def test_repository_pyproject_loads():
    table = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["autograder"]
    config = load_config(REPO / "autograder")
    assert config.root == REPO
    for key, value in table.items():
        got = getattr(config, key)
        assert (got == Path(value)) if isinstance(got, Path) else (got == value), key


@pytest.mark.parametrize(
    "body, message",
    [
        ('memory_mb = "3G"\n', "memory_mb must be an integer"),
        ("pids = 0\n", "pids must be at least 1"),
        ("tf_threads = -1\n", "tf_threads must be at least 0"),
        ("max_passes = true\n", "max_passes must be an integer"),
        ('cell_seconds = "1m"\n', "cell_seconds must be a positive number"),
        ("call_seconds = -1\n", "call_seconds must be a positive number"),
        ("cache_dir = 3\n", "cache_dir must be a path"),
        ("limit_multiple = 0.5\n", "limit_multiple must be at least 1"),
        ('limit_multiple = "5x"\n', "limit_multiple must be a positive number"),
        ("limit_floor_seconds = 0\n", "limit_floor_seconds must be a positive number of seconds"),
        ("disk_mb = 1.5\n", "disk_mb must be an integer"),
        ('accept_weaker = "memory"\n', "accept_weaker must be a list of limits among 'memory', 'pids'"),
        ('accept_weaker = ["memroy"]\n', "accept_weaker must be a list of limits"),
        ('accept_weaker = ["network"]\n', "accept_weaker must be a list of limits"),
        ('cgroups = "no"\n', "cgroups must be true or false"),
        ("namespaces = 0\n", "namespaces must be true or false"),
    ],
)
def test_wrong_value_types_are_usage_errors(tmp_path, body, message):
    pyproject(tmp_path, body)
    with pytest.raises(UsageError, match=message):
        load_config(tmp_path)


def test_disk_quota_defaults_to_twice_the_file_size_and_can_be_set(tmp_path):
    pyproject(tmp_path / "a", "file_size_mb = 10\n")
    assert load_config(tmp_path / "a").limits.disk_quota == 20 * 2**20
    pyproject(tmp_path / "b", "file_size_mb = 10\ndisk_mb = 100\n")
    assert load_config(tmp_path / "b").limits.disk_quota == 100 * 2**20
    assert load_config(tmp_path / "b").notebook_seconds == 900.0 and isinstance(
        load_config(tmp_path / "b", notebook_seconds=5).notebook_seconds, float
    )


def test_tf_threads_zero_means_tensorflows_default(tmp_path):
    pyproject(tmp_path, "tf_threads = 0\n")
    assert load_config(tmp_path).tf_threads == 0


def test_accept_weaker_reaches_the_sandbox_limits(tmp_path):
    pyproject(tmp_path / "a", 'accept_weaker = ["memory"]\n')
    assert load_config(tmp_path / "a").limits.accept_weaker == frozenset({"memory"})
    pyproject(tmp_path / "b", "")
    assert load_config(tmp_path / "b").limits.accept_weaker == frozenset()
    pyproject(tmp_path / "c", "cgroups = false\nnamespaces = false\n")
    limits = load_config(tmp_path / "c").limits
    assert (limits.cgroups, limits.namespaces) == (False, False)
    assert (tmp_path / "c" / "solutions").resolve() in [p.resolve() for p in limits.secrets]  # closed to the uid


def test_the_configuration_page_is_generated_from_the_keys(tmp_path):
    """docs/configuration.md's table is `reference_table()`: a key added, removed or re-explained
    without rewriting the page fails here (`python -m autograder.course.config docs/configuration.md`)."""
    page = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
    copy = shutil.copy(page, tmp_path / "configuration.md")
    assert not write_reference(Path(copy)), "docs/configuration.md is out of date: run the command in its header"
    keys = [f for f in dataclasses.fields(Config) if f.name != "root"]
    assert all(f.metadata.get("help") for f in keys)
    assert len([line for line in reference_table().splitlines() if line.startswith("| `")]) == len(keys)
