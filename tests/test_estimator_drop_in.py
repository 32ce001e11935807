"""What makes mlplab's estimators a drop-in for scikit-learn's MLPs beyond the SGD/Adam parity of
test_estimator.py: the lbfgs solver, sparse X (also in the engine), loss="poisson", divergence with
early stopping, multilabel partial_fit, and the behaviours scikit-learn's own test_mlp.py reads
through private attributes (see tests/test_sklearn_mlp_suite.py)."""
import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn.datasets import load_digits, make_multilabel_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor
from sklearn.neural_network._base import LOSS_FUNCTIONS
from sklearn.preprocessing import MinMaxScaler

import mlplab as ml
from mlplab.estimator import ACTIVATIONS, MLPClassifier, MLPRegressor


def quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*args, **kw)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(41, 6))
    X[rng.random(X.shape) < 0.6] = 0.0                     # mostly zeros, as sparse data is
    return {
        "X": X,
        "multiclass": rng.integers(0, 3, 41),
        "binary": rng.integers(0, 2, 41),
        "multilabel": rng.integers(0, 2, (41, 3)),
        "regression": X @ rng.normal(size=6) + 0.1 * rng.normal(size=41),
        "counts": rng.poisson(np.exp(0.5 * X[:, 0] + 0.3), 41).astype(float),
        "weights": rng.integers(0, 4, 41).astype(float),
    }


def _estimator(kind, **params):
    if kind in ("regression", "counts"):
        return MLPRegressor(loss="poisson" if kind == "counts" else "squared_error", **params)
    return MLPClassifier(**params)


# ---------------------------------------------------------------------------- lbfgs

@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel", "regression", "counts"])
@pytest.mark.parametrize("activation", sorted(set(ACTIVATIONS) - {"sigmoid"}))
def test_lbfgs_gradient_matches_finite_differences(kind, activation, data):
    """The L-BFGS objective's gradient (data term, L2 term, sample weights) against central differences."""
    X, y, w = data["X"][:15], data[kind][:15], data["weights"][:15]
    est = quiet(_estimator(kind, hidden_layer_sizes=(4,), activation=activation, solver="lbfgs", alpha=0.7,
                           max_iter=1, random_state=1).fit, X, y)
    y_engine, _ = est._validate_targets(y, incremental=False)
    f = est._lbfgs_objective(X, y_engine, w)
    theta = np.concatenate([p.data.ravel() for p in est.model_.parameters()])
    value, grad = f(theta)
    eps = 1e-6
    numeric = np.array([(f(theta + eps * e)[0] - f(theta - eps * e)[0]) / (2 * eps) for e in np.eye(theta.size)])
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)
    assert value == pytest.approx(f(theta)[0])


@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel", "regression", "counts"])
def test_lbfgs_matches_sklearn_from_the_same_start(kind, data):
    """Same starting weights, same objective and gradient: scipy's L-BFGS-B takes the same steps."""
    X, y = data["X"], data[kind]
    params = dict(hidden_layer_sizes=(5,), activation="tanh", solver="lbfgs", alpha=0.3, max_iter=1, random_state=0)
    sk_cls = SkRegressor if kind in ("regression", "counts") else SkClassifier
    if kind == "counts":
        params["loss"] = "poisson"
    elif kind == "regression":
        params["loss"] = "squared_error"
    sk = quiet(sk_cls(**params).fit, X, y)
    ours = _estimator(kind, **{k: v for k, v in params.items() if k != "loss"})
    ours.set_params(warm_start=True, max_iter=15)
    ours.coefs_ = [c.copy() for c in sk.coefs_]              # starting weights before the first fit
    ours.intercepts_ = [b.copy() for b in sk.intercepts_]
    sk.set_params(warm_start=True, max_iter=15)
    quiet(sk.fit, X, y)
    quiet(ours.fit, X, y)
    assert ours.n_iter_ == sk.n_iter_
    assert ours.loss_ == pytest.approx(sk.loss_, rel=1e-9)
    for a, b in zip(ours.coefs_ + ours.intercepts_, sk.coefs_ + sk.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)
    assert len(ours.loss_curve_) == ours.n_iter_ and ours.loss_curve_[-1] == pytest.approx(ours.loss_)


def test_lbfgs_max_iter_max_fun_tol_and_attributes(data):
    X, y = data["X"], data["multiclass"]
    with pytest.warns(ConvergenceWarning, match=r"lbfgs failed to converge after 3 iteration\(s\)[\s\S]*max_iter=3"):
        clf = MLPClassifier((8,), solver="lbfgs", max_iter=3, random_state=0).fit(X, y)
    assert clf.n_iter_ == 3 and len(clf.loss_curve_) == 3 and clf.t_ == 0
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    assert clf.loss_curve_ == sorted(clf.loss_curve_, reverse=True)          # L-BFGS-B never goes uphill
    with pytest.warns(ConvergenceWarning, match="STOP: TOTAL NO. OF F,G EVALUATIONS EXCEEDS LIMIT"):
        clf = MLPClassifier((8,), solver="lbfgs", max_fun=5, random_state=0).fit(X, y)
    assert clf.n_iter_ <= 5
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = MLPClassifier((8,), solver="lbfgs", tol=1e-2, max_iter=500, random_state=0).fit(X, y)
    assert clf.n_iter_ < 500
    f = clf._lbfgs_objective(X, clf._validate_targets(y, incremental=False)[0], None)
    grad = f(np.concatenate([p.data.ravel() for p in clf.model_.parameters()]))[1]
    assert np.abs(grad).max() <= 1e-2 or clf.n_iter_ > 0   # stopped on gtol (or on scipy's ftol)
    assert not hasattr(clf, "partial_fit")


def test_lbfgs_float32_and_batchnorm(data):
    X, y = data["X"], data["multiclass"]
    c64 = quiet(MLPClassifier((8,), solver="lbfgs", max_iter=40, random_state=0).fit, X, y)
    c32 = quiet(MLPClassifier((8,), solver="lbfgs", max_iter=40, random_state=0).fit, X.astype(np.float32), y)
    assert all(c.dtype == np.float32 for c in c32.coefs_) and c32.predict_proba(X).dtype == np.float32
    assert (c32.predict(X) == c64.predict(X)).mean() > 0.9
    bn = quiet(MLPClassifier((8,), solver="lbfgs", normalization="batchnorm", max_iter=40, random_state=0).fit, X, y)
    dense, norm = bn.model_.layers[0], bn.model_.layers[1]
    h = X @ dense.weight.data.T + dense.bias.data
    np.testing.assert_allclose(norm.running_mean, h.mean(axis=0), atol=1e-12)   # the whole data set's statistics
    np.testing.assert_allclose(norm.running_var, h.var(axis=0, ddof=1), rtol=1e-10)
    assert bn.score(X, y) > 0.7


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_lbfgs_regression_every_activation(activation):
    """scikit-learn's test_lbfgs_regression over seeds 1 and 3 (see the expected failure in test_sklearn_mlp_suite)."""
    from sklearn.preprocessing import scale
    X, y = make_regression(n_samples=200, n_features=10, bias=20.0, noise=100.0, random_state=7)
    y = scale(y)
    scores = [quiet(MLPRegressor(solver="lbfgs", hidden_layer_sizes=50, max_iter=200, tol=1e-3, random_state=rs,
                                 activation=activation).fit, X, y).score(X, y) for rs in (1, 3)]
    if activation == "identity":
        assert min(scores) > 0.80
    elif activation == "logistic":   # may stop on the linear plateau (0.81), as scikit-learn's does for seed 2
        assert min(scores) > 0.80 and max(scores) > 0.98
    else:
        assert min(scores) > 0.98


# ---------------------------------------------------------------------------- sparse X

SPARSE = [sparse.csr_matrix, sparse.csc_matrix, sparse.csr_array, sparse.csc_array]


@pytest.fixture
def no_densify(monkeypatch):
    """Make the densification of a scipy.sparse matrix with the data's 6 columns fail (scikit-learn's
    LabelBinarizer densifies its own sparse label matrices, which is fine)."""
    def refusing(original):
        def method(self, *args, **kwargs):
            if self.shape[-1] == 6:
                raise AssertionError("a sparse matrix was densified")
            return original(self, *args, **kwargs)
        return method
    for cls in {base for container in SPARSE for base in container.__mro__}:
        for name in ("toarray", "todense"):
            if name in vars(cls):
                monkeypatch.setattr(cls, name, refusing(vars(cls)[name]))


@pytest.mark.parametrize("container", SPARSE, ids=lambda c: c.__name__)
@pytest.mark.parametrize("params", [dict(solver="adam"), dict(solver="sgd", batch_size=7),
                                    dict(solver="lbfgs", max_iter=30), dict(early_stopping=True, max_iter=20)],
                         ids=["adam", "sgd", "lbfgs", "early_stopping"])
def test_sparse_fit_predict_equal_dense(container, params, data, no_densify):
    X, y = data["X"], data["multiclass"]
    dense = quiet(MLPClassifier((7,), random_state=0, **{"max_iter": 15, **params}).fit, X, y)
    sp = quiet(MLPClassifier((7,), random_state=0, **{"max_iter": 15, **params}).fit, container(X), y)
    np.testing.assert_allclose(sp.predict_proba(container(X)), dense.predict_proba(X), rtol=1e-9, atol=1e-12)
    assert sp.score(container(X), y) == dense.score(X, y)
    reg = quiet(MLPRegressor(hidden_layer_sizes=(7,), random_state=0, **{"max_iter": 15, **params}).fit,
                container(X), data["regression"])
    ref = quiet(MLPRegressor(hidden_layer_sizes=(7,), random_state=0, **{"max_iter": 15, **params}).fit,
                X, data["regression"])
    np.testing.assert_allclose(reg.predict(container(X)), ref.predict(X), rtol=1e-9, atol=1e-12)


def test_sparse_partial_fit_float32_and_weights(data, no_densify):
    X, y, w = data["X"], data["binary"], data["weights"]
    a = MLPClassifier((5,), random_state=0)
    b = MLPClassifier((5,), random_state=0)
    for _ in range(3):
        a.partial_fit(sparse.csr_matrix(X), y, sample_weight=w, classes=[0, 1])
        b.partial_fit(X, y, sample_weight=w, classes=[0, 1])
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-10)
    c = quiet(MLPClassifier((5,), random_state=0, max_iter=5).fit, sparse.csr_matrix(X, dtype=np.float32), y)
    assert c.coefs_[0].dtype == np.float32


def test_no_densify_fixture_works(no_densify):
    with pytest.raises(AssertionError, match="densified"):
        sparse.csr_matrix(np.eye(6)).toarray()
    with pytest.raises(AssertionError, match="densified"):
        sparse.csc_array(np.eye(6)).todense()


def test_engine_dense_layer_and_trainer_take_sparse(data, no_densify):
    X = data["X"]
    y = data["multiclass"]
    layer = ml.layers.Dense(6, 4, rng=0, dtype=np.float64)
    dy = np.random.default_rng(1).normal(size=(41, 4))
    y_dense = layer.forward(X, training=True).copy()
    layer.backward_parameters(dy)
    grad_dense = layer.weight.grad.copy()
    np.testing.assert_allclose(layer.forward(sparse.csr_matrix(X), training=True), y_dense, rtol=1e-12)
    layer.backward_parameters(dy)
    np.testing.assert_allclose(layer.weight.grad, grad_dense, rtol=1e-12)

    def train(X_):
        model = ml.mlp(6, [8], 3, dtype="float64", seed=0)
        trainer = ml.Trainer(model, batch_size=10, epochs=3, seed=0)
        history = trainer.fit(X_, y, validation=(X_, y))
        return model.decision_function(X_), history
    s_dense, h_dense = train(X)
    s_sparse, h_sparse = train(sparse.csr_matrix(X))
    np.testing.assert_allclose(s_sparse, s_dense, rtol=1e-10)
    np.testing.assert_allclose(h_sparse["loss"], h_dense["loss"], rtol=1e-10)
    scaled = ml.mlp(6, [8], 3, scaler="standard", seed=0)
    with pytest.raises(ValueError, match="sparse X needs a model whose first layer is Dense, got Standardize"):
        ml.Trainer(scaled, epochs=1).fit(sparse.csr_matrix(X), y)
    with pytest.raises(ValueError, match="X contains 1 NaN"):
        ml.Trainer(ml.mlp(6, [8], 3), epochs=1).fit(sparse.csr_matrix(np.where(X == X.max(), np.nan, X)), y)


# ---------------------------------------------------------------------------- poisson

def test_poisson_loss_is_sklearns_and_predictions_are_exp(data):
    X, y = data["X"], data["counts"]
    reg = quiet(MLPRegressor(loss="poisson", hidden_layer_sizes=(5,), solver="lbfgs", alpha=0.0, max_iter=50,
                             random_state=0).fit, X, y)
    assert reg.out_activation_ == "exp"
    pred = reg.predict(X)
    np.testing.assert_allclose(pred, np.exp(reg.model_.decision_function(X)[:, 0]), rtol=1e-12)
    assert reg.loss_ == pytest.approx(LOSS_FUNCTIONS["poisson"](y[:, None], pred[:, None]), rel=1e-10)
    sgd = quiet(MLPRegressor(loss="poisson", hidden_layer_sizes=(5,), solver="sgd", learning_rate_init=0.01,
                             max_iter=30, random_state=0).fit, X, y)
    assert sgd.loss_curve_[-1] < sgd.loss_curve_[0] and (sgd.predict(X) > 0).all()
    with pytest.raises(ValueError, match="not allowed for Poisson regression"):
        MLPRegressor(loss="poisson").fit(X, y - 1)


# ---------------------------------------------------------------------------- stopping and schedules

def test_divergence_with_early_stopping_keeps_best_weights():
    """scikit-learn's test_mlp_diverging_loss, plus what it implies: nan recorded, training stops,
    the best weights are kept."""
    from sklearn.datasets import load_iris
    X, y = load_iris(return_X_y=True)
    seen = []

    class Record(ml.callbacks.Callback):
        def on_epoch_end(self, trainer, logs):
            seen.append(trainer.model.get_state())

    reg = MLPRegressor(hidden_layer_sizes=100, activation="identity", solver="sgd", learning_rate_init=1,
                       max_iter=20, early_stopping=True, random_state=0, callbacks=[Record()])
    with pytest.warns(ConvergenceWarning, match="Training diverged in iteration"):
        reg.fit(X, y)
    assert np.isnan(reg.validation_scores_[-1]) and isinstance(reg.validation_scores_[-1], float)
    assert reg.n_iter_ == len(reg.validation_scores_) < 20
    best = int(np.nanargmax(reg.validation_scores_))
    assert reg.best_validation_score_ == reg.validation_scores_[best]
    for a, b in zip(reg.model_.get_state(), seen[best]):
        np.testing.assert_array_equal(a, b)
    assert np.isfinite(reg.predict(X)).all()
    with pytest.raises(ValueError, match="Solver produced non-finite parameter weights"):
        quiet(reg.set_params(early_stopping=False, callbacks=None).fit, X, y)


def test_invscaling_continues_across_warm_starts():
    """scikit-learn's test_learning_rate_warmstart, read on the engine optimizer's ``lr``."""
    X, y = [[3, 2], [1, 6], [5, 6], [-2, -4]], [1, 1, 1, 0]
    for schedule in ("invscaling", "constant"):
        clf = MLPClassifier(solver="sgd", hidden_layer_sizes=4, learning_rate=schedule, max_iter=1, power_t=0.25,
                            warm_start=True)
        quiet(clf.fit, X, y)
        before = clf._optimizer.lr
        quiet(clf.fit, X, y)
        if schedule == "constant":
            assert clf._optimizer.lr == before == clf.learning_rate_init
        else:
            assert clf._optimizer.lr == clf.learning_rate_init / 9 ** 0.25    # t_ = 8 samples seen


def test_adaptive_learning_rate_stops_below_1e_6():
    """scikit-learn's test_adaptive_learning_rate, read on the engine optimizer's ``lr``."""
    clf = MLPClassifier(tol=0.5, max_iter=3000, solver="sgd", learning_rate="adaptive").fit([[3, 2], [1, 6]], [1, 0])
    assert clf.n_iter_ < 3000 and clf._optimizer.lr < 1e-6


def test_alpha_shrinks_the_weights():
    X, y = load_digits(n_class=2, return_X_y=True)
    X, y = MinMaxScaler().fit_transform(X[:200])[:100], y[:100]
    for seed in range(4):
        sums = [[np.abs(c).sum() for c in quiet(MLPClassifier(hidden_layer_sizes=10, alpha=a, random_state=seed).fit,
                                                X, y).coefs_] for a in (0, 1)]
        assert sums[1][0] < sums[0][0] and sum(sums[1]) < sum(sums[0])


# ---------------------------------------------------------------------------- multilabel partial_fit

def test_multilabel_partial_fit_with_classes():
    X, Y = make_multilabel_classification(n_samples=50, random_state=0, return_indicator=True)
    clf = MLPClassifier(solver="sgd", hidden_layer_sizes=50, activation="logistic", alpha=1e-5,
                        learning_rate_init=0.2, random_state=0)
    for _ in range(100):
        clf.partial_fit(X, Y, classes=[0, 1, 2, 3, 4])
    assert clf.out_activation_ == "logistic" and list(clf.classes_) == [0, 1, 2, 3, 4]
    assert clf.predict(X).shape == Y.shape and clf.score(X, Y) > 0.9
    assert clf.n_outputs_ == 5 and clf.t_ == 100 * 50
