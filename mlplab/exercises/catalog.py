"""The classic mistakes the checks recognise, each with a short title and the fix.

A check names a mistake only when the student's numbers equal what the mistaken formula gives on
the same input (detected by behaviour, never by reading source). Codes are stable: tests, notebooks
and teachers refer to them.
"""
from __future__ import annotations

from typing import NamedTuple

__all__ = ["MISTAKES", "Mistake"]


class Mistake(NamedTuple):
    title: str
    fix: str


MISTAKES: dict[str, Mistake] = {
    # ---------------------------------------------------------------- Dense
    "dW_transposed": Mistake(
        "transposed weight gradient",
        "dW must have the layout of W: dy.T @ x for W stored (out, in), x.T @ dy for W stored (in, out)"),
    "dW_averaged": Mistake(
        "weight gradient divided by the batch size",
        "sum over the batch (dW = dyᵀ x); the loss's gradient already carries the 1/N of the mean"),
    "db_not_summed": Mistake(
        "bias gradient not summed over the batch",
        "db = dy.sum(axis=0): the bias is added to every sample, so its gradient adds up over the batch"),
    "db_averaged": Mistake(
        "bias gradient averaged instead of summed",
        "db = dy.sum(axis=0); the loss's gradient already carries the 1/N of the mean"),
    "db_wrong_axis": Mistake(
        "bias gradient summed over the wrong axis",
        "sum over the batch axis 0 (one value per output feature), not over the features"),
    "forward_no_bias": Mistake(
        "bias left out of the forward pass", "y = x Wᵀ + b"),
    "input_mutated": Mistake(
        "input changed in place",
        "the caller's array must stay as it was: work on a copy (out = x.copy()) or use np.maximum/np.where"),
    # ---------------------------------------------------------------- activations
    "relu_mask_after": Mistake(
        "ReLU mask taken after instead of before",
        "the mask was taken after the negative inputs were already set to 0, so it marks nothing and the "
        "gradient flows through units that were off; take mask = (x <= 0) from the input before "
        "changing anything"),
    "relu_mask_from_gradient": Mistake(
        "ReLU mask taken from the gradient",
        "the mask depends on the forward input, not on dy: dx = dy * (x > 0)"),
    "relu_mask_inverted": Mistake(
        "ReLU mask inverted", "pass the gradient where x > 0 and block it where x <= 0"),
    "grad_not_chained": Mistake(
        "local derivative not multiplied by dy",
        "chain rule: dx = dy * (local derivative)"),
    "grad_from_input": Mistake(
        "derivative computed from the input instead of the output",
        "σ'(x) = y (1 - y) and tanh'(x) = 1 - y² use the forward's output y, not x"),
    "sigmoid_grad_missing_factor": Mistake(
        "sigmoid derivative missing a factor", "dx = dy * y * (1 - y)"),
    "leaky_backward_no_slope": Mistake(
        "LeakyReLU gradient set to 0 on the negative side", "dx = dy where x > 0, slope · dy elsewhere"),
    "sigmoid_overflow": Mistake(
        "sigmoid overflows for large |x|",
        "np.exp(-x) overflows (a RuntimeWarning) for x below about -709 (float64) or -89 (float32); use "
        "exp(-|x|) on each side (σ(x) = 1/(1+e^{-x}) for x >= 0, e^{x}/(1+e^{x}) for x < 0) or silence "
        "the harmless overflow with np.errstate(over='ignore')"),
    "sigmoid_nan": Mistake(
        "sigmoid gives NaN for large x",
        "exp(x) / (1 + exp(x)) is inf/inf = NaN for large x; compute 1 / (1 + exp(-x)) for x >= 0"),
    "softmax_no_max": Mistake(
        "softmax without subtracting the maximum",
        "exp overflows at large scores (exp(1000) = inf, inf/inf = NaN); subtract each row's maximum "
        "first: e = np.exp(x - x.max(axis=-1, keepdims=True)); the shift cancels in the ratio"),
    "softmax_global_max": Mistake(
        "softmax shifted by the maximum of the whole array",
        "take the maximum per row (axis=-1, keepdims=True): a row far below the global maximum "
        "underflows to 0/0 = NaN"),
    "softmax_wrong_axis": Mistake(
        "softmax normalised over the wrong axis",
        "each row (one sample's scores, the last axis) must sum to 1: sum with axis=-1, keepdims=True"),
    # ---------------------------------------------------------------- losses
    "loss_grad_missing_mean": Mistake(
        "loss gradient missing the 1/N of the mean",
        "the loss is a mean over the batch, so its gradient is divided by the batch size N too "
        "(by N·C for the mean squared error)"),
    "loss_sum_not_mean": Mistake(
        "loss summed over the batch instead of averaged",
        "divide the batch total by the batch size N"),
    "loss_log_clipped": Mistake(
        "log(p + δ) instead of a log-softmax",
        "adding a small δ inside the log caps the loss at -log δ (16.1 for δ = 1e-7) when a score is "
        "far off; compute log p = (s - m) - log Σ exp(s - m) with m the row maximum"),
    "ce_grad_no_target": Mistake(
        "cross-entropy gradient without subtracting the targets",
        "∂L/∂s = (softmax(s) - onehot(y)) / N"),
    "mse_mean_over_batch_only": Mistake(
        "mean squared error divided by N instead of N·C",
        "the mean runs over all N·C entries (PyTorch's MSELoss and mlplab's MeanSquaredError)"),
    "mse_missing_factor_2": Mistake(
        "mean squared error gradient missing the factor 2", "∂/∂s (s - y)² = 2 (s - y)"),
    "mse_half_sum": Mistake(
        "half sum of squares instead of the mean",
        "½ Σ (s - y)² is 'Deep Learning from Scratch''s loss; mlplab's MeanSquaredError is "
        "Σ (s - y)² / (N·C) with gradient 2 (s - y) / (N·C)"),
    # ---------------------------------------------------------------- dropout
    "dropout_not_rescaled": Mistake(
        "dropout not rescaled",
        "inverted dropout divides the kept units by (1 - p) in training, so evaluation needs no change"),
    "dropout_non_inverted": Mistake(
        "original (non-inverted) dropout",
        "you scale by (1 - p) at evaluation instead of dividing by (1 - p) in training; mlplab uses "
        "inverted dropout: y = x · mask / (1 - p) in training, y = x in evaluation"),
    "dropout_keep_drop_swapped": Mistake(
        "keep and drop probabilities swapped",
        "p is the probability of dropping a unit: keep = rng.random(x.shape) >= p"),
    "dropout_in_eval": Mistake(
        "dropout active in evaluation", "in evaluation (training=False) dropout returns x unchanged"),
    "dropout_backward_new_mask": Mistake(
        "dropout backward uses a different mask",
        "keep the mask drawn in forward and use the same one in backward: dx = dy · mask / (1 - p)"),
    "dropout_same_mask": Mistake(
        "dropout mask never changes", "draw a new mask at every training forward"),
    # ---------------------------------------------------------------- normalization
    "bn_unbiased_in_normalization": Mistake(
        "unbiased variance used to normalise",
        "normalise with the biased batch variance (÷N, np.var(x, axis=0)); only running_var keeps the "
        "unbiased one"),
    "bn_biased_running_var": Mistake(
        "biased variance kept in running_var",
        "running_var takes the unbiased batch variance, σ² · N/(N-1), as PyTorch does"),
    "bn_eps_outside_sqrt": Mistake(
        "ε added outside the square root", "x̂ = (x - μ) / √(σ² + ε)"),
    "bn_eval_batch_stats": Mistake(
        "evaluation uses the batch statistics",
        "with training=False normalise with running_mean and running_var"),
    "bn_running_not_updated": Mistake(
        "running statistics not updated", "update running_mean and running_var at every training forward"),
    "bn_running_updated_in_eval": Mistake(
        "running statistics updated in evaluation", "leave running_mean and running_var alone when training=False"),
    "bn_momentum_swapped": Mistake(
        "momentum used as the weight of the old value",
        "in mlplab (as PyTorch) momentum is the weight of the new batch: "
        "running ← (1 - momentum) · running + momentum · batch statistic"),
    "bn_backward_constant_stats": Mistake(
        "backward treats the batch mean and variance as constants",
        "in training μ and σ² depend on x: dx = (1/N) · inv_std · (N dx̂ - Σ dx̂ - x̂ Σ (dx̂ x̂)) "
        "with dx̂ = dy γ"),
    "ln_wrong_axis": Mistake(
        "layer norm over the batch axis",
        "layer norm takes mean and variance over each sample's features (axis=-1, keepdims=True)"),
    "param_grad_not_summed": Mistake(
        "parameter gradient not summed over the batch",
        "γ and β act on every sample, so dγ = Σ_n dy x̂ and dβ = Σ_n dy (sum over axis 0)"),
    # ---------------------------------------------------------------- optimizers
    "sign_flipped": Mistake(
        "update with the sign flipped", "step against the gradient: θ ← θ - (step)"),
    "momentum_sign_flipped": Mistake(
        "momentum with the sign flipped",
        "v ← μ v - η g, θ ← θ + v (or v ← μ v + η g, θ ← θ - v): the velocity must point downhill"),
    "momentum_no_state": Mistake(
        "velocity not kept between steps",
        "keep v from one step to the next (one array per parameter, created once); starting it at 0 "
        "every step turns momentum into plain SGD"),
    "adagrad_no_accumulation": Mistake(
        "AdaGrad's sum of squared gradients not accumulated", "h ← h + g², kept from step to step"),
    "eps_inside_sqrt": Mistake(
        "ε inside the square root", "θ ← θ - η g / (√h + ε): ε is added after the square root"),
    "rmsprop_rho_swapped": Mistake(
        "RMSProp decay weights swapped", "h ← ρ h + (1 - ρ) g²"),
    "adam_no_bias_correction": Mistake(
        "Adam without bias correction",
        "m̂ = m / (1 - β₁ᵗ) and v̂ = v / (1 - β₂ᵗ) with t the step count (1 at the first step); m and v "
        "start at 0, so without the correction the early steps have the wrong size (with the default β's "
        "the first one is (1 - β₁)/√(1 - β₂) = 3.16 times the corrected step)"),
    "adam_eps_inside_sqrt": Mistake(
        "Adam with ε inside the square root", "θ ← θ - η m̂ / (√v̂ + ε)"),
    "adam_eps_uncorrected": Mistake(
        "Adam with ε added to the uncorrected √v",
        "θ ← θ - η m̂ / (√v̂ + ε): ε goes on the bias-corrected √v̂. The efficient form "
        "η_t m / (√v + ε) of the paper ('Deep Learning from Scratch''s Adam) puts ε in the other place; "
        "mlplab and PyTorch use ε √(1 - β₂ᵗ) there"),
    "adam_t_per_parameter": Mistake(
        "Adam's step count increased once per parameter",
        "t counts update steps: increase it once per update call, not once per parameter array"),
    "adam_no_state": Mistake(
        "Adam's moments not kept between steps",
        "keep m and v from one step to the next (created once per parameter)"),
}
