"""Parameter: a trainable array and its gradient; FlatParameters: many of them stored back to back."""
from __future__ import annotations

from typing import Iterable, Iterator, Sequence

import numpy as np

__all__ = ["Parameter", "FlatParameters"]


class Parameter:
    """A trainable array ``data`` paired with its gradient ``grad`` of the same shape and dtype.

    Optimizers keep their state (velocity, squared-gradient cache, moments) per Parameter
    object, so there are no string keys to keep in sync.

    **Assigning** ``p.data = a`` or ``p.grad = a``: on a Parameter of its own the array is simply
    taken. On a Parameter that lives in a model's flat
    storage (:class:`FlatParameters`, ``p.flat`` is not None) the values of ``a`` are *copied into*
    its place there, so the model and its optimizer keep seeing them; ``a`` must then have the
    Parameter's shape (a ``ValueError`` says so otherwise), and it is cast to the model's dtype.

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

    __slots__ = ("data", "grad", "name", "decay", "flat")

    def __init__(self, data: np.ndarray, name: str = "", decay: bool = True) -> None:
        data = np.asarray(data)
        self._bind(data, np.zeros_like(data), None)
        self.name = name
        self.decay = decay

    def _bind(self, data: np.ndarray, grad: np.ndarray, flat: FlatParameters | None) -> None:
        """Make ``data`` and ``grad`` this Parameter's arrays, held by ``flat`` (or by nobody)."""
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "grad", grad)
        #: the FlatParameters whose arrays hold ``data`` and ``grad``, or None
        object.__setattr__(self, "flat", flat)

    def __setattr__(self, name: str, value) -> None:
        # reading p.data is a plain slot (the hot path); assigning it goes through here
        if name in ("data", "grad"):
            current = getattr(self, name)
            if value is current:  # ``p.data *= c`` assigns the same array back
                return
            if self.flat is not None:
                self._copy_in(current, value, name)
                return
            value = np.asarray(value)
        object.__setattr__(self, name, value)

    def _copy_in(self, target: np.ndarray, value, what: str) -> None:
        value = np.asarray(value)
        if value.shape != target.shape:
            raise ValueError(f"cannot assign an array of shape {value.shape} to {what} of parameter "
                             f"{self.name!r}, which has shape {target.shape} in the model's flat storage")
        np.copyto(target, value, casting="same_kind")

    def astype(self, dtype) -> None:
        """Convert ``data`` (and reset ``grad``) to ``dtype``. A Parameter in a model's flat storage is
        converted with the whole model (``model.astype``); asking it alone raises ``ValueError``."""
        dtype = np.dtype(dtype)
        if self.flat is not None:
            if dtype == self.data.dtype:
                return
            raise ValueError(f"parameter {self.name!r} lives in a model's flat storage: convert the whole "
                             f"model with model.astype({dtype.name!r})")
        data = self.data.astype(dtype)
        self._bind(data, np.zeros_like(data), None)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def zero_grad(self) -> None:
        self.grad.fill(0)

    # pickle and deepcopy: a copied Parameter has arrays of its own (the model packs them again)
    def __getstate__(self) -> dict:
        return {"data": self.data, "grad": self.grad, "name": self.name, "decay": self.decay}

    def __setstate__(self, state: dict) -> None:
        self._bind(state["data"], state["grad"], None)
        self.name, self.decay = state["name"], state["decay"]

    def __repr__(self) -> str:
        return f"Parameter(name={self.name!r}, shape={self.data.shape}, dtype={self.data.dtype})"


class FlatParameters(Sequence[Parameter]):
    """Parameters stored back to back: all values in one 1-D array ``data``, all gradients in another,
    ``grad``; each Parameter's ``data`` and ``grad`` are views of its piece, with its usual shape.

    :class:`mlplab.Sequential` keeps its parameters this way and hands this object out as
    ``model.parameters()``. An optimizer given it (or a run of consecutive Parameters of it, see
    :meth:`span`) updates every value with one NumPy call per line of its formula over ``data`` and
    ``grad``, instead of one call per Parameter: for small networks a step's time is NumPy's per-call
    overhead, not arithmetic (see ``docs/performance.md``).

    It is also a read-only sequence of the Parameters, in order. Building it copies the current
    values in; a Parameter already held by another FlatParameters is taken from it (that one is
    :meth:`release`-d). ``release()`` gives every Parameter arrays of its own again and marks this
    object as no longer in use (``in_use`` False); optimizers check that before each step.

    Shapes: ``data`` and ``grad`` are ``(n,)`` with ``n = Σ p.data.size``; the piece of the ``i``-th
    Parameter is ``starts[i]:starts[i + 1]``.
    """

    def __init__(self, params: Iterable[Parameter]) -> None:
        unique = list({id(p): p for p in params}.values())  # a Parameter shared by two layers: once
        dtypes = {p.data.dtype for p in unique}
        if len(dtypes) > 1:
            raise ValueError(f"parameters of different dtypes ({', '.join(sorted(d.name for d in dtypes))}) "
                             "cannot share one flat storage; convert the layers to one dtype with .astype()")
        dtype = dtypes.pop() if dtypes else np.dtype(np.float32)
        for owner in {id(p.flat): p.flat for p in unique if p.flat is not None}.values():
            owner.release()
        self.starts = np.cumsum([0] + [p.data.size for p in unique]).tolist()
        self.data = np.empty(self.starts[-1], dtype)
        self.grad = np.empty(self.starts[-1], dtype)
        for p, start, stop in zip(unique, self.starts, self.starts[1:]):
            self.data[start:stop] = p.data.reshape(-1)
            self.grad[start:stop] = np.asarray(p.grad).reshape(-1)
            p._bind(self.data[start:stop].reshape(p.data.shape), self.grad[start:stop].reshape(p.data.shape), self)
        self.params: tuple[Parameter, ...] = tuple(unique)
        self.in_use = True

    def release(self) -> None:
        """Give every Parameter copies of its values and gradient to own, and stop being their storage."""
        if not self.in_use:
            return
        for p in self.params:
            if p.flat is self:
                p._bind(p.data.copy(), p.grad.copy(), None)
        self.in_use = False

    def holds(self, params: Sequence[Parameter]) -> bool:
        """Whether this storage is in use and holds exactly ``params``, in this order."""
        return (self.in_use and len(params) == len(self.params)
                and all(a is b for a, b in zip(params, self.params)))

    def span(self, params: Sequence[Parameter]) -> slice | None:
        """The piece of ``data``/``grad`` that ``params`` cover if they are consecutive Parameters of
        this storage, in order; otherwise None."""
        if not self.in_use or not params:
            return None
        try:
            first = next(i for i, p in enumerate(self.params) if p is params[0])
        except StopIteration:
            return None
        own = self.params[first:first + len(params)]
        if len(own) != len(params) or not all(a is b for a, b in zip(own, params)):
            return None
        return slice(self.starts[first], self.starts[first + len(params)])

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def __len__(self) -> int:
        return len(self.params)

    def __getitem__(self, i):
        return self.params[i]

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self.params)

    # a copy is a plain sequence of copied Parameters; the model that owns them packs them again
    def __getstate__(self) -> dict:
        return {"params": self.params}

    def __setstate__(self, state: dict) -> None:
        self.params = tuple(state["params"])
        self.starts = np.cumsum([0] + [p.data.size for p in self.params]).tolist()
        self.data = self.grad = np.empty(0)
        self.in_use = False

    def __repr__(self) -> str:
        return (f"FlatParameters({len(self.params)} parameters, {self.starts[-1]} values, {self.data.dtype}"
                f"{'' if self.in_use else ', released'})")
