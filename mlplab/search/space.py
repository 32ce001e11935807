"""Search spaces: which hyperparameters a search varies, over which values, and which it keeps fixed.

A space maps *parameter names* to either a distribution (the parameter is searched) or a plain value
(the parameter is fixed for every trial). Written in Python::

    from mlplab.search import Categorical, Int, LogUniform, Uniform

    space = {"lr": LogUniform(1e-4, 1e-1), "optimizer": Categorical(["adam", "sgd"]),
             "hidden": Categorical(["128,64", "256"]), "dropout": Uniform(0.0, 0.5), "epochs": 20}

or in TOML (``load_space("space.toml")``), one key per parameter::

    lr = { type = "log_uniform", low = 1e-4, high = 1e-1 }
    optimizer = { type = "categorical", choices = ["adam", "sgd"] }
    hidden = { type = "categorical", choices = ["128,64", "256"] }
    dropout = { type = "uniform", low = 0.0, high = 0.5 }
    epochs = 20

This module needs neither Optuna nor anything else outside the standard library and mlplab, so a
space can be checked where Optuna is not installed.
"""
from __future__ import annotations

import difflib
import json
import math
import numbers
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Union

from ..config import TrainConfig, parse_hidden

__all__ = ["LogUniform", "Uniform", "Int", "Categorical", "Distribution", "SearchSpace", "load_space",
           "PARAMETERS", "BASE_CONFIG", "CONFIG_KEYS"]

#: the configuration every trial starts from: the defaults of :class:`mlplab.config.TrainConfig`
#: (what ``mlplab train`` uses), so a parameter the space leaves out takes the value ``mlplab train``
#: would use; ``hidden`` as text (``"128,64"``); no data folder (each machine has its own)
BASE_CONFIG: dict[str, Any] = {**{k: v for k, v in TrainConfig.defaults().items() if k != "data_home"},
                               "hidden": ",".join(map(str, TrainConfig().hidden))}
#: the keys of a training configuration (what ``mlplab train --config`` reads)
CONFIG_KEYS: tuple[str, ...] = tuple(BASE_CONFIG)


# ------------------------------------------------------------------------------------ distributions

@dataclass(frozen=True)
class LogUniform:
    """A float drawn uniformly on a log scale from ``[low, high]`` (``0 < low < high``): learning rates,
    weight decay, weight scales."""

    low: float
    high: float

    def to_dict(self) -> dict:
        return {"type": "log_uniform", "low": float(self.low), "high": float(self.high)}


@dataclass(frozen=True)
class Uniform:
    """A float drawn uniformly from ``[low, high]``; with ``step``, from ``low, low + step, ..., high``."""

    low: float
    high: float
    step: float | None = None

    def to_dict(self) -> dict:
        d = {"type": "uniform", "low": float(self.low), "high": float(self.high)}
        if self.step is not None:
            d["step"] = float(self.step)
        return d


@dataclass(frozen=True)
class Int:
    """An integer from ``low, low + step, ..., high`` (both ends included); ``log=True`` draws on a
    log scale (``step`` must then be 1)."""

    low: int
    high: int
    step: int = 1
    log: bool = False

    def to_dict(self) -> dict:
        d: dict = {"type": "int", "low": int(self.low), "high": int(self.high)}
        if self.step != 1:
            d["step"] = int(self.step)
        if self.log:
            d["log"] = True
        return d


@dataclass(frozen=True)
class Categorical:
    """One of ``choices`` (strings, numbers, booleans or None)."""

    choices: tuple

    def __init__(self, choices) -> None:
        if isinstance(choices, (str, bytes)) or not hasattr(choices, "__iter__"):
            raise TypeError(f"Categorical takes a list of choices, got {choices!r}")
        object.__setattr__(self, "choices", tuple(choices))

    def to_dict(self) -> dict:
        return {"type": "categorical", "choices": list(self.choices)}


Distribution = Union[LogUniform, Uniform, Int, Categorical]
_DIST_TYPES = (LogUniform, Uniform, Int, Categorical)


# ------------------------------------------------------------------------------------ known parameters

@dataclass(frozen=True)
class _Param:
    """What a parameter accepts: ``kind`` (float, int or choice), which distributions, and a function
    that checks one value and returns its canonical form (raising ``ValueError`` with the reason)."""

    kind: str
    canon: Callable[[Any], Any]
    help: str
    dists: tuple = field(default=())


def _number(name: str, v, lo: float, lo_open: bool, hi: float | None = None, hi_open: bool = True) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)):
        raise ValueError(f"{name} must be a finite number, got {v!r}")
    v = float(v)
    if v < lo or (lo_open and v == lo) or (hi is not None and (v > hi or (hi_open and v == hi))):
        lo_s = f"{'>' if lo_open else '>='} {lo:g}"
        hi_s = "" if hi is None else f" and {'<' if hi_open else '<='} {hi:g}"
        raise ValueError(f"{name} must be {lo_s}{hi_s}, got {v!r}")
    return v


def _integer(name: str, v, lo: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        else:
            raise ValueError(f"{name} must be an integer, got {v!r}")
    if v < lo:
        raise ValueError(f"{name} must be >= {lo}, got {v}")
    return int(v)


def _name_in(name: str, options) -> Callable[[Any], str]:
    def canon(v):
        key = str(v).lower() if isinstance(v, str) else v
        if key not in options:
            raise ValueError(f"unknown {name} {v!r}; expected one of {', '.join(map(str, options))}")
        return key
    return canon


def _optional_name(name: str, options) -> Callable[[Any], str]:
    def canon(v):
        if v is None or (isinstance(v, str) and v.lower() in ("none", "")):
            return "none"
        return _name_in(name, options)(v)
    return canon


def _hidden(v) -> str:
    """``"128,64"``, ``[128, 64]`` or ``128`` -> the canonical string ``"128,64"`` (parsed by TrainConfig)."""
    return ",".join(map(str, parse_hidden(v)))


def _init(v):
    if isinstance(v, numbers.Real) and not isinstance(v, bool):
        return _number("init (a weight scale)", v, 0.0, True)
    if v is None or (isinstance(v, str) and v.lower() in ("default", "none", "")):
        return "default"
    from ..init import INIT_NAMES

    return _name_in("init", INIT_NAMES)(v)


def _augment(v) -> str:
    """An augmentation (text or table, checked by TrainConfig) as the text ``mlplab train --augment``
    takes, a hashable choice for Optuna: ``"none"`` or ``"max_shift=1,max_rotation=10"``."""
    from ..config import TrainConfig

    table = TrainConfig.check_value("augment", v)
    return "none" if table is None else ",".join(f"{k}={x:g}" for k, x in table.items())


_FLOAT_DISTS = (LogUniform, Uniform, Categorical)
_INT_DISTS = (Int, Categorical)
_CHOICE_DISTS = (Categorical,)


#: fields of TrainConfig that are settings of the whole search (``mlplab search --dataset ...``), not parameters
_SETTINGS = ("dataset", "split", "n_train", "data_home", "seed", "dtype")
#: how a searched value is kept where Optuna needs another form than TrainConfig's (text, not a tuple;
#: "default" and "none" rather than None in a choice)
_FORMS = {"hidden": _hidden, "init": _init, "augment": _augment}


def _config_param(name: str) -> _Param:
    """The search parameter of TrainConfig's field ``name``: kind, check and help all from TrainConfig."""
    from ..config import Interval, TrainConfig

    constraints = TrainConfig.constraints()[name]
    types = {c.type for c in constraints if isinstance(c, Interval)}
    kind = "int" if types == {numbers.Integral} else "float" if types else "choice"
    if name in _FORMS:  # chosen among written forms (a weight scale is searched as weight_scale)
        kind, canon = "choice", _FORMS[name]
    elif kind == "choice" and None in constraints:  # an optional name: None is kept as "none"
        def canon(v):
            value = TrainConfig.check_value(name, v)
            return "none" if value is None else value
    else:
        def canon(v):
            return TrainConfig.check_value(name, v)
    dists = {"int": _INT_DISTS, "float": _FLOAT_DISTS, "choice": _CHOICE_DISTS}[kind]
    return _Param(kind, canon, f"{TrainConfig.field_help(name)}; {TrainConfig.allowed(name)}", dists)


def _params() -> dict[str, _Param]:
    """Every field of :class:`~mlplab.config.TrainConfig` but the search's settings, plus three ways of
    writing the network that only a search needs (``weight_scale``, ``n_layers`` with ``units``)."""
    from ..config import TrainConfig

    params = {name: _config_param(name) for name in TrainConfig.field_names() if name not in _SETTINGS}
    params.update({
        "weight_scale": _Param("float", lambda v: _number("weight_scale", v, 0.0, True),
                               "fixed standard deviation of the initial weights (> 0); instead of init",
                               _FLOAT_DISTS),
        "n_layers": _Param("int", lambda v: _integer("n_layers", v), "number of hidden layers (>= 1), with units",
                           _INT_DISTS),
        "units": _Param("int", lambda v: _integer("units", v), "width of every hidden layer (>= 1), with n_layers",
                        _INT_DISTS),
    })
    return params


class _LazyParams(Mapping):
    """``PARAMETERS`` built on first use (it imports the model and optimizer modules)."""

    _cache: dict | None = None

    def _d(self) -> dict[str, _Param]:
        if _LazyParams._cache is None:
            _LazyParams._cache = _params()
        return _LazyParams._cache

    def __getitem__(self, k):
        return self._d()[k]

    def __iter__(self):
        return iter(self._d())

    def __len__(self):
        return len(self._d())


#: the parameters a space may name, with what each accepts
PARAMETERS: Mapping[str, _Param] = _LazyParams()


# ------------------------------------------------------------------------------------ parsing

#: other names of known parameters (scikit-learn's and common ones), for "did you mean" hints
_ALIASES = {"learning_rate": "lr", "learning_rate_init": "lr", "alpha": "weight_decay", "l2": "weight_decay",
            "wd": "weight_decay", "hidden_layer_sizes": "hidden", "hidden_sizes": "hidden", "layers": "n_layers",
            "num_layers": "n_layers", "width": "units", "batch": "batch_size", "solver": "optimizer",
            "weight_init": "init", "std": "weight_scale", "normalization": "norm", "max_iter": "epochs"}

def _from_mapping(name: str, spec: Mapping) -> Distribution:
    """``{"type": "log_uniform", "low": ..., "high": ...}`` and friends -> a distribution."""
    spec = dict(spec)
    kind = str(spec.pop("type", "")).lower().replace("-", "_")
    allowed = {"log_uniform": ({"low", "high"}, set()), "loguniform": ({"low", "high"}, set()),
               "uniform": ({"low", "high"}, {"step"}), "int": ({"low", "high"}, {"step", "log"}),
               "categorical": ({"choices"}, set())}
    if kind == "fixed":
        raise ValueError(f"{name}: write a fixed value directly, e.g. {name} = <value>")
    if kind not in allowed:
        raise ValueError(f"{name}: unknown distribution type {kind or None!r}; expected one of "
                         "log_uniform, uniform, int, categorical (or a plain value to fix the parameter)")
    need, optional = allowed[kind]
    missing = need - set(spec)
    extra = set(spec) - need - optional
    if missing or extra:
        raise ValueError(f"{name}: a {kind} distribution takes {', '.join(sorted(need | optional))}"
                         + (f"; missing {', '.join(sorted(missing))}" if missing else "")
                         + (f"; unknown {', '.join(sorted(extra))}" if extra else ""))
    if kind in ("log_uniform", "loguniform"):
        return LogUniform(spec["low"], spec["high"])
    if kind == "uniform":
        return Uniform(spec["low"], spec["high"], spec.get("step"))
    if kind == "int":
        return Int(spec["low"], spec["high"], spec.get("step", 1), bool(spec.get("log", False)))
    return Categorical(spec["choices"])


def _check_bounds(name: str, p: _Param, low, high) -> None:
    for v in (low, high):
        try:
            p.canon(v)
        except ValueError as exc:
            raise ValueError(f"{name}: the range [{low:g}, {high:g}] goes outside the allowed values: {exc}") from None


def _check_dist(name: str, p: _Param, d: Distribution) -> Distribution:
    """Check a distribution against its parameter; return it with canonical bounds or choices."""
    if not isinstance(d, p.dists):
        allowed = ", ".join({LogUniform: "log_uniform", Uniform: "uniform", Int: "int",
                             Categorical: "categorical"}[t] for t in p.dists)
        raise ValueError(f"{name} takes {allowed} or a fixed value, not {type(d).__name__}")
    if isinstance(d, Categorical):
        if not d.choices:
            raise ValueError(f"{name}: categorical with no choices; give at least one")
        choices = []
        for c in d.choices:
            try:
                choices.append(p.canon(c))
            except ValueError as exc:
                raise ValueError(f"{name}: bad choice {c!r}: {exc}") from None
        dup = sorted({str(c) for c in choices if choices.count(c) > 1})
        if dup:
            raise ValueError(f"{name}: choices repeat {', '.join(dup)}")
        return Categorical(choices)
    if isinstance(d, Int):
        low, high = _integer(f"{name} low", d.low, lo=-10**12), _integer(f"{name} high", d.high, lo=-10**12)
        step = _integer(f"{name} step", d.step)
        if low > high:
            raise ValueError(f"{name}: empty range, low {low} > high {high}")
        if d.log and step != 1:
            raise ValueError(f"{name}: an int range with log = true needs step 1, got step {step}")
        _check_bounds(name, p, low, high)
        return Int(low, high, step, bool(d.log))
    # float ranges
    low = _number(f"{name} low", d.low, -math.inf, False)
    high = _number(f"{name} high", d.high, -math.inf, False)
    if low > high:
        raise ValueError(f"{name}: empty range, low {low:g} > high {high:g}")
    if low == high:
        raise ValueError(f"{name}: empty range, low == high == {low:g}; to fix the value write {name} = {low:g}")
    if isinstance(d, LogUniform) and low <= 0:
        raise ValueError(f"{name}: a log_uniform range needs low > 0, got low {low:g}")
    _check_bounds(name, p, low, high)
    if isinstance(d, Uniform) and d.step is not None:
        step = _number(f"{name} step", d.step, 0.0, True)
        n = (high - low) / step
        if abs(n - round(n)) > 1e-9 * max(1.0, abs(n)):
            raise ValueError(f"{name}: high - low ({high - low:g}) must be a multiple of step ({step:g})")
        return Uniform(low, high, step)
    return type(d)(low, high)


@dataclass(frozen=True)
class SearchSpace:
    """Searched parameters (name -> distribution) and fixed ones (name -> value), checked.

    Build it with :meth:`from_dict` (or :func:`load_space`); the constructor expects checked parts.
    """

    params: Mapping[str, Distribution]
    fixed: Mapping[str, Any]

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, space: Mapping[str, Any]) -> "SearchSpace":
        """Check a mapping of parameter names to distributions, ``{"type": ...}`` tables or fixed values."""
        if isinstance(space, SearchSpace):
            return space
        if not isinstance(space, Mapping):
            raise TypeError(f"a search space is a mapping of parameter names to distributions or values, "
                            f"got {type(space).__name__}")
        params: dict[str, Distribution] = {}
        fixed: dict[str, Any] = {}
        for raw_name, spec in space.items():
            name = str(raw_name).replace("-", "_")
            if name not in PARAMETERS:
                close = ([_ALIASES[name.lower()]] if name.lower() in _ALIASES
                         else difflib.get_close_matches(name, list(PARAMETERS), n=1))
                raise ValueError(f"unknown parameter {raw_name!r} in the search space"
                                 + (f" (did you mean {close[0]!r}?)" if close else "")
                                 + f"; known parameters: {', '.join(PARAMETERS)}")
            p = PARAMETERS[name]
            if isinstance(spec, Mapping):
                spec = _from_mapping(name, spec)
            if isinstance(spec, _DIST_TYPES):
                params[name] = _check_dist(name, p, spec)
            else:
                if isinstance(spec, (list, tuple)) and name != "hidden":
                    raise ValueError(f"{name}: a list is not a value of {name}; to search over values write "
                                     f"{name} = {{ type = \"categorical\", choices = [...] }}")
                try:
                    fixed[name] = p.canon(spec)
                except ValueError as exc:
                    raise ValueError(f"{name}: {exc}") from None
        names = set(params) | set(fixed)
        if "hidden" in names and names & {"n_layers", "units"}:
            raise ValueError("give either hidden or n_layers + units, not both")
        if ("n_layers" in names) != ("units" in names):
            raise ValueError("n_layers and units go together (hidden = units repeated n_layers times); "
                             "give both, or use hidden")
        if "init" in names and "weight_scale" in names:
            raise ValueError("give either init or weight_scale (a weight scale is a numeric init), not both")
        if not params:
            raise ValueError("the search space has no searched parameter; give at least one distribution")
        return cls(dict(sorted(params.items())), dict(sorted(fixed.items())))

    # ------------------------------------------------------------------ use
    def to_dict(self) -> dict:
        """Canonical JSON-able form (searched parameters as ``{"type": ...}`` tables, fixed as values);
        two spaces are the same search exactly when these are equal."""
        out = {k: d.to_dict() for k, d in self.params.items()}
        out.update(self.fixed)
        return dict(sorted(out.items()))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def suggest(self, trial) -> dict[str, Any]:
        """Ask an Optuna ``trial`` for every searched parameter; returns name -> value."""
        values: dict[str, Any] = {}
        for name, d in self.params.items():
            if isinstance(d, LogUniform):
                values[name] = trial.suggest_float(name, d.low, d.high, log=True)
            elif isinstance(d, Uniform):
                values[name] = trial.suggest_float(name, d.low, d.high, step=d.step)
            elif isinstance(d, Int):
                values[name] = trial.suggest_int(name, d.low, d.high, step=d.step, log=d.log)
            else:
                values[name] = trial.suggest_categorical(name, list(d.choices))
        return values

    def grid(self) -> dict[str, list]:
        """Every searched parameter's finite list of values, for a grid search (categorical choices,
        every integer of an int range, the steps of a uniform range with ``step``)."""
        grid: dict[str, list] = {}
        for name, d in self.params.items():
            if isinstance(d, Categorical):
                grid[name] = list(d.choices)
            elif isinstance(d, Int):
                grid[name] = list(range(d.low, d.high + 1, d.step))
            elif isinstance(d, Uniform) and d.step is not None:
                n = int(round((d.high - d.low) / d.step))
                grid[name] = [d.low + i * d.step for i in range(n + 1)]
            else:
                raise ValueError(f"a grid search needs a finite list of values for every parameter; {name} is a "
                                 f"continuous {d.to_dict()['type']} range: make it categorical "
                                 f"(choices = [...]) or a uniform range with a step")
        return grid

    def grid_size(self) -> int:
        return math.prod(len(v) for v in self.grid().values())

    def to_config(self, values: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> dict:
        """A training configuration (the keys of ``mlplab train --config``): ``base`` (default
        :data:`BASE_CONFIG`), then the fixed values, then ``values`` (a trial's parameters)."""
        cfg = dict(BASE_CONFIG if base is None else base)
        merged = {**self.fixed, **values}
        for name, v in merged.items():
            if name in ("n_layers", "units"):
                continue
            if name == "hidden":
                cfg["hidden"] = _hidden(v)
            elif name in ("norm", "scaler"):
                cfg[name] = None if v in (None, "none") else v
            elif name == "init":
                v = _init(v)
                cfg["init"] = None if v == "default" else v
            elif name == "weight_scale":
                cfg["init"] = float(v)
            elif v is None:
                cfg[name] = None
            elif PARAMETERS[name].kind == "int":
                cfg[name] = int(v)
            elif PARAMETERS[name].kind == "float":
                cfg[name] = float(v)
            else:
                cfg[name] = v
        if "n_layers" in merged:
            cfg["hidden"] = ",".join([str(int(merged["units"]))] * int(merged["n_layers"]))
        return cfg

    def summary(self) -> str:
        """The searched parameters in words, for reports: ``lr log-uniform in [1e-05, 0.01]; norm one
        of {none, batchnorm}``."""
        parts = []
        for name, d in self.params.items():
            if isinstance(d, Categorical):
                parts.append(f"{name} one of {{{', '.join(str(v) for v in d.choices)}}}")
            else:
                word = {LogUniform: "log-uniform", Uniform: "uniform", Int: "integer"}[type(d)]
                step = f" in steps of {d.step:g}" if getattr(d, "step", None) not in (None, 1) else ""
                parts.append(f"{name} {word} in [{d.low:g}, {d.high:g}]{step}")
        return "; ".join(parts)

    def describe(self) -> list[str]:
        """One line per parameter, for reports."""
        lines = []
        for name, d in self.params.items():
            dd = d.to_dict()
            kind = dd.pop("type")
            lines.append(f"{name}: {kind} " + ", ".join(f"{k}={v}" for k, v in dd.items()))
        lines += [f"{name} = {v!r} (fixed)" for name, v in self.fixed.items()]
        return lines


def load_space(space: "str | os.PathLike | Mapping[str, Any] | SearchSpace") -> SearchSpace:
    """A :class:`SearchSpace` from a TOML or JSON file, a mapping, or a space (returned as is)."""
    if isinstance(space, SearchSpace):
        return space
    if isinstance(space, Mapping):
        return SearchSpace.from_dict(space)
    path = Path(space)
    if not path.is_file():
        raise FileNotFoundError(f"search space file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot parse search space file {path}: {exc}") from exc
    try:
        return SearchSpace.from_dict(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
