"""mlplab.estimator: scikit-learn semantics on mlplab's engine.

The parity tests start scikit-learn's MLP and ours from the same weights and compare them after
several epochs: with the SGD family they must agree to rounding (same loss scaling, L2 term per
batch, sample weights, schedules, tol-based stopping); with Adam to about 1e-4 (epsilon sits
elsewhere, see docs/estimator.md).
"""
import pickle
import re
import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mlplab as ml
from mlplab.callbacks import Callback
from mlplab.estimator import MLPClassifier, MLPRegressor


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(53, 5))
    return {
        "X": X,
        "multiclass": rng.integers(0, 3, 53),
        "binary": np.array(["no", "yes"])[rng.integers(0, 2, 53)],
        "multilabel": rng.integers(0, 2, (53, 3)),
        "regression": X @ rng.normal(size=5) + 0.1 * rng.normal(size=53),
        "regression2": np.c_[X[:, 0] - X[:, 1], X[:, 2] * 2],
        "weights": rng.integers(0, 4, 53).astype(float),
    }


def quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*args, **kw)


# ---------------------------------------------------------------------------- parity with scikit-learn

def _same_start(kind, params, small, sample_weight=None, epochs=15):
    """Fit ours and scikit-learn's for ``epochs`` epochs from identical weights (warm start)."""
    X, y = small["X"], small[kind]
    ours_cls, sk_cls = (MLPRegressor, SkRegressor) if kind.startswith("regression") else (MLPClassifier, SkClassifier)
    base = dict(hidden_layer_sizes=(7, 4), activation="tanh", alpha=0.3, batch_size=10, shuffle=False,
                max_iter=1, random_state=0, learning_rate_init=0.05)
    base.update(params)
    ours = quiet(ours_cls(**base).fit, X, y)
    sk = quiet(sk_cls(**base).fit, X, y)
    sk.coefs_ = [c.copy() for c in ours.coefs_]
    sk.intercepts_ = [b.copy() for b in ours.intercepts_]
    for est in (ours, sk):
        est.set_params(warm_start=True, max_iter=epochs)
        quiet(est.fit, X, y, sample_weight=sample_weight)
    return ours, sk


def _max_diff(ours, sk):
    return max(float(np.max(np.abs(a - b))) for a, b in zip(ours.coefs_ + ours.intercepts_,
                                                               sk.coefs_ + sk.intercepts_))


@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel", "regression", "regression2"])
@pytest.mark.parametrize("weighted", [False, True])
def test_sgd_matches_sklearn_to_rounding(kind, weighted, small):
    sw = small["weights"] if weighted else None
    ours, sk = _same_start(kind, dict(solver="sgd", momentum=0.9), small, sample_weight=sw)
    assert _max_diff(ours, sk) < 1e-12
    np.testing.assert_allclose(ours.loss_curve_[1:], sk.loss_curve_[1:], rtol=1e-12)  # [0]: different starts
    assert ours.n_iter_ == sk.n_iter_ == 15
    assert ours.t_ == sk.t_


@pytest.mark.parametrize("params", [
    dict(solver="sgd", learning_rate="invscaling", momentum=0.5, nesterovs_momentum=False),
    dict(solver="sgd", learning_rate="adaptive", tol=10.0, n_iter_no_change=1),
    dict(solver="sgd", tol=0.05, n_iter_no_change=2),           # stops early on the training loss
], ids=["invscaling", "adaptive", "tol-stop"])
def test_learning_rate_schedules_and_stopping_match_sklearn(params, small):
    ours, sk = _same_start("multiclass", params, small)
    assert _max_diff(ours, sk) < 1e-12
    assert ours.n_iter_ == sk.n_iter_
    assert ours._optimizer.lr == pytest.approx(sk._optimizer.learning_rate, rel=1e-12)
    np.testing.assert_allclose(ours.loss_curve_[1:], sk.loss_curve_[1:], rtol=1e-12)  # [0]: different starts
    if params.get("tol") == 0.05:
        assert ours.n_iter_ < 15


@pytest.mark.parametrize("kind", ["multiclass", "binary", "regression"])
def test_adam_matches_sklearn_closely(kind, small):
    ours, sk = _same_start(kind, dict(solver="adam"), small)
    assert _max_diff(ours, sk) < 1e-3
    np.testing.assert_allclose(ours.loss_curve_[1:], sk.loss_curve_[1:], rtol=1e-4)  # [0]: different starts


def test_alpha_is_sklearns_l2_term(small):
    """Loss of one full batch at the starting weights: data term + α‖W‖²/(2n), as scikit-learn's."""
    X, y = small["X"], small["multiclass"]
    clf = MLPClassifier((6,), alpha=2.0, solver="sgd", learning_rate_init=1e-9, momentum=0, batch_size=53,
                        max_iter=1, random_state=1)
    quiet(clf.fit, X, y)
    # with a negligible step the first epoch's loss is the loss at the initial weights
    W2 = sum(float(np.sum(W ** 2)) for W in clf.coefs_)
    p = ml.functional.softmax(clf.model_.decision_function(X))
    data = -np.mean(np.log(p[np.arange(53), y]))
    assert clf.loss_ == pytest.approx(data + 2.0 * W2 / (2 * 53), rel=1e-6)


# ---------------------------------------------------------------------------- accuracy on digits

def test_digits_accuracy_floor_and_close_to_sklearn(digits):
    X_tr, X_te, y_tr, y_te = digits
    params = dict(hidden_layer_sizes=(48,), max_iter=40, random_state=0)
    ours = quiet(make_pipeline(StandardScaler(), MLPClassifier(**params)).fit, X_tr, y_tr)
    sk = quiet(make_pipeline(StandardScaler(), SkClassifier(**params)).fit, X_tr, y_tr)
    acc, acc_sk = ours.score(X_te, y_te), sk.score(X_te, y_te)
    assert acc > 0.93
    assert acc > acc_sk - 0.03


def test_pipeline_in_grid_search_and_cross_val_score(digits):
    X_tr, _, y_tr, _ = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=30, batch_size=32, random_state=0))
    grid = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(16,), (32,)],
                               "mlpclassifier__alpha": [1e-4, 1e-2]}, cv=3)
    quiet(grid.fit, X_tr[:600], y_tr[:600])
    assert set(grid.best_params_) == {"mlpclassifier__hidden_layer_sizes", "mlpclassifier__alpha"}
    assert len(grid.cv_results_["mean_test_score"]) == 4
    assert grid.best_score_ > 0.88
    best = grid.best_estimator_[-1]
    assert best.coefs_[0].shape == (64, best.hidden_layer_sizes[0])

    scores = quiet(cross_val_score, pipe, X_tr[:600], y_tr[:600], cv=3)
    assert scores.shape == (3,)
    assert np.all(scores > 0.85) and scores.mean() > 0.88


# ---------------------------------------------------------------------------- targets and outputs

def test_multiclass_outputs(small):
    X, y = small["X"], small["multiclass"]
    clf = quiet(MLPClassifier((8,), random_state=0, max_iter=5).fit, X, y)
    assert clf.out_activation_ == "softmax" and clf.n_outputs_ == 3 and clf.n_layers_ == 3
    P = clf.predict_proba(X)
    assert P.shape == (53, 3)
    np.testing.assert_allclose(P.sum(1), 1, rtol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[P.argmax(1)])
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(P), rtol=1e-10)


def test_binary_string_labels_use_one_logistic_output(small):
    X, y = small["X"], small["binary"]
    clf = quiet(MLPClassifier((8,), random_state=0, max_iter=30).fit, X, y)
    assert list(clf.classes_) == ["no", "yes"]
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 1
    assert clf.coefs_[-1].shape == (8, 1)
    P = clf.predict_proba(X)
    assert P.shape == (53, 2)
    np.testing.assert_allclose(P.sum(1), 1)
    pred = clf.predict(X)
    assert set(pred) <= {"no", "yes"}
    np.testing.assert_array_equal(pred, np.where(P[:, 1] > 0.5, "yes", "no"))
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(P), rtol=1e-10)


def test_multilabel_uses_sigmoid_outputs(small):
    X, Y = small["X"], small["multilabel"]
    clf = quiet(MLPClassifier((8,), random_state=0, max_iter=30).fit, X, Y)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 3
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    P = clf.predict_proba(X)
    assert P.shape == (53, 3) and np.all((P > 0) & (P < 1))
    assert not np.allclose(P.sum(1), 1)              # independent labels, not a softmax
    np.testing.assert_array_equal(clf.predict(X), (P > 0.5).astype(int))


def test_regressor_single_and_multi_output(small):
    X = small["X"]
    reg = quiet(MLPRegressor(hidden_layer_sizes=(16,), random_state=0, max_iter=300, learning_rate_init=0.01).fit, X, small["regression"])
    assert reg.out_activation_ == "identity"
    assert reg.predict(X).shape == (53,)
    assert reg.score(X, small["regression"]) > 0.9
    reg2 = quiet(MLPRegressor(hidden_layer_sizes=(16,), random_state=0, max_iter=300, learning_rate_init=0.01).fit, X, small["regression2"])
    assert reg2.predict(X).shape == (53, 2) and reg2.n_outputs_ == 2
    assert reg2.score(X, small["regression2"]) > 0.8


def test_single_class_predicts_it():
    X = np.random.default_rng(0).normal(size=(10, 3))
    clf = quiet(MLPClassifier((4,), max_iter=3, random_state=0).fit, X, ["a"] * 10)
    np.testing.assert_array_equal(clf.predict(X[:4]), ["a"] * 4)
    np.testing.assert_array_equal(clf.predict_proba(X[:4]), np.ones((4, 1)))


# ---------------------------------------------------------------------------- dtype

def test_float32_input_keeps_float32(small):
    X = small["X"].astype(np.float32)
    clf = quiet(MLPClassifier((8,), max_iter=3, random_state=0).fit, X, small["multiclass"])
    assert clf.model_.dtype == np.float32
    assert all(W.dtype == np.float32 for W in clf.coefs_ + clf.intercepts_)
    assert clf.predict_proba(X).dtype == np.float32
    reg = quiet(MLPRegressor(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit, X, small["regression"].astype(np.float32))
    assert reg.predict(X).dtype == np.float32


def test_dtype_parameter(small):
    X, y = small["X"], small["multiclass"]
    auto = quiet(MLPClassifier((8,), max_iter=3, random_state=0).fit, X, y)
    assert auto.model_.dtype == np.float64 and auto.predict_proba(X).dtype == np.float64
    f32 = quiet(MLPClassifier((8,), max_iter=3, random_state=0, dtype="float32").fit, X, y)
    assert f32.model_.dtype == np.float32 and f32.predict_proba(X).dtype == np.float32
    ints = quiet(MLPClassifier((8,), max_iter=3, random_state=0).fit, (X * 10).astype(np.int32), y)
    assert ints.model_.dtype == np.float64


# ---------------------------------------------------------------------------- fitted attributes

def test_fitted_attributes_follow_sklearn(small):
    X, y = small["X"], small["multiclass"]
    clf = quiet(MLPClassifier((7, 4), max_iter=6, random_state=0).fit, X, y)
    assert [W.shape for W in clf.coefs_] == [(5, 7), (7, 4), (4, 3)]
    assert [b.shape for b in clf.intercepts_] == [(7,), (4,), (3,)]
    dense = [l for l in clf.model_.layers if isinstance(l, ml.layers.Dense)]
    np.testing.assert_array_equal(clf.coefs_[0], dense[0].weight.data.T)
    assert clf.n_features_in_ == 5 and clf.n_layers_ == 4
    assert clf.n_iter_ == 6 == len(clf.loss_curve_) == len(clf.history_)
    assert clf.t_ == 6 * 53
    assert clf.loss_ == clf.loss_curve_[-1]
    assert clf.best_loss_ == min(clf.loss_curve_)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    assert not hasattr(MLPClassifier(), "coefs_")


def test_coefs_are_views_and_can_be_assigned(small):
    X, y = small["X"], small["multiclass"]
    clf = quiet(MLPClassifier((6,), max_iter=2, random_state=0).fit, X, y)
    before = clf.predict_proba(X)
    clf.coefs_[1][...] = 0.0              # writes through to the engine model
    clf.intercepts_[1][...] = 0.0
    np.testing.assert_allclose(clf.predict_proba(X), 1 / 3)
    clf.coefs_ = [np.ones((5, 6)), np.ones((6, 3))]
    assert not np.allclose(clf.predict_proba(X), before)
    with pytest.raises(ValueError, match=r"coefs_ array has shape \(6, 6\), expected \(5, 6\)"):
        clf.coefs_ = [np.ones((6, 6)), np.ones((6, 3))]
    with pytest.raises(ValueError, match="intercepts_ needs 2 arrays, got 1"):
        clf.intercepts_ = [np.ones(6)]


class Frame:
    """A stand-in for a dataframe with string column names (no dataframe library is a test dependency)."""

    def __init__(self, a, columns):
        self.a, self.columns = a, np.asarray(columns, dtype=object)

    def __array__(self, dtype=None, copy=None):
        return self.a if dtype is None else self.a.astype(dtype)


def test_feature_names_are_recorded_and_checked(small, monkeypatch):
    import sklearn.utils.validation as validation

    # scikit-learn reads column names through narwhals; teach its reader our stand-in
    real = validation._get_feature_names
    monkeypatch.setattr(validation, "_get_feature_names",
                        lambda X: X.columns if isinstance(X, Frame) else real(X))
    names = ["a", "b", "c", "d", "e"]
    clf = quiet(MLPClassifier((4,), max_iter=2, random_state=0).fit, Frame(small["X"], names), small["multiclass"])
    np.testing.assert_array_equal(clf.feature_names_in_, names)
    assert clf.predict(Frame(small["X"], names)).shape == (53,)
    with pytest.raises(ValueError, match="The feature names should match those that were passed during fit"):
        clf.predict(Frame(small["X"], ["a", "b", "c", "d", "z"]))
    assert not hasattr(quiet(MLPClassifier((4,), max_iter=1).fit, small["X"], small["multiclass"]),
                       "feature_names_in_")


# ---------------------------------------------------------------------------- convergence

def test_convergence_warning_when_max_iter_ends_training(small):
    X, y = small["X"], small["multiclass"]
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\) reached"):
        MLPClassifier((4,), max_iter=3, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = MLPClassifier((4,), max_iter=50, tol=10.0, n_iter_no_change=2, random_state=0).fit(X, y)
    assert clf.n_iter_ == 4          # epoch 1 improves on inf; epochs 2-4 do not improve by 10: stop


def test_early_stopping_keeps_best_validation_weights(small):
    X, y = small["X"], small["binary"]
    seen = []

    class Record(Callback):
        def on_epoch_end(self, trainer, logs):
            seen.append(trainer.model.get_state())

    clf = MLPClassifier((8,), early_stopping=True, validation_fraction=0.3, n_iter_no_change=3, max_iter=40,
                        learning_rate_init=0.05, random_state=0, callbacks=[Record()])
    quiet(clf.fit, X, y)
    assert len(clf.validation_scores_) == clf.n_iter_ == len(seen)
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ is None
    best = int(np.argmax(clf.validation_scores_))     # first epoch with the best score
    for a, b in zip(clf.model_.get_state(), seen[best]):
        np.testing.assert_array_equal(a, b)
    assert clf.t_ == clf.n_iter_ * (53 - 16)          # ceil(0.3 · 53) = 16 held out


def test_early_stopping_regressor(small):
    reg = quiet(MLPRegressor(hidden_layer_sizes=(8,), early_stopping=True, max_iter=30, random_state=0).fit,
                small["X"], small["regression"])
    assert len(reg.validation_scores_) == reg.n_iter_
    assert reg.best_validation_score_ == max(reg.validation_scores_)


# ---------------------------------------------------------------------------- partial_fit and warm_start

def test_partial_fit(small):
    X, y = small["X"], small["multiclass"]
    clf = MLPClassifier((8,), random_state=0, learning_rate_init=0.01)
    with pytest.raises(ValueError, match="classes must be passed on the first call to partial_fit"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:20], y[:20], classes=[0, 1, 2])
    losses = [clf.loss_]
    for _ in range(30):
        clf.partial_fit(X, y)
        losses.append(clf.loss_)
    assert clf.n_iter_ == 1 and clf.t_ == 20 + 30 * 53
    assert len(clf.loss_curve_) == 31 and len(clf.history_) == 31
    assert losses[-1] < losses[1]
    with pytest.raises(ValueError, match=r"`y` has classes not in `self.classes_`"):
        clf.partial_fit(X[:3], [0, 1, 7])
    with pytest.raises(ValueError, match=r"is not the same as on last call to partial_fit"):
        clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        clone(clf).set_params(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])


def test_partial_fit_equals_one_epoch_of_fit(small):
    X, y = small["X"], small["regression"]
    a = quiet(MLPRegressor(hidden_layer_sizes=(6,), max_iter=1, random_state=3, solver="sgd").fit, X, y)
    b = MLPRegressor(hidden_layer_sizes=(6,), random_state=3, solver="sgd").partial_fit(X, y)
    for wa, wb in zip(a.coefs_, b.coefs_):
        np.testing.assert_array_equal(wa, wb)


def test_warm_start_continues(small):
    X, y = small["X"], small["multiclass"]
    clf = quiet(MLPClassifier((8,), max_iter=5, random_state=0, warm_start=True).fit, X, y)
    W = clf.coefs_[0].copy()
    quiet(clf.fit, X, y)
    assert clf.n_iter_ == 5 and len(clf.loss_curve_) == 10 and clf.t_ == 10 * 53
    assert not np.allclose(W, clf.coefs_[0])
    with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same classes"):
        clf.fit(X, np.where(y == 2, 1, y))
    clf.set_params(early_stopping=True)            # switching early stopping on in a warm start
    quiet(clf.fit, X, y)
    assert len(clf.validation_scores_) == clf.n_iter_ and clf.best_loss_ is None
    clf.set_params(early_stopping=False)
    quiet(clf.fit, X, y)
    assert clf.validation_scores_ is None and clf.best_loss_ == min(clf.loss_curve_[-5:])
    clf.set_params(hidden_layer_sizes=(9,))
    with pytest.raises(ValueError, match="cannot change the network"):
        clf.fit(X, y)


# ---------------------------------------------------------------------------- sample weights, randomness

def test_sample_weight_zero_equals_removing_samples(small):
    X, y = small["X"], small["multiclass"]
    w = small["weights"]
    keep = w > 0
    # full batch and no shuffling: the only difference could come from the weighting itself
    params = dict(hidden_layer_sizes=(6,), max_iter=20, random_state=0)  # "auto": one batch of all samples
    a = quiet(MLPClassifier(**params).fit, X, y, sample_weight=(w > 0).astype(float))
    b = quiet(MLPClassifier(**params).fit, X[keep], y[keep])
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-7)


def test_sample_weight_changes_the_fit(small):
    X, y = small["X"], small["binary"]
    w = np.where(y == "yes", 50.0, 1.0)
    params = dict(hidden_layer_sizes=(6,), max_iter=50, learning_rate_init=0.02, random_state=0)
    plain = quiet(MLPClassifier(**params).fit, X, y)
    heavy = quiet(MLPClassifier(**params).fit, X, y, sample_weight=w)
    assert heavy.predict_proba(X)[:, 1].mean() > plain.predict_proba(X)[:, 1].mean() + 0.1


def test_random_state(small):
    X, y = small["X"], small["multiclass"]
    fit = lambda rs, **kw: quiet(MLPClassifier((6,), max_iter=4, random_state=rs, dropout=0.2, **kw).fit, X, y)
    np.testing.assert_array_equal(fit(5).coefs_[0], fit(5).coefs_[0])
    assert not np.allclose(fit(5).coefs_[0], fit(6).coefs_[0])
    rs = np.random.RandomState(0)
    assert not np.allclose(fit(rs).coefs_[0], fit(rs).coefs_[0])     # an instance advances, as in sklearn
    np.testing.assert_array_equal(fit(np.random.default_rng(1)).coefs_[0].shape, (5, 6))


# ---------------------------------------------------------------------------- mlplab's additions

@pytest.mark.parametrize("solver", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"])
def test_every_solver_learns(solver, small):
    X, y = small["X"], small["regression"]
    lr = {"sgd": 0.01, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.1}.get(solver, 0.01)
    reg = quiet(MLPRegressor(hidden_layer_sizes=(16,), solver=solver, learning_rate_init=lr, max_iter=60, random_state=0).fit, X, y)
    assert reg.loss_curve_[-1] < 0.5 * reg.loss_curve_[0]


@pytest.mark.parametrize("extra", [dict(normalization="batchnorm", dropout=0.3),
                                   dict(normalization="layernorm", activation="leaky_relu", weight_init="he"),
                                   dict(activation="logistic", weight_init=0.1)])
def test_normalization_dropout_init(extra, digits):
    X_tr, X_te, y_tr, y_te = digits
    clf = quiet(MLPClassifier((32,), max_iter=15, learning_rate_init=0.01, random_state=0, **extra).fit,
                X_tr / 16, y_tr)
    assert clf.score(X_te / 16, y_te) > 0.85
    np.testing.assert_array_equal(clf.predict_proba(X_te[:5] / 16), clf.predict_proba(X_te[:5] / 16))
    layer_types = {type(l).__name__ for l in clf.model_.layers}
    if "normalization" in extra:
        assert {"batchnorm": "BatchNorm", "layernorm": "LayerNorm"}[extra["normalization"]] in layer_types


def test_verbose_prints_sklearns_lines_to_stdout(small, capsys):
    quiet(MLPClassifier((4,), max_iter=3, random_state=0, verbose=True).fit, small["X"], small["multiclass"])
    lines = capsys.readouterr().out.splitlines()
    assert [l.split(",")[0] for l in lines] == ["Iteration 1", "Iteration 2", "Iteration 3"]
    assert re.fullmatch(r"Iteration 3, loss = \d+\.\d{8}", lines[-1])
    quiet(MLPClassifier((4,), max_iter=30, random_state=0, verbose=1, early_stopping=True, tol=10.0,
                        n_iter_no_change=1).fit, small["X"], small["multiclass"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[:4] == [lines[0], "Validation score: " + lines[1].split(": ")[1], lines[2], lines[3]]
    assert re.fullmatch(r"Validation score: \d\.\d{6}", lines[1])
    assert lines[-1] == ("Validation score did not improve more than tol=10.000000 for 1 consecutive epochs. "
                         "Stopping.")
    quiet(MLPClassifier((4,), solver="lbfgs", max_iter=3, random_state=0, verbose=True).fit,
          small["X"], small["multiclass"])
    assert capsys.readouterr().out.splitlines()[0].startswith("Iteration 1, loss = ")
    quiet(MLPClassifier((4,), max_iter=3, random_state=0).fit, small["X"], small["multiclass"])
    assert capsys.readouterr().out == ""                 # not verbose: nothing


def test_verbose_reaches_a_pipe(tmp_path):
    """A subprocess whose stdout is a pipe (no terminal) gets the lines too."""
    import subprocess
    import sys
    code = ("import numpy as np, warnings; from mlplab.estimator import MLPRegressor; warnings.simplefilter('ignore');"
            "X = np.random.default_rng(0).normal(size=(20, 3)); MLPRegressor(hidden_layer_sizes=(3,), max_iter=2, verbose=True)"
            ".fit(X, X[:, 0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.splitlines()[:2] == [l for l in out.splitlines()[:2] if l.startswith("Iteration ")] != []


class Count(Callback):
    def __init__(self):
        self.epochs = []

    def on_epoch_end(self, trainer, logs):
        self.epochs.append(logs["epoch"])


def test_engine_callbacks_and_pickle(small, tmp_path):
    X, y = small["X"], small["multiclass"]
    clf = quiet(MLPClassifier((4,), max_iter=4, random_state=0, callbacks=[Count()]).fit, X, y)
    assert clf.callbacks[0].epochs == [1, 2, 3, 4]
    twin = clone(clf)
    assert twin.callbacks[0] is not clf.callbacks[0]
    size = len(pickle.dumps(clf))
    clf.predict_proba(np.zeros((4000, 5)))       # the engine layers cache their last input...
    assert len(pickle.dumps(clf)) < size + 2000   # ...which is not pickled along
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    ml.io.save(clf.model_, tmp_path / "m.npz")
    np.testing.assert_allclose(ml.io.load(tmp_path / "m.npz").decision_function(X),
                               clf.model_.decision_function(X))


# ---------------------------------------------------------------------------- bad input

def test_bad_input_messages(small):
    X, y = small["X"], small["multiclass"]
    clf = quiet(MLPClassifier((4,), max_iter=2, random_state=0).fit, X, y)
    cases = [
        (lambda: clf.predict(X[:, :3]), ValueError, "X has 3 features, but MLPClassifier is expecting 5 features"),
        (lambda: clf.predict(np.where(X > 1, np.nan, X)), ValueError, "Input X contains NaN"),
        (lambda: MLPClassifier().fit(np.where(X > 1, np.inf, X), y), ValueError, "Input X contains infinity"),
        (lambda: MLPClassifier().fit(X[:0], y[:0]), ValueError, r"Found array with 0 sample\(s\)"),
        (lambda: MLPClassifier().fit(X, y[:-1]), ValueError, "inconsistent numbers of samples: \\[53, 52\\]"),
        (lambda: MLPClassifier().fit(X[:, 0], y), ValueError, "Expected 2D array, got 1D array instead"),
        (lambda: MLPClassifier().fit(X, small["regression"]), ValueError, "Unknown label type: continuous"),
        (lambda: MLPRegressor().fit(X, np.array(["a"] * 53)), ValueError, "could not convert string to float"),
        (lambda: MLPClassifier().fit(sparse.csr_matrix(np.where(X > 1, np.nan, X)), y), ValueError,
         "Input X contains NaN"),
        (lambda: MLPClassifier().fit(sparse.coo_matrix(X), y).predict(sparse.csr_matrix(X[:, :3])), ValueError,
         "X has 3 features, but MLPClassifier is expecting 5 features"),
        (lambda: MLPClassifier().fit(X, y, sample_weight=-np.ones(53)), ValueError,
         "Negative values in data passed to `sample_weight`"),
        (lambda: MLPClassifier().fit(X, y, sample_weight=np.ones(5)), ValueError, r"sample_weight.shape == \(5,\)"),
        (lambda: MLPClassifier().fit(X, y, sample_weight=np.zeros(53)), ValueError, "at least one non-zero"),
        (lambda: MLPClassifier(alpha=-1).fit(X, y), ValueError,
         r"The 'alpha' parameter of MLPClassifier must be a float in the range \[0.0, inf\)"),
        (lambda: MLPClassifier(solver="lbfgs", dropout=0.2).fit(X, y), ValueError, "cannot train with dropout"),
        (lambda: MLPRegressor(loss="poisson").fit(X, small["regression"]), ValueError,
         "Some value\\(s\\) of y are negative which is not allowed for Poisson regression"),
        (lambda: MLPRegressor(loss="huber").fit(X, small["regression"]), ValueError, "The 'loss' parameter"),
        (lambda: MLPClassifier(max_fun=0).fit(X, y), ValueError, "The 'max_fun' parameter"),
        (lambda: MLPClassifier(solver="lbfgs").partial_fit(X, y, classes=[0, 1, 2]), AttributeError,
         "has no attribute 'partial_fit'"),
        (lambda: MLPClassifier(early_stopping=True).fit(X[:4], [0, 0, 0, 1]), ValueError,
         r"The least populated classes in y have only 1 member.*Classes with too few members are: \['True'\]"),
        (lambda: MLPClassifier().partial_fit(X, small["multilabel"], classes=[0, 1]), ValueError,
         "For multilabel y, classes must be the column indices"),
        (lambda: MLPClassifier(dropout=1.0).fit(X, y), ValueError, "The 'dropout' parameter"),
        (lambda: MLPClassifier(batch_size=0).fit(X, y), ValueError, "The 'batch_size' parameter of MLPClassifier"),
        (lambda: MLPClassifier(activation="swish").fit(X, y), ValueError,
         r"The 'activation' parameter of MLPClassifier must be a str among \{.*'leaky_relu'"),
        (lambda: MLPClassifier(solver="newton").fit(X, y), ValueError, r"must be a str among \{.*'adamw'"),
        (lambda: MLPClassifier(hidden_layer_sizes=(4, 0)).fit(X, y), ValueError, "hidden_layer_sizes must be > 0"),
        (lambda: MLPClassifier(early_stopping=True, validation_fraction=0.01).fit(X, y), ValueError,
         "The validation set is too small"),
        (lambda: MLPClassifier().predict(X), NotFittedError, "This MLPClassifier instance is not fitted yet"),
        (lambda: MLPClassifier(max_iter=1).fit(X, [["a", "b"]] * 53), ValueError, "Unknown label type|Multioutput"),
    ]
    for call, exc, pattern in cases:
        with pytest.raises(exc, match=pattern):
            quiet(call)


def test_batch_size_larger_than_data_is_clipped_with_warning(small):
    with pytest.warns(UserWarning, match="It is going to be clipped"):
        quiet(MLPClassifier((4,), batch_size=1000, max_iter=1).fit, small["X"], small["multiclass"])


def test_divergence_is_a_value_error():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3)) * 1e3
    with pytest.raises(ValueError, match="Solver produced non-finite parameter weights"):
        quiet(MLPRegressor(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=10.0, max_iter=50, random_state=0).fit,
              X, X[:, 0] * 1e3)


def test_docstrings_document_parameters_and_attributes():
    for cls in (MLPClassifier, MLPRegressor):
        doc = cls.__doc__
        for name in list(cls().get_params()) + ["coefs_", "loss_curve_", "model_", "history_"]:
            assert re.search(rf"^    {name}\b|, {name}\b", doc, flags=re.M), f"{cls.__name__}: {name}"


def test_estimator_builds_its_network_through_train_config(monkeypatch):
    """The estimator is a front end like the CLI: its network comes from a TrainConfig and the shared builder."""
    import mlplab.estimator as est_module
    from mlplab.config import TrainConfig

    seen = []
    real = est_module.build_model

    def spy(config, n_features, n_outputs, rng=None):
        seen.append((config, n_features, n_outputs))
        return real(config, n_features, n_outputs, rng=rng)

    monkeypatch.setattr(est_module, "build_model", spy)
    X = np.random.default_rng(0).random((40, 5))
    y = np.arange(40) % 3
    with pytest.warns(ConvergenceWarning):  # two iterations, on purpose
        MLPClassifier(hidden_layer_sizes=(7, 4), activation="tanh", max_iter=2, random_state=0).fit(X, y)
    (config, n_features, n_outputs), = seen
    assert isinstance(config, TrainConfig) and config.hidden == (7, 4) and config.activation == "tanh"
    assert (n_features, n_outputs) == (5, 3) and config.scaler is None
