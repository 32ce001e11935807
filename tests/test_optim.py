"""Optimizers and learning-rate schedules of mlplab.optim, checked against their docstring formulas.

Each optimizer's update is written out again here, independently, in plain float64 NumPy (the
``ref_*`` functions), and both are fed the same sequence of random gradients. Schedules are checked
against their closed-form formulas and against ``torch.optim.lr_scheduler`` where it has the same one
(those tests are skipped where PyTorch is not installed; everything else runs without it).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from mlplab import optim
from mlplab.parameter import FlatParameters, Parameter

RTOL, ATOL = 1e-12, 1e-14
N_STEPS = 8


# ------------------------------------------------------------------ helpers

def make_params(seed: int = 0) -> list[Parameter]:
    """A weight matrix (decayed), a bias and a normalization scale (not decayed), all float64."""
    rng = np.random.default_rng(seed)
    return [Parameter(rng.normal(size=(4, 3)), "weight", decay=True),
            Parameter(rng.normal(size=(3,)), "bias", decay=False),
            Parameter(1.0 + 0.1 * rng.normal(size=(3,)), "gamma", decay=False)]


def grad_sequence(params, n_steps: int, seed: int = 1) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.normal(size=p.data.shape) for p in params] for _ in range(n_steps)]


def set_grads(params, grads) -> None:
    for p, g in zip(params, grads):
        p.grad[...] = g


# Plain-NumPy reference updates: ref(theta, g, state, t, hp) -> new theta (state updated in the dict).
# ``g`` already includes the coupled L2 term where the optimizer uses one (see ref_run).

def ref_sgd(theta, g, s, t, hp):
    return theta - hp["lr"] * g


def ref_momentum(theta, g, s, t, hp):
    s["v"] = hp["momentum"] * s.get("v", 0.0) - hp["lr"] * g
    return theta + s["v"]


def ref_nesterov(theta, g, s, t, hp):
    s["v"] = hp["momentum"] * s.get("v", 0.0) - hp["lr"] * g
    return theta + hp["momentum"] * s["v"] - hp["lr"] * g


def ref_adagrad(theta, g, s, t, hp):
    s["h"] = s.get("h", 0.0) + g ** 2
    return theta - hp["lr"] * g / (np.sqrt(s["h"]) + hp["eps"])


def ref_rmsprop(theta, g, s, t, hp):
    s["h"] = hp["rho"] * s.get("h", 0.0) + (1 - hp["rho"]) * g ** 2
    return theta - hp["lr"] * g / (np.sqrt(s["h"]) + hp["eps"])


def ref_adam(theta, g, s, t, hp):
    b1, b2 = hp["beta1"], hp["beta2"]
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g ** 2
    m_hat = s["m"] / (1 - b1 ** t)
    v_hat = s["v"] / (1 - b2 ** t)
    return theta - hp["lr"] * m_hat / (np.sqrt(v_hat) + hp["eps"])


CASES = {
    # name: (class, reference, hyperparameters)
    "sgd": (optim.SGD, ref_sgd, {"lr": 0.1}),
    "momentum": (optim.Momentum, ref_momentum, {"lr": 0.05, "momentum": 0.8}),
    "nesterov": (optim.Nesterov, ref_nesterov, {"lr": 0.05, "momentum": 0.7}),
    "adagrad": (optim.AdaGrad, ref_adagrad, {"lr": 0.3, "eps": 1e-3}),
    "rmsprop": (optim.RMSProp, ref_rmsprop, {"lr": 0.01, "rho": 0.9, "eps": 1e-3}),
    "adam": (optim.Adam, ref_adam, {"lr": 0.02, "beta1": 0.8, "beta2": 0.95, "eps": 1e-3}),
    "adamw": (optim.AdamW, ref_adam, {"lr": 0.02, "beta1": 0.8, "beta2": 0.95, "eps": 1e-3}),
}


def ref_run(name, params0, grads, hp, weight_decay=0.0, decay_all=False):
    """Reference trajectory: list (one entry per step) of lists of parameter arrays."""
    _, ref, _ = CASES[name]
    thetas = [p.data.copy() for p in params0]
    flags = [p.decay or decay_all for p in params0]
    states = [{} for _ in params0]
    out = []
    for t, gs in enumerate(grads, start=1):
        new = []
        for theta, g, s, flag in zip(thetas, gs, states, flags):
            if name == "adamw":
                # decoupled: shrink the weights, then Adam on the plain gradient
                if flag and weight_decay > 0:
                    theta = theta * (1 - hp["lr"] * weight_decay)
                new.append(ref(theta, g, s, t, hp))
            else:
                # coupled L2: g <- g + lambda * theta
                if flag and weight_decay > 0:
                    g = g + weight_decay * theta
                new.append(ref(theta, g, s, t, hp))
        thetas = new
        out.append([th.copy() for th in thetas])
    return out


def run_opt(opt, params, grads):
    out = []
    for gs in grads:
        set_grads(params, gs)
        opt.step()
        out.append([p.data.copy() for p in params])
    return out


def assert_trajectories_close(got, want, rtol=RTOL, atol=ATOL):
    for step, (gp, wp) in enumerate(zip(got, want, strict=True), start=1):
        for j, (a, b) in enumerate(zip(gp, wp, strict=True)):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"step {step}, parameter {j}")


# ------------------------------------------------------------------ update formulas

@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("weight_decay,decay_all", [(0.0, False), (0.05, False), (0.05, True)])
@pytest.mark.parametrize("flat", [False, True], ids=["loose", "flat"])
def test_update_matches_docstring_formula(name, weight_decay, decay_all, flat):
    """Parameters with arrays of their own, and Parameters in one flat storage as a model keeps them."""
    cls, _, hp = CASES[name]
    params = list(FlatParameters(make_params())) if flat else make_params()
    grads = grad_sequence(params, N_STEPS)
    want = ref_run(name, make_params(), grads, hp, weight_decay, decay_all)
    opt = cls(params, weight_decay=weight_decay, decay_all=decay_all, **hp)
    got = run_opt(opt, params, grads)
    assert opt.t == N_STEPS
    assert_trajectories_close(got, want)
    # the parameters really moved (a no-op optimizer would fail the comparison, but say it anyway)
    assert not np.allclose(got[-1][0], make_params()[0].data)


@pytest.mark.parametrize("name", list(CASES))
def test_step_does_not_modify_grad(name):
    cls, _, hp = CASES[name]
    params = make_params()
    grads = grad_sequence(params, 1)[0]
    set_grads(params, grads)
    cls(params, weight_decay=0.1, decay_all=True, **hp).step()
    for p, g in zip(params, grads):
        np.testing.assert_array_equal(p.grad, g)


def test_default_hyperparameters():
    p = make_params()
    assert optim.Momentum(p).momentum == 0.9
    assert optim.RMSProp(p).rho == 0.99 and optim.RMSProp(p).eps == 1e-8
    a = optim.Adam(p)
    assert (a.lr, a.beta1, a.beta2, a.eps, a.weight_decay) == (0.001, 0.9, 0.999, 1e-8, 0.0)
    assert optim.AdamW(p).weight_decay == 0.01
    assert optim.AdaGrad(p).eps == 1e-8


def test_zero_grad_clears_every_gradient():
    params = make_params()
    set_grads(params, grad_sequence(params, 1)[0])
    opt = optim.SGD(params, lr=0.1)
    opt.zero_grad()
    for p in params:
        assert np.all(p.grad == 0)


def test_optimizer_uses_current_lr():
    """A scheduler changes ``opt.lr`` between steps; the next step must use the new value."""
    params = make_params()
    opt = optim.SGD(params, lr=0.1)
    g = grad_sequence(params, 1)[0]
    set_grads(params, g)
    before = params[0].data.copy()
    opt.lr = 0.025
    opt.step()
    np.testing.assert_allclose(params[0].data, before - 0.025 * g[0], rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------------ weight decay

@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"])
def test_weight_decay_only_on_decayed_parameters(name):
    """Decay changes the weight's trajectory but leaves bias and gamma exactly as without decay."""
    cls, _, hp = CASES[name]
    grads = grad_sequence(make_params(), N_STEPS)
    p_plain, p_decay, p_all = make_params(), make_params(), make_params()
    plain = run_opt(cls(p_plain, weight_decay=0.0, **hp), p_plain, grads)
    decay = run_opt(cls(p_decay, weight_decay=0.1, **hp), p_decay, grads)
    every = run_opt(cls(p_all, weight_decay=0.1, decay_all=True, **hp), p_all, grads)
    for j in (1, 2):  # bias, gamma: untouched by decay unless decay_all
        np.testing.assert_array_equal(decay[-1][j], plain[-1][j])
        assert not np.allclose(every[-1][j], plain[-1][j])
    assert not np.allclose(decay[-1][0], plain[-1][0])
    np.testing.assert_array_equal(every[-1][0], decay[-1][0])


def test_sgd_weight_decay_single_step_by_hand():
    params = make_params()
    w0, b0 = params[0].data.copy(), params[1].data.copy()
    g = grad_sequence(params, 1)[0]
    set_grads(params, g)
    optim.SGD(params, lr=0.5, weight_decay=0.2).step()
    np.testing.assert_allclose(params[0].data, w0 - 0.5 * (g[0] + 0.2 * w0), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(params[1].data, b0 - 0.5 * g[1], rtol=RTOL, atol=ATOL)


def test_adamw_decay_is_decoupled():
    """AdamW shrinks θ by (1 - ηλ) outside the adaptive step; Adam(weight_decay) adds λθ to g instead."""
    grads = grad_sequence(make_params(), N_STEPS)
    hp = CASES["adam"][2]
    pw, pa, p0 = make_params(), make_params(), make_params()
    adamw = run_opt(optim.AdamW(pw, weight_decay=0.3, **hp), pw, grads)
    adam_l2 = run_opt(optim.Adam(pa, weight_decay=0.3, **hp), pa, grads)
    assert not np.allclose(adamw[-1][0], adam_l2[-1][0])
    # one step by hand: the adaptive part does not see the decay, so AdamW's first step is
    # Adam's (without decay) plus the exact extra term -lr·λ·θ0 on the weight only
    p1 = make_params()
    g = grads[0]
    set_grads(p1, g)
    optim.AdamW(p1, weight_decay=0.3, **hp).step()
    q = make_params()
    set_grads(q, g)
    optim.Adam(q, weight_decay=0.0, **hp).step()
    w0 = p0[0].data
    np.testing.assert_allclose(p1[0].data, q[0].data - hp["lr"] * 0.3 * w0, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(p1[1].data, q[1].data)  # bias not decayed


def test_adamw_without_decay_equals_adam():
    grads = grad_sequence(make_params(), N_STEPS)
    hp = CASES["adam"][2]
    pw, pa = make_params(), make_params()
    a = run_opt(optim.AdamW(pw, weight_decay=0.0, **hp), pw, grads)
    b = run_opt(optim.Adam(pa, **hp), pa, grads)
    assert_trajectories_close(a, b, rtol=0, atol=0)


# ------------------------------------------------------------------ state_dict / load_state_dict

@pytest.mark.parametrize("name", list(CASES))
def test_state_dict_round_trip_resumes_exactly(name):
    cls, _, hp = CASES[name]
    grads = grad_sequence(make_params(), 10)
    params = make_params()
    opt = cls(params, weight_decay=0.05, **hp)
    run_opt(opt, params, grads[:5])
    sd = opt.state_dict()
    saved = [p.data.copy() for p in params]
    straight = run_opt(opt, params, grads[5:])  # continues, and must not disturb sd

    fresh = [Parameter(a.copy(), p.name, p.decay) for a, p in zip(saved, params)]
    opt2 = cls(fresh, weight_decay=0.05, **hp)
    opt2.load_state_dict(sd)
    assert opt2.t == 5
    resumed = run_opt(opt2, fresh, grads[5:])
    assert_trajectories_close(resumed, straight, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_state_dict_contents_are_copies(name):
    cls, _, hp = CASES[name]
    params = make_params()
    opt = cls(params, **hp)
    run_opt(opt, params, grad_sequence(params, 2))
    sd = opt.state_dict()
    assert sd["type"] == cls.__name__ and sd["t"] == 2
    assert len(sd["state"]) == len(params)
    assert set(sd["state"][0]) == set(cls.state_names)
    key = cls.state_names[0]
    snapshot = sd["state"][0][key].copy()
    run_opt(opt, params, grad_sequence(params, 1, seed=5))
    np.testing.assert_array_equal(sd["state"][0][key], snapshot)  # saved arrays did not move
    # and loading copies too: changing sd afterwards does not change the optimizer
    opt2 = cls(make_params(), **hp)
    opt2.load_state_dict(sd)
    sd["state"][0][key][...] = 123.0
    assert not np.any(opt2.state[0][key] == 123.0)


def test_load_state_dict_restores_hyperparameters():
    params = make_params()
    opt = optim.Adam(params, lr=0.02, beta1=0.8, beta2=0.95, eps=1e-3, weight_decay=0.05)
    run_opt(opt, params, grad_sequence(params, 3))
    opt.lr = 0.005  # e.g. changed by a schedule
    opt2 = optim.Adam(make_params())
    opt2.load_state_dict(opt.state_dict())
    assert opt2.hyperparameters() == opt.hyperparameters()


def _trained(cls=optim.Adam, params=None):
    params = make_params() if params is None else params
    opt = cls(params, lr=0.01)
    run_opt(opt, params, grad_sequence(params, 2))
    return opt


def test_load_state_dict_rejects_other_optimizer_type():
    sd = _trained(optim.Adam).state_dict()
    with pytest.raises(ValueError, match="state is for optimizer 'Adam', not AdamW"):
        optim.AdamW(make_params()).load_state_dict(sd)
    with pytest.raises(ValueError, match="state is for optimizer 'Adam', not RMSProp"):
        optim.RMSProp(make_params()).load_state_dict(sd)


def test_load_state_dict_rejects_wrong_parameter_count():
    sd = _trained().state_dict()
    with pytest.raises(ValueError, match="state has 3 parameter entries, the optimizer has 2"):
        optim.Adam(make_params()[:2]).load_state_dict(sd)


def test_load_state_dict_rejects_wrong_shapes():
    sd = _trained().state_dict()
    other = make_params()
    other[0] = Parameter(np.zeros((3, 4)), "weight")
    with pytest.raises(ValueError, match=r"state entry 0 'm' has shape \(4, 3\), parameter has \(3, 4\)"):
        optim.Adam(other).load_state_dict(sd)


def test_load_state_dict_rejects_wrong_state_names():
    sd = _trained().state_dict()
    sd["state"][1] = {"m": sd["state"][1]["m"]}
    with pytest.raises(ValueError, match=r"state entry 1 holds \['m'\], expected \['m', 'v'\]"):
        optim.Adam(make_params()).load_state_dict(sd)


def test_failed_load_leaves_optimizer_unchanged():
    opt = _trained()
    before = opt.state_dict()
    sd = _trained(params=make_params(7)).state_dict()
    sd["state"][2]["v"] = np.zeros(5)
    with pytest.raises(ValueError):
        opt.load_state_dict(sd)
    assert opt.t == before["t"]
    for s, b in zip(opt.state, before["state"]):
        for k in b:
            np.testing.assert_array_equal(s[k], b[k])


@pytest.mark.parametrize("bad", [None, [1, 2, 3]])
def test_load_state_dict_rejects_non_dict(bad):
    """A public entry point should answer junk with ValueError/TypeError, not AttributeError."""
    with pytest.raises((TypeError, ValueError), match="state_dict"):
        optim.Adam(make_params()).load_state_dict(bad)


def test_load_state_dict_rejects_missing_keys():
    sd = _trained().state_dict()
    del sd["state"]
    with pytest.raises(ValueError, match="state"):
        optim.Adam(make_params()).load_state_dict(sd)


def test_load_state_dict_validates_hyperparameters():
    """Loaded hyperparameters go through the same checks as the constructor's, and unknown names
    are refused (they must not overwrite attributes such as ``params`` or ``state``)."""
    sd = _trained().state_dict()
    sd["hyperparameters"]["lr"] = -1.0
    opt = optim.Adam(make_params())
    with pytest.raises(ValueError, match="learning rate"):
        opt.load_state_dict(sd)
    sd = _trained().state_dict()
    sd["hyperparameters"]["params"] = []
    opt = optim.Adam(make_params())
    with pytest.raises(ValueError, match="params"):
        opt.load_state_dict(sd)
    assert len(opt.params) == 3


# ------------------------------------------------------------------ bad hyperparameters

@pytest.mark.parametrize("make,match", [
    (lambda p: optim.SGD(p, lr=-0.1), r"learning rate must be in \(0\.0, ∞\), got -0\.1"),
    (lambda p: optim.SGD(p, lr=0.0), r"learning rate must be in \(0\.0, ∞\), got 0\.0"),
    (lambda p: optim.Adam(p, lr=float("nan")), "learning rate must be a finite number, got nan"),
    (lambda p: optim.Adam(p, lr=True), "learning rate must be a finite number, got True"),
    (lambda p: optim.Adam(p, lr="0.1"), "learning rate must be a finite number, got '0.1'"),
    (lambda p: optim.Momentum(p, momentum=1.0), r"momentum must be in \[0\.0, 1\.0\), got 1\.0"),
    (lambda p: optim.Nesterov(p, momentum=1.5), r"momentum must be in \[0\.0, 1\.0\), got 1\.5"),
    (lambda p: optim.Momentum(p, momentum=-0.1), r"momentum must be in \[0\.0, 1\.0\), got -0\.1"),
    (lambda p: optim.Adam(p, beta1=1.0), r"beta1 must be in \[0\.0, 1\.0\)"),
    (lambda p: optim.Adam(p, beta2=1.2), r"beta2 must be in \[0\.0, 1\.0\)"),
    (lambda p: optim.RMSProp(p, rho=1.0), r"rho must be in \[0\.0, 1\.0\)"),
    (lambda p: optim.AdaGrad(p, eps=0.0), r"eps must be in \(0\.0, ∞\)"),
    (lambda p: optim.Adam(p, eps=-1e-8), r"eps must be in \(0\.0, ∞\)"),
    (lambda p: optim.SGD(p, lr=0.1, weight_decay=-0.01), r"weight_decay must be in \[0\.0, ∞\), got -0\.01"),
    (lambda p: optim.AdamW(p, weight_decay=float("inf")), "weight_decay must be a finite number"),
])
def test_bad_hyperparameters_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make(make_params())


def test_empty_parameter_list_raises():
    with pytest.raises(ValueError, match="empty parameter list; pass model.parameters()"):
        optim.Adam([])
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD(iter([]), lr=0.1)


def test_non_parameters_raise_type_error():
    with pytest.raises(TypeError, match="expects mlplab Parameters .* got ndarray"):
        optim.SGD([np.zeros(3)], lr=0.1)


def test_make_optimizer():
    p = make_params()
    for name, cls in optim.OPTIMIZERS.items():
        assert type(optim.make_optimizer(name, p, lr=0.05)) is cls
    assert isinstance(optim.make_optimizer("ADAM", p), optim.Adam)
    assert optim.make_optimizer("adam", p).lr == 0.001  # lr=None keeps the default
    assert optim.make_optimizer("sgd", p).lr == 0.01
    m = optim.make_optimizer("momentum", p, lr=0.2, momentum=0.5, weight_decay=1e-3)
    assert (m.lr, m.momentum, m.weight_decay) == (0.2, 0.5, 1e-3)
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'; expected one of sgd, momentum, nesterov, "
                                         "adagrad, rmsprop, adam, adamw"):
        optim.make_optimizer("lbfgs", p)
    with pytest.raises(ValueError, match="momentum must be in"):
        optim.make_optimizer("nesterov", p, momentum=2.0)


# ------------------------------------------------------------------ learning-rate schedules

@pytest.fixture
def torch():
    """PyTorch, the oracle of the schedule tests; they are skipped where it is not installed."""
    return pytest.importorskip("torch")


def _mlp_opt(lr):
    return optim.SGD(make_params(), lr=lr)


def _torch_opt(torch, lr):
    w = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    return torch.optim.SGD([w], lr=lr)


def _run_schedules(ours, opt_t, sched_t, n):
    got, want = [], []
    for _ in range(n):
        got.append(ours.step())
        assert ours.optimizer.lr == got[-1]
        opt_t.step()
        sched_t.step()
        want.append(opt_t.param_groups[0]["lr"])
    return np.array(got), np.array(want)


def test_step_lr_formula_and_torch(torch):
    opt = _mlp_opt(0.3)
    s = optim.StepLR(opt, step_size=3, gamma=0.5)
    ot = _torch_opt(torch, 0.3)
    got, want = _run_schedules(s, ot, torch.optim.lr_scheduler.StepLR(ot, step_size=3, gamma=0.5), 12)
    formula = [0.3 * 0.5 ** (e // 3) for e in range(1, 13)]
    np.testing.assert_allclose(got, formula, rtol=1e-15)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got[1] == 0.3 and got[2] == 0.15


def test_exponential_lr_formula_and_torch(torch):
    opt = _mlp_opt(0.2)
    s = optim.ExponentialLR(opt, gamma=0.9)
    ot = _torch_opt(torch, 0.2)
    got, want = _run_schedules(s, ot, torch.optim.lr_scheduler.ExponentialLR(ot, gamma=0.9), 20)
    np.testing.assert_allclose(got, [0.2 * 0.9 ** e for e in range(1, 21)], rtol=1e-14)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_cosine_lr_formula_and_torch(torch):
    T, lo, hi = 10, 0.001, 0.1
    opt = _mlp_opt(hi)
    s = optim.CosineAnnealingLR(opt, T_max=T, eta_min=lo)
    ot = _torch_opt(torch, hi)
    got, want = _run_schedules(s, ot, torch.optim.lr_scheduler.CosineAnnealingLR(ot, T_max=T, eta_min=lo), T)
    formula = [lo + 0.5 * (hi - lo) * (1 + math.cos(math.pi * e / T)) for e in range(1, T + 1)]
    np.testing.assert_allclose(got, formula, rtol=1e-14)
    np.testing.assert_allclose(got, want, rtol=1e-10)  # torch computes it recursively
    assert got[-1] == pytest.approx(lo, rel=1e-12)
    # By design mlplab holds eta_min after T_max; torch's schedule is periodic and climbs back up.
    after = [s.step() for _ in range(5)]
    assert after == [pytest.approx(lo, rel=1e-12)] * 5


def test_scheduler_bad_arguments():
    with pytest.raises(ValueError, match="step_size must be an integer >= 1, got 0"):
        optim.StepLR(_mlp_opt(0.1), step_size=0)
    with pytest.raises(ValueError, match=r"gamma must be in \(0\.0, ∞\), got 0"):
        optim.ExponentialLR(_mlp_opt(0.1), gamma=0)
    with pytest.raises(ValueError, match="T_max must be >= 1, got 0"):
        optim.CosineAnnealingLR(_mlp_opt(0.1), T_max=0)
    with pytest.raises(ValueError, match="mode must be 'min' or 'max', got 'best'"):
        optim.ReduceLROnPlateau(_mlp_opt(0.1), mode="best")
    with pytest.raises(ValueError, match=r"factor must be in \(0, 1\), got 1.5"):
        optim.ReduceLROnPlateau(_mlp_opt(0.1), factor=1.5)
    with pytest.raises(ValueError, match="needs the monitored metric"):
        optim.ReduceLROnPlateau(_mlp_opt(0.1)).step()


# A metric designed to exercise ReduceLROnPlateau: improvements, tiny "improvements" below the
# relative threshold (which count as bad epochs), plateaus longer than patience, and the min_lr floor.
PLATEAU_METRIC = [10.0, 8.0, 7.9, 7.95, 7.5, 7.4, 6.0, 6.0, 6.0, 6.0, 5.0, 5.0, 5.0, 4.99, 5.0,
                  5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 1.0, 1.0]


def _plateau_expected(metric, lr, mode, factor, patience, threshold, min_lr):
    """The documented rule written out: better = beyond best by more than threshold·|best|;
    reduce after more than `patience` bad epochs in a row, then count again from 0."""
    best, bad, out = None, 0, []
    for m in metric:
        if best is None:
            better = True
        elif mode == "min":
            better = m < best - abs(best) * threshold
        else:
            better = m > best + abs(best) * threshold
        if better:
            best, bad = m, 0
        else:
            bad += 1
            if bad > patience:
                lr, bad = max(lr * factor, min_lr), 0
        out.append(lr)
    return out


@pytest.mark.parametrize("mode", ["min", "max"])
def test_reduce_lr_on_plateau_formula_and_torch(mode, torch):
    metric = PLATEAU_METRIC if mode == "min" else [20.0 - m for m in PLATEAU_METRIC]
    kw = dict(mode=mode, factor=0.5, patience=2, threshold=0.02, min_lr=0.02)
    opt = _mlp_opt(0.1)
    s = optim.ReduceLROnPlateau(opt, **kw)
    ot = _torch_opt(torch, 0.1)
    st = torch.optim.lr_scheduler.ReduceLROnPlateau(ot, threshold_mode="rel", cooldown=0, **kw)
    got, want = [], []
    for m in metric:
        got.append(s.step(m))
        ot.step()
        st.step(m)
        want.append(ot.param_groups[0]["lr"])
    assert got == pytest.approx(_plateau_expected(metric, 0.1, **kw), rel=1e-15)
    np.testing.assert_allclose(got, want, rtol=1e-15)
    assert len(set(got)) >= 3 and min(got) == 0.02  # it did reduce, several times, down to the floor


def test_reduce_lr_on_plateau_negative_metric_uses_abs_best():
    """By design mlplab's relative threshold uses |best|, so "better" means better for negative
    metrics too. (torch's rel mode compares with best·(1 - threshold), which for a negative best
    accepts a slightly *worse* value as an improvement; we check our documented rule instead.)"""
    metric = [-10.0, -9.5, -9.5, -9.5, -12.0, -12.1]
    opt = _mlp_opt(0.1)
    s = optim.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=2, threshold=0.1)
    got = [s.step(m) for m in metric]
    assert got == pytest.approx(_plateau_expected(metric, 0.1, "min", 0.5, 2, 0.1, 0.0))
    assert got == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05]


def test_scheduler_state_round_trip():
    opt = _mlp_opt(0.1)
    s = optim.ReduceLROnPlateau(opt, factor=0.5, patience=1)
    for m in [3.0, 2.0, 2.0]:
        s.step(m)
    sd = s.state_dict()
    assert "optimizer" not in sd
    rest = [s.step(m) for m in [2.0, 2.0, 2.0, 1.0]]
    opt2 = _mlp_opt(0.1)
    s2 = optim.ReduceLROnPlateau(opt2, factor=0.5, patience=1)
    s2.load_state_dict(sd)
    # the scheduler's own counters come back; the lr itself lives in the optimizer's state
    assert (s2.best, s2.bad_epochs, s2.epoch) == (2.0, 1, 3)
    assert [s2.step(m) for m in [2.0, 2.0, 2.0, 1.0]] == rest


def test_scheduler_argument_checks():
    p = [Parameter(np.zeros(2), "w")]
    opt = optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="gamma must be in"):
        optim.StepLR(opt, step_size=2, gamma=0)
    with pytest.raises(ValueError, match="step_size must be an integer >= 1"):
        optim.StepLR(opt, step_size=1.5)
    with pytest.raises(ValueError, match="eta_min must be in"):
        optim.CosineAnnealingLR(opt, T_max=5, eta_min=-1)
    with pytest.raises(ValueError, match="must not exceed the initial learning rate"):
        optim.CosineAnnealingLR(opt, T_max=5, eta_min=1.0)
    with pytest.raises(ValueError, match="patience must be an integer >= 0"):
        optim.ReduceLROnPlateau(opt, patience=-1)
    with pytest.raises(ValueError, match="min_lr must be in"):
        optim.ReduceLROnPlateau(opt, min_lr=-0.1)
