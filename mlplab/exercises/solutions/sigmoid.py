import numpy as np


def sigmoid(x):
    """The logistic function σ(x) = 1 / (1 + e^{-x}), elementwise, for an array of any shape.

    Stable: no overflow warning and no NaN for any finite x (try x = -1000 and x = 1000), and the
    result keeps the dtype of x. Hint: for x >= 0 compute 1 / (1 + e^{-x}); for x < 0 the equal
    e^{x} / (1 + e^{x}). Both take exp of a number <= 0 only: use e = exp(-|x|).
    """
    ### BEGIN SOLUTION
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    ### END SOLUTION
