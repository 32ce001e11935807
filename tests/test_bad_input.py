"""Every bad input named in the core-engine issue raises a ValueError/TypeError that says what is wrong."""
import numpy as np
import pytest

import mlplab as ml


@pytest.fixture(scope="module")
def setup():
    data = ml.data.load("digits", seed=0)
    model = ml.mlp(64, [8], 10, seed=0)
    return data, model


def test_wrong_number_of_features(setup):
    data, model = setup
    with pytest.raises(ValueError, match="X has 63 features, but the model expects 64"):
        model.predict(data.X_test[:, :63])
    with pytest.raises(ValueError, match="X has 63 features, but the model expects 64"):
        ml.Trainer(model, epochs=1).fit(data.X_train[:, :63], data.y_train)


def test_x_y_different_lengths(setup):
    data, model = setup
    with pytest.raises(ValueError, match="X and y have different lengths: 1438 samples but 1437 labels"):
        ml.Trainer(model, epochs=1).fit(data.X_train, data.y_train[:-1])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_infinite_values(setup, bad):
    data, model = setup
    X = data.X_train.copy()
    X[3, 5] = bad
    with pytest.raises(ValueError, match="X contains .* NaN and .* infinite values; expected only finite numbers"):
        ml.Trainer(model, epochs=1).fit(X, data.y_train)
    with pytest.raises(ValueError, match="infinite values"):
        model.predict(X)


def test_labels_outside_known_classes(setup):
    data, model = setup
    y = data.y_train.copy()
    y[0] = 10
    with pytest.raises(ValueError, match=r"labels outside the known classes 0..9: \[10\]"):
        ml.Trainer(model, epochs=1).fit(data.X_train, y)
    y[0] = -1
    with pytest.raises(ValueError, match=r"outside the known classes"):
        ml.Trainer(model, epochs=1).fit(data.X_train, y)
    with pytest.raises(ValueError, match="integer class indices"):
        ml.Trainer(model, epochs=1).fit(data.X_train, data.y_train + 0.5)
    with pytest.raises(ValueError, match="map string labels to integers"):
        ml.Trainer(model, epochs=1).fit(data.X_train, data.y_train.astype(str))


def test_empty_data(setup):
    _, model = setup
    with pytest.raises(ValueError, match=r"X is empty \(shape \(0, 64\)\); expected at least one sample"):
        ml.Trainer(model, epochs=1).fit(np.zeros((0, 64)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match="is empty"):
        model.predict(np.zeros((0, 64)))


def test_wrong_rank(setup):
    _, model = setup
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, n_features\); got an array with shape \(64,\)"):
        model.predict(np.zeros(64))


def test_non_numeric(setup):
    _, model = setup
    with pytest.raises(ValueError, match="X must be numeric"):
        model.predict(np.array([["a"] * 64]))


@pytest.mark.parametrize("bs", [0, -3])
def test_batch_size_below_one(setup, bs):
    _, model = setup
    with pytest.raises(ValueError, match=f"batch_size must be >= 1, got {bs}"):
        ml.Trainer(model, batch_size=bs)
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        ml.Trainer(model, batch_size=2.5)


def test_unknown_names():
    with pytest.raises(ValueError, match="unknown activation 'swish'; expected one of"):
        ml.mlp(4, [3], 2, activation="swish")
    with pytest.raises(ValueError, match="unknown norm 'groupnorm'"):
        ml.mlp(4, [3], 2, norm="groupnorm")
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'; expected one of sgd, momentum"):
        ml.optim.make_optimizer("adamax", ml.mlp(4, [3], 2).parameters())
    with pytest.raises(ValueError, match="unknown init 'glorot'"):
        ml.mlp(4, [3], 2, init="glorot")
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        ml.data.load("nope")
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        ml.mlp(4, [3], 2, dtype="int32")


def test_bad_hyperparameters():
    p = ml.mlp(4, [3], 2).parameters()
    with pytest.raises(ValueError, match="learning rate must be in"):
        ml.optim.SGD(p, lr=-1)
    with pytest.raises(ValueError, match="momentum must be in"):
        ml.optim.Momentum(p, momentum=1.5)
    with pytest.raises(ValueError, match="hidden layer sizes must be >= 1"):
        ml.mlp(4, [0], 2)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        ml.mlp(4, [3], 2, dropout=1.0)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        ml.Trainer(ml.mlp(4, [3], 2), epochs=0)


def test_loss_label_checks():
    ce = ml.losses.SoftmaxCrossEntropy()
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        ce.forward(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="different lengths"):
        ce.forward(np.zeros((2, 3)), np.array([0]))
    with pytest.raises(ValueError, match="unknown reduction 'avg'"):
        ml.losses.SoftmaxCrossEntropy("avg")
