"""Writes probe.json and arrays.npz into the emptied output folder. UNTRUSTED SIDE.

Loaded privately by the runner before student code runs (see safe.py): every function used here
is bound at that moment, and the archive is written by hand rather than by `np.savez`, whose
Python code (and zipfile's) looks up builtins and module attributes a notebook may have patched.
"""

import os
import struct
import zlib

_os_open, _os_close, _os_write, _os_unlink = os.open, os.close, os.write, os.unlink
_os_scandir, _os_rmdir, _os_path_join = os.scandir, os.rmdir, os.path.join
_O_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
_pack, _crc32 = struct.pack, zlib.crc32


def _write_new(path: str, data: bytes) -> None:
    fd = _os_open(path, _O_NEW, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[_os_write(fd, view) :]
    finally:
        _os_close(fd)


def _npy(arr) -> bytes:
    """One array in .npy format 1.0 (C order), from ndarray methods only."""
    header = f"{{'descr': {arr.dtype.str!r}, 'fortran_order': False, 'shape': {tuple(arr.shape)!r}, }}"
    header += " " * (-(10 + len(header) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + _pack("<H", len(header)) + header.encode("latin-1") + arr.tobytes(order="C")


def npz_bytes(arrays: dict) -> bytes:
    """An uncompressed .npz (a zip of .npy files) of these arrays."""
    local, central, offset = [], [], 0
    for key, arr in arrays.items():
        name, data = (key + ".npy").encode("ascii"), _npy(arr)
        crc, size = _crc32(data) & 0xFFFFFFFF, len(data)
        head = _pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, crc, size, size, len(name), 0) + name
        central.append(
            _pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                0,
                0,
                0x21,
                crc,
                size,
                size,
                len(name),
                0,
                0,
                0,
                0,
                0o644 << 16,
                offset,
            )
            + name
        )
        local += [head, data]
        offset += len(head) + size
    directory = b"".join(central)
    end = _pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), len(directory), offset, 0)
    return b"".join(local) + directory + end


def _remove(path: str) -> None:
    """Delete a file, a symlink (not its target) or a folder tree, with functions bound above."""
    try:
        _os_unlink(path)
        return
    except OSError:
        pass
    try:
        for entry in list(_os_scandir(path)):
            if entry.is_dir(follow_symlinks=False):
                _remove(entry.path)
            else:
                _os_unlink(entry.path)
        _os_rmdir(path)
    except OSError:
        pass


def write_outputs(out_dir: str, doc: str, arrays: dict) -> None:
    """Empty the output folder, then write arrays.npz and probe.json afresh.

    Called when no notebook code can run any more (see the runner): whatever a notebook planted in
    the folder (symlinks, directories, fifos, forged files) is removed, not written through. The
    grader reads them only once the supervisor has seen the whole run end (supervisor.py).
    """
    for entry in list(_os_scandir(out_dir)):
        _remove(entry.path)
    _write_new(_os_path_join(out_dir, "arrays.npz"), npz_bytes(arrays))
    _write_new(_os_path_join(out_dir, "probe.json"), doc.encode("utf-8"))
