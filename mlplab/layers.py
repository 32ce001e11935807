"""Layers: each has ``forward(x, training)`` and ``backward(dy)``.

A layer caches in ``forward`` what its ``backward`` needs and, in ``backward``, writes the
gradient of every Parameter it owns to ``.grad`` (overwriting, not accumulating) and returns
the gradient with respect to its input. Inputs are ``(batch, features)``; Dense and the
activations also accept any leading shape ``(..., features)``.

Notation in the docstrings: ``N`` batch size, ``D`` input features, ``M`` output features,
``x`` input, ``y`` output, ``dy = ∂L/∂y``, ``dx = ∂L/∂x``.

**Which returned arrays stay valid.** ``forward(x, training=False)`` always returns a new array:
predictions you keep are never overwritten. In training mode, ``Dense`` and the activations write
their outputs (``forward(x, training=True)``) and their input gradients (``backward``) into arrays
they keep and reuse at their next call of the same kind, for speed (no allocation per mini-batch,
and the memory stays in cache; see ``docs/performance.md``). Such an array is valid until that
layer's next ``forward(..., training=True)`` or ``backward``; copy it to keep it longer.
"""
from __future__ import annotations

import numpy as np

from . import functional as F
from . import sparse as _sparse
from ._validation import as_generator, check_array, resolve_dtype
from .init import init_weight
from .parameter import Parameter

__all__ = [
    "Layer", "Dense", "Identity", "Sigmoid", "ReLU", "LeakyReLU", "Tanh", "BatchNorm", "LayerNorm",
    "Dropout", "Standardize", "MinMaxScale", "LAYER_TYPES",
]


def _reused(layer: "Layer", key: str, shape: tuple, dtype, fill=None) -> np.ndarray:
    """An array of ``shape`` and ``dtype`` that ``layer`` keeps under ``key`` (an attribute name
    starting with ``_buf_``) and hands out again at its next call: the reused training-mode buffers
    described in the module docstring.

    Contents are left from the last use; ``fill`` sets them when the array is created. A new array
    replaces the kept one when the shape changes (twice an epoch when the last mini-batch is short).
    """
    buf = layer.__dict__.get(key)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = np.empty(shape, dtype) if fill is None else np.full(shape, fill, dtype)
        layer.__dict__[key] = buf
    return buf


class Layer:
    """Base class. Subclasses override ``forward`` and ``backward``; layers with state override
    ``parameters`` (trainable), ``buffers`` (saved but not trained) and ``config`` (constructor
    arguments, JSON-serialisable, used by :mod:`mlplab.io`)."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward_parameters(self, dy: np.ndarray) -> None:
        """Write the parameter gradients for ``dy`` like :meth:`backward`, without needing ``dx``.

        :meth:`Sequential.backward` with ``input_grad=False`` (what the Trainer uses) calls this on
        the first layer that has parameters, since nothing below it needs ``dx``. The default runs
        ``backward`` and drops ``dx``; ``Dense`` skips the product ``dy W`` (for a first layer with
        784 or 3072 inputs, the largest matrix product of the backward pass).
        """
        self.backward(dy)

    def __getstate__(self) -> dict:
        # reused training buffers are scratch space: not pickled or deep-copied
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_buf_")}

    def parameters(self) -> list[Parameter]:
        return []

    def buffers(self) -> dict[str, np.ndarray]:
        return {}

    def config(self) -> dict:
        return {}

    def astype(self, dtype) -> "Layer":
        """Convert parameters and buffers to ``dtype`` in place; returns self."""
        dtype = resolve_dtype(dtype)
        for p in self.parameters():
            p.data = p.data.astype(dtype)
            p.grad = np.zeros_like(p.data)
        for name, buf in self.buffers().items():
            setattr(self, name, buf.astype(dtype))
        return self

    def __call__(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return self.forward(x, training)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class Dense(Layer):
    """Fully-connected (affine) layer ``y = x Wᵀ + b``.

    Shapes: ``x (..., D)``, ``weight W (M, D)`` (PyTorch's ``Linear`` layout), ``bias b (M,)``,
    ``y (..., M)``. Backward, with ``x`` and ``dy`` flattened to ``(N, D)`` and ``(N, M)``::

        dW = dyᵀ x        (M, D)
        db = Σ_n dy_n     (M,)
        dx = dy W         (N, D)

    Parameters
    ----------
    in_features, out_features : int
    init : str or float
        ``"he"``, ``"xavier"``, ``"xavier_uniform"`` or a fixed standard deviation (see :mod:`mlplab.init`).
    rng : int, Generator or None
        Seed or generator for the initial weights.
    dtype : float32 (default) or float64.
    """

    def __init__(self, in_features: int, out_features: int, init="he", rng=None, dtype=np.float32) -> None:
        if int(in_features) < 1 or int(out_features) < 1:
            raise ValueError(f"Dense needs in_features >= 1 and out_features >= 1, got {in_features}, {out_features}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.init = init
        dtype = resolve_dtype(dtype)
        w = init_weight(init, self.in_features, self.out_features, as_generator(rng), dtype)
        self.weight = Parameter(w, "weight", decay=True)
        self.bias = Parameter(np.zeros(self.out_features, dtype=dtype), "bias", decay=False)
        self._x2d: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"Dense layer expects {self.in_features} input features, got {x.shape[-1]} "
                             f"(input shape {x.shape})")
        self._x_shape = x.shape
        if _sparse.issparse(x):  # a scipy.sparse data set, multiplied as it is (mlplab.sparse)
            self._x2d = x
            return _sparse.dense_forward(x, self.weight.data, self.bias.data)
        x2d = self._x2d = x if x.ndim == 2 else x.reshape(-1, self.in_features)
        w = self.weight.data
        if training and x2d.dtype == w.dtype:  # y = x Wᵀ into this layer's reused output array
            y = np.matmul(x2d, w.T, out=_reused(self, "_buf_y", (x2d.shape[0], self.out_features), w.dtype))
        else:
            y = x2d @ w.T
        y += self.bias.data
        return y if x.ndim == 2 else y.reshape(*x.shape[:-1], self.out_features)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dy2d = self._parameter_gradients(dy)
        w = self.weight.data
        if dy2d.dtype == w.dtype:  # dx = dy W into this layer's reused array
            dx = np.matmul(dy2d, w, out=_reused(self, "_buf_dx", (dy2d.shape[0], self.in_features), w.dtype))
        else:
            dx = dy2d @ w
        return dx if len(self._x_shape) == 2 else dx.reshape(self._x_shape)

    def backward_parameters(self, dy: np.ndarray) -> None:
        """``dW`` and ``db`` only: the first layer's ``dx = dy W`` is not needed for training."""
        self._parameter_gradients(dy)

    def _parameter_gradients(self, dy: np.ndarray) -> np.ndarray:
        """``dW = dyᵀ x`` and ``db = Σ_n dy_n``, written into ``.grad``; returns ``dy`` as ``(N, M)``."""
        if self._x2d is None:
            raise RuntimeError("Dense.backward called before forward")
        dy2d = dy if dy.ndim == 2 else dy.reshape(-1, self.out_features)
        if isinstance(self._x2d, np.ndarray):
            np.matmul(dy2d.T, self._x2d, out=self.weight.grad)
        else:  # sparse input: dW = (xᵀ dy)ᵀ (mlplab.sparse)
            _sparse.dense_weight_grad(self._x2d, dy2d, self.weight.grad)
        # Σ_n dy_n as the product 1ᵀ dy: a NumPy sum over the rows is 3-4x slower at these sizes
        ones = _reused(self, "_buf_ones", (dy2d.shape[0],), dy2d.dtype, fill=1)
        np.matmul(ones, dy2d, out=self.bias.grad)
        return dy2d

    def parameters(self) -> list[Parameter]:
        return [self.weight, self.bias]

    def config(self) -> dict:
        return {"in_features": self.in_features, "out_features": self.out_features,
                "init": self.init if isinstance(self.init, str) else float(self.init)}


class Identity(Layer):
    """``y = x``; used as the output "activation" of regressors."""

    def forward(self, x, training=False):
        return x

    def backward(self, dy):
        return dy


class Sigmoid(Layer):
    """``y = σ(x) = 1 / (1 + e^{-x})`` (stable, see :func:`mlplab.functional.sigmoid`); ``dx = dy · y (1 - y)``."""

    def forward(self, x, training=False):
        out = _reused(self, "_buf_y", x.shape, x.dtype) if training and x.dtype.kind == "f" else None
        self._y = F.sigmoid(x, out=out)
        return self._y

    def backward(self, dy):
        y = self._y
        dx = _reused(self, "_buf_dx", y.shape, y.dtype) if dy.dtype == y.dtype else np.empty_like(dy)
        np.subtract(1.0, y, out=dx)  # dx = (1 - y) · y · dy, in three passes over one array
        dx *= y
        dx *= dy
        return dx


class Tanh(Layer):
    """``y = tanh(x)``; ``dx = dy · (1 - y²)``."""

    def forward(self, x, training=False):
        out = _reused(self, "_buf_y", x.shape, x.dtype) if training and x.dtype.kind == "f" else None
        self._y = np.tanh(x, out=out)
        return self._y

    def backward(self, dy):
        y = self._y
        dx = _reused(self, "_buf_dx", y.shape, y.dtype) if dy.dtype == y.dtype else np.empty_like(dy)
        np.multiply(y, y, out=dx)  # dx = (1 - y²) · dy, in three passes over one array
        np.subtract(1.0, dx, out=dx)
        dx *= dy
        return dx


class ReLU(Layer):
    """``y = max(x, 0)``; ``dx = dy · [x > 0]``, computed as ``dy · [y > 0]`` (the same set) from
    the output the layer keeps."""

    def forward(self, x, training=False):
        if training and x.dtype.kind == "f":
            # max(x, 0) against an array of zeros: NumPy's maximum with a scalar 0 takes a loop
            # that is 3x slower than with an array operand
            zeros = _reused(self, "_buf_zeros", x.shape, x.dtype, fill=0)
            self._y = np.maximum(x, zeros, out=_reused(self, "_buf_y", x.shape, x.dtype))
        else:
            self._y = np.maximum(x, 0)
        return self._y

    def backward(self, dy):
        y = self._y
        mask = np.greater(y, 0, out=_reused(self, "_buf_mask", y.shape, np.bool_))
        if dy.dtype != y.dtype:
            return dy * mask
        # [y > 0] as 0.0/1.0 in the gradient's dtype, then one float multiply: faster than
        # multiplying by the boolean mask, which NumPy casts element by element
        mask01 = _reused(self, "_buf_mask01", y.shape, y.dtype)
        np.copyto(mask01, mask)
        return np.multiply(dy, mask01, out=_reused(self, "_buf_dx", y.shape, y.dtype))


class LeakyReLU(Layer):
    """``y = x`` for ``x > 0`` else ``slope · x``; ``dx = dy`` or ``slope · dy``."""

    def __init__(self, slope: float = 0.01) -> None:
        if not 0 <= slope < 1:
            raise ValueError(f"LeakyReLU slope must be in [0, 1), got {slope}")
        self.slope = float(slope)

    def forward(self, x, training=False):
        self._mask = x > 0
        return np.where(self._mask, x, x * np.asarray(self.slope, dtype=x.dtype))

    def backward(self, dy):
        return np.where(self._mask, dy, dy * np.asarray(self.slope, dtype=dy.dtype))

    def config(self):
        return {"slope": self.slope}


def _normalize_backward(dy, xhat, gamma, inv_std, axis):
    """Gradient through ``y = γ x̂ + β`` with ``x̂ = (x - μ) / √(σ² + ε)``, statistics taken over ``axis``
    of size ``n``::

        dx̂ = dy γ
        dx = (1 / n) · inv_std · (n dx̂ - Σ dx̂ - x̂ Σ (dx̂ x̂))
    """
    n = xhat.shape[axis]
    dxhat = dy * gamma
    sum_dxhat = np.sum(dxhat, axis=axis, keepdims=True)
    sum_dxhat_xhat = np.sum(dxhat * xhat, axis=axis, keepdims=True)
    return (inv_std / n) * (n * dxhat - sum_dxhat - xhat * sum_dxhat_xhat)


class BatchNorm(Layer):
    """Batch normalization over the batch axis (Ioffe and Szegedy, 2015).

    Training, with ``μ, σ²`` the mean and biased variance of the batch per feature::

        x̂ = (x - μ) / √(σ² + ε),   y = γ x̂ + β
        running_mean ← (1 - m) running_mean + m μ
        running_var  ← (1 - m) running_var  + m σ² N / (N - 1)     (unbiased, as PyTorch)

    Evaluation uses ``running_mean`` and ``running_var`` instead of the batch statistics.
    Shapes: ``x, y (N, D)``; ``γ, β, running_mean, running_var (D,)``.
    """

    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5, dtype=np.float32) -> None:
        if not 0 <= momentum <= 1:
            raise ValueError(f"BatchNorm momentum must be in [0, 1], got {momentum}")
        dtype = resolve_dtype(dtype)
        self.num_features = int(num_features)
        self.momentum = float(momentum)
        self.eps = float(eps)
        self.gamma = Parameter(np.ones(num_features, dtype=dtype), "gamma", decay=False)
        self.beta = Parameter(np.zeros(num_features, dtype=dtype), "beta", decay=False)
        self.running_mean = np.zeros(num_features, dtype=dtype)
        self.running_var = np.ones(num_features, dtype=dtype)

    def forward(self, x, training=False):
        if x.ndim != 2 or x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm expects input of shape (N, {self.num_features}), got {x.shape}")
        self._training = training
        if training:
            n = x.shape[0]
            mu = x.mean(axis=0)
            xc = x - mu
            var = np.mean(xc * xc, axis=0)
            self._inv_std = 1.0 / np.sqrt(var + self.eps)
            self._xhat = xc * self._inv_std
            m = self.momentum
            unbiased = var * (n / (n - 1)) if n > 1 else var
            self.running_mean = ((1 - m) * self.running_mean + m * mu).astype(x.dtype, copy=False)
            self.running_var = ((1 - m) * self.running_var + m * unbiased).astype(x.dtype, copy=False)
        else:
            self._inv_std = 1.0 / np.sqrt(self.running_var + self.eps)
            self._xhat = (x - self.running_mean) * self._inv_std
        return self._xhat * self.gamma.data + self.beta.data

    def backward(self, dy):
        np.sum(dy, axis=0, out=self.beta.grad)
        np.sum(dy * self._xhat, axis=0, out=self.gamma.grad)
        if not self._training:  # statistics were constants
            return dy * (self.gamma.data * self._inv_std)
        return _normalize_backward(dy, self._xhat, self.gamma.data, self._inv_std, axis=0)

    def parameters(self):
        return [self.gamma, self.beta]

    def buffers(self):
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def config(self):
        return {"num_features": self.num_features, "momentum": self.momentum, "eps": self.eps}


class LayerNorm(Layer):
    """Layer normalization over the feature axis (Ba, Kiros and Hinton, 2016).

    For each sample, with ``μ, σ²`` the mean and biased variance of its ``D`` features::

        x̂ = (x - μ) / √(σ² + ε),   y = γ x̂ + β

    The same computation in training and evaluation. Shapes: ``x, y (..., D)``; ``γ, β (D,)``.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, dtype=np.float32) -> None:
        dtype = resolve_dtype(dtype)
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.gamma = Parameter(np.ones(num_features, dtype=dtype), "gamma", decay=False)
        self.beta = Parameter(np.zeros(num_features, dtype=dtype), "beta", decay=False)

    def forward(self, x, training=False):
        if x.shape[-1] != self.num_features:
            raise ValueError(f"LayerNorm expects {self.num_features} features, got input of shape {x.shape}")
        mu = x.mean(axis=-1, keepdims=True)
        xc = x - mu
        var = np.mean(xc * xc, axis=-1, keepdims=True)
        self._inv_std = 1.0 / np.sqrt(var + self.eps)
        self._xhat = xc * self._inv_std
        return self._xhat * self.gamma.data + self.beta.data

    def backward(self, dy):
        lead = tuple(range(dy.ndim - 1))
        np.sum(dy, axis=lead, out=self.beta.grad)
        np.sum(dy * self._xhat, axis=lead, out=self.gamma.grad)
        return _normalize_backward(dy, self._xhat, self.gamma.data, self._inv_std, axis=-1)

    def parameters(self):
        return [self.gamma, self.beta]

    def config(self):
        return {"num_features": self.num_features, "eps": self.eps}


class Dropout(Layer):
    """Inverted dropout: in training ``y = x · mask / (1 - p)`` with ``mask ~ Bernoulli(1 - p)``;
    in evaluation ``y = x``. ``p`` is the probability of *dropping* a unit.

    Masks come from the layer's own seeded ``Generator``. Set ``reuse_mask = True`` to keep the
    last mask (used by gradient checks, where the function must stay fixed).
    """

    def __init__(self, p: float = 0.5, rng=None) -> None:
        if not 0 <= p < 1:
            raise ValueError(f"Dropout probability p must be in [0, 1), got {p}")
        self.p = float(p)
        self.rng = as_generator(rng)
        self.reuse_mask = False
        self._mask: np.ndarray | None = None

    def forward(self, x, training=False):
        self._training = training and self.p > 0
        if not self._training:
            return x
        if not (self.reuse_mask and self._mask is not None and self._mask.shape == x.shape):
            keep = self.rng.random(x.shape, dtype=np.float64 if x.dtype == np.float64 else np.float32) >= self.p
            self._mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))
        return x * self._mask

    def backward(self, dy):
        return dy * self._mask if self._training else dy

    def config(self):
        return {"p": self.p}


class _Scaler(Layer):
    """Shared frame of the frozen preprocessing layers: ``y = (x - shift) / scale``, fitted once with
    :meth:`fit` on training data, never trained, saved with the model."""

    def __init__(self, shift=None, scale=None, dtype=np.float32) -> None:
        dtype = resolve_dtype(dtype)
        self._dtype = dtype
        self.shift = None if shift is None else np.asarray(shift, dtype=dtype)
        self.scale = None if scale is None else np.asarray(scale, dtype=dtype)

    @property
    def fitted(self) -> bool:
        return self.shift is not None

    def _statistics(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def fit(self, X) -> "_Scaler":
        """Compute ``shift`` and ``scale`` per feature from ``X (N, D)``; constant features get scale 1."""
        X = check_array(X, "X")
        shift, scale = self._statistics(X.astype(np.float64))
        scale = np.where(scale > 0, scale, 1.0)
        self.shift, self.scale = shift.astype(self._dtype), scale.astype(self._dtype)
        return self

    def forward(self, x, training=False):
        if not self.fitted:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call .fit(X_train) first "
                               "(Trainer.fit does this for you)")
        if x.shape[-1] != self.shift.shape[0]:
            raise ValueError(f"{type(self).__name__} was fitted on {self.shift.shape[0]} features, got {x.shape[-1]}")
        self._inv_scale = (1.0 / self.scale).astype(x.dtype)
        return (x - self.shift.astype(x.dtype, copy=False)) * self._inv_scale

    def backward(self, dy):
        return dy * self._inv_scale

    def buffers(self):
        return {} if not self.fitted else {"shift": self.shift, "scale": self.scale}

    def astype(self, dtype):
        self._dtype = resolve_dtype(dtype)
        return super().astype(dtype)


class Standardize(_Scaler):
    """Frozen per-feature standardization ``y = (x - mean) / std``, fitted on training data.
    Shapes: ``x, y (N, D)``; ``shift = mean``, ``scale = std`` are ``(D,)``."""

    def _statistics(self, X):
        return X.mean(axis=0), X.std(axis=0)


class MinMaxScale(_Scaler):
    """Frozen per-feature min-max scaling to ``[0, 1]``: ``y = (x - min) / (max - min)``, fitted on
    training data. Shapes: ``x, y (N, D)``; ``shift = min``, ``scale = max - min`` are ``(D,)``."""

    def _statistics(self, X):
        lo = X.min(axis=0)
        return lo, X.max(axis=0) - lo


LAYER_TYPES: dict[str, type[Layer]] = {cls.__name__: cls for cls in (
    Dense, Identity, Sigmoid, ReLU, LeakyReLU, Tanh, BatchNorm, LayerNorm, Dropout, Standardize, MinMaxScale)}
