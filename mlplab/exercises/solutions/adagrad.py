import numpy as np


class AdaGrad:
    """AdaGrad: each parameter's step shrinks with the sum of its squared gradients so far.

        h ← h + g²
        θ ← θ - η g / (√h + ε)
    """

    def __init__(self, lr=0.01, eps=1e-8):
        self.lr = lr
        self.eps = eps
        self.h = None

    def update(self, params, grads):
        ### BEGIN SOLUTION
        if self.h is None:
            self.h = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params:
            self.h[key] += grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + self.eps)
        ### END SOLUTION
