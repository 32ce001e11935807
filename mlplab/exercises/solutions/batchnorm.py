import numpy as np

import mlplab as ml


class BatchNorm(ml.layers.Layer):
    """Batch normalization over the batch axis. x, y (N, D); gamma, beta (D,).

    Training, with μ and σ² the mean and the biased variance (÷N) of the batch, per feature:

        x̂ = (x - μ) / √(σ² + ε),   y = γ x̂ + β
        running_mean ← (1 - momentum) running_mean + momentum μ
        running_var  ← (1 - momentum) running_var  + momentum σ² N / (N - 1)   (unbiased)

    Evaluation (training=False) uses running_mean and running_var instead of μ and σ², and leaves
    them alone. Backward, with dx̂ = dy γ (in training μ and σ² depend on x):

        dγ = Σ_n dy x̂,   dβ = Σ_n dy
        dx = (1/N) (1/√(σ² + ε)) (N dx̂ - Σ_n dx̂ - x̂ Σ_n dx̂ x̂)
    """

    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        self.momentum = momentum
        self.eps = eps
        self.gamma = ml.Parameter(np.ones(num_features), "gamma", decay=False)
        self.beta = ml.Parameter(np.zeros(num_features), "beta", decay=False)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)

    def parameters(self):
        return [self.gamma, self.beta]

    def forward(self, x, training=False):
        ### BEGIN SOLUTION
        self.training = training
        if training:
            n = x.shape[0]
            mu = x.mean(axis=0)
            var = x.var(axis=0)
            self.inv_std = 1 / np.sqrt(var + self.eps)
            self.xhat = (x - mu) * self.inv_std
            m = self.momentum
            self.running_mean = (1 - m) * self.running_mean + m * mu
            self.running_var = (1 - m) * self.running_var + m * var * n / max(n - 1, 1)
        else:
            self.inv_std = 1 / np.sqrt(self.running_var + self.eps)
            self.xhat = (x - self.running_mean) * self.inv_std
        return self.gamma.data * self.xhat + self.beta.data
        ### END SOLUTION

    def backward(self, dy):
        ### BEGIN SOLUTION
        self.gamma.grad = np.sum(dy * self.xhat, axis=0)
        self.beta.grad = np.sum(dy, axis=0)
        dxhat = dy * self.gamma.data
        if not self.training:
            return dxhat * self.inv_std
        n = dy.shape[0]
        return self.inv_std / n * (n * dxhat - dxhat.sum(axis=0) - self.xhat * np.sum(dxhat * self.xhat, axis=0))
        ### END SOLUTION
