"""Two-dimensional toy datasets for decision-boundary pictures: two moons and a spiral.

Both return ``X (N, 2)`` and integer labels ``y (N,)``, drawn from ``numpy.random.default_rng(seed)``,
so a seed gives the same points on every machine. Draw a model's view of them with
:func:`mlplab.plots.decision_boundary`.
"""
from __future__ import annotations

import numpy as np

from .._validation import as_generator, check_positive_int, resolve_dtype

__all__ = ["make_moons", "make_spiral"]


def _check_noise(noise: float) -> float:
    noise = float(noise)
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0 (the standard deviation of the Gaussian jitter), "
                         f"got {noise}")
    return noise


def make_moons(n_samples: int = 200, noise: float = 0.1, seed=None, dtype="float32") -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (as scikit-learn's ``make_moons``).

    Class 0: ``(cos t, sin t)``, class 1: ``(1 - cos t, 0.5 - sin t)``, ``t`` evenly spaced in
    ``[0, π]``; ``n_samples // 2`` points in class 0 and the rest in class 1, each moved by Gaussian
    noise of standard deviation ``noise``, then shuffled. Not linearly separable: a network needs a
    hidden layer to split them.
    """
    n = check_positive_int(n_samples, "n_samples")
    if n < 2:
        raise ValueError(f"n_samples must be >= 2 (one point per moon), got {n}")
    noise = _check_noise(noise)
    rng = as_generator(seed)
    n0 = n // 2
    t0, t1 = np.linspace(0, np.pi, n0), np.linspace(0, np.pi, n - n0)
    X = np.concatenate([np.column_stack([np.cos(t0), np.sin(t0)]),
                        np.column_stack([1 - np.cos(t1), 0.5 - np.sin(t1)])])
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n - n0, np.int64)])
    X += rng.normal(0.0, noise, size=X.shape)
    order = rng.permutation(n)
    return X[order].astype(resolve_dtype(dtype)), y[order]


def make_spiral(n_samples: int = 300, n_classes: int = 3, noise: float = 0.2, turns: float = 1.0, seed=None,
                dtype="float32") -> tuple[np.ndarray, np.ndarray]:
    """``n_classes`` interleaved spiral arms (the CS231n spiral), ``n_samples`` points in all.

    Arm ``k`` has radius ``r`` evenly spaced in ``[0, 1]`` and angle
    ``θ = 2π·turns·r + 2πk / n_classes + noise·ε`` (``ε`` standard normal), the point ``(r sin θ,
    r cos θ)``; classes get ``n_samples // n_classes`` points (the first ones one more if it does not
    divide). Shuffled. A linear model gets about ``1 / n_classes`` of it right.
    """
    n = check_positive_int(n_samples, "n_samples")
    k = check_positive_int(n_classes, "n_classes")
    if k < 2:
        raise ValueError(f"n_classes must be >= 2, got {k}")
    if n < k:
        raise ValueError(f"n_samples ({n}) must be at least n_classes ({k})")
    noise = _check_noise(noise)
    turns = float(turns)
    if not np.isfinite(turns) or turns <= 0:
        raise ValueError(f"turns must be a positive number, got {turns}")
    rng = as_generator(seed)
    sizes = [n // k + (1 if c < n % k else 0) for c in range(k)]
    parts, labels = [], []
    for c, m in enumerate(sizes):
        r = np.linspace(0.0, 1.0, m)
        theta = 2 * np.pi * turns * r + 2 * np.pi * c / k + rng.normal(0.0, noise, m)
        parts.append(np.column_stack([r * np.sin(theta), r * np.cos(theta)]))
        labels.append(np.full(m, c, np.int64))
    X, y = np.concatenate(parts), np.concatenate(labels)
    order = rng.permutation(n)
    return X[order].astype(resolve_dtype(dtype)), y[order]
