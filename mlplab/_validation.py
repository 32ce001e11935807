"""Input checks shared by every public entry point; messages say what was wrong and what was expected."""
from __future__ import annotations

import numbers
import sys

import numpy as np

FLOAT_DTYPES = {"float32": np.float32, "float64": np.float64}


def resolve_dtype(dtype) -> np.dtype:
    """Accept ``"float32"``, ``"float64"``, ``np.float32`` or ``np.float64``."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from exc
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt


def all_finite(arr: np.ndarray) -> bool:
    """Whether every value of ``arr`` is finite, read from the sum first.

    NaN or ±inf anywhere makes the sum NaN or ±inf, so a finite sum means finite data; only a sum that
    is not finite (bad data, or finite data whose sum overflows) needs the elementwise test. That is
    one pass with nothing allocated, where ``np.isfinite(arr).all()`` writes a boolean array the size
    of ``arr``: 0.014 s against 0.23 s on MNIST's 47 million pixels.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.add.reduce(arr, axis=None)):
            return True
    return bool(np.isfinite(arr).all())


def is_sparse(X) -> bool:
    """Whether ``X`` is a SciPy sparse matrix or array (without importing SciPy: a sparse ``X`` means
    it is imported already)."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(X)


def _not_finite_message(name: str, arr: np.ndarray, source) -> str:
    """What is wrong with a float array that is not all finite: NaN/inf in the data, or finite values
    of ``source`` (before conversion to ``arr.dtype``) too large for that dtype."""
    n_nan = int(np.isnan(arr).sum())
    n_inf = int(np.isinf(arr).sum())
    if (n_nan == 0 and isinstance(source, np.ndarray) and source.dtype != arr.dtype
            and np.issubdtype(source.dtype, np.floating) and all_finite(source)):
        big = float(np.max(np.abs(source)))
        return (f"{name} has {n_inf} values that overflow {arr.dtype} (largest magnitude {big:.3g}; {arr.dtype} "
                f"holds up to {float(np.finfo(arr.dtype).max):.3g}): rescale the data (e.g. scaler='standard') "
                "or use dtype='float64'")
    return (f"{name} contains {n_nan} NaN and {n_inf} infinite values; "
            "expected only finite numbers (impute or drop them first)")


def check_array(X, name: str = "X", dtype=None, ndim: int | None = 2, n_features: int | None = None,
                allow_empty: bool = False, accept_sparse: bool = False):
    """Return ``X`` as a numeric ndarray, raising on empty, NaN/inf, wrong rank or feature count.

    A SciPy sparse matrix raises ``TypeError`` ("convert with .toarray()") unless ``accept_sparse``;
    then it is returned as a CSR matrix of ``dtype`` whose stored values were checked the same way.
    """
    if X is None:
        raise ValueError(f"{name} is None; expected an array of shape (n_samples, n_features)")
    if is_sparse(X):
        if not accept_sparse:
            raise TypeError(f"{name} is a sparse matrix ({type(X).__name__}): sparse matrices are not supported, "
                            f"convert with {name}.toarray()")
        return _check_sparse(X, name, dtype, ndim, n_features, allow_empty)
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and other non-arrays
        raise ValueError(f"{name} could not be converted to an array: {exc}") from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must be numeric; got an array of dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real-valued; got complex dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        expected = "(n_samples, n_features)" if ndim == 2 else f"{ndim} dimensions"
        raise ValueError(f"{name} must have shape {expected}; got an array with shape {arr.shape}")
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); expected at least one sample")
    source = arr
    if dtype is not None:
        with np.errstate(over="ignore"):
            arr = arr.astype(dtype, copy=False)
    if np.issubdtype(arr.dtype, np.floating) and not all_finite(arr):
        raise ValueError(_not_finite_message(name, arr, source))
    if n_features is not None and arr.ndim >= 2 and arr.shape[-1] != n_features:
        raise ValueError(f"{name} has {arr.shape[-1]} features, but the model expects {n_features}")
    return arr


def _check_sparse(X, name, dtype, ndim, n_features, allow_empty):
    if ndim is not None and ndim != 2:
        raise ValueError(f"{name} is a sparse matrix; expected a {ndim}-dimensional array")
    X = X.tocsr()
    if not allow_empty and (X.shape[0] == 0 or X.shape[1] == 0):
        raise ValueError(f"{name} is empty (shape {X.shape}); expected at least one sample")
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool) or np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real-valued numbers; got a sparse matrix of dtype {X.dtype}")
    source = X.data
    if dtype is not None and X.dtype != dtype:
        with np.errstate(over="ignore"):
            X = X.astype(dtype)
    if np.issubdtype(X.dtype, np.floating) and not all_finite(X.data):
        raise ValueError(_not_finite_message(name, X.data, source))
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features, but the model expects {n_features}")
    return X


def check_labels(y, n_samples: int | None = None, n_classes: int | None = None, name: str = "y") -> np.ndarray:
    """Integer class labels ``(N,)`` in ``[0, n_classes)`` or one-hot/probability rows ``(N, C)``."""
    if y is None:
        raise ValueError(f"{name} is None; expected class labels")
    y = np.asarray(y)
    if y.size == 0:
        raise ValueError(f"{name} is empty; expected at least one label")
    if n_samples is not None and y.shape[0] != n_samples:
        raise ValueError(f"X and {name} have different lengths: {n_samples} samples but {y.shape[0]} labels")
    if y.ndim == 1:
        if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating) or y.dtype == bool):
            raise ValueError(f"{name} must hold integer class indices 0..C-1; got dtype {y.dtype} "
                             "(map string labels to integers first, or use mlplab.estimator)")
        if np.issubdtype(y.dtype, np.floating) and (not np.isfinite(y).all() or not np.all(np.mod(y, 1) == 0)):
            raise ValueError(f"{name} must hold integer class indices; got non-integer or non-finite values")
        y = y.astype(np.int64, copy=False)
        if y.min() < 0 or (n_classes is not None and y.max() >= n_classes):
            bad = y[(y < 0) | ((y >= n_classes) if n_classes is not None else False)]
            raise ValueError(f"{name} has labels outside the known classes 0..{(n_classes or 0) - 1}: "
                             f"{sorted(set(bad.tolist()))[:10]}")
        return y
    if y.ndim == 2:
        if n_classes is not None and y.shape[1] != n_classes:
            raise ValueError(f"{name} has {y.shape[1]} one-hot columns, but the model has {n_classes} classes")
        if not np.isfinite(y).all():
            raise ValueError(f"{name} contains NaN or infinite values")
        return y
    raise ValueError(f"{name} must be 1-D integer labels or 2-D one-hot rows; got shape {y.shape}")


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_layer_sizes(hidden, name: str = "hidden") -> list[int]:
    """Hidden layer sizes: a list (or tuple, array) of integers >= 1; never rounded or coerced."""
    if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__"):
        raise TypeError(f"{name} must be a list of layer sizes such as [100, 50] (or [] for none), got {hidden!r}")
    sizes = list(hidden)
    bad = [h for h in sizes if isinstance(h, bool) or not isinstance(h, numbers.Integral)]
    if bad:  # a ValueError, as TrainConfig gives for the same mistake
        raise ValueError(f"hidden layer sizes must be whole numbers >= 1, got {bad[0]!r} in {sizes!r} "
                         "(sizes are never rounded)")
    if any(h < 1 for h in sizes):
        raise ValueError(f"hidden layer sizes must be >= 1, got {sizes}")
    return [int(h) for h in sizes]


def check_split_size(value, name: str, n: int | None = None) -> float | int:
    """A split size: a fraction strictly between 0 and 1 (a float) or a number of samples >= 1 (an
    int, less than ``n`` when ``n`` is given). ``1.0`` is a fraction, so it is refused rather than
    read as one sample; ``True`` and other non-numbers are refused too."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a fraction in (0, 1) or a number of samples, got {value!r}")
    if isinstance(value, numbers.Integral):
        if value < 1 or (n is not None and value >= n):
            upto = f" and less than the {n} samples it splits" if n is not None else ""
            raise ValueError(f"{name}={value} is a number of samples: it must be >= 1{upto}")
        return int(value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name}={value!r} is a fraction: it must lie strictly between 0 and 1 "
                         f"(pass an int for a number of samples)")
    return float(value)


def check_choice(value: str, choices, name: str) -> str:
    if not isinstance(value, str) or value.lower() not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {', '.join(sorted(choices))}")
    return value.lower()


def as_generator(seed) -> np.random.Generator:
    """A Generator from an int seed, a SeedSequence, an existing Generator, or None (fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)
