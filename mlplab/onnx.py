"""Export to ONNX: an mlplab model as a graph of standard ONNX operators, runnable without Python.

``to_onnx(model)`` takes an engine model (:class:`mlplab.Sequential`, e.g. from :func:`mlplab.io.load`)
or a fitted :class:`mlplab.estimator.MLPClassifier` / :class:`MLPRegressor`. Each layer becomes
standard operators, in evaluation mode (the arithmetic of ``model.forward(x, training=False)``)::

    Dense            Gemm(x, W, b, transB=1)                 y = x Wᵀ + b
    Sigmoid, Tanh    Sigmoid, Tanh
    ReLU, LeakyReLU  Relu, LeakyRelu(alpha=slope)
    Identity         Identity
    BatchNorm        BatchNormalization(γ, β, running_mean, running_var, ε)
    LayerNorm        LayerNormalization(axis=-1, ε)           (opset ≥ 17; below, ReduceMean/Sub/Mul/Sqrt/Div)
    Dropout          Identity                                 (no dropout in evaluation)
    Standardize,     Mul(Sub(x, shift), 1 / scale)
    MinMaxScale

and the output head: an engine model gives ``scores`` and ``probabilities = Softmax(scores)`` (what
``Sequential.predict_proba`` returns); a classifier gives ``label`` and ``probabilities`` as its
``predict`` and ``predict_proba`` (softmax, or sigmoid for binary and multilabel targets); a
regressor gives ``variable`` (``Exp`` of the scores for ``loss="poisson"``).

The estimators also convert with skl2onnx, alone or inside scikit-learn pipelines
(``skl2onnx.to_onnx(pipeline, X[:1])``): they carry skl2onnx's converter hooks (the methods
``onnx_shape_calculator`` and ``onnx_converter``, which skl2onnx looks for on any model it has no
registered converter for), which return :func:`skl2onnx_shape_calculator` and
:func:`skl2onnx_converter` here. So it works whichever of mlplab and skl2onnx is imported first, and
importing mlplab never imports skl2onnx. A classifier's ``probabilities`` are a tensor (the form
skl2onnx gives its own classifiers with ``options={"zipmap": False}``); skl2onnx's per-model options
(``zipmap``, ``nocl``) are not offered. Building graphs needs the ``onnx`` package: ``pip install "mlplab[onnx]"``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._files import atomic_open
from .layers import (BatchNorm, Dense, Dropout, Identity, LayerNorm, LeakyReLU, ReLU, Sigmoid, Tanh,
                     _Scaler)
from .model import Sequential

__all__ = ["to_onnx", "DEFAULT_OPSET", "skl2onnx_shape_calculator", "skl2onnx_converter"]

#: the ONNX opset of an exported graph unless ``opset`` says otherwise (LayerNormalization needs 17)
DEFAULT_OPSET = 17


def _onnx():
    try:
        import onnx
    except ImportError as exc:
        raise ImportError("exporting to ONNX needs the 'onnx' package, an optional extra of mlplab: "
                          'pip install "mlplab[onnx]" (or pip install onnx)') from exc
    return onnx


# ---------------------------------------------------------------------------- graph builders

class _Graph:
    """Collects the nodes and initializers of one graph; values are cast to one float ``dtype``."""

    def __init__(self, dtype, opset: int) -> None:
        self.onnx = _onnx()
        self.dtype, self.opset = np.dtype(dtype), int(opset)
        self.nodes, self.initializers, self._names = [], [], set()
        self.ml_domain = False

    def name(self, base: str) -> str:
        name, i = base, 0
        while name in self._names:
            i += 1
            name = f"{base}_{i}"
        self._names.add(name)
        return name

    def const(self, base: str, value, dtype=None) -> str:
        """An initializer holding ``value`` (in the graph's float dtype unless ``dtype`` is given)."""
        name = self.name(base)
        arr = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        if arr.dtype.kind in "UO":
            tensor = self.onnx.helper.make_tensor(name, self.onnx.TensorProto.STRING, arr.shape,
                                                  [str(v).encode("utf-8") for v in arr.ravel()])
        else:
            tensor = self.onnx.numpy_helper.from_array(arr, name)
        self.initializers.append(tensor)
        return name

    def node(self, op: str, inputs: list[str], domain: str = "", output: str | None = None, **attrs) -> str:
        out = self.name(output or op.lower())
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [out], name=self.name(f"{op}_node"),
                                                     domain=domain, **attrs))
        if domain == "ai.onnx.ml":
            self.ml_domain = True
        return out


class _Skl2onnxGraph(_Graph):
    """The same interface writing into skl2onnx's container (for converters inside a pipeline)."""

    def __init__(self, scope, container, dtype) -> None:
        super().__init__(dtype, container.target_opset)
        self.scope, self.container = scope, container

    def name(self, base: str) -> str:
        return self.scope.get_unique_variable_name(base)

    def const(self, base: str, value, dtype=None) -> str:
        name = self.name(base)
        arr = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        if arr.dtype.kind in "UO":
            self.container.add_initializer(name, self.onnx.TensorProto.STRING, list(arr.shape),
                                           [str(v).encode("utf-8") for v in arr.ravel()])
        else:
            onnx_type = self.onnx.helper.np_dtype_to_tensor_dtype(arr.dtype)
            self.container.add_initializer(name, onnx_type, list(arr.shape), arr.ravel().tolist())
        return name

    def node(self, op, inputs, domain="", output=None, **attrs) -> str:
        out = output if output is not None else self.name(op.lower())
        self.container.add_node(op, inputs, [out], op_domain=domain, op_version=1 if domain else None,
                                name=self.scope.get_unique_operator_name(op), **attrs)
        return out


# ---------------------------------------------------------------------------- layers

def _layer(g: _Graph, layer, x: str) -> str:
    """Nodes computing ``layer.forward(x, training=False)``; returns the output's name."""
    if isinstance(layer, Dense):
        w = g.const("W", layer.weight.data)
        b = g.const("b", layer.bias.data)
        return g.node("Gemm", [x, w, b], transB=1)
    if isinstance(layer, Sigmoid):
        return g.node("Sigmoid", [x])
    if isinstance(layer, Tanh):
        return g.node("Tanh", [x])
    if isinstance(layer, ReLU):
        return g.node("Relu", [x])
    if isinstance(layer, LeakyReLU):
        return g.node("LeakyRelu", [x], alpha=float(layer.slope))
    if isinstance(layer, (Identity, Dropout)):
        return g.node("Identity", [x])
    if isinstance(layer, BatchNorm):
        inputs = [x] + [g.const(n, a) for n, a in (("gamma", layer.gamma.data), ("beta", layer.beta.data),
                                                   ("mean", layer.running_mean), ("var", layer.running_var))]
        return g.node("BatchNormalization", inputs, epsilon=float(layer.eps))
    if isinstance(layer, LayerNorm):
        gamma, beta = g.const("gamma", layer.gamma.data), g.const("beta", layer.beta.data)
        if g.opset >= 17:
            return g.node("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=float(layer.eps))
        # x̂ = (x - μ) / √(σ² + ε), y = γ x̂ + β with ReduceMean's axes as an attribute (opset < 18)
        xc = g.node("Sub", [x, g.node("ReduceMean", [x], axes=[-1], keepdims=1)])
        var = g.node("ReduceMean", [g.node("Mul", [xc, xc])], axes=[-1], keepdims=1)
        std = g.node("Sqrt", [g.node("Add", [var, g.const("eps", layer.eps)])])
        return g.node("Add", [g.node("Mul", [g.node("Div", [xc, std]), gamma]), beta])
    if isinstance(layer, _Scaler):
        if not layer.fitted:
            raise ValueError(f"{type(layer).__name__} is not fitted: fit the model before exporting it")
        shifted = g.node("Sub", [x, g.const("shift", layer.shift)])
        return g.node("Mul", [shifted, g.const("inv_scale", 1.0 / layer.scale.astype(g.dtype))])
    raise ValueError(f"cannot export layer {type(layer).__name__} to ONNX; supported: Dense, Sigmoid, Tanh, ReLU, "
                     "LeakyReLU, Identity, Dropout, BatchNorm, LayerNorm, Standardize, MinMaxScale")


def _scores(g: _Graph, model: Sequential, x: str) -> str:
    for layer in model.layers:
        x = _layer(g, layer, x)
    return x


def _classifier_head(g: _Graph, est, scores: str, label: str | None = None,
                     probabilities: str | None = None) -> tuple[str, str]:
    """``label`` and ``probabilities`` of a fitted MLPClassifier from its scores."""
    lb = est._label_binarizer
    if lb.y_type_.startswith("multilabel"):
        proba = g.node("Sigmoid", [scores], output=probabilities)
        positive = g.node("Greater", [scores, g.const("zero", 0.0)])
        return g.node("Cast", [positive], output=label, to=g.onnx.TensorProto.INT64), proba
    if len(est.classes_) < 2:
        raise ValueError("a classifier fitted on a single class cannot be exported to ONNX")
    if lb.y_type_ == "multiclass":
        proba = g.node("Softmax", [scores], output=probabilities, axis=1)
    else:  # binary: [1 - σ(s), σ(s)]
        p = g.node("Sigmoid", [scores])
        proba = g.node("Concat", [g.node("Sub", [g.const("one", 1.0), p]), p], output=probabilities, axis=1)
    index = g.node("ArgMax", [proba], axis=1, keepdims=0)
    classes = est.classes_
    if classes.dtype.kind in "iub":
        classes_name = g.const("classes", classes.astype(np.int64), dtype=np.int64)
    else:
        classes_name = g.const("classes", classes.astype(str), dtype=object)
    label_2d = g.node("ArrayFeatureExtractor", [classes_name, index], domain="ai.onnx.ml")
    shape = g.const("shape", np.array([-1], dtype=np.int64), dtype=np.int64)
    return g.node("Reshape", [label_2d, shape], output=label), proba


def _regressor_head(g: _Graph, est, scores: str, output: str | None = None) -> str:
    return g.node("Exp" if est.out_activation_ == "exp" else "Identity", [scores], output=output)


# ---------------------------------------------------------------------------- public API

def _is_estimator(model) -> bool:
    from .estimator import _BaseMLP   # here: importing scikit-learn is not needed to export an engine model
    return isinstance(model, _BaseMLP)


def _is_classifier(est) -> bool:
    from .estimator import MLPClassifier
    return isinstance(est, MLPClassifier)


def to_onnx(model, path: str | os.PathLike | None = None, opset: int | None = None, *,
            dtype=None, name: str = "mlplab"):
    """An ONNX ``ModelProto`` computing ``model``'s predictions; also written to ``path`` if given.

    Parameters
    ----------
    model : mlplab.Sequential, or a fitted mlplab.estimator.MLPClassifier / MLPRegressor
    path : file to write (atomically), or None
    opset : ONNX opset of the graph (default :data:`DEFAULT_OPSET`); below 17, LayerNorm is
        written as elementary operators
    dtype : float type of the input ``X`` and of the computation (``float32`` or ``float64``);
        default: the model's
    name : the graph's name

    The graph's input is ``X`` of shape ``(N, n_features)``. Outputs: ``scores`` and
    ``probabilities`` (softmax) for an engine model; ``label`` and ``probabilities`` for a
    classifier; ``variable`` ``(N, n_outputs)`` for a regressor.
    """
    onnx = _onnx()
    helper = onnx.helper
    est = None
    if _is_estimator(model):
        est = model
        if not hasattr(est, "model_"):
            raise ValueError(f"This {type(est).__name__} instance is not fitted yet: fit it before exporting it")
        model = est.model_
    if not isinstance(model, Sequential):
        raise TypeError(f"to_onnx expects an mlplab Sequential model or a fitted mlplab estimator, "
                        f"got {type(model).__name__}")
    opset = DEFAULT_OPSET if opset is None else int(opset)
    if opset < 13:
        raise ValueError(f"opset must be >= 13 (ONNX 1.8, 2020), got {opset}")
    dtype = np.dtype(model.dtype if dtype is None else dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    n_features = model.n_features_in
    if n_features is None:
        raise ValueError("the model's input width is unknown (no Dense, normalization or fitted scaler layer)")
    g = _Graph(dtype, opset)
    elem = helper.np_dtype_to_tensor_dtype(dtype)
    scores = _scores(g, model, "X")
    n_out = model.n_outputs
    if est is None:
        scores = g.node("Identity", [scores], output="scores")
        proba = g.node("Softmax", [scores], output="probabilities", axis=1)
        outputs = [helper.make_tensor_value_info(scores, elem, ["N", n_out]),
                   helper.make_tensor_value_info(proba, elem, ["N", n_out])]
    elif _is_classifier(est):
        label, proba = _classifier_head(g, est, scores, label="label", probabilities="probabilities")
        multilabel = est._label_binarizer.y_type_.startswith("multilabel")
        label_type = (onnx.TensorProto.INT64 if multilabel or est.classes_.dtype.kind in "iub"
                      else onnx.TensorProto.STRING)
        n_proba = len(est.classes_)
        outputs = [helper.make_tensor_value_info(label, label_type, ["N", n_proba] if multilabel else ["N"]),
                   helper.make_tensor_value_info(proba, elem, ["N", n_proba])]
    else:
        variable = _regressor_head(g, est, scores, output="variable")
        outputs = [helper.make_tensor_value_info(variable, elem, ["N", n_out])]
    graph = helper.make_graph(g.nodes, name, [helper.make_tensor_value_info("X", elem, ["N", n_features])],
                              outputs, initializer=g.initializers)
    imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid("ai.onnx.ml", 1)] if g.ml_domain else [])
    proto = helper.make_model(graph, opset_imports=imports, producer_name="mlplab")
    proto.ir_version = min(proto.ir_version, 10)   # readable by onnxruntime releases of 2024 on
    onnx.checker.check_model(proto)
    if path is not None:
        with atomic_open(Path(path), "wb") as f:
            f.write(proto.SerializeToString())
    return proto


# ---------------------------------------------------------------------------- skl2onnx

def skl2onnx_shape_calculator(operator) -> None:
    """skl2onnx shape calculator of the mlplab estimators: the output types and shapes."""
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, Int64TensorType, StringTensorType

    est = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    tensor = DoubleTensorType if operator.inputs[0].type.__class__ is DoubleTensorType else FloatTensorType
    if _is_classifier(est):
        k = len(est.classes_)
        if est._label_binarizer.y_type_.startswith("multilabel"):
            operator.outputs[0].type = Int64TensorType([n, k])
        elif est.classes_.dtype.kind in "iub":
            operator.outputs[0].type = Int64TensorType([n])
        else:
            operator.outputs[0].type = StringTensorType([n])
        operator.outputs[1].type = tensor([n, k])
    else:
        operator.outputs[0].type = tensor([n, est.n_outputs_])


def skl2onnx_converter(scope, operator, container) -> None:
    """skl2onnx converter of the mlplab estimators: the same graph as :func:`to_onnx`, in the
    input's float type."""
    from skl2onnx.common.data_types import DoubleTensorType

    est = operator.raw_operator
    dtype = np.float64 if isinstance(operator.inputs[0].type, DoubleTensorType) else np.float32
    g = _Skl2onnxGraph(scope, container, dtype)
    scores = _scores(g, est.model_, operator.inputs[0].full_name)
    if _is_classifier(est):
        _classifier_head(g, est, scores, label=operator.outputs[0].full_name,
                         probabilities=operator.outputs[1].full_name)
    else:
        _regressor_head(g, est, scores, output=operator.outputs[0].full_name)
