class SGD:
    """Plain gradient descent: θ ← θ - η g for every parameter.

    update(params, grads) gets two dicts of name → array and changes the arrays in params in place.
    """

    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        ### BEGIN SOLUTION
        for key in params:
            params[key] -= self.lr * grads[key]
        ### END SOLUTION
