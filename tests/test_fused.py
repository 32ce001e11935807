"""The fast tier with the compiled kernels wired in (mlplab.fast + mlplab._kernels): whole training runs
through ``Trainer.fit`` give the same numbers compiled, with the fast tier's NumPy code
(``MLPLAB_NUMBA=0``, what runs without Numba) and in the reference tier."""
from __future__ import annotations

import numpy as np
import pytest

import mlplab as ml
from mlplab import _kernels as K
from mlplab import fast

pytestmark = pytest.mark.skipif(not K.numba_available(), reason="Numba is part of the test extra; "
                                "without it there is no compiled path to compare")

MODES = ("compiled", "numpy", "reference")


def _data(n=203, d=12, c=4, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * 2 + 1
    y = rng.integers(0, c, n)
    return X, y


def _fit(mode, monkeypatch, *, act="relu", opt="adam", dtype="float64", label_smoothing=0.0, dropout=0.0,
         scaler=None, weight_decay=0.0, batch_size=32, epochs=3, y_onehot=False, sample_weight=False, data=None,
         hidden=(16, 12)):
    monkeypatch.setenv("MLPLAB_NUMBA", "0" if mode == "numpy" else "1")
    X, y = data or _data()
    model = ml.mlp(X.shape[1], list(hidden), 4, activation=act, dropout=dropout, scaler=scaler, seed=0,
                   dtype=dtype, tier="reference" if mode == "reference" else "fast")
    lr = 0.05 if opt == "sgd" else 3e-3
    optimizer = ml.optim.make_optimizer(opt, model.parameters(), lr=lr, weight_decay=weight_decay)
    loss = ml.losses.SoftmaxCrossEntropy(label_smoothing=label_smoothing)
    trainer = ml.Trainer(model, loss, optimizer, batch_size=batch_size, epochs=epochs, seed=7, threads=1)
    target = np.eye(4)[y] if y_onehot else y
    w = np.random.default_rng(1).uniform(0.5, 1.5, len(y)) if sample_weight else None
    history = trainer.fit(X, target, sample_weight=w)
    return model, history, trainer


def _assert_same(runs, dtype="float64"):
    tol = dict(rtol=1e-9, atol=1e-11) if dtype == "float64" else dict(rtol=2e-3, atol=2e-4)
    (m0, h0, _), *others = runs
    for m, h, _ in others:
        np.testing.assert_allclose(h["loss"], h0["loss"], rtol=tol["rtol"] * 10)
        if dtype == "float64":
            assert h["accuracy"] == h0["accuracy"]
        np.testing.assert_allclose(m.parameters().data, m0.parameters().data, **tol)


@pytest.mark.parametrize("act", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("opt", ["sgd", "adam", "adamw"])
def test_training_equal_compiled_numpy_reference(monkeypatch, act, opt):
    runs = [_fit(mode, monkeypatch, act=act, opt=opt) for mode in MODES]
    _assert_same(runs)
    compiled_trainer = runs[0][2]
    # the compiled path really ran: the optimizer and loss were switched to the fast tier, and the
    # model fused its Dense + activation pairs
    assert type(compiled_trainer.optimizer).__module__ == "mlplab.fast"
    assert type(compiled_trainer.loss) is fast.SoftmaxCrossEntropy
    assert compiled_trainer.model._compiled_plan() is not None
    assert type(runs[2][2].optimizer).__module__ == "mlplab.optim"


@pytest.mark.parametrize("options", [
    dict(label_smoothing=0.1), dict(dropout=0.3), dict(scaler="standard"), dict(weight_decay=1e-3),
    dict(batch_size=1, epochs=1), dict(batch_size=500), dict(y_onehot=True), dict(sample_weight=True),
    dict(act="leaky_relu"), dict(hidden=(9,)),
], ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_training_equal_with_every_option(monkeypatch, options):
    """Label smoothing (compiled loss), dropout and a scaler between fused pairs, weight decay, batches
    of one row and of the whole set, one-hot targets and sample weights (the loss's NumPy path), an
    activation without a kernel (LeakyReLU: not fused)."""
    _assert_same([_fit(mode, monkeypatch, **options) for mode in MODES])


def test_float32_training_close(monkeypatch):
    runs = [_fit(mode, monkeypatch, dtype="float32", epochs=2) for mode in MODES]
    _assert_same(runs, dtype="float32")


def test_fused_forward_and_backward_equal_the_layers(monkeypatch):
    """One step through Sequential: the scores, ∂L/∂x and every gradient equal the unfused layers'."""
    X, y = _data(n=37)
    grads = {}
    for mode in ("compiled", "numpy"):
        monkeypatch.setenv("MLPLAB_NUMBA", "0" if mode == "numpy" else "1")
        model = ml.mlp(12, [16, 12], 4, activation="tanh", seed=0, dtype="float64")
        loss = fast.SoftmaxCrossEntropy()
        scores = model.forward(X, training=True).copy()
        value = loss.forward(scores, y)
        dx = model.backward(loss.backward()).copy()
        grads[mode] = (scores, value, dx, model.parameters().grad.copy())
    for a, b in zip(grads["compiled"], grads["numpy"]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_plan_pairs_only_fast_dense_with_a_kernel_activation():
    model = ml.mlp(5, [4, 3], 2, activation="relu", dropout=0.2, scaler="standard", seed=0)
    plan = fast.training_plan(model.layers)
    fused = [(type(layer).__name__, type(act).__name__) for _, layer, act, _ in plan if act is not None]
    assert fused == [("Dense", "ReLU"), ("Dense", "ReLU")]
    model.to_tier("reference")
    assert all(act is None for _, _, act, _ in fast.training_plan(model.layers))


def test_switching_off_numba_gives_the_numpy_fast_tier(monkeypatch):
    monkeypatch.setenv("MLPLAB_NUMBA", "0")
    assert fast.kernels() is None
    assert ml.mlp(3, [4], 2, seed=0)._compiled_plan() is None
    monkeypatch.setenv("MLPLAB_NUMBA", "1")
    assert fast.kernels().compiled


def test_optimizer_tier_switch_keeps_state_and_name(monkeypatch):
    model = ml.mlp(3, [4], 2, seed=0)
    opt = ml.optim.Adam(model.parameters(), lr=0.01)
    model.parameters().grad[:] = 0.5
    opt.step()
    fast.to_tier(opt, "fast")
    assert type(opt) is fast.Adam and repr(opt).startswith("Adam(")
    assert opt.state_dict()["type"] == "Adam"
    m_before = opt.state[0]["m"].copy()
    opt.step()
    assert opt.t == 2 and not np.array_equal(opt.state[0]["m"], m_before)
    fast.to_tier(opt, "reference")
    assert type(opt) is ml.optim.Adam


class _BatchHook(ml.callbacks.Callback):
    """A callback with a per-batch hook: the Trainer then calls the layers one by one."""

    def on_batch_begin(self, trainer, info):
        pass


@pytest.mark.parametrize("act", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_training_step_equals_the_layers_bit_for_bit(monkeypatch, act, dtype):
    """fast.TrainingStep (one call per batch) against the same fast-tier layers called one by one."""
    monkeypatch.setenv("MLPLAB_NUMBA", "1")
    calls = []
    real = fast.TrainingStep.__call__
    monkeypatch.setattr(fast.TrainingStep, "__call__", lambda self, *a: calls.append(1) or real(self, *a))
    X, y = _data()
    runs = []
    for hooks in ((), (_BatchHook(),)):
        model = ml.mlp(12, [16, 12], 4, activation=act, seed=0, dtype=dtype)
        loss = ml.losses.SoftmaxCrossEntropy(label_smoothing=0.1)
        trainer = ml.Trainer(model, loss, ml.optim.Adam(model.parameters(), lr=3e-3), batch_size=32, epochs=3,
                             seed=7, threads=1, callbacks=hooks)
        runs.append((trainer.fit(X, y), model.parameters().data.copy()))
        if not hooks:
            assert len(calls) == 3 * 7  # 203 rows: 7 batches per epoch, all through the step
    assert len(calls) == 21  # none with the batch hook
    (h_step, w_step), (h_layers, w_layers) = runs
    np.testing.assert_array_equal(w_step, w_layers)
    assert h_step["loss"] == h_layers["loss"] and h_step["accuracy"] == h_layers["accuracy"]


def test_training_step_applies_only_to_plain_networks(monkeypatch):
    monkeypatch.setenv("MLPLAB_NUMBA", "1")
    loss = fast.SoftmaxCrossEntropy()
    assert fast.TrainingStep.build(ml.mlp(5, [4, 3], 2, seed=0), loss) is not None
    assert fast.TrainingStep.build(ml.mlp(5, [], 2, seed=0), loss) is not None  # softmax regression
    for model in (ml.mlp(5, [4], 2, dropout=0.1, seed=0), ml.mlp(5, [4], 2, scaler="standard", seed=0),
                  ml.mlp(5, [4], 2, norm="layernorm", seed=0), ml.mlp(5, [4], 2, activation="leaky_relu", seed=0),
                  ml.mlp(5, [4], 2, seed=0, tier="reference")):
        assert fast.TrainingStep.build(model, loss) is None
    assert fast.TrainingStep.build(ml.mlp(5, [4], 2, seed=0), ml.losses.SoftmaxCrossEntropy()) is None  # reference loss
    monkeypatch.setenv("MLPLAB_NUMBA", "0")
    assert fast.TrainingStep.build(ml.mlp(5, [4], 2, seed=0), loss) is None


def test_augmentation_constraints_and_schedules_equal_across_modes(monkeypatch):
    """What the recipes add around a step (a random affine jitter of each batch, max-norm after each
    update, a per-step schedule) gives the same training compiled, with NumPy and in the reference tier."""
    from mlplab.constraints import MaxNorm
    from mlplab.data.augment import RandomAffine

    rng = np.random.default_rng(5)
    X, y = rng.random((90, 36)), rng.integers(0, 4, 90)
    runs = []
    for mode in MODES:
        monkeypatch.setenv("MLPLAB_NUMBA", "0" if mode == "numpy" else "1")
        model = ml.mlp(36, [20], 4, seed=0, dtype="float64", tier="reference" if mode == "reference" else "fast")
        opt = ml.optim.Adam(model.parameters(), lr=1e-2)
        trainer = ml.Trainer(model, ml.losses.SoftmaxCrossEntropy(label_smoothing=0.1), opt, batch_size=16, epochs=3,
                             seed=2, threads=1, augment=RandomAffine((6, 6), max_shift=1, max_rotation=10),
                             constraints=[MaxNorm(0.5)], scheduler=ml.optim.OneCycleLR(opt, max_lr=2e-2))
        runs.append((model, trainer.fit(X, y), trainer))
    _assert_same(runs)
    assert np.linalg.norm(runs[0][0].layers[0].weight.data, axis=1).max() <= 0.5 + 1e-12
