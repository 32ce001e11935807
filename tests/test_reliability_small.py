"""Small things users hit (issue 10, section 6): every one is refused with a message that names the
parameter and says what was expected, instead of a traceback from deep inside or a silent coercion."""
import numpy as np
import pytest
import scipy.sparse as sp

import mlplab as ml


@pytest.fixture(scope="module")
def model():
    return ml.mlp(4, [3], 2, seed=0)


X4 = np.arange(8, dtype=np.float32).reshape(2, 4)


@pytest.mark.parametrize("bs", [0, -1])
def test_prediction_batch_size_is_named(model, bs):
    for fn in (model.predict, model.predict_proba, model.decision_function):
        with pytest.raises(ValueError, match=f"batch_size must be >= 1, got {bs}"):
            fn(X4, batch_size=bs)
    with pytest.raises(ValueError, match=f"batch_size must be >= 1, got {bs}"):
        ml.Trainer(model).evaluate(X4, [0, 1], batch_size=bs)
    with pytest.raises(TypeError, match="batch_size must be an integer >= 1, got 2.5"):
        model.predict(X4, batch_size=2.5)


@pytest.mark.parametrize("hidden, error, message", [
    ([2.5], ValueError, r"hidden layer sizes must be whole numbers >= 1, got 2.5 in \[2.5\] \(sizes are never rounded\)"),
    ([3, True], ValueError, r"hidden layer sizes must be whole numbers >= 1, got True"),
    ("100", TypeError, r"hidden must be a list of layer sizes such as \[100, 50\]"),
    (100, TypeError, r"hidden must be a list of layer sizes"),
    ([0], ValueError, r"hidden layer sizes must be >= 1, got \[0\]"),
])
def test_mlp_hidden_sizes_are_not_coerced(hidden, error, message):
    with pytest.raises(error, match=message):
        ml.mlp(4, hidden, 2)


def test_mlp_accepts_integer_types():
    m = ml.mlp(np.int64(4), np.array([3, 2]), 2, seed=0)
    assert [layer.out_features for layer in m.layers if isinstance(layer, ml.layers.Dense)] == [3, 2, 2]
    with pytest.raises(TypeError, match="n_in must be an integer >= 1, got 4.5"):
        ml.mlp(4.5, [3], 2)


@pytest.mark.parametrize("kw, error, message", [
    ({"test_size": 1.0}, ValueError, r"test_size=1.0 is a fraction: it must lie strictly between 0 and 1 \(pass an int"),
    ({"test_size": 0.0}, ValueError, r"test_size=0.0 is a fraction"),
    ({"val_size": 1.5}, ValueError, r"val_size=1.5 is a fraction"),
    ({"val_size": 0}, ValueError, r"val_size=0 is a number of samples: it must be >= 1"),
    ({"test_size": 1797}, ValueError, r"test_size=1797 is a number of samples: .* less than the 1797 samples"),
    ({"val_size": 1438}, ValueError, r"val_size=1438 is a number of samples: .*less than the 1438 samples"),
    ({"test_size": True}, TypeError, r"test_size must be a fraction in \(0, 1\) or a number of samples, got True"),
    ({"test_size": "0.2"}, TypeError, r"got '0.2'"),
])
def test_split_sizes_are_not_coerced(kw, error, message):
    with pytest.raises(error, match=message):
        ml.data.load("digits", **kw)


def test_split_sizes_checked_before_any_file_is_looked_for(tmp_path):
    # no data folder, no download: the bad option is reported, not the missing files
    with pytest.raises(ValueError, match="val_size=1.0 is a fraction"):
        ml.data.load("mnist", val_size=1.0, data_home=tmp_path, download=False)
    with pytest.raises(ValueError, match="test_size=1.0 is a fraction"):
        ml.data.load("arem", test_size=1.0, data_home=tmp_path, download=False)
    assert not list(tmp_path.iterdir())


def test_good_split_sizes_still_work():
    d = ml.data.load("digits", test_size=np.float32(0.25), val_size=100)
    assert d.X_test.shape[0] == 449 and d.X_val.shape[0] == 100
    assert ml.data.load("digits", test_size=1).X_test.shape[0] == 1  # an int is a count


def test_sparse_input_says_convert_where_it_is_not_supported(model):
    Xs = sp.csr_matrix(X4)
    # a model whose first layer is Dense takes sparse X (mlplab.sparse); a scaler first would densify it
    assert model.predict(Xs).shape == (X4.shape[0],)
    scaled = ml.mlp(4, [3], 2, scaler="standard", seed=0)
    with pytest.raises(ValueError, match=r"first layer is Dense, got Standardize.*convert with X.toarray\(\)"):
        scaled.predict(Xs)
    with pytest.raises(ValueError, match=r"convert with X_val.toarray\(\)"):
        ml.Trainer(scaled, epochs=1).fit(X4, np.zeros(X4.shape[0], int), validation=(Xs, np.zeros(X4.shape[0], int)))
    from mlplab._validation import check_array

    with pytest.raises(TypeError, match=r"sparse matrices are not supported, convert with y.toarray\(\)"):
        check_array(Xs, "y")
    from mlplab._validation import check_array

    out = check_array(sp.coo_matrix(X4), dtype=np.float32, accept_sparse=True, n_features=4)
    assert sp.issparse(out) and out.format == "csr" and out.dtype == np.float32
    np.testing.assert_array_equal(out.toarray(), X4)
    bad = sp.csr_matrix(np.array([[np.nan, 0.0]]))
    with pytest.raises(ValueError, match="1 NaN and 0 infinite"):
        check_array(bad, accept_sparse=True)


def test_overflow_is_not_called_infinite(model):
    X = X4.astype(np.float64)
    X[1, 2] = 1e39  # finite in float64, infinite in float32
    with pytest.raises(ValueError, match=r"X has 1 values that overflow float32 \(largest magnitude 1e\+39; float32 "
                                         r"holds up to 3.4e\+38\): rescale the data .* or use dtype='float64'"):
        model.predict(X)
    with pytest.raises(ValueError, match="overflow float32"):
        ml.Trainer(model, epochs=1).fit(X, [0, 1])
    X[0, 0] = np.inf  # a real infinity is still reported as such
    with pytest.raises(ValueError, match="contains 0 NaN and 2 infinite values"):
        model.predict(X)


def test_trainer_names_what_it_expected(model):
    opt = ml.optim.Adam(model.parameters())
    ce = ml.losses.SoftmaxCrossEntropy()
    with pytest.raises(TypeError, match=r"loss must be a loss object such as SoftmaxCrossEntropy\(\), got the class "
                                        r"SoftmaxCrossEntropy itself"):
        ml.Trainer(model, ml.losses.SoftmaxCrossEntropy, opt)
    with pytest.raises(TypeError, match=r"loss got an optimizer \(Adam\); the order is Trainer\(model, loss, optimizer\)"):
        ml.Trainer(model, opt, ce)
    with pytest.raises(TypeError, match=r"optimizer got a loss \(SoftmaxCrossEntropy\)"):
        ml.Trainer(model, optimizer=ce)
    with pytest.raises(TypeError, match=r"optimizer must be an optimizer object such as Adam\(model.parameters\(\)\), "
                                        r"got the class Adam itself"):
        ml.Trainer(model, ce, ml.optim.Adam)
    with pytest.raises(TypeError, match="loss must be a loss object with forward"):
        ml.Trainer(model, "cross_entropy")


@pytest.mark.parametrize("arg, what", [
    (lambda m: m, "a Sequential"),
    (lambda m: m.parameters, "a method: call it, model.parameters()"),
    (lambda m: m.layers[0], "a Dense"),
    (lambda m: m.parameters()[0], "a Parameter"),
])
def test_optimizer_wants_parameters(model, arg, what):
    with pytest.raises(TypeError, match=rf"Adam expects the model's parameters, got {what.replace('(', '[(]').replace(')', '[)]')}; "
                                        r"write Adam\(model.parameters\(\)\)"):
        ml.optim.Adam(arg(model))
