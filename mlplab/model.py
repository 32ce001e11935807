"""Sequential models and the ``mlp`` builder."""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from . import functional as F
from ._validation import as_generator, check_array, check_choice, resolve_dtype
from .init import default_init
from .layers import (BatchNorm, Dense, Dropout, Identity, Layer, LayerNorm, LeakyReLU, MinMaxScale, ReLU,
                     Sigmoid, Standardize, Tanh, _Scaler)
from .fast import has_tiers, to_tier
from .parameter import FlatParameters, Parameter

__all__ = ["Sequential", "mlp", "ACTIVATIONS", "NORMS", "SCALERS"]

ACTIVATIONS = {"sigmoid": Sigmoid, "logistic": Sigmoid, "relu": ReLU, "leaky_relu": LeakyReLU,
               "tanh": Tanh, "identity": Identity}
NORMS = {"batchnorm": BatchNorm, "layernorm": LayerNorm}
SCALERS = {"standard": Standardize, "minmax": MinMaxScale}


class Sequential:
    """Layers applied in order. ``forward`` runs them first to last, ``backward`` last to first.

    The last layer's output are the *scores* (logits); :meth:`predict_proba` applies softmax.

    **Tiers.** ``tier="fast"`` (the default) switches the layers that have a fast version (Dense,
    Sigmoid, Tanh, ReLU) to their :mod:`mlplab.fast` class; ``tier="reference"`` switches them to the
    plain classes of :mod:`mlplab.layers`, whose code is the formula in the docstring (for teaching,
    gradient checks and debugging). Both compute the same numbers; :meth:`to_tier` switches a model
    in place, keeping its parameters (and any optimizer built on them). A Trainer runs its loss in the
    model's tier.

    **Returned arrays.** ``forward(x, training=False)`` (and ``predict``, ``predict_proba``,
    ``decision_function``) always return new arrays and leave what the layers keep for ``backward``
    as it was. In the fast tier, ``forward(x, training=True)`` and ``backward`` return arrays that
    the layers reuse: they stay valid until the next ``forward(..., training=True)`` / ``backward``
    call; copy them to keep them.

    **Flat parameter storage.** The model keeps the values of all its Parameters in one flat array
    and their gradients in another (a :class:`mlplab.parameter.FlatParameters`, which
    :meth:`parameters` returns); each ``p.data`` and ``p.grad`` is a view of its piece, with its usual
    shape. An optimizer built on ``model.parameters()`` then updates every value with one NumPy call
    per line of its formula (see :mod:`mlplab.optim`). ``p.data[...] = w`` and ``p.data = w`` both
    copy ``w`` into the storage (``w`` must have the parameter's shape); :meth:`astype` converts the
    whole storage.
    """

    def __init__(self, layers: Iterable[Layer], tier: str = "fast") -> None:
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("Sequential needs at least one layer")
        for layer in self.layers:
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential takes mlplab layers, got {type(layer).__name__}")
        self.to_tier(tier)
        self._flat = FlatParameters(self._layer_parameters())

    def _layer_parameters(self) -> list[Parameter]:
        return list({id(p): p for layer in self.layers for p in layer.parameters()}.values())

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_flat"}

    def __setstate__(self, state: dict) -> None:
        # pickle and deepcopy copy each parameter on its own; store them flat again
        self.__dict__.update(state)
        self._flat = FlatParameters(self._layer_parameters())

    # ------------------------------------------------------------------ tiers
    @property
    def tier(self) -> str:
        """``"fast"`` or ``"reference"``: the tier of the layers that have both versions (``"mixed"``
        if they differ; ``"fast"`` if no layer has two versions, since then both are the same)."""
        tiers = {layer.tier for layer in self.layers if has_tiers(layer)}
        return "mixed" if len(tiers) > 1 else (tiers.pop() if tiers else "fast")

    def to_tier(self, tier: str) -> "Sequential":
        """Switch every layer that has two versions to ``tier`` (``"fast"`` or ``"reference"``) in place,
        keeping parameters, buffers and settings; returns self. See :mod:`mlplab.fast`."""
        for layer in self.layers:
            to_tier(layer, tier)
        return self

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

    def parameters(self) -> FlatParameters:
        """Every Parameter of every layer, in order (each once), as the model's flat storage: a sequence
        of Parameters with the flat arrays ``data`` and ``grad`` (stored anew if the layers changed)."""
        params = self._layer_parameters()
        if not self._flat.holds(params):
            self._flat = FlatParameters(params)
        return self._flat

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
        """Convert every parameter and buffer to ``dtype`` (``"float32"`` or ``"float64"``) in place; returns self."""
        self._flat.release()
        for layer in self.layers:
            layer.astype(dtype)
        self._flat = FlatParameters(self._layer_parameters())
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
        return np.concatenate([self.forward(X[i:i + batch_size], training=False)
                               for i in range(0, X.shape[0], batch_size)], axis=0)

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
        dtype="float32", seed=None, tier: str = "fast") -> Sequential:
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
    tier : ``"fast"`` (default) or ``"reference"``: which classes compute the layers (the same numbers;
        see :class:`Sequential` and :mod:`mlplab.fast`). Switch later with ``model.to_tier(...)``.
    """
    n_in = int(n_in)
    n_out = int(n_out)
    if n_in < 1 or n_out < 1:
        raise ValueError(f"n_in and n_out must be >= 1, got {n_in} and {n_out}")
    hidden = [int(h) for h in hidden]
    if any(h < 1 for h in hidden):
        raise ValueError(f"hidden layer sizes must be >= 1, got {hidden}")
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
    return Sequential(layers, tier=tier)
