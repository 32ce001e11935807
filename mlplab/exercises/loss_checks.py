"""Checks of a student's losses (softmax cross-entropy, mean squared error) and of the stable
elementwise functions (sigmoid, softmax) against mlplab's references."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..gradcheck import numerical_gradient, relative_error
from ..losses import MeanSquaredError, SoftmaxCrossEntropy
from ._common import (
    GRADCHECK_THRESHOLD,
    Abort,
    as_float,
    check_not_mutated,
    compare,
    report_warnings,
    run,
    same,
    tolerance,
)
from .catalog import MISTAKES
from .report import CheckResult

__all__ = ["check_function", "check_loss"]

F64 = np.float64


class _LossView:
    """A loss object (``forward(scores, y)``, ``backward()``) or a CS231n-style function
    ``f(scores, y) -> (loss, dscores)``, called the same way."""

    def __init__(self, obj) -> None:
        self.obj = obj
        self.is_function = not hasattr(obj, "forward")
        self._grad = None

    def forward(self, scores, y):
        if self.is_function:
            out = self.obj(scores, y)
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError("a loss function must return (loss, dscores)")
            loss, self._grad = out
            return loss
        return self.obj.forward(scores, y)

    def backward(self):
        return self._grad if self.is_function else self.obj.backward()


def _scalar(res: CheckResult, loss, case: str) -> float | None:
    arr = as_float(loss)
    if arr is None or arr.size != 1:
        res.error("forward", f"should return one number (the loss of the batch), got "
                  f"{'shape ' + str(arr.shape) if arr is not None else type(loss).__name__}", case=case, key="scalar")
        return None
    return float(arr.reshape(()))


def _loss_gradcheck(res: CheckResult, view: _LossView, s: np.ndarray, y: np.ndarray) -> None:
    _loss, _ = run(res, "forward", view.forward, s, y)
    grad = as_float(run(res, "backward", view.backward)[0])
    if grad is None or grad.shape != s.shape:
        return

    def phi() -> float:
        return float(as_float(view.forward(s, y)).reshape(-1)[0])

    with np.errstate(all="ignore"):
        err = relative_error(grad, numerical_gradient(phi, s))
    if not err <= GRADCHECK_THRESHOLD:
        res.error("gradient check dscores", f"failed: relative error {err:.2e} between your backward and central "
                  f"differences of your own forward (should be below {GRADCHECK_THRESHOLD:.0e})")


def check_loss(obj, like: str, seed: int = 0) -> CheckResult:
    """Check ``SoftmaxCrossEntropy`` (integer labels, mean over the batch) or ``MeanSquaredError``
    (mean over all N·C entries) forward and backward."""
    view = _LossView(obj)
    name = getattr(obj, "__name__", type(obj).__name__)
    res = CheckResult(f"{like} check of {name}")
    rng = np.random.default_rng(seed)
    tol = tolerance(F64)
    ce = like == "SoftmaxCrossEntropy"
    if ce:
        cases = [("batch of 1", 1, 4, 1.0), ("batch of 5", 5, 10, 1.0), ("batch of 16", 16, 3, 1.0),
                 ("scores ~1000", 4, 5, 1000.0)]
    else:
        cases = [("batch of 1", 1, 3, 1.0), ("batch of 6", 6, 4, 1.0), ("batch of 10, one output", 10, 1, 1.0)]
    try:
        for case, n, c, scale in cases:
            s = rng.uniform(-1, 1, (n, c)) * scale if scale > 1 else rng.normal(size=(n, c))
            y = rng.integers(0, c, n) if ce else rng.normal(size=(n, c))
            s_in, y_in = s.copy(), y.copy()
            ref = SoftmaxCrossEntropy() if ce else MeanSquaredError()
            want = ref.forward(s, y)
            want_g = np.array(ref.backward())
            loss, warn = run(res, "forward", view.forward, s_in, y_in, case=case)
            check_not_mutated(res, "forward", s, s_in, case)
            check_not_mutated(res, "forward", y, y_in, case)
            value = _scalar(res, loss, case)
            named = False
            if ce and warn and (value is None or not np.isfinite(value)):
                res.error("forward", MISTAKES["softmax_no_max"].fix + f" (NumPy warned: {'; '.join(warn)})",
                          "softmax_no_max", case)
                named = True
            else:
                report_warnings(res, "forward", warn, case)
            if value is not None and not named:
                if ce:
                    p = F.softmax(s)
                    cands = [("loss_sum_not_mean", want * n if n > 1 else None),
                             ("loss_log_clipped", float(-np.mean(np.log(p[np.arange(n), y] + 1e-7))))]
                else:
                    cands = [("loss_sum_not_mean", want * n * c if n * c > 1 else None),
                             ("mse_mean_over_batch_only", want * c if c > 1 else None),
                             ("mse_half_sum", want * n * c / 2)]
                compare(res, "forward", value, want, tol, case, cands)
            grad, warn = run(res, "backward", view.backward, case=case)
            report_warnings(res, "backward", warn, case)
            if named:
                continue
            if ce:
                cands = [("loss_grad_missing_mean", want_g * n if n > 1 else None),
                         ("ce_grad_no_target", F.softmax(s) / n)]
            else:
                cands = [("loss_grad_missing_mean", want_g * n * c if n * c > 1 else None),
                         ("mse_mean_over_batch_only", want_g * c if c > 1 else None),
                         ("mse_missing_factor_2", want_g / 2), ("mse_half_sum", want_g * n * c / 2)]
            compare(res, "dscores", grad, want_g, tol, case, cands, expected=" (the shape of the scores)")
        if not res.mistakes & {"input_mutated"}:
            s = rng.normal(size=(4, 5))
            y = rng.integers(0, 5, 4) if ce else rng.normal(size=(4, 5))
            _loss_gradcheck(res, view, s, y)
    except Abort:
        pass
    what = "integer labels, mean over the batch" if ce else "mean over all N·C entries"
    res.checked = [f"loss and dscores ({what}) for " + ", ".join(c[0] for c in cases), "gradient check"]
    return res


# ====================================================================== functions

def _naive_softmax(x, axis=-1):
    with np.errstate(all="ignore"):
        e = np.exp(x)
        return e / np.sum(e, axis=axis, keepdims=True)


def _global_max_softmax(x):
    with np.errstate(all="ignore"):
        e = np.exp(x - np.max(x))
        return e / np.sum(e, axis=-1, keepdims=True)


def check_function(f, like: str = "sigmoid", seed: int = 0) -> CheckResult:
    """Check a stable ``sigmoid(x)`` or ``softmax(x)`` (rows on the last axis) on 1-D and 2-D inputs,
    float32 and float64, moderate and extreme values."""
    like = str(like).lower()
    if like not in ("sigmoid", "softmax"):
        raise ValueError(f"check_function checks 'sigmoid' or 'softmax', got {like!r}")
    if not callable(f):
        raise TypeError(f"check_function needs your function itself, e.g. check_function({like}, like={like!r}); "
                        f"got {type(f).__name__}")
    res = CheckResult(f"{like} check of {getattr(f, '__name__', type(f).__name__)}")
    rng = np.random.default_rng(seed)
    if like == "sigmoid":
        cases = [("1-D input", rng.normal(0, 3, 7)), ("batch of 1", rng.normal(0, 3, (1, 5))),
                 ("4 rows of 6", rng.normal(0, 3, (4, 6))),
                 ("float32", rng.normal(0, 3, (3, 5)).astype(np.float32)),
                 ("inputs ±1000", np.array([[-1000.0, -750.0, -30.0, 0.0, 30.0, 750.0, 1000.0]])),
                 ("float32 inputs ±100", np.array([[-100.0, -90.0, 0.0, 90.0, 100.0]], np.float32))]
    else:
        cases = [("1-D input", rng.normal(size=5)), ("batch of 1", rng.normal(size=(1, 4))),
                 ("4 rows of 3", rng.normal(size=(4, 3))),
                 ("float32", rng.normal(size=(3, 5)).astype(np.float32)),
                 ("scores ~1000", rng.uniform(500, 1000, (3, 4))),
                 ("rows 1000 apart", np.array([[1000.0, 999.0, 998.0], [-1000.0, -1001.0, -1002.0],
                                               [0.5, 0.2, 0.1]])),
                 ("float32 scores ~100", rng.uniform(90, 100, (2, 5)).astype(np.float32))]
    for case, x in cases:
        tol = tolerance(x.dtype)
        x_in = x.copy()
        try:
            y, warn = run(res, "output", f, x_in, case=case)
        except Abort:
            continue
        check_not_mutated(res, "input", x, x_in, case)
        y_f = as_float(y)
        x64 = x.astype(F64)
        want = F.sigmoid(x64) if like == "sigmoid" else F.softmax(x64)
        if warn:
            if like == "sigmoid":
                code = "sigmoid_nan" if y_f is not None and np.isnan(y_f).any() else "sigmoid_overflow"
            else:
                code = ("softmax_no_max" if same(y_f, _naive_softmax(x), tol)
                        else "softmax_global_max" if same(y_f, _global_max_softmax(x), tol) else None)
            report_warnings(res, "output", warn, case, mistake=code)
            if code is not None and not same(y_f, want, tol):
                continue
        cands = []
        if like == "softmax":
            cands = [("softmax_no_max", _naive_softmax(x)), ("softmax_global_max", _global_max_softmax(x))]
            if x.ndim == 2 and x.shape[0] > 1:
                cands.append(("softmax_wrong_axis", F.softmax(x64, axis=0)))
        right = compare(res, "output", y, want, tol, case, cands, expected=" (the shape of the input)")
        if right and np.asarray(y).dtype != x.dtype:
            res.warning("dtype", f"returns {np.asarray(y).dtype} for {x.dtype} input; keep the input's dtype "
                        "(float32 networks stay float32)", case=case, key="dtype")
    res.checked = [("1-D and 2-D inputs, a batch of 1, float32 and float64, extreme values, no warnings, "
                   "input unchanged")]
    return res
