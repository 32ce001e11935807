"""How a student's class is read: its parameters, gradients and calling conventions.

Two styles of layer are understood.

**mlplab style** (what the exercise notebooks use): a subclass of :class:`mlplab.layers.Layer`
with ``forward(x, training=False)``, ``backward(dy)``, and ``parameters()`` returning
:class:`mlplab.Parameter` objects; ``backward`` writes each gradient to ``parameter.grad``.
Parameters are recognised by their ``name``: ``"weight"`` (or ``"W"``), ``"bias"`` (``"b"``),
``"gamma"``, ``"beta"``; unnamed ones by their order (weight, then bias; gamma, then beta).

**"Deep Learning from Scratch" style**: plain attributes ``W``, ``b`` (``gamma``, ``beta``) and
gradients ``dW``, ``db`` (``dgamma``, ``dbeta``) that ``backward(dout)`` sets; ``forward(x)`` or
``forward(x, train_flg=True)``. Dense weights may be stored ``(out, in)`` (mlplab, PyTorch) or
``(in, out)`` (the book, CS231n); the check finds out which and says so.

Losses: ``forward(scores, y) -> float`` and ``backward() -> dscores`` (the book's
``backward(dout=1)`` works too).

:func:`as_layer` turns either style into an mlplab layer for :class:`mlplab.Sequential` and
:class:`mlplab.Trainer`.
"""
from __future__ import annotations

import inspect

import numpy as np

from ..layers import Layer
from ..parameter import Parameter

__all__ = ["LayerView", "StudentLayer", "as_layer"]

#: canonical parameter name -> names accepted for it, and the attribute holding its gradient
#: in the book's style
ALIASES = {
    "W": (("weight", "W", "w", "weights"), ("dW", "dw")),
    "b": (("bias", "b"), ("db",)),
    "gamma": (("gamma", "weight", "scale"), ("dgamma",)),
    "beta": (("beta", "bias", "shift"), ("dbeta",)),
}


def _forward_flag(method) -> str | None:
    """How ``forward`` takes the training flag: a keyword name, ``"positional"`` or None (not at all)."""
    try:
        params = list(inspect.signature(method).parameters.values())
    except (TypeError, ValueError):
        return "positional"
    names = [p.name for p in params]
    for name in ("training", "train_flg", "train", "is_training", "train_mode"):
        if name in names:
            return name
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params):
        return "positional"
    return None


class LayerView:
    """Uniform access to a student's layer object for the checks: ``get``/``set`` a parameter by its
    canonical name (``"W"``, ``"b"``, ``"gamma"``, ``"beta"``), ``grad`` after ``backward``, and
    ``forward(x, training)``/``backward(dy)`` whatever the style."""

    def __init__(self, obj, names: tuple[str, ...]) -> None:
        self.obj = obj
        self.names = names
        self.style = "mlplab" if callable(getattr(obj, "parameters", None)) else "book"
        self._params: dict[str, Parameter] = {}
        if self.style == "mlplab":
            params = list(obj.parameters())
            by_name = {}
            for canon in names:
                for p in params:
                    if getattr(p, "name", None) in ALIASES[canon][0] and p not in by_name.values():
                        by_name[canon] = p
                        break
            unnamed = [p for p in params if p not in by_name.values()]
            for canon in names:
                if canon not in by_name and unnamed:
                    by_name[canon] = unnamed.pop(0)
            self._params = by_name
        self._flag = _forward_flag(obj.forward)

    def describe(self) -> str:
        if self.style == "mlplab":
            return "mlplab style (parameters() and .grad)"
        return "'Deep Learning from Scratch' style (attributes " + ", ".join(
            f"{self._attr(n)}/{self._grad_attr(n) or 'd' + n}" for n in self.names) + ")"

    def _attr(self, canon: str) -> str | None:
        for name in ALIASES[canon][0]:
            if isinstance(getattr(self.obj, name, None), np.ndarray):
                return name
        return None

    def _grad_attr(self, canon: str) -> str | None:
        for name in ALIASES[canon][1]:
            if hasattr(self.obj, name):
                return name
        return None

    def has(self, canon: str) -> bool:
        return canon in self._params if self.style == "mlplab" else self._attr(canon) is not None

    def get(self, canon: str) -> np.ndarray | None:
        """The live array the student's forward reads."""
        if self.style == "mlplab":
            p = self._params.get(canon)
            return None if p is None else p.data
        attr = self._attr(canon)
        return None if attr is None else getattr(self.obj, attr)

    def set(self, canon: str, value: np.ndarray) -> None:
        """Write ``value`` into the parameter (in place when shapes agree)."""
        current = self.get(canon)
        if current is not None and current.shape == value.shape:
            current[...] = value
        elif self.style == "mlplab":
            self._params[canon].data = value.copy()
        else:
            setattr(self.obj, self._attr(canon), value.copy())

    def grad(self, canon: str) -> np.ndarray | None:
        if self.style == "mlplab":
            p = self._params.get(canon)
            return None if p is None else np.asarray(p.grad)
        attr = self._grad_attr(canon)
        g = getattr(self.obj, attr, None) if attr else None
        return None if g is None else np.asarray(g)

    def grad_name(self, canon: str) -> str:
        if self.style == "mlplab":
            p = self._params.get(canon)
            return f"{p.name or canon}.grad" if p is not None else f"d{canon}"
        return self._grad_attr(canon) or f"d{canon}"

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        if self._flag is None:
            return self.obj.forward(x)
        if self._flag == "positional":
            return self.obj.forward(x, training)
        return self.obj.forward(x, **{self._flag: training})

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self.obj.backward(dy)


class StudentLayer(Layer):
    """An mlplab :class:`~mlplab.layers.Layer` around a layer written in the book's style, so that
    it can sit in :class:`mlplab.Sequential` and be trained by :class:`mlplab.Trainer`.

    The layer owns one :class:`~mlplab.Parameter` per student array (``W``, ``b``, ``gamma``,
    ``beta``, in the student's own layout). Before each ``forward`` it hands the student object the
    Parameter's current array (the optimizer updates it in place); after ``backward`` it copies the
    student's ``dW``... into ``.grad``.
    """

    def __init__(self, obj) -> None:
        self.obj = obj
        self.view = LayerView(obj, ("W", "b", "gamma", "beta"))
        if self.view.style == "mlplab":  # parameters() of its own, just not a Layer subclass: use them as they are
            self._names, self._params = [], list(obj.parameters())
        else:
            self._names = [n for n in ("W", "b", "gamma", "beta") if self.view.has(n)]
            self._params = [Parameter(np.array(self.view.get(n)), n, decay=n == "W") for n in self._names]

    def _sync(self) -> None:
        for name, p in zip(self._names, self._params):
            if self.view.get(name) is not p.data:
                setattr(self.obj, self.view._attr(name), p.data)

    def forward(self, x, training=False):
        self._sync()
        return self.view.forward(x, training)

    def backward(self, dy):
        dx = self.view.backward(dy)
        for name, p in zip(self._names, self._params):
            g = self.view.grad(name)
            if g is None:
                raise RuntimeError(f"{type(self.obj).__name__}.backward did not set {self.view.grad_name(name)}")
            p.grad[...] = g
        return dx

    def parameters(self):
        return list(self._params)

    def __repr__(self) -> str:
        return f"StudentLayer({type(self.obj).__name__})"


def as_layer(obj) -> Layer:
    """``obj`` itself if it is already an mlplab Layer, else a :class:`StudentLayer` around it."""
    if isinstance(obj, Layer):
        return obj
    if not (callable(getattr(obj, "forward", None)) and callable(getattr(obj, "backward", None))):
        raise TypeError(f"{type(obj).__name__} is not a layer: it needs forward(x) and backward(dout) methods")
    return StudentLayer(obj)
