"""mlplab.exercises without a kernel: every solution passes its check, every classic mistake is named,
mlplab's own layers pass, the 'Deep Learning from Scratch' and CS231n styles are understood, student
layers train in Sequential/Trainer, and results read as text and HTML. (~3 s)"""
from __future__ import annotations

import numpy as np
import pytest

import mlplab as ml
import mlplab.exercises as ex
from mlplab.exercises.solutions import EXERCISES, INJECTIONS, injected_source, solution_source


def _run_check(source: str, exercise: str) -> ex.CheckResult:
    ns = {"np": np, "ml": ml, "ex": ex}
    exec(compile(source, f"<{exercise}>", "exec"), ns)
    return eval(EXERCISES[exercise].check, ns)


def _load(exercise: str, mistake: str | None = None) -> dict:
    ns: dict = {}
    exec(compile(injected_source(f"{exercise}:{mistake}") if mistake else solution_source(exercise), exercise,
                 "exec"), ns)
    return ns


@pytest.mark.parametrize("exercise", list(EXERCISES))
def test_solution_passes(exercise):
    result = _run_check(solution_source(exercise), exercise)
    assert result.passed, str(result)
    assert not result.mistakes
    assert "PASSED" in str(result)


@pytest.mark.parametrize("key", list(INJECTIONS))
def test_injected_mistake_is_named(key):
    inj = INJECTIONS[key]
    result = _run_check(injected_source(key), inj.exercise)
    assert not result.passed
    assert inj.mistake in result.mistakes, str(result)
    assert ex.MISTAKES[inj.mistake].title in str(result)


@pytest.mark.parametrize("layer,like", [
    (lambda: ml.layers.Dense(5, 3, dtype="float64"), "Dense"), (lambda: ml.layers.Dense(4, 4), "Dense"),
    (ml.layers.ReLU, "ReLU"), (ml.layers.Sigmoid, "Sigmoid"), (ml.layers.Tanh, "Tanh"),
    (lambda: ml.layers.LeakyReLU(0.1), "LeakyReLU"), (lambda: ml.layers.BatchNorm(6, dtype="float64"), "BatchNorm"),
    (lambda: ml.layers.LayerNorm(6, dtype="float64"), "LayerNorm"), (lambda: ml.layers.Dropout(0.3, rng=0), "Dropout"),
    (ml.losses.SoftmaxCrossEntropy, "SoftmaxCrossEntropy"), (ml.losses.MeanSquaredError, "MeanSquaredError")])
def test_mlplab_reference_layers_pass_their_own_checks(layer, like):
    result = ex.check_layer(layer(), like=like)
    assert result.passed, str(result)


@pytest.mark.parametrize("like", list(ex.OPTIMIZER_HYPER))
def test_mlplab_formulas_match_mlplab_optimizers(like):
    """A CS231n-style function built on mlplab's own optimizer passes; so the reference path is right."""
    def step(w, dw, config):
        if "opt" not in config:
            config["p"] = ml.Parameter(w.copy())
            hyper = {k: config[c] for k, c in [("lr", "learning_rate"), ("momentum", "momentum"), ("beta1", "beta1"),
                                                ("beta2", "beta2"), ("eps", "epsilon"), ("rho", "decay_rate")]
                     if c in config}
            config["opt"] = getattr(ml.optim, like)([config["p"]], **hyper)
        config["p"].grad[...] = dw
        config["opt"].step()
        return config["p"].data.copy(), config

    assert ex.check_optimizer(step, like=like).passed


def test_functions_from_mlplab_pass():
    assert ex.check_function(ml.functional.sigmoid, like="sigmoid").passed
    assert ex.check_function(ml.functional.softmax, like="softmax").passed


# ---------------------------------------------------------------- the book's style: W, b, dW, db; (in, out)

class Affine:
    """'Deep Learning from Scratch' ch. 5, as printed."""

    def __init__(self, W, b, transposed_grad=False):
        self.W, self.b, self.transposed_grad = W, b, transposed_grad
        self.x = self.dW = self.db = None

    def forward(self, x):
        self.x = x
        return np.dot(x, self.W) + self.b

    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(dout.T, self.x).T if not self.transposed_grad else np.dot(dout.T, self.x)
        self.db = np.sum(dout, axis=0)
        return dx


class BookDropout:
    def __init__(self, dropout_ratio=0.5):
        self.dropout_ratio, self.mask = dropout_ratio, None

    def forward(self, x, train_flg=True):
        if train_flg:
            self.mask = np.random.default_rng().random(x.shape) > self.dropout_ratio
            return x * self.mask
        return x * (1.0 - self.dropout_ratio)

    def backward(self, dout):
        return dout * self.mask


class BookBatchNorm:
    """CS231n / the book: momentum is the weight of the old value and running_var keeps the biased variance."""

    def __init__(self, gamma, beta, momentum=0.9):
        self.gamma, self.beta, self.momentum = gamma, beta, momentum
        self.running_mean = self.running_var = None

    def forward(self, x, train_flg=True):
        if self.running_mean is None:
            self.running_mean, self.running_var = np.zeros(x.shape[1]), np.zeros(x.shape[1])
        if train_flg:
            mu, var = x.mean(axis=0), x.var(axis=0)
            self.xc, self.std = x - mu, np.sqrt(var + 10e-7)
            self.xn = self.xc / self.std
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        else:
            self.xn = (x - self.running_mean) / np.sqrt(self.running_var + 10e-7)
        return self.gamma * self.xn + self.beta

    def backward(self, dout):
        n = dout.shape[0]
        self.dbeta, self.dgamma = dout.sum(axis=0), np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        dxc = dxn / self.std
        dstd = -np.sum((dxn * self.xc) / (self.std * self.std), axis=0)
        dvar = 0.5 * dstd / self.std
        dxc += (2.0 / n) * self.xc * dvar
        return dxc - np.sum(dxc, axis=0) / n


def test_book_style_dense_with_in_out_layout_is_recognised():
    rng = np.random.default_rng(0)
    good = ex.check_layer(Affine(rng.normal(size=(5, 3)), np.zeros(3)), like="Dense")
    assert good.passed, str(good)
    assert "(in, out)" in str(good)
    bad = ex.check_layer(Affine(rng.normal(size=(4, 4)), np.zeros(4), transposed_grad=True), like="Dense")
    assert bad.mistakes == {"dW_transposed"}, str(bad)
    layer = Affine(rng.normal(size=(5, 3)), np.zeros(3))
    before = layer.W.copy()
    ex.check_layer(layer, like="Dense")
    np.testing.assert_array_equal(layer.W, before)  # the student's own weights are put back


def test_book_dropout_and_batchnorm_conventions_are_named():
    drop = ex.check_layer(BookDropout(0.3), like="Dropout")
    assert drop.mistakes == {"dropout_non_inverted"}, str(drop)
    bn = ex.check_layer(BookBatchNorm(np.ones(4), np.zeros(4)), like="BatchNorm")
    assert {"bn_momentum_swapped", "bn_biased_running_var"} <= bn.mistakes, str(bn)
    # BookBatchNorm's ε is 1e-6 but it has no eps attribute: the check says it used mlplab's default
    assert "eps 1e-05 (mlplab's default: your layer has no attribute eps)" in str(bn)


def test_more_mistakes_are_named():
    class LeakyNoSlope(ml.layers.Layer):
        slope = 0.1

        def forward(self, x, training=False):
            self.x = x
            return np.where(x > 0, x, 0.1 * x)

        def backward(self, dy):
            return dy * (self.x > 0)

    class TanhFromInput(ml.layers.Layer):
        def forward(self, x, training=False):
            self.x = x
            return np.tanh(x)

        def backward(self, dy):
            return dy * (1 - self.x ** 2)

    class LayerNormOverBatch(ml.layers.Layer):
        def __init__(self, d):
            self.gamma, self.beta, self.eps = ml.Parameter(np.ones(d), "gamma"), ml.Parameter(np.zeros(d), "beta"), 1e-5

        def parameters(self):
            return [self.gamma, self.beta]

        def forward(self, x, training=False):
            self.xhat = (x - x.mean(0)) / np.sqrt(x.var(0) + self.eps)
            return self.gamma.data * self.xhat + self.beta.data

        def backward(self, dy):
            raise NotImplementedError

    def clipped_ce(scores, y):
        e = np.exp(scores - scores.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        n = len(y)
        grad = p.copy()
        grad[np.arange(n), y] -= 1
        return -np.mean(np.log(p[np.arange(n), y] + 1e-7)), grad / n

    class HalfSum:
        def forward(self, s, y):
            self.d = s - y
            return 0.5 * np.sum(self.d ** 2)

        def backward(self, dout=1):
            return self.d

    assert ex.check_layer(LeakyNoSlope(), "LeakyReLU").mistakes == {"leaky_backward_no_slope"}
    assert ex.check_layer(TanhFromInput(), "Tanh").mistakes == {"grad_from_input"}
    ln = ex.check_layer(LayerNormOverBatch(5), "LayerNorm")
    assert "ln_wrong_axis" in ln.mistakes and "not implemented yet" in str(ln)
    assert "loss_log_clipped" in ex.check_layer(clipped_ce, "SoftmaxCrossEntropy").mistakes
    assert ex.check_layer(HalfSum(), "mse").mistakes == {"mse_half_sum"}


def test_optimizer_divergence_is_located():
    class LateBug:
        """Right for 4 steps, then the learning rate doubles."""

        def __init__(self):
            self.lr, self.n = 0.01, 0

        def update(self, params, grads):
            self.n += 1
            for k in params:
                params[k] -= (self.lr if self.n < 5 else 2 * self.lr) * grads[k]

    result = ex.check_optimizer(LateBug(), like="SGD")
    assert not result.passed
    text = str(result)
    assert "step 5" in text and "the first 4 steps agree" in text and "later one" in text

    def cs231n_momentum(w, dw, config):  # sign flipped, CS231n's function style
        v = config.get("velocity", np.zeros_like(w))
        v = config["momentum"] * v + config["learning_rate"] * dw
        config["velocity"] = v
        return w + v, config

    assert ex.check_optimizer(cs231n_momentum, like="Momentum").mistakes == {"momentum_sign_flipped"}
    with pytest.raises(TypeError, match="instance"):
        ex.check_optimizer(LateBug, like="SGD")
    with pytest.raises(ValueError, match="unknown"):
        ex.check_optimizer(LateBug(), like="SGD", beta1=0.9)


def test_not_implemented_and_exceptions_are_findings():
    class Empty(ml.layers.Layer):
        def forward(self, x, training=False):
            raise NotImplementedError

        def backward(self, dy):
            raise NotImplementedError

    result = ex.check_layer(Empty(), "ReLU")
    assert not result.passed and "not implemented yet" in str(result)
    with pytest.raises(ValueError, match="expected one of"):
        ex.check_layer(Empty(), "Convolution")
    with pytest.raises(TypeError, match="instance"):
        ex.check_layer(Empty, "ReLU")
    with pytest.raises(TypeError, match="function itself"):
        ex.check_function(3, "sigmoid")


def test_report_reads_as_text_and_html():
    ns = _load("dense", "db_not_summed")
    result = ex.check_layer(ns["Dense"](5, 3, rng=0), like="Dense")
    text = str(result)
    assert text.startswith("Dense check of Dense: FAILED, 1 problem")
    lines = [line for line in text.splitlines() if line.strip().startswith("ERROR")]
    assert len(lines) == 1 and "batch of 1, batch of 4, batch of 13" in lines[0]  # one line, all cases
    assert repr(result) == text
    html = result._repr_html_()
    assert "<table>" in html and "bias gradient not summed over the batch" in html
    finding = result.errors()[0]
    assert finding.mistake == "db_not_summed" and finding.severity == "error"


def test_student_layers_learn_digits_in_sequential_and_trainer():
    data = ml.data.load("digits", test_size=0.2, seed=0)
    X, Xt = data.X_train.astype(np.float64), data.X_test.astype(np.float64)
    Dense, BatchNorm, Dropout = _load("dense")["Dense"], _load("batchnorm")["BatchNorm"], _load("dropout")["Dropout"]
    rng = np.random.default_rng(0)
    book = ex.as_layer(Affine(rng.normal(0, 0.15, (64, 10)), np.zeros(10)))  # the book's style, adapted
    assert isinstance(book, ex.StudentLayer)
    dense = Dense(3, 2)
    assert ex.as_layer(dense) is dense  # already an mlplab Layer

    class NotALayer:  # mlplab-style parameters, but no Layer base class
        def __init__(self):
            self.inner = Dense(3, 2, rng=0)

        def parameters(self):
            return self.inner.parameters()

        def forward(self, x, training=False):
            return self.inner.forward(x, training)

        def backward(self, dy):
            return self.inner.backward(dy)

    wrapped = ex.as_layer(NotALayer())
    assert wrapped.parameters() == wrapped.obj.inner.parameters()
    y = wrapped.forward(np.ones((4, 3)), True)
    wrapped.backward(np.ones_like(y))
    np.testing.assert_allclose(wrapped.parameters()[1].grad, [4.0, 4.0])
    with pytest.raises(TypeError, match="forward"):
        ex.as_layer(object())
    model = ml.Sequential([ml.layers.Standardize(dtype="float64"), Dense(64, 64, rng=0), BatchNorm(64),
                           ml.layers.ReLU(), Dropout(0.1, rng=0), book])
    ml.Trainer(model, ml.losses.SoftmaxCrossEntropy(), ml.optim.Adam(model.parameters(), lr=1e-2), batch_size=32,
               epochs=5, seed=0).fit(X, data.y_train)
    assert ml.metrics.accuracy(data.y_test, model.predict(Xt)) >= 0.9


def test_book_optimizers_with_hard_coded_eps():
    """'Deep Learning from Scratch' writes ε = 1e-7 into its formulas and keeps no eps attribute."""
    class BookRMSprop:
        def __init__(self, lr=0.01, decay_rate=0.99):
            self.lr, self.decay_rate, self.h = lr, decay_rate, None

        def update(self, params, grads):
            if self.h is None:
                self.h = {key: np.zeros_like(val) for key, val in params.items()}
            for key in params:
                self.h[key] *= self.decay_rate
                self.h[key] += (1 - self.decay_rate) * grads[key] * grads[key]
                params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + 1e-7)

    class BookAdam:
        def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
            self.lr, self.beta1, self.beta2, self.iter, self.m, self.v = lr, beta1, beta2, 0, None, None

        def update(self, params, grads):
            if self.m is None:
                self.m = {k: np.zeros_like(v) for k, v in params.items()}
                self.v = {k: np.zeros_like(v) for k, v in params.items()}
            self.iter += 1
            lr_t = self.lr * np.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)
            for key in params:
                self.m[key] += (1 - self.beta1) * (grads[key] - self.m[key])
                self.v[key] += (1 - self.beta2) * (grads[key] ** 2 - self.v[key])
                params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + 1e-7)

    rms = ex.check_optimizer(BookRMSprop(), like="RMSProp")
    assert rms.passed and "ε = 1e-07" in str(rms) and "rho=0.99" in str(rms)  # decay_rate read as rho
    assert ex.check_optimizer(BookRMSprop(), like="RMSProp", eps=1e-7).findings == []
    adam = ex.check_optimizer(BookAdam(), like="Adam")
    assert adam.mistakes == {"adam_eps_uncorrected"} and "with your ε = 1e-07" in str(adam)
