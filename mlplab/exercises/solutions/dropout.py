import numpy as np

import mlplab as ml


class Dropout(ml.layers.Layer):
    """Inverted dropout; p is the probability of dropping a unit.

    Training: y = x · mask / (1 - p), mask drawn anew at every call (1 with probability 1 - p);
    backward: dx = dy · mask / (1 - p) with the same mask. Evaluation: y = x, dx = dy.
    """

    def __init__(self, p=0.5, rng=None):
        self.p = p
        self.rng = np.random.default_rng(rng)

    def forward(self, x, training=False):
        ### BEGIN SOLUTION
        if not training:
            self.mask = None
            return x
        self.mask = (self.rng.random(x.shape) >= self.p) / (1 - self.p)
        return x * self.mask
        ### END SOLUTION

    def backward(self, dy):
        ### BEGIN SOLUTION
        return dy if self.mask is None else dy * self.mask
        ### END SOLUTION
