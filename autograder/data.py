"""Fashion-MNIST without the internet.

`load_fashion_mnist()` returns exactly what `keras.datasets.fashion_mnist.load_data()` returns
(two pairs of uint8 arrays, same shapes and order), but looks for the IDX files locally first,
because the grading machines and CI have no internet while students at home do.

This module is deliberately free of anything secret and of heavy imports (numpy and the standard
library only): a copy of it is the only grader code that is visible inside the sandbox, where the
"test" files it finds are a stand-in (see `autograder.sandbox`), so that no submission can train
on the real test split.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

ENV_VAR = "FASHION_MNIST_DIR"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
KERAS_CACHE_DIR = Path("~/.keras/datasets/fashion-mnist")

FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
# (magic number, dimensions) of each file; magic 0x801 = unsigned bytes, 1-D; 0x803 = 3-D.
_EXPECTED = {
    "x_train": (0x803, (60000, 28, 28)),
    "y_train": (0x801, (60000,)),
    "x_test": (0x803, (10000, 28, 28)),
    "y_test": (0x801, (10000,)),
}

Arrays = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


class DatasetError(RuntimeError):
    """The data set could not be found or a file of it is damaged."""


def read_idx(path: Path, expected_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Read one gzip-compressed IDX file of unsigned bytes.

    Every way a file can be damaged (truncated gzip stream, wrong magic, a header that does not
    match the payload, trailing bytes) raises `DatasetError` naming the file: a silently short or
    misshapen array would train and grade on garbage.
    """
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path}: cannot read this gzip file ({exc}); it is truncated or corrupt") from exc
    if len(raw) < 4:
        raise DatasetError(f"{path}: too short to be an IDX file ({len(raw)} bytes)")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08 or ndim < 1:
        raise DatasetError(f"{path}: not an IDX file of unsigned bytes (header {raw[:4].hex()})")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise DatasetError(f"{path}: header is truncated")
    shape = struct.unpack(f">{ndim}I", raw[4:header_len])
    expected_bytes = int(np.prod(shape))
    payload = len(raw) - header_len
    if payload != expected_bytes:
        raise DatasetError(
            f"{path}: header says {shape} ({expected_bytes} bytes) but the file holds {payload} bytes; "
            "it is truncated or corrupt"
        )
    if expected_shape is not None and tuple(shape) != tuple(expected_shape):
        raise DatasetError(f"{path}: shape {tuple(shape)}, expected {tuple(expected_shape)}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(shape).copy()


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as a gzip-compressed IDX file (tests and the sandbox's stand-in split)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(header + array.tobytes())


def load_from_dir(directory: Path, *, check_shapes: bool = True) -> Arrays:
    """Load the four files from one folder; `DatasetError` if any is missing or damaged."""
    arrays = {}
    for key, name in FILES.items():
        path = directory / name
        if not path.is_file():
            raise DatasetError(f"{path}: file not found")
        arrays[key] = read_idx(path, _EXPECTED[key][1] if check_shapes else None)
    for split in ("train", "test"):
        if len(arrays[f"x_{split}"]) != len(arrays[f"y_{split}"]):
            raise DatasetError(f"{directory}: {split} images and labels differ in length")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def candidate_dirs() -> list[tuple[str, Path]]:
    """Where to look, in order: the environment variable, Debian's package, keras' cache."""
    found: list[tuple[str, Path]] = []
    env = os.environ.get(ENV_VAR)
    if env:
        found.append((f"${ENV_VAR}", Path(env)))
    found.append(("Debian package dataset-fashion-mnist", DEBIAN_DIR))
    found.append(("keras cache", KERAS_CACHE_DIR.expanduser()))
    return found


def _all_present(directory: Path) -> bool:
    return all((directory / name).is_file() for name in FILES.values())


def load_fashion_mnist(*, allow_download: bool = True) -> Arrays:
    """Return `((x_train, y_train), (x_test, y_test))` as keras' loader does.

    A folder named by `$FASHION_MNIST_DIR` must be complete (asking for it and getting something
    else would be surprising); the other places are skipped when they are absent. Damaged files
    are never skipped: they raise.
    """
    tried = []
    for label, directory in candidate_dirs():
        if label.startswith("$") or _all_present(directory):
            return load_from_dir(directory, check_shapes=not label.startswith("$"))
        tried.append(f"{label} ({directory})")
    download_error = "download not attempted"
    if allow_download:
        try:
            from keras.datasets import fashion_mnist  # heavy and online: the last resort

            return fashion_mnist.load_data()
        except Exception as exc:  # any failure of the download leads to the one clear error below
            download_error = f"keras download failed: {type(exc).__name__}: {exc}"
    raise DatasetError(
        "Fashion-MNIST not found. Provide it in one of three ways: "
        f"(1) set {ENV_VAR} to a folder holding {', '.join(FILES.values())}; "
        "(2) on Debian/Ubuntu: apt-get install dataset-fashion-mnist; "
        "(3) with internet access, keras.datasets.fashion_mnist.load_data() downloads it to ~/.keras/datasets. "
        f"Looked in: {'; '.join(tried)}; {download_error}."
    )
