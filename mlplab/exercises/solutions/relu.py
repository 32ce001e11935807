import mlplab as ml


class ReLU(ml.layers.Layer):
    """y = max(x, 0) elementwise; dx = dy where x > 0 and 0 where x <= 0.

    forward must not change the caller's x, and keeps the mask of the units that were off for
    backward.
    """

    def forward(self, x, training=False):
        ### BEGIN SOLUTION
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out
        ### END SOLUTION

    def backward(self, dy):
        ### BEGIN SOLUTION
        dx = dy.copy()
        dx[self.mask] = 0
        return dx
        ### END SOLUTION
