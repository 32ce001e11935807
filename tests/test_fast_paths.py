"""The fast tier computes what the reference tier computes: every class of mlplab.fast against its
class of mlplab.layers / mlplab.losses, switching tiers, files written by either tier, the flat
parameter storage and the optimizers' flat updates (see docs/performance.md for what the fast
measures are and why)."""
from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import mlplab as ml
from mlplab import fast, optim
from mlplab import layers as L
from mlplab import losses as R
from mlplab._validation import all_finite
from mlplab.data.batching import take
from mlplab.parameter import FlatParameters, Parameter

CLOSE = dict(rtol=1e-12, atol=1e-14)  # float64: the same formulas, at most a different summation order


def _model(dtype="float64", seed=0, **kw):
    return ml.mlp(6, [5, 4], 3, dtype=dtype, seed=seed, **kw)


# ------------------------------------------------------------------ every fast class == its reference class

LAYERS = {
    "Dense": lambda: L.Dense(6, 4, rng=0, dtype="float64"),
    "Sigmoid": L.Sigmoid,
    "Tanh": L.Tanh,
    "ReLU": L.ReLU,
    "Dropout": lambda: L.Dropout(0.3, rng=5),
    "Standardize": lambda: L.Standardize().fit(np.random.default_rng(8).standard_normal((20, 6)) * 3 + 1),
    "MinMaxScale": lambda: L.MinMaxScale().fit(np.random.default_rng(9).standard_normal((20, 6))),
}
# batch of 1, odd sizes, a leading axis, and the batch shrinking and growing again (the reused arrays)
SHAPES = [(1, 6), (5, 6), (2, 3, 6), (7, 6), (5, 6)]


def test_the_fast_tier_covers_exactly_these_classes():
    assert set(fast.FAST_CLASSES) == {L.Dense, L.Sigmoid, L.Tanh, L.ReLU, L.Dropout, L.Standardize, L.MinMaxScale,
                                      R.SoftmaxCrossEntropy,
                                      ml.optim.SGD, ml.optim.Adam, ml.optim.AdamW}
    for ref, cls in fast.FAST_CLASSES.items():
        assert issubclass(cls, ref) and cls.__name__ == ref.__name__
        assert cls.tier == "fast" and ref.tier == "reference"
        # the fast class changes how, not what: no constructor, configuration or parameters of its own
        for name in ("__init__", "config", "parameters", "buffers"):
            assert name not in vars(cls)


@pytest.mark.parametrize("training", [True, False], ids=["training", "evaluation"])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_fast_layer_equals_reference_layer(name, training):
    ref = LAYERS[name]()
    quick = fast.to_tier(copy.deepcopy(ref), "fast")
    assert type(quick) is fast.FAST_CLASSES[type(ref)]
    ref.keep_cache = quick.keep_cache = True  # so that evaluation mode has a backward too
    rng = np.random.default_rng(1)
    kept = []
    for shape in SHAPES:
        x = rng.standard_normal(shape)
        x[np.abs(x) < 1e-3] = 0.5   # ReLU: away from the kink
        y_ref, y_fast = ref.forward(x, training), quick.forward(x, training)
        np.testing.assert_allclose(y_fast, y_ref, **CLOSE)
        dy = rng.standard_normal(y_ref.shape)
        dx_ref, dx_fast = ref.backward(dy), quick.backward(dy)
        assert dx_fast.shape == x.shape
        np.testing.assert_allclose(dx_fast, dx_ref, **CLOSE)
        for p, q in zip(ref.parameters(), quick.parameters()):
            np.testing.assert_allclose(q.grad, p.grad, **CLOSE)
        kept.append((y_fast, y_fast.copy()))
    if not training:  # evaluation outputs are new arrays, never overwritten by a later call
        for y, snapshot in kept:
            np.testing.assert_array_equal(y, snapshot)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_fast_and_reference_layers_equal_in_float32_and_with_a_float64_gradient(name):
    ref = LAYERS[name]().astype("float32")
    quick = fast.to_tier(copy.deepcopy(ref), "fast")
    x = np.random.default_rng(2).standard_normal((9, 6)).astype(np.float32)
    y_ref, y_fast = ref.forward(x, True), quick.forward(x, True)
    assert y_fast.dtype == y_ref.dtype == np.float32
    np.testing.assert_allclose(y_fast, y_ref, rtol=1e-6, atol=1e-7)
    for dy in (np.ones_like(y_ref), np.ones(y_ref.shape)):  # same dtype, and a float64 dy
        np.testing.assert_allclose(quick.backward(dy), ref.backward(dy), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("training", [True, False], ids=["training", "evaluation"])
def test_fast_dense_equals_reference_dense_on_sparse_input(training):
    sp = pytest.importorskip("scipy.sparse")
    ref = L.Dense(6, 4, rng=0, dtype="float64")
    quick = fast.to_tier(copy.deepcopy(ref), "fast")
    ref.keep_cache = quick.keep_cache = True
    rng = np.random.default_rng(6)
    for n in (1, 7):
        x = sp.random(n, 6, density=0.4, format="csr", random_state=n) * 3
        y_ref, y_fast = ref.forward(x, training), quick.forward(x, training)
        np.testing.assert_allclose(y_ref, x.toarray() @ ref.weight.data.T + ref.bias.data, **CLOSE)
        np.testing.assert_allclose(y_fast, y_ref, **CLOSE)
        dy = rng.standard_normal((n, 4))
        ref.backward(dy)
        quick.backward_parameters(dy)
        np.testing.assert_allclose(ref.weight.grad, dy.T @ x.toarray(), **CLOSE)
        for p, q in zip(ref.parameters(), quick.parameters()):
            np.testing.assert_allclose(q.grad, p.grad, **CLOSE)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("target", ["labels", "one_hot", "probabilities"])
@pytest.mark.parametrize("n", [1, 9])
@pytest.mark.parametrize("weighted", [False, True])
def test_fast_loss_equals_reference_loss(reduction, target, n, weighted):
    rng = np.random.default_rng(3)
    scores = rng.normal(scale=4.0, size=(n, 5))
    labels = rng.integers(0, 5, size=n)
    y = {"labels": labels, "one_hot": np.eye(5)[labels], "probabilities": rng.dirichlet(np.ones(5), size=n)}[target]
    w = rng.uniform(0, 2, size=n) if weighted else None
    ref, quick = R.SoftmaxCrossEntropy(reduction), fast.SoftmaxCrossEntropy(reduction)
    for _ in range(2):  # twice: the kept constants
        assert quick.forward(scores, y, w) == pytest.approx(ref.forward(scores, y, w), rel=1e-13)
        np.testing.assert_allclose(quick.backward(), ref.backward(), **CLOSE)


@pytest.mark.parametrize("bad,match", [(np.array([0, 5]), r"labels must lie in \[0, 5\)"),
                                       (np.array([-1, 2]), r"labels must lie in \[0, 5\)"),
                                       (np.array([0.0, 1.0]), "integer class labels"),
                                       (np.array([0, 1, 2]), "different lengths")])
def test_fast_and_reference_loss_reject_the_same_labels(bad, match):
    for loss in (R.SoftmaxCrossEntropy(), fast.SoftmaxCrossEntropy()):
        with pytest.raises(ValueError, match=match):
            loss.forward(np.zeros((2, 5)), bad)


def test_backward_before_a_training_forward_says_what_to_do():
    for layer in (L.Dense(3, 2), fast.Dense(3, 2), L.ReLU(), fast.Sigmoid()):
        layer.forward(np.ones((2, 3), np.float32), training=False)
        with pytest.raises(RuntimeError, match=r"needs a forward\(x, training=True\) first"):
            layer.backward(np.ones((2, 2), np.float32))
    with pytest.raises(RuntimeError, match="needs a forward"):
        R.SoftmaxCrossEntropy().backward()


@pytest.mark.parametrize("tier", ["fast", "reference"])
def test_evaluation_forward_keeps_no_cache_and_returns_new_arrays(tier):
    model = _model(tier=tier)
    x1, x2 = np.ones((3, 6)), -np.ones((3, 6))
    model.forward(x2, training=True)
    caches = [layer.cache for layer in model.layers]
    keep = model.forward(x1)
    snapshot = keep.copy()
    model.forward(x2)
    assert all(layer.cache is c for layer, c in zip(model.layers, caches))
    model.forward(x2, training=True)
    model.backward(np.ones((3, 3)))
    np.testing.assert_array_equal(keep, snapshot)
    p = model.predict_proba(x1)
    model.predict_proba(x2)
    np.testing.assert_allclose(p, ml.functional.softmax(snapshot))


# ------------------------------------------------------------------ switching tiers

def test_mlp_builds_the_fast_tier_by_default_and_the_reference_tier_on_request():
    model = _model(norm="batchnorm", dropout=0.1)
    assert model.tier == "fast" and isinstance(model.layers[0], fast.Dense)
    ref = _model(norm="batchnorm", dropout=0.1, tier="reference")
    assert ref.tier == "reference" and type(ref.layers[0]) is L.Dense
    assert [type(layer).__name__ for layer in model.layers] == [type(layer).__name__ for layer in ref.layers]
    with pytest.raises(ValueError, match="tier"):
        _model(tier="quick")


def test_to_tier_keeps_parameters_optimizer_and_predictions():
    model = _model(activation="sigmoid", norm="batchnorm")
    x = np.random.default_rng(4).standard_normal((8, 6))
    y = np.arange(8) % 3
    opt = optim.Adam(model.parameters(), lr=0.01)
    ml.Trainer(model, optimizer=opt, batch_size=4, epochs=1).fit(x, y)
    params = model.parameters()
    arrays = [p.data for p in params]
    want = model.decision_function(x)
    assert model.to_tier("reference") is model and model.tier == "reference"
    assert model.parameters() is params and all(p.data is a for p, a in zip(params, arrays))
    np.testing.assert_allclose(model.decision_function(x), want, **CLOSE)
    ml.Trainer(model, optimizer=opt, batch_size=4, epochs=1).fit(x, y)  # the same optimizer goes on
    assert all(p.data is a for p, a in zip(model.parameters(), arrays))
    model.layers[0].to_fast = None   # an attribute of the user's survives switching
    model.to_tier("fast")
    assert model.tier == "fast" and model.layers[0].to_fast is None
    model.layers[2] = fast.to_tier(model.layers[2], "reference")
    assert model.tier == "mixed"


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_training_in_either_tier_gives_the_same_model(activation):
    data = ml.data.load("digits", test_size=0.2, seed=0)
    X, y = data.X_train[:300].astype(np.float64), data.y_train[:300]
    results = {}
    for tier in ("fast", "reference"):
        model = ml.mlp(64, [16, 12], 10, activation=activation, dtype="float64", seed=0, tier=tier)
        loss = R.SoftmaxCrossEntropy()
        h = ml.Trainer(model, loss, optim.Adam(model.parameters(), lr=0.01), batch_size=32, epochs=2,
                       seed=0).fit(X, y)
        assert type(loss).tier == tier  # the Trainer ran the loss in the model's tier
        results[tier] = (h["loss"], [p.data.copy() for p in model.parameters()])
    np.testing.assert_allclose(results["fast"][0], results["reference"][0], rtol=1e-10)
    for a, b in zip(results["fast"][1], results["reference"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("write,read", [("reference", "fast"), ("fast", "reference")])
def test_files_do_not_know_which_tier_wrote_them(tmp_path, write, read):
    model = _model(activation="tanh", norm="layernorm", tier=write)
    x = np.random.default_rng(5).standard_normal((4, 6))
    path = ml.io.save(model, tmp_path / "m.npz")
    header = ml.io.read_metadata(path)
    assert [spec["type"] for spec in header["architecture"]["layers"]] == [
        "Dense", "LayerNorm", "Tanh", "Dense", "LayerNorm", "Tanh", "Dense"]
    loaded = ml.io.load(path)
    assert loaded.tier == "fast"  # what load builds
    loaded.to_tier(read)
    np.testing.assert_allclose(loaded.decision_function(x), model.decision_function(x), **CLOSE)
    other = ml.io.save(loaded, tmp_path / "again.npz")
    assert ml.io.read_metadata(other)["architecture"] == header["architecture"]


def test_pickle_leaves_out_caches_and_reused_arrays():
    model, fresh = _model(), _model()
    model.forward(np.zeros((500, 6)), training=True)
    model.backward(np.zeros((500, 3)))
    assert abs(len(pickle.dumps(model)) - len(pickle.dumps(fresh))) < 500
    loss = fast.SoftmaxCrossEntropy()
    loss.forward(np.zeros((500, 3)), np.zeros(500, np.int64))
    assert len(pickle.dumps(loss)) < 500


# ------------------------------------------------------------------ the flat parameter storage

def test_parameters_are_views_of_one_flat_array_with_unchanged_values():
    rng = np.random.default_rng(0)
    layers = [L.Dense(6, 5, rng=rng, dtype="float64"), L.ReLU(), L.Dense(5, 3, rng=rng, dtype="float64")]
    before = [p.data.copy() for layer in layers for p in layer.parameters()]
    model = ml.Sequential(layers)
    params = model.parameters()
    assert isinstance(params, FlatParameters) and len(params) == 4
    assert params.data.shape == (sum(p.data.size for p in params),)
    assert all(p.flat is params and p.data.base is params.data and p.grad.base is params.grad for p in params)
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.data, b)
        assert p.data.flags.c_contiguous and p.data.shape == b.shape


def test_assigning_a_parameter_copies_into_the_flat_storage_or_raises():
    model = _model()
    params = model.parameters()
    w = params[0]
    w.data = np.full(w.data.shape, 0.25, dtype=np.float32)  # copied in, cast to the model's dtype
    w.grad = np.ones(w.data.shape)
    assert w.data.base is params.data and w.data.dtype == np.float64
    assert np.all(params.data[:w.data.size] == 0.25) and np.all(params.grad[:w.data.size] == 1)
    with pytest.raises(ValueError, match=r"cannot assign an array of shape \(2, 2\).*flat storage"):
        w.data = np.zeros((2, 2))
    with pytest.raises(ValueError, match=r"model.astype\('float32'\)"):
        model.layers[0].astype("float32")
    opt = optim.SGD(params, lr=0.5)
    opt.step()  # the optimizer sees the assigned values and gradient
    np.testing.assert_array_equal(w.data, 0.25 - 0.5)
    alone = Parameter(np.zeros(3))
    alone.data = np.ones(4)  # a Parameter of its own takes the array (a student's wrong shape included:
    alone.grad = np.ones(3)  # the exercise checks name that mistake)
    assert alone.data.shape == (4,) and alone.grad.shape == (3,)


@pytest.mark.parametrize("how", ["astype", "deepcopy", "pickle"])
def test_flat_storage_survives_astype_copy_and_pickle(how):
    model = _model("float32")
    opt = optim.Adam(model.parameters(), lr=0.1)
    x = np.random.default_rng(1).standard_normal((4, 6))
    want = model.forward(x.astype(np.float32))
    if how == "astype":
        model.astype("float64")
        assert model.dtype == np.float64
    elif how == "deepcopy":
        model, opt = copy.deepcopy((model, opt))
    else:
        model, opt = pickle.loads(pickle.dumps((model, opt)))
    params = model.parameters()
    assert params.in_use and all(p.flat is params for p in params)
    np.testing.assert_allclose(model.forward(x.astype(model.dtype)), want, rtol=1e-6)
    assert all(p is q for p, q in zip(opt.params, params))
    for _ in range(2):  # the optimizer (copied with the model) updates it over its flat storage again
        for p in params:
            p.grad[...] = 1.0
        opt.step()
    assert len(opt._blocks()) == 1 and opt._blocks()[0].theta.base is params.data
    assert opt._blocks()[0].state["m"].dtype == model.dtype
    assert not np.allclose(model.forward(x.astype(model.dtype)), want, rtol=1e-3)


def test_changed_layers_are_stored_anew_and_an_old_optimizer_notices():
    model = _model()
    opt = optim.SGD(model.parameters(), lr=1.0)
    old = model.parameters()
    model.layers.append(L.Dense(3, 2, rng=0, dtype="float64"))
    params = model.parameters()
    assert params is not old and not old.in_use and len(params) == 8
    for p in params:
        p.grad[...] = 1.0
    before = [p.data.copy() for p in opt.params]
    opt.step()  # still updates the six Parameters it was given (now one block per Parameter)
    for p, b in zip(opt.params, before):
        np.testing.assert_array_equal(p.data, b - 1.0)
    mixed = ml.Sequential([L.Dense(2, 2, dtype="float32"), L.Dense(2, 2, dtype="float64")])
    assert isinstance(mixed.parameters(), list) and all(p.flat is None for p in mixed.parameters())
    with pytest.raises(ValueError, match="different dtypes"):
        FlatParameters(mixed.parameters())
    assert isinstance(mixed.astype("float64").parameters(), FlatParameters)


# ------------------------------------------------------------------ optimizers: flat = per Parameter

CASES = [(optim.SGD, {"lr": 0.1}), (optim.Momentum, {"lr": 0.05, "momentum": 0.8}),
         (optim.Nesterov, {"lr": 0.05, "momentum": 0.7}), (optim.AdaGrad, {"lr": 0.3, "eps": 1e-3}),
         (optim.RMSProp, {"lr": 0.01, "rho": 0.9, "eps": 1e-3}),
         (optim.Adam, {"lr": 0.02, "beta1": 0.8, "beta2": 0.95, "eps": 1e-3}),
         (optim.AdamW, {"lr": 0.02, "beta1": 0.8, "beta2": 0.95, "eps": 1e-3})]


def _loose_copies(params):
    """The same Parameters, each with arrays of its own: the optimizer then goes Parameter by Parameter."""
    return [Parameter(p.data.copy(), p.name, p.decay) for p in params]


def _trajectory(params, cls, hp, steps=6, **kw):
    opt = cls(params, **hp, **kw)
    rng = np.random.default_rng(3)
    out = []
    for _ in range(steps):
        for p in params:
            p.grad[...] = rng.standard_normal(p.grad.shape)
        opt.step()
        out.append([p.data.copy() for p in params])
    return out, opt


@pytest.mark.parametrize("cls,hp", CASES, ids=[c.__name__ for c, _ in CASES])
@pytest.mark.parametrize("decay", [dict(), dict(weight_decay=0.1), dict(weight_decay=0.1, decay_all=True)],
                         ids=["no-decay", "decay-weights", "decay-all"])
@pytest.mark.parametrize("block", [1 << 17, 7])  # 7: many blocks, cut across Parameters
def test_flat_update_equals_per_parameter_update_bit_for_bit(cls, hp, decay, block, monkeypatch):
    monkeypatch.setattr(optim, "BLOCK_SIZE", block)
    packed, opt = _trajectory(_model().parameters(), cls, hp, **decay)
    plain, loose = _trajectory(_loose_copies(_model().parameters()), cls, hp, **decay)
    # one flat run, unless coupled L2 decay covers only some Parameters (AdamW's decay is not in g)
    flat_used = opt._plan[0] is not None
    assert flat_used == (not decay or decay.get("decay_all", False) or cls is optim.AdamW)
    assert all(p.flat is None for p in loose.params)
    for a, b in zip(packed, plain):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_flat_path_is_used_for_the_model_and_for_a_run_of_its_parameters():
    model = _model()
    _, opt = _trajectory(model.parameters(), optim.Adam, {"lr": 0.01}, steps=1)
    blocks = opt._blocks()
    assert len(blocks) == 1 and blocks[0].theta.base is model.parameters().data
    assert blocks[0].theta.size == model.n_parameters()
    m = opt.state[0]["m"]
    assert m.base is blocks[0].state["m"].base and m.shape == model.parameters()[0].data.shape
    run = list(model.parameters())[2:]   # the last two layers: consecutive in the storage
    part = optim.SGD(run, lr=0.1)
    assert len(part._blocks()) == 1 and part._blocks()[0].theta.size == sum(p.data.size for p in run)
    skip = [model.parameters()[0], model.parameters()[2]]   # not consecutive: one block each
    assert len(optim.SGD(skip, lr=0.1)._blocks()) == 2


def test_state_dict_round_trip_in_flat_mode_resumes_exactly():
    straight, _ = _trajectory(_model().parameters(), optim.Adam, {"lr": 0.01}, steps=8)
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


def test_replaced_arrays_of_loose_parameters_are_noticed():
    params = _loose_copies(_model().parameters())
    opt = optim.SGD(params, lr=0.5)
    for p in params:
        p.grad[...] = 1.0
    opt.step()
    w = params[0]
    w.data = np.zeros_like(w.data)   # a new array: the next step must update this one
    opt.step()
    np.testing.assert_array_equal(w.data, -0.5)
    model = ml.Sequential([L.Dense(2, 2, rng=0, dtype="float64")])
    opt = optim.SGD(model.parameters(), lr=1.0)
    model.astype("float32")   # new arrays for every Parameter: the optimizer follows them
    for p in model.parameters():
        p.grad[...] = 1.0
    before = [p.data.copy() for p in model.parameters()]
    opt.step()
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.data, b - 1)


def test_step_leaves_grad_unchanged_with_decay_in_flat_mode():
    model = _model()
    opt = optim.Adam(model.parameters(), lr=0.01, weight_decay=0.1, decay_all=True)
    for p in model.parameters():
        p.grad[...] = 0.5
    opt.step()
    assert all(np.all(p.grad == 0.5) for p in model.parameters())


# ------------------------------------------------------------------ model

@pytest.mark.parametrize("tier", ["fast", "reference"])
def test_backward_without_input_grad_gives_the_same_parameter_gradients(tier):
    model = _model(scaler="standard", tier=tier)
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
    opt = fast.Adam(twin.parameters())  # the Trainer runs the loss and the optimizer in the model's tier
    loss = fast.SoftmaxCrossEntropy()
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


def test_standardize_statistics_in_blocks_equal_numpy_std():
    """The fast Standardize.fit sums the squares block by block (no float64 copy of X): the reference's
    mean and std (NumPy's), over several blocks and a short last one, constant columns given scale 1."""
    rng = np.random.default_rng(11)
    X = (rng.standard_normal((9001, 5)) * [1, 3, 0.01, 7, 0] + [0, 5, -2, 1e3, 4]).astype(np.float32)
    ref = L.Standardize(dtype="float64").fit(X)
    quick = fast.to_tier(L.Standardize(dtype="float64"), "fast").fit(X)
    np.testing.assert_allclose(quick.shift, ref.shift, rtol=1e-12)
    np.testing.assert_allclose(quick.scale, ref.scale, rtol=1e-10)
    assert quick.scale[4] == ref.scale[4] == 1.0
