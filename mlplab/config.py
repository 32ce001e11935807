"""``TrainConfig``: the one description of a training run, its defaults, parsing and validation.

Every front end builds a run from a :class:`TrainConfig`: ``mlplab train`` (its flags and ``--config``
files; ``--help`` shows the defaults read from here), ``mlplab search`` (each trial's configuration),
the labs, and :func:`mlplab.train.build_trainer`, which turns a configuration into model, optimizer
and :class:`~mlplab.train.Trainer`.

The constraints on each field are data, in the style of scikit-learn's ``_parameter_constraints``::

    "lr": [Interval(Real, 0, None, closed="neither")],
    "norm": [None, StrOptions({"batchnorm", "layernorm"})],

A value is accepted if it satisfies one constraint of its list; nothing is coerced (``2.5`` is not
a layer size, ``"1e-3"`` in a JSON file is not a learning rate). Only text from the command line
goes through a field's parser (``TrainConfig.parse_text``) first. Every refusal is a
:class:`ConfigError` (a ``ValueError``) naming the field, what it got and what it accepts.
"""
from __future__ import annotations

import dataclasses
import difflib
import itertools
import json
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

from .data.datasets import DATASETS
from .init import INIT_NAMES
from .model import ACTIVATIONS, NORMS, SCALERS
from .optim import OPTIMIZERS

__all__ = [
    "CONSTRAINTS",
    "ConfigError",
    "Interval",
    "StrOptions",
    "TrainConfig",
    "estimate_training_memory",
    "format_bytes",
    "parse_hidden",
    "parse_init",
]


class ConfigError(ValueError):
    """A training configuration (or one of its fields) is not acceptable; the message says why."""


# ------------------------------------------------------------------------------------ constraints as data

@dataclass(frozen=True)
class Interval:
    """Numbers of ``type`` (``Integral`` or ``Real``) between ``low`` and ``high`` (None: unbounded);
    ``closed`` is ``"left"``, ``"right"``, ``"both"`` or ``"neither"``. Booleans, NaN and infinities
    never satisfy it; a ``Real`` interval accepts integers, an ``Integral`` one refuses ``3.0``."""

    type: type
    low: float | None
    high: float | None
    closed: str = "both"

    def accepts(self, v) -> bool:
        if isinstance(v, bool) or not isinstance(v, self.type):
            return False
        if not math.isfinite(v):
            return False
        left = self.closed in ("left", "both")
        right = self.closed in ("right", "both")
        if self.low is not None and (v < self.low or (v == self.low and not left)):
            return False
        return not (self.high is not None and (v > self.high or v == self.high and not right))

    def canonical(self, v):
        return int(v) if self.type is Integral else float(v)

    def describe(self) -> str:
        kind = "an integer" if self.type is Integral else "a number"
        if self.type is Integral and self.high is None and self.closed in ("left", "both"):
            return f"{kind} >= {self.low}"
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        lb = "[" if self.closed in ("left", "both") and self.low is not None else "("
        rb = "]" if self.closed in ("right", "both") and self.high is not None else ")"
        return f"{kind} in {lb}{lo}, {hi}{rb}"


@dataclass(frozen=True)
class StrOptions:
    """One of a set of names (compared in lower case; the canonical value is the lower-case name)."""

    options: tuple[str, ...]

    def accepts(self, v) -> bool:
        return isinstance(v, str) and v.lower() in self.options

    def canonical(self, v):
        return v.lower()

    def describe(self) -> str:
        return "one of " + ", ".join(repr(o) for o in self.options)


@dataclass(frozen=True)
class HiddenSizes:
    """A list of layer sizes, each an integer >= 1 (the list may be empty: no hidden layer)."""

    def accepts(self, v) -> bool:
        return isinstance(v, (list, tuple)) and all(
            isinstance(h, Integral) and not isinstance(h, bool) and h >= 1 for h in v)

    def canonical(self, v):
        return tuple(int(h) for h in v)

    def describe(self) -> str:
        return 'a list of integers >= 1 (or a text like "128,64")'


@dataclass(frozen=True)
class PathLike:
    """A folder path (text or ``os.PathLike``)."""

    def accepts(self, v) -> bool:
        return isinstance(v, (str, os.PathLike)) and str(v) != ""

    def canonical(self, v):
        return str(v)

    def describe(self) -> str:
        return "a folder path"


@dataclass(frozen=True)
class AugmentOptions:
    """A table of random-affine jitter options for image datasets (see :mod:`mlplab.data.augment`):
    ``max_shift`` (pixels), ``max_rotation`` (degrees), ``max_scale`` (relative), each a number >= 0."""

    keys: tuple[str, ...] = ("max_shift", "max_rotation", "max_scale")

    def accepts(self, v) -> bool:
        return isinstance(v, Mapping) and len(v) > 0 and all(
            k in self.keys and isinstance(x, Real) and not isinstance(x, bool) and math.isfinite(x) and x >= 0
            for k, x in v.items())

    def canonical(self, v):
        return {k: float(v[k]) for k in self.keys if k in v}

    def describe(self) -> str:
        return "a table of " + ", ".join(self.keys) + " (numbers >= 0)"


def _describe(constraints: list) -> str:
    return " or ".join("None" if c is None else c.describe() for c in constraints)


def _satisfies(constraints: list, v):
    """``(True, canonical value)`` for the first constraint ``v`` meets, else ``(False, None)``."""
    for c in constraints:
        if c is None:
            if v is None:
                return True, None
        elif c.accepts(v):
            return True, c.canonical(v)
    return False, None


# ------------------------------------------------------------------------------------ parsers of text

def parse_hidden(v) -> tuple[int, ...]:
    """``"128,64"``, ``[128, 64]`` or ``128`` -> ``(128, 64)``; every size an integer >= 1.

    ``",,,"``, ``"10,x"``, ``"128,,64"`` and ``[2.5]`` are refused, not cleaned up or rounded.
    """
    if isinstance(v, Integral) and not isinstance(v, bool):
        v = [v]
    if isinstance(v, str):
        text = v.replace(" ", "")
        parts = text.split(",") if text else []
        if not parts or any(p == "" for p in parts) or not all(p.isdigit() for p in parts):
            raise ConfigError(f'hidden must be comma-separated integers >= 1 like "128,64", got {v!r}')
        v = [int(p) for p in parts]
    ok, sizes = _satisfies([HiddenSizes()], v)
    if not ok:
        raise ConfigError(f"hidden must be {HiddenSizes().describe()}, got {v!r}")
    return sizes


def parse_init(v):
    """``None``/``"default"`` (He for ReLU-like activations, Xavier otherwise), a rule name, or a
    number > 0 (the standard deviation of every weight); text like ``"0.01"`` is read as a number."""
    if isinstance(v, str):
        if v.lower() in ("default", "none", ""):
            return None
        try:
            v = float(v)
        except ValueError:
            pass
    return v


def parse_augment(v):
    """``"max_shift=2,max_rotation=10"`` (command line) -> ``{"max_shift": 2.0, "max_rotation": 10.0}``;
    ``"none"`` -> None; a mapping is kept for the constraint check."""
    if not isinstance(v, str):
        return v
    if v.strip().lower() in ("none", ""):
        return None
    out = {}
    for part in v.replace(" ", "").split(","):
        key, sep, value = part.partition("=")
        try:
            out[key] = float(value) if sep else value
        except ValueError:
            out[key] = value
    return out


def _none_word(v):
    """``"none"`` (any case) means None for the optional names (norm, scaler, split)."""
    return None if isinstance(v, str) and v.lower() == "none" else v


def _text_to_int(text: str):
    try:
        return int(text)
    except ValueError:
        return text  # left for the constraint check to refuse with the field's message


def _text_to_float(text: str):
    try:
        return float(text)
    except ValueError:
        return text


# ------------------------------------------------------------------------------------ the configuration

#: the values each field of :class:`TrainConfig` accepts (one entry of its list must be satisfied);
#: the names come from the engine's own tables
CONSTRAINTS: dict[str, list] = {
    "dataset": [StrOptions(tuple(DATASETS))],
    "split": [None, StrOptions(("rows", "recordings"))],
    "n_train": [None, Interval(Integral, 1, None, closed="left")],
    "data_home": [None, PathLike()],
    "hidden": [HiddenSizes()],
    "activation": [StrOptions(tuple(ACTIVATIONS))],
    "norm": [None, StrOptions(tuple(NORMS))],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "init": [None, StrOptions(tuple(INIT_NAMES)), Interval(Real, 0, None, closed="neither")],
    "scaler": [None, StrOptions(tuple(SCALERS))],
    "optimizer": [StrOptions(tuple(OPTIMIZERS))],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "epochs": [Interval(Integral, 1, None, closed="left")],
    "seed": [Interval(Integral, 0, None, closed="left")],
    "dtype": [StrOptions(("float32", "float64"))],
    "schedule": [None, StrOptions(("warmup_cosine", "one_cycle"))],
    "warmup_epochs": [Interval(Real, 0, None, closed="left")],
    "label_smoothing": [Interval(Real, 0, 1, closed="left")],
    "max_norm": [None, Interval(Real, 0, None, closed="neither")],
    "augment": [None, AugmentOptions()],
}

#: datasets whose samples are 2-D grey images, which :class:`~mlplab.data.augment.RandomAffine` can jitter
_GREY_IMAGE_DATASETS = ("digits", "mnist", "fashion-mnist")


def _opt(help: str, **kw) -> dict:
    return {"help": help, **kw}


@dataclass(frozen=True)
class TrainConfig:
    """One training run: the network, the optimizer, the loop, the data.

    Build it from keywords (``TrainConfig(hidden=[80, 70], lr=0.1)``), a mapping
    (:meth:`from_dict`) or a JSON/TOML file (:meth:`from_file`); ``dataclasses.replace`` gives a
    changed copy, validated again. ``to_dict()`` is what ``config.json`` of a run holds, and reads
    back through :meth:`from_dict`. ``hidden`` is kept as a tuple of ints, ``init`` as None, a name
    or a float, ``norm``/``scaler``/``split`` as None or a name.
    """

    dataset: str = field(default="digits", metadata=_opt("dataset name (see 'mlplab data list')"))
    split: str | None = field(default=None, metadata=_opt(
        "arem only: random rows (as the original lab) or whole recordings on each side (honest "
        "generalisation); none: the dataset's default (rows)"))
    n_train: int | None = field(default=None, metadata=_opt(
        "use a seeded stratified subset of this many training samples (none: all)"))
    data_home: str | None = field(default=None, metadata=_opt(
        "dataset folder; none: $MLPLAB_DATA or the user cache"))
    hidden: tuple[int, ...] = field(default=(128, 64), metadata=_opt(
        "hidden layer sizes, comma-separated, e.g. 128,64"))
    activation: str = field(default="relu", metadata=_opt("hidden-layer activation"))
    norm: str | None = field(default=None, metadata=_opt("normalization after each hidden Dense layer (none: no normalization)"))
    dropout: float = field(default=0.2, metadata=_opt("drop probability after each hidden activation (0 = none)"))
    init: str | float | None = field(default=None, metadata=_opt(
        "weight init: he, xavier, xavier_uniform or a number > 0 (fixed standard deviation); "
        "none: he for relu-like activations, xavier otherwise"))
    scaler: str | None = field(default="standard", metadata=_opt(
        "frozen input scaling layer fitted on the training data and saved with the model"))
    optimizer: str = field(default="adam", metadata=_opt("optimizer"))
    lr: float = field(default=1e-3, metadata=_opt("learning rate"))
    weight_decay: float = field(default=0.0, metadata=_opt("L2 weight decay on weight matrices"))
    batch_size: int = field(default=32, metadata=_opt("mini-batch size (the last batch may be shorter)"))
    epochs: int = field(default=50, metadata=_opt("number of epochs"))
    seed: int = field(default=0, metadata=_opt("seed for the split, initial weights, shuffling and dropout"))
    dtype: str = field(default="float32", metadata=_opt("floating-point precision"))
    schedule: str | None = field(default=None, metadata=_opt(
        "learning-rate schedule per step: warmup_cosine (linear warm-up, then cosine decay to 0) or "
        "one_cycle (up to lr, then down, as torch's OneCycleLR); none: constant lr"))
    warmup_epochs: float = field(default=0.0, metadata=_opt(
        "warmup_cosine only: epochs of linear warm-up (may be fractional)"))
    label_smoothing: float = field(default=0.0, metadata=_opt(
        "label smoothing ε: targets (1 - ε) one-hot + ε / K"))
    max_norm: float | None = field(default=None, metadata=_opt(
        "max-norm constraint: each unit's incoming weight vector is rescaled to at most this length "
        "after every step (none: no constraint)"))
    augment: dict | None = field(default=None, metadata=_opt(
        "image datasets: random affine jitter of each training batch, e.g. max_shift=2,max_rotation=10,"
        "max_scale=0.1 (pixels, degrees, relative); none: no augmentation"))

    #: how text from the command line becomes a value (before the constraint check)
    _text_parsers: ClassVar[dict[str, Any]] = {
        "hidden": parse_hidden, "init": parse_init, "norm": _none_word, "scaler": _none_word,
        "split": _none_word, "n_train": _text_to_int, "batch_size": _text_to_int, "epochs": _text_to_int,
        "seed": _text_to_int, "dropout": _text_to_float, "lr": _text_to_float, "weight_decay": _text_to_float,
        "schedule": _none_word, "warmup_epochs": _text_to_float, "label_smoothing": _text_to_float,
        "max_norm": lambda t: None if t.lower() == "none" else _text_to_float(t), "augment": parse_augment,
    }
    #: how a value from a mapping (a config file, the search) is read: only hidden and init have
    #: other spellings (``"128,64"``; ``"default"``); ``"none"`` means None for the optional names
    _value_parsers: ClassVar[dict[str, Any]] = {
        "hidden": parse_hidden, "init": parse_init, "norm": _none_word, "scaler": _none_word,
        "split": _none_word, "schedule": _none_word, "augment": parse_augment,
    }

    @classmethod
    def constraints(cls) -> dict[str, list]:
        """The constraint table: field -> list of accepted kinds of value (see the module docstring)."""
        return CONSTRAINTS

    def __post_init__(self) -> None:
        table = self.constraints()
        for f in dataclasses.fields(self):
            raw = getattr(self, f.name)
            v = self._value_parsers[f.name](raw) if f.name in self._value_parsers else raw
            ok, canon = _satisfies(table[f.name], v)
            if not ok:
                raise ConfigError(f"{f.name} must be {_describe(table[f.name])}, got {raw!r}")
            object.__setattr__(self, f.name, canon)
        if self.warmup_epochs and self.schedule != "warmup_cosine":
            raise ConfigError(f"warmup_epochs applies to schedule='warmup_cosine' only (schedule={self.schedule!r})")
        if self.warmup_epochs >= self.epochs:
            raise ConfigError(f"warmup_epochs ({self.warmup_epochs:g}) must be shorter than the run "
                              f"({self.epochs} epochs)")
        if self.augment is not None and self.dataset not in _GREY_IMAGE_DATASETS:
            raise ConfigError(f"augment applies to the grey image datasets ({', '.join(_GREY_IMAGE_DATASETS)}), "
                              f"not {self.dataset!r}")
        if self.split is not None and self.dataset != "arem":
            raise ConfigError(f"split applies to the arem dataset only, not {self.dataset!r} "
                              f"(split={self.split!r} given)")

    # ------------------------------------------------------------------ construction
    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Every field's default, as :meth:`to_dict` writes it."""
        return cls().to_dict()

    @classmethod
    def field_help(cls, name: str) -> str:
        f = {f.name: f for f in dataclasses.fields(cls)}[name]
        return f.metadata["help"]

    @classmethod
    def allowed(cls, name: str) -> str:
        """What ``name`` accepts, in words (for ``--help`` and messages)."""
        return _describe(cls.constraints()[name])

    @classmethod
    def options_of(cls, name: str) -> tuple[str, ...]:
        """The names a string field accepts (empty for numeric fields)."""
        return tuple(o for c in cls.constraints()[name] if isinstance(c, StrOptions) for o in c.options)

    @classmethod
    def check_value(cls, name: str, value):
        """One field's value (as a mapping gives it: a config file, a search space) read and checked
        alone: its canonical form, or a :class:`ConfigError` saying what the field accepts."""
        v = cls._value_parsers[name](value) if name in cls._value_parsers else value
        ok, canon = _satisfies(cls.constraints()[name], v)
        if not ok:
            raise ConfigError(f"{name} must be {cls.allowed(name)}, got {value!r}")
        return canon

    @classmethod
    def parse_text(cls, name: str, text: str):
        """A command-line value of field ``name``: parsed and checked alone (raises :class:`ConfigError`)."""
        v = cls._text_parsers.get(name, lambda t: t)(text)
        ok, canon = _satisfies(cls.constraints()[name], v)
        if not ok:
            raise ConfigError(f"{name} must be {cls.allowed(name)}, got {text!r}")
        return canon

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], base: TrainConfig | None = None,
                  source: str | None = None) -> TrainConfig:
        """A configuration from ``base`` (default: the defaults) updated with ``values``.

        Keys may use ``-`` for ``_``; unknown keys are refused with the known ones (and a close
        match) named. ``source`` (a file name) goes into the messages.
        """
        where = f" in {source}" if source else ""
        if not isinstance(values, Mapping):
            raise ConfigError(f"a training configuration{where} must be a table of options (a JSON object "
                              f"or TOML keys), got a {type(values).__name__}")
        known = cls.field_names()
        merged = (base or cls()).to_dict()
        unknown = []
        for key, v in values.items():
            k = str(key).replace("-", "_")
            if k not in known:
                unknown.append(str(key))
            merged[k] = v
        if unknown:
            hints = [f"{u!r} (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(
                u.replace("-", "_"), known, 1)) else repr(u) for u in unknown]
            raise ConfigError(f"unknown keys{where}: {', '.join(hints)}; known keys: {', '.join(known)}")
        try:
            return cls(**merged)
        except ConfigError as exc:
            raise ConfigError(f"{exc}{where}") from None

    @classmethod
    def from_file(cls, path: str | os.PathLike, base: TrainConfig | None = None) -> TrainConfig:
        """A configuration from a JSON file (``.json``, or any other name) or a TOML file (``.toml``)."""
        path = Path(path)
        if path.is_dir():
            raise ConfigError(f"config file {path} is a folder; give a .json or .toml file of options "
                              "(for example a run folder's config.json)")
        if not path.exists():
            raise ConfigError(f"config file not found: {path}")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from None
        try:
            data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError, RecursionError) as exc:
            kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
            raise ConfigError(f"cannot parse config file {path} as {kind}: {exc}") from None
        return cls.from_dict(data, base=base, source=f"config file {path}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable values (``hidden`` as a list)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["hidden"] = list(d["hidden"])
        d["augment"] = None if d["augment"] is None else dict(d["augment"])
        return d

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ derived facts
    def data_options(self) -> dict[str, Any]:
        """Keywords of :func:`mlplab.data.load` for this run (the split, subset, seed, dtype, folder)."""
        kw: dict[str, Any] = {"seed": self.seed, "dtype": self.dtype}
        if self.split is not None:
            kw["split"] = self.split
        if self.n_train is not None:
            kw["n_train"] = self.n_train
        if self.data_home is not None:
            kw["data_home"] = self.data_home
        return kw

    def architecture(self, n_features: int, n_classes: int) -> str:
        return "-".join(str(v) for v in [n_features, *self.hidden, n_classes])


def estimate_training_memory(config: TrainConfig, n_features: int, n_classes: int) -> tuple[int, int]:
    """``(n_parameters, bytes)``: the parameters of the network ``config`` describes and a lower
    bound of the memory training it takes: weights, gradients, the optimizer's state arrays and the
    two copies the loop keeps (the start-of-epoch weights it falls back to on divergence, and the
    last finished epoch's), plus one batch of activations. Python integers: no overflow."""
    sizes = [int(n_features), *config.hidden, int(n_classes)]
    n_params = sum(a * b + b for a, b in itertools.pairwise(sizes))
    itemsize = 4 if config.dtype == "float32" else 8
    copies = 4 + len(OPTIMIZERS[config.optimizer].state_names)
    activations = config.batch_size * sum(sizes) * 4
    return n_params, itemsize * (copies * n_params + activations)


def format_bytes(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


