"""Save and load models as ``.npz`` arrays plus a JSON description of the architecture.

The file is an ordinary NumPy ``.npz`` archive (a zip of ``.npy`` files):

* ``__mlplab__``: UTF-8 JSON (stored as a ``uint8`` array) with the format name and version, the
  architecture (``Sequential.config()``), the dtype, the list of arrays with their shapes and dtypes,
  the optimizer's type, hyper-parameters and step count (if saved) and free-form metadata;
* ``layers.<i>.<name>``: parameters and buffers of layer ``i``;
* ``optimizer.<j>.<name>``: optimizer state of parameter ``j`` (if saved).

**Loading a file from a stranger is safe.** :func:`load` decides whether a file is acceptable before
it allocates or decompresses anything large, in this order:

1. the zip's end record: the central directory must be small (:data:`MAX_DIRECTORY_BYTES`), so
   listing the members costs little;
2. the members: only known names, stored or deflated (no other compression), not encrypted, at
   most :data:`MAX_MEMBERS`;
3. the JSON description (at most :data:`MAX_HEADER_BYTES`, nested at most :data:`MAX_JSON_DEPTH`
   deep): every layer type, every configuration value and its type, the shape each array must have
   for that architecture (widths must chain from layer to layer), :data:`MAX_LAYERS` and
   :data:`MAX_PARAMETERS`;
4. the ``.npy`` header of each array the model needs (a few hundred bytes decompressed): shape and
   dtype as described, and the member's declared size equal to what that header implies; the bytes
   declared in all must be plausible for the file's size (:data:`MAX_COMPRESSION_RATIO`), which
   refuses zip bombs;
5. only then are the arrays read, each decompressed at most to its declared size, checked to be
   finite, and the layers built around them (no random initialisation).

Members the model does not need (the optimizer state, unless an optimizer is restored) are never
decompressed. Nothing is unpickled. Every problem raises :class:`ModelFileError` (a ``ValueError``)
naming the file and what is wrong with it. :func:`save` refuses to write what :func:`load` would
refuse (NaN weights, a too-deep or non-JSON metadata, an architecture over the limits), and writes
atomically (temporary file, then rename).
"""
from __future__ import annotations

import json
import math
import numbers
import os
import re
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np

from ._files import atomic_open
from ._validation import all_finite
from .init import INIT_NAMES
from .layers import LAYER_TYPES
from .model import Sequential
from .onnx import to_onnx  # noqa: F401  (mlplab.io.to_onnx: export to ONNX, see mlplab.onnx)
from .optim import OPTIMIZERS, Optimizer

__all__ = [
    "FORMAT", "MAX_COMPRESSION_RATIO", "MAX_DIRECTORY_BYTES", "MAX_HEADER_BYTES", "MAX_JSON_DEPTH", "MAX_LAYERS",
    "MAX_MEMBERS", "MAX_PARAMETERS", "VERSION", "ModelFileError", "load", "read_metadata", "restore_optimizer", "save", "to_onnx",
]

FORMAT = "mlplab-model"
VERSION = 1
_HEADER = "__mlplab__"

# ------------------------------------------------------------------------------------------ limits
# What a model file may declare. They bound what an untrusted file can make load() do: the memory it
# allocates (parameters, the JSON description, the zip directory) and the data it decompresses.

#: Layers in one model.
MAX_LAYERS = 1_000
#: Values held by the model's layers (parameters and buffers together): 2**28, 1 GiB in float32.
MAX_PARAMETERS = 1 << 28
#: Members (arrays) in one file.
MAX_MEMBERS = 8_192
#: Size of the JSON description.
MAX_HEADER_BYTES = 1 << 20
#: Nesting depth of the JSON description (objects and lists).
MAX_JSON_DEPTH = 32
#: Size of the zip's central directory (the list of members, read whole before any member).
MAX_DIRECTORY_BYTES = 1 << 20
#: Largest ratio of the bytes the members declare to the bytes of the file (plus 1 MiB): a model's
#: weights barely compress (mlplab stores them uncompressed), a zip bomb's zeros compress ~1000:1.
MAX_COMPRESSION_RATIO = 100
_RATIO_SLACK = 1 << 20
#: Longest ``.npy`` header read (NumPy writes ~128 bytes; NumPy's own limit is 10000).
_MAX_NPY_HEADER = 4096
_READ_CHUNK = 1 << 20

_MEMBER_NAME = re.compile(r"(__mlplab__|(layers|optimizer)\.(0|[1-9][0-9]{0,8})\.([a-z][a-z0-9_]{0,39}))\.npy")


class ModelFileError(ValueError):
    """A model file is missing something, malformed, or over a limit; the message says which and why."""


# ------------------------------------------------------------------------- what each layer holds
# Config values of each layer type (type, range, default) and the arrays it holds (name -> shape),
# declared as data: the loader checks a file against these before building anything.

@dataclass(frozen=True)
class _Value:
    """How one config value is checked: ``kind`` "int", "real" or "init" (a rule name or a weight
    scale >= 0); bounds ``low``/``high``, excluded when ``open_low``/``open_high``; ``required``."""
    kind: str
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    required: bool = False

    def check(self, value) -> str | None:
        """None if ``value`` is acceptable, else what is wrong with it."""
        if self.kind == "init":
            if isinstance(value, str):
                return None if value in INIT_NAMES else f"unknown init {value!r} (expected a number or " \
                                                        f"one of {', '.join(INIT_NAMES)})"
            return _Value("real", 0.0).check(value)
        ok_type = numbers.Integral if self.kind == "int" else numbers.Real
        if isinstance(value, bool) or not isinstance(value, ok_type):
            return f"expected {'an integer' if self.kind == 'int' else 'a number'}, got {value!r}"
        if not math.isfinite(value):
            return f"expected a finite number, got {value!r}"
        if self.low is not None and (value < self.low or (self.open_low and value == self.low)):
            return f"must be {'>' if self.open_low else '>='} {self.low}, got {value}"
        if self.high is not None and (value > self.high or (self.open_high and value == self.high)):
            return f"must be {'<' if self.open_high else '<='} {self.high}, got {value}"
        return None


_WIDTH = _Value("int", 1, MAX_PARAMETERS, required=True)
_EPS = _Value("real", 0.0)


@dataclass(frozen=True)
class _LayerFormat:
    """``config``: allowed config values. ``params``/``buffers``: ``cfg -> [(name, shape)]`` in the
    order the layer lists them; a shape of ``None`` is a fitted scaler's ``(width,)``, optional.
    ``width``: ``cfg -> (inputs, outputs)`` for layers that fix them."""
    config: dict[str, _Value] = field(default_factory=dict)
    params: Callable[[dict], list] = lambda cfg: []
    buffers: Callable[[dict], list] = lambda cfg: []
    width: Callable[[dict], tuple[int, int]] | None = None


#: Buffers whose values are bounded (``(low, low excluded)``): a variance is >= 0, a scale divides.
BUFFER_BOUNDS: dict[str, tuple[float, bool]] = {"running_var": (0.0, False), "scale": (0.0, True)}

def _out_of_bounds(key: str, arr: np.ndarray) -> str | None:
    """What is wrong with the values of layer array ``key`` under :data:`BUFFER_BOUNDS`, or None."""
    if not key.startswith("layers.") or key.rsplit(".", 1)[1] not in BUFFER_BOUNDS or arr.size == 0:
        return None
    low, excluded = BUFFER_BOUNDS[key.rsplit(".", 1)[1]]
    smallest = arr.min()
    if smallest < low or (excluded and smallest == low):
        return f"array {key!r} holds {smallest}, but its values must be {'>' if excluded else '>='} {low}"
    return None


_NORM_ARRAYS = lambda cfg: [("gamma", (cfg["num_features"],)), ("beta", (cfg["num_features"],))]
_SCALER = _LayerFormat(buffers=lambda cfg: [("shift", None), ("scale", None)])

LAYER_FORMATS: dict[str, _LayerFormat] = {
    "Dense": _LayerFormat(
        config={"in_features": _WIDTH, "out_features": _WIDTH, "init": _Value("init")},
        params=lambda cfg: [("weight", (cfg["out_features"], cfg["in_features"])), ("bias", (cfg["out_features"],))],
        width=lambda cfg: (cfg["in_features"], cfg["out_features"])),
    "BatchNorm": _LayerFormat(
        config={"num_features": _WIDTH, "momentum": _Value("real", 0.0, 1.0), "eps": _EPS},
        params=_NORM_ARRAYS,
        buffers=lambda cfg: [("running_mean", (cfg["num_features"],)), ("running_var", (cfg["num_features"],))],
        width=lambda cfg: (cfg["num_features"], cfg["num_features"])),
    "LayerNorm": _LayerFormat(config={"num_features": _WIDTH, "eps": _EPS}, params=_NORM_ARRAYS,
                              width=lambda cfg: (cfg["num_features"], cfg["num_features"])),
    "LeakyReLU": _LayerFormat(config={"slope": _Value("real", 0.0, 1.0, open_high=True)}),
    "Dropout": _LayerFormat(config={"p": _Value("real", 0.0, 1.0, open_high=True)}),
    "Identity": _LayerFormat(), "Sigmoid": _LayerFormat(), "ReLU": _LayerFormat(), "Tanh": _LayerFormat(),
    "Standardize": _SCALER, "MinMaxScale": _SCALER,
}


# ---------------------------------------------------------------------------------------- saving

def _layer_arrays(model: Sequential) -> dict[str, np.ndarray]:
    arrays = {}
    for i, layer in enumerate(model.layers):
        for p in layer.parameters():
            arrays[f"layers.{i}.{p.name}"] = p.data
        for name, buf in layer.buffers().items():
            arrays[f"layers.{i}.{name}"] = buf
    return arrays


def save(model: Sequential, path: str | os.PathLike, optimizer: Optimizer | None = None,
         metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (and optionally ``optimizer``'s state, for resuming) to ``path`` atomically.

    ``metadata`` must be a JSON-serialisable dict (e.g. class names, the training configuration)
    without NaN or infinity. Raises ``ValueError`` without writing anything if :func:`load` would
    refuse the file: non-finite weights (e.g. after a diverged run), a layer type it cannot rebuild,
    an architecture or metadata over the limits of this module. Returns the path written.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"save expects a Sequential model, got {type(model).__name__}")
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
    path = Path(path)
    arrays = _layer_arrays(model)
    header: dict[str, Any] = {
        "format": FORMAT, "version": VERSION, "dtype": str(model.dtype),
        "architecture": model.config(), "metadata": metadata or {}, "optimizer": None,
    }
    if optimizer is not None:
        sd = optimizer.state_dict()
        if len(sd["state"]) != len(model.parameters()):
            raise ValueError("the optimizer does not hold this model's parameters")
        header["optimizer"] = {"type": sd["type"], "hyperparameters": sd["hyperparameters"], "t": sd["t"]}
        for j, st in enumerate(sd["state"]):
            for name, arr in st.items():
                arrays[f"optimizer.{j}.{name}"] = arr
    header["arrays"] = {k: [list(v.shape), str(v.dtype)] for k, v in arrays.items()}
    try:
        blob = json.dumps(header, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        bad = _first_non_finite(metadata)
        raise TypeError("metadata must be JSON-serialisable, without NaN or infinity"
                        + (f" (metadata{bad[0]} is {bad[1]})" if bad else f": {exc}")) from None
    where = f"cannot save to {path}"
    # what load would refuse, refused here: the description ...
    try:
        _check_description(_parse_json(blob, where), where)
    except ModelFileError as exc:
        raise ValueError(str(exc)) from None
    # ... and the values
    for key, arr in arrays.items():
        if arr.dtype.kind == "f" and not all_finite(arr):
            bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
            raise ValueError(f"{where}: {key} holds {bad} NaN or infinite values (did training diverge?); "
                             "a model file holds finite weights only. Save the last finite weights instead "
                             "(e.g. the best checkpoint, or lower the learning rate and train again)")
        problem = _out_of_bounds(key, arr)
        if problem:
            raise ValueError(f"{where}: {problem}")
    with atomic_open(path, "wb") as f:
        np.savez(f, **{_HEADER: np.frombuffer(blob, dtype=np.uint8)}, **arrays)
    return path


def _first_non_finite(obj) -> tuple[str, float] | None:
    """``(path, value)`` of the first NaN or infinite float in nested dicts/lists (path as
    ``['logs']['val_loss']``), found without recursion; None if there is none."""
    stack = [("", obj)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return path, item
        if isinstance(item, dict):
            stack.extend((f"{path}[{k!r}]", v) for k, v in reversed(list(item.items())))
        elif isinstance(item, (list, tuple)):
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(item))))
    return None


# ------------------------------------------------------------------------------------ the zip level

def _directory_size(fp, size: int) -> tuple[int, int]:
    """``(central directory bytes, members)`` as :mod:`zipfile` will read them from the end record
    (and the ZIP64 end record, if there is one), read without reading the directory itself."""
    tail_len = min(size, 22 + 65535)
    fp.seek(size - tail_len)
    tail = fp.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise ModelFileError("not a zip archive (no end-of-archive record; truncated, or another kind of file)")
    _, _, _, _, entries, dir_size, _, _ = struct.unpack("<4s4H2LH", tail[at:at + 22])
    eocd = size - tail_len + at
    if eocd >= 20 + 56:
        fp.seek(eocd - 20)
        locator = fp.read(20)
        if locator[:4] == b"PK\x06\x07":  # ZIP64: zipfile takes the sizes from the ZIP64 end record
            fp.seek(eocd - 20 - 56)
            rec = fp.read(56)
            if rec[:4] == b"PK\x06\x06":
                entries, dir_size = struct.unpack("<QQ", rec[32:48])
    return dir_size, entries


def _open_zip(path: Path) -> tuple[zipfile.ZipFile, int]:
    """The zip archive at ``path`` and the file's size, after checking that its directory is small."""
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder; expected a model file (.npz) written by mlplab.io.save")
    try:
        with open(path, "rb") as fp:
            size = os.fstat(fp.fileno()).st_size
            dir_size, entries = _directory_size(fp, size)
        if dir_size > MAX_DIRECTORY_BYTES or entries > MAX_MEMBERS:
            raise ModelFileError(f"its zip directory lists {entries} members in {dir_size} bytes, more than a "
                                 f"model file has (at most {MAX_MEMBERS} members, {MAX_DIRECTORY_BYTES} bytes)")
        zf = zipfile.ZipFile(path)
    except ModelFileError as exc:
        raise ModelFileError(f"{path} is not a readable mlplab model file: {exc}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, struct.error,
            NotImplementedError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path} is not a readable mlplab model file (not a zip archive, or truncated or "
                             f"corrupt): {exc}") from None
    return zf, size


def _members(zf: zipfile.ZipFile, path: Path) -> dict[str, zipfile.ZipInfo]:
    """``{array name: ZipInfo}`` after checking every member's name, compression and encryption."""
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ModelFileError(f"{path} holds {len(infos)} members, more than a model file has ({MAX_MEMBERS})")
    out: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        m = _MEMBER_NAME.fullmatch(info.filename)
        if m is None:
            if _HEADER + ".npy" not in zf.NameToInfo:
                raise ModelFileError(f"{path} was not written by mlplab (no '{_HEADER}' entry, and a member "
                                     f"named {info.filename[:80]!r}); expected a file saved with mlplab.io.save")
            raise ModelFileError(f"{path}: unexpected member {info.filename[:80]!r} in a model file "
                                 "(expected only __mlplab__.npy, layers.<i>.<name>.npy and optimizer.<j>.<name>.npy)")
        name = m.group(1)
        if name in out:
            raise ModelFileError(f"{path}: member {info.filename!r} appears twice")
        if info.flag_bits & 0x1:
            raise ModelFileError(f"{path}: member {info.filename!r} is encrypted; model files are not")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ModelFileError(f"{path}: member {info.filename!r} uses zip compression method "
                                 f"{info.compress_type}; a model file is stored or deflated (np.savez, "
                                 "np.savez_compressed)")
        out[name] = info
    if _HEADER not in out:
        raise ModelFileError(f"{path} was not written by mlplab (no '{_HEADER}' entry); expected a file saved "
                             "with mlplab.io.save")
    return out


def _npy_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> tuple[tuple, bool, np.dtype, int]:
    """``(shape, fortran_order, dtype, data offset)`` of a ``.npy`` member, reading only its header."""
    name = info.filename
    with zf.open(info) as f:
        head = f.read(12)
        if len(head) < 10 or head[:6] != b"\x93NUMPY":
            raise ModelFileError(f"{path}: member {name!r} is not a .npy array (truncated or corrupt)")
        major = head[6]
        if major not in (1, 2, 3):
            raise ModelFileError(f"{path}: member {name!r} has .npy format version {major}, expected 1, 2 or 3")
        n_len = 2 if major == 1 else 4
        hlen = int.from_bytes(head[8:8 + n_len], "little")
        if hlen > _MAX_NPY_HEADER:
            raise ModelFileError(f"{path}: member {name!r} declares a .npy header of {hlen} bytes "
                                 f"(at most {_MAX_NPY_HEADER})")
        offset = 8 + n_len + hlen
        head = head[:offset] if offset <= len(head) else head + f.read(offset - len(head))
    if len(head) != offset:
        raise ModelFileError(f"{path}: member {name!r} ends inside its .npy header (truncated)")
    import io as _io

    buf = _io.BytesIO(head)
    try:
        version = np.lib.format.read_magic(buf)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = reader(buf, max_header_size=_MAX_NPY_HEADER)
    except (ValueError, TypeError, SyntaxError) as exc:
        raise ModelFileError(f"{path}: member {name!r} has a malformed .npy header: {exc}") from None
    return tuple(shape), bool(fortran), dtype, offset


def _read_npy(zf: zipfile.ZipFile, info: zipfile.ZipInfo, shape: tuple, dtype: np.dtype, fortran: bool,
              offset: int, path: Path) -> np.ndarray:
    """The array of a member whose header was checked: at most ``info.file_size`` bytes decompressed."""
    n = math.prod(shape)
    out = np.empty(n, dtype=dtype)
    view = memoryview(out).cast("B")
    with zf.open(info) as f:
        f.read(offset)
        pos = 0
        while pos < view.nbytes:
            chunk = f.read(min(_READ_CHUNK, view.nbytes - pos))
            if not chunk:
                raise ModelFileError(f"{path}: member {info.filename!r} ends after {pos} of {view.nbytes} "
                                     "data bytes (truncated)")
            view[pos:pos + len(chunk)] = chunk
            pos += len(chunk)
        f.read(1)  # reach the end, so zipfile checks the CRC
    return out.reshape(shape, order="F" if fortran else "C")


# --------------------------------------------------------------------------- the JSON description

def _json_depth(blob: bytes) -> int:
    """Deepest nesting of objects and lists in a JSON text, in linear time and little memory.

    Escapes are removed first (``\\\\`` pairs, then ``\\"``; outside strings a backslash is not valid
    JSON anyway), so every quote left opens or closes a string; brackets inside strings do not count.
    Counted in blocks of 64 KiB with NumPy, so a crafted text costs no per-character Python work.
    """
    text = blob.replace(b"\\\\", b"").replace(b'\\"', b"")
    b = np.frombuffer(text, dtype=np.uint8)
    depth = deepest = inside = 0
    for start in range(0, b.size, 1 << 16):
        c = b[start:start + (1 << 16)]
        in_string = np.bitwise_xor.accumulate((c == ord('"')).view(np.uint8)) ^ inside
        inside = int(in_string[-1])
        step = ((c == ord("[")) | (c == ord("{"))).astype(np.int32) - ((c == ord("]")) | (c == ord("}")))
        step[in_string.view(bool)] = 0
        level = np.cumsum(step) + depth
        deepest, depth = max(deepest, int(level.max())), int(level[-1])
    return deepest


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not allowed (only finite numbers)")


def _parse_json(blob: bytes, where: str) -> Any:
    if len(blob) > MAX_HEADER_BYTES:
        raise ModelFileError(f"{where}: the model description has {len(blob)} bytes, at most {MAX_HEADER_BYTES}")
    depth = _json_depth(blob)
    if depth > MAX_JSON_DEPTH:
        raise ModelFileError(f"{where}: the model description is nested {depth} levels deep, at most "
                             f"{MAX_JSON_DEPTH}")
    try:
        return json.loads(blob.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelFileError(f"{where}: the model description is not valid JSON: {exc}") from None


def _shape_from_json(value, key: str, where: str) -> tuple[int, ...]:
    if (not isinstance(value, list) or len(value) > 2
            or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= MAX_PARAMETERS for d in value)):
        raise ModelFileError(f"{where}: array {key!r} is described with shape {str(value)[:80]}; expected a list "
                             f"of at most 2 sizes in 0..{MAX_PARAMETERS}")
    return tuple(value)


@dataclass
class _Plan:
    """What a checked description says the file holds: per layer, its type, config and arrays
    ``[(key, shape)]`` (parameters first, in order), and the optimizer's arrays."""
    header: dict
    dtype: np.dtype
    layers: list[tuple[str, dict, list, list]]
    param_shapes: list[tuple]
    optimizer_arrays: list[tuple[str, tuple]]


def _check_description(header, where: str) -> _Plan:
    """Check the JSON description of a model file; returns what it holds. Raises ModelFileError."""
    def bad(msg: str) -> ModelFileError:
        return ModelFileError(f"{where}: {msg}")

    if not isinstance(header, dict):
        raise bad(f"the model description is a JSON {type(header).__name__}, expected an object")
    if header.get("format") != FORMAT:
        raise ModelFileError(f"{where}: not written by mlplab (format {str(header.get('format'))[:80]!r}, "
                             f"expected {FORMAT!r})")
    if header.get("version") != VERSION:
        raise bad(f"mlplab model format version {str(header.get('version'))[:40]}, this mlplab reads version "
                  f"{VERSION}")
    if header.get("dtype") not in ("float32", "float64"):
        raise bad(f"dtype {str(header.get('dtype'))[:40]!r}, expected 'float32' or 'float64'")
    dtype = np.dtype(header["dtype"])
    if not isinstance(header.get("metadata", {}), dict):
        raise bad("metadata must be a JSON object")
    listing = header.get("arrays")
    if not isinstance(listing, dict):
        raise bad("no list of arrays ('arrays' must be an object)")
    declared: dict[str, tuple] = {}
    for key, value in listing.items():
        if not isinstance(key, str) or _MEMBER_NAME.fullmatch(key + ".npy") is None or key == _HEADER:
            raise bad(f"unexpected array name {str(key)[:80]!r}")
        if not isinstance(value, list) or len(value) != 2:
            raise bad(f"array {key!r} must be described as [shape, dtype], got {str(value)[:80]}")
        if value[1] != header["dtype"]:
            raise bad(f"array {key!r} has dtype {str(value[1])[:40]}, expected {header['dtype']} (the model's dtype)")
        declared[key] = _shape_from_json(value[0], key, where)

    arch = header.get("architecture")
    specs = arch.get("layers") if isinstance(arch, dict) else None
    if not isinstance(specs, list) or not specs:
        raise bad("the architecture must be an object with a non-empty list 'layers'")
    if len(specs) > MAX_LAYERS:
        raise bad(f"the architecture has {len(specs)} layers, at most {MAX_LAYERS}")
    layers, param_shapes, expected = [], [], set()
    width: int | None = None
    values = 0
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
            raise bad(f"layer {i} must be an object with a 'type', got {str(spec)[:80]}")
        kind = spec["type"]
        fmt = LAYER_FORMATS.get(kind)
        if fmt is None or kind not in LAYER_TYPES:
            raise bad(f"layer {i} has unknown type {kind[:40]!r}; expected one of {', '.join(LAYER_FORMATS)}")
        cfg = spec.get("config", {})
        if not isinstance(cfg, dict):
            raise bad(f"layer {i} ({kind}): config must be an object, got {str(cfg)[:80]}")
        unknown = sorted(set(cfg) - set(fmt.config))
        if unknown:
            raise bad(f"layer {i} ({kind}): unknown config {', '.join(map(repr, unknown))}"
                      + (f"; expected {', '.join(fmt.config)}" if fmt.config else "; it takes none"))
        for name, rule in fmt.config.items():
            if name not in cfg:
                if rule.required:
                    raise bad(f"layer {i} ({kind}): config {name!r} is missing")
                continue
            problem = rule.check(cfg[name])
            if problem:
                raise bad(f"layer {i} ({kind}): config {name!r} {problem}")
        arrays = []
        for group in (fmt.params(cfg), fmt.buffers(cfg)):
            items = []
            for name, shape in group:
                key = f"layers.{i}.{name}"
                if shape is None:  # a fitted scaler's (width,), present or not
                    if key not in declared:
                        continue
                    shape = declared[key]
                    if len(shape) != 1 or (width is not None and shape != (width,)) or shape[0] < 1:
                        raise bad(f"array {key!r} has shape {shape}, "
                                  + (f"but {items[-1][0]!r} has {(width,)}" if items
                                     else f"the architecture needs {(width,) if width is not None else '(n,)'}"))
                    width = shape[0]
                if key not in declared:
                    raise bad(f"missing array {key!r} (a {kind} layer holds {', '.join(n for n, _ in group)})")
                if declared[key] != shape:
                    raise bad(f"array {key!r} has shape {declared[key]}, the architecture needs {shape}")
                values += math.prod(shape)
                expected.add(key)
                items.append((key, shape))
            arrays.append(items)
        scaler_keys = [k for k, _ in arrays[1] if kind in ("Standardize", "MinMaxScale")]
        if len(scaler_keys) == 1:
            raise bad(f"layer {i} ({kind}) holds {scaler_keys[0]!r} without its partner; a fitted scaler holds "
                      "shift and scale")
        if fmt.width is not None:
            n_in, n_out = fmt.width(cfg)
            if width is not None and n_in != width:
                raise bad(f"layer {i} ({kind}) takes {n_in} features, but the layer before it gives {width}")
            width = n_out
        param_shapes += [shape for _, shape in arrays[0]]
        layers.append((kind, cfg, arrays[0], arrays[1]))
        if values > MAX_PARAMETERS:
            raise bad(f"the architecture holds more than {MAX_PARAMETERS} values (at layer {i}); refused")

    optimizer_arrays = []
    info = header.get("optimizer")
    if info is not None:
        if not isinstance(info, dict):
            raise bad("optimizer must be null or an object")
        classes = {cls.__name__: cls for cls in OPTIMIZERS.values()}
        if info.get("type") not in classes:
            raise bad(f"unknown optimizer type {str(info.get('type'))[:40]!r}; expected one of {', '.join(classes)}")
        t = info.get("t")
        if isinstance(t, bool) or not isinstance(t, int) or t < 0:
            raise bad(f"optimizer step count t must be an integer >= 0, got {str(t)[:40]}")
        hp = info.get("hyperparameters", {})
        if not isinstance(hp, dict) or not all(isinstance(v, (int, float, bool)) for v in hp.values()):
            raise bad("optimizer hyperparameters must be an object of numbers")
        for j, shape in enumerate(param_shapes):
            for name in classes[info["type"]].state_names:
                key = f"optimizer.{j}.{name}"
                if key not in declared:
                    raise bad(f"missing array {key!r} ({info['type']} keeps {name!r} for each parameter)")
                if declared[key] != shape:
                    raise bad(f"array {key!r} has shape {declared[key]}, parameter {j} has {shape}")
                expected.add(key)
                optimizer_arrays.append((key, shape))
    extra = sorted(set(declared) - expected)
    if extra:
        raise bad(f"unexpected array {extra[0]!r}"
                  + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else "")
                  + "; it belongs to no layer or optimizer state of this architecture")
    return _Plan(header, dtype, layers, param_shapes, optimizer_arrays)


# ------------------------------------------------------------------------------------- reading

class _ModelFile:
    """An open model file whose description has been checked; arrays are read on request."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.zf, self.size = _open_zip(self.path)
        try:
            self.members = _members(self.zf, self.path)
            blob = self._read_description()
            self.plan = _check_description(_parse_json(blob, str(self.path)), str(self.path))
            missing = sorted(set(self.plan.header["arrays"]) - set(self.members))
            if missing:
                raise ModelFileError(f"{self.path} is missing array {missing[0]!r} (truncated or not matching its "
                                     "description)")
            extra = sorted(set(self.members) - set(self.plan.header["arrays"]) - {_HEADER})
            if extra:
                raise ModelFileError(f"{self.path}: member {extra[0]!r} is not in the file's list of arrays")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self.zf.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _wrap(self, fn, *args):
        try:
            return fn(*args)
        except ModelFileError:
            raise
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError, struct.error) as exc:
            raise ModelFileError(f"{self.path} is not a readable mlplab model file (truncated or corrupt?): "
                                 f"{exc}") from None

    def _checked_header(self, key: str, dtype: np.dtype, shape: tuple | None) -> tuple:
        """The ``.npy`` header of member ``key``, checked: dtype, shape (if given), and the member's
        declared size equal to what the header implies. Decompresses only the header."""
        info = self.members[key]
        got_shape, fortran, dt, offset = self._wrap(_npy_header, self.zf, info, self.path)
        if dt != dtype:
            raise ModelFileError(f"{self.path}: array {key!r} has dtype {dt}, expected {dtype}"
                                 + (" (a pickled object array: refused, files are never unpickled)"
                                    if dt.hasobject else ""))
        if shape is not None and got_shape != tuple(shape):
            raise ModelFileError(f"{self.path}: array {key!r} has shape {got_shape}, the architecture needs "
                                 f"{tuple(shape)}")
        if key == _HEADER:
            if len(got_shape) != 1 or got_shape[0] > MAX_HEADER_BYTES:
                raise ModelFileError(f"{self.path}: the model description has shape {got_shape}, expected at most "
                                     f"{MAX_HEADER_BYTES} bytes in one dimension")
        elif len(got_shape) > 2 or any(d > MAX_PARAMETERS for d in got_shape):
            raise ModelFileError(f"{self.path}: array {key!r} has shape {got_shape}, more than a model holds")
        expected = offset + math.prod(got_shape) * dt.itemsize
        if info.file_size != expected:
            raise ModelFileError(f"{self.path}: member {info.filename!r} declares {info.file_size} bytes, but its "
                                 f".npy header (shape {got_shape}, {dt}) implies {expected}; refused (corrupt or "
                                 "crafted file)")
        return got_shape, fortran, dt, offset

    def _read_description(self) -> bytes:
        shape, fortran, dt, offset = self._checked_header(_HEADER, np.dtype(np.uint8), None)
        return self._wrap(_read_npy, self.zf, self.members[_HEADER], shape, dt, fortran, offset, self.path).tobytes()

    def read_arrays(self, wanted: list[tuple[str, tuple]]) -> dict[str, np.ndarray]:
        """The arrays ``[(key, shape)]``, after checking all their headers and sizes first."""
        headers = {key: self._checked_header(key, self.plan.dtype, shape) for key, shape in wanted}
        total = sum(self.members[key].file_size for key in headers)
        packed = sum(self.members[key].compress_size for key in headers)
        if packed > self.size or total > MAX_COMPRESSION_RATIO * self.size + _RATIO_SLACK:
            raise ModelFileError(f"{self.path}: its arrays declare {total} bytes in a file of {self.size} bytes; "
                                 f"refused (a model's weights do not compress {MAX_COMPRESSION_RATIO}:1, a zip "
                                 "bomb does)")
        out = {}
        for key, (shape, fortran, dt, offset) in headers.items():
            arr = self._wrap(_read_npy, self.zf, self.members[key], shape, dt, fortran, offset, self.path)
            if not all_finite(arr):
                raise ModelFileError(f"{self.path}: array {key!r} contains NaN or infinite values")
            problem = _out_of_bounds(key, arr)
            if problem:
                raise ModelFileError(f"{self.path}: {problem}")
            out[key] = arr
        return out


def read_metadata(path: str | os.PathLike) -> dict:
    """The JSON description of a saved model (architecture, metadata, optimizer info), checked as
    :func:`load` checks it, without reading any array."""
    with _ModelFile(path) as mf:
        return mf.plan.header


def _build_layer(kind: str, cfg: dict, params: list[np.ndarray], buffers: dict[str, np.ndarray],
                 dtype: np.dtype):
    """A layer of type ``kind`` holding the given arrays, built without random initialisation."""
    cls = LAYER_TYPES[kind]
    if kind == "Dense":
        # built at 1x1 (its initial weights are drawn, but only one), then given the file's arrays
        layer = cls(1, 1, init=cfg.get("init", "he"), rng=0, dtype=dtype)
        layer.in_features, layer.out_features = cfg["in_features"], cfg["out_features"]
    elif kind in ("Standardize", "MinMaxScale"):
        return cls(shift=buffers.get("shift"), scale=buffers.get("scale"), dtype=dtype)
    elif kind in ("BatchNorm", "LayerNorm"):
        layer = cls(**cfg, dtype=dtype)
    else:
        layer = cls(**cfg)
    for p, arr in zip(layer.parameters(), params):
        p.data = arr
        p.grad = np.zeros_like(arr)
    for name, arr in buffers.items():
        setattr(layer, name, arr)
    return layer


def load(path: str | os.PathLike, optimizer: Optimizer | None = None) -> Sequential:
    """Load a model saved by :func:`save`. If ``optimizer`` is given (built on the loaded model's
    ``parameters()``, of the saved type), its state is restored too, to resume training::

        model = mlplab.io.load("last.npz")
        opt = mlplab.optim.Adam(model.parameters())
        mlplab.io.load("last.npz", optimizer=opt)   # or restore_optimizer

    Safe on files from strangers (see the module docstring); a bad file raises
    :class:`ModelFileError` (a ``ValueError``) saying what is wrong, a missing one ``FileNotFoundError``.
    """
    with _ModelFile(path) as mf:
        plan = mf.plan
        arrays = mf.read_arrays([item for _, _, params, buffers in plan.layers for item in params + buffers])
        layers = []
        for kind, cfg, params, buffers in plan.layers:
            layers.append(_build_layer(kind, cfg, [arrays[k] for k, _ in params],
                                       {k.rsplit(".", 1)[1]: arrays[k] for k, _ in buffers}, plan.dtype))
        model = Sequential(layers)
        if optimizer is not None:
            _restore(optimizer, mf)
    return model


def _restore(optimizer: Optimizer, mf: _ModelFile) -> Optimizer:
    info = mf.plan.header.get("optimizer")
    if info is None:
        raise ValueError(f"{mf.path} holds no optimizer state (save it with save(model, path, optimizer=opt))")
    if info["type"] != type(optimizer).__name__:
        raise ValueError(f"state is for optimizer {info['type']!r}, not {type(optimizer).__name__}")
    shapes = [p.data.shape for p in optimizer.params]
    if shapes != mf.plan.param_shapes:
        raise ValueError(f"{mf.path}: the optimizer's parameters (shapes {shapes[:4]}...) are not the saved model's; "
                         "build it on the loaded model's parameters()")
    arrays = mf.read_arrays(mf.plan.optimizer_arrays)
    state = [{name: arrays[f"optimizer.{j}.{name}"] for name in optimizer.state_names}
             for j in range(len(optimizer.params))]
    optimizer.load_state_dict({"type": info["type"], "hyperparameters": info.get("hyperparameters", {}),
                               "t": info["t"], "state": state})
    return optimizer


def restore_optimizer(optimizer: Optimizer, path: str | os.PathLike) -> Optimizer:
    """Load the optimizer state saved in ``path`` into ``optimizer`` (same type, same parameters)."""
    with _ModelFile(path) as mf:
        return _restore(optimizer, mf)
