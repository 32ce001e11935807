"""Shared machinery of the checks: calling student code safely, comparing arrays, naming mistakes."""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable

import numpy as np

from ..gradcheck import numerical_gradient, relative_error
from .catalog import MISTAKES
from .report import CheckResult

#: relative error above which a gradient check fails (float64, central differences with h = 1e-5)
GRADCHECK_THRESHOLD = 1e-5


class Abort(Exception):
    """The student's code raised: the finding is recorded, the rest of the check is skipped."""


def run(res: CheckResult, what: str, fn: Callable, *args, case: str | None = None, **kwargs):
    """Call student code. An exception becomes an error finding and raises :class:`Abort`; NumPy
    floating-point problems (overflow, invalid, divide by zero) are returned as warning texts."""
    with warnings.catch_warnings(record=True) as caught, np.errstate(over="warn", invalid="warn", divide="warn"):
        warnings.simplefilter("always")
        try:
            out = fn(*args, **kwargs)
        except NotImplementedError:
            res.error(what, "not implemented yet: replace `raise NotImplementedError` with your code")
            raise Abort from None
        except Exception as exc:  # noqa: BLE001 - any error in student code is a finding
            res.error(what, f"raised {type(exc).__name__}: {exc}", case=case)
            raise Abort from None
    messages = sorted({str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)})
    return out, messages


def tolerance(dtype) -> float:
    """Relative tolerance for comparing with the float64 reference."""
    return 1e-6 if np.dtype(dtype) == np.float64 else 2e-3


def as_float(a) -> np.ndarray | None:
    if a is None:
        return None
    try:
        return np.array(a, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def same(got, want, tol: float) -> bool:
    """Whether ``got`` equals ``want`` in shape and, up to ``tol`` relative to the largest ``|want|``,
    in value (NaN and inf only where ``want`` has them too)."""
    got, want = as_float(got), as_float(want)
    if got is None or want is None or got.shape != want.shape:
        return False
    if got.size == 0:
        return True
    finite = np.isfinite(want)
    if not np.array_equal(np.isfinite(got), finite) or not np.array_equal(got[~finite], want[~finite], equal_nan=True):
        return False
    if not finite.any():
        return True
    scale = max(float(np.max(np.abs(want[finite]))), 1e-12)
    return float(np.max(np.abs(got[finite] - want[finite]))) <= tol * scale


def describe_difference(got, want) -> str:
    """Plain words for how ``got`` differs from ``want`` (same shape assumed)."""
    got, want = as_float(got), as_float(want)
    if not np.isfinite(got).all():
        bad = int(np.count_nonzero(~np.isfinite(got)))
        return f"{bad} of {got.size} values are NaN or infinite"
    scale = max(float(np.max(np.abs(want))), 1e-12) if want.size else 1.0
    if got.size and not got.any():
        return "your values are all 0 (was it computed and stored?)"
    diff = np.abs(got - want)
    text = f"largest difference {float(np.max(diff)):.3g} (the correct values reach {scale:.3g})"
    big = np.abs(want) > 1e-6 * scale
    if big.any():
        ratio = got[big] / want[big]
        r = float(np.median(ratio))
        if abs(r) > 1e-12 and np.all(np.abs(ratio - r) <= 1e-6 * abs(r)) and np.allclose(got[~big], 0, atol=1e-9 * scale):
            if abs(r + 1) < 1e-6:
                return text + "; your values have the opposite sign"
            return text + f"; your values are {r:.4g} × the correct ones"
    wrong = diff > 1e-6 * scale
    if 0 < wrong.sum() < wrong.size:
        text += f"; {int(wrong.sum())} of {wrong.size} values differ"
    return text


Candidates = Iterable[tuple[str, object]]


def compare(res: CheckResult, what: str, got, want, tol: float, case: str | None = None,
            candidates: Candidates = (), expected: str = "") -> bool:
    """Record whether ``got`` equals ``want``. If not, name the first classic mistake among
    ``candidates`` (pairs of mistake code and what that mistake would give) that ``got`` equals;
    otherwise describe the difference. Returns True when ``got`` is right."""
    got_f = as_float(got)
    want = as_float(want)
    if got_f is None:
        res.error(what, f"got {type(got).__name__}, expected an array of shape {want.shape}", case=case,
                  key="type")
        return False
    if same(got_f, want, tol):
        return True
    matching = list(dict.fromkeys(code for code, mistaken in candidates
                                  if mistaken is not None and same(got_f, mistaken, tol)))
    if len(matching) == 1:
        res.error(what, MISTAKES[matching[0]].fix, mistake=matching[0], case=case)
        return False
    if matching:  # for this input several mistaken formulas give the same numbers: name none
        res.error(what, "wrong values, as either of these mistakes gives: "
                  + "; ".join(MISTAKES[c].title for c in matching), case=case, key="ambiguous")
        return False
    if got_f.shape != want.shape:
        res.error(what, f"shape {got_f.shape}, expected {want.shape}{expected}", case=case, key="shape")
    else:
        res.error(what, f"wrong values: {describe_difference(got_f, want)}", case=case, key="values")
    return False


def report_warnings(res: CheckResult, what: str, messages: list[str], case: str | None,
                    mistake: str | None = None) -> None:
    """A RuntimeWarning from student code (overflow and the like) is an error: it means a value
    went outside the floating-point range somewhere."""
    if messages:
        warned = f"NumPy warned: {'; '.join(messages)}"
        if mistake is None:
            res.error(what, warned, case=case, key="warnings")
        else:
            res.error(what, f"{MISTAKES[mistake].fix} ({warned})", mistake=mistake, case=case, key=mistake)


def check_not_mutated(res: CheckResult, what: str, before: np.ndarray, after: np.ndarray, case: str | None) -> bool:
    if not np.array_equal(before, after, equal_nan=True):
        res.error(what, MISTAKES["input_mutated"].fix, mistake="input_mutated", case=case)
        return False
    return True


def gradcheck(res: CheckResult, what_prefix: str, phi: Callable[[], float], analytic: dict[str, np.ndarray],
              arrays: dict[str, np.ndarray]) -> dict[str, float]:
    """Central-difference check of ``analytic[name]`` against ``phi`` for every array in ``arrays``
    (changed in place and restored); records a failure naming the parameter and the relative error."""
    errors = {}
    for name, arr in arrays.items():
        with np.errstate(all="ignore"):
            numeric = numerical_gradient(phi, arr)
        err = relative_error(analytic[name], numeric) if analytic[name].shape == numeric.shape else float("inf")
        errors[name] = err
        if not err <= GRADCHECK_THRESHOLD:
            res.error(f"gradient check {name}",
                      f"failed: relative error {err:.2e} between your backward and central differences of your "
                      f"own forward (should be below {GRADCHECK_THRESHOLD:.0e}){what_prefix}")
    return errors
