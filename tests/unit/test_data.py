"""autograder.data: IDX files, damaged files, and where Fashion-MNIST is looked for."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from autograder import data
from autograder.data import DatasetError

DATA_FILE = Path(data.__file__)


def raw_idx(array: np.ndarray, dtype_code: int = 0x08, shape: tuple[int, ...] | None = None) -> bytes:
    """IDX bytes built by hand (independently of data.write_idx)."""
    shape = array.shape if shape is None else shape
    return bytes([0, 0, dtype_code, len(shape)]) + b"".join(n.to_bytes(4, "big") for n in shape) + array.tobytes()


def write_gz(path: Path, payload: bytes) -> Path:
    with gzip.open(path, "wb") as fh:
        fh.write(payload)
    return path


def small_split(rng: np.random.Generator, n_train: int = 7, n_test: int = 3):
    x_train = rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)
    y_train = rng.integers(0, 10, n_train, dtype=np.uint8)
    x_test = rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8)
    y_test = rng.integers(0, 10, n_test, dtype=np.uint8)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def write_split(folder: Path, arrays: dict[str, np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in data.FILES.items():
        data.write_idx(folder / name, arrays[key])
    return folder


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No environment variable, no Debian package, no keras cache."""
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.setattr(data, "KERAS_CACHE_DIR", tmp_path / "no-keras-cache")
    return tmp_path


# --- read_idx / write_idx -----------------------------------------------------------------------


def test_read_idx_reads_hand_made_file(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = write_gz(tmp_path / "a.gz", raw_idx(array))
    got = data.read_idx(path)
    assert got.dtype == np.uint8 and got.shape == (2, 3, 4)
    np.testing.assert_array_equal(got, array)
    got.flags.writeable = True  # a copy, not a read-only view of the file's bytes
    got[0, 0, 0] = 99


def test_write_idx_writes_the_standard_format(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    data.write_idx(tmp_path / "x.gz", array)
    with gzip.open(tmp_path / "x.gz") as fh:
        assert fh.read() == raw_idx(array)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.int64)  # other integer dtypes are stored as bytes
    data.write_idx(tmp_path / "y.gz", labels)
    with gzip.open(tmp_path / "y.gz") as fh:
        assert fh.read() == bytes([0, 0, 8, 1, 0, 0, 0, 5, 3, 1, 4, 1, 5])


def test_read_idx_checks_expected_shape(tmp_path):
    path = tmp_path / "x.gz"
    data.write_idx(path, np.zeros((4, 2, 2), np.uint8))
    assert data.read_idx(path, (4, 2, 2)).shape == (4, 2, 2)
    with pytest.raises(DatasetError, match=r"shape \(4, 2, 2\), expected \(4, 2, 3\)") as err:
        data.read_idx(path, (4, 2, 3))
    assert str(path) in str(err.value)


def _truncated_gzip(path: Path) -> Path:
    data.write_idx(path, np.random.default_rng(1).integers(0, 256, (50, 28, 28), dtype=np.uint8))
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    return path


DAMAGED = {
    "truncated gzip": (_truncated_gzip, "truncated or corrupt"),
    "not gzip at all": (lambda p: (p.write_bytes(b"hello, this is not gzip" * 10), p)[1], "cannot read this gzip"),
    "wrong dtype code": (
        lambda p: write_gz(p, raw_idx(np.zeros((2, 2), np.uint8), dtype_code=0x0D)),
        "not an IDX file",
    ),
    "wrong leading zeros": (lambda p: write_gz(p, b"\x12\x34" + raw_idx(np.zeros(3, np.uint8))[2:]), "not an IDX file"),
    "zero dimensions": (lambda p: write_gz(p, bytes([0, 0, 8, 0])), "not an IDX file"),
    "too short": (lambda p: write_gz(p, b"\x00\x00"), "too short"),
    "truncated header": (lambda p: write_gz(p, bytes([0, 0, 8, 3]) + (5).to_bytes(4, "big")), "header is truncated"),
    "payload too short": (
        lambda p: write_gz(p, raw_idx(np.zeros(11, np.uint8), shape=(3, 4))),
        r"header says \(3, 4\) \(12 bytes\) but the file holds 11 bytes",
    ),
    "trailing bytes": (lambda p: write_gz(p, raw_idx(np.zeros(13, np.uint8), shape=(3, 4))), "holds 13 bytes"),
    "empty gzip": (lambda p: write_gz(p, b""), "too short"),
}


@pytest.mark.parametrize("kind", sorted(DAMAGED))
def test_damaged_file_raises_naming_the_file(tmp_path, kind):
    make, pattern = DAMAGED[kind]
    path = make(tmp_path / "damaged-file.gz")
    with pytest.raises(DatasetError, match=pattern) as err:
        data.read_idx(path)
    assert str(path) in str(err.value)


def test_missing_file_raises_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="gone.gz"):
        data.read_idx(tmp_path / "gone.gz")


# --- load_from_dir ---------------------------------------------------------------------------------


def test_load_from_dir_returns_keras_order(tmp_path):
    arrays = small_split(np.random.default_rng(2))
    folder = write_split(tmp_path / "fm", arrays)
    (x_train, y_train), (x_test, y_test) = data.load_from_dir(folder, check_shapes=False)
    for key, got in zip(("x_train", "y_train", "x_test", "y_test"), (x_train, y_train, x_test, y_test)):
        np.testing.assert_array_equal(got, arrays[key])
        assert got.dtype == np.uint8
    with pytest.raises(DatasetError, match=r"expected \(60000, 28, 28\)"):
        data.load_from_dir(folder)  # the real shapes are enforced by default


def test_load_from_dir_missing_file(tmp_path):
    folder = write_split(tmp_path / "fm", small_split(np.random.default_rng(3)))
    (folder / data.FILES["y_test"]).unlink()
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte.gz: file not found"):
        data.load_from_dir(folder, check_shapes=False)


def test_load_from_dir_length_mismatch(tmp_path):
    arrays = small_split(np.random.default_rng(4))
    arrays["y_train"] = arrays["y_train"][:-1]
    folder = write_split(tmp_path / "fm", arrays)
    with pytest.raises(DatasetError, match="train images and labels differ in length"):
        data.load_from_dir(folder, check_shapes=False)


# --- load_fashion_mnist: where it looks ---------------------------------------------------------------


def test_env_folder_is_used_first(nowhere, monkeypatch):
    arrays = small_split(np.random.default_rng(5))
    env_dir = write_split(nowhere / "mine", arrays)
    # A complete Debian folder exists too: the environment variable still wins.
    monkeypatch.setattr(data, "DEBIAN_DIR", write_split(nowhere / "debian", small_split(np.random.default_rng(6))))
    monkeypatch.setenv(data.ENV_VAR, str(env_dir))
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist(allow_download=False)
    np.testing.assert_array_equal(x_train, arrays["x_train"])
    np.testing.assert_array_equal(y_test, arrays["y_test"])


def test_incomplete_env_folder_raises_instead_of_falling_back(nowhere, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_DIR", write_split(nowhere / "debian", small_split(np.random.default_rng(7))))
    (nowhere / "empty").mkdir()
    monkeypatch.setenv(data.ENV_VAR, str(nowhere / "empty"))
    with pytest.raises(DatasetError, match="file not found") as err:
        data.load_fashion_mnist(allow_download=False)
    assert str(nowhere / "empty") in str(err.value)


def test_damaged_debian_file_raises_instead_of_being_skipped(nowhere, monkeypatch):
    debian = write_split(nowhere / "debian", small_split(np.random.default_rng(8)))
    _truncated_gzip(debian / data.FILES["x_test"])
    monkeypatch.setattr(data, "DEBIAN_DIR", debian)
    monkeypatch.setattr(data, "KERAS_CACHE_DIR", write_split(nowhere / "cache", small_split(np.random.default_rng(9))))
    with pytest.raises(DatasetError) as err:
        data.load_fashion_mnist(allow_download=False)
    assert str(debian) in str(err.value)


def test_debian_folder_must_have_the_real_shapes(nowhere, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_DIR", write_split(nowhere / "debian", small_split(np.random.default_rng(10))))
    with pytest.raises(DatasetError, match=r"expected \(60000, 28, 28\)"):
        data.load_fashion_mnist(allow_download=False)


def test_keras_cache_used_when_debian_absent(nowhere, monkeypatch):
    arrays = small_split(np.random.default_rng(11))
    monkeypatch.setattr(data, "KERAS_CACHE_DIR", write_split(nowhere / "cache", arrays))
    monkeypatch.setattr(data, "_EXPECTED", {k: (m, arrays[k].shape) for k, (m, _) in data._EXPECTED.items()})
    (x_train, _), (_, y_test) = data.load_fashion_mnist(allow_download=False)
    np.testing.assert_array_equal(x_train, arrays["x_train"])
    np.testing.assert_array_equal(y_test, arrays["y_test"])


def test_incomplete_debian_folder_is_skipped(nowhere, monkeypatch):
    debian = write_split(nowhere / "debian", small_split(np.random.default_rng(12)))
    (debian / data.FILES["y_train"]).unlink()
    monkeypatch.setattr(data, "DEBIAN_DIR", debian)
    with pytest.raises(DatasetError, match="Fashion-MNIST not found") as err:
        data.load_fashion_mnist(allow_download=False)
    assert str(debian) in str(err.value)


def test_nothing_found_gives_one_clear_error(nowhere):
    with pytest.raises(DatasetError) as err:
        data.load_fashion_mnist(allow_download=False)
    message = str(err.value)
    assert message.startswith("Fashion-MNIST not found")
    assert "(1) set FASHION_MNIST_DIR" in message
    assert "(2) on Debian/Ubuntu: apt-get install dataset-fashion-mnist" in message
    assert "(3) with internet access, keras.datasets.fashion_mnist.load_data()" in message
    for name in data.FILES.values():
        assert name in message
    assert str(nowhere / "no-debian") in message and str(nowhere / "no-keras-cache") in message
    assert "download not attempted" in message


def test_failed_download_is_reported_in_the_one_error(nowhere, monkeypatch):
    import types

    def boom():
        raise ConnectionError("no route to host")

    fake = types.ModuleType("keras.datasets.fashion_mnist")
    fake.load_data = boom
    monkeypatch.setitem(sys.modules, "keras.datasets.fashion_mnist", fake)
    datasets = types.ModuleType("keras.datasets")
    datasets.fashion_mnist = fake
    monkeypatch.setitem(sys.modules, "keras.datasets", datasets)
    if "keras" not in sys.modules:
        monkeypatch.setitem(sys.modules, "keras", types.ModuleType("keras"))
    with pytest.raises(DatasetError, match="keras download failed: ConnectionError: no route to host"):
        data.load_fashion_mnist(allow_download=True)


def test_data_module_needs_only_numpy_and_stdlib():
    """The sandbox gets a copy of this one file: it must import on its own, without keras or scipy."""
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('sandbox_data', {str(DATA_FILE)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "heavy = sorted(n for n in sys.modules if n.split('.')[0] in "
        "('keras', 'tensorflow', 'scipy', 'autograder', 'nbformat'))\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(
    not all((DEBIAN / n).is_file() for n in data.FILES.values()),
    reason="Debian package dataset-fashion-mnist not installed",
)
def test_debian_data_loads_like_keras(monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "DEBIAN_DIR", DEBIAN)
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist(allow_download=False)
    assert (x_train.shape, x_train.dtype) == ((60000, 28, 28), np.uint8)
    assert (y_train.shape, y_train.dtype) == ((60000,), np.uint8)
    assert (x_test.shape, x_test.dtype) == ((10000, 28, 28), np.uint8)
    assert (y_test.shape, y_test.dtype) == ((10000,), np.uint8)
    # Fashion-MNIST is balanced: 6000 training and 1000 test images per class.
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert x_train.max() == 255 and x_train.min() == 0
