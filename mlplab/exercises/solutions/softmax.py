import numpy as np


def softmax(x):
    """softmax(x)_j = exp(x_j) / Σ_k exp(x_k) over the last axis: x is (C,) or (N, C), one row of
    scores per sample, and every row of the result sums to 1.

    Stable: subtract each row's maximum before exp (the shift cancels in the ratio), so that scores
    of 1000 give no overflow and no NaN. Do not change x in place.
    """
    ### BEGIN SOLUTION
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)
    ### END SOLUTION
