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
"""
from __future__ import annotations

import math
import numbers
from typing import Iterable

import numpy as np

from .parameter import Parameter

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


class Optimizer:
    """Base class: holds the Parameters, the learning rate ``lr`` and per-Parameter state."""

    #: names of the per-parameter state arrays, in the order they are saved
    state_names: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Parameter], lr: float, weight_decay: float = 0.0,
                 decay_all: bool = False) -> None:
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
        for p, state in zip(self.params, self.state):
            g = p.grad
            if self._decays(p):
                g = g + self.weight_decay * p.data
            self._update(p, g, state)

    def _update(self, p: Parameter, g: np.ndarray, state: dict) -> None:
        raise NotImplementedError

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


class SGD(Optimizer):
    """Plain gradient descent: ``θ ← θ - η g``."""

    def _update(self, p, g, state):
        p.data -= self.lr * g


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

    def _update(self, p, g, state):
        v = state["velocity"]
        v *= self.momentum
        v -= self.lr * g
        p.data += v

    def hyperparameters(self):
        return {**super().hyperparameters(), "momentum": self.momentum}


class Nesterov(Momentum):
    """Nesterov accelerated gradient, in the form that needs only the gradient at ``θ``::

        v ← μ v - η g
        θ ← θ + μ v - η g

    (Sutskever et al., 2013, rewritten for the look-ahead point; with a constant ``η`` it equals
    PyTorch's ``SGD(momentum=μ, nesterov=True)``.)
    """

    def _update(self, p, g, state):
        v = state["velocity"]
        v *= self.momentum
        v -= self.lr * g
        p.data += self.momentum * v - self.lr * g


class AdaGrad(Optimizer):
    """AdaGrad (Duchi et al., 2011)::

        h ← h + g²
        θ ← θ - η g / (√h + ε)

    ``ε`` sits outside the square root, as in PyTorch's ``Adagrad``.
    """

    state_names = ("sum_sq",)

    def __init__(self, params, lr=0.01, eps=1e-8, weight_decay=0.0, decay_all=False):
        super().__init__(params, lr, weight_decay, decay_all)
        self.eps = _check_hyper("eps", eps, low_open=True)

    def _update(self, p, g, state):
        h = state["sum_sq"]
        h += g * g
        p.data -= self.lr * g / (np.sqrt(h) + self.eps)

    def hyperparameters(self):
        return {**super().hyperparameters(), "eps": self.eps}


class RMSProp(Optimizer):
    """RMSProp (Hinton, 2012) with decay ``ρ``::

        h ← ρ h + (1 - ρ) g²
        θ ← θ - η g / (√h + ε)

    ``ε`` outside the square root, as in PyTorch's ``RMSprop`` (there ``ρ`` is called ``alpha``).
    """

    state_names = ("mean_sq",)

    def __init__(self, params, lr=0.001, rho=0.99, eps=1e-8, weight_decay=0.0, decay_all=False):
        super().__init__(params, lr, weight_decay, decay_all)
        self.rho = _check_hyper("rho", rho, 0.0, 1.0)
        self.eps = _check_hyper("eps", eps, low_open=True)

    def _update(self, p, g, state):
        h = state["mean_sq"]
        h *= self.rho
        h += (1.0 - self.rho) * (g * g)
        p.data -= self.lr * g / (np.sqrt(h) + self.eps)

    def hyperparameters(self):
        return {**super().hyperparameters(), "rho": self.rho, "eps": self.eps}


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015) with bias correction::

        m ← β₁ m + (1 - β₁) g
        v ← β₂ v + (1 - β₂) g²
        m̂ = m / (1 - β₁ᵗ),   v̂ = v / (1 - β₂ᵗ)
        θ ← θ - η m̂ / (√v̂ + ε)

    ``ε`` outside the square root of the *corrected* ``v̂``, as in PyTorch's ``Adam``.
    """

    state_names = ("m", "v")

    def __init__(self, params, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decay_all=False):
        super().__init__(params, lr, weight_decay, decay_all)
        self.beta1 = _check_hyper("beta1", beta1, 0.0, 1.0)
        self.beta2 = _check_hyper("beta2", beta2, 0.0, 1.0)
        self.eps = _check_hyper("eps", eps, low_open=True)

    def _update(self, p, g, state):
        m, v = state["m"], state["v"]
        m *= self.beta1
        m += (1.0 - self.beta1) * g
        v *= self.beta2
        v += (1.0 - self.beta2) * (g * g)
        m_hat = m / (1.0 - self.beta1 ** self.t)
        v_hat = v / (1.0 - self.beta2 ** self.t)
        p.data -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)

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
        for p, state in zip(self.params, self.state):
            if self._decays(p):
                p.data *= 1.0 - self.lr * self.weight_decay
            self._update(p, p.grad, state)


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
