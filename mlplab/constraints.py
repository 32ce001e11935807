"""Weight constraints applied after every optimizer step.

:class:`MaxNorm` is the constraint of the dropout paper (Srivastava et al. 2014, section 5.1): the
vector of weights coming into each unit may not grow longer than ``c``. With mlplab's ``(out, in)``
weight layout, unit ``j``'s incoming weights are row ``j`` of ``W``, and after each update::

    w_j ← w_j · min(1, c / ‖w_j‖₂)

The Trainer applies constraints after ``optimizer.step()``: ``Trainer(..., constraints=[MaxNorm(3.0)])``.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["MaxNorm"]


class MaxNorm:
    """Rescale each unit's incoming weight vector (a row of every Dense ``W (out, in)``) to norm ≤ ``max_norm``.

    Biases and normalization parameters are not constrained. The weights are changed in place, so a
    model whose parameters live in one flat array keeps them there.
    """

    def __init__(self, max_norm: float = 3.0) -> None:
        if (isinstance(max_norm, bool) or not isinstance(max_norm, numbers.Real) or not math.isfinite(max_norm)
                or max_norm <= 0):
            raise ValueError(f"max_norm must be a finite number > 0, got {max_norm!r}")
        self.max_norm = float(max_norm)

    def __call__(self, model) -> None:
        from .layers import Dense

        for layer in model.layers:
            if isinstance(layer, Dense):
                w = layer.weight.data
                norms = np.sqrt(np.einsum("ij,ij->i", w, w))
                if norms.max() > self.max_norm:
                    w *= np.minimum(1.0, self.max_norm / np.maximum(norms, np.finfo(w.dtype).tiny))[:, None]

    def __repr__(self) -> str:
        return f"MaxNorm(max_norm={self.max_norm})"

