"""Layers, the reference tier: each ``forward``/``backward`` is the formula in its docstring.

This is the module to read to learn how a layer works. Every method is the textbook formula in a few
lines of NumPy (new arrays, no tricks); :mod:`mlplab.fast` holds subclasses that compute the same
numbers faster (reused buffers, fused passes), tested equal to these classes. ``mlp(...)`` builds
the fast tier by default; ``mlp(..., tier="reference")`` or ``model.to_tier("reference")`` gives
these classes (see :class:`mlplab.Sequential`).

A layer has ``forward(x, training)`` and ``backward(dy)``. ``backward`` writes the gradient of every
Parameter the layer owns to ``.grad`` (overwriting, not accumulating) and returns the gradient with
respect to the layer's input. Inputs are ``(batch, features)``; Dense, the activations and
LayerNorm also accept any leading shape ``(..., features)``.

**The cache.** ``forward(x, training=True)`` keeps in ``self.cache`` what ``backward`` needs (for
Dense the input ``x``, for Sigmoid the output ``y``, ...), and ``backward`` uses the cache of the
last training-mode forward. An evaluation-mode forward (``training=False``: predictions) keeps
nothing, so predicting between a training forward and its backward changes no gradient. The
gradient check sets ``keep_cache = True`` to check the evaluation-mode backward too.

Notation in the docstrings: ``N`` batch size, ``D`` input features, ``M`` output features,
``x`` input, ``y`` output, ``dy = ∂L/∂y``, ``dx = ∂L/∂x``.
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


class Layer:
    """Base class. Subclasses override ``forward`` and ``backward``; layers with state override
    ``parameters`` (trainable), ``buffers`` (saved but not trained) and ``config`` (constructor
    arguments, JSON-serialisable, used by :mod:`mlplab.io`)."""

    #: which tier the class belongs to: "reference" here, "fast" in :mod:`mlplab.fast`
    tier = "reference"
    #: what the last training-mode forward kept for backward (None before the first one)
    cache = None
    #: keep the cache in evaluation mode too (set by :func:`mlplab.gradcheck.gradcheck`)
    keep_cache = False

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward_parameters(self, dy: np.ndarray) -> None:
        """Write the parameter gradients for ``dy`` like :meth:`backward`, without needing ``dx``.

        :meth:`Sequential.backward` with ``input_grad=False`` (what the Trainer uses) calls this on
        the first layer that has parameters, since nothing below it needs ``dx``. Here it runs
        ``backward`` and drops ``dx``; the fast Dense skips the product ``dy W``.
        """
        self.backward(dy)

    def cached(self):
        """``self.cache``, or a RuntimeError saying that ``backward`` needs a training-mode forward first."""
        if self.cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward needs a forward(x, training=True) first "
                               "(an evaluation-mode forward keeps nothing for backward)")
        return self.cache

    def clear_cache(self) -> None:
        """Forget what the last forward kept for backward."""
        self.cache = None

    def __getstate__(self) -> dict:
        # the cache is the last batch's arrays: not pickled or deep-copied
        return {k: v for k, v in self.__dict__.items() if k != "cache"}

    def parameters(self) -> list[Parameter]:
        return []

    def buffers(self) -> dict[str, np.ndarray]:
        return {}

    def config(self) -> dict:
        return {}

    def astype(self, dtype) -> "Layer":
        """Convert parameters and buffers to ``dtype`` in place; returns self. (A layer inside a model is
        converted with the model: ``model.astype(dtype)``.)"""
        dtype = resolve_dtype(dtype)
        for p in self.parameters():
            p.astype(dtype)
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

    def check_input(self, x: np.ndarray) -> None:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"Dense layer expects {self.in_features} input features, got {x.shape[-1]} "
                             f"(input shape {x.shape})")

    def forward(self, x, training=False):
        self.check_input(x)
        if training or self.keep_cache:
            self.cache = x
        if _sparse.issparse(x):  # scipy.sparse input (a first layer), multiplied as it is: mlplab.sparse
            return _sparse.dense_forward(x, self.weight.data, self.bias.data)
        return x @ self.weight.data.T + self.bias.data

    def backward(self, dy):
        x = self.cached()
        dy2 = dy.reshape(-1, self.out_features)                      # (N, M)
        if _sparse.issparse(x):  # dW = (xᵀ dy)ᵀ, see mlplab.sparse
            self.weight.grad = _sparse.dense_weight_grad(x, dy2, np.empty_like(self.weight.data))
        else:
            self.weight.grad = dy2.T @ x.reshape(-1, self.in_features)  # x as (N, D): leading axes flattened
        self.bias.grad = dy2.sum(axis=0)
        return dy @ self.weight.data

    def parameters(self) -> list[Parameter]:
        return [self.weight, self.bias]

    def config(self) -> dict:
        return {"in_features": self.in_features, "out_features": self.out_features,
                "init": self.init if isinstance(self.init, str) else float(self.init)}


class Identity(Layer):
    """``y = x``; ``dx = dy``. Used as the output "activation" of regressors."""

    def forward(self, x, training=False):
        return x

    def backward(self, dy):
        return dy


class Sigmoid(Layer):
    """``y = σ(x) = 1 / (1 + e^{-x})`` (stable, see :func:`mlplab.functional.sigmoid`); ``dx = dy · y (1 - y)``."""

    def forward(self, x, training=False):
        y = F.sigmoid(x)
        if training or self.keep_cache:
            self.cache = y
        return y

    def backward(self, dy):
        y = self.cached()
        return dy * y * (1 - y)


class Tanh(Layer):
    """``y = tanh(x)``; ``dx = dy · (1 - y²)``."""

    def forward(self, x, training=False):
        y = np.tanh(x)
        if training or self.keep_cache:
            self.cache = y
        return y

    def backward(self, dy):
        y = self.cached()
        return dy * (1 - y * y)


class ReLU(Layer):
    """``y = max(x, 0)``; ``dx = dy · [x > 0]``."""

    def forward(self, x, training=False):
        if training or self.keep_cache:
            self.cache = x > 0
        return np.maximum(x, 0)

    def backward(self, dy):
        return dy * self.cached()


class LeakyReLU(Layer):
    """``y = x`` for ``x > 0`` else ``slope · x``; ``dx = dy`` or ``slope · dy``."""

    def __init__(self, slope: float = 0.01) -> None:
        if not 0 <= slope < 1:
            raise ValueError(f"LeakyReLU slope must be in [0, 1), got {slope}")
        self.slope = float(slope)

    def forward(self, x, training=False):
        positive = x > 0
        if training or self.keep_cache:
            self.cache = positive
        return np.where(positive, x, self.slope * x)

    def backward(self, dy):
        return np.where(self.cached(), dy, self.slope * dy)

    def config(self):
        return {"slope": self.slope}


class BatchNorm(Layer):
    """Batch normalization over the batch axis (Ioffe and Szegedy, 2015).

    Training, with ``μ, σ²`` the mean and biased variance of the batch per feature::

        x̂ = (x - μ) / √(σ² + ε),   y = γ x̂ + β
        running_mean ← (1 - m) running_mean + m μ
        running_var  ← (1 - m) running_var  + m σ² N / (N - 1)     (unbiased, as PyTorch)

    Evaluation uses ``running_mean`` and ``running_var`` instead of the batch statistics.
    Backward, with ``dx̂ = dy γ`` and sums over the batch::

        dγ = Σ dy x̂,   dβ = Σ dy
        dx = (1 / N) / √(σ² + ε) · (N dx̂ - Σ dx̂ - x̂ Σ dx̂ x̂)     (training: μ, σ² depend on x)
        dx = dx̂ / √(σ² + ε)                                    (evaluation: constants)

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
        if training:
            n, m = x.shape[0], self.momentum
            mu, var = x.mean(axis=0), x.var(axis=0)
            unbiased = var * (n / (n - 1)) if n > 1 else var
            self.running_mean = ((1 - m) * self.running_mean + m * mu).astype(x.dtype)
            self.running_var = ((1 - m) * self.running_var + m * unbiased).astype(x.dtype)
        else:
            mu, var = self.running_mean, self.running_var
        inv_std = 1 / np.sqrt(var + self.eps)
        xhat = (x - mu) * inv_std
        if training or self.keep_cache:
            self.cache = (xhat, inv_std, training)
        return self.gamma.data * xhat + self.beta.data

    def backward(self, dy):
        xhat, inv_std, training = self.cached()
        self.gamma.grad = np.sum(dy * xhat, axis=0)
        self.beta.grad = np.sum(dy, axis=0)
        dxhat = dy * self.gamma.data
        if not training:
            return dxhat * inv_std
        n = dy.shape[0]
        return inv_std / n * (n * dxhat - dxhat.sum(axis=0) - xhat * np.sum(dxhat * xhat, axis=0))

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

    The same computation in training and evaluation. Backward, with ``dx̂ = dy γ``, sums over the
    features for ``dx`` and over every other axis for ``dγ, dβ``::

        dγ = Σ dy x̂,   dβ = Σ dy
        dx = (1 / D) / √(σ² + ε) · (D dx̂ - Σ dx̂ - x̂ Σ dx̂ x̂)

    Shapes: ``x, y (..., D)``; ``γ, β (D,)``.
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
        mu, var = x.mean(axis=-1, keepdims=True), x.var(axis=-1, keepdims=True)
        inv_std = 1 / np.sqrt(var + self.eps)
        xhat = (x - mu) * inv_std
        if training or self.keep_cache:
            self.cache = (xhat, inv_std)
        return self.gamma.data * xhat + self.beta.data

    def backward(self, dy):
        xhat, inv_std = self.cached()
        batch_axes = tuple(range(dy.ndim - 1))
        self.gamma.grad = np.sum(dy * xhat, axis=batch_axes)
        self.beta.grad = np.sum(dy, axis=batch_axes)
        dxhat = dy * self.gamma.data
        d = dy.shape[-1]
        return inv_std / d * (d * dxhat - dxhat.sum(axis=-1, keepdims=True)
                              - xhat * np.sum(dxhat * xhat, axis=-1, keepdims=True))

    def parameters(self):
        return [self.gamma, self.beta]

    def config(self):
        return {"num_features": self.num_features, "eps": self.eps}


class Dropout(Layer):
    """Inverted dropout: in training ``y = x · mask`` with ``mask = Bernoulli(1 - p) / (1 - p)``;
    in evaluation ``y = x``. ``p`` is the probability of *dropping* a unit. ``dx = dy · mask``
    (``dx = dy`` in evaluation).

    Masks come from the layer's own seeded ``Generator``. Set ``reuse_mask = True`` to keep the
    last mask (used by gradient checks, where the function must stay fixed).
    """

    def __init__(self, p: float = 0.5, rng=None) -> None:
        if not 0 <= p < 1:
            raise ValueError(f"Dropout probability p must be in [0, 1), got {p}")
        self.p = float(p)
        self.rng = as_generator(rng)
        self.reuse_mask = False
        self.mask: np.ndarray | None = None

    def forward(self, x, training=False):
        if training and self.p > 0:
            if not (self.reuse_mask and self.mask is not None and self.mask.shape == x.shape):
                keep = self.rng.random(x.shape, dtype=np.float64 if x.dtype == np.float64 else np.float32) >= self.p
                self.mask = keep.astype(x.dtype) * x.dtype.type(1 / (1 - self.p))
            self.cache = self.mask
            return x * self.mask
        if training or self.keep_cache:
            self.cache = 1.0  # y = x: a mask of ones
        return x

    def backward(self, dy):
        return dy * self.cached()

    def config(self):
        return {"p": self.p}


class _Scaler(Layer):
    """Shared frame of the frozen preprocessing layers: ``y = (x - shift) / scale``, fitted once with
    :meth:`fit` on training data, never trained, saved with the model; ``dx = dy / scale``."""

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
        shift, scale = self._statistics(X)  # float64 statistics, without a float64 copy of X
        scale = np.where(scale > 0, scale, 1.0)
        self.shift, self.scale = shift.astype(self._dtype), scale.astype(self._dtype)
        return self

    def forward(self, x, training=False):
        if not self.fitted:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call .fit(X_train) first "
                               "(Trainer.fit does this for you)")
        if x.shape[-1] != self.shift.shape[0]:
            raise ValueError(f"{type(self).__name__} was fitted on {self.shift.shape[0]} features, got {x.shape[-1]}")
        return (x - self.shift.astype(x.dtype)) / self.scale.astype(x.dtype)

    def backward(self, dy):
        return dy / self.scale.astype(dy.dtype)

    def buffers(self):
        return {} if not self.fitted else {"shift": self.shift, "scale": self.scale}

    def astype(self, dtype):
        self._dtype = resolve_dtype(dtype)
        return super().astype(dtype)


class Standardize(_Scaler):
    """Frozen per-feature standardization ``y = (x - mean) / std``, fitted on training data.
    Shapes: ``x, y (N, D)``; ``shift = mean``, ``scale = std`` are ``(D,)``."""

    def _statistics(self, X):
        return X.mean(axis=0, dtype=np.float64), X.std(axis=0, dtype=np.float64)


class MinMaxScale(_Scaler):
    """Frozen per-feature min-max scaling to ``[0, 1]``: ``y = (x - min) / (max - min)``, fitted on
    training data. Shapes: ``x, y (N, D)``; ``shift = min``, ``scale = max - min`` are ``(D,)``."""

    def _statistics(self, X):
        lo = X.min(axis=0).astype(np.float64)
        return lo, X.max(axis=0) - lo


LAYER_TYPES: dict[str, type[Layer]] = {cls.__name__: cls for cls in (
    Dense, Identity, Sigmoid, ReLU, LeakyReLU, Tanh, BatchNorm, LayerNorm, Dropout, Standardize, MinMaxScale)}
