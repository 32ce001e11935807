import warnings

import numpy as np
import pytest

from mlplab import functional as F


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_extreme_inputs_no_overflow_no_warning(dtype):
    x = np.array([-1e4, -1000, -50, -1, 0, 1, 50, 1000, 1e4], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise"):
            y = F.sigmoid(x)
    assert y.dtype == dtype
    assert np.all(np.isfinite(y))
    assert y[0] == 0 and y[-1] == 1 and y[4] == 0.5
    assert np.all(np.diff(y) >= 0)


def test_sigmoid_matches_definition_in_moderate_range():
    x = np.linspace(-30, 30, 601)
    np.testing.assert_allclose(F.sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_is_stable_and_normalized(dtype):
    x = np.array([[1000, 1001, 1002], [-1000, -1000, -1000], [0, 0, 1e4]], dtype=dtype)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        p = F.softmax(x)
        lp = F.log_softmax(x)
    assert p.dtype == dtype
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(p[1], [1 / 3] * 3, rtol=1e-6)
    assert np.all(np.isfinite(lp))
    np.testing.assert_allclose(np.exp(lp), p, rtol=1e-5, atol=1e-30)
    # shift invariance
    np.testing.assert_allclose(F.softmax(x[:1] - 1000), p[:1], rtol=1e-6)


def test_log_softmax_matches_direct_formula():
    x = np.random.default_rng(0).standard_normal((4, 5))
    direct = x - np.log(np.exp(x).sum(1, keepdims=True))
    np.testing.assert_allclose(F.log_softmax(x), direct, rtol=1e-12)
    np.testing.assert_allclose(F.logsumexp(x), np.log(np.exp(x).sum(1)), rtol=1e-12)


def test_one_hot():
    y = np.array([2, 0, 1, 2])
    oh = F.one_hot(y, 3)
    assert oh.shape == (4, 3)
    np.testing.assert_array_equal(oh.argmax(1), y)
    assert oh.sum() == 4
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        F.one_hot(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match="1-D"):
        F.one_hot(np.zeros((2, 2), dtype=int))
    with pytest.raises(ValueError, match="integer"):
        F.one_hot(np.array([0.5, 1.0]))
