"""Weight initialisation.

Each rule draws a ``(out, in)`` weight matrix from a ``numpy.random.Generator``; biases start at zero.

==================  =============================================  ===========================
name                distribution                                   suits
==================  =============================================  ===========================
a number ``s``      ``N(0, s²)`` (the labs' "weight scale")        experiments on scale
``"he"``            ``N(0, 2 / fan_in)``                           ReLU, LeakyReLU
``"xavier"``        ``N(0, 2 / (fan_in + fan_out))`` (Glorot)      sigmoid, tanh
``"xavier_uniform"`` ``U(-a, a)``, ``a = √(6 / (fan_in + fan_out))``  sigmoid, tanh (scikit-learn's choice)
==================  =============================================  ===========================
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["INIT_NAMES", "init_std", "init_weight", "default_init"]

INIT_NAMES = ("he", "xavier", "xavier_uniform")


def init_std(method, fan_in: int, fan_out: int) -> float:
    """Standard deviation of the normal rules (``he``, ``xavier``, or a fixed number)."""
    if isinstance(method, numbers.Real) and not isinstance(method, bool):
        if not np.isfinite(method) or method < 0:
            raise ValueError(f"weight scale must be a finite number >= 0, got {method}")
        return float(method)
    if method == "he":
        return float(np.sqrt(2.0 / fan_in))
    if method == "xavier":
        return float(np.sqrt(2.0 / (fan_in + fan_out)))
    raise ValueError(f"unknown init {method!r}; expected a number (weight scale) or one of {', '.join(INIT_NAMES)}")


def init_weight(method, fan_in: int, fan_out: int, rng: np.random.Generator,
                dtype=np.float32) -> np.ndarray:
    """A ``(fan_out, fan_in)`` weight matrix drawn by ``method`` (see the module table)."""
    if method == "xavier_uniform":
        a = np.sqrt(6.0 / (fan_in + fan_out))
        w = rng.uniform(-a, a, size=(fan_out, fan_in))
    else:
        w = rng.standard_normal((fan_out, fan_in)) * init_std(method, fan_in, fan_out)
    return w.astype(dtype)


def default_init(activation: str) -> str:
    """He for the rectifiers, Xavier for the saturating activations."""
    return "he" if activation in ("relu", "leaky_relu") else "xavier"
