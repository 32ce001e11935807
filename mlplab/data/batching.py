"""Mini-batches and seeded splits."""
from __future__ import annotations

from typing import Iterator

import numpy as np

from .._validation import as_generator, check_positive_int

__all__ = ["minibatches", "batch_indices", "stratified_split"]


def batch_indices(n: int, batch_size: int, rng=None, shuffle: bool = True) -> Iterator[np.ndarray | slice]:
    """Index sets of one epoch over ``n`` samples: slices in order, or chunks of a permutation drawn
    from ``rng`` when ``shuffle``. The last one may be shorter than ``batch_size``."""
    batch_size = check_positive_int(batch_size, "batch_size")
    if n == 0:
        raise ValueError("cannot make mini-batches from empty data")
    order = as_generator(rng).permutation(n) if shuffle else None
    for start in range(0, n, batch_size):
        yield slice(start, start + batch_size) if order is None else order[start:start + batch_size]


def take(a: np.ndarray, idx: np.ndarray | slice, out: np.ndarray | None = None) -> np.ndarray:
    """Rows ``idx`` of ``a``: a view for a slice, one gathered contiguous copy for an index array.

    With ``out`` (an array of the result's shape and dtype) the rows are gathered into it instead,
    for an index array and a slice alike; the indices must then be valid (as ``batch_indices``
    makes them): they are not checked again, which spares ``np.take`` a temporary copy.
    """
    if not isinstance(a, np.ndarray):  # scipy.sparse CSR: a row subset, still sparse
        return a[idx]
    if out is None:
        return a[idx] if isinstance(idx, slice) else np.take(a, idx, axis=0)
    if isinstance(idx, slice):
        out[...] = a[idx]
        return out
    return np.take(a, idx, axis=0, out=out, mode="clip")  # mode="raise" would buffer the output


def minibatches(X: np.ndarray, y: np.ndarray | None = None, batch_size: int = 32, rng=None,
                shuffle: bool = True) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Yield ``(X_batch, y_batch)`` over one epoch.

    The order is a permutation drawn from ``rng`` (a seed or ``Generator``) when ``shuffle``;
    every sample appears exactly once and the last batch may be shorter than ``batch_size``.
    Shapes: ``X (N, ...)``, ``y (N, ...)`` or None; batches ``(B, ...)`` with ``B ≤ batch_size``.
    """
    n = X.shape[0]
    if y is not None and y.shape[0] != n:
        raise ValueError(f"X and y have different lengths: {n} and {y.shape[0]}")
    for idx in batch_indices(n, batch_size, rng, shuffle):
        yield take(X, idx), (None if y is None else take(y, idx))


def stratified_split(y: np.ndarray, test_size: float | int, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train_idx, test_idx)`` of a seeded split that keeps class proportions.

    ``test_size`` is a fraction in (0, 1) or a number of samples. Each class gives
    ``round(test_size · n_class)`` samples to the test side (at least one if it has two or more),
    and the total is then matched exactly to the requested size.
    """
    y = np.asarray(y)
    n = y.shape[0]
    n_test = int(round(test_size * n)) if isinstance(test_size, float) and 0 < test_size < 1 else int(test_size)
    if not 0 < n_test < n:
        raise ValueError(f"test_size must leave both sides non-empty; got {test_size} for {n} samples")
    rng = as_generator(rng)
    classes, y_idx = np.unique(y, return_inverse=True)
    test = []
    for c in range(len(classes)):
        members = rng.permutation(np.flatnonzero(y_idx == c))
        k = int(np.floor(n_test * len(members) / n))
        test.append(members[:k])
    test_idx = np.concatenate(test)
    if test_idx.size < n_test:  # hand out the rounding remainder at random among the rest
        rest = np.setdiff1d(np.arange(n), test_idx)
        test_idx = np.concatenate([test_idx, rng.choice(rest, n_test - test_idx.size, replace=False)])
    test_idx = np.sort(test_idx)
    train_idx = np.setdiff1d(np.arange(n), test_idx)
    return rng.permutation(train_idx), rng.permutation(test_idx)
