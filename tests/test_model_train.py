import numpy as np
import pytest

import mlplab as ml
from mlplab.callbacks import Callback, EarlyStopping, ModelCheckpoint, ProgressBar
from mlplab.data import minibatches, stratified_split


@pytest.fixture(scope="module")
def digits():
    return ml.data.load("digits", test_size=0.2, seed=0)


def _fit(seed, data, epochs=3, **kw):
    model = ml.mlp(64, [32, 16], 10, activation="relu", dropout=0.1, norm="batchnorm", seed=seed)
    opt = ml.optim.Adam(model.parameters(), lr=1e-3)
    h = ml.Trainer(model, optimizer=opt, batch_size=64, epochs=epochs, seed=seed, **kw).fit(
        data.X_train, data.y_train, validation=(data.X_test, data.y_test))
    return model, h


def test_same_seed_same_numbers(digits):
    m1, h1 = _fit(7, digits)
    m2, h2 = _fit(7, digits)
    assert h1 == h2
    for a, b in zip(m1.get_state(), m2.get_state()):
        np.testing.assert_array_equal(a, b)
    m3, h3 = _fit(8, digits)
    assert h3 != h1


def test_history_records_every_field(digits):
    _, h = _fit(0, digits, epochs=4)
    assert len(h) == 4
    assert h["epoch"] == [1, 2, 3, 4]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"):
        vals = h[key]
        assert all(v is not None and np.isfinite(v) for v in vals), key
    assert h["loss"][-1] < h["loss"][0]
    assert 0 <= min(h["val_accuracy"]) and max(h["val_accuracy"]) <= 1
    with pytest.raises(KeyError, match="unknown history key"):
        h["nope"]


def test_history_csv_round_trip(tmp_path, digits):
    _, h = _fit(0, digits, epochs=2)
    h.to_csv(tmp_path / "h.csv")
    back = ml.History.from_csv(tmp_path / "h.csv")
    assert back == h


def test_training_reaches_accuracy_floor_on_digits(digits):
    model = ml.mlp(64, [64], 10, activation="relu", scaler="standard", seed=0)
    ml.Trainer(model, batch_size=32, epochs=15, seed=0).fit(digits.X_train, digits.y_train)
    assert ml.metrics.accuracy(digits.y_test, model.predict(digits.X_test)) > 0.93


def test_float64_model_trains_in_float64(digits):
    model = ml.mlp(64, [16], 10, dtype="float64", seed=0)
    assert model.dtype == np.float64
    ml.Trainer(model, epochs=1).fit(digits.X_train, digits.y_train)
    assert all(p.data.dtype == np.float64 for p in model.parameters())
    assert model.predict_proba(digits.X_test).dtype == np.float64


def test_predict_proba_rows_sum_to_one(digits):
    model = ml.mlp(64, [16], 10, seed=0)
    p = model.predict_proba(digits.X_test)
    assert p.shape == (len(digits.X_test), 10)
    np.testing.assert_allclose(p.sum(1), 1, rtol=1e-5)
    np.testing.assert_array_equal(model.predict(digits.X_test), p.argmax(1))


def test_minibatches_cover_every_sample_once_last_batch_short():
    X = np.arange(10)[:, None].astype(float)
    y = np.arange(10)
    batches = list(minibatches(X, y, batch_size=4, rng=0))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    seen = np.concatenate([b[1] for b in batches])
    assert sorted(seen.tolist()) == list(range(10))
    assert not np.array_equal(seen, np.arange(10))  # shuffled
    np.testing.assert_array_equal(np.concatenate([b[0][:, 0] for b in batches]), seen)
    again = np.concatenate([b[1] for b in minibatches(X, y, 4, rng=0)])
    np.testing.assert_array_equal(seen, again)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        list(minibatches(X, y, 0))


def test_stratified_split_keeps_proportions():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    tr, te = stratified_split(y, 0.2, rng=0)
    assert len(te) == 20 and len(tr) == 80
    assert not set(tr) & set(te)
    np.testing.assert_array_equal(np.bincount(y[te]), [10, 6, 4])


def test_hand_written_loop_matches_design_doc(digits):
    rng = np.random.default_rng(0)
    model = ml.mlp(64, [32], 10, activation="sigmoid", seed=0)
    loss_fn = ml.losses.SoftmaxCrossEntropy()
    opt = ml.optim.SGD(model.parameters(), lr=0.5)
    first = None
    for epoch in range(5):
        for X_mini, y_mini in ml.data.minibatches(digits.X_train, digits.y_train, batch_size=64, rng=rng):
            loss = loss_fn.forward(model.forward(X_mini, training=True), y_mini)
            first = loss if first is None else first
            model.backward(loss_fn.backward())
            opt.step()
    assert loss < first


def test_early_stopping_restores_best_weights(digits):
    class Probe(Callback):
        def __init__(self):
            self.states = []

        def on_epoch_end(self, trainer, logs):
            self.states.append(trainer.model.get_state())

    probe = Probe()
    es = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    model = ml.mlp(64, [64], 10, seed=0)
    # a large learning rate makes validation loss turn up quickly
    opt = ml.optim.SGD(model.parameters(), lr=0.8)
    h = ml.Trainer(model, optimizer=opt, epochs=60, batch_size=16, callbacks=[probe, es], seed=0).fit(
        digits.X_train, digits.y_train, validation=(digits.X_test, digits.y_test))
    assert es.stopped_epoch > 0 and len(h) == es.stopped_epoch < 60
    best = int(np.argmin(h["val_loss"]))
    assert es.best_epoch == best + 1
    for a, b in zip(model.get_state(), probe.states[best]):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_needs_validation(digits):
    model = ml.mlp(64, [8], 10, seed=0)
    with pytest.raises(ValueError, match="cannot monitor 'val_loss'"):
        ml.Trainer(model, epochs=2, callbacks=[EarlyStopping()]).fit(digits.X_train, digits.y_train)


def test_checkpoint_best_and_last_and_resume(tmp_path, digits):
    model = ml.mlp(64, [16], 10, seed=0)
    opt = ml.optim.Adam(model.parameters())
    ck = ModelCheckpoint(tmp_path, monitor="val_accuracy")
    h = ml.Trainer(model, optimizer=opt, epochs=3, callbacks=[ck], seed=0).fit(
        digits.X_train, digits.y_train, validation=(digits.X_test, digits.y_test))
    assert ck.best_path.exists() and ck.last_path.exists()
    last = ml.io.load(ck.last_path)
    np.testing.assert_array_equal(last.predict(digits.X_test), model.predict(digits.X_test))
    meta = ml.io.read_metadata(ck.best_path)["metadata"]
    assert meta["epoch"] == int(np.argmax(h["val_accuracy"])) + 1
    assert not list(tmp_path.glob("*.tmp"))


def test_resume_from_checkpoint_continues_exactly(tmp_path, digits):
    def make():
        m = ml.mlp(64, [16], 10, seed=0)
        return m, ml.optim.Adam(m.parameters())

    # straight run: 2 epochs, then 2 more, with no checkpoint in between
    m1, o1 = make()
    t1 = ml.Trainer(m1, optimizer=o1, epochs=2, seed=1, shuffle=False)
    t1.fit(digits.X_train, digits.y_train)
    ml.io.save(m1, tmp_path / "mid.npz", optimizer=o1)
    t1.fit(digits.X_train, digits.y_train)
    # resumed run from the file
    m2 = ml.io.load(tmp_path / "mid.npz")
    o2 = ml.optim.Adam(m2.parameters())
    ml.io.restore_optimizer(o2, tmp_path / "mid.npz")
    assert o2.t == o1.t - 2 * int(np.ceil(len(digits.X_train) / 32))
    ml.Trainer(m2, optimizer=o2, epochs=2, seed=1, shuffle=False).fit(digits.X_train, digits.y_train)
    for a, b in zip(m1.get_state(), m2.get_state()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_interrupted_run_keeps_checkpoint(tmp_path, digits):
    class CtrlC(Callback):
        def on_epoch_end(self, trainer, logs):
            if logs["epoch"] == 2:
                raise KeyboardInterrupt

    model = ml.mlp(64, [16], 10, seed=0)
    ck = ModelCheckpoint(tmp_path, monitor="loss")
    trainer = ml.Trainer(model, epochs=10, callbacks=[ck, CtrlC()], progress=False)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(digits.X_train, digits.y_train)
    assert ml.io.read_metadata(ck.last_path)["metadata"]["epoch"] == 2
    ml.io.load(ck.last_path)


def test_divergence_stops_with_clear_error_and_keeps_finite_weights(digits):
    model = ml.mlp(64, [32], 10, activation="relu", seed=0)
    opt = ml.optim.SGD(model.parameters(), lr=1e30)
    trainer = ml.Trainer(model, optimizer=opt, epochs=20, seed=0)
    with np.errstate(all="ignore"):
        with pytest.raises(ml.TrainingDiverged, match=r"diverged in epoch 1 .*lower learning rate \(it is 1e\+30\)"):
            trainer.fit(digits.X_train * 1e6, digits.y_train)
    assert all(np.isfinite(p.data).all() for p in model.parameters())


def test_scheduler_changes_lr_per_epoch(digits):
    model = ml.mlp(64, [8], 10, seed=0)
    opt = ml.optim.SGD(model.parameters(), lr=0.1)
    sched = ml.optim.StepLR(opt, step_size=2, gamma=0.5)
    h = ml.Trainer(model, optimizer=opt, epochs=5, scheduler=sched).fit(digits.X_train, digits.y_train)
    assert h["lr"] == [0.1, 0.1, 0.05, 0.05, 0.025]


def test_progress_bar_writes_to_stderr(capsys, digits):
    model = ml.mlp(64, [8], 10, seed=0)
    ml.Trainer(model, epochs=2, callbacks=[ProgressBar(disable=False)]).fit(digits.X_train, digits.y_train)
    err = capsys.readouterr().err
    assert "2/2" in err and "loss=" in err


def test_scalers_are_fitted_on_training_data_and_frozen(digits):
    model = ml.mlp(64, [8], 10, scaler="standard", seed=0)
    ml.Trainer(model, epochs=1).fit(digits.X_train, digits.y_train)
    sc = model.layers[0]
    np.testing.assert_allclose(sc.shift, digits.X_train.mean(0), rtol=1e-5, atol=1e-6)
    shift = sc.shift.copy()
    ml.Trainer(model, epochs=1).fit(digits.X_test, digits.y_test)
    np.testing.assert_array_equal(sc.shift, shift)
    mm = ml.layers.MinMaxScale().fit(digits.X_train)
    out = mm.forward(digits.X_train)
    assert out.min() == 0 and out.max() == pytest.approx(1, abs=1e-6)


def test_batchnorm_uses_running_statistics_in_eval():
    bn = ml.layers.BatchNorm(3, momentum=0.5, dtype="float64")
    x = np.random.default_rng(0).standard_normal((50, 3)) * 2 + 5
    y_train = bn.forward(x, training=True)
    np.testing.assert_allclose(y_train.mean(0), 0, atol=1e-10)
    np.testing.assert_allclose(bn.running_mean, 0.5 * x.mean(0))
    y_eval = bn.forward(x, training=False)
    assert not np.allclose(y_eval, y_train)


def test_dropout_is_inverted_and_identity_in_eval():
    d = ml.layers.Dropout(0.25, rng=0)
    x = np.ones((2000, 50), dtype=np.float32)
    y = d.forward(x, training=True)
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.75], rtol=1e-6)
    assert abs((y == 0).mean() - 0.25) < 0.01
    assert abs(y.mean() - 1) < 0.02
    np.testing.assert_array_equal(d.forward(x, training=False), x)
    with pytest.raises(ValueError, match=r"Dropout probability p must be in \[0, 1\)"):
        ml.layers.Dropout(1.0)


def test_mlp_builder_structure():
    m = ml.mlp(10, [20, 30], 5, activation="leaky_relu", norm="layernorm", dropout=0.5, scaler="minmax", seed=0)
    names = [type(l).__name__ for l in m.layers]
    assert names == ["MinMaxScale", "Dense", "LayerNorm", "LeakyReLU", "Dropout",
                     "Dense", "LayerNorm", "LeakyReLU", "Dropout", "Dense"]
    assert m.layers[1].weight.shape == (20, 10)
    assert m.n_parameters() == 10 * 20 + 20 + 40 + 20 * 30 + 30 + 60 + 30 * 5 + 5
    w = ml.mlp(100, [100], 3, init=0.01, seed=0).layers[0].weight.data
    assert abs(w.std() - 0.01) < 0.001
    he = ml.mlp(1000, [500], 3, init="he", seed=0).layers[0].weight.data
    assert abs(he.std() - np.sqrt(2 / 1000)) < 0.002
    assert all(p.decay == (p.name == "weight") for p in m.parameters())


def test_sample_weight_equals_repeating_samples():
    """Weight 2 on a sample is the same as that sample appearing twice (full-batch, sum reduction)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 3))
    y = np.array([0, 1, 2, 0, 1, 2])
    w = np.array([1, 2, 1, 1, 3, 1], dtype=float)
    Xr, yr = np.repeat(X, w.astype(int), axis=0), np.repeat(y, w.astype(int))

    def train(X, y, w):
        m = ml.mlp(3, [4], 3, dtype="float64", seed=0)
        opt = ml.optim.SGD(m.parameters(), lr=0.1)
        ml.Trainer(m, ml.losses.SoftmaxCrossEntropy("sum"), opt, batch_size=100, epochs=3, shuffle=False).fit(
            X, y, sample_weight=w)
        return m.get_state()

    for a, b in zip(train(X, y, w), train(Xr, yr, None)):
        np.testing.assert_allclose(a, b, rtol=1e-10)
    with pytest.raises(ValueError, match="sample_weight has 5 entries for 6 samples"):
        ml.Trainer(ml.mlp(3, [4], 3)).fit(X, y, sample_weight=w[:5])


def test_predicting_between_forward_and_backward_keeps_gradients():
    model = ml.mlp(5, [4], 3, norm="batchnorm", dropout=0.2, dtype="float64", seed=0)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 5)), np.arange(8) % 3
    loss = ml.losses.SoftmaxCrossEntropy()

    def grads(predict_between):
        for d in model.layers:
            if isinstance(d, ml.layers.Dropout):
                d.rng = np.random.default_rng(1)
        loss.forward(model.forward(x, training=True), y)
        dy = loss.backward()
        if predict_between:
            model.predict(rng.standard_normal((3, 5)))
        model.backward(dy)
        return [p.grad.copy() for p in model.parameters()]

    for a, b in zip(grads(False), grads(True)):
        np.testing.assert_array_equal(a, b)


def test_divergence_raises_without_numpy_warnings(digits):
    import warnings

    model = ml.mlp(64, [32], 10, seed=0)
    trainer = ml.Trainer(model, optimizer=ml.optim.SGD(model.parameters(), lr=1e30), epochs=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ml.TrainingDiverged):
            trainer.fit(digits.X_train * 1e6, digits.y_train)
