"""Parity with PyTorch, used here as a test-only oracle (never a runtime dependency of mlplab).

The module is skipped where torch is not installed (``pip install ".[test]"`` installs it).
Everything runs in float64 on both sides, and every layer and loss with two tiers is checked in both
(the reference classes of mlplab.layers / mlplab.losses and the fast classes of mlplab.fast). Layers
and losses are compared output by output and gradient by gradient; optimizers are fed the same sequence of random gradients for 50 steps
(``p.grad`` set by hand in torch, ``Parameter.grad`` in mlplab) and the parameters compared
after every step.
"""
from __future__ import annotations

import numpy as np
import pytest
import mlplab
from mlplab import fast, layers, losses, optim
from mlplab.parameter import FlatParameters, Parameter

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TIERS = pytest.mark.parametrize("tier", ["reference", "fast"])
TIGHT = dict(rtol=1e-10, atol=1e-12)   # layers and losses: same arithmetic up to rounding
OPT_TOL = dict(rtol=1e-6, atol=1e-12)  # optimizers over 50 steps (the bound)


def T(a, grad=False):
    """float64 torch tensor that does not share memory with ``a``."""
    return torch.tensor(np.array(a, dtype=np.float64), requires_grad=grad)


def N(t):
    return t.detach().numpy()


# ------------------------------------------------------------------ Dense

@TIERS
@pytest.mark.parametrize("shape", [(8, 5), (2, 3, 5), (1, 5)])
def test_dense_matches_linear(shape, tier):
    rng = np.random.default_rng(0)
    dense = fast.to_tier(layers.Dense(5, 4, rng=1, dtype="float64"), tier)
    dense.bias.data[...] = rng.normal(size=4)
    lin = torch.nn.Linear(5, 4, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(T(dense.weight.data))  # both (out, in)
        lin.bias.copy_(T(dense.bias.data))

    x = rng.normal(size=shape)
    dy = rng.normal(size=shape[:-1] + (4,))
    y = dense.forward(x, training=True)
    dx = dense.backward(dy)

    xt = T(x, grad=True)
    yt = lin(xt)
    yt.backward(T(dy))

    assert y.shape == tuple(yt.shape) and dx.shape == x.shape
    np.testing.assert_allclose(y, N(yt), **TIGHT)
    np.testing.assert_allclose(dx, N(xt.grad), **TIGHT)
    np.testing.assert_allclose(dense.weight.grad, N(lin.weight.grad), **TIGHT)
    np.testing.assert_allclose(dense.bias.grad, N(lin.bias.grad), **TIGHT)


# ------------------------------------------------------------------ activations

@TIERS
@pytest.mark.parametrize("name,theirs", [("Sigmoid", torch.sigmoid), ("Tanh", torch.tanh), ("ReLU", torch.relu),
                                         ("LeakyReLU", lambda t: TF.leaky_relu(t, 0.01))])
@pytest.mark.parametrize("shape", [(1, 5), (9, 5), (2, 3, 5)])
def test_activation_matches_torch(name, theirs, shape, tier):
    layer = fast.to_tier(getattr(layers, name)(), tier)
    rng = np.random.default_rng(11)
    x = rng.normal(scale=3.0, size=shape)
    dy = rng.normal(size=shape)
    y = layer.forward(x, training=True)
    dx = layer.backward(dy)
    xt = T(x, grad=True)
    yt = theirs(xt)
    yt.backward(T(dy))
    np.testing.assert_allclose(y, N(yt), **TIGHT)
    np.testing.assert_allclose(dx, N(xt.grad), **TIGHT)


# ------------------------------------------------------------------ BatchNorm

def _batchnorm_pair(d, rng):
    bn = layers.BatchNorm(d, momentum=0.1, eps=1e-5, dtype="float64")
    bn.gamma.data[...] = rng.uniform(0.5, 1.5, size=d)
    bn.beta.data[...] = rng.normal(size=d)
    tbn = torch.nn.BatchNorm1d(d, momentum=0.1, eps=1e-5, dtype=torch.float64)
    with torch.no_grad():
        tbn.weight.copy_(T(bn.gamma.data))
        tbn.bias.copy_(T(bn.beta.data))
    return bn, tbn


def _compare_norm_step(layer, tlayer, x, dy, training):
    layer.keep_cache = True  # a backward after an evaluation-mode forward, as torch allows
    y = layer.forward(x, training=training)
    dx = layer.backward(dy)
    tlayer.zero_grad()
    xt = T(x, grad=True)
    yt = tlayer(xt)
    yt.backward(T(dy))
    np.testing.assert_allclose(y, N(yt), **TIGHT)
    np.testing.assert_allclose(dx, N(xt.grad), **TIGHT)
    np.testing.assert_allclose(layer.gamma.grad, N(tlayer.weight.grad), **TIGHT)
    np.testing.assert_allclose(layer.beta.grad, N(tlayer.bias.grad), **TIGHT)


def test_batchnorm_training_and_running_statistics_match_torch():
    rng = np.random.default_rng(1)
    d = 6
    bn, tbn = _batchnorm_pair(d, rng)
    tbn.train()
    for n in (8, 5, 12, 3):  # several passes, different batch sizes (the unbiased factor n/(n-1) varies)
        x = rng.normal(loc=rng.normal(size=d) * 3, scale=rng.uniform(0.5, 3, size=d), size=(n, d))
        dy = rng.normal(size=(n, d))
        _compare_norm_step(bn, tbn, x, dy, training=True)
        np.testing.assert_allclose(bn.running_mean, N(tbn.running_mean), **TIGHT)
        np.testing.assert_allclose(bn.running_var, N(tbn.running_var), **TIGHT)
    # after four passes the running estimates have moved well away from (0, 1)
    assert np.abs(bn.running_mean).max() > 0.3


def test_batchnorm_eval_mode_matches_torch():
    rng = np.random.default_rng(2)
    d = 4
    bn, tbn = _batchnorm_pair(d, rng)
    tbn.train()
    for _ in range(3):
        x = rng.normal(loc=2.0, scale=1.5, size=(10, d))
        bn.forward(x, training=True)
        tbn(T(x))
    tbn.eval()
    running = (bn.running_mean.copy(), bn.running_var.copy())
    x = rng.normal(size=(7, d))
    _compare_norm_step(bn, tbn, x, rng.normal(size=(7, d)), training=False)
    # evaluation neither uses nor updates the batch statistics
    np.testing.assert_array_equal(bn.running_mean, running[0])
    np.testing.assert_array_equal(bn.running_var, running[1])
    np.testing.assert_allclose(bn.running_var, N(tbn.running_var), **TIGHT)


# ------------------------------------------------------------------ LayerNorm

@pytest.mark.parametrize("shape", [(8, 6), (2, 3, 6)])
def test_layernorm_matches_torch(shape):
    rng = np.random.default_rng(3)
    ln = layers.LayerNorm(6, eps=1e-5, dtype="float64")
    ln.gamma.data[...] = rng.uniform(0.5, 1.5, size=6)
    ln.beta.data[...] = rng.normal(size=6)
    tln = torch.nn.LayerNorm(6, eps=1e-5, dtype=torch.float64)
    with torch.no_grad():
        tln.weight.copy_(T(ln.gamma.data))
        tln.bias.copy_(T(ln.beta.data))
    x = rng.normal(loc=1.0, scale=2.0, size=shape)
    for training in (True, False):  # same computation in both modes
        _compare_norm_step(ln, tln, x, rng.normal(size=shape), training=training)


# ------------------------------------------------------------------ losses

def _scores_and_targets(rng, n=9, c=5):
    scores = rng.normal(scale=3.0, size=(n, c))
    labels = rng.integers(0, c, size=n)
    probs = rng.dirichlet(np.ones(c), size=n)
    return scores, labels, probs


@TIERS
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("target", ["labels", "one_hot", "probabilities"])
def test_softmax_cross_entropy_matches_torch(reduction, target, tier):
    rng = np.random.default_rng(4)
    scores, labels, probs = _scores_and_targets(rng)
    if target == "labels":
        y, yt = labels, torch.tensor(labels, dtype=torch.long)
    elif target == "one_hot":
        y = np.eye(scores.shape[1])[labels]
        yt = T(y)
    else:
        y, yt = probs, T(probs)
    loss_fn = fast.to_tier(losses.SoftmaxCrossEntropy(reduction=reduction), tier)
    loss = loss_fn.forward(scores, y)
    grad = loss_fn.backward()

    st = T(scores, grad=True)
    lt = TF.cross_entropy(st, yt, reduction=reduction)
    lt.backward()
    assert isinstance(loss, float)
    np.testing.assert_allclose(loss, lt.item(), **TIGHT)
    np.testing.assert_allclose(grad, N(st.grad), **TIGHT)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("shape", [(7, 3), (7, 1)])
def test_mean_squared_error_matches_torch(reduction, shape):
    rng = np.random.default_rng(5)
    scores = rng.normal(size=shape)
    y = rng.normal(size=shape)
    loss_fn = losses.MeanSquaredError(reduction=reduction)
    loss = loss_fn.forward(scores, y)
    grad = loss_fn.backward()
    st = T(scores, grad=True)
    lt = torch.nn.MSELoss(reduction=reduction)(st, T(y))
    lt.backward()
    np.testing.assert_allclose(loss, lt.item(), **TIGHT)
    np.testing.assert_allclose(grad, N(st.grad), **TIGHT)
    if shape[1] == 1:  # mlplab also takes (N,) targets for (N, 1) scores
        loss_fn2 = losses.MeanSquaredError(reduction=reduction)
        np.testing.assert_allclose(loss_fn2.forward(scores, y[:, 0]), lt.item(), **TIGHT)
        np.testing.assert_allclose(loss_fn2.backward(), N(st.grad), **TIGHT)


# ------------------------------------------------------------------ optimizers

N_OPT_STEPS = 50

# Where epsilon sits, for the record: AdaGrad, RMSProp and Adam all put it outside the square root
# (Adam: outside √v̂ of the bias-corrected v̂), exactly as torch does, so these are compared with
# torch directly. A large eps (1e-3) is used so that a misplaced epsilon would be far above rtol.
#
# mlplab's Momentum is the textbook form  v ← μv − ηg;  θ ← θ + v.  torch's SGD(momentum=μ) keeps
# b ← μb + g;  θ ← θ − ηb.  With a constant η the two are the same (v = −ηb); they differ only
# when η changes during training (see test_momentum_with_changing_lr_follows_documented_formula).
OPT_CASES = {
    "sgd": (lambda p, wd, da: optim.SGD(p, lr=0.1, weight_decay=wd, decay_all=da),
            lambda g: torch.optim.SGD(g, lr=0.1)),
    "momentum": (lambda p, wd, da: optim.Momentum(p, lr=0.05, momentum=0.9, weight_decay=wd, decay_all=da),
                 lambda g: torch.optim.SGD(g, lr=0.05, momentum=0.9)),
    "nesterov": (lambda p, wd, da: optim.Nesterov(p, lr=0.05, momentum=0.9, weight_decay=wd, decay_all=da),
                 lambda g: torch.optim.SGD(g, lr=0.05, momentum=0.9, nesterov=True)),
    "adagrad": (lambda p, wd, da: optim.AdaGrad(p, lr=0.1, eps=1e-3, weight_decay=wd, decay_all=da),
                lambda g: torch.optim.Adagrad(g, lr=0.1, eps=1e-3, lr_decay=0, initial_accumulator_value=0)),
    "rmsprop": (lambda p, wd, da: optim.RMSProp(p, lr=0.01, rho=0.9, eps=1e-3, weight_decay=wd, decay_all=da),
                lambda g: torch.optim.RMSprop(g, lr=0.01, alpha=0.9, eps=1e-3, momentum=0, centered=False)),
    "adam": (lambda p, wd, da: optim.Adam(p, lr=0.01, beta1=0.8, beta2=0.95, eps=1e-3, weight_decay=wd,
                                          decay_all=da),
             lambda g: torch.optim.Adam(g, lr=0.01, betas=(0.8, 0.95), eps=1e-3)),
    # AdamW: decoupled decay in both libraries (θ ← θ(1 − ηλ), then Adam on the plain gradient)
    "adamw": (lambda p, wd, da: optim.AdamW(p, lr=0.01, beta1=0.8, beta2=0.95, eps=1e-3, weight_decay=wd,
                                            decay_all=da),
              lambda g: torch.optim.AdamW(g, lr=0.01, betas=(0.8, 0.95), eps=1e-3)),
}


def _opt_params(seed=0, storage="loose"):
    """A weight and a bias, each with arrays of its own ("loose") or in one FlatParameters as a model
    keeps them ("flat": the optimizer updates both with one call per formula line)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(6, 4))
    b = rng.normal(size=4)
    params = [Parameter(w, "weight", decay=True), Parameter(b, "bias", decay=False)]
    return list(FlatParameters(params)) if storage == "flat" else params


STORAGES = pytest.mark.parametrize("storage", ["loose", "flat"])


def _run_parity(name, weight_decay, decay_all=False, storage="loose"):
    make_ours, make_theirs = OPT_CASES[name]
    ours = _opt_params(storage=storage)
    theirs = [torch.nn.Parameter(T(p.data)) for p in ours]
    opt = make_ours(ours, weight_decay, decay_all)
    # torch applies weight decay per param group: the weight always, the bias only for decay_all
    groups = [{"params": [theirs[0]], "weight_decay": weight_decay},
              {"params": [theirs[1]], "weight_decay": weight_decay if decay_all else 0.0}]
    topt = make_theirs(groups)
    rng = np.random.default_rng(100)
    start = [p.data.copy() for p in ours]
    for step in range(1, N_OPT_STEPS + 1):
        scale = rng.uniform(0.1, 3.0)  # gradients of varying size, so adaptive methods are exercised
        for p, tp in zip(ours, theirs):
            g = scale * rng.normal(size=p.data.shape)
            p.grad[...] = g
            tp.grad = T(g)
        opt.step()
        topt.step()
        for j, (p, tp) in enumerate(zip(ours, theirs)):
            np.testing.assert_allclose(p.data, N(tp), **OPT_TOL, err_msg=f"{name}: step {step}, parameter {j}")
    # the comparison is meaningful: the parameters travelled far from where they started
    assert all(np.abs(p.data - s).max() > 0.05 for p, s in zip(ours, start))


@STORAGES
@pytest.mark.parametrize("name", list(OPT_CASES))
def test_optimizer_matches_torch(name, storage):
    _run_parity(name, weight_decay=0.0, storage=storage)


@STORAGES
@pytest.mark.parametrize("name", list(OPT_CASES))
def test_optimizer_weight_decay_matches_torch(name, storage):
    """Coupled L2 (g ← g + λθ) for all but AdamW, decoupled for AdamW, exactly as torch's
    ``weight_decay`` in each; on the weight only, as mlplab never decays biases by default."""
    _run_parity(name, weight_decay=0.05, storage=storage)


@STORAGES
@pytest.mark.parametrize("name", ["momentum", "adam", "adamw"])
def test_optimizer_decay_all_matches_torch(name, storage):
    _run_parity(name, weight_decay=0.05, decay_all=True, storage=storage)


def test_momentum_with_changing_lr_follows_documented_formula():
    """By design mlplab's velocity accumulates −ηg (textbook form), while torch's buffer accumulates g
    and multiplies by the *current* η. They agree for a constant η (tested above) and differ once η
    changes; we check our documented formula here, and that torch is indeed different."""
    ours = _opt_params()
    theirs = [torch.nn.Parameter(T(p.data)) for p in ours]
    opt = optim.Momentum(ours, lr=0.05, momentum=0.9)
    topt = torch.optim.SGD(theirs, lr=0.05, momentum=0.9)
    ref = [p.data.copy() for p in ours]
    vel = [np.zeros_like(r) for r in ref]
    rng = np.random.default_rng(7)
    for step in range(20):
        lr = 0.05 if step < 10 else 0.01
        opt.lr = lr
        topt.param_groups[0]["lr"] = lr
        for j, (p, tp) in enumerate(zip(ours, theirs)):
            g = rng.normal(size=p.data.shape)
            p.grad[...] = g
            tp.grad = T(g)
            vel[j] = 0.9 * vel[j] - lr * g
            ref[j] = ref[j] + vel[j]
        opt.step()
        topt.step()
    for p, r in zip(ours, ref):
        np.testing.assert_allclose(p.data, r, rtol=1e-12, atol=1e-14)
    assert not np.allclose(ours[0].data, N(theirs[0]), rtol=1e-6)


# ------------------------------------------------------------------ a whole model

def _torch_copy(model):
    """The same network in torch, with the weights and running statistics copied."""
    mods = []
    for layer in model.layers:
        if isinstance(layer, layers.Dense):
            m = torch.nn.Linear(layer.in_features, layer.out_features, dtype=torch.float64)
            with torch.no_grad():
                m.weight.copy_(T(layer.weight.data))
                m.bias.copy_(T(layer.bias.data))
        elif isinstance(layer, layers.BatchNorm):
            m = torch.nn.BatchNorm1d(layer.num_features, momentum=layer.momentum, eps=layer.eps,
                                     dtype=torch.float64)
            with torch.no_grad():
                m.weight.copy_(T(layer.gamma.data))
                m.bias.copy_(T(layer.beta.data))
                m.running_mean.copy_(T(layer.running_mean))
                m.running_var.copy_(T(layer.running_var))
        elif isinstance(layer, layers.Tanh):
            m = torch.nn.Tanh()
        else:  # pragma: no cover - the test model only has these
            raise AssertionError(f"unexpected layer {layer!r}")
        mods.append(m)
    return torch.nn.Sequential(*mods)


@pytest.fixture(params=["reference", "fast"])
def model_pair(request):
    model = mlplab.mlp(5, [7, 6], 3, activation="tanh", norm="batchnorm", dtype="float64", seed=0,
                       tier=request.param)
    assert [type(l).__name__ for l in model.layers] == [
        "Dense", "BatchNorm", "Tanh", "Dense", "BatchNorm", "Tanh", "Dense"]
    rng = np.random.default_rng(8)
    for layer in model.layers:  # non-trivial gamma, beta and biases
        for p in layer.parameters():
            if p.name in ("gamma",):
                p.data[...] = rng.uniform(0.5, 1.5, size=p.data.shape)
            elif p.name in ("beta", "bias"):
                p.data[...] = 0.3 * rng.normal(size=p.data.shape)
    return model, _torch_copy(model)


def test_mlp_forward_backward_matches_torch(model_pair):
    model, tmodel = model_pair
    rng = np.random.default_rng(9)
    x = rng.normal(size=(16, 5))
    y = rng.integers(0, 3, size=16)

    loss_fn = fast.to_tier(losses.SoftmaxCrossEntropy(), model.tier)
    scores = model.forward(x, training=True)
    loss = loss_fn.forward(scores, y)
    dx = model.backward(loss_fn.backward())

    tmodel.train()
    xt = T(x, grad=True)
    st = tmodel(xt)
    lt = TF.cross_entropy(st, torch.tensor(y, dtype=torch.long))
    lt.backward()

    np.testing.assert_allclose(scores, N(st), **TIGHT)
    np.testing.assert_allclose(loss, lt.item(), **TIGHT)
    np.testing.assert_allclose(dx, N(xt.grad), **TIGHT)
    ours, theirs = model.parameters(), list(tmodel.parameters())
    assert len(ours) == len(theirs) == 10
    for p, tp in zip(ours, theirs):
        assert p.data.shape == tuple(tp.shape)
        np.testing.assert_allclose(p.grad, N(tp.grad), **TIGHT, err_msg=p.name)
    # running statistics were updated identically
    for layer, m in zip(model.layers, tmodel):
        if isinstance(layer, layers.BatchNorm):
            np.testing.assert_allclose(layer.running_mean, N(m.running_mean), **TIGHT)
            np.testing.assert_allclose(layer.running_var, N(m.running_var), **TIGHT)


def test_mlp_training_steps_match_torch(model_pair):
    """Five Adam steps on both networks, then evaluation-mode scores (running statistics) compared."""
    model, tmodel = model_pair
    rng = np.random.default_rng(10)
    opt = optim.Adam(model.parameters(), lr=0.01)
    topt = torch.optim.Adam(tmodel.parameters(), lr=0.01)
    loss_fn = fast.to_tier(losses.SoftmaxCrossEntropy(), model.tier)
    tmodel.train()
    for _ in range(5):
        x = rng.normal(size=(12, 5))
        y = rng.integers(0, 3, size=12)
        loss_fn.forward(model.forward(x, training=True), y)
        model.backward(loss_fn.backward())
        opt.step()
        topt.zero_grad()
        TF.cross_entropy(tmodel(T(x)), torch.tensor(y, dtype=torch.long)).backward()
        topt.step()
    for p, tp in zip(model.parameters(), tmodel.parameters()):
        np.testing.assert_allclose(p.data, N(tp), **OPT_TOL, err_msg=p.name)
    tmodel.eval()
    x = rng.normal(size=(6, 5))
    with torch.no_grad():
        want = N(tmodel(T(x)))
    np.testing.assert_allclose(model.forward(x, training=False), want, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.predict_proba(x), N(torch.softmax(T(want), dim=1)), rtol=1e-8, atol=1e-10)
