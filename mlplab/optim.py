"""Optimizers and learning-rate schedules.

An optimizer is built from ``model.parameters()``; ``step()`` reads each Parameter's ``.grad``
and updates its ``.data`` in place. Notation: ``θ`` parameter, ``g`` its gradient, ``η`` the
learning rate, ``λ`` the weight decay, ``t`` the step count (1 at the first step).

**Weight decay.** Except in AdamW, ``λ > 0`` adds the L2 term to the gradient before the update:
``g ← g + λ θ`` (the gradient of ``½ λ ‖θ‖²``). It applies to Parameters with ``decay=True``
(weight matrices), not to biases or normalization parameters, unless ``decay_all=True``.

Each optimizer keeps its state per Parameter in ``self.state`` (a list of dicts, one per
Parameter in the order given) and can save and restore it with ``state_dict`` /
``load_state_dict``.

**How a step runs (speed).** The formulas below are written once, in ``_update``, as in-place NumPy
lines with ``out=`` and one scratch array, so a step allocates nothing. They run over *blocks*:
when the Parameters are consecutive Parameters of one :class:`mlplab.parameter.FlatParameters` (what
``model.parameters()`` returns), one block is the whole flat array of values and gradients (and the
state arrays are flat too, each ``self.state`` entry a view of its piece), so a step costs one NumPy
call per formula line instead of one per Parameter; for small networks a step's time is that
per-call overhead, not arithmetic. Otherwise each Parameter is a block. Long blocks are cut into
pieces of ``BLOCK_SIZE`` elements so that the intermediate results stay in the CPU cache. Each
element gets the formula of its optimizer's docstring; where the order of the operations differs
from the formula as written, the docstring says "computed as" (the results agree up to rounding).
"""
from __future__ import annotations

import math
import numbers
import operator
from typing import Iterable

import numpy as np

from .parameter import FlatParameters, Parameter

__all__ = [
    "Optimizer", "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam", "AdamW", "OPTIMIZERS",
    "make_optimizer", "Scheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR", "ReduceLROnPlateau",
    "SCHEDULERS",
]


def _check_hyper(name: str, value, low: float = 0.0, high: float | None = None, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < low or (low_open and value == low) or (high is not None and value >= high):
        rng = f"{'(' if low_open else '['}{low}, {high if high is not None else '∞'})"
        raise ValueError(f"{name} must be in {rng}, got {value}")
    return float(value)


#: Most elements one NumPy call of an update touches: a block of the parameters, their gradients,
#: the state and the scratch array then fit in the CPU's L2 cache (see the module docstring).
BLOCK_SIZE = 1 << 17


class _Block:
    """A piece of the parameters that one run of the update formula covers: views of the values
    (``theta``), gradients (``grad``) and state arrays, a scratch array, and whether the coupled L2
    term applies (``decay``; then ``l2`` is scratch space for ``g + λθ``)."""

    __slots__ = ("theta", "grad", "state", "scratch", "decay", "l2")

    def __init__(self, theta, grad, state, scratch, decay, l2):
        self.theta, self.grad, self.state, self.scratch, self.decay, self.l2 = theta, grad, state, scratch, decay, l2


class Optimizer:
    """Base class: holds the Parameters, the learning rate ``lr`` and per-Parameter state.

    ``params`` is ``model.parameters()`` (the model's flat storage: every step is one block over it)
    or any iterable of Parameters (a subset, Parameters of your own: one block per Parameter unless
    they are consecutive Parameters of one flat storage). The results are the same either way.
    """

    #: names of the per-parameter state arrays, in the order they are saved
    state_names: tuple[str, ...] = ()
    #: "reference" here; SGD, Adam and AdamW have compiled versions in :mod:`mlplab.fast`
    tier = "reference"

    def __init__(self, params: Iterable[Parameter], lr: float, weight_decay: float = 0.0,
                 decay_all: bool = False) -> None:
        if callable(getattr(params, "parameters", None)) or isinstance(params, Parameter) or callable(params):
            what = ("a method: call it, model.parameters()" if callable(params) and not hasattr(params, "parameters")
                    else f"a {type(params).__name__}")
            raise TypeError(f"{type(self).__name__} expects the model's parameters, got {what}; write "
                            f"{type(self).__name__}(model.parameters())")
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list; pass model.parameters()")
        for p in self.params:
            if not isinstance(p, Parameter):
                raise TypeError(f"optimizer expects mlplab Parameters (model.parameters()), got {type(p).__name__}")
        self.lr = _check_hyper("learning rate", lr, low_open=True)
        self.weight_decay = _check_hyper("weight_decay", weight_decay)
        self.decay_all = bool(decay_all)
        self.t = 0
        self.state: list[dict[str, np.ndarray]] = [
            {name: np.zeros_like(p.data) for name in self.state_names} for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.zero_grad()

    def _decays(self, p: Parameter) -> bool:
        return self.weight_decay > 0 and (p.decay or self.decay_all)

    def step(self) -> None:
        """One update of every Parameter from its current ``.grad``."""
        self.t += 1
        for b in self._blocks():
            g = b.grad
            if b.decay:  # coupled L2 term: g + λθ
                g = np.multiply(b.theta, self.weight_decay, out=b.l2)
                g += b.grad
            self._update(b.theta, g, b.state, b.scratch)

    def _update(self, theta: np.ndarray, g: np.ndarray, state: dict, tmp: np.ndarray) -> None:
        """Update ``theta`` in place from the gradient ``g`` (not modified) and the ``state`` arrays
        of the same shape; ``tmp`` is scratch space of that shape."""
        raise NotImplementedError

    # ------------------------------------------------------------------ blocks (speed only)
    def _blocks(self) -> list[_Block]:
        """The blocks the next step updates. They are made again when what they were made from changed:
        the flat storage was released, a Parameter got new arrays, the state arrays were replaced, or
        what weight decay applies to changed."""
        plan = self.__dict__.get("_plan")
        if plan is not None:
            flat, key, blocks = plan
            if flat is None or flat.in_use:
                now = self._plan_key(flat)
                if len(key) == len(now) and all(map(operator.is_, key, now)):
                    return blocks
        flat, blocks = self._make_blocks()
        self._plan = (flat, self._plan_key(flat), blocks)
        return blocks

    def _plan_key(self, flat: FlatParameters | None) -> list:
        key = [a for s in self.state for a in s.values()] + self._l2_in_gradient()
        if flat is None:  # Parameter by Parameter: the blocks are views of each one's arrays
            key += [p.data for p in self.params] + [p.grad for p in self.params]
        return key

    def _l2_in_gradient(self) -> list[bool]:
        """Per Parameter, whether the step adds the coupled L2 term ``λθ`` to its gradient."""
        if not self.weight_decay:  # (asked at every step: the common case without a loop)
            return [False] * len(self.params)
        return [bool(self._decays(p)) for p in self.params]

    def __getstate__(self) -> dict:
        # the blocks are views; a copy of the optimizer makes its own at its first step
        return {k: v for k, v in self.__dict__.items() if k != "_plan"}

    def _make_blocks(self) -> tuple[FlatParameters | None, list[_Block]]:
        params, decays = self.params, self._l2_in_gradient()
        flat = params[0].flat
        piece = flat.span(params) if flat is not None else None
        if piece is not None and len(set(decays)) == 1:  # one block over the flat storage
            theta, grad = flat.data[piece], flat.grad[piece]
            groups = [(theta, grad, self._flat_state(theta.size, theta.dtype), decays[0])]
        else:  # Parameter by Parameter
            flat, groups = None, []
            for p, state, decay in zip(params, self.state, decays):
                arrays = [p.data, p.grad, *state.values()]
                if all(a.flags.c_contiguous for a in arrays):
                    groups.append((p.data.reshape(-1), p.grad.reshape(-1),
                                   {k: v.reshape(-1) for k, v in state.items()}, decay))
                else:  # updated whole, with its own scratch arrays
                    groups.append((p.data, p.grad, state, decay))
        longest = {}
        for theta, *_ in groups:
            if theta.ndim == 1:
                longest[theta.dtype] = max(longest.get(theta.dtype, 0), min(theta.size, BLOCK_SIZE))
        scratch = {dt: np.empty(n, dt) for dt, n in longest.items()}
        l2 = {dt: np.empty(n, dt) for dt, n in longest.items()} if any(decays) else {}
        blocks = []
        for theta, grad, state, decay in groups:
            if theta.ndim != 1:
                blocks.append(_Block(theta, grad, state, np.empty_like(theta), decay,
                                     np.empty_like(theta) if decay else None))
                continue
            for start in range(0, theta.size, BLOCK_SIZE):
                piece = slice(start, min(start + BLOCK_SIZE, theta.size))
                n = piece.stop - start
                blocks.append(_Block(theta[piece], grad[piece], {k: v[piece] for k, v in state.items()},
                                     scratch[theta.dtype][:n], decay, l2[theta.dtype][:n] if decay else None))
        return flat, blocks

    def _flat_state(self, size: int, dtype) -> dict[str, np.ndarray]:
        """Move the state of every Parameter into flat arrays (the entries of ``self.state`` become
        views of their pieces, with the same values) and return those."""
        flat = {}
        for name in self.state_names:
            flat[name] = np.empty(size, dtype)
            start = 0
            for p, state in zip(self.params, self.state):
                stop = start + p.data.size
                flat[name][start:stop] = state[name].reshape(-1)
                state[name] = flat[name][start:stop].reshape(p.data.shape)
                start = stop
        return flat

    def hyperparameters(self) -> dict:
        return {"lr": self.lr, "weight_decay": self.weight_decay, "decay_all": self.decay_all}

    def state_dict(self) -> dict:
        """``{"type", "hyperparameters", "t", "state"}``; arrays are copies."""
        return {"type": type(self).__name__, "hyperparameters": self.hyperparameters(), "t": self.t,
                "state": [{k: v.copy() for k, v in s.items()} for s in self.state]}

    def load_state_dict(self, sd: dict) -> None:
        """Restore what :meth:`state_dict` returned; checks type, parameter count, shapes and
        hyper-parameters, and changes nothing unless everything is valid."""
        if not isinstance(sd, dict):
            raise TypeError(f"load_state_dict expects the dict returned by state_dict(), got {type(sd).__name__}")
        missing = [k for k in ("type", "t", "state") if k not in sd]
        if missing:
            raise ValueError(f"state_dict is missing {missing}; expected the dict returned by state_dict()")
        if sd["type"] != type(self).__name__:
            raise ValueError(f"state is for optimizer {sd['type']!r}, not {type(self).__name__}")
        known = self.hyperparameters()
        hp = dict(sd.get("hyperparameters") or {})
        unknown = sorted(set(hp) - set(known))
        if unknown:
            raise ValueError(f"state_dict has unknown hyperparameters {unknown} for {type(self).__name__}; "
                             f"expected {sorted(known)}")
        checked = type(self)(self.params, **{**known, **hp})  # the constructor validates the values
        states = sd["state"]
        if len(states) != len(self.params):
            raise ValueError(f"state has {len(states)} parameter entries, the optimizer has {len(self.params)}")
        new = []
        for i, (p, s) in enumerate(zip(self.params, states)):
            if set(s) != set(self.state_names):
                raise ValueError(f"state entry {i} holds {sorted(s)}, expected {sorted(self.state_names)}")
            for k, v in s.items():
                if np.shape(v) != p.data.shape:
                    raise ValueError(f"state entry {i} {k!r} has shape {np.shape(v)}, parameter has {p.data.shape}")
            new.append({k: np.array(v, dtype=p.data.dtype) for k, v in s.items()})
        self.state = new
        self.t = int(sd["t"])
        for k in known:
            setattr(self, k, getattr(checked, k))

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={v}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({hp})"


def _scaled_step(theta, g, h, lr, eps, tmp) -> None:
    """``θ ← θ - η g / (√h + ε)`` in place (AdaGrad, RMSProp); ``tmp`` is scratch space."""
    denom = np.sqrt(h, out=tmp)
    denom += eps
    step = np.divide(g, denom, out=tmp)
    step *= lr
    theta -= step


class SGD(Optimizer):
    """Plain gradient descent: ``θ ← θ - η g``."""

    def _update(self, theta, g, state, tmp):
        theta -= np.multiply(g, self.lr, out=tmp)


class Momentum(Optimizer):
    """Gradient descent with momentum ``μ`` (the textbook form)::

        v ← μ v - η g
        θ ← θ + v

    ``v`` starts at 0. With a constant ``η`` this equals PyTorch's ``SGD(momentum=μ)``, whose
    buffer is ``b = -v / η``.
    """

    state_names = ("velocity",)

    def __init__(self, params, lr=0.01, momentum=0.9, weight_decay=0.0, decay_all=False):
        super().__init__(params, lr, weight_decay, decay_all)
        self.momentum = _check_hyper("momentum", momentum, 0.0, 1.0)

    def _update(self, theta, g, state, tmp):
        v = state["velocity"]
        v *= self.momentum
        v -= np.multiply(g, self.lr, out=tmp)
        theta += v

    def hyperparameters(self):
        return {**super().hyperparameters(), "momentum": self.momentum}


class Nesterov(Momentum):
    """Nesterov accelerated gradient, in the form that needs only the gradient at ``θ``::

        v ← μ v - η g
        θ ← θ + μ v - η g

    (Sutskever et al., 2013, rewritten for the look-ahead point; with a constant ``η`` it equals
    PyTorch's ``SGD(momentum=μ, nesterov=True)``.) The last line is computed as
    ``θ ← (θ - η g) + μ v``.
    """

    def _update(self, theta, g, state, tmp):
        v = state["velocity"]
        v *= self.momentum
        lr_g = np.multiply(g, self.lr, out=tmp)
        v -= lr_g
        theta -= lr_g
        theta += np.multiply(v, self.momentum, out=tmp)


class AdaGrad(Optimizer):
    """AdaGrad (Duchi et al., 2011)::

        h ← h + g²
        θ ← θ - η g / (√h + ε)

    ``ε`` sits outside the square root, as in PyTorch's ``Adagrad``. The last line is computed as
    ``θ ← θ - η · (g / (√h + ε))``.
    """

    state_names = ("sum_sq",)

    def __init__(self, params, lr=0.01, eps=1e-8, weight_decay=0.0, decay_all=False):
        super().__init__(params, lr, weight_decay, decay_all)
        self.eps = _check_hyper("eps", eps, low_open=True)

    def _update(self, theta, g, state, tmp):
        h = state["sum_sq"]
        h += np.multiply(g, g, out=tmp)
        _scaled_step(theta, g, h, self.lr, self.eps, tmp)

    def hyperparameters(self):
        return {**super().hyperparameters(), "eps": self.eps}


class RMSProp(Optimizer):
    """RMSProp (Hinton, 2012) with decay ``ρ``::

        h ← ρ h + (1 - ρ) g²
        θ ← θ - η g / (√h + ε)

    ``ε`` outside the square root, as in PyTorch's ``RMSprop`` (there ``ρ`` is called ``alpha``). The
    last line is computed as ``θ ← θ - η · (g / (√h + ε))``.
    """

    state_names = ("mean_sq",)

    def __init__(self, params, lr=0.001, rho=0.99, eps=1e-8, weight_decay=0.0, decay_all=False):
        super().__init__(params, lr, weight_decay, decay_all)
        self.rho = _check_hyper("rho", rho, 0.0, 1.0)
        self.eps = _check_hyper("eps", eps, low_open=True)

    def _update(self, theta, g, state, tmp):
        h = state["mean_sq"]
        h *= self.rho
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - self.rho
        h += tmp
        _scaled_step(theta, g, h, self.lr, self.eps, tmp)

    def hyperparameters(self):
        return {**super().hyperparameters(), "rho": self.rho, "eps": self.eps}


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015) with bias correction::

        m ← β₁ m + (1 - β₁) g
        v ← β₂ v + (1 - β₂) g²
        m̂ = m / (1 - β₁ᵗ),   v̂ = v / (1 - β₂ᵗ)
        θ ← θ - η m̂ / (√v̂ + ε)

    ``ε`` outside the square root of the *corrected* ``v̂``, as in PyTorch's ``Adam``.

    The last two lines are computed in the equivalent order that Kingma and Ba give for efficiency
    (Section 2 of the paper), which saves a pass over the parameters::

        θ ← θ - η_t m / (√v + ε_t),    η_t = η √(1 - β₂ᵗ) / (1 - β₁ᵗ),   ε_t = ε √(1 - β₂ᵗ)

    (multiply numerator and denominator of ``η m̂ / (√v̂ + ε)`` by ``√(1 - β₂ᵗ)``; equal in exact
    arithmetic, the same up to rounding.)
    """

    state_names = ("m", "v")

    def __init__(self, params, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decay_all=False):
        super().__init__(params, lr, weight_decay, decay_all)
        self.beta1 = _check_hyper("beta1", beta1, 0.0, 1.0)
        self.beta2 = _check_hyper("beta2", beta2, 0.0, 1.0)
        self.eps = _check_hyper("eps", eps, low_open=True)

    def _update(self, theta, g, state, tmp):
        m, v = state["m"], state["v"]
        m *= self.beta1
        m += np.multiply(g, 1.0 - self.beta1, out=tmp)
        v *= self.beta2
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - self.beta2
        v += tmp
        lr_t, eps_t = self.step_sizes()
        denom = np.sqrt(v, out=tmp)
        denom += eps_t                                               # √v + ε_t
        step = np.divide(m, denom, out=tmp)
        step *= lr_t                                                 # η_t m / (√v + ε_t)
        theta -= step

    def step_sizes(self) -> tuple[float, float]:
        """``η_t = η √(1 - β₂ᵗ) / (1 - β₁ᵗ)`` and ``ε_t = ε √(1 - β₂ᵗ)`` of step ``t``."""
        root_c2 = math.sqrt(1.0 - self.beta2 ** self.t)              # √(1 - β₂ᵗ)
        return self.lr * root_c2 / (1.0 - self.beta1 ** self.t), self.eps * root_c2

    def hyperparameters(self):
        return {**super().hyperparameters(), "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter, 2019)::

        θ ← θ - η λ θ                      (on decayed Parameters only)
        then the Adam update with the plain gradient g

    Default ``λ = 0.01`` as in PyTorch's ``AdamW``.
    """

    def __init__(self, params, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, decay_all=False):
        super().__init__(params, lr, beta1, beta2, eps, weight_decay, decay_all)

    def step(self):
        self.t += 1
        for p in self.params:
            if self._decays(p):
                p.data *= 1.0 - self.lr * self.weight_decay
        for b in self._blocks():
            self._update(b.theta, b.grad, b.state, b.scratch)

    def _l2_in_gradient(self) -> list[bool]:
        return [False] * len(self.params)  # the decay above is applied to θ, not added to g


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adagrad": AdaGrad,
    "rmsprop": RMSProp, "adam": Adam, "adamw": AdamW,
}


def make_optimizer(name: str, params, lr: float | None = None, **kwargs) -> Optimizer:
    """Build an optimizer by name (``sgd``, ``momentum``, ``nesterov``, ``adagrad``, ``rmsprop``,
    ``adam``, ``adamw``); ``lr=None`` keeps that optimizer's default."""
    key = str(name).lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    cls = OPTIMIZERS[key]
    if lr is not None:
        kwargs["lr"] = lr
    elif cls is SGD:
        kwargs["lr"] = 0.01
    return cls(params, **kwargs)


# ---------------------------------------------------------------- learning-rate schedules

class Scheduler:
    """Sets ``optimizer.lr`` once per epoch. ``step()`` is called after each epoch (the Trainer does
    it); ``ReduceLROnPlateau.step(metric)`` takes the monitored value."""

    #: stepped after every mini-batch update (True) or after every epoch (False); see StepScheduler
    per_step = False

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.epoch = 0

    def lr_at(self, epoch: int) -> float:
        raise NotImplementedError

    def step(self, metric: float | None = None) -> float:
        self.epoch += 1
        self.optimizer.lr = self.lr_at(self.epoch)
        return self.optimizer.lr

    def state_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, sd: dict) -> None:
        vars(self).update(sd)


class StepLR(Scheduler):
    """``η_e = η₀ · γ^⌊e / step_size⌋``."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        super().__init__(optimizer)
        if isinstance(step_size, bool) or not isinstance(step_size, numbers.Integral) or step_size < 1:
            raise ValueError(f"step_size must be an integer >= 1, got {step_size!r}")
        self.step_size, self.gamma = int(step_size), _check_hyper("gamma", gamma, low_open=True)

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(Scheduler):
    """``η_e = η₀ · γ^e``."""

    def __init__(self, optimizer, gamma: float):
        super().__init__(optimizer)
        self.gamma = _check_hyper("gamma", gamma, low_open=True)

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** epoch


class CosineAnnealingLR(Scheduler):
    """``η_e = η_min + ½ (η₀ - η_min)(1 + cos(π e / T_max))`` for ``e ≤ T_max``, then ``η_min``."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0):
        super().__init__(optimizer)
        if T_max < 1:
            raise ValueError(f"T_max must be >= 1, got {T_max}")
        self.T_max, self.eta_min = int(T_max), _check_hyper("eta_min", eta_min)
        if self.eta_min > self.base_lr:
            raise ValueError(f"eta_min ({eta_min}) must not exceed the initial learning rate ({self.base_lr})")

    def lr_at(self, epoch):
        e = min(epoch, self.T_max)
        return self.eta_min + 0.5 * (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * e / self.T_max))


class ReduceLROnPlateau(Scheduler):
    """Multiply ``η`` by ``factor`` when the monitored metric has not improved by more than
    ``threshold`` (relative) for ``patience`` epochs; never below ``min_lr``.
    ``mode="min"`` for losses, ``"max"`` for accuracies."""

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, min_lr: float = 0.0):
        super().__init__(optimizer)
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if not 0 < factor < 1:
            raise ValueError(f"factor must be in (0, 1), got {factor}")
        if isinstance(patience, bool) or not isinstance(patience, numbers.Integral) or patience < 0:
            raise ValueError(f"patience must be an integer >= 0, got {patience!r}")
        self.mode, self.factor, self.patience = mode, float(factor), int(patience)
        self.threshold = _check_hyper("threshold", threshold)
        self.min_lr = _check_hyper("min_lr", min_lr)
        self.best = math.inf if mode == "min" else -math.inf
        self.bad_epochs = 0

    def step(self, metric=None):
        if metric is None:
            raise ValueError("ReduceLROnPlateau.step needs the monitored metric value")
        self.epoch += 1
        if not math.isfinite(self.best):
            better = True
        elif self.mode == "min":
            better = metric < self.best - abs(self.best) * self.threshold
        else:
            better = metric > self.best + abs(self.best) * self.threshold
        if better:
            self.best, self.bad_epochs = metric, 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs > self.patience:
                self.optimizer.lr = max(self.optimizer.lr * self.factor, self.min_lr)
                self.bad_epochs = 0
        return self.optimizer.lr


SCHEDULERS = {"step": StepLR, "exponential": ExponentialLR, "cosine": CosineAnnealingLR,
              "plateau": ReduceLROnPlateau}


# ------------------------------------------------------- per-step schedules (warm-up, one-cycle)

class StepScheduler(Scheduler):
    """A schedule over optimizer steps rather than epochs: the Trainer calls ``step()`` after every
    mini-batch update (``per_step = True``). ``total_steps=None`` lets the Trainer fill it in at the
    start of ``fit`` as ``epochs · ⌈N / batch_size⌉``. ``t`` counts the updates done so far; the
    learning rate for update ``t + 1`` is ``lr_at(t)``, set on the optimizer at construction and after
    each step. Past ``total_steps`` the last rate is kept."""

    per_step = True

    def __init__(self, optimizer: Optimizer, total_steps: int | None = None) -> None:
        super().__init__(optimizer)
        self.t = 0
        self.total_steps = None
        if total_steps is not None:
            self.set_total_steps(total_steps)

    def set_total_steps(self, total_steps: int, steps_per_epoch: int | None = None) -> None:
        """Fix the length of the schedule (``steps_per_epoch`` lets a schedule given in epochs convert)."""
        self.steps_per_epoch = steps_per_epoch
        if isinstance(total_steps, bool) or not isinstance(total_steps, numbers.Integral) or total_steps < 1:
            raise ValueError(f"total_steps must be an integer >= 1, got {total_steps!r}")
        self.total_steps = int(total_steps)
        self._check()
        self.optimizer.lr = self.lr_at(self.t)

    def _check(self) -> None:
        pass

    def step(self, metric: float | None = None) -> float:
        if self.total_steps is None:
            raise RuntimeError(f"{type(self).__name__} needs total_steps (the Trainer sets it when fit starts)")
        self.t += 1
        self.optimizer.lr = self.lr_at(min(self.t, self.total_steps - 1))
        return self.optimizer.lr


class WarmupCosineLR(StepScheduler):
    """Linear warm-up over ``warmup_steps`` updates, then cosine decay to ``eta_min`` at ``total_steps``::

        η_t = η₀ · (t + 1) / W                                          for t < W
        η_t = η_min + ½ (η₀ - η_min)(1 + cos(π (t - W) / (T - W)))       for W ≤ t < T

    (``η₀`` the optimizer's learning rate when the schedule is made, ``W = warmup_steps``,
    ``T = total_steps``, ``t`` the number of updates done).
    """

    def __init__(self, optimizer, warmup_steps: int = 0, total_steps: int | None = None, eta_min: float = 0.0,
                 warmup_epochs: float | None = None):
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, numbers.Integral) or warmup_steps < 0:
            raise ValueError(f"warmup_steps must be an integer >= 0, got {warmup_steps!r}")
        self.warmup_steps = int(warmup_steps)
        # warm-up given in epochs: W = round(warmup_epochs · steps per epoch), known when training starts
        self.warmup_epochs = None if warmup_epochs is None else _check_hyper("warmup_epochs", warmup_epochs)
        self.eta_min = _check_hyper("eta_min", eta_min)
        if self.eta_min > optimizer.lr:
            raise ValueError(f"eta_min ({eta_min}) must not exceed the initial learning rate ({optimizer.lr})")
        super().__init__(optimizer, total_steps)

    def _check(self) -> None:
        if self.warmup_epochs is not None:
            if self.steps_per_epoch is None:
                raise ValueError("warmup_epochs needs steps_per_epoch (the Trainer gives it when fit starts)")
            self.warmup_steps = round(self.warmup_epochs * self.steps_per_epoch)
        if self.warmup_steps >= self.total_steps:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) must be smaller than total_steps "
                             f"({self.total_steps})")

    def lr_at(self, t: int) -> float:
        if t < self.warmup_steps:
            return self.base_lr * (t + 1) / self.warmup_steps
        frac = (t - self.warmup_steps) / (self.total_steps - self.warmup_steps)
        return self.eta_min + 0.5 * (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * frac))


class OneCycleLR(StepScheduler):
    """The one-cycle policy (Smith & Topin 2017) as ``torch.optim.lr_scheduler.OneCycleLR`` with
    cosine annealing and no momentum cycling: from ``η_max / div_factor`` up to ``η_max`` over the
    first ``pct_start`` of the ``total_steps`` updates, then down to
    ``η_max / (div_factor · final_div_factor)`` at the last one, each phase a half cosine::

        η = η_end + ½ (η_start - η_end)(1 + cos(π · p)),   p the fraction of the phase done
    """

    def __init__(self, optimizer, max_lr: float | None = None, total_steps: int | None = None,
                 pct_start: float = 0.3, div_factor: float = 25.0, final_div_factor: float = 1e4):
        self.max_lr = _check_hyper("max_lr", optimizer.lr if max_lr is None else max_lr, low_open=True)
        if not 0 < pct_start < 1:
            raise ValueError(f"pct_start must be in (0, 1), got {pct_start!r}")
        self.pct_start = float(pct_start)
        self.div_factor = _check_hyper("div_factor", div_factor, low_open=True)
        self.final_div_factor = _check_hyper("final_div_factor", final_div_factor, low_open=True)
        super().__init__(optimizer, total_steps)

    def lr_at(self, t: int) -> float:
        start = self.max_lr / self.div_factor
        end = start / self.final_div_factor
        peak = self.pct_start * self.total_steps - 1  # the step at which η_max is reached, as in torch
        if t <= peak:
            a, b, p = start, self.max_lr, t / peak if peak > 0 else 1.0
        else:
            a, b, p = self.max_lr, end, (t - peak) / (self.total_steps - 1 - peak)
        return b + 0.5 * (a - b) * (1 + math.cos(math.pi * p))


SCHEDULERS.update({"warmup_cosine": WarmupCosineLR, "one_cycle": OneCycleLR})
