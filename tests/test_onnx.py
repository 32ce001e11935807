"""ONNX export (mlplab.onnx): onnxruntime computes what mlplab computes.

Every layer type, both estimators (multiclass, binary, multilabel; squared error and Poisson), the
skl2onnx route (alone and in a Pipeline with a StandardScaler) and ``mlplab export``; float32
outputs within 1e-5 of mlplab's, on digits and on a regression set.
"""
import subprocess
import sys
import warnings

import numpy as np
import onnxruntime as ort
import pytest
import skl2onnx
from sklearn.datasets import load_diabetes, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mlplab as ml
from mlplab import layers as L
from mlplab.estimator import MLPClassifier, MLPRegressor

TOL = {"rtol": 1e-5, "atol": 1e-5}


def quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*args, **kw)


def run(proto, X):
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: X})


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return X, y


def _trained(layers, X, y, dtype="float32"):
    model = ml.Sequential(layers).astype(dtype)
    ml.Trainer(model, batch_size=64, epochs=2, seed=0).fit(X, y)   # batch statistics, fitted scalers
    return model


def _layer_cases(rng):
    d = lambda i, o: L.Dense(i, o, rng=rng)
    return {
        "sigmoid": [d(64, 16), L.Sigmoid(), d(16, 10)],
        "tanh": [d(64, 16), L.Tanh(), d(16, 10)],
        "relu": [d(64, 16), L.ReLU(), d(16, 10)],
        "leaky_relu": [d(64, 16), L.LeakyReLU(0.1), d(16, 10)],
        "identity": [d(64, 16), L.Identity(), d(16, 10)],
        "batchnorm": [d(64, 16), L.BatchNorm(16), L.ReLU(), d(16, 10)],
        "layernorm": [d(64, 16), L.LayerNorm(16), L.Tanh(), d(16, 10)],
        "dropout": [d(64, 16), L.ReLU(), L.Dropout(0.5, rng=rng), d(16, 10)],
        "standardize": [L.Standardize(), d(64, 16), L.ReLU(), d(16, 10)],
        "minmax": [L.MinMaxScale(), d(64, 16), L.ReLU(), d(16, 10)],
    }


@pytest.mark.parametrize("case", list(_layer_cases(np.random.default_rng(0))))
def test_every_layer_type_runs_as_in_mlplab(case, digits):
    X, y = digits
    model = _trained(_layer_cases(np.random.default_rng(0))[case], X, y)
    scores, proba = run(ml.io.to_onnx(model), X)
    np.testing.assert_allclose(scores, model.decision_function(X), **TOL)
    np.testing.assert_allclose(proba, model.predict_proba(X), **TOL)
    assert scores.dtype == np.float32


def test_float64_and_old_opset_layernorm(digits):
    X, y = digits
    model = _trained(_layer_cases(np.random.default_rng(1))["layernorm"], X, y, dtype="float64")
    for opset in (15, 17):           # below 17 LayerNorm is written as elementary operators
        proto = ml.io.to_onnx(model, opset=opset)
        assert ("LayerNormalization" in {n.op_type for n in proto.graph.node}) == (opset >= 17)
        scores, _ = run(proto, X.astype(np.float64))
        np.testing.assert_allclose(scores, model.decision_function(X), rtol=1e-10, atol=1e-10)
    scores32, _ = run(ml.io.to_onnx(model, dtype="float32"), X)
    np.testing.assert_allclose(scores32, model.decision_function(X), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("params", [dict(), dict(normalization="batchnorm", dropout=0.2),
                                    dict(normalization="layernorm", activation="logistic")],
                         ids=["plain", "batchnorm-dropout", "layernorm"])
def test_classifier_labels_and_probabilities(params, digits, tmp_path):
    X, y = digits
    clf = quiet(MLPClassifier((32,), max_iter=15, random_state=0, **params).fit, X, y)
    label, proba = run(ml.io.to_onnx(clf, tmp_path / "clf.onnx"), X)
    np.testing.assert_array_equal(label, clf.predict(X))
    np.testing.assert_allclose(proba, clf.predict_proba(X), **TOL)
    assert (tmp_path / "clf.onnx").stat().st_size > 1000


def test_binary_string_labels_and_multilabel(digits):
    X, y = digits
    names = np.array(["even", "odd"])[y % 2]
    clf = quiet(MLPClassifier((16,), max_iter=10, random_state=0).fit, X, names)
    label, proba = run(ml.io.to_onnx(clf), X)
    np.testing.assert_array_equal(label, clf.predict(X))
    np.testing.assert_allclose(proba, clf.predict_proba(X), **TOL)
    Y = np.c_[y % 2, y > 4, y == 0]
    multi = quiet(MLPClassifier((16,), max_iter=10, random_state=0).fit, X, Y)
    label, proba = run(ml.io.to_onnx(multi), X)
    np.testing.assert_array_equal(label, multi.predict(X))
    np.testing.assert_allclose(proba, multi.predict_proba(X), **TOL)


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_regressor(loss, diabetes):
    X, y = diabetes
    X = StandardScaler().fit_transform(X).astype(np.float32)
    target = y / 100 if loss == "poisson" else (y - y.mean()) / y.std()
    reg = quiet(MLPRegressor(loss=loss, hidden_layer_sizes=(16,), max_iter=30, random_state=0).fit, X, target)
    (variable,) = run(ml.io.to_onnx(reg), X)
    np.testing.assert_allclose(variable[:, 0], reg.predict(X), **TOL)


def test_skl2onnx_alone_and_in_a_pipeline(digits, diabetes):
    X, y = digits
    clf = quiet(MLPClassifier((32,), max_iter=15, random_state=0).fit, X, y)
    label, proba = run(skl2onnx.to_onnx(clf, X[:1]), X)
    np.testing.assert_array_equal(label, clf.predict(X))
    np.testing.assert_allclose(proba, clf.predict_proba(X), **TOL)

    pipe = quiet(make_pipeline(StandardScaler(), MLPClassifier((32,), max_iter=15, random_state=0)).fit, X, y)
    label, proba = run(skl2onnx.to_onnx(pipe, X[:1]), X)
    np.testing.assert_array_equal(label, pipe.predict(X))
    np.testing.assert_allclose(proba, pipe.predict_proba(X), **TOL)

    names = np.array(["zero", "one", "two"])[y % 3]           # string labels, float64 input
    pipe = quiet(make_pipeline(StandardScaler(), MLPClassifier((16,), max_iter=10, random_state=0)).fit,
                 X.astype(np.float64), names)
    X64 = X.astype(np.float64)
    label, proba = run(skl2onnx.to_onnx(pipe, X64[:1]), X64)
    np.testing.assert_array_equal(label, pipe.predict(X64))
    np.testing.assert_allclose(proba, pipe.predict_proba(X64), rtol=1e-10, atol=1e-12)

    Xr, yr = diabetes
    Xr = Xr.astype(np.float32)
    reg = quiet(make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(16,), max_iter=30,
                                                              random_state=0)).fit, Xr, yr / 100)
    (variable,) = run(skl2onnx.to_onnx(reg, Xr[:1]), Xr)
    np.testing.assert_allclose(variable[:, 0], reg.predict(Xr), **TOL)
    reg64 = quiet(MLPRegressor(hidden_layer_sizes=(16,), max_iter=30, random_state=0).fit, Xr.astype(np.float64),
                  yr / 100)
    (variable,) = run(skl2onnx.to_onnx(reg64, Xr[:1].astype(np.float64)), Xr.astype(np.float64))
    np.testing.assert_allclose(variable[:, 0], reg64.predict(Xr), rtol=1e-10)


def test_cli_export(digits, tmp_path, capsys):
    X, y = digits
    model = _trained(_layer_cases(np.random.default_rng(2))["batchnorm"], X, y)
    ml.io.save(model, tmp_path / "model.npz")
    out = tmp_path / "model.onnx"
    proc = subprocess.run([sys.executable, "-m", "mlplab.cli", "export", str(tmp_path / "model.npz"), "--onnx",
                           str(out)], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    _, proba = sess.run(None, {"X": X})
    np.testing.assert_allclose(proba, model.predict_proba(X), **TOL)
    from mlplab import cli
    assert cli.main(["export", str(tmp_path / "missing.npz"), "--onnx", str(out)]) == cli.EXIT_FAILED
    assert capsys.readouterr().err.strip().startswith("mlplab: error: model file not found")


def test_clear_errors(monkeypatch):
    with pytest.raises(ValueError, match="is not fitted yet"):
        ml.io.to_onnx(MLPClassifier())
    with pytest.raises(TypeError, match="expects an mlplab Sequential model"):
        ml.io.to_onnx(object())
    with pytest.raises(ValueError, match="Standardize is not fitted"):
        ml.io.to_onnx(ml.mlp(64, [8], 10, scaler="standard"))
    monkeypatch.setitem(sys.modules, "onnx", None)          # as if the extra were not installed
    with pytest.raises(ImportError, match=r'pip install "mlplab\[onnx\]"'):
        ml.io.to_onnx(ml.mlp(64, [8], 10))


def test_cli_says_how_to_install_onnx(tmp_path, monkeypatch, capsys):
    from mlplab import cli
    ml.io.save(ml.mlp(64, [8], 10), tmp_path / "m.npz")
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert cli.main(["export", str(tmp_path / "m.npz"), "--onnx", str(tmp_path / "m.onnx")]) == cli.EXIT_FAILED
    err = capsys.readouterr().err.strip()
    assert err.startswith("mlplab: error: exporting to ONNX needs the 'onnx' package") and "mlplab[onnx]" in err
    assert not (tmp_path / "m.onnx").exists()
