"""Sequential models and the ``mlp`` builder."""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from . import functional as F
from . import sparse as _sparse
from ._validation import (as_generator, check_array, check_choice, check_layer_sizes, check_positive_int,
                          resolve_dtype)
from .init import default_init
from .layers import (BatchNorm, Dense, Dropout, Identity, Layer, LayerNorm, LeakyReLU, MinMaxScale, ReLU,
                     Sigmoid, Standardize, Tanh, _Scaler)
from . import fast as _fast
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
    whole storage. (Parameters of different dtypes, from layers of your own, cannot share one array:
    they then stay as they are, and optimizers update them one by one.)
    """

    def __init__(self, layers: Iterable[Layer], tier: str = "fast") -> None:
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("Sequential needs at least one layer")
        for layer in self.layers:
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential takes mlplab layers, got {type(layer).__name__}")
        self.to_tier(tier)
        self._flat: FlatParameters | None = None
        self._store(self._layer_parameters())

    def _layer_parameters(self) -> list[Parameter]:
        return list({id(p): p for layer in self.layers for p in layer.parameters()}.values())

    def _store(self, params: list[Parameter]) -> FlatParameters | list[Parameter]:
        """Store ``params`` flat (the old storage, if any, is released). Parameters of different dtypes
        (layers of your own mixed with others) cannot share one array: they stay as they are."""
        if self._flat is not None:
            self._flat.release()
        if len({p.data.dtype for p in params}) > 1:
            self._flat = None
            return params
        self._flat = FlatParameters(params)
        return self._flat

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("_flat", "_plan_cache")}

    def __setstate__(self, state: dict) -> None:
        # pickle and deepcopy copy each parameter on its own; store them flat again
        self.__dict__.update(state)
        self._flat = None
        self._store(self._layer_parameters())

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
        if training:
            fused = self._compiled_plan()
            if fused is not None:  # fast tier with compiled kernels: Dense + activation pairs fused
                k, plan = fused
                for _, layer, act, code in plan:
                    x = layer.forward(x, True) if act is None else layer.forward_act(x, act, code, k)
                return x
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def _compiled_plan(self):
        """``(kernels, plan)`` when the compiled kernels are available (:func:`mlplab.fast.kernels`) and
        the model has a fast Dense + activation pair to fuse (:func:`mlplab.fast.training_plan`), else None."""
        k = _fast.kernels()
        if k is None:
            return None
        key = tuple(self.layers) + tuple(map(type, self.layers))
        cached = self.__dict__.get("_plan_cache")
        if cached is None or cached[0] != key:
            plan = _fast.training_plan(self.layers)
            cached = self._plan_cache = (key, plan if any(step[2] is not None for step in plan) else None)
        return None if cached[1] is None else (k, cached[1])

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
            fused = self._compiled_plan()
            if fused is not None:
                k, plan = fused
                for _, layer, act, code in reversed(plan):
                    dy = layer.backward(dy) if act is None else layer.backward_act(dy, act, code, k)
                return dy
            for layer in reversed(layers):
                dy = layer.backward(dy)
            return dy
        first = self._first_trainable()
        if first is None:  # nothing to train
            return None
        fused = self._compiled_plan()
        if fused is not None:
            k, plan = fused
            for i, layer, act, code in reversed(plan):
                if act is not None:
                    dy = layer.backward_act(dy, act, code, k, input_grad=i > first)
                elif i > first:
                    dy = layer.backward(dy)
                else:
                    layer.backward_parameters(dy)
                if i <= first:
                    return None
        for i in range(len(layers) - 1, first, -1):
            dy = layers[i].backward(dy)
        layers[first].backward_parameters(dy)
        return None

    def parameters(self) -> FlatParameters | list[Parameter]:
        """Every Parameter of every layer, in order (each once), as the model's flat storage: a sequence
        of Parameters with the flat arrays ``data`` and ``grad`` (stored anew if the layers changed; a
        plain list if the parameters have different dtypes)."""
        params = self._layer_parameters()
        if self._flat is not None and self._flat.holds(params):
            return self._flat
        return self._store(params)

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
        if self._flat is not None:
            self._flat.release()
        for layer in self.layers:
            layer.astype(dtype)
        self._store(self._layer_parameters())
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
        if _sparse.issparse(X):  # CSR rows, multiplied by the first Dense layer as they are
            _sparse.check_model(self)
            return _sparse.check_sparse(X, "X", dtype=self.dtype, n_features=self.n_features_in)
        return check_array(X, "X", dtype=self.dtype, n_features=self.n_features_in)

    def decision_function(self, X, batch_size: int = 4096) -> np.ndarray:
        """Scores ``(N, C)`` in evaluation mode, computed in chunks of ``batch_size`` rows."""
        batch_size = check_positive_int(batch_size, "batch_size")
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

    def _summary_rows(self) -> list[tuple[str, str, int]]:
        """``(layer, output shape, parameter count)`` per layer; ``N`` is the batch size."""
        width = self.n_features_in
        rows = []
        for layer in self.layers:
            if isinstance(layer, Dense):
                name, width = f"Dense({layer.in_features} → {layer.out_features})", layer.out_features
            elif isinstance(layer, _Scaler):
                name = f"{type(layer).__name__}({'fitted' if layer.fitted else 'not fitted yet'})"
            elif isinstance(layer, (BatchNorm, LayerNorm)):
                name = f"{type(layer).__name__}({layer.num_features})"
            else:
                name = repr(layer)
                if len(name) > 40:
                    name = type(layer).__name__
            rows.append((name, f"(N, {'?' if width is None else width})",
                         int(sum(p.data.size for p in layer.parameters()))))
        return rows

    def summary(self, print_fn=print) -> "ModelSummary":
        """A table of the layers: each layer, its output shape (``N`` = batch size), its number of
        parameters, then the total and the memory the parameter values take (their dtype's bytes; the
        gradients take as much again, an optimizer's state one or two times more).

        Prints the table with ``print_fn`` (``None``: do not print) and returns it: a ``str`` whose
        ``rows``, ``total_parameters`` and ``parameter_bytes`` hold the numbers."""
        rows = self._summary_rows()
        total = self.n_parameters()
        nbytes = int(sum(p.data.nbytes for p in {id(p): p for p in self.parameters()}.values()))
        head = ("#", "layer", "output shape", "parameters")
        body = [(str(i), n, shape, f"{count:,}") for i, (n, shape, count) in enumerate(rows)]
        w = [max(len(r[c]) for r in [head, *body]) for c in range(4)]
        line = lambda r: f"{r[0]:>{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]:>{w[3]}}"
        rule = "-" * len(line(head))
        text = "\n".join([line(head), rule, *map(line, body), rule,
                          f"total: {total:,} parameters, {_format_bytes(nbytes)} ({self.dtype})"])
        out = ModelSummary(text)
        out.rows, out.total_parameters, out.parameter_bytes = rows, total, nbytes
        if print_fn is not None:
            print_fn(text)
        return out

    def _repr_html_(self) -> str:
        """The :meth:`summary` table as HTML, for Jupyter."""
        import html

        body = "".join(f"<tr><td>{i}</td><td style='text-align:left'>{html.escape(n)}</td><td>{s}</td>"
                       f"<td>{c:,}</td></tr>" for i, (n, s, c) in enumerate(self._summary_rows()))
        nbytes = int(sum(p.data.nbytes for p in {id(p): p for p in self.parameters()}.values()))
        return ("<table><thead><tr><th>#</th><th>layer</th><th>output shape</th><th>parameters</th></tr></thead>"
                f"<tbody>{body}</tbody></table><p><b>Sequential</b>: {self.n_parameters():,} parameters, "
                f"{_format_bytes(nbytes)} ({self.dtype})</p>")


class ModelSummary(str):
    """What :meth:`Sequential.summary` returns: the table as a string, with ``rows`` (layer, output
    shape, parameters), ``total_parameters`` and ``parameter_bytes``. Its ``repr`` is one line, so a
    notebook cell ending in ``model.summary()`` does not show the printed table twice."""

    rows: list
    total_parameters: int
    parameter_bytes: int

    def __repr__(self) -> str:
        return (f"<model summary: {len(self.rows)} layers, {self.total_parameters:,} parameters, "
                f"{_format_bytes(self.parameter_bytes)}>")


def _format_bytes(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


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
    n_in = check_positive_int(n_in, "n_in")
    n_out = check_positive_int(n_out, "n_out")
    hidden = check_layer_sizes(hidden)
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
