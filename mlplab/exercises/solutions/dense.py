import numpy as np

import mlplab as ml


class Dense(ml.layers.Layer):
    """Fully-connected layer y = x Wᵀ + b.

    Shapes: x (N, D), weight W (M, D) (mlplab's and PyTorch's layout: one row per output),
    bias b (M,), y (N, M). Backward, for dy = ∂L/∂y of shape (N, M):

        dW = dyᵀ x        (M, D)
        db = Σ_n dy_n     (M,)
        dx = dy W         (N, D)

    forward keeps what backward needs; backward stores dW in self.weight.grad, db in
    self.bias.grad and returns dx.
    """

    def __init__(self, in_features, out_features, rng=None):
        rng = np.random.default_rng(rng)
        w = rng.normal(0.0, np.sqrt(2.0 / in_features), (out_features, in_features))  # He initialisation
        self.weight = ml.Parameter(w, "weight")
        self.bias = ml.Parameter(np.zeros(out_features), "bias", decay=False)

    def parameters(self):
        return [self.weight, self.bias]

    def forward(self, x, training=False):
        ### BEGIN SOLUTION
        self.x = x
        return x @ self.weight.data.T + self.bias.data
        ### END SOLUTION

    def backward(self, dy):
        ### BEGIN SOLUTION
        self.weight.grad = dy.T @ self.x
        self.bias.grad = dy.sum(axis=0)
        return dy @ self.weight.data
        ### END SOLUTION
