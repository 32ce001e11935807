"""Losses: ``forward(scores, y) -> float`` and ``backward() -> dscores``.

``reduction="mean"`` divides the batch total by the batch size ``N`` (the gradient too);
``reduction="sum"`` keeps the total, as labs that sum the batch gradient do.
"""
from __future__ import annotations

import numpy as np

from . import functional as F
from ._validation import check_choice

__all__ = ["Loss", "SoftmaxCrossEntropy", "MeanSquaredError", "LOSSES"]


class Loss:
    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = check_choice(reduction, {"mean", "sum"}, "reduction")

    def _reduce(self, total: float, n: int) -> float:
        return total / n if self.reduction == "mean" else total

    def forward(self, scores: np.ndarray, y: np.ndarray) -> float:
        raise NotImplementedError

    def backward(self) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, scores, y) -> float:
        return self.forward(scores, y)

    def config(self) -> dict:
        return {"reduction": self.reduction}


class SoftmaxCrossEntropy(Loss):
    """Softmax followed by cross-entropy, fused.

    With ``p = softmax(s)`` per row and targets ``t`` (one-hot or probability rows; integer
    labels ``c`` stand for the one-hot row ``e_c``)::

        L = Σ_n -Σ_j t_nj log p_nj        (÷ N for reduction="mean")
        ∂L/∂s = p - t                     (÷ N for reduction="mean")

    ``log p`` is computed as ``log_softmax`` so the loss stays finite for any finite scores.
    Shapes: ``scores (N, C)``; ``y (N,)`` integers in ``[0, C)`` or ``(N, C)`` rows.
    """

    def forward(self, scores, y):
        scores = np.asarray(scores)
        if scores.ndim != 2:
            raise ValueError(f"scores must have shape (N, C), got {scores.shape}")
        y = np.asarray(y)
        n, c = scores.shape
        if y.shape[0] != n:
            raise ValueError(f"scores and labels have different lengths: {n} and {y.shape[0]}")
        logp = F.log_softmax(scores)
        if y.ndim == 1:
            if not np.issubdtype(y.dtype, np.integer):
                raise ValueError(f"integer class labels expected, got dtype {y.dtype}")
            if n and (y.min() < 0 or y.max() >= c):
                raise ValueError(f"labels must lie in [0, {c}) for {c} output scores; got {y.min()}..{y.max()}")
            total = -float(np.sum(logp[np.arange(n), y], dtype=np.float64))
        elif y.shape == scores.shape:
            total = -float(np.sum(y * logp, dtype=np.float64))
        else:
            raise ValueError(f"labels must be (N,) integers or (N, {c}) rows, got shape {y.shape}")
        self._p = np.exp(logp, out=logp)
        self._y = y
        return self._reduce(total, n)

    def backward(self):
        grad = self._p.copy()
        n = grad.shape[0]
        if self._y.ndim == 1:
            grad[np.arange(n), self._y] -= 1
        else:
            grad -= self._y
        if self.reduction == "mean":
            grad /= n
        return grad


class MeanSquaredError(Loss):
    """Squared error ``L = Σ_n Σ_j (s_nj - y_nj)²``, divided by ``N·C`` for ``reduction="mean"``
    (PyTorch's ``MSELoss``); ``∂L/∂s = 2 (s - y)`` with the same divisor.
    Shapes: ``scores (N, C)`` and ``y (N, C)``, or both ``(N,)``."""

    def forward(self, scores, y):
        scores = np.asarray(scores)
        y = np.asarray(y, dtype=scores.dtype)
        if y.shape != scores.shape:
            if y.ndim == 1 and scores.ndim == 2 and scores.shape[1] == 1 and y.shape[0] == scores.shape[0]:
                y = y[:, None]
            else:
                raise ValueError(f"targets must have the shape of the scores {scores.shape}, got {y.shape}")
        self._diff = scores - y
        self._div = scores.size if self.reduction == "mean" else 1
        return float(np.sum(self._diff * self._diff, dtype=np.float64)) / self._div

    def backward(self):
        return self._diff * (2.0 / self._div)


LOSSES = {"cross_entropy": SoftmaxCrossEntropy, "mse": MeanSquaredError}
