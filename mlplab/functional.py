"""Numerically stable elementwise and row-wise functions on arrays.

All functions accept any floating dtype and return the same dtype; rows are the last axis.
"""
from __future__ import annotations

import numpy as np

__all__ = ["sigmoid", "softmax", "log_softmax", "one_hot", "logsumexp"]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function ``σ(x) = 1 / (1 + e^{-x})``, stable for any finite input.

    Only ``z = e^{-|x|} ∈ (0, 1]`` is ever computed, so nothing overflows (inputs of ±1e4 give
    exactly 1 and 0 without a warning, in float32 and float64), and both tails keep full relative
    precision::

        σ(x) = 1 / (1 + z)        for x ≥ 0
        σ(x) = z / (1 + z)        for x < 0      (= 1 - σ(|x|), without the cancellation)

    Shapes: ``x`` any shape; the result has the shape and dtype of ``x``.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    z = np.abs(x)
    np.negative(z, out=z)
    np.exp(z, out=z)
    s = 1.0 / (1.0 + z)
    np.multiply(z, s, out=z)
    return np.where(x < 0, z, s)


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
