"""Sequential models and the ``mlp`` builder."""
from __future__ import annotations

import numbers
from typing import Iterable, Sequence

import numpy as np

from . import functional as F
from ._validation import as_generator, check_array, check_choice, resolve_dtype
from .init import default_init
from .layers import (BatchNorm, Dense, Dropout, Identity, Layer, LayerNorm, LeakyReLU, MinMaxScale, ReLU,
                     Sigmoid, Standardize, Tanh, _Scaler)
from .parameter import Parameter

__all__ = ["Sequential", "mlp", "ACTIVATIONS", "NORMS", "SCALERS"]

ACTIVATIONS = {"sigmoid": Sigmoid, "logistic": Sigmoid, "relu": ReLU, "leaky_relu": LeakyReLU,
               "tanh": Tanh, "identity": Identity}
NORMS = {"batchnorm": BatchNorm, "layernorm": LayerNorm}
SCALERS = {"standard": Standardize, "minmax": MinMaxScale}


class Sequential:
    """Layers applied in order. ``forward`` runs them first to last, ``backward`` last to first.

    The last layer's output are the *scores* (logits); :meth:`predict_proba` applies softmax.

    **Returned arrays.** ``forward(x, training=False)`` (and ``predict``, ``predict_proba``,
    ``decision_function``) always return new arrays. ``forward(x, training=True)`` and ``backward``
    return arrays that the layers reuse for speed: they stay valid until the next
    ``forward(..., training=True)`` / ``backward`` call; copy them to keep them.

    **Contiguous parameter storage.** The constructor (and :meth:`astype`) moves the values of all
    Parameters into one flat array, and their gradients into another; each ``p.data`` and ``p.grad``
    becomes a view of its piece, with the same shape, dtype and values. An optimizer then updates
    every parameter with one NumPy call per line of its formula instead of one per Parameter (see
    :mod:`mlplab.optim`). Change parameters in place (``p.data[...] = w``), as :meth:`set_state` and
    :mod:`mlplab.io` do; an array assigned to ``p.data`` works too, it is just updated on its own.
    """

    def __init__(self, layers: Iterable[Layer]) -> None:
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("Sequential needs at least one layer")
        for layer in self.layers:
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential takes mlplab layers, got {type(layer).__name__}")
        self._pack_parameters()

    def _pack_parameters(self) -> None:
        """Contiguous parameter storage (see the class docstring): copy every Parameter's ``data``
        into one flat array and its ``grad`` into another, and make them views of their pieces.
        Nothing happens if the parameters have different dtypes."""
        params = list({id(p): p for p in self.parameters()}.values())  # each Parameter once
        if not params or len({p.data.dtype for p in params}) != 1:
            return
        dtype = params[0].data.dtype
        n = sum(p.data.size for p in params)
        data, grad = np.empty(n, dtype), np.empty(n, dtype)
        start = 0
        for p in params:
            stop = start + p.data.size
            data[start:stop] = p.data.reshape(-1)
            grad[start:stop] = np.asarray(p.grad, dtype=dtype).reshape(-1)
            p.data = data[start:stop].reshape(p.data.shape)
            p.grad = grad[start:stop].reshape(p.data.shape)
            start = stop

    def __setstate__(self, state: dict) -> None:
        # pickle and deepcopy copy each parameter on its own; pack them again
        self.__dict__.update(state)
        self._pack_parameters()

    # ------------------------------------------------------------------ core
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Scores for ``x (N, D)``; ``training=True`` uses batch statistics and dropout."""
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    __call__ = forward

    def backward(self, dy: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Back-propagate ``dy = ∂L/∂scores``; fills every Parameter's ``.grad``; returns ``∂L/∂x``.

        With ``input_grad=False`` (what the Trainer uses) it returns None and skips the work that
        only ``∂L/∂x`` needs: the layers below the first layer with parameters are not visited, and
        that layer computes its parameter gradients only (:meth:`Layer.backward_parameters`; for a
        first ``Dense`` layer that saves the product ``dy W``).
        """
        layers = self.layers
        if input_grad:
            for layer in reversed(layers):
                dy = layer.backward(dy)
            return dy
        first = self._first_trainable()
        if first is None:  # nothing to train
            return None
        for i in range(len(layers) - 1, first, -1):
            dy = layers[i].backward(dy)
        layers[first].backward_parameters(dy)
        return None

    def parameters(self) -> list[Parameter]:
        return [p for layer in self.layers for p in layer.parameters()]

    def _first_trainable(self) -> int | None:
        """Index of the first layer with parameters (remembered while the layer list stays the same)."""
        layers = tuple(self.layers)
        cached = self.__dict__.get("_first_trainable_cache")
        if cached is None or cached[0] != layers:
            cached = self._first_trainable_cache = (
                layers, next((i for i, layer in enumerate(layers) if layer.parameters()), None))
        return cached[1]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    # ------------------------------------------------------------------ facts
    @property
    def dtype(self) -> np.dtype:
        params = self.parameters()
        return params[0].data.dtype if params else np.dtype(np.float32)

    @property
    def n_features_in(self) -> int | None:
        """Input width, from the first layer that knows it."""
        for layer in self.layers:
            if isinstance(layer, Dense):
                return layer.in_features
            if isinstance(layer, (BatchNorm, LayerNorm)):
                return layer.num_features
            if isinstance(layer, _Scaler) and layer.fitted:
                return int(layer.shift.shape[0])
        return None

    @property
    def n_outputs(self) -> int | None:
        for layer in reversed(self.layers):
            if isinstance(layer, Dense):
                return layer.out_features
        return None

    def astype(self, dtype) -> "Sequential":
        for layer in self.layers:
            layer.astype(dtype)
        self._pack_parameters()
        return self

    def fit_scalers(self, X: np.ndarray) -> "Sequential":
        """Fit every unfitted scaler layer on the data that reaches it (scalers come first in practice)."""
        x = X
        for layer in self.layers:
            if isinstance(layer, _Scaler) and not layer.fitted:
                layer.fit(x)
            if not any(isinstance(l, _Scaler) and not l.fitted for l in self.layers):
                break
            x = layer.forward(x, training=False)
        return self

    # ------------------------------------------------------------------ weights
    def get_state(self) -> list[np.ndarray]:
        """Copies of every parameter and buffer, in a fixed order (for restoring best weights)."""
        out = [p.data.copy() for p in self.parameters()]
        out += [b.copy() for layer in self.layers for b in layer.buffers().values()]
        return out

    def set_state(self, state: Sequence[np.ndarray]) -> None:
        params = self.parameters()
        for p, a in zip(params, state):
            p.data[...] = a
        rest = list(state[len(params):])
        for layer in self.layers:
            for name in layer.buffers():
                setattr(layer, name, rest.pop(0).copy())

    # ------------------------------------------------------------------ prediction
    def _check_input(self, X) -> np.ndarray:
        return check_array(X, "X", dtype=self.dtype, n_features=self.n_features_in)

    def decision_function(self, X, batch_size: int = 4096) -> np.ndarray:
        """Scores ``(N, C)`` in evaluation mode, computed in chunks of ``batch_size`` rows."""
        X = self._check_input(X)
        return np.concatenate([self._forward_keeping_caches(X[i:i + batch_size])
                               for i in range(0, X.shape[0], batch_size)], axis=0)

    def _forward_keeping_caches(self, x: np.ndarray) -> np.ndarray:
        """Evaluation-mode forward that leaves what each layer cached for ``backward`` as it was.

        A hand-written loop may predict (to print an accuracy, say) between a training forward and
        its backward; without this the prediction would overwrite the cached inputs and the
        backward would fail on a shape mismatch or, worse, compute wrong gradients.
        """
        saved = [{k: v for k, v in vars(layer).items() if k.startswith("_")} for layer in self.layers]
        try:
            for layer in self.layers:
                x = layer.forward(x, training=False)
        finally:
            for layer, cache in zip(self.layers, saved):
                vars(layer).update(cache)
        return x

    def predict_proba(self, X, batch_size: int = 4096) -> np.ndarray:
        """Class probabilities ``softmax(scores)``, shape ``(N, C)``."""
        return F.softmax(self.decision_function(X, batch_size))

    def predict(self, X, batch_size: int = 4096) -> np.ndarray:
        """Predicted class indices ``argmax(scores)``, shape ``(N,)``."""
        return np.argmax(self.decision_function(X, batch_size), axis=1)

    # ------------------------------------------------------------------ description
    def config(self) -> dict:
        return {"layers": [{"type": type(l).__name__, "config": l.config()} for l in self.layers]}

    def n_parameters(self) -> int:
        return int(sum(p.data.size for p in self.parameters()))

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(l) for l in self.layers)
        return f"Sequential([\n  {inner}\n])"


def mlp(n_in: int, hidden: Sequence[int], n_out: int, activation: str = "relu", norm: str | None = None,
        dropout: float = 0.0, init=None, scaler: str | None = None, leaky_slope: float = 0.01,
        dtype="float32", seed=None) -> Sequential:
    """Build a multi-layer perceptron.

    Each hidden layer is ``Dense → [norm] → activation → [Dropout]`` (the order of CS231n's
    fully-connected nets); the output layer is a plain ``Dense`` producing scores. An optional
    frozen scaler layer (``"standard"`` or ``"minmax"``) comes first; the Trainer fits it on the
    training data.

    Parameters
    ----------
    n_in, n_out : input width and number of outputs (classes).
    hidden : sizes of the hidden layers, e.g. ``[80, 70]``; may be empty (softmax regression).
    activation : ``"sigmoid"`` (alias ``"logistic"``), ``"relu"``, ``"leaky_relu"``, ``"tanh"``, ``"identity"``.
    norm : ``None``, ``"batchnorm"`` or ``"layernorm"``.
    dropout : drop probability after each hidden activation (0 = none).
    init : ``None`` (He for ReLU-like, Xavier otherwise), ``"he"``, ``"xavier"``, ``"xavier_uniform"``,
        or a number: the standard deviation of every weight ("weight scale").
    scaler : ``None``, ``"standard"`` or ``"minmax"``.
    dtype : ``"float32"`` (default) or ``"float64"``.
    seed : int, Generator or None. Weights and dropout masks all derive from it.
    """
    n_in = int(n_in)
    n_out = int(n_out)
    if n_in < 1 or n_out < 1:
        raise ValueError(f"n_in and n_out must be >= 1, got {n_in} and {n_out}")
    hidden = list(hidden)
    if any(isinstance(h, bool) or not isinstance(h, numbers.Integral) or h < 1 for h in hidden):
        raise ValueError(f"hidden layer sizes must be >= 1 and whole numbers, got {hidden}")  # 2.5 is not rounded
    hidden = [int(h) for h in hidden]
    activation = check_choice(activation, ACTIVATIONS, "activation")
    if norm is not None:
        norm = check_choice(norm, NORMS, "norm")
    if scaler is not None:
        scaler = check_choice(scaler, SCALERS, "scaler")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    dtype = resolve_dtype(dtype)
    init = default_init(activation) if init is None else init
    rng = as_generator(seed)

    layers: list[Layer] = []
    if scaler is not None:
        layers.append(SCALERS[scaler](dtype=dtype))
    width = n_in
    for h in hidden:
        layers.append(Dense(width, h, init=init, rng=rng, dtype=dtype))
        if norm is not None:
            layers.append(NORMS[norm](h, dtype=dtype))
        layers.append(LeakyReLU(leaky_slope) if activation == "leaky_relu" else ACTIVATIONS[activation]())
        if dropout > 0:
            layers.append(Dropout(dropout, rng=rng.spawn(1)[0]))
        width = h
    layers.append(Dense(width, n_out, init=init, rng=rng, dtype=dtype))
    return Sequential(layers)
