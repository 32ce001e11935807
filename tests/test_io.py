import json
import zipfile

import numpy as np
import pytest

import mlplab as ml


@pytest.fixture()
def trained(tmp_path):
    data = ml.data.load("digits", seed=0)
    model = ml.mlp(64, [16, 8], 10, norm="batchnorm", dropout=0.1, scaler="standard", seed=0)
    opt = ml.optim.Adam(model.parameters())
    ml.Trainer(model, optimizer=opt, epochs=2).fit(data.X_train, data.y_train)
    return model, opt, data


def test_round_trip_predictions_and_buffers(tmp_path, trained):
    model, _, data = trained
    path = ml.io.save(model, tmp_path / "m.npz", metadata={"class_names": data.class_names})
    back = ml.io.load(path)
    assert [type(l) for l in back.layers] == [type(l) for l in model.layers]
    np.testing.assert_array_equal(back.decision_function(data.X_test), model.decision_function(data.X_test))
    for a, b in zip(back.get_state(), model.get_state()):
        np.testing.assert_array_equal(a, b)
    assert ml.io.read_metadata(path)["metadata"]["class_names"] == data.class_names


def test_float64_round_trip(tmp_path):
    m = ml.mlp(3, [4], 2, dtype="float64", seed=0)
    back = ml.io.load(ml.io.save(m, tmp_path / "m.npz"))
    assert back.dtype == np.float64


def test_optimizer_state_round_trip(tmp_path, trained):
    model, opt, _ = trained
    ml.io.save(model, tmp_path / "m.npz", optimizer=opt)
    back = ml.io.load(tmp_path / "m.npz")
    opt2 = ml.optim.Adam(back.parameters())
    ml.io.load(tmp_path / "m.npz", optimizer=opt2)
    assert opt2.t == opt.t
    for s1, s2 in zip(opt.state, opt2.state):
        np.testing.assert_array_equal(s1["m"], s2["m"])
    with pytest.raises(ValueError, match="state is for optimizer 'Adam', not SGD"):
        ml.io.restore_optimizer(ml.optim.SGD(back.parameters(), lr=0.1), tmp_path / "m.npz")
    ml.io.save(model, tmp_path / "plain.npz")
    with pytest.raises(ValueError, match="holds no optimizer state"):
        ml.io.restore_optimizer(opt2, tmp_path / "plain.npz")


def test_truncated_file(tmp_path, trained):
    model, _, _ = trained
    path = ml.io.save(model, tmp_path / "m.npz")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="not a readable mlplab model file"):
        ml.io.load(path)


def test_not_an_mlplab_file(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="was not written by mlplab"):
        ml.io.load(tmp_path / "other.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="not a readable mlplab model file"):
        ml.io.load(tmp_path / "text.npz")
    with pytest.raises(FileNotFoundError, match="model file not found"):
        ml.io.load(tmp_path / "missing.npz")


def _rewrite(path, change):
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    change(arrays)
    np.savez(path, **arrays)


def test_wrong_shapes_and_dtypes_rejected(tmp_path, trained):
    model, _, _ = trained
    path = ml.io.save(model, tmp_path / "m.npz")

    def bad_shape(a):
        a["layers.1.weight"] = np.zeros((3, 3), np.float32)

    _rewrite(path, bad_shape)
    with pytest.raises(ValueError, match=r"'layers.1.weight' has shape \(3, 3\), the architecture needs \(16, 64\)"):
        ml.io.load(path)

    path = ml.io.save(model, tmp_path / "m2.npz")
    _rewrite(path, lambda a: a.update({"layers.1.bias": a["layers.1.bias"].astype(np.float64)}))
    with pytest.raises(ValueError, match="dtype float64, expected float32"):
        ml.io.load(path)

    path = ml.io.save(model, tmp_path / "m3.npz")
    _rewrite(path, lambda a: a.pop("layers.1.bias"))
    with pytest.raises(ValueError, match="missing array 'layers.1.bias'"):
        ml.io.load(path)


def test_pickled_object_arrays_are_refused(tmp_path, trained):
    model, _, _ = trained
    path = ml.io.save(model, tmp_path / "m.npz")

    def inject(a):
        a["layers.1.weight"] = np.array([{"evil": 1}], dtype=object)

    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    inject(arrays)
    np.savez(path, **arrays)  # needs pickle for the object array
    with pytest.raises(ValueError, match="has dtype object, expected float32 .*never unpickled"):
        ml.io.load(path)


def test_foreign_header(tmp_path):
    blob = json.dumps({"format": "something-else"}).encode()
    np.savez(tmp_path / "x.npz", __mlplab__=np.frombuffer(blob, np.uint8))
    with pytest.raises(ValueError, match="format 'something-else'"):
        ml.io.load(tmp_path / "x.npz")


def test_save_is_atomic_on_failure(tmp_path, trained):
    model, _, _ = trained
    path = ml.io.save(model, tmp_path / "m.npz")
    before = path.read_bytes()
    with pytest.raises(TypeError, match="JSON-serialisable"):
        ml.io.save(model, path, metadata={"bad": object()})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]
    assert zipfile.is_zipfile(path)


def test_written_files_have_normal_permissions(tmp_path):
    import os
    import stat

    path = ml.io.save(ml.mlp(2, [2], 2, seed=0), tmp_path / "m.npz")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_save_refuses_what_load_would_refuse(tmp_path):
    model = ml.mlp(3, [4], 2, seed=0)
    model.layers[0].weight.data[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"layers.0.weight holds 1 NaN or infinite values \(did training diverge\?\)"):
        ml.io.save(model, tmp_path / "m.npz")
    assert not list(tmp_path.iterdir())  # nothing written
    model = ml.mlp(3, [4], 2, seed=0)
    with pytest.raises(TypeError, match=r"without NaN or infinity \(metadata\[.lr.\] is nan\)"):
        ml.io.save(model, tmp_path / "m.npz", metadata={"lr": float("nan")})
    deep: list = []
    for _ in range(ml.io.MAX_JSON_DEPTH + 1):
        deep = [deep]
    with pytest.raises(ValueError, match=r"cannot save to .*nested \d+ levels deep, at most 32"):
        ml.io.save(model, tmp_path / "m.npz", metadata={"deep": deep})
    with pytest.raises(TypeError, match="metadata must be a dict"):
        ml.io.save(model, tmp_path / "m.npz", metadata=["a"])

    bn = ml.mlp(3, [4], 2, norm="batchnorm", seed=0)
    bn.layers[1].running_var[0] = -0.5
    with pytest.raises(ValueError, match=r"'layers.1.running_var' holds -0.5, but its values must be >= 0.0"):
        ml.io.save(bn, tmp_path / "m.npz")

    class Custom(ml.layers.Identity):
        pass

    with pytest.raises(ValueError, match="layer 1 has unknown type 'Custom'"):
        ml.io.save(ml.Sequential([ml.layers.Dense(2, 2, rng=0), Custom()]), tmp_path / "m.npz")
    assert not list(tmp_path.iterdir())


def test_every_layer_type_round_trips_without_random_init(tmp_path, monkeypatch):
    model = ml.Sequential([ml.layers.MinMaxScale(), ml.layers.Dense(3, 5, init=0.5, rng=0), ml.layers.LayerNorm(5),
                           ml.layers.LeakyReLU(0.2), ml.layers.Dropout(0.3, rng=0), ml.layers.Dense(5, 4, rng=1),
                           ml.layers.BatchNorm(4, momentum=0.2, eps=1e-3), ml.layers.Tanh(), ml.layers.Sigmoid(),
                           ml.layers.Identity(), ml.layers.Dense(4, 2, init="xavier_uniform", rng=2)]).astype("float64")
    X = np.random.default_rng(0).random((6, 3))
    model.fit_scalers(X)
    path = ml.io.save(model, tmp_path / "m.npz")
    import mlplab.init

    calls = []
    real = mlplab.init.init_weight
    monkeypatch.setattr(mlplab.layers, "init_weight", lambda m, fi, fo, *a, **k: calls.append((fi, fo)) or real(m, fi, fo, *a, **k))
    back = ml.io.load(path)
    assert all(c == (1, 1) for c in calls), f"load drew initial weights of shapes {calls}"
    assert back.config() == model.config() and back.dtype == np.float64
    np.testing.assert_array_equal(back.decision_function(X), model.decision_function(X))
    for a, b in zip(back.get_state(), model.get_state()):
        np.testing.assert_array_equal(a, b)


def test_unfitted_scaler_round_trips(tmp_path):
    model = ml.mlp(3, [2], 2, scaler="standard", seed=0)
    back = ml.io.load(ml.io.save(model, tmp_path / "m.npz"))
    assert not back.layers[0].fitted


def test_compressed_file_loads(tmp_path, trained):
    """np.savez_compressed (deflate) is accepted: a user may recompress a file to ship it."""
    model, opt, data = trained
    path = ml.io.save(model, tmp_path / "m.npz", optimizer=opt)
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    np.savez_compressed(tmp_path / "c.npz", **arrays)
    back = ml.io.load(tmp_path / "c.npz", optimizer=ml.optim.Adam(ml.io.load(tmp_path / "c.npz").parameters()))
    np.testing.assert_array_equal(back.decision_function(data.X_test), model.decision_function(data.X_test))


def test_optimizer_for_another_model_is_refused(tmp_path, trained):
    model, opt, _ = trained
    path = ml.io.save(model, tmp_path / "m.npz", optimizer=opt)
    other = ml.optim.Adam(ml.mlp(64, [5], 10, seed=0).parameters())
    with pytest.raises(ValueError, match="are not the saved model's"):
        ml.io.restore_optimizer(other, path)


def test_checkpoint_records_a_non_finite_log_value_as_none(tmp_path):
    """save refuses NaN/inf in metadata; the checkpoint writes such an epoch value as None instead of failing."""
    from mlplab.callbacks import ModelCheckpoint

    model = ml.mlp(3, [4], 1, seed=0)

    class _Trainer:
        optimizer = ml.optim.SGD(model.parameters(), lr=0.1)

    _Trainer.model = model
    ModelCheckpoint(tmp_path, monitor="loss").on_epoch_end(
        _Trainer, {"epoch": 1, "loss": 1.0, "val_loss": float("inf"), "accuracy": None})
    logs = ml.io.read_metadata(tmp_path / "last.npz")["metadata"]["logs"]
    assert logs["val_loss"] is None and logs["loss"] == 1.0
    assert ml.io.load(tmp_path / "best.npz").n_parameters() == model.n_parameters()
