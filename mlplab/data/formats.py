"""Parsers for the original distribution formats: IDX (MNIST, Fashion-MNIST), CIFAR-10 binary, AReM CSV.

Every parser is our own code on top of ``gzip`` and NumPy; nothing is unpickled. Each one checks
the structure of what it reads and raises ``ValueError`` naming the file and what was expected
when the bytes do not match the format (truncated, corrupted, wrong magic number, ...).

``parse_*`` functions take the file's bytes (so a caller that has already read and hashed a file
does not read it twice); ``read_*`` functions take a path.
"""
from __future__ import annotations

import gzip
import math
import re
import zlib
from os import PathLike
from pathlib import Path

import numpy as np

__all__ = [
    "IDX_TYPES", "IDX_LABELS_MAGIC", "IDX_IMAGES_MAGIC", "parse_idx", "read_idx", "write_idx",
    "CIFAR10_RECORD_BYTES", "CIFAR10_IMAGE_SHAPE", "parse_cifar10_bin", "read_cifar10_bin", "write_cifar10_bin",
    "AREM_COLUMNS", "parse_arem_csv", "read_arem_csv",
]

# --------------------------------------------------------------------------------------------- IDX

#: IDX type codes (third byte of the magic number) and their big-endian NumPy dtypes.
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
#: Magic number of an IDX file of unsigned bytes with 1 dimension (MNIST labels): 0x00000801.
IDX_LABELS_MAGIC = 2049
#: Magic number of an IDX file of unsigned bytes with 3 dimensions (MNIST images): 0x00000803.
IDX_IMAGES_MAGIC = 2051

_GZIP_MAGIC = b"\x1f\x8b"


def _describe_magic(magic: int) -> str:
    code, ndim = (magic >> 8) & 0xFF, magic & 0xFF
    kind = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "int16", 0x0C: "int32",
            0x0D: "float32", 0x0E: "float64"}.get(code, f"unknown type 0x{code:02x}")
    return f"{magic} (0x{magic:08x}: {kind}, {ndim} dimension{'s' if ndim != 1 else ''})"


def _gunzip(data: bytes, name: str) -> bytes:
    try:
        return gzip.decompress(data)
    except EOFError as exc:
        raise ValueError(f"{name}: the gzip stream is truncated ({len(data)} compressed bytes; {exc}); "
                         "expected a complete gzip file. Delete the file and download it again.") from exc
    except (OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError; CRC or length mismatch
        raise ValueError(f"{name}: corrupted gzip data ({exc}); expected a valid gzip file. "
                         "Delete the file and download it again.") from exc


def parse_idx(data: bytes, name: str = "<bytes>", expected_magic: int | None = None) -> np.ndarray:
    """Parse the bytes of an IDX file (gzip-compressed or raw) into an array.

    The IDX header is two zero bytes, a type code (0x08 = unsigned byte, ...), the number of
    dimensions ``d``, then ``d`` big-endian uint32 sizes; the data follow in row-major order.
    Returns an array of shape ``(n0, n1, ..., n{d-1})`` in native byte order (``uint8`` for
    MNIST; a read-only view on the decompressed bytes for single-byte types).

    Raises ``ValueError`` naming ``name`` for a truncated or corrupted gzip stream, a wrong or
    unexpected magic number (``expected_magic``, e.g. :data:`IDX_IMAGES_MAGIC`), or a data length
    that does not match the dimensions in the header.
    """
    if data[:2] == _GZIP_MAGIC:
        data = _gunzip(data, name)
    if len(data) < 4:
        raise ValueError(f"{name}: file is {len(data)} bytes long; expected an IDX file with a 4-byte magic "
                         "number and a header")
    magic = int.from_bytes(data[:4], "big")
    code, ndim = data[2], data[3]
    if data[0] != 0 or data[1] != 0 or code not in IDX_TYPES or ndim == 0:
        want = _describe_magic(expected_magic) if expected_magic is not None else \
            "0x0000TTDD with a known type code TT and DD >= 1 dimensions"
        raise ValueError(f"{name}: not an IDX file: magic number 0x{magic:08x}; expected {want}")
    if expected_magic is not None and magic != expected_magic:
        raise ValueError(f"{name}: wrong IDX magic number {_describe_magic(magic)}; "
                         f"expected {_describe_magic(expected_magic)}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{name}: truncated IDX header: {len(data)} bytes; expected at least {header} bytes "
                         f"for {ndim} dimensions")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = IDX_TYPES[code]
    expected = header + math.prod(dims) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise ValueError(f"{name}: IDX data {what}: {len(data)} bytes; expected exactly {expected} bytes "
                         f"(header {header} + dimensions {'x'.join(map(str, dims))} of {dtype.itemsize}-byte values)")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    if dtype.byteorder == ">":
        arr = arr.astype(dtype.newbyteorder("="))
    return arr


def read_idx(path: str | PathLike, expected_magic: int | None = None) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw; gzip is recognised by its magic bytes). See :func:`parse_idx`."""
    path = Path(path)
    return parse_idx(path.read_bytes(), str(path), expected_magic)


def write_idx(path: str | PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file (gzip-compressed when ``compress`` or the name ends in ``.gz``).

    The inverse of :func:`read_idx`, used by the tests to make small files in the MNIST format.
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {v: k for k, v in IDX_TYPES.items()}
    big = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    if big not in codes:
        raise ValueError(f"cannot write dtype {array.dtype} as IDX; expected one of uint8, int8, int16, int32, "
                         "float32, float64")
    raw = bytes([0, 0, codes[big], array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    raw += np.ascontiguousarray(array, dtype=big).tobytes()
    if compress or (compress is None and path.name.endswith(".gz")):
        raw = gzip.compress(raw, mtime=0)
    path.write_bytes(raw)


# ------------------------------------------------------------------------------------ CIFAR-10 bin

#: One CIFAR-10 binary record: 1 label byte + 3 x 32 x 32 pixel bytes.
CIFAR10_RECORD_BYTES = 1 + 3 * 32 * 32
#: Layout of a CIFAR-10 image as stored in the binary files: channels (R, G, B), rows, columns.
CIFAR10_IMAGE_SHAPE = (3, 32, 32)


def parse_cifar10_bin(data: bytes, name: str = "<bytes>", n_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Parse the bytes of a CIFAR-10 binary batch (``data_batch_1.bin`` ... ``test_batch.bin``).

    Each record is 1 label byte (0..9) then 3072 pixel bytes: the 1024 red values of the 32x32
    image in row-major order, then the green ones, then the blue ones. Returns
    ``(images, labels)``: ``images`` uint8 ``(N, 3, 32, 32)`` in that stored channel-first (CHW)
    layout and ``labels`` int64 ``(N,)``.

    Raises ``ValueError`` naming the file when it is empty, its length is not a whole number of
    3073-byte records (truncated or not a CIFAR-10 binary file) or a label byte is >= ``n_classes``.
    """
    n_bytes = len(data)
    if n_bytes == 0 or n_bytes % CIFAR10_RECORD_BYTES:
        raise ValueError(f"{name}: {n_bytes} bytes is not a whole number of CIFAR-10 records; expected a "
                         f"non-zero multiple of {CIFAR10_RECORD_BYTES} bytes (1 label byte + 3072 pixel bytes "
                         "per image; a real batch is 10000 records = 30730000 bytes). The file is truncated or "
                         "not from the CIFAR-10 binary version.")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, CIFAR10_RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    bad = np.flatnonzero(labels >= n_classes)
    if bad.size:
        raise ValueError(f"{name}: record {int(bad[0])} has label byte {int(labels[bad[0]])}; expected "
                         f"0..{n_classes - 1} ({bad.size} bad records). Corrupted file, or a CIFAR-100 file "
                         "(2 label bytes per record)?")
    images = records[:, 1:].reshape((-1,) + CIFAR10_IMAGE_SHAPE)
    return images, labels


def read_cifar10_bin(path: str | PathLike, n_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 binary batch file. See :func:`parse_cifar10_bin`."""
    path = Path(path)
    return parse_cifar10_bin(path.read_bytes(), str(path), n_classes)


def write_cifar10_bin(path: str | PathLike, images: np.ndarray, labels: np.ndarray) -> None:
    """Write uint8 ``images (N, 3, 32, 32)`` and ``labels (N,)`` as a CIFAR-10 binary batch (for tests)."""
    images = np.asarray(images, dtype=np.uint8).reshape(-1, 3 * 32 * 32)
    labels = np.asarray(labels, dtype=np.uint8).reshape(-1, 1)
    if labels.shape[0] != images.shape[0]:
        raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
    Path(path).write_bytes(np.hstack([labels, images]).tobytes())


# ------------------------------------------------------------------------------------------ AReM

#: Columns of an AReM CSV file, as named in its ``# Columns:`` header line.
AREM_COLUMNS = ("time", "avg_rss12", "var_rss12", "avg_rss13", "var_rss13", "avg_rss23", "var_rss23")
_AREM_SEP = re.compile(r"\s*,\s*|\s+")  # one comma (with optional spaces around it) or a run of whitespace


def parse_arem_csv(data: bytes, name: str = "<bytes>") -> tuple[np.ndarray, dict[str, str]]:
    """Parse one AReM recording as distributed, quirks included.

    Accepts: header lines starting with ``#`` (``# Task: cycling``, ``# Columns: time,...``);
    CRLF, LF or mixed line endings; fields separated by commas and/or whitespace (one original
    file is space-separated with a trailing space); a trailing comma at the end of a line; a
    missing final newline; blank lines. Returns ``(rows, header)``: ``rows`` float64 ``(n, 7)`` with
    the columns of :data:`AREM_COLUMNS` (time in ms first) and ``header`` the ``# key: value``
    lines as a dict (e.g. ``{"Task": "cycling", "Columns": "time,avg_rss12,..."}``).

    Raises ``ValueError`` naming the file and line for text that is not ASCII, a ``# Columns:``
    header that differs from :data:`AREM_COLUMNS`, a row without exactly 7 numbers, a
    non-numeric field, or a file without data rows.
    """
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name}: not an ASCII text file ({exc}); expected an AReM CSV recording") from exc
    header: dict[str, str] = {}
    rows: list[list[float]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            key, sep, value = line[1:].partition(":")
            if sep:
                header[key.strip()] = value.strip()
            continue
        if line.endswith(","):  # a trailing comma ends some rows of the original
            line = line[:-1].rstrip()
        fields = _AREM_SEP.split(line)
        if "" in fields:
            raise ValueError(f"{name}, line {lineno}: empty field in {line!r}; expected {len(AREM_COLUMNS)} numbers")
        if len(fields) != len(AREM_COLUMNS):
            raise ValueError(f"{name}, line {lineno}: {len(fields)} fields in {line!r}; expected "
                             f"{len(AREM_COLUMNS)} numbers ({', '.join(AREM_COLUMNS)}) separated by commas or spaces")
        try:
            rows.append([float(f) for f in fields])
        except ValueError as exc:
            raise ValueError(f"{name}, line {lineno}: non-numeric field in {line!r}; expected "
                             f"{len(AREM_COLUMNS)} numbers") from exc
    columns = header.get("Columns")
    if columns is not None and tuple(c.strip() for c in columns.split(",")) != AREM_COLUMNS:
        raise ValueError(f"{name}: header '# Columns: {columns}'; expected '# Columns: {','.join(AREM_COLUMNS)}'")
    if not rows:
        raise ValueError(f"{name}: no data rows; expected an AReM recording of rows of {len(AREM_COLUMNS)} numbers")
    return np.asarray(rows, dtype=np.float64), header


def read_arem_csv(path: str | PathLike) -> tuple[np.ndarray, dict[str, str]]:
    """Read one AReM CSV recording. See :func:`parse_arem_csv`."""
    path = Path(path)
    return parse_arem_csv(path.read_bytes(), str(path))
