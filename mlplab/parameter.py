"""Parameter: a trainable array and its gradient."""
from __future__ import annotations

import numpy as np

__all__ = ["Parameter"]


class Parameter:
    """A trainable array ``data`` paired with its gradient ``grad`` of the same shape and dtype.

    Optimizers keep their state (velocity, squared-gradient cache, moments) per Parameter
    object, so there are no string keys to keep in sync.

    Parameters
    ----------
    data : ndarray
        The values; the Parameter takes ownership (no copy).
    name : str
        Short name inside its layer, e.g. ``"weight"`` or ``"bias"``.
    decay : bool
        Whether L2 weight decay applies to it. True for weight matrices; False for biases
        and normalization scales/shifts, which are not decayed unless an optimizer is told
        ``decay_all=True``.
    """

    __slots__ = ("data", "grad", "name", "decay")

    def __init__(self, data: np.ndarray, name: str = "", decay: bool = True) -> None:
        self.data = data
        self.grad = np.zeros_like(data)
        self.name = name
        self.decay = decay

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def zero_grad(self) -> None:
        self.grad.fill(0)

    def __repr__(self) -> str:
        return f"Parameter(name={self.name!r}, shape={self.data.shape}, dtype={self.data.dtype})"
