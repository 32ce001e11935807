"""The speed measures of issue 6 change how things are computed, never what: each fast path is
checked here against the plain one (see docs/performance.md for what they are and why)."""
from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import mlplab as ml
from mlplab._validation import all_finite
from mlplab import optim
from mlplab.data.batching import take


def _model(dtype="float64", seed=0, **kw):
    return ml.mlp(6, [5, 4], 3, dtype=dtype, seed=seed, **kw)


def _unpack(model):
    """Give every Parameter arrays of its own again: the optimizer then goes Parameter by Parameter."""
    for p in model.parameters():
        p.data = p.data.copy()
        p.grad = p.grad.copy()
    return model


# ------------------------------------------------------------------ contiguous parameter storage

def test_parameters_are_views_of_one_flat_array_with_unchanged_values():
    rng = np.random.default_rng(0)
    layers = [ml.layers.Dense(6, 5, rng=rng, dtype="float64"), ml.layers.ReLU(),
              ml.layers.Dense(5, 3, rng=rng, dtype="float64")]
    before = [p.data.copy() for layer in layers for p in layer.parameters()]
    model = ml.Sequential(layers)
    params = model.parameters()
    base = params[0].data.base
    assert base is not None and base.ndim == 1 and base.size == sum(p.data.size for p in params)
    assert all(p.data.base is base for p in params)
    assert all(p.grad.base is params[0].grad.base for p in params)
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.data, b)
        assert p.data.flags.c_contiguous and p.data.shape == b.shape


@pytest.mark.parametrize("how", ["astype", "deepcopy", "pickle"])
def test_packing_survives_astype_copy_and_pickle(how):
    model = _model("float32")
    x = np.random.default_rng(1).standard_normal((4, 6))
    want = model.forward(x.astype(np.float32))
    if how == "astype":
        model.astype("float64")
    elif how == "deepcopy":
        model = copy.deepcopy(model)
    else:
        model = pickle.loads(pickle.dumps(model))
    params = model.parameters()
    assert all(p.data.base is params[0].data.base for p in params)
    np.testing.assert_allclose(model.forward(x.astype(model.dtype)), want, rtol=1e-6)


def test_pickle_leaves_out_the_reused_buffers():
    """After a training batch of 500 rows, one evaluation row shrinks what the layers keep for
    backward (as mlplab.estimator does before pickling); the reused buffers are never pickled."""
    model, fresh = _model(), _model()
    model.forward(np.zeros((500, 6)), training=True)
    model.backward(np.zeros((500, 3)))
    for m in (model, fresh):
        m.forward(np.zeros((1, 6)))
    assert abs(len(pickle.dumps(model)) - len(pickle.dumps(fresh))) < 500


# ------------------------------------------------------------------ optimizers: flat = per Parameter

CASES = [(optim.SGD, {"lr": 0.1}), (optim.Momentum, {"lr": 0.05, "momentum": 0.8}),
         (optim.Nesterov, {"lr": 0.05, "momentum": 0.7}), (optim.AdaGrad, {"lr": 0.3, "eps": 1e-3}),
         (optim.RMSProp, {"lr": 0.01, "rho": 0.9, "eps": 1e-3}),
         (optim.Adam, {"lr": 0.02, "beta1": 0.8, "beta2": 0.95, "eps": 1e-3}),
         (optim.AdamW, {"lr": 0.02, "beta1": 0.8, "beta2": 0.95, "eps": 1e-3})]


def _trajectory(model, cls, hp, steps=6, **kw):
    opt = cls(model.parameters(), **hp, **kw)
    rng = np.random.default_rng(3)
    out = []
    for _ in range(steps):
        for p in model.parameters():
            p.grad[...] = rng.standard_normal(p.grad.shape)
        opt.step()
        out.append([p.data.copy() for p in model.parameters()])
    return out, opt


@pytest.mark.parametrize("cls,hp", CASES, ids=[c.__name__ for c, _ in CASES])
@pytest.mark.parametrize("decay", [dict(), dict(weight_decay=0.1), dict(weight_decay=0.1, decay_all=True)],
                         ids=["no-decay", "decay-weights", "decay-all"])
@pytest.mark.parametrize("block", [1 << 17, 7])  # 7: many blocks, cut across Parameters
def test_flat_update_equals_per_parameter_update_bit_for_bit(cls, hp, decay, block, monkeypatch):
    monkeypatch.setattr(optim, "BLOCK_SIZE", block)
    packed, _ = _trajectory(_model(), cls, hp, **decay)
    plain, _ = _trajectory(_unpack(_model()), cls, hp, **decay)
    for a, b in zip(packed, plain):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_flat_path_is_used_and_state_entries_are_views():
    model = _model()
    _, opt = _trajectory(model, optim.Adam, {"lr": 0.01}, steps=1)
    blocks = opt._blocks()
    assert len(blocks) == 1 and blocks[0].theta.size == model.n_parameters()
    m = opt.state[0]["m"]
    assert m.base is blocks[0].state["m"].base and m.shape == model.parameters()[0].data.shape


def test_state_dict_round_trip_in_flat_mode_resumes_exactly():
    straight, _ = _trajectory(_model(), optim.Adam, {"lr": 0.01}, steps=8)
    model = _model()
    opt = optim.Adam(model.parameters(), lr=0.01)
    rng = np.random.default_rng(3)
    for step in range(8):
        if step == 4:  # save and load into a fresh optimizer mid-way
            sd = opt.state_dict()
            opt = optim.Adam(model.parameters(), lr=0.01)
            opt.load_state_dict(sd)
        for p in model.parameters():
            p.grad[...] = rng.standard_normal(p.grad.shape)
        opt.step()
    for a, b in zip(straight[-1], [p.data for p in model.parameters()]):
        np.testing.assert_array_equal(a, b)


def test_replaced_parameter_arrays_are_noticed():
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.5)
    for p in model.parameters():
        p.grad[...] = 1.0
    opt.step()
    w = model.parameters()[0]
    w.data = np.zeros_like(w.data)   # a new array: the next step must update this one
    opt.step()
    np.testing.assert_array_equal(w.data, -0.5)


def test_step_leaves_grad_unchanged_with_decay_in_flat_mode():
    model = _model()
    opt = optim.Adam(model.parameters(), lr=0.01, weight_decay=0.1, decay_all=True)
    for p in model.parameters():
        p.grad[...] = 0.5
    opt.step()
    assert all(np.all(p.grad == 0.5) for p in model.parameters())


# ------------------------------------------------------------------ layers and model

@pytest.mark.parametrize("layer", [ml.layers.Sigmoid(), ml.layers.Tanh(), ml.layers.ReLU(),
                                   ml.layers.Dense(6, 4, rng=0, dtype="float64")])
def test_training_and_evaluation_mode_compute_the_same(layer):
    x = np.random.default_rng(2).standard_normal((5, 6))
    dy = np.random.default_rng(3).standard_normal(layer.forward(x).shape)
    y_eval = layer.forward(x, training=False)
    dx_eval = layer.backward(dy).copy()
    y_train = layer.forward(x, training=True)
    np.testing.assert_array_equal(y_train, y_eval)
    np.testing.assert_array_equal(layer.backward(dy), dx_eval)


def test_evaluation_outputs_are_never_overwritten():
    model = _model()
    x1, x2 = np.ones((3, 6)), -np.ones((3, 6))
    keep = model.forward(x1)
    snapshot = keep.copy()
    model.forward(x2)
    model.forward(x2, training=True)
    model.backward(np.ones((3, 3)))
    np.testing.assert_array_equal(keep, snapshot)
    p = model.predict_proba(x1)
    model.predict_proba(x2)
    np.testing.assert_allclose(p, ml.functional.softmax(snapshot))


def test_backward_without_input_grad_gives_the_same_parameter_gradients():
    model = _model(scaler="standard")
    x = np.random.default_rng(4).standard_normal((7, 6))
    model.fit_scalers(x)
    dy = np.random.default_rng(5).standard_normal((7, 3))
    model.forward(x, training=True)
    dx = model.backward(dy)
    assert dx.shape == x.shape
    full = [p.grad.copy() for p in model.parameters()]
    model.forward(x, training=True)
    assert model.backward(dy, input_grad=False) is None
    for a, b in zip(full, model.parameters()):
        np.testing.assert_array_equal(a, b.grad)


def test_sigmoid_tails_and_out():
    x = np.array([-1e4, -80, -30, 0, 30, 1e4], dtype=np.float32)  # σ(-80) = 1.8e-35, still normal
    out = np.empty_like(x)
    y = ml.functional.sigmoid(x, out=out)
    assert y is out
    np.testing.assert_allclose(y[1:-1], 1 / (1 + np.exp(-x[1:-1].astype(np.float64))), rtol=1e-6, atol=0)
    assert y[0] == 0 and y[-1] == 1


# ------------------------------------------------------------------ Trainer

def test_fast_input_check_still_rejects_nan_and_accepts_huge_finite_values():
    model = ml.mlp(3, [4], 2, seed=0)
    X = np.ones((8, 3), dtype=np.float32)
    y = np.array([0, 1] * 4)
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ml.Trainer(model, epochs=1).fit(X, y)
    X = np.full((8, 3), 3e38, dtype=np.float32)  # finite, but the sum overflows: the full check decides
    assert all_finite(X)
    checked, _ = ml.Trainer(model, epochs=1)._check_xy(X, y)
    np.testing.assert_array_equal(checked, X)
    X[0, 0] = np.inf
    assert not all_finite(X)
    X = np.ones((8, 3), dtype=np.float32)
    checked, _ = ml.Trainer(model, epochs=1)._check_xy(X, y)
    assert checked is X   # already valid: no copy


@pytest.mark.parametrize("shuffle", [True, False])
def test_training_accuracy_counts_the_batches_as_they_went(shuffle):
    data = ml.data.load("digits", test_size=0.2, seed=0)
    model = ml.mlp(64, [16], 10, seed=0)
    tr = ml.Trainer(model, batch_size=100, epochs=1, seed=0, shuffle=shuffle)
    # recompute the epoch by hand with the same order and the same starting weights
    twin = copy.deepcopy(model)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(data.y_train)) if shuffle else np.arange(len(data.y_train))
    opt = ml.optim.Adam(twin.parameters())
    loss = ml.losses.SoftmaxCrossEntropy()
    correct = 0
    for start in range(0, len(order), 100):
        i = order[start:start + 100]
        s = twin.forward(data.X_train[i], training=True)
        correct += int(np.sum(np.argmax(s, 1) == data.y_train[i]))
        loss.forward(s, data.y_train[i])
        twin.backward(loss.backward())
        opt.step()
    h = tr.fit(data.X_train, data.y_train)
    assert h["accuracy"][0] == correct / len(order)
    for a, b in zip(model.parameters(), twin.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_take_into_out():
    a = np.arange(20.0).reshape(10, 2)
    out = np.empty((3, 2))
    assert take(a, np.array([4, 0, 9]), out) is out
    np.testing.assert_array_equal(out, a[[4, 0, 9]])
    np.testing.assert_array_equal(take(a, slice(8, 11), np.empty((2, 2))), a[8:])
