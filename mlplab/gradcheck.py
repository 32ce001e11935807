"""Numerical gradient checks by central differences in float64.

For a layer or model ``f`` and a fixed random projection ``R`` of its output, the scalar
``φ(θ) = Σ R ⊙ f(x; θ)`` has the analytic gradient that ``backward(R)`` computes. Each entry is
compared with ``(φ(θ + h) - φ(θ - h)) / 2h``; the relative error is
``|a - n| / max(|a| + |n|, 1e-8)``, and the report gives its maximum over every input and
parameter entry. The floor of 1e-8 keeps gradients that are zero in exact arithmetic (such as the
bias of a Dense layer followed by batch normalization, ~1e-17 in floating point) from turning
rounding noise into a large "relative" error.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .layers import Dropout, Layer
from .losses import Loss
from .model import Sequential

__all__ = ["GradCheckResult", "numerical_gradient", "relative_error", "gradcheck", "gradcheck_loss"]


@dataclass
class GradCheckResult:
    """Maximum relative error per checked array (``"input"`` and each parameter name)."""

    errors: dict[str, float] = field(default_factory=dict)

    @property
    def max_error(self) -> float:
        return max(self.errors.values()) if self.errors else 0.0

    def passed(self, tol: float = 1e-6) -> bool:
        return self.max_error < tol

    def __str__(self) -> str:
        rows = ", ".join(f"{k}: {v:.2e}" for k, v in self.errors.items())
        return f"GradCheckResult(max {self.max_error:.2e}; {rows})"


def relative_error(a: np.ndarray, n: np.ndarray, tiny: float = 1e-8) -> float:
    """``max |a - n| / max(|a| + |n|, tiny)`` over all entries."""
    a, n = np.asarray(a, np.float64), np.asarray(n, np.float64)
    return float(np.max(np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), tiny))) if a.size else 0.0


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central differences of the scalar ``f()`` with respect to every entry of ``x`` (changed in place
    and restored)."""
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        fp = f()
        x[i] = old - h
        fm = f()
        x[i] = old
        grad[i] = (fp - fm) / (2 * h)
    return grad


def _hold_still(obj, on: bool) -> None:
    """During a check every layer keeps its cache in evaluation mode too (``keep_cache``), so the
    evaluation-mode backward can be checked, and Dropout keeps one mask (``reuse_mask``), so the
    function stays fixed."""
    for layer in (obj.layers if isinstance(obj, Sequential) else [obj]):
        layer.keep_cache = on
        if isinstance(layer, Dropout):
            layer.reuse_mask = on


def gradcheck(obj: Layer | Sequential, x: np.ndarray, training: bool = True, seed: int = 0,
              h: float = 1e-5, loss: Loss | None = None, y: np.ndarray | None = None) -> GradCheckResult:
    """Check ``backward`` of a layer or model against central differences, in float64.

    ``obj`` must hold float64 parameters (``mlp(..., dtype="float64")`` or ``layer.astype("float64")``).
    With ``loss`` and ``y`` the scalar is ``loss(obj(x), y)``; otherwise ``Σ R ⊙ obj(x)`` for a
    random ``R``. Dropout layers keep one fixed mask during the check. Works on either tier
    (``mlp(..., tier="reference")`` checks the reference formulas).
    """
    x = np.array(x, dtype=np.float64)
    params = obj.parameters()
    if any(p.data.dtype != np.float64 for p in params):
        raise ValueError("gradcheck needs float64 parameters; convert with .astype('float64')")
    _hold_still(obj, True)
    try:
        out = obj.forward(x, training)
        R = np.random.default_rng(seed).standard_normal(out.shape)

        def phi() -> float:
            s = obj.forward(x, training)
            return float(loss.forward(s, y)) if loss is not None else float(np.sum(R * s))

        phi()
        dy = loss.backward() if loss is not None else R
        dx = obj.backward(dy)
        analytic = {"input": dx.copy()}
        for i, p in enumerate(params):
            analytic[f"{i}:{p.name}"] = p.grad.copy()
        result = GradCheckResult()
        result.errors["input"] = relative_error(analytic["input"], numerical_gradient(phi, x, h))
        for i, p in enumerate(params):
            result.errors[f"{i}:{p.name}"] = relative_error(analytic[f"{i}:{p.name}"],
                                                            numerical_gradient(phi, p.data, h))
        return result
    finally:
        _hold_still(obj, False)


def gradcheck_loss(loss: Loss, scores: np.ndarray, y: np.ndarray, h: float = 1e-5) -> GradCheckResult:
    """Check ``loss.backward()`` against central differences of ``loss.forward(scores, y)``."""
    scores = np.array(scores, dtype=np.float64)
    loss.forward(scores, y)
    analytic = loss.backward()
    numeric = numerical_gradient(lambda: loss.forward(scores, y), scores, h)
    return GradCheckResult({"scores": relative_error(analytic, numeric)})
