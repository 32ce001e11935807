import numpy as np


class RMSProp:
    """RMSProp: a moving average of squared gradients with decay ρ.

        h ← ρ h + (1 - ρ) g²
        θ ← θ - η g / (√h + ε)
    """

    def __init__(self, lr=0.001, rho=0.99, eps=1e-8):
        self.lr = lr
        self.rho = rho
        self.eps = eps
        self.h = None

    def update(self, params, grads):
        ### BEGIN SOLUTION
        if self.h is None:
            self.h = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params:
            self.h[key] = self.rho * self.h[key] + (1 - self.rho) * grads[key] ** 2
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + self.eps)
        ### END SOLUTION
