import numpy as np

import mlplab as ml


class Sigmoid(ml.layers.Layer):
    """y = σ(x) = 1 / (1 + e^{-x}) elementwise (stable, as in notebook 1); dx = dy · y (1 - y).

    Keep the output y for backward: the derivative is written with y, not x.
    """

    def forward(self, x, training=False):
        ### BEGIN SOLUTION
        e = np.exp(-np.abs(x))
        self.y = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return self.y
        ### END SOLUTION

    def backward(self, dy):
        ### BEGIN SOLUTION
        return dy * self.y * (1 - self.y)
        ### END SOLUTION
