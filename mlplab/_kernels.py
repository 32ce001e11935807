"""Fused kernels for the fast tier: one pass over memory where NumPy needs several calls.

A training step of a small network (digits: 64x80 matrices) is ~50 NumPy calls around 12 matrix
products; each call costs a few microseconds of dispatch and a pass over its arrays, and together
they cost more than the products (issue 14). Each kernel here does, in one loop over the data, what
the reference tier (:mod:`mlplab.layers`, :mod:`mlplab.losses`, :mod:`mlplab.optim`) writes as
several array expressions:

==============================  =====================================================================
kernel                          reference formula
==============================  =====================================================================
``bias_act(z, b, act)``         ``z ← f(z + b)`` in place, ``f`` = identity, ReLU, sigmoid or tanh
``act_backward(dy, y, act,      ``dz = dy · f'(z)`` from the output ``y = f(z)`` (ReLU ``[y > 0]``,
dz, db)``                       sigmoid ``y (1 − y)``, tanh ``1 − y²``), and ``db = Σ_rows dz``
``softmax_xent(s, y, ds,        ``L = Σ_n (log Σ_j e^{s_nj} − Σ_j t_nj s_nj)`` (returned; row max
pred, scale, ε=0)``             subtracted first), ``ds = scale · (softmax(s) − t)``,
                                ``pred = argmax_j s``; targets ``t = (1 − ε) onehot(y) + ε / C``
                                (label smoothing; ``ε = 0``: the one-hot rows)
``adam(θ, g, m, v, β₁, β₂,      ``m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  θ ← θ − η_t m / (√v + ε_t)``
η_t, ε_t)``                     (Kingma and Ba's efficient order, as :class:`mlplab.optim.Adam`)
``sgd(θ, g, η)``                ``θ ← θ − η g``
==============================  =====================================================================

The matrix products themselves stay with the BLAS. Arrays are C-contiguous, float32 or float64;
``act`` is one of :data:`ACTIVATIONS`' codes. A compiled kernel computes in the arrays' dtype, like
NumPy, but in its own order (one element at a time, sums accumulated in float64), so results agree
with the NumPy formulas to float rounding (tested in ``tests/test_kernels.py``), not bit for bit.

Compiled with Numba (``pip install mlplab[fast]``) when it is installed, with ``cache=True``: the
machine code is written next to this file (or to ``$NUMBA_CACHE_DIR``) on first use and loaded from
there by later processes, so only the first run pays the compilation (measured by
``python -m benchmarks.kernels``). Without Numba, or with ``MLPLAB_NUMBA=0``, :func:`get` returns
the same kernels written in NumPy.
"""
from __future__ import annotations

import functools
import math
import os
import types

import numpy as np

__all__ = ["ACTIVATIONS", "get", "numba_available", "numpy_kernels"]

#: activation codes of ``bias_act`` and ``act_backward``
ACTIVATIONS = {"identity": 0, "relu": 1, "sigmoid": 2, "tanh": 3}


# ------------------------------------------------------------------------------------ NumPy versions

def _np_bias_act(z, b, act):
    from .functional import sigmoid

    z += b
    if act == 1:
        np.maximum(z, 0, out=z)
    elif act == 2:
        sigmoid(z, out=z)
    elif act == 3:
        np.tanh(z, out=z)


def _np_act_backward(dy, y, act, dz, db):
    if act == 0:
        dz[...] = dy
    elif act == 1:
        np.multiply(dy, y > 0, out=dz)
    elif act == 2:
        np.multiply(dy, y * (1 - y), out=dz)
    else:
        np.multiply(dy, 1 - y * y, out=dz)
    np.sum(dz, axis=0, out=db)


def _np_softmax_xent(s, y, ds, pred, scale, smoothing=0.0):
    mx = s.max(axis=1, keepdims=True)
    np.subtract(s, mx, out=ds)
    np.exp(ds, out=ds)
    total = ds.sum(axis=1, keepdims=True)
    rows = np.arange(s.shape[0])
    # Σ_j t_j s_j with t = (1 - ε) onehot(y) + ε / C
    # Σ_j t_j (s_j - m) with t = (1 - ε) onehot(y) + ε / C
    target_score = (1 - smoothing) * (s[rows, y] - mx[:, 0]).astype(np.float64)
    if smoothing:
        target_score += smoothing / s.shape[1] * (s - mx).sum(axis=1, dtype=np.float64)
    loss = float(np.sum(np.log(total[:, 0]) - target_score, dtype=np.float64))
    ds /= total
    if smoothing:
        ds -= ds.dtype.type(smoothing / s.shape[1])
    ds[rows, y] -= ds.dtype.type(1 - smoothing)
    ds *= scale
    np.argmax(s, axis=1, out=pred)
    return loss


def _np_adam(theta, g, m, v, beta1, beta2, lr_t, eps_t):
    m *= beta1
    m += (1 - beta1) * g
    v *= beta2
    v += (1 - beta2) * g * g
    theta -= lr_t * m / (np.sqrt(v) + eps_t)


def _np_sgd(theta, g, lr):
    theta -= lr * g


def numpy_kernels() -> types.SimpleNamespace:
    """The kernels written in NumPy (several passes each): the fallback, and the tests' oracle."""
    return types.SimpleNamespace(bias_act=_np_bias_act, act_backward=_np_act_backward,
                                 softmax_xent=_np_softmax_xent, adam=_np_adam, sgd=_np_sgd, compiled=False)


# ------------------------------------------------------------------------------------ Numba versions

@functools.lru_cache(maxsize=1)  # compiled (or loaded from the cache) once per process, on first use
def _compile() -> types.SimpleNamespace:
    import numba

    jit = numba.njit(cache=True, nogil=True, error_model="numpy")

    @jit
    def bias_relu(z, b, zero):
        n, k = z.shape
        for i in range(n):
            for j in range(k):
                t = z[i, j] + b[j]
                z[i, j] = t if t > zero else zero

    @jit
    def bias_add(z, b):
        n, k = z.shape
        for i in range(n):
            for j in range(k):
                z[i, j] += b[j]

    @jit
    def bias_negate(z, b):
        n, k = z.shape
        for i in range(n):
            for j in range(k):
                z[i, j] = -(z[i, j] + b[j])

    @jit
    def reciprocal_one_plus(z, one):
        n, k = z.shape
        for i in range(n):
            for j in range(k):
                z[i, j] = one / (one + z[i, j])

    def bias_act(z, b, act):
        # Sigmoid and tanh keep NumPy's exp/tanh: without Intel's SVML, Numba calls the scalar libm
        # function per element, 3-4x slower than NumPy's AVX-512 loops (measured: sigmoid of 64x80
        # float32, 40 µs against 11 µs in four NumPy passes). So the sigmoid is three passes around
        # NumPy's exp, each step the one mlplab.functional.sigmoid takes (in the arrays' dtype, so the
        # same numbers): -(z + b); exp; 1 / (1 + e).
        if act == 1:
            bias_relu(z, b, z.dtype.type(0))
        elif act == 2:
            bias_negate(z, b)
            with np.errstate(over="ignore"):  # e^{-x} = inf for very negative x: σ = 0, as intended
                np.exp(z, out=z)
            reciprocal_one_plus(z, z.dtype.type(1))
        else:
            bias_add(z, b)
            if act == 3:
                np.tanh(z, out=z)

    @jit
    def act_backward(dy, y, act, dz, db):
        n, k = dy.shape
        acc = np.zeros(k)
        for i in range(n):
            for j in range(k):
                d = np.float64(dy[i, j])
                if act == 1:
                    d = d if y[i, j] > 0 else 0.0
                elif act == 2:
                    d = d * (np.float64(y[i, j]) * (1.0 - y[i, j]))
                elif act == 3:
                    d = d * (1.0 - np.float64(y[i, j]) * y[i, j])
                dz[i, j] = d
                acc[j] += dz[i, j]
        for j in range(k):
            db[j] = acc[j]

    @jit
    def softmax_xent_kernel(s, y, ds, pred, scale, smoothing):
        n, k = s.shape
        loss = 0.0
        spread = smoothing / k                  # ε / C, the smoothed targets' share of every class
        for i in range(n):
            best, arg = s[i, 0], 0
            for j in range(1, k):
                if s[i, j] > best:
                    best, arg = s[i, j], j
            pred[i] = arg
            mx = np.float64(best)
            total = 0.0
            row_sum = 0.0
            for j in range(k):
                d = s[i, j] - mx
                e = math.exp(d)
                ds[i, j] = e
                total += e
                row_sum += d
            # -Σ_j t_j log p_j = log Σ_j e^{s_j - m} - Σ_j t_j (s_j - m)   (Σ_j t_j = 1); the shifted
            # scores s_j - m, as in the loss layer, keep the rounding independent of the scores' size
            loss += math.log(total) - (1.0 - smoothing) * (s[i, y[i]] - mx) - spread * row_sum
            f = scale / total
            for j in range(k):
                ds[i, j] = ds[i, j] * f - scale * spread
            ds[i, y[i]] -= scale * (1.0 - smoothing)
        return loss

    def softmax_xent(s, y, ds, pred, scale, smoothing=0.0):
        return softmax_xent_kernel(s, y, ds, pred, float(scale), float(smoothing))

    @jit
    def adam_kernel(theta, g, m, v, beta1, c1, beta2, c2, lr_t, eps_t):
        for i in range(theta.shape[0]):  # all scalars in the arrays' dtype, as NumPy computes it
            gi = g[i]
            mi = beta1 * m[i] + c1 * gi
            vi = beta2 * v[i] + c2 * gi * gi
            m[i] = mi
            v[i] = vi
            theta[i] -= lr_t * mi / (math.sqrt(vi) + eps_t)

    def adam(theta, g, m, v, beta1, beta2, lr_t, eps_t):
        f = theta.dtype.type
        adam_kernel(theta, g, m, v, f(beta1), f(1.0 - beta1), f(beta2), f(1.0 - beta2), f(lr_t), f(eps_t))

    @jit
    def sgd_kernel(theta, g, lr):
        for i in range(theta.shape[0]):
            theta[i] -= lr * g[i]

    def sgd(theta, g, lr):
        sgd_kernel(theta, g, theta.dtype.type(lr))

    return types.SimpleNamespace(bias_act=bias_act, act_backward=act_backward, softmax_xent=softmax_xent,
                                 adam=adam, sgd=sgd, compiled=True)


def numba_available() -> bool:
    """Numba importable and not switched off with ``MLPLAB_NUMBA=0``."""
    if os.environ.get("MLPLAB_NUMBA", "1").strip().lower() in ("0", "false", "no"):
        return False
    return _numba_importable()


@functools.lru_cache(maxsize=1)  # asked at every training step: a failed import is slow to repeat
def _numba_importable() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def call_each(k: types.SimpleNamespace, dtypes=(np.float32, np.float64)) -> None:
    """Call every kernel of ``k`` once on tiny arrays of each dtype: Numba compiles (or loads from its
    cache) a kernel's machine code at its first call with those types, so this does it up front
    (``benchmarks.kernels`` times it, ``benchmarks.memory`` counts it as library memory)."""
    for dt in dtypes:
        z, b, th = np.ones((4, 3), dt), np.ones(3, dt), np.ones(5, dt)
        for act in ACTIVATIONS.values():
            k.bias_act(z.copy(), b, act)
            k.act_backward(z, z, act, z.copy(), b.copy())
        k.softmax_xent(z, np.zeros(4, np.int64), z.copy(), np.zeros(4, np.intp), 0.25, 0.0)
        k.adam(th.copy(), th, th.copy(), th.copy(), 0.9, 0.999, 1e-3, 1e-8)
        k.sgd(th.copy(), th, 0.1)


def get(prefer_compiled: bool = True) -> types.SimpleNamespace:
    """The kernels: compiled with Numba where available (and preferred), else the NumPy versions.
    ``.compiled`` says which."""
    if prefer_compiled and numba_available():
        return _compile()
    return numpy_kernels()


# ------------------------------------------------------------------------- the kernels composed

class FusedMLP:
    """A training epoch of a plain MLP composed of the kernels and the BLAS products: what the fast
    tier runs per step, here on its own so the benchmark and the tests can check it against the
    Trainer (same weights, losses and accuracies to float rounding).

    ``model``: an :class:`mlplab.Sequential` of ``Dense`` layers, each but the last followed by one
    ``ReLU``, ``Sigmoid``, ``Tanh`` or ``Identity`` (no dropout, normalization or scalers), its
    parameters in one flat array (as ``Sequential`` stores them). ``optimizer``: ``"sgd"`` or
    ``"adam"`` (no weight decay). Per mini-batch of ``n`` rows::

        z_i = a_{i-1} W_iᵀ (BLAS);  a_i = f_i(z_i + b_i) (bias_act)
        L, ds = softmax_xent(a_last, y, scale=1/n)
        dz_i, db_i = act_backward(da_i, a_i, f_i);  dW_i = dz_iᵀ a_{i-1} (BLAS);  da_{i-1} = dz_i W_i (BLAS, i > 1)
        θ ← sgd / adam(θ, g) over the flat parameter array (one call)
    """

    def __init__(self, model, optimizer: str = "adam", lr: float = 1e-3, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8) -> None:
        from . import layers as L

        acts = {L.ReLU: 1, L.Sigmoid: 2, L.Tanh: 3, L.Identity: 0}
        self.layers: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]] = []
        items = list(model.layers)
        while items:
            dense = items.pop(0)
            if not isinstance(dense, L.Dense):  # either tier (mlplab.fast subclasses the reference layers)
                raise ValueError(f"FusedMLP takes Dense layers each followed by one activation, got {dense!r}")
            act = 0
            kind = next((code for cls, code in acts.items() if items and isinstance(items[0], cls)), None)
            if kind is not None:
                items.pop(0)
                act = kind
            self.layers.append((dense.weight.data, dense.bias.data, dense.weight.grad, dense.bias.grad, act))
        params = model.parameters()
        self.theta, self.grad = params[0].data.base, params[0].grad.base
        if (self.theta is None or self.grad is None or self.theta.ndim != 1
                or self.theta.size != sum(p.data.size for p in params)):
            raise ValueError("FusedMLP needs the parameters in one flat array (Sequential's packed storage)")
        if optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
        self.optimizer, self.lr, self.beta1, self.beta2, self.eps = optimizer, lr, beta1, beta2, eps
        self.m, self.v = np.zeros_like(self.theta), np.zeros_like(self.theta)
        self.t = 0
        self._buffers: dict[int, tuple] = {}

    def _buffers_for(self, n: int, d: int):
        if n not in self._buffers:
            dt = self.theta.dtype
            acts = [np.empty((n, d), dt)] + [np.empty((n, W.shape[0]), dt) for W, *_ in self.layers]
            grads = [np.empty((n, W.shape[0]), dt) for W, *_ in self.layers]
            ins = [np.empty((n, W.shape[1]), dt) for W, *_ in self.layers]
            self._buffers[n] = (acts, grads, ins, np.empty(n, np.intp))
        return self._buffers[n]

    def train_epoch(self, X: np.ndarray, y: np.ndarray, batch_size: int, rng: np.random.Generator,
                    kernels=None) -> tuple[float, float]:
        """One epoch over ``X (N, D)``, ``y (N,)`` in the order ``rng.permutation(N)`` (as the Trainer
        draws it); returns the mean loss per sample and the training accuracy."""
        k = kernels or get()
        n = X.shape[0]
        order = rng.permutation(n)
        total, correct = 0.0, 0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            rows = idx.shape[0]
            acts, grads, ins, pred = self._buffers_for(rows, X.shape[1])
            np.take(X, idx, axis=0, out=acts[0], mode="clip")
            yb = y[idx]
            for i, (W, b, _, _, act) in enumerate(self.layers):
                np.matmul(acts[i], W.T, out=acts[i + 1])
                k.bias_act(acts[i + 1], b, act)
            da = grads[-1]
            total += k.softmax_xent(acts[-1], yb, da, pred, 1.0 / rows)
            correct += int(np.count_nonzero(pred == yb))
            for i in range(len(self.layers) - 1, -1, -1):
                W, _, gW, gb, act = self.layers[i]
                dz = grads[i]  # the output layer's is ds itself (act 0: dz = da, elementwise, in place)
                k.act_backward(da, acts[i + 1], act, dz, gb)
                np.matmul(dz.T, acts[i], out=gW)
                if i > 0:
                    da = np.matmul(dz, W, out=ins[i])
            self.t += 1
            if self.optimizer == "sgd":
                k.sgd(self.theta, self.grad, self.lr)
            else:
                root_c2 = math.sqrt(1.0 - self.beta2 ** self.t)
                k.adam(self.theta, self.grad, self.m, self.v, self.beta1, self.beta2,
                       self.lr * root_c2 / (1.0 - self.beta1 ** self.t), self.eps * root_c2)
        return total / n, correct / n
