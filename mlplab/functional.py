"""Numerically stable elementwise and row-wise functions on arrays.

All functions accept any floating dtype and return the same dtype; rows are the last axis.
"""
from __future__ import annotations

import numpy as np

__all__ = ["sigmoid", "softmax", "log_softmax", "one_hot", "logsumexp"]


def sigmoid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Logistic function ``σ(x) = 1 / (1 + e^{-x})``, stable for any finite input.

    Computed as written, in four passes (negate, exp, add 1, reciprocal), into ``out`` if given
    (a float array of the shape of ``x``; the layers pass a reused buffer). There is no cancellation
    anywhere, so both tails keep full relative precision: for ``x ≥ 0``, ``e^{-x} ≤ 1``; for ``x < 0``,
    ``1 + e^{-x} > 2`` is exact to rounding and so is its reciprocal. Where ``e^{-x}`` overflows
    (``x < -88.7`` in float32, ``x < -709`` in float64) it becomes ``+inf`` and ``σ = 1 / inf = 0``,
    the true value rounded (it is below the smallest normal number); that overflow is expected and
    silenced, so inputs of ±1e4 give exactly 0 and 1 without a warning, in float32 and float64.

    Shapes: ``x`` any shape; the result has the shape and dtype of ``x``.
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    y = np.negative(x, out=out)
    with np.errstate(over="ignore"):  # e^{-x} = inf is the intended result for very negative x
        np.exp(y, out=y)
    np.add(y, 1.0, out=y)
    return np.reciprocal(y, out=y)


def logsumexp(x: np.ndarray, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    """``log Σ_j exp(x_j)`` along ``axis``, computed as ``m + log Σ exp(x_j - m)`` with ``m = max x``."""
    x = np.asarray(x)
    m = np.max(x, axis=axis, keepdims=True)
    s = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return s if keepdims else np.squeeze(s, axis=axis)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``softmax(x)_j = exp(x_j - m) / Σ_k exp(x_k - m)`` with ``m = max_k x_k`` (the shift cancels).

    Shapes: ``x`` is ``(..., C)``; the result has the same shape, rows summing to 1.
    """
    x = np.asarray(x)
    e = x - np.max(x, axis=axis, keepdims=True)
    np.exp(e, out=e)
    e /= np.sum(e, axis=axis, keepdims=True)
    return e


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``log softmax(x)_j = (x_j - m) - log Σ_k exp(x_k - m)``, finite wherever ``x`` is finite."""
    x = np.asarray(x)
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def one_hot(y: np.ndarray, n_classes: int | None = None, dtype: np.dtype = np.float32) -> np.ndarray:
    """One-hot rows for integer labels.

    Shapes: ``y`` is ``(N,)`` of integers in ``[0, n_classes)``; the result is ``(N, n_classes)``.
    Raises ``ValueError`` for labels that are negative, not integers or ``>= n_classes``.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"one_hot expects a 1-D array of integer labels, got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.mod(y, 1) == 0):
            raise ValueError("one_hot expects integer class labels, got non-integer values")
        y = y.astype(np.int64)
    if n_classes is None:
        n_classes = int(y.max()) + 1 if y.size else 0
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(
            f"labels must lie in [0, {n_classes}); got values from {y.min()} to {y.max()}"
        )
    out = np.zeros((y.shape[0], n_classes), dtype=dtype)
    out[np.arange(y.shape[0]), y] = 1
    return out
