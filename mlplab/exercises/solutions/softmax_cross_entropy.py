import numpy as np


class SoftmaxCrossEntropy:
    """Softmax followed by cross-entropy, averaged over the batch.

    scores s (N, C), integer labels y (N,) in [0, C). With p = softmax(s) per row:

        L = (1/N) Σ_n -log p[n, y_n]            forward returns this number
        ∂L/∂s = (p - onehot(y)) / N             backward returns this (N, C) array

    Compute log p as a log-softmax, (s - m) - log Σ_k exp(s_k - m) with m the row maximum, so the
    loss stays finite for scores of ±1000.
    """

    def forward(self, scores, y):
        ### BEGIN SOLUTION
        shifted = scores - np.max(scores, axis=1, keepdims=True)
        log_p = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
        self.p = np.exp(log_p)
        self.y = y
        n = scores.shape[0]
        return -np.mean(log_p[np.arange(n), y])
        ### END SOLUTION

    def backward(self):
        ### BEGIN SOLUTION
        n = self.p.shape[0]
        grad = self.p.copy()
        grad[np.arange(n), self.y] -= 1
        return grad / n
        ### END SOLUTION
