"""Save and load models as ``.npz`` arrays plus a JSON description of the architecture.

The file is an ordinary NumPy ``.npz`` archive:

* ``__mlplab__``: UTF-8 JSON (stored as a ``uint8`` array) with the format name and version, the
  architecture (``Sequential.config()``), the dtype, the list of arrays with their shapes, the
  optimizer's type, hyper-parameters and step count (if saved) and free-form metadata;
* ``layers.<i>.<name>``: parameters and buffers of layer ``i``;
* ``optimizer.<j>.<name>``: optimizer state of parameter ``j`` (if saved).

Loading never unpickles (``allow_pickle=False``) and checks every array's shape and dtype against
the architecture, so a truncated, edited or foreign file raises ``ValueError`` saying what is wrong.
Writing is atomic (temporary file, then rename).
"""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ._files import atomic_open
from .layers import LAYER_TYPES
from .model import Sequential
from .optim import Optimizer
from .onnx import to_onnx  # noqa: F401  (mlplab.io.to_onnx: export to ONNX, see mlplab.onnx)

__all__ = ["save", "load", "read_metadata", "FORMAT", "VERSION"]

FORMAT = "mlplab-model"
VERSION = 1
_HEADER = "__mlplab__"


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

    ``metadata`` must be JSON-serialisable (e.g. class names, the training configuration).
    Returns the path written.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"save expects a Sequential model, got {type(model).__name__}")
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
        blob = json.dumps(header).encode("utf-8")
    except TypeError as exc:
        raise TypeError(f"metadata must be JSON-serialisable: {exc}") from exc
    with atomic_open(path, "wb") as f:
        np.savez(f, **{_HEADER: np.frombuffer(blob, dtype=np.uint8)}, **arrays)
    return path


def _open(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if _HEADER not in npz.files:
                raise ValueError(f"{path} was not written by mlplab (no '{_HEADER}' entry); "
                                 "expected a file saved with mlplab.io.save")
            header = json.loads(npz[_HEADER].tobytes().decode("utf-8"))
            arrays = {k: npz[k] for k in npz.files if k != _HEADER}
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not a readable mlplab model file (truncated or corrupt?): {exc}") from exc
    except ValueError as exc:
        if "mlplab" in str(exc):
            raise
        raise ValueError(f"{path} is not a readable mlplab model file (truncated or corrupt?): {exc}") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path} was not written by mlplab (format {header.get('format')!r}, expected {FORMAT!r})")
    if header.get("version") != VERSION:
        raise ValueError(f"{path} has mlplab model format version {header.get('version')}, "
                         f"this mlplab reads version {VERSION}")
    return header, arrays


def read_metadata(path: str | os.PathLike) -> dict:
    """The JSON header of a saved model (architecture, metadata, optimizer info) without building it."""
    return _open(Path(path))[0]


def _build(header: dict, path: Path) -> Sequential:
    layers = []
    try:
        specs = header["architecture"]["layers"]
        for spec in specs:
            cls = LAYER_TYPES.get(spec["type"])
            if cls is None:
                raise ValueError(f"{path}: unknown layer type {spec['type']!r}")
            cfg = dict(spec.get("config", {}))
            if spec["type"] == "Dense":
                cfg["rng"] = 0  # the weights are overwritten below
            layers.append(cls(**cfg))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: malformed architecture description: {exc}") from exc
    return Sequential(layers).astype(header.get("dtype", "float32"))


def _expect(arrays: dict, key: str, shape: tuple, dtype: np.dtype, path: Path) -> np.ndarray:
    if key not in arrays:
        raise ValueError(f"{path} is missing array {key!r} (truncated or not matching its architecture)")
    a = arrays[key]
    if a.shape != tuple(shape):
        raise ValueError(f"{path}: array {key!r} has shape {a.shape}, the architecture needs {tuple(shape)}")
    if a.dtype != dtype:
        raise ValueError(f"{path}: array {key!r} has dtype {a.dtype}, expected {dtype}")
    if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
        raise ValueError(f"{path}: array {key!r} contains NaN or infinite values")
    return a


def load(path: str | os.PathLike, optimizer: Optimizer | None = None) -> Sequential:
    """Load a model saved by :func:`save`. If ``optimizer`` is given (built on the loaded model's
    ``parameters()``, of the saved type), its state is restored too, to resume training::

        model = mlplab.io.load("last.npz")
        opt = mlplab.optim.Adam(model.parameters())
        mlplab.io.load("last.npz", optimizer=opt)   # or restore_optimizer
    """
    path = Path(path)
    header, arrays = _open(path)
    model = _build(header, path)
    dtype = model.dtype
    used = set()
    for i, layer in enumerate(model.layers):
        for p in layer.parameters():
            key = f"layers.{i}.{p.name}"
            p.data[...] = _expect(arrays, key, p.data.shape, dtype, path)
            used.add(key)
        saved_buffers = [k for k in arrays if k.startswith(f"layers.{i}.") and k not in used]
        for key in saved_buffers:
            name = key.split(".", 2)[2]
            if not hasattr(layer, name) or name in ("weight", "bias", "gamma", "beta"):
                raise ValueError(f"{path}: unexpected array {key!r} for layer {type(layer).__name__}")
            current = getattr(layer, name)
            shape = current.shape if current is not None else arrays[key].shape
            setattr(layer, name, _expect(arrays, key, shape, dtype, path).copy())
            used.add(key)
        for name in layer.buffers():
            if f"layers.{i}.{name}" not in used:
                raise ValueError(f"{path} is missing array 'layers.{i}.{name}'")
    if optimizer is not None:
        restore_optimizer(optimizer, path, _opened=(header, arrays))
    return model


def restore_optimizer(optimizer: Optimizer, path: str | os.PathLike, _opened=None) -> Optimizer:
    """Load the optimizer state saved in ``path`` into ``optimizer`` (same type, same parameters)."""
    path = Path(path)
    header, arrays = _opened or _open(path)
    info = header.get("optimizer")
    if info is None:
        raise ValueError(f"{path} holds no optimizer state (save it with save(model, path, optimizer=opt))")
    state = []
    for j, p in enumerate(optimizer.params):
        state.append({name: _expect(arrays, f"optimizer.{j}.{name}", p.data.shape, p.data.dtype, path)
                      for name in optimizer.state_names})
    optimizer.load_state_dict({"type": info["type"], "hyperparameters": info["hyperparameters"],
                               "t": info["t"], "state": state})
    return optimizer
