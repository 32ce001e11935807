"""Checks of a student's layers against mlplab's reference layers.

Each check copies seeded values into the student's parameters (and puts the student's own values
back at the end), runs forward and backward on seeded inputs of several shapes (a batch of one,
larger batches, extreme values), compares with the reference built with the same parameters, runs a
gradient check of the student's backward against their own forward, and names classic mistakes by
comparing with what the mistaken formulas give (see :mod:`mlplab.exercises.catalog`).
"""
from __future__ import annotations

import numpy as np

from ..layers import BatchNorm, Dense, LayerNorm, LeakyReLU, ReLU, Sigmoid, Tanh
from ._common import (
    Abort,
    as_float,
    check_not_mutated,
    compare,
    gradcheck,
    report_warnings,
    run,
    same,
    tolerance,
)
from .adapters import LayerView
from .catalog import MISTAKES
from .report import CheckResult

__all__ = ["check_activation", "check_batchnorm", "check_dense", "check_dropout", "check_layernorm"]

F64 = np.float64


def _float_dtype(a) -> np.dtype:
    a = np.asarray(a)
    return a.dtype if a.dtype.kind == "f" else np.dtype(F64)


def _first_attr(obj, names, default=None):
    for n in names:
        v = getattr(obj, n, None)
        if v is not None:
            return v
    return default


class _Saved:
    """The student's arrays as they were, put back after the check."""

    def __init__(self, view: LayerView, names, extra=()) -> None:
        self.view, self.obj = view, view.obj
        self.params = {n: view.get(n).copy() for n in names if view.get(n) is not None}
        self.extra = {n: (getattr(self.obj, n).copy() if isinstance(getattr(self.obj, n, None), np.ndarray)
                          else getattr(self.obj, n, None)) for n in extra if hasattr(self.obj, n)}

    def restore(self) -> None:
        for n, v in self.params.items():
            self.view.set(n, v)
        for n, v in self.extra.items():
            setattr(self.obj, n, v)


def _gradcheck_layer(res: CheckResult, view: LayerView, x: np.ndarray, names, seed: int, training: bool = True) -> None:
    """Gradient check of the student's backward against central differences of their forward."""
    if any(_float_dtype(view.get(n)) != F64 for n in names):
        res.note("gradient check", "skipped: your parameters are not float64 (central differences need float64)")
        return
    R = np.random.default_rng(seed + 99).standard_normal(as_float(view.forward(x, training)).shape)

    def phi() -> float:
        return float(np.sum(R * as_float(view.forward(x, training))))

    phi()
    dx, _ = run(res, "backward", view.backward, R.copy())
    analytic = {"dx": as_float(dx).copy()}
    arrays = {"dx": x}
    for n in names:
        g = view.grad(n)
        if g is None or np.shape(g) != view.get(n).shape:
            continue  # missing or misshapen gradients are reported by the comparison
        analytic[view.grad_name(n)] = as_float(g).copy()
        arrays[view.grad_name(n)] = view.get(n)
    if analytic["dx"].shape != x.shape:
        del analytic["dx"], arrays["dx"]
    gradcheck(res, "", phi, analytic, arrays)


def _param_grad(res, view, canon, want, tol, case, candidates=()):
    g = view.grad(canon)
    name = view.grad_name(canon)
    if g is None:
        res.error(name, "not set by backward: backward must compute the gradient of every parameter")
        return False
    return compare(res, name, g, want, tol, case, candidates)


# ====================================================================== Dense

def check_dense(obj, seed: int = 0) -> CheckResult:
    """Check a fully-connected layer ``y = x Wᵀ + b`` (weight ``(out, in)``) or ``y = x W + b``
    (weight ``(in, out)``); the layout is found from the shapes (or, for a square weight, from the
    forward pass) and reported."""
    view = LayerView(obj, ("W", "b"))
    res = CheckResult(f"Dense check of {type(obj).__name__}")
    W, b = view.get("W"), view.get("b")
    if W is None or b is None:
        res.error("parameters", "found no weight and bias: either subclass mlplab.layers.Layer with parameters() "
                  "returning Parameters named 'weight' and 'bias', or keep arrays in attributes W and b")
        return res
    if W.ndim != 2 or b.ndim != 1 or b.shape[0] not in W.shape:
        res.error("parameters", f"weight of shape {W.shape} and bias of shape {b.shape} do not fit: the weight must "
                  "be 2-D and the bias 1-D with one entry per output")
        return res
    m = b.shape[0]
    layout = "out_in" if W.shape[0] == m and W.shape[1] != m else "in_out" if W.shape[0] != m else None
    dtype = _float_dtype(W)
    tol = tolerance(dtype)
    rng = np.random.default_rng(seed)
    saved = _Saved(view, ("W", "b"))
    try:
        Wv, bv = rng.normal(0, 0.5, W.shape), rng.normal(0, 0.5, m)
        view.set("W", Wv.astype(dtype))
        view.set("b", bv.astype(dtype))
        if layout is None:  # square: the forward pass tells which product is meant
            x = rng.normal(size=(3, m)).astype(dtype)
            y, _ = run(res, "forward", view.forward, x.copy(), True)
            layout = "in_out" if same(y, x @ Wv + bv, tol) and not same(y, x @ Wv.T + bv, tol) else "out_in"
        W_oi = Wv if layout == "out_in" else Wv.T
        d = W_oi.shape[1]
        if layout == "out_in":
            res.note("layout", f"weight stored (out, in) = {W.shape}, mlplab's and PyTorch's layout: y = x Wᵀ + b, "
                     "dW = dyᵀ x")
        else:
            res.note("layout", f"weight stored (in, out) = {W.shape}, the layout of 'Deep Learning from Scratch' and "
                     "CS231n: y = x W + b, dW = xᵀ dy (mlplab's Dense stores the transpose, (out, in))")
        ref = Dense(d, m, dtype=F64)
        ref.weight.data[...] = W_oi
        ref.bias.data[...] = bv
        cases = [("batch of 1", 1, 1.0), ("batch of 4", 4, 1.0), ("batch of 13", 13, 1.0), ("inputs ~1e4", 5, 1e4)]
        for case, n, scale in cases:
            x = (rng.normal(size=(n, d)) * scale).astype(dtype)
            dy = rng.normal(size=(n, m)).astype(dtype)
            x_in, dy_in = x.copy(), dy.copy()
            y, warn = run(res, "forward", view.forward, x_in, True, case=case)
            y = as_float(y)
            report_warnings(res, "forward", warn, case)
            check_not_mutated(res, "forward", x, x_in, case)
            x64 = x.astype(F64)
            compare(res, "forward", y, ref.forward(x64), tol, case,
                    [("forward_no_bias", x64 @ W_oi.T)], expected=f" (batch, {m})")
            dx, warn = run(res, "backward", view.backward, dy_in, case=case)
            report_warnings(res, "backward", warn, case)
            check_not_mutated(res, "backward", dy, dy_in, case)
            dy64 = dy.astype(F64)
            ref.forward(x64, training=True)
            want_dx = np.array(ref.backward(dy64))
            compare(res, "dx", dx, want_dx, tol, case, expected=f" (the shape of x, {x.shape})")
            dW = ref.weight.grad.copy() if layout == "out_in" else ref.weight.grad.T.copy()
            _param_grad(res, view, "W", dW, tol, case, [("dW_transposed", dW.T), ("dW_averaged", dW / n)])
            db = ref.bias.grad.copy()
            _param_grad(res, view, "b", db, tol, case, [
                ("db_not_summed", dy64), ("db_averaged", db / n), ("db_wrong_axis", dy64.sum(axis=1)),
                ("db_not_summed", dy64[0]), ("db_not_summed", dy64[-1])])
        if not res.mistakes & {"input_mutated"}:
            _gradcheck_layer(res, view, rng.normal(size=(3, d)).astype(dtype), ("W", "b"), seed)
    except Abort:
        pass
    finally:
        saved.restore()
    res.checked = ["forward, dx, dW, db for batches of 1, 4, 13 and inputs ~1e4", "gradient check"]
    return res


# ====================================================================== elementwise activations

def _activation_inputs(rng, shape, extreme: bool) -> np.ndarray:
    if extreme:
        x = rng.uniform(100, 1000, shape) * rng.choice([-1.0, 1.0], shape)
        x.flat[0], x.flat[-1] = 1000.0, -1000.0
        return x
    x = rng.normal(0, 2, shape)
    return np.sign(x) * (np.abs(x) + 0.05)  # away from ReLU's kink, for the gradient check


def check_activation(obj, like: str, seed: int = 0) -> CheckResult:
    """Check ReLU, Sigmoid, Tanh or LeakyReLU (``like``) against mlplab's layer."""
    view = LayerView(obj, ())
    res = CheckResult(f"{like} check of {type(obj).__name__}")
    slope = float(_first_attr(obj, ("slope", "alpha", "negative_slope", "leak"), 0.01))
    ref = {"ReLU": ReLU, "Sigmoid": Sigmoid, "Tanh": Tanh}.get(like)
    ref = LeakyReLU(slope) if like == "LeakyReLU" else ref()
    tol = tolerance(F64)
    rng = np.random.default_rng(seed)
    cases = [("batch of 1", (1, 6), False), ("batch of 5", (5, 7), False), ("inputs of ±100 to ±1000", (3, 8), True)]
    try:
        for case, shape, extreme in cases:
            x = _activation_inputs(rng, shape, extreme)
            dy = rng.normal(size=shape)
            x_in, dy_in = x.copy(), dy.copy()
            y, warn = run(res, "forward", view.forward, x_in, True, case=case)
            y = as_float(y)
            check_not_mutated(res, "forward", x, x_in, case)
            want = np.array(ref.forward(x))
            nan = like == "Sigmoid" and y is not None and y.shape == want.shape and bool(np.isnan(y).any())
            if like == "Sigmoid" and warn:
                report_warnings(res, "forward", warn, case, mistake="sigmoid_nan" if nan else "sigmoid_overflow")
            else:
                report_warnings(res, "forward", warn, case)
            if not (nan and warn):  # a NaN from overflow is named above
                compare(res, "forward", y, want, tol, case)
            dx, warn = run(res, "backward", view.backward, dy_in, case=case)
            report_warnings(res, "backward", warn, case)
            check_not_mutated(res, "backward", dy, dy_in, case)
            ref.forward(x, training=True)
            want_dx = np.array(ref.backward(dy))
            if like == "ReLU":
                on = x > 0
                cands = [("relu_mask_after", dy), ("relu_mask_from_gradient", dy * (dy > 0)),
                         ("relu_mask_inverted", dy * ~on), ("grad_not_chained", on.astype(F64))]
            elif like == "Sigmoid":
                s = want
                cands = [("grad_not_chained", s * (1 - s)), ("grad_from_input", dy * x * (1 - x)),
                         ("sigmoid_grad_missing_factor", dy * s), ("sigmoid_grad_missing_factor", dy * (1 - s))]
            elif like == "Tanh":
                cands = [("grad_not_chained", 1 - want ** 2), ("grad_from_input", dy * (1 - x ** 2))]
            else:
                cands = [("leaky_backward_no_slope", dy * (x > 0)),
                         ("grad_not_chained", np.where(x > 0, 1.0, slope))]
            compare(res, "dx", dx, want_dx, tol, case, cands)
        if not res.mistakes & {"input_mutated"}:
            _gradcheck_layer(res, view, _activation_inputs(rng, (3, 5), False), (), seed)
    except Abort:
        pass
    res.checked = ["forward and dx for a batch of 1, a batch of 5 and inputs up to ±1000", "gradient check"]
    return res


# ====================================================================== normalization

def _settings_note(res: CheckResult, obj, names: dict, values: dict) -> None:
    """Say which settings the reference was built with, and which were not found on the student's layer."""
    parts = []
    for k, attrs in names.items():
        found = any(getattr(obj, a, None) is not None for a in attrs)
        parts.append(f"{k} {values[k]:g}" + ("" if found else f" (mlplab's default: your layer has no attribute {k})"))
    res.note("settings", "reference built with " + ", ".join(parts))


def _norm_setup(view: LayerView, res: CheckResult, rng):
    gamma, beta = view.get("gamma"), view.get("beta")
    if gamma is None or beta is None:
        res.error("parameters", "found no gamma and beta: use Parameters named 'gamma' and 'beta' (mlplab style) "
                  "or attributes gamma, beta with gradients dgamma, dbeta")
        return None
    d = gamma.shape[0]
    dtype = _float_dtype(gamma)
    view.set("gamma", (1 + 0.3 * rng.normal(size=d)).astype(dtype))
    view.set("beta", (0.3 * rng.normal(size=d)).astype(dtype))
    return d, dtype


def _norm_inputs(rng, n: int, d: int, big: bool) -> np.ndarray:
    """Features of very different spreads (1e-2 to 3), so that ε and the N vs N-1 of the variance show."""
    spread = np.geomspace(1e-2, 3, d)
    offset = np.linspace(-2, 3, d) * (1e3 if big else 1)
    return rng.normal(size=(n, d)) * spread * (1e2 if big else 1) + offset


def _normalize(x, axis, eps, ddof=0):
    mu = x.mean(axis=axis, keepdims=True)
    var = x.var(axis=axis, ddof=ddof, keepdims=True) if x.shape[axis] > ddof else np.zeros_like(mu)
    return (x - mu) / np.sqrt(var + eps), var


def check_batchnorm(obj, seed: int = 0) -> CheckResult:
    """Check batch normalization: training forward/backward, running statistics, evaluation."""
    view = LayerView(obj, ("gamma", "beta"))
    res = CheckResult(f"BatchNorm check of {type(obj).__name__}")
    rng = np.random.default_rng(seed)
    saved = _Saved(view, ("gamma", "beta"), ("running_mean", "running_var"))
    momentum = float(_first_attr(obj, ("momentum",), 0.1))
    eps = float(_first_attr(obj, ("eps", "epsilon"), 1e-5))
    _settings_note(res, obj, {"momentum": ("momentum",), "eps": ("eps", "epsilon")}, {"momentum": momentum, "eps": eps})
    try:
        setup = _norm_setup(view, res, rng)
        if setup is None:
            return res
        d, dtype = setup
        tol = tolerance(dtype)
        if not (hasattr(obj, "running_mean") and hasattr(obj, "running_var")):
            res.error("running statistics", "found no attributes running_mean and running_var")
            return res
        obj.running_mean = (0.2 * rng.normal(size=d)).astype(dtype)
        obj.running_var = rng.uniform(0.5, 1.5, d).astype(dtype)
        ref = BatchNorm(d, momentum=momentum, eps=eps, dtype=F64)
        g, bt = as_float(view.get("gamma")), as_float(view.get("beta"))
        ref.gamma.data[...], ref.beta.data[...] = g, bt
        m = momentum
        for case, n, big in [("batch of 2", 2, False), ("batch of 8", 8, False), ("batch of 33", 33, False),
                             ("values ~1e3", 6, True)]:
            x = _norm_inputs(rng, n, d, big).astype(dtype)
            dy = rng.normal(size=(n, d)).astype(dtype)
            x_in, dy_in = x.copy(), dy.copy()
            rm0, rv0 = as_float(obj.running_mean).copy(), as_float(obj.running_var).copy()
            y, warn = run(res, "forward (training)", view.forward, x_in, True, case=case)
            report_warnings(res, "forward (training)", warn, case)
            check_not_mutated(res, "forward (training)", x, x_in, case)
            x64 = x.astype(F64)
            want = np.array(ref.forward(x64, training=True))
            mu, var_b, var_u = x64.mean(0), x64.var(0), x64.var(0, ddof=1)
            compare(res, "forward (training)", y, want, tol, case, [
                ("bn_unbiased_in_normalization", g * (x64 - mu) / np.sqrt(var_u + eps) + bt),
                ("bn_eps_outside_sqrt", g * (x64 - mu) / (np.sqrt(var_b) + eps) + bt)])
            rm1, rv1 = as_float(obj.running_mean), as_float(obj.running_var)
            compare(res, "running_mean", rm1, (1 - m) * rm0 + m * mu, tol, case, [
                ("bn_momentum_swapped", m * rm0 + (1 - m) * mu), ("bn_running_not_updated", rm0)])
            want_rv = (1 - m) * rv0 + m * var_u
            if not same(rv1, want_rv, tol) and same(rv1, m * rv0 + (1 - m) * var_b, tol):
                res.error("running_var", MISTAKES["bn_momentum_swapped"].fix, "bn_momentum_swapped", case)
                res.error("running_var", MISTAKES["bn_biased_running_var"].fix, "bn_biased_running_var", case)
            else:
                compare(res, "running_var", rv1, want_rv, tol, case, [
                    ("bn_biased_running_var", (1 - m) * rv0 + m * var_b),
                    ("bn_momentum_swapped", m * rv0 + (1 - m) * var_u), ("bn_running_not_updated", rv0)])
            dx, warn = run(res, "backward", view.backward, dy_in, case=case)
            report_warnings(res, "backward", warn, case)
            dy64 = dy.astype(F64)
            want_dx = np.array(ref.backward(dy64))
            compare(res, "dx", dx, want_dx, tol, case, [
                ("bn_backward_constant_stats", dy64 * g / np.sqrt(var_b + eps))])
            xhat = (x64 - mu) / np.sqrt(var_b + eps)
            _param_grad(res, view, "gamma", ref.gamma.grad.copy(), tol, case,
                        [("param_grad_not_summed", dy64 * xhat)])
            _param_grad(res, view, "beta", ref.beta.grad.copy(), tol, case, [("param_grad_not_summed", dy64)])
        for case, n in [("evaluation, batch of 1", 1), ("evaluation, batch of 6", 6)]:
            x = _norm_inputs(rng, n, d, False).astype(dtype)
            rm0, rv0 = as_float(obj.running_mean).copy(), as_float(obj.running_var).copy()
            y, warn = run(res, "forward (evaluation)", view.forward, x.copy(), False, case=case)
            report_warnings(res, "forward (evaluation)", warn, case)
            x64 = x.astype(F64)
            xhat, _ = _normalize(x64, 0, eps)
            compare(res, "forward (evaluation)", y, g * (x64 - rm0) / np.sqrt(rv0 + eps) + bt, tol, case,
                    [("bn_eval_batch_stats", g * xhat + bt)])
            if not (same(obj.running_mean, rm0, tol) and same(obj.running_var, rv0, tol)):
                res.error("running statistics", MISTAKES["bn_running_updated_in_eval"].fix,
                          "bn_running_updated_in_eval", case)
        if not res.mistakes & {"input_mutated"}:
            _gradcheck_layer(res, view, _norm_inputs(rng, 5, d, False).astype(dtype), ("gamma", "beta"), seed)
    except Abort:
        pass
    finally:
        saved.restore()
    res.checked = [(f"training forward, dx, dgamma, dbeta and running statistics (momentum {momentum:g}, eps {eps:g}) "
                   "for batches of 2, 8, 33 and values ~1e3"), "evaluation with batches of 1 and 6", "gradient check"]
    return res


def check_layernorm(obj, seed: int = 0) -> CheckResult:
    """Check layer normalization (statistics over each sample's features)."""
    view = LayerView(obj, ("gamma", "beta"))
    res = CheckResult(f"LayerNorm check of {type(obj).__name__}")
    rng = np.random.default_rng(seed)
    saved = _Saved(view, ("gamma", "beta"))
    eps = float(_first_attr(obj, ("eps", "epsilon"), 1e-5))
    _settings_note(res, obj, {"eps": ("eps", "epsilon")}, {"eps": eps})
    try:
        setup = _norm_setup(view, res, rng)
        if setup is None:
            return res
        d, dtype = setup
        tol = tolerance(dtype)
        ref = LayerNorm(d, eps=eps, dtype=F64)
        g, bt = as_float(view.get("gamma")), as_float(view.get("beta"))
        ref.gamma.data[...], ref.beta.data[...] = g, bt
        for case, n, big in [("batch of 1", 1, False), ("batch of 4", 4, False), ("batch of 13", 13, False),
                             ("values ~1e3", 5, True)]:
            # LayerNorm normalises rows: give each sample its own spread and offset
            x = (rng.normal(size=(n, d)) * np.geomspace(1e-2, 3, n)[:, None]
                 + np.linspace(-2, 3, n)[:, None] * (1e3 if big else 1)).astype(dtype)
            dy = rng.normal(size=(n, d)).astype(dtype)
            x_in, dy_in = x.copy(), dy.copy()
            y, warn = run(res, "forward", view.forward, x_in, True, case=case)
            report_warnings(res, "forward", warn, case)
            check_not_mutated(res, "forward", x, x_in, case)
            x64 = x.astype(F64)
            want = np.array(ref.forward(x64, training=True))
            xb, _ = _normalize(x64, 0, eps)
            xu, _ = _normalize(x64, -1, eps, ddof=1)
            mu, var = x64.mean(-1, keepdims=True), x64.var(-1, keepdims=True)
            compare(res, "forward", y, want, tol, case, [
                ("ln_wrong_axis", g * xb + bt), ("bn_unbiased_in_normalization", g * xu + bt),
                ("bn_eps_outside_sqrt", g * (x64 - mu) / (np.sqrt(var) + eps) + bt)])
            dx, warn = run(res, "backward", view.backward, dy_in, case=case)
            report_warnings(res, "backward", warn, case)
            dy64 = dy.astype(F64)
            compare(res, "dx", dx, np.array(ref.backward(dy64)), tol, case, [
                ("bn_backward_constant_stats", dy64 * g / np.sqrt(var + eps))])
            xhat = (x64 - mu) / np.sqrt(var + eps)
            _param_grad(res, view, "gamma", ref.gamma.grad.copy(), tol, case, [("param_grad_not_summed", dy64 * xhat)])
            _param_grad(res, view, "beta", ref.beta.grad.copy(), tol, case, [("param_grad_not_summed", dy64)])
            y_eval, _ = run(res, "forward (evaluation)", view.forward, x.copy(), False, case=case)
            compare(res, "forward (evaluation)", y_eval, want, tol, case,
                    expected=": layer norm computes the same in training and evaluation")
        if not res.mistakes & {"input_mutated"}:
            _gradcheck_layer(res, view, rng.normal(size=(3, d)).astype(dtype) * 2 + 1, ("gamma", "beta"), seed)
    except Abort:
        pass
    finally:
        saved.restore()
    res.checked = [f"forward, dx, dgamma, dbeta (eps {eps:g}) for batches of 1, 4, 13 and values ~1e3",
                   "evaluation equals training", "gradient check"]
    return res


# ====================================================================== dropout

def check_dropout(obj, seed: int = 0) -> CheckResult:
    """Check inverted dropout: drop rate, scaling of the kept units, evaluation, backward mask."""
    view = LayerView(obj, ())
    res = CheckResult(f"Dropout check of {type(obj).__name__}")
    p = _first_attr(obj, ("p", "dropout_ratio", "rate", "drop_prob", "drop_rate"))
    if p is None:
        res.error("parameters", "found no drop probability: keep it in an attribute p (or dropout_ratio)")
        return res
    p = float(p)
    rng = np.random.default_rng(seed)
    tol = tolerance(F64)
    try:
        masks = []
        for case, shape in [("batch of 1", (1, 50)), ("batch of 400", (400, 50))]:
            x = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
            dy = rng.normal(size=shape)
            x_in = x.copy()
            y, warn = run(res, "forward (training)", view.forward, x_in, True, case=case)
            report_warnings(res, "forward (training)", warn, case)
            check_not_mutated(res, "forward (training)", x, x_in, case)
            y = as_float(y)
            if y is None or y.shape != x.shape:
                res.error("forward (training)", f"shape {None if y is None else y.shape}, expected {x.shape}", case=case)
                continue
            keep = y != 0
            masks.append(keep)
            n = keep.size
            dropped = 1 - keep.mean()
            spread = 6 * np.sqrt(max(p * (1 - p), 1e-3) / n)
            if abs(dropped - p) > spread:
                if p != 0.5 and abs(dropped - (1 - p)) <= spread:
                    res.error("forward (training)", MISTAKES["dropout_keep_drop_swapped"].fix,
                              "dropout_keep_drop_swapped", case)
                else:
                    res.error("forward (training)", f"dropped {dropped:.1%} of the units, expected about p = {p:.0%}",
                              case=case, key="rate")
            scale = y[keep] / x[keep] if keep.any() else np.array([1 / (1 - p)])
            eval_y, _ = run(res, "forward (evaluation)", view.forward, x.copy(), False, case=case)
            eval_y = as_float(eval_y)
            if not np.allclose(scale, 1 / (1 - p), rtol=1e-6):
                if np.allclose(scale, 1.0, rtol=1e-6):
                    if eval_y is not None and same(eval_y, x * (1 - p), tol) and p > 0:
                        res.error("forward", MISTAKES["dropout_non_inverted"].fix, "dropout_non_inverted", case)
                    else:
                        res.error("forward (training)", MISTAKES["dropout_not_rescaled"].fix, "dropout_not_rescaled",
                                  case)
                else:
                    res.error("forward (training)", f"kept units are multiplied by {np.median(scale):.4g}, "
                              f"expected 1 / (1 - p) = {1 / (1 - p):.4g}", case=case, key="scale")
            if eval_y is not None and not same(eval_y, x, tol) and not res.mistakes & {"dropout_non_inverted"}:
                if eval_y.shape == x.shape and np.count_nonzero(eval_y == 0) > 0:
                    res.error("forward (evaluation)", MISTAKES["dropout_in_eval"].fix, "dropout_in_eval", case)
                else:
                    compare(res, "forward (evaluation)", eval_y, x, tol, case, expected=": evaluation returns x")
            # backward after a training forward with the same mask
            y2, _ = run(res, "forward (training)", view.forward, x.copy(), True, case=case)
            keep2 = as_float(y2) != 0
            dx, warn = run(res, "backward", view.backward, dy.copy(), case=case)
            report_warnings(res, "backward", warn, case)
            dx_s = as_float(dx)
            if dx_s is not None and dx_s.shape == x.shape and not np.array_equal(dx_s != 0, keep2):
                res.error("dx", MISTAKES["dropout_backward_new_mask"].fix, "dropout_backward_new_mask", case)
            elif res.mistakes & {"dropout_non_inverted", "dropout_not_rescaled"}:
                # the forward's scaling is already named; backward only has to agree with it
                compare(res, "dx", dx, dy * keep2, tol, case, expected=": dx = dy · mask, as in your forward")
            else:
                compare(res, "dx", dx, dy * keep2 / (1 - p), tol, case, [("dropout_not_rescaled", dy * keep2)])
        if len(masks) == 2:
            again, _ = run(res, "forward (training)", view.forward, np.ones((400, 50)), True)
            if np.array_equal(as_float(again) != 0, masks[1]) and 0 < p:
                res.error("forward (training)", MISTAKES["dropout_same_mask"].fix, "dropout_same_mask")
    except Abort:
        pass
    res.checked = [f"drop rate p = {p:g} and scaling on 20,000 units, a batch of 1, evaluation, backward mask"]
    return res
