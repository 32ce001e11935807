"""The fast tier: subclasses of the reference layers and loss that compute the same numbers faster.

Read :mod:`mlplab.layers` and :mod:`mlplab.losses` to learn what a layer computes; this module is
about *how fast*. Each class here subclasses its reference class and overrides only ``forward`` and
``backward`` (Dense also ``backward_parameters``), with the measures of ``docs/performance.md``:

* **reused arrays**: in training mode, outputs and input gradients go into arrays the object keeps in
  ``self.scratch`` and hands out again at its next call (no allocation per mini-batch, and the memory
  stays in the CPU cache). Such an array is valid until the object's next training-mode
  ``forward`` or ``backward``; copy it to keep it. Evaluation mode (``training=False``, predictions)
  always returns new arrays.
* **Dense**: bias gradient ``Σ_n dy_n`` as the product ``1ᵀ dy`` (one BLAS call);
  ``backward_parameters`` skips ``dx = dy W``, which the first layer of a network does not need.
* **ReLU**: ``max(x, zeros)`` against an array of zeros; backward multiplies by ``[y > 0]`` as 0.0/1.0.
* **Sigmoid, Tanh**: the derivative in three in-place passes over one array.
* **Dropout**: the reference's uniform draws into a reused array, the kept set as booleans, two
  in-place passes (bit for bit the reference's numbers).
* **Standardize, MinMaxScale**: the statistics cast to the input's dtype once, two in-place passes.
* **SoftmaxCrossEntropy**: row maxima read at ``argmax``, row sums as one BLAS product, ``exp`` in
  place, ``p`` formed in ``backward``, label range checked with one reduction.

Every class is tested equal to its reference class (``tests/test_fast_paths.py``). The classes
keep their reference names (``mlplab.fast.Dense`` is a ``mlplab.layers.Dense``), so a saved model
file records ``"Dense"`` whichever tier wrote it, and :func:`mlplab.io.load` builds the fast tier.

**Compiled kernels** (``pip install mlplab[fast]``, Numba; :mod:`mlplab._kernels`). Where Numba is
installed (and ``MLPLAB_NUMBA`` is not ``0``), a training step also runs these fused kernels, each one
loop over the data where NumPy makes several calls:

* a ``Dense`` layer followed by ``ReLU``, ``Sigmoid`` or ``Tanh`` (:meth:`Dense.forward_act`,
  :meth:`Dense.backward_act`, called by :class:`mlplab.Sequential` for such pairs in training mode):
  ``a = f(x Wᵀ + b)`` as one BLAS product then ``bias_act`` (bias and activation in one pass); backward
  ``dz = da · f'(a)`` and ``db = Σ_n dz_n`` in one pass (``act_backward``), then the BLAS products
  ``dW = dzᵀ x`` and ``dx = dz W``;
* :class:`SoftmaxCrossEntropy` with integer labels and no sample weights (label smoothing included):
  loss, ``∂L/∂s`` and the row maxima in one pass per row (``softmax_xent``);
* :class:`Adam`, :class:`AdamW` and :class:`SGD` (``to_tier(optimizer, "fast")``, which the Trainer
  does): the update in one pass over the flat parameters instead of one NumPy call per formula line.

For a plain MLP (fast ``Dense`` layers, each optionally followed by ReLU, Sigmoid or Tanh, and the
softmax loss with integer labels) the Trainer goes one step further: :class:`TrainingStep` runs a
batch's forward, loss and backward in one call, the same kernels and products without the layers'
Python, bit for bit the layers' numbers.

Without Numba the classes run their NumPy code above; both are tested equal to the reference tier
(``tests/test_fused.py``: whole ``Trainer.fit`` runs compiled, NumPy fast and reference). The first
use in a process loads the compiled code from Numba's on-disk cache (~0.4 s) or compiles it on the
machine's first run (~2.5 s): ``python -m benchmarks.kernels``.

Switching: ``mlp(..., tier="reference")``, ``Sequential(layers, tier=...)``,
``model.to_tier("reference" | "fast")`` or :func:`to_tier` for one layer, loss or optimizer.
"""
from __future__ import annotations

import types

import numpy as np

from . import _kernels
from . import functional as F
from . import layers as L
from . import losses as R
from . import optim as O
from . import sparse as _sparse
from ._validation import check_choice

__all__ = ["Dense", "Sigmoid", "Tanh", "ReLU", "Dropout", "Standardize", "MinMaxScale", "SoftmaxCrossEntropy",
           "SGD", "Adam", "AdamW", "TIERS",
           "FAST_CLASSES", "to_tier", "kernels"]

#: the two tiers: "fast" (this module, the default) and "reference" (mlplab.layers, mlplab.losses)
TIERS = ("fast", "reference")


def kernels() -> types.SimpleNamespace | None:
    """The compiled kernels (:mod:`mlplab._kernels`) where Numba is installed and ``MLPLAB_NUMBA`` is not
    ``0``/``false``/``no`` (read at every call, so a test or a user can switch them off), else None: the
    fast tier then runs its NumPy code."""
    k = _kernels.get()
    return k if k.compiled else None


class _Scratch:
    """What every fast class shares: ``tier = "fast"`` and the arrays it reuses (``self.scratch``)."""

    tier = "fast"

    def reused(self, key: str, shape: tuple, dtype, fill=None) -> np.ndarray:
        """The array of ``shape`` and ``dtype`` kept under ``key``, handed out again at the next call.

        Contents are left from the last use; ``fill`` sets them when the array is created. A new array
        replaces the kept one when the shape changes (twice an epoch when the last mini-batch is short).
        """
        try:
            buf = self.scratch[key]
        except (AttributeError, KeyError):  # the first call with this key
            buf = None
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = np.empty(shape, dtype) if fill is None else np.full(shape, fill, dtype)
            self.__dict__.setdefault("scratch", {})[key] = buf
        return buf

    def _elementwise(self, f, x: np.ndarray, training: bool) -> np.ndarray:
        """``y = f(x)`` (``f`` takes ``out=``), in training into the reused array ``"y"``; ``y`` kept
        for backward: the forward of the activations whose derivative is written with their output."""
        out = self.reused("y", x.shape, x.dtype) if training and x.dtype.kind == "f" else None
        y = f(x, out=out)
        if training or self.keep_cache:
            self.cache = y
        return y

    def __getstate__(self) -> dict:
        # scratch space and the last batch's cache are not pickled or deep-copied
        state = dict(super().__getstate__() or {})
        state.pop("scratch", None)
        state.pop("cache", None)
        return state


class Dense(_Scratch, L.Dense):
    """:class:`mlplab.layers.Dense`, fast: output and ``dx`` in reused arrays, ``db = 1ᵀ dy``, and
    ``backward_parameters`` without ``dx = dy W``."""

    def forward(self, x, training=False):
        self.check_input(x)
        if _sparse.issparse(x):  # scipy.sparse input (a first layer), multiplied as it is: mlplab.sparse
            if training or self.keep_cache:
                self.cache = (x, x.shape)
            return _sparse.dense_forward(x, self.weight.data, self.bias.data)
        x2d = x if x.ndim == 2 else x.reshape(-1, self.in_features)
        if training or self.keep_cache:
            self.cache = (x2d, x.shape)
        w = self.weight.data
        if training and x2d.dtype == w.dtype:  # y = x Wᵀ into this layer's reused output array
            y = np.matmul(x2d, w.T, out=self.reused("y", (x2d.shape[0], self.out_features), w.dtype))
        else:
            y = x2d @ w.T
        y += self.bias.data
        return y if x.ndim == 2 else y.reshape(*x.shape[:-1], self.out_features)

    def backward(self, dy):
        dy2d = self._parameter_gradients(dy)
        x_shape = self.cache[1]
        w = self.weight.data
        if dy2d.dtype == w.dtype:  # dx = dy W into this layer's reused array
            dx = np.matmul(dy2d, w, out=self.reused("dx", (dy2d.shape[0], self.in_features), w.dtype))
        else:
            dx = dy2d @ w
        return dx if len(x_shape) == 2 else dx.reshape(x_shape)

    def backward_parameters(self, dy):
        """``dW`` and ``db`` only: the first layer's ``dx = dy W`` is not needed for training."""
        self._parameter_gradients(dy)

    def _parameter_gradients(self, dy: np.ndarray) -> np.ndarray:
        """``dW = dyᵀ x`` and ``db = Σ_n dy_n``, written into ``.grad``; returns ``dy`` as ``(N, M)``."""
        x2d = self.cached()[0]
        dy2d = dy if dy.ndim == 2 else dy.reshape(-1, self.out_features)
        if isinstance(x2d, np.ndarray):
            np.matmul(dy2d.T, x2d, out=self.weight.grad)
        else:  # sparse input: dW = (xᵀ dy)ᵀ (mlplab.sparse)
            _sparse.dense_weight_grad(x2d, dy2d, self.weight.grad)
        # Σ_n dy_n as the product 1ᵀ dy: a NumPy sum over the rows is 3-4x slower at these sizes
        ones = self.reused("ones", (dy2d.shape[0],), dy2d.dtype, fill=1)
        np.matmul(ones, dy2d, out=self.bias.grad)
        return dy2d

    # ---------------------------------------------------------- fused with the next layer (compiled kernels)
    def forward_act(self, x: np.ndarray, act: L.Layer, code: int, k) -> np.ndarray:
        """``act.forward(self.forward(x, True), True)`` with the bias and activation in one pass:
        ``a = f(x Wᵀ + b)`` computed as the BLAS product into ``act``'s reused output array, then
        ``k.bias_act`` in place. Leaves the same caches as the two calls (this layer ``x``, ``act``
        its output ``a``). ``code``: the activation's code in :data:`mlplab._kernels.ACTIVATIONS`."""
        w = self.weight.data
        if _sparse.issparse(x) or x.ndim != 2 or x.dtype != w.dtype:  # the unfused path handles these
            return act.forward(self.forward(x, True), True)
        self.check_input(x)
        self.cache = (x, x.shape)
        a = np.matmul(x, w.T, out=act.reused("y", (x.shape[0], self.out_features), w.dtype))
        k.bias_act(a, self.bias.data, code)
        act.cache = a
        return a

    def backward_act(self, da: np.ndarray, act: L.Layer, code: int, k, input_grad: bool = True):
        """``self.backward(act.backward(da))`` (or ``backward_parameters`` when not ``input_grad``) with
        ``dz = da · f'(a)`` and ``db = Σ_n dz_n`` in one pass (``k.act_backward``, from the output
        ``a``), then ``dW = dzᵀ x`` and ``dx = dz W`` as BLAS products."""
        a = act.cached()
        x2d = self.cached()[0]
        if (da.shape != a.shape or da.dtype != a.dtype or not da.flags.c_contiguous
                or not isinstance(x2d, np.ndarray)):
            dz = act.backward(da)
            return self.backward(dz) if input_grad else self.backward_parameters(dz)
        dz = act.reused("dx", a.shape, a.dtype)
        k.act_backward(da, a, code, dz, self.bias.grad)
        np.matmul(dz.T, x2d, out=self.weight.grad)
        if not input_grad:
            return None
        dx = np.matmul(dz, self.weight.data, out=self.reused("dx", (dz.shape[0], self.in_features), a.dtype))
        x_shape = self.cache[1]
        return dx if len(x_shape) == 2 else dx.reshape(x_shape)


class Sigmoid(_Scratch, L.Sigmoid):
    """:class:`mlplab.layers.Sigmoid`, fast: ``σ`` in four in-place passes into a reused array;
    ``dx = (1 - y) · y · dy`` in three passes over one reused array."""

    def forward(self, x, training=False):
        return self._elementwise(F.sigmoid, x, training)

    def backward(self, dy):
        y = self.cached()
        dx = self.reused("dx", y.shape, y.dtype) if dy.dtype == y.dtype else np.empty_like(dy)
        np.subtract(1.0, y, out=dx)
        dx *= y
        dx *= dy
        return dx


class Tanh(_Scratch, L.Tanh):
    """:class:`mlplab.layers.Tanh`, fast: output and ``dx = (1 - y²) · dy`` in reused arrays, the
    latter in three passes over one array."""

    def forward(self, x, training=False):
        return self._elementwise(np.tanh, x, training)

    def backward(self, dy):
        y = self.cached()
        dx = self.reused("dx", y.shape, y.dtype) if dy.dtype == y.dtype else np.empty_like(dy)
        np.multiply(y, y, out=dx)
        np.subtract(1.0, dx, out=dx)
        dx *= dy
        return dx


class ReLU(_Scratch, L.ReLU):
    """:class:`mlplab.layers.ReLU`, fast: ``max(x, zeros)`` into a reused array; ``dx = dy · [y > 0]``
    (the same set as ``x > 0``) with the mask as 0.0/1.0 in the gradient's dtype."""

    def forward(self, x, training=False):
        if training and x.dtype.kind == "f":
            # max(x, 0) against an array of zeros: NumPy's maximum with a scalar 0 takes a loop
            # that is 3x slower than with an array operand
            zeros = self.reused("zeros", x.shape, x.dtype, fill=0)
            y = np.maximum(x, zeros, out=self.reused("y", x.shape, x.dtype))
        else:
            y = np.maximum(x, 0)
        if training or self.keep_cache:
            self.cache = y
        return y

    def backward(self, dy):
        y = self.cached()
        mask = np.greater(y, 0, out=self.reused("mask", y.shape, np.bool_))
        if dy.dtype != y.dtype:
            return dy * mask
        # [y > 0] as 0.0/1.0 in the gradient's dtype, then one float multiply: faster than
        # multiplying by the boolean mask, which NumPy casts element by element
        mask01 = self.reused("mask01", y.shape, y.dtype)
        np.copyto(mask01, mask)
        return np.multiply(dy, mask01, out=self.reused("dx", y.shape, y.dtype))


class SoftmaxCrossEntropy(_Scratch, R.SoftmaxCrossEntropy):
    """:class:`mlplab.losses.SoftmaxCrossEntropy`, fast. The same formulas, computed as::

        m_n = s_{n, argmax_k s_nk}             (the row maximum, read where argmax points)
        e = exp(s - m) in place,  Σ_k e_nk = e·1  (one BLAS product)
        L_n = log Σ_k e_nk - (s_{n, y_n} - m_n)    (integer labels: one gather at flat indices)
        ∂L/∂s = e / Σ_k e_k - t                  (p formed in backward)

    For a short last axis (10 classes) NumPy's argmax is several times faster than its max
    reduction and the product ``e·1`` than its sum, both of which loop row by row.
    """

    def forward(self, scores, y, sample_weight=None):
        scores, y = self.check_labels(scores, y)
        k = kernels() if sample_weight is None and y.ndim == 1 else None
        if k is not None and scores.dtype in (np.float32, np.float64) and scores.flags.c_contiguous and len(scores):
            # compiled: loss, ∂L/∂s and the row maxima in one pass per row (label smoothing included)
            return self._forward_compiled(k, scores, y)
        y = self.smoothed(scores, y)
        n, c = scores.shape
        row_start, ones = self._constants(n, c, scores.dtype)          # flat index of (n, 0); 1 (C,)
        m = np.take(scores.reshape(-1), row_start + np.argmax(scores, axis=1))
        shifted = scores - m[:, None]                                     # s - m
        if y.ndim == 1:
            label_index = row_start + y                                   # flat index of (n, y_n)
            label_shifted = np.take(shifted.reshape(-1), label_index)
            e = np.exp(shifted, out=shifted)                              # exp(s - m)
        else:
            label_index, e = None, np.exp(shifted)
        sum_e = e @ ones                                                  # Σ_k exp(s_k - m)
        log_sum = np.log(sum_e)
        if y.ndim == 1:
            per_sample = np.subtract(log_sum, label_shifted, out=log_sum)  # -log p_{n, y_n}
        else:
            per_sample = -np.sum(y * (shifted - log_sum[:, None]), axis=1)
        self._weights(sample_weight, n, scores.dtype)
        self.cache = (e, sum_e, y, label_index)
        return self._weighted_total(per_sample)

    def _forward_compiled(self, k, s: np.ndarray, labels: np.ndarray) -> float:
        """``k.softmax_xent``: ``∂L/∂s`` (mean: ÷ N) is computed here, kept for ``backward`` to return."""
        n = s.shape[0]
        self._weights(None, n, s.dtype)
        ds = np.empty_like(s)  # a new array: a caller may keep backward()'s result past the next forward
        total = k.softmax_xent(s, labels, ds, self.reused("pred", (n,), np.intp), 1.0 / self._div,
                               self.label_smoothing)
        self.cache = (ds,)
        return total / self._div

    def backward(self):
        if len(self.cached()) == 1:  # computed by the compiled forward
            return self.cache[0]
        e, sum_e, y, label_index = self.cached()
        grad = np.divide(e, sum_e[:, None])                               # p
        if label_index is not None:
            grad.reshape(-1)[label_index] -= 1                            # p - e_y
        else:
            grad -= y
        return self._scale_grad(grad)

    def _constants(self, n: int, c: int, dtype) -> tuple[np.ndarray, np.ndarray]:
        """``arange(0, n c, c)`` and ``ones(c)``, kept from one mini-batch to the next."""
        scratch = self.__dict__.get("scratch") or self.__dict__.setdefault("scratch", {})
        if scratch.get("constants_for") != (n, c, dtype):
            scratch["constants_for"] = (n, c, dtype)
            scratch["constants"] = (np.arange(0, n * c, c), np.ones(c, dtype))
        return scratch["constants"]

    @staticmethod
    def _labels_outside(y: np.ndarray, c: int) -> bool:
        # for int64 labels one reduction does it: seen as unsigned, a negative label is larger than any valid one
        if y.dtype == np.int64:
            return bool(np.maximum.reduce(y.view(np.uint64)) >= c)
        return bool(y.min() < 0 or y.max() >= c)


class Dropout(_Scratch, L.Dropout):
    """:class:`mlplab.layers.Dropout`, fast: the same uniform draws from the layer's Generator (written
    into a reused array), the kept set ``u ≥ p`` as a boolean array, and ``y = (x · keep) · 1/(1-p)``
    in two in-place passes; ``dx = (dy · keep) · 1/(1-p)``. Equal to the reference bit for bit (a kept
    element is multiplied by 1 then by the same scale). ``reuse_mask`` (gradient checks) and the float
    mask in ``self.mask`` are the reference's."""

    def forward(self, x, training=False):
        if not (training and self.p > 0 and not self.reuse_mask and x.dtype in (np.float32, np.float64)):
            return super().forward(x, training)
        u = self.rng.random(x.shape, dtype=x.dtype.type, out=self.reused("u", x.shape, x.dtype))
        keep = np.greater_equal(u, self.p, out=self.reused("keep", x.shape, np.bool_))
        y = np.multiply(x, keep, out=self.reused("y", x.shape, x.dtype))
        y *= x.dtype.type(1 / (1 - self.p))
        self.mask = None  # the reference's float mask is not formed; the cache holds the kept set
        self.cache = keep
        return y

    def backward(self, dy):
        keep = self.cached()
        if not isinstance(keep, np.ndarray) or keep.dtype != np.bool_ or dy.dtype.kind != "f":
            return super().backward(dy)
        dx = np.multiply(dy, keep, out=self.reused("dx", dy.shape, dy.dtype))
        dx *= dy.dtype.type(1 / (1 - self.p))
        return dx


class _FastScaler(_Scratch):
    """``y = (x - shift) / scale`` with ``shift`` and ``scale`` cast to the input's dtype once (the
    reference casts them at every call), in training into a reused array."""

    def forward(self, x, training=False):
        if not (self.fitted and x.dtype in (np.float32, np.float64) and x.shape[-1] == self.shift.shape[0]):
            return super().forward(x, training)   # the reference's errors and other dtypes
        cast = self.__dict__.get("scratch", {}).get("cast")
        if cast is None or cast[0] is not self.shift or cast[1] is not self.scale or cast[2].dtype != x.dtype:
            cast = (self.shift, self.scale, self.shift.astype(x.dtype), self.scale.astype(x.dtype))
            self.__dict__.setdefault("scratch", {})["cast"] = cast
        y = np.subtract(x, cast[2], out=self.reused("y", x.shape, x.dtype) if training else None)
        return np.divide(y, cast[3], out=y)


class Standardize(_FastScaler, L.Standardize):
    """:class:`mlplab.layers.Standardize`, fast: the statistics cast once, the output in a reused array,
    and ``fit`` without a float64 copy of X."""

    def _statistics(self, X):
        # the standard deviation over blocks of rows: X.std(axis=0, dtype=float64) makes a float64 copy
        # of X (376 MB for MNIST) and takes ~1 s; the same sums, block by block, take a fifth of that
        mean = X.mean(axis=0, dtype=np.float64)
        squares = np.zeros(X.shape[1])
        for start in range(0, X.shape[0], 4096):
            d = X[start:start + 4096] - mean          # (≤ 4096, D) float64
            squares += np.einsum("ij,ij->j", d, d)    # Σ_n (x_n - mean)²
        return mean, np.sqrt(squares / X.shape[0])


class MinMaxScale(_FastScaler, L.MinMaxScale):
    """:class:`mlplab.layers.MinMaxScale`, fast: the statistics cast once, the output in a reused array."""


class SGD(O.SGD):
    """:class:`mlplab.optim.SGD`; compiled: ``θ ← θ - η g`` in one pass (``k.sgd``)."""

    tier = "fast"

    def _update(self, theta, g, state, tmp):
        k = kernels()
        if k is None or theta.ndim != 1:
            return super()._update(theta, g, state, tmp)
        k.sgd(theta, g, self.lr)


class _AdamUpdate:
    """Adam's ``_update`` in one pass over a block (``k.adam``), in the order of
    :class:`mlplab.optim.Adam`: ``θ ← θ - η_t m / (√v + ε_t)``."""

    tier = "fast"

    def _update(self, theta, g, state, tmp):
        k = kernels()
        if k is None or theta.ndim != 1:
            return super()._update(theta, g, state, tmp)
        k.adam(theta, g, state["m"], state["v"], self.beta1, self.beta2, *self.step_sizes())


class Adam(_AdamUpdate, O.Adam):
    """:class:`mlplab.optim.Adam`; compiled: the update in one pass over the flat parameters."""


class AdamW(_AdamUpdate, O.AdamW):
    """:class:`mlplab.optim.AdamW`; compiled: the Adam part in one pass over the flat parameters."""


#: reference class → its fast subclass
FAST_CLASSES: dict[type, type] = {L.Dense: Dense, L.Sigmoid: Sigmoid, L.Tanh: Tanh, L.ReLU: ReLU,
                                  L.Dropout: Dropout, L.Standardize: Standardize, L.MinMaxScale: MinMaxScale,
                                  R.SoftmaxCrossEntropy: SoftmaxCrossEntropy,
                                  O.SGD: SGD, O.Adam: Adam, O.AdamW: AdamW}
#: the activations a fast Dense layer fuses with in training (:meth:`Dense.forward_act`), and their codes
FUSED_ACTIVATIONS: dict[type, int] = {ReLU: _kernels.ACTIVATIONS["relu"], Sigmoid: _kernels.ACTIVATIONS["sigmoid"],
                                      Tanh: _kernels.ACTIVATIONS["tanh"]}
_REFERENCE_CLASSES = {fast: ref for ref, fast in FAST_CLASSES.items()}


def has_tiers(obj) -> bool:
    """Whether ``obj`` is a layer or loss of a class with a reference and a fast version."""
    return type(obj) in FAST_CLASSES or type(obj) in _REFERENCE_CLASSES


def training_plan(layers) -> list[tuple[int, object, object, int]]:
    """The steps of a training pass over ``layers``: ``(i, layer, None, 0)`` for a layer run on its own,
    ``(i, dense, act, code)`` for a fast :class:`Dense` at index ``i`` followed by a fast activation of
    :data:`FUSED_ACTIVATIONS` (run by :meth:`Dense.forward_act` / :meth:`Dense.backward_act`)."""
    plan, i = [], 0
    while i < len(layers):
        layer = layers[i]
        code = FUSED_ACTIVATIONS.get(type(layers[i + 1])) if i + 1 < len(layers) else None
        if type(layer) is Dense and code is not None:
            plan.append((i, layer, layers[i + 1], code))
            i += 2
        else:
            plan.append((i, layer, None, 0))
            i += 1
    return plan


class TrainingStep:
    """Forward, loss and backward of one mini-batch of a plain MLP in one tight loop of compiled kernels
    and BLAS products: what :class:`mlplab.Trainer` runs per batch (then ``optimizer.step()``) when
    :meth:`build` finds the model and loss simple enough, instead of calling every layer. The Trainer's
    own tool: it checks the labels once per ``fit``, and the step does not check them again.
    The numbers are those of the layer-by-layer fast tier, bit for bit (the same kernels and products in
    the same order; tested in ``tests/test_fused.py``); what it saves is the Python of ~15 method calls per batch,
    most of a digits network's time besides the products.

    Per mini-batch of ``n`` rows, layers ``i = 1..L`` (``a_0 = x``; ``f_L`` the identity)::

        a_i = f_i(a_{i-1} W_iᵀ + b_i)                       (BLAS, then bias_act)
        L, ds, pred = softmax_xent(a_L, y, 1/n, ε)           (loss, ∂L/∂a_L, argmax per row)
        dz_i, db_i = act_backward(da_i, a_i, f_i)            (da_L = ds; without f_i: dz_i = da_i, db_i = 1ᵀ dz_i)
        dW_i = dz_iᵀ a_{i-1};  da_{i-1} = dz_i W_i           (BLAS; the latter for i > 1)

    The layers' ``cache`` and the loss's are not written (nothing is kept for a later ``backward``)."""

    def __init__(self, k, layers: list, loss: "SoftmaxCrossEntropy", dtype) -> None:
        self.k, self.layers, self.loss, self.dtype = k, layers, loss, dtype
        self._buffers: dict[int, tuple] = {}

    @classmethod
    def build(cls, model, loss) -> "TrainingStep | None":
        """The step for ``model`` and ``loss``, or None where it does not apply: no compiled kernels,
        a loss other than the fast :class:`SoftmaxCrossEntropy`, or a layer other than fast ``Dense``
        (each optionally followed by ``ReLU``, ``Sigmoid`` or ``Tanh``)."""
        k = kernels()
        if k is None or type(loss) is not SoftmaxCrossEntropy:
            return None
        layers = []
        for _, layer, act, code in training_plan(model.layers):
            if type(layer) is not Dense:
                return None
            layers.append((layer.weight.data, layer.bias.data, layer.weight.grad, layer.bias.grad, code))
        dtypes = {a.dtype for entry in layers for a in entry[:4]}
        if len(dtypes) != 1 or not dtypes <= {np.dtype(np.float32), np.dtype(np.float64)}:
            return None
        return cls(k, layers, loss, dtypes.pop())

    def _arrays(self, n: int) -> tuple:
        # per batch size (twice an epoch when the last batch is short): a_i, dz_i, da_{i-1}, and 1 (n,)
        if n not in self._buffers:
            dt = self.dtype
            acts = [np.empty((n, W.shape[0]), dt) for W, *_ in self.layers]
            self._buffers[n] = (acts, [np.empty_like(a) for a in acts],
                                [np.empty((n, W.shape[1]), dt) for W, *_ in self.layers], np.ones(n, dt))
        return self._buffers[n]

    def __call__(self, x: np.ndarray, y: np.ndarray, pred: np.ndarray) -> float:
        """Forward and backward of the batch ``x (n, D)`` with labels ``y (n,)`` (checked by the caller:
        integers in range), filling every weight's and bias's ``.grad``; writes the predicted classes
        into ``pred (n,)`` and returns the loss (as ``loss.forward`` would)."""
        k, layers = self.k, self.layers
        if x.dtype != self.dtype or not x.flags.c_contiguous:
            x = np.ascontiguousarray(x, self.dtype)
        n = x.shape[0]
        acts, dzs, das, ones = self._arrays(n)
        a = x
        for (W, b, _, _, code), out in zip(layers, acts):
            np.matmul(a, W.T, out=out)
            k.bias_act(out, b, code)
            a = out
        loss = self.loss
        div = n if loss.reduction == "mean" else 1.0
        da = dzs[-1]
        total = k.softmax_xent(a, y, da, pred, 1.0 / div, loss.label_smoothing)
        for i in range(len(layers) - 1, -1, -1):
            W, _, gW, gb, code = layers[i]
            if code:
                dz = dzs[i]
                k.act_backward(da, acts[i], code, dz, gb)
            else:  # no activation: dz = da, and db = 1ᵀ da as Dense.backward computes it
                dz = da
                np.matmul(ones, dz, out=gb)
            np.matmul(dz.T, acts[i - 1] if i else x, out=gW)
            if i:
                da = np.matmul(dz, W, out=das[i])
        return total / div


def to_tier(obj, tier: str):
    """Switch a layer, loss or optimizer to ``tier`` (``"fast"`` or ``"reference"``) in place and return it.

    The object keeps its parameters, buffers, state and settings and changes only its class (between
    e.g. ``mlplab.layers.Dense`` and ``mlplab.fast.Dense``, or ``mlplab.optim.Adam`` and
    ``mlplab.fast.Adam``); what the last forward kept for backward is dropped. Objects of other classes
    (layers without a fast version, such as BatchNorm, optimizers such as Momentum, or classes of your
    own) are returned unchanged.
    """
    tier = check_choice(tier, TIERS, "tier")
    cls = type(obj)
    target = FAST_CLASSES.get(cls) if tier == "fast" else _REFERENCE_CLASSES.get(cls)
    if target is not None:
        obj.__dict__.pop("cache", None)
        obj.__dict__.pop("scratch", None)
        obj.__class__ = target
    return obj
