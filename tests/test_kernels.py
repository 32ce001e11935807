"""Fused kernels (mlplab._kernels) against the reference formulas: the NumPy versions always, the
Numba-compiled ones where Numba is installed (``mlplab[fast]``), equal within float rounding."""
from __future__ import annotations

import numpy as np
import pytest

import mlplab as ml
from mlplab import _kernels as K
from mlplab import functional as F

IMPLS = ["numpy"] + (["numba"] if K.numba_available() else [])
TOL = {np.float32: dict(rtol=2e-6, atol=2e-7), np.float64: dict(rtol=1e-12, atol=1e-14)}


@pytest.fixture(params=IMPLS)
def kern(request):
    k = K.get(prefer_compiled=request.param == "numba")
    assert k.compiled == (request.param == "numba")
    return k


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
    return request.param


def reference_act(name, z):
    return {"identity": lambda z: z, "relu": lambda z: np.maximum(z, 0), "sigmoid": F.sigmoid,
            "tanh": np.tanh}[name](z)


def reference_grad(name, dy, y):
    return {"identity": dy, "relu": dy * (y > 0), "sigmoid": dy * y * (1 - y), "tanh": dy * (1 - y ** 2)}[name]


@pytest.mark.parametrize("act", list(K.ACTIVATIONS))
def test_bias_act(kern, dtype, act):
    rng = np.random.default_rng(0)
    z = (rng.standard_normal((37, 19)) * 4).astype(dtype)
    z[0, :3] = [-200.0, 200.0, 0.0]  # overflow of e^{-z} in the sigmoid, and relu's kink
    b = rng.standard_normal(19).astype(dtype)
    expected = reference_act(act, (z + b).astype(np.float64))
    kern.bias_act(z, b, K.ACTIVATIONS[act])
    assert z.dtype == dtype
    np.testing.assert_allclose(z, expected, **TOL[dtype])


@pytest.mark.parametrize("act", list(K.ACTIVATIONS))
def test_act_backward_and_bias_gradient(kern, dtype, act):
    rng = np.random.default_rng(1)
    y = reference_act(act, rng.standard_normal((40, 13))).astype(dtype)
    y[0, 0] = 0  # relu: the gradient at 0 is 0, as the reference
    dy = rng.standard_normal((40, 13)).astype(dtype)
    dz, db = np.empty_like(dy), np.empty(13, dtype)
    kern.act_backward(dy, y, K.ACTIVATIONS[act], dz, db)
    expected = reference_grad(act, dy.astype(np.float64), y.astype(np.float64))
    np.testing.assert_allclose(dz, expected, **TOL[dtype])
    np.testing.assert_allclose(db, expected.sum(axis=0), rtol=TOL[dtype]["rtol"] * 20, atol=TOL[dtype]["atol"] * 40)


def test_softmax_xent_equals_the_loss_layer(kern, dtype):
    rng = np.random.default_rng(2)
    s = (rng.standard_normal((50, 10)) * 5).astype(dtype)
    s[0] = [1000, -1000] + [0] * 8  # large scores stay finite
    y = rng.integers(0, 10, 50)
    ref = ml.losses.SoftmaxCrossEntropy()
    loss = ref.forward(s.copy(), y)
    grad = ref.backward()
    ds, pred = np.empty_like(s), np.empty(50, np.intp)
    total = kern.softmax_xent(s, y, ds, pred, 1.0 / 50)
    assert total / 50 == pytest.approx(loss, rel=TOL[dtype]["rtol"] * 10)
    np.testing.assert_allclose(ds, grad, **TOL[dtype])
    np.testing.assert_array_equal(pred, np.argmax(s, axis=1))


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_optimizer_steps_equal_mlplab_optim(kern, dtype, optimizer):
    """50 steps over a flat parameter vector against mlplab.optim's Adam / SGD."""
    rng = np.random.default_rng(3)
    theta0 = rng.standard_normal(1000).astype(dtype)
    p = ml.parameter.Parameter(theta0.copy(), "w")
    opt = ml.optim.Adam([p], lr=1e-2) if optimizer == "adam" else ml.optim.SGD([p], lr=0.1)
    theta, m, v = theta0.copy(), np.zeros_like(theta0), np.zeros_like(theta0)
    for t in range(1, 51):
        g = rng.standard_normal(1000).astype(dtype)
        p.grad[...] = g
        opt.step()
        if optimizer == "adam":
            root_c2 = np.sqrt(1 - 0.999 ** t)
            kern.adam(theta, g, m, v, 0.9, 0.999, 1e-2 * root_c2 / (1 - 0.9 ** t), 1e-8 * root_c2)
        else:
            kern.sgd(theta, g, 0.1)
    tol = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}[dtype]
    np.testing.assert_allclose(theta, p.data, **tol)
    if optimizer == "adam":
        np.testing.assert_allclose(m, opt.state[0]["m"], **tol)


def test_fused_training_equals_the_trainer(kern):
    """A training epoch composed of the kernels and BLAS products gives the Trainer's weights."""
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((300, 20)), rng.integers(0, 5, 300)
    for act, opt_name in (("sigmoid", "sgd"), ("relu", "adam"), ("tanh", "adam")):
        model = ml.mlp(20, [16, 12], 5, activation=act, seed=0, dtype="float64")
        twin = ml.mlp(20, [16, 12], 5, activation=act, seed=0, dtype="float64")
        opt = ml.optim.make_optimizer(opt_name, model.parameters(), lr=0.05 if opt_name == "sgd" else 1e-2)
        history = ml.Trainer(model, optimizer=opt, batch_size=32, epochs=3, seed=7).fit(X, y)
        fused = K.FusedMLP(twin, opt_name, lr=0.05 if opt_name == "sgd" else 1e-2)
        order_rng = np.random.default_rng(7)
        for epoch in range(3):
            loss, acc = fused.train_epoch(X, y, 32, order_rng, kern)
            assert loss == pytest.approx(history["loss"][epoch], rel=1e-10)
            assert acc == history["accuracy"][epoch]
        for a, b in zip(model.parameters(), twin.parameters()):
            np.testing.assert_allclose(a.data, b.data, rtol=1e-9, atol=1e-12)


@pytest.mark.skipif(not K.numba_available(), reason="Numba is part of the test extra")
def test_compiled_sigmoid_is_functional_sigmoid_bit_for_bit(dtype):
    """The compiled bias + sigmoid takes the steps of mlplab.functional.sigmoid in the arrays' dtype."""
    rng = np.random.default_rng(3)
    z = (rng.standard_normal((33, 17)) * 40).astype(dtype)
    z[0, :4] = [-1e4, 1e4, -100, 89]
    b = rng.standard_normal(17).astype(dtype)
    out = z.copy()
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # no overflow warning escapes the kernel
        K.get().bias_act(out, b, K.ACTIVATIONS["sigmoid"])
    np.testing.assert_array_equal(out, F.sigmoid(z + b))
