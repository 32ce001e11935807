import numpy as np


class Momentum:
    """Gradient descent with momentum μ, one velocity array per parameter, starting at 0:

        v ← μ v - η g
        θ ← θ + v
    """

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = None

    def update(self, params, grads):
        ### BEGIN SOLUTION
        if self.v is None:
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params:
            self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]
            params[key] += self.v[key]
        ### END SOLUTION
