import numpy as np


class MeanSquaredError:
    """Mean squared error over all N·C entries (PyTorch's MSELoss):

        L = (1 / (N C)) Σ_n Σ_j (s_nj - y_nj)²      forward returns this number
        ∂L/∂s = 2 (s - y) / (N C)                   backward returns this (N, C) array
    """

    def forward(self, scores, y):
        ### BEGIN SOLUTION
        self.diff = scores - y
        return np.mean(self.diff ** 2)
        ### END SOLUTION

    def backward(self):
        ### BEGIN SOLUTION
        return 2 * self.diff / self.diff.size
        ### END SOLUTION
