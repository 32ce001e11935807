"""Augmentation, per-step schedules and max-norm constraints, against their formulas."""
import math

import numpy as np
import pytest

import mlplab as ml
from mlplab.constraints import MaxNorm
from mlplab.data.augment import RandomAffine, make_transform
from mlplab.optim import OneCycleLR, WarmupCosineLR


def _images(b=3, h=6, w=6, seed=0):
    return np.random.default_rng(seed).random((b, h, w)).astype(np.float32)


def test_affine_with_zero_ranges_is_identity():
    X = _images().reshape(3, 36)
    out = RandomAffine((6, 6), max_shift=0, max_rotation=0, max_scale=0)(X, 0)
    assert out.dtype == np.float32 and out.shape == X.shape
    np.testing.assert_allclose(out, X, atol=1e-6)


def test_affine_integer_shift_moves_pixels_and_fills_zeros():
    X = _images(1)
    aug = RandomAffine((6, 6), max_shift=1)
    out = aug._bilinear(X.reshape(1, 36), *_coords(aug, ty=1.0, tx=-1.0)).reshape(6, 6)
    expected = np.zeros((6, 6))  # shifted down one row and left one column, zeros where nothing comes in
    expected[1:, :-1] = X[0, :-1, 1:]
    np.testing.assert_allclose(out, expected, atol=1e-6)


def _coords(aug, ty, tx, theta=0.0, scale=1.0):
    cos, sin = math.cos(theta) / scale, math.sin(theta) / scale
    py, px = aug._grid[0][None] - ty, aug._grid[1][None] - tx
    return cos * py - sin * px + aug._cy, sin * py + cos * px + aug._cx


def test_affine_quarter_turn_is_rot90():
    X = _images(1, 5, 5)
    aug = RandomAffine((5, 5), max_shift=0, max_rotation=90)
    out = aug._bilinear(X.reshape(1, 25), *_coords(aug, 0.0, 0.0, theta=math.pi / 2)).reshape(5, 5)
    assert any(np.allclose(out, np.rot90(X[0], k), atol=1e-6) for k in (1, 3))


def test_affine_is_seeded_and_changes_images():
    X = _images(4, 8, 8).reshape(4, 64)
    aug = RandomAffine((8, 8), max_shift=2, max_rotation=15, max_scale=0.1)
    a, b = aug(X, np.random.default_rng(3)), aug(X, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, X)
    assert np.all(a >= -1e-6) and np.all(a <= 1 + 1e-6)  # bilinear weights are a convex combination


def test_affine_rejects_wrong_shapes_and_options():
    with pytest.raises(ValueError, match=r"\(B, 36\)"):
        RandomAffine((6, 6))(np.zeros((2, 35)), 0)
    with pytest.raises(ValueError, match="max_shift"):
        RandomAffine((6, 6), max_shift=-1)
    with pytest.raises(ValueError, match="unknown augmentation"):
        make_transform({"kind": "mixup"}, (6, 6))
    assert make_transform(None) is None
    assert isinstance(make_transform({"max_shift": 1}, (28, 28)), RandomAffine)


def _sgd(lr=0.1):
    return ml.optim.SGD([ml.Parameter(np.zeros(3, np.float32), "w")], lr=lr)


def test_warmup_cosine_formula():
    opt = _sgd(0.1)
    sched = WarmupCosineLR(opt, warmup_steps=4, total_steps=20, eta_min=0.01)
    lrs = [opt.lr]
    for _ in range(19):
        lrs.append(sched.step())
    for t, lr in enumerate(lrs):
        want = 0.1 * (t + 1) / 4 if t < 4 else 0.01 + 0.045 * (1 + math.cos(math.pi * (t - 4) / 16))
        assert lr == pytest.approx(want)
    assert max(lrs) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="warmup_steps"):
        WarmupCosineLR(_sgd(), warmup_steps=5, total_steps=5)


def test_one_cycle_matches_torch():
    torch = pytest.importorskip("torch")
    w = torch.nn.Parameter(torch.zeros(3))
    topt = torch.optim.SGD([w], lr=0.1)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.5, total_steps=37, pct_start=0.25,
                                                 div_factor=10.0, final_div_factor=100.0, cycle_momentum=False)
    opt = _sgd(0.1)
    sched = OneCycleLR(opt, max_lr=0.5, total_steps=37, pct_start=0.25, div_factor=10.0, final_div_factor=100.0)
    for _ in range(36):
        assert opt.lr == pytest.approx(topt.param_groups[0]["lr"], rel=1e-12)
        topt.step()
        tsched.step()
        sched.step()
    assert opt.lr == pytest.approx(topt.param_groups[0]["lr"], rel=1e-12)


def test_max_norm_clips_rows_only_when_too_long():
    model = ml.mlp(4, [3], 2, seed=0)
    dense = model.layers[0]
    dense.weight.data[...] = np.array([[3, 4, 0, 0], [0.1, 0, 0, 0], [0, 0, 6, 8]], np.float32)
    MaxNorm(2.0)(model)
    np.testing.assert_allclose(np.linalg.norm(dense.weight.data, axis=1), [2.0, 0.1, 2.0], rtol=1e-6)
    np.testing.assert_allclose(dense.weight.data[0], [1.2, 1.6, 0, 0], rtol=1e-6)
    with pytest.raises(ValueError, match="max_norm"):
        MaxNorm(0)


def test_trainer_steps_per_step_schedule_applies_constraints_and_augments():
    rng = np.random.default_rng(0)
    X = rng.random((50, 16)).astype(np.float32)
    y = rng.integers(0, 3, 50)
    model = ml.mlp(16, [8], 3, seed=0)
    opt = ml.optim.SGD(model.parameters(), lr=0.5)
    sched = WarmupCosineLR(opt, warmup_steps=3, eta_min=0.0)
    calls = []

    def augment(xb, g):
        calls.append(xb.shape[0])
        return RandomAffine((4, 4), max_shift=1)(xb, g)

    trainer = ml.Trainer(model, optimizer=opt, batch_size=16, epochs=3, scheduler=sched, seed=0,
                         augment=augment, constraints=[MaxNorm(0.5)])
    trainer.fit(X, y, validation=(X, y))
    assert sched.total_steps == 3 * 4 and sched.t == 12
    assert opt.lr == pytest.approx(sched.lr_at(11))
    assert calls == [16, 16, 16, 2] * 3  # training batches only, never the validation pass
    for layer in model.layers:
        if isinstance(layer, ml.layers.Dense):
            assert np.linalg.norm(layer.weight.data, axis=1).max() <= 0.5 + 1e-6
    with pytest.raises(TypeError, match="augment"):
        ml.Trainer(model, optimizer=opt, augment="shift")


@pytest.mark.parametrize("tier", ["reference", "fast"])
def test_label_smoothing_matches_torch_loss_and_gradient(tier):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(7, 5)) * 3
    y = rng.integers(0, 5, 7)
    loss = ml.fast.to_tier(ml.losses.SoftmaxCrossEntropy(label_smoothing=0.1), tier)
    assert (type(loss).__module__ == "mlplab.fast") == (tier == "fast")
    value = loss.forward(scores, y)
    grad = loss.backward()
    s = torch.tensor(scores, requires_grad=True)
    t = torch.nn.functional.cross_entropy(s, torch.tensor(y), label_smoothing=0.1)
    t.backward()
    assert value == pytest.approx(t.item(), rel=1e-12)
    np.testing.assert_allclose(grad, s.grad.numpy(), rtol=1e-10, atol=1e-14)
    # the formula: t' = 0.9 e_y + 0.1 / 5, gradient (p - t') / N
    p = np.exp(scores - scores.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    target = 0.9 * np.eye(5)[y] + 0.02
    np.testing.assert_allclose(grad, (p - target) / 7, rtol=1e-10)
    with pytest.raises(ValueError, match="label_smoothing"):
        ml.losses.SoftmaxCrossEntropy(label_smoothing=1.0)
