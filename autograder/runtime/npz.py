"""The probe's outputs as files: probe.json and arrays.npz. UNTRUSTED SIDE.

Loaded privately by the runner before student code runs (see safe.py): every function used here
is bound at that moment, and the archive is written by hand rather than by `np.savez`, whose
Python code (and zipfile's) looks up builtins and module attributes a notebook may have patched.
"""

import struct
import zlib

from .processes import write_files

_pack, _crc32 = struct.pack, zlib.crc32


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


def output_files(doc: str, arrays: dict) -> list[tuple[str, bytes]]:
    """The probe's outputs as the files the grader reads: arrays.npz, then probe.json."""
    return [("arrays.npz", npz_bytes(arrays)), ("probe.json", doc.encode("utf-8"))]


def write_outputs(out_dir: str, doc: str, arrays: dict) -> None:
    """Empty the output folder and write the outputs there, from this process (`processes.write_files`)."""
    write_files(out_dir, [(name, [data]) for name, data in output_files(doc, arrays)])
