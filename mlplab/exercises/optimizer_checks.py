"""Check a student's optimizer step by step against mlplab's optimizer on the same gradients.

Two ways of writing an optimizer are understood:

* **an object with** ``update(params, grads)`` ("Deep Learning from Scratch"): ``params`` and
  ``grads`` are dicts of name → array; the update changes ``params`` (in place, or by putting new
  arrays in the dict). Hyperparameters the check does not get as keywords are read from the
  object's attributes (``lr``, ``momentum``, ``beta1``, ``beta2``, ``eps``/``epsilon``,
  ``rho``/``decay_rate``).
* **a function** ``step(w, dw, config) -> (next_w, config)`` (CS231n's ``optim.py``), called once per
  parameter array with that array's own ``config`` dict, which holds the hyperparameters under
  CS231n's keys (``learning_rate``, ``momentum``, ``beta1``, ``beta2``, ``epsilon``, ``decay_rate``)
  and whatever state the function keeps there.

The gradients are fixed in advance (they do not depend on the parameters), seeded, with magnitudes
from 1e-9 to 1 so that where ε sits makes a difference, and the check runs ``steps`` updates.
"""
from __future__ import annotations

import math

import numpy as np

from .. import optim
from ..parameter import Parameter
from ._common import Abort, run
from .catalog import MISTAKES
from .report import CheckResult

__all__ = ["OPTIMIZER_HYPER", "check_optimizer"]

F64 = np.float64

#: hyperparameters of each optimizer the check knows, with mlplab's defaults
OPTIMIZER_HYPER = {
    "SGD": {"lr": 0.01},
    "Momentum": {"lr": 0.01, "momentum": 0.9},
    "Nesterov": {"lr": 0.01, "momentum": 0.9},
    "AdaGrad": {"lr": 0.01, "eps": 1e-8},
    "RMSProp": {"lr": 0.001, "rho": 0.99, "eps": 1e-8},
    "Adam": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
}
_ATTRS = {"lr": ("lr", "learning_rate"), "momentum": ("momentum", "mu"), "beta1": ("beta1",),
          "beta2": ("beta2",), "eps": ("eps", "epsilon"), "rho": ("rho", "decay_rate", "alpha")}
_CS231N_KEYS = {"lr": "learning_rate", "momentum": "momentum", "beta1": "beta1", "beta2": "beta2",
                "eps": "epsilon", "rho": "decay_rate"}

# ---------------------------------------------------------------------- the mistaken formulas
# Each is update(theta, g, state, t, h) for one parameter array (changed in place); t counts
# steps from 1, ``h`` holds the hyperparameters; ``i`` is the array's position (for the Adam
# step-count mistake).


def _sgd_flipped(th, g, s, t, h, i, k):
    th += h["lr"] * g


def _momentum_flipped(th, g, s, t, h, i, k):
    v = s.setdefault("v", np.zeros_like(th))
    v *= h["momentum"]
    v += h["lr"] * g
    th += v


def _momentum_no_state(th, g, s, t, h, i, k):
    th -= h["lr"] * g


def _adagrad(inside=False, accumulate=True, sign=1.0):
    def f(th, g, s, t, h, i, k):
        hh = s.setdefault("h", np.zeros_like(th))
        if accumulate:
            hh += g * g
        else:
            hh[...] = g * g
        denom = np.sqrt(hh + h["eps"]) if inside else np.sqrt(hh) + h["eps"]
        th -= sign * h["lr"] * g / denom
    return f


def _rmsprop(inside=False, swapped=False, sign=1.0):
    def f(th, g, s, t, h, i, k):
        hh = s.setdefault("h", np.zeros_like(th))
        r = 1 - h["rho"] if swapped else h["rho"]
        hh[...] = r * hh + (1 - r) * g * g
        denom = np.sqrt(hh + h["eps"]) if inside else np.sqrt(hh) + h["eps"]
        th -= sign * h["lr"] * g / denom
    return f


def _adam(correct=True, eps_where="corrected", t_per_param=False, keep_state=True, sign=1.0):
    def f(th, g, s, t, h, i, k):
        if not keep_state:
            s.clear()
        m = s.setdefault("m", np.zeros_like(th))
        v = s.setdefault("v", np.zeros_like(th))
        b1, b2, eps = h["beta1"], h["beta2"], h["eps"]
        tt = (t - 1) * k + i + 1 if t_per_param else t
        m[...] = b1 * m + (1 - b1) * g
        v[...] = b2 * v + (1 - b2) * g * g
        c1, c2 = (1 - b1 ** tt, 1 - b2 ** tt) if correct else (1.0, 1.0)
        if eps_where == "uncorrected":
            step = h["lr"] * math.sqrt(c2) / c1 * m / (np.sqrt(v) + eps)
        elif eps_where == "inside":
            step = h["lr"] * (m / c1) / np.sqrt(v / c2 + eps)
        else:
            step = h["lr"] * (m / c1) / (np.sqrt(v / c2) + eps)
        th -= sign * step
    return f


MISTAKEN_UPDATES = {
    "SGD": [("sign_flipped", _sgd_flipped)],
    "Momentum": [("momentum_sign_flipped", _momentum_flipped), ("momentum_no_state", _momentum_no_state)],
    "Nesterov": [("momentum_no_state", _momentum_no_state)],
    "AdaGrad": [("eps_inside_sqrt", _adagrad(inside=True)), ("adagrad_no_accumulation", _adagrad(accumulate=False)),
                ("sign_flipped", _adagrad(sign=-1.0))],
    "RMSProp": [("eps_inside_sqrt", _rmsprop(inside=True)), ("rmsprop_rho_swapped", _rmsprop(swapped=True)),
                ("sign_flipped", _rmsprop(sign=-1.0))],
    "Adam": [("adam_no_bias_correction", _adam(correct=False)),
             ("adam_no_bias_correction", _adam(correct=False, eps_where="inside")),
             ("adam_eps_inside_sqrt", _adam(eps_where="inside")),
             ("adam_eps_uncorrected", _adam(eps_where="uncorrected")),
             ("adam_t_per_parameter", _adam(t_per_param=True)),
             ("adam_no_state", _adam(keep_state=False)),
             ("sign_flipped", _adam(sign=-1.0))],
}


# ---------------------------------------------------------------------- the problem

def _problem(seed: int, steps: int):
    """Initial parameters and the gradient of every step: ``W (3, 4)`` and ``b (4,)``, each element
    with its own gradient scale between 1e-9 and 1 (so that ε matters for some), signs that change."""
    rng = np.random.default_rng(seed)
    shapes = {"W": (3, 4), "b": (4,)}
    params = {k: rng.normal(size=s) for k, s in shapes.items()}
    size = sum(int(np.prod(s)) for s in shapes.values())
    scales = rng.permutation(np.geomspace(1e-9, 1.0, size))
    grads = []
    for _ in range(steps):
        flat = scales * (rng.normal(size=size) + 0.5)
        out, start = {}, 0
        for k, s in shapes.items():
            n = int(np.prod(s))
            out[k] = flat[start:start + n].reshape(s)
            start += n
        grads.append(out)
    return params, grads


def _reference_path(like: str, hyper: dict, params: dict, grads: list) -> list[dict]:
    ps = {k: Parameter(v.copy(), k) for k, v in params.items()}
    opt = getattr(optim, like)(list(ps.values()), **hyper)
    path = []
    for g in grads:
        for k, p in ps.items():
            p.grad[...] = g[k]
        opt.step()
        path.append({k: p.data.copy() for k, p in ps.items()})
    return path


def _formula_path(update, hyper: dict, params: dict, grads: list) -> list[dict]:
    th = {k: v.copy() for k, v in params.items()}
    state = {k: {} for k in th}
    path = []
    for t, g in enumerate(grads, start=1):
        for i, k in enumerate(th):
            update(th[k], g[k], state[k], t, hyper, i, len(th))
        path.append({k: v.copy() for k, v in th.items()})
    return path


def _close(a: dict, b: dict, tol: float) -> bool:
    return all(np.shape(a[k]) == np.shape(b[k]) and np.all(np.abs(np.asarray(a[k], F64) - b[k])
                                                           <= tol * np.maximum(1.0, np.abs(b[k]))) for k in b)


# ---------------------------------------------------------------------- the check

def _resolve_like(like: str) -> str:
    for name in OPTIMIZER_HYPER:
        if name.lower() == str(like).lower().replace("_", ""):
            return name
    raise ValueError(f"check_optimizer knows {', '.join(OPTIMIZER_HYPER)}; got like={like!r}")


def check_optimizer(student, like: str = "Adam", steps: int = 30, seed: int = 0, tol: float = 1e-9,
                    **hyper) -> CheckResult:
    """Run ``student`` and mlplab's ``like`` optimizer on the same gradients for ``steps`` steps;
    report the first step where they part, how (the element, both updates, the gradient there), and
    which classic mistake reproduces the student's whole path, if one does.

    ``student`` is an object with ``update(params, grads)`` or a function
    ``step(w, dw, config) -> (next_w, config)`` (see the module docstring). ``hyper`` are mlplab's
    names: ``lr``, ``momentum``, ``beta1``, ``beta2``, ``eps``, ``rho``.
    """
    like = _resolve_like(like)
    if isinstance(student, type):
        raise TypeError(f"pass an instance of {student.__name__} (e.g. {student.__name__}(lr=0.01)), not the class")
    known = OPTIMIZER_HYPER[like]
    unknown = sorted(set(hyper) - set(known))
    if unknown:
        raise ValueError(f"{like} has hyperparameters {', '.join(known)}; unknown: {', '.join(unknown)}")
    is_object = callable(getattr(student, "update", None))
    if not is_object and not callable(student):
        raise TypeError("student must be an object with update(params, grads) or a function "
                        "step(w, dw, config) -> (next_w, config)")
    h, defaulted = {}, []
    for k, default in known.items():
        if k in hyper:
            h[k] = float(hyper[k])
        else:
            found = next((getattr(student, a) for a in _ATTRS[k] if is_object and isinstance(
                getattr(student, a, None), (int, float))), None)
            h[k] = float(found) if found is not None else default
            if found is None and is_object:
                defaulted.append(k)
    name = type(student).__name__ if is_object else getattr(student, "__name__", "function")
    args = ", ".join(f"{k}={v:g}" for k, v in h.items())
    res = CheckResult(f"{like} check of {name}", [f"{steps} steps of {like}({args}) on 2 parameter arrays"])
    if defaulted:
        res.note("settings", f"{like}({args}); mlplab's default for {', '.join(defaulted)}: your optimizer has no "
                 f"such attribute (pass them to check_optimizer if yours differ)")

    params, grads = _problem(seed, steps)
    ref = _reference_path(like, h, params, grads)
    configs = {k: {_CS231N_KEYS[n]: v for n, v in h.items()} for k in params}
    current = {k: v.copy() for k, v in params.items()}
    student_path: list[dict] = []
    first_bad = None
    try:
        for t, g in enumerate(grads, start=1):
            g_in = {k: v.copy() for k, v in g.items()}
            before = {k: v.copy() for k, v in current.items()}
            if is_object:
                _, warn = run(res, f"step {t}", student.update, current, g_in)
            else:
                warn = []
                for k, w_k in list(current.items()):
                    out, w = run(res, f"step {t}", student, w_k, g_in[k], configs[k])
                    warn += w
                    if not (isinstance(out, tuple) and len(out) == 2):
                        res.error(f"step {t}", "the function must return (next_w, config)")
                        raise Abort
                    current[k] = out[0]
                    if isinstance(out[1], dict):
                        configs[k] = out[1]
            if warn:
                res.error(f"step {t}", f"NumPy warned: {'; '.join(sorted(set(warn)))}", key="warnings")
            if any(not np.array_equal(g[k], g_in[k]) for k in g):
                res.error("gradients", "your update changed the gradient arrays; read them, do not write to them",
                          key="grads")
            current = {k: np.array(v, dtype=F64) for k, v in current.items()}
            student_path.append({k: v.copy() for k, v in current.items()})
            if first_bad is None and not _close(current, ref[t - 1], tol):
                first_bad = (t, before)
    except Abort:
        return res

    if first_bad is None:
        return res
    # a hard-coded ε the check could not read (the book writes 1e-7 into its formulas): try common values
    if "eps" in defaulted:
        for eps in (1e-7, 1e-6, 1e-5, 1e-10):
            other = {**h, "eps": eps}
            if all(_close(s, r, tol) for s, r in zip(student_path, _reference_path(like, other, params, grads))):
                res.warning("eps", f"your updates are the reference's with ε = {eps:g} instead of mlplab's default "
                            f"{h['eps']:g}: the formula is right; pass eps={eps:g} to check against your value")
                return res
            for code, update in MISTAKEN_UPDATES.get(like, []):
                if all(_close(s, m, tol) for s, m in zip(student_path, _formula_path(update, other, params, grads))):
                    res.error("updates", MISTAKES[code].fix + f" (with your ε = {eps:g})", code)
                    return res
    t, before = first_bad
    want = ref[t - 1]
    prev_ref = ref[t - 2] if t > 1 else params
    worst_k, worst_i, worst = None, None, -1.0
    for k in want:
        got = student_path[t - 1][k]
        if got.shape != want[k].shape:
            res.error(f"step {t}", f"parameter {k} has shape {got.shape} after the update, expected {want[k].shape}")
            return res
        err = np.abs(got - want[k]) / np.maximum(1.0, np.abs(want[k]))
        i = np.unravel_index(int(np.argmax(err)), err.shape)
        if err[i] > worst:
            worst_k, worst_i, worst = k, i, float(err[i])
    k, i = worst_k, worst_i
    yours = student_path[t - 1][k][i] - before[k][i]
    theirs = want[k][i] - prev_ref[k][i]
    g_here = grads[t - 1][k][i]
    n_bad = sum(int(np.count_nonzero(np.abs(student_path[t - 1][q] - want[q]) > tol * np.maximum(1, np.abs(want[q]))))
                for q in want)
    n_all = sum(v.size for v in want.values())
    where = f"{k}[{', '.join(map(str, i))}]" if len(i) else k
    agree = f"the first {t - 1} step{'s' if t > 2 else ''} agree; " if t > 1 else ""
    res.error(f"step {t}", f"{agree}your update of {where} is {yours:.4g}, the reference's {theirs:.4g} "
              f"(gradient there {g_here:.3g}); {n_bad} of {n_all} elements differ")
    for code, update in MISTAKEN_UPDATES.get(like, []):
        if all(_close(s, m, tol) for s, m in zip(student_path, _formula_path(update, h, params, grads))):
            res.error("updates", MISTAKES[code].fix, code)
            return res
    ratio = yours / theirs if theirs != 0 else math.inf
    small = [abs(grads[t - 1][q][j]) for q in want for j in zip(*np.nonzero(
        np.abs(student_path[t - 1][q] - want[q]) > tol * np.maximum(1, np.abs(want[q]))))]
    if abs(ratio + 1) < 1e-6:
        res.error("updates", "your update has the opposite sign of the reference's: step against the gradient")
    elif small and max(small) < 1e-4 and "eps" in h:
        res.error("updates", f"they differ only where the gradient is tiny (|g| ≤ {max(small):.1e}): check ε, its value "
                  f"(the reference uses {h['eps']:g}) and where it is added")
    elif t > 1:
        res.error("updates", "the first step agrees but a later one does not: check the state kept from step to step "
                  "(velocity, squared-gradient sums, moments, the step count)")
    else:
        res.error("updates", f"the very first update differs (yours is {ratio:.4g} × the reference's there): "
                  "check the formula and the hyperparameters")
    return res
