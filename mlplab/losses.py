"""Losses, the reference tier: ``forward(scores, y) -> float`` and ``backward() -> dscores``, each the
formula in its docstring (the fast tier's SoftmaxCrossEntropy is in :mod:`mlplab.fast`; the Trainer
runs a loss in its model's tier).

``forward`` keeps in ``self.cache`` what ``backward`` needs; ``backward`` uses the last ``forward``.

``reduction="mean"`` divides the batch total by the batch size ``N`` (the gradient too);
``reduction="sum"`` keeps the total, as labs that sum the batch gradient do.

Every loss takes optional per-sample weights ``w (N,)``: the total becomes ``Σ_n w_n L_n`` and
``"mean"`` divides by ``Σ_n w_n`` instead of ``N``.
"""
from __future__ import annotations

import numpy as np

from . import functional as F
from ._validation import check_choice

__all__ = ["Loss", "SoftmaxCrossEntropy", "BinaryCrossEntropy", "MeanSquaredError", "PoissonDeviance", "LOSSES"]


class Loss:
    """Base class: ``reduction``, per-sample weights, and ``cache`` (what ``forward`` kept for ``backward``)."""

    #: which tier the class belongs to: "reference" here, "fast" in :mod:`mlplab.fast`
    tier = "reference"
    cache = None

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = check_choice(reduction, {"mean", "sum"}, "reduction")

    def _weights(self, sample_weight, n: int, dtype) -> None:
        """Store per-sample weights (or None) and the divisor of the "mean" reduction."""
        if sample_weight is None:
            self._w, total = None, n
        else:
            w = np.asarray(sample_weight, dtype=dtype)
            if w.shape != (n,):
                raise ValueError(f"sample_weight must have shape ({n},), got {w.shape}")
            if not np.isfinite(w).all() or (w < 0).any():
                raise ValueError("sample_weight must be finite and non-negative")
            self._w, total = w, float(w.sum())
        self._div = (total if total > 0 else 1.0) if self.reduction == "mean" else 1.0

    def _weighted_total(self, per_sample: np.ndarray) -> float:
        if self._w is not None:
            per_sample = per_sample * self._w
        return float(np.add.reduce(per_sample, axis=None, dtype=np.float64)) / self._div

    def _scale_grad(self, grad: np.ndarray) -> np.ndarray:
        if self._w is not None:
            grad *= self._w.reshape(-1, *([1] * (grad.ndim - 1)))
        if self._div != 1.0:
            grad /= grad.dtype.type(self._div)
        return grad

    def forward(self, scores: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        raise NotImplementedError

    def cached(self):
        """``self.cache``, or a RuntimeError saying that ``backward`` needs a ``forward`` first."""
        if self.cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward needs a forward(scores, y) first")
        return self.cache

    def backward(self) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def _targets_like(scores, y) -> tuple[np.ndarray, np.ndarray]:
        """``scores`` and real-valued targets ``y`` as arrays of one shape (``(N,)`` targets stand for the
        ``(N, 1)`` scores of a single output), or a ValueError saying what shape was expected."""
        scores = np.asarray(scores)
        y = np.asarray(y, dtype=scores.dtype)
        if y.shape != scores.shape:
            if y.ndim == 1 and scores.ndim == 2 and scores.shape[1] == 1 and y.shape[0] == scores.shape[0]:
                y = y[:, None]
            else:
                raise ValueError(f"targets must have the shape of the scores {scores.shape}, got {y.shape}")
        return scores, y

    def __call__(self, scores, y, sample_weight=None) -> float:
        return self.forward(scores, y, sample_weight)

    def config(self) -> dict:
        return {"reduction": self.reduction}


class SoftmaxCrossEntropy(Loss):
    """Softmax followed by cross-entropy, fused.

    With ``p = softmax(s)`` per row and targets ``t`` (one-hot or probability rows; integer
    labels ``c`` stand for the one-hot row ``e_c``)::

        L = Σ_n -Σ_j t_nj log p_nj        (÷ N for reduction="mean")
        ∂L/∂s = p - t                     (÷ N for reduction="mean")

    ``log p`` is computed as a log-softmax (:func:`mlplab.functional.log_softmax`), so the loss stays
    finite for any finite scores. Shapes: ``scores (N, C)``; ``y (N,)`` integers in ``[0, C)`` or
    ``(N, C)`` rows.

    ``label_smoothing=ε`` replaces the targets by ``t' = (1 - ε) t + ε / C`` (Szegedy et al. 2016), as
    ``torch.nn.CrossEntropyLoss(label_smoothing=ε)``; the gradient is then ``p - t'``.
    """

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
                or not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must be a number in [0, 1), got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)

    def config(self) -> dict:
        return {**super().config(), **({"label_smoothing": self.label_smoothing} if self.label_smoothing else {})}

    def forward(self, scores, y, sample_weight=None):
        scores, y = self.check_targets(scores, y)
        t = F.one_hot(y, scores.shape[1], dtype=scores.dtype) if y.ndim == 1 else y
        log_p = F.log_softmax(scores)
        per_sample = -np.sum(t * log_p, axis=1)
        self._weights(sample_weight, scores.shape[0], scores.dtype)
        self.cache = (np.exp(log_p), t)
        return self._weighted_total(per_sample)

    def backward(self):
        p, t = self.cached()
        return self._scale_grad(p - t)

    def check_targets(self, scores, y) -> tuple[np.ndarray, np.ndarray]:
        """``scores`` and ``y`` as arrays, or a ValueError that says what is wrong with their shapes or labels.
        With ``label_smoothing`` the targets come back as the smoothed rows ``t'`` (both tiers use them)."""
        scores, y = self.check_labels(scores, y)
        return scores, self.smoothed(scores, y)

    def smoothed(self, scores: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The targets with ``label_smoothing`` ε: ``t' = (1 - ε) t + ε / C`` (``y`` as it is for ε = 0)."""
        if not self.label_smoothing:
            return y
        t = F.one_hot(y, scores.shape[1], dtype=scores.dtype) if y.ndim == 1 else y
        return (1 - self.label_smoothing) * t + scores.dtype.type(self.label_smoothing / scores.shape[1])

    def check_labels(self, scores, y) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`check_targets` without the label smoothing: ``y`` as given (``(N,)`` labels or ``(N, C)`` rows)."""
        scores = np.asarray(scores)
        if scores.ndim != 2:
            raise ValueError(f"scores must have shape (N, C), got {scores.shape}")
        y = np.asarray(y)
        n, c = scores.shape
        if y.shape[0] != n:
            raise ValueError(f"scores and labels have different lengths: {n} and {y.shape[0]}")
        if y.ndim == 1:
            if y.dtype.kind not in "iu":
                raise ValueError(f"integer class labels expected, got dtype {y.dtype}")
            if n and self._labels_outside(y, c):
                raise ValueError(f"labels must lie in [0, {c}) for {c} output scores; got {y.min()}..{y.max()}")
        elif y.shape != scores.shape:
            raise ValueError(f"labels must be (N,) integers or (N, {c}) rows, got shape {y.shape}")
        return scores, y

    @staticmethod
    def _labels_outside(y: np.ndarray, c: int) -> bool:
        """Whether any integer label lies outside ``[0, c)``."""
        return bool(y.min() < 0 or y.max() >= c)


class BinaryCrossEntropy(Loss):
    """Sigmoid followed by binary cross-entropy, fused, for binary and multilabel targets.

    With ``p = σ(s)`` elementwise and targets ``y ∈ [0, 1]`` of the same shape::

        L = Σ_n Σ_j [softplus(s_nj) - y_nj s_nj]     (÷ N for reduction="mean")
          = Σ_n Σ_j -[y log p + (1 - y) log(1 - p)]
        ∂L/∂s = p - y                                 (÷ N for reduction="mean")

    ``softplus(s) = log(1 + e^s)`` is computed as ``max(s, 0) + log1p(e^{-|s|})``, finite for
    any finite ``s``. Shapes: ``scores (N, K)`` and ``y (N, K)``, or ``(N, 1)`` and ``(N,)``.
    """

    def forward(self, scores, y, sample_weight=None):
        scores, y = self._targets_like(scores, y)
        softplus = np.maximum(scores, 0) + np.log1p(np.exp(-np.abs(scores)))
        per_sample = np.sum(softplus - y * scores, axis=tuple(range(1, scores.ndim)))
        self._weights(sample_weight, scores.shape[0], scores.dtype)
        self.cache = (F.sigmoid(scores), y)
        return self._weighted_total(per_sample)

    def backward(self):
        p, y = self.cached()
        return self._scale_grad(p - y)


class MeanSquaredError(Loss):
    """Squared error ``L = Σ_n Σ_j (s_nj - y_nj)²``, divided by ``N·C`` for ``reduction="mean"``
    (PyTorch's ``MSELoss``); ``∂L/∂s = 2 (s - y)`` with the same divisor. With sample weights the
    "mean" divisor is ``C · Σ w_n``. Shapes: ``scores (N, C)`` and ``y (N, C)``, or ``(N, 1)`` and ``(N,)``."""

    def forward(self, scores, y, sample_weight=None):
        scores, y = self._targets_like(scores, y)
        diff = scores - y
        n = scores.shape[0]
        self._weights(sample_weight, n, scores.dtype)
        if self.reduction == "mean":
            self._div *= scores.size // max(n, 1)
        per_sample = np.sum(diff * diff, axis=tuple(range(1, scores.ndim)))
        self.cache = diff
        return self._weighted_total(per_sample)

    def backward(self):
        return self._scale_grad(2.0 * self.cached())


class PoissonDeviance(Loss):
    """Half the Poisson deviance with a log link (scikit-learn's ``loss="poisson"``): the scores ``s``
    are log-means, the prediction is ``μ = exp(s)``, and with targets ``y ≥ 0``::

        L = Σ_n Σ_j [y_nj log(y_nj / μ_nj) - y_nj + μ_nj]     (y log y := 0 at y = 0; ÷ Σ w_n for "mean")
          = Σ_n Σ_j [y_nj log y_nj - y_nj s_nj - y_nj + e^{s_nj}]
        ∂L/∂s = μ - y                                          (÷ Σ w_n for "mean")

    Summed over the outputs ``j``, as scikit-learn. Shapes: ``scores, y (N, C)``, or ``(N, 1)`` and ``(N,)``.
    """

    def forward(self, scores, y, sample_weight=None):
        scores, y = self._targets_like(scores, y)
        mu = np.exp(scores)
        y_log_y = y * np.log(np.where(y > 0, y, 1))  # 0 where y = 0
        per_sample = np.sum(y_log_y - y * scores - y + mu, axis=1)
        self._weights(sample_weight, scores.shape[0], scores.dtype)
        self.cache = (mu, y)
        return self._weighted_total(per_sample)

    def backward(self):
        mu, y = self.cached()
        return self._scale_grad(mu - y)


LOSSES = {"cross_entropy": SoftmaxCrossEntropy, "binary_cross_entropy": BinaryCrossEntropy,
          "mse": MeanSquaredError, "poisson": PoissonDeviance}
