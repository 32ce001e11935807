"""Data augmentation for images: seeded, vectorised random affine jitter applied per mini-batch.

A transform is a callable ``transform(X_batch, rng) -> X_batch`` on flattened or shaped images
``(B, H·W)`` or ``(B, H, W)``; the :class:`mlplab.Trainer` calls it on every training mini-batch
(``Trainer(..., augment=RandomAffine())``), never on validation or test data.

:class:`RandomAffine` maps every output pixel ``p`` (coordinates relative to the image centre ``c``)
back to the input position::

    q = A⁻¹ (p - c - t) + c,     A = s · R(θ)

with a rotation ``θ ~ U(-max_rotation, max_rotation)`` (degrees), a scale
``s ~ U(1 - max_scale, 1 + max_scale)`` and a shift ``t ~ U(-max_shift, max_shift)²`` (pixels),
one draw per image, and reads the input there by bilinear interpolation (zero outside the image),
all images of the batch in a handful of NumPy operations. With every range 0 it is the identity.
"""
from __future__ import annotations

import numbers

import numpy as np

from .._validation import as_generator

__all__ = ["RandomAffine", "TRANSFORMS", "make_transform"]


class RandomAffine:
    """Random shift, rotation and scale of square or rectangular grey images.

    Parameters
    ----------
    shape : (H, W)
        Image shape; flattened batches ``(B, H·W)`` are reshaped to it and back.
    max_shift : float
        Largest shift in pixels along each axis (uniform in ``[-max_shift, max_shift]``).
    max_rotation : float
        Largest rotation in degrees.
    max_scale : float
        Largest relative zoom: the scale is uniform in ``[1 - max_scale, 1 + max_scale]``.
    """

    def __init__(self, shape: tuple[int, int] = (28, 28), max_shift: float = 2.0, max_rotation: float = 0.0,
                 max_scale: float = 0.0) -> None:
        if (len(shape) != 2 or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1
                                       for s in shape)):
            raise ValueError(f"shape must be two integers >= 1 (height, width), got {shape!r}")
        for name, value, high in (("max_shift", max_shift, min(shape)), ("max_rotation", max_rotation, 180.0),
                                  ("max_scale", max_scale, 0.9)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= high:
                raise ValueError(f"{name} must be a number in [0, {high}], got {value!r}")
        self.shape = (int(shape[0]), int(shape[1]))
        self.max_shift, self.max_rotation, self.max_scale = float(max_shift), float(max_rotation), float(max_scale)
        h, w = self.shape
        yy, xx = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
        self._cy, self._cx = (h - 1) / 2, (w - 1) / 2
        self._grid = (yy.ravel() - self._cy, xx.ravel() - self._cx)  # output pixel coordinates p - c

    def config(self) -> dict:
        return {"shape": list(self.shape), "max_shift": self.max_shift, "max_rotation": self.max_rotation,
                "max_scale": self.max_scale}

    def __repr__(self) -> str:
        return "RandomAffine(" + ", ".join(f"{k}={v!r}" for k, v in self.config().items()) + ")"

    def __call__(self, X: np.ndarray, rng=None) -> np.ndarray:
        """``X (B, H·W)`` or ``(B, H, W)`` → a new array of the same shape and dtype."""
        rng = as_generator(rng)
        h, w = self.shape
        if X.shape[1:] not in ((h * w,), (h, w)):
            raise ValueError(f"RandomAffine for {h}x{w} images expects batches of shape (B, {h * w}) or "
                             f"(B, {h}, {w}), got {X.shape}")
        b = X.shape[0]
        theta = np.deg2rad(rng.uniform(-self.max_rotation, self.max_rotation, b))
        scale = rng.uniform(1 - self.max_scale, 1 + self.max_scale, b)
        ty, tx = rng.uniform(-self.max_shift, self.max_shift, (2, b))
        # inverse map q - c = A⁻¹ (p - c - t), A⁻¹ = R(-θ) / s
        cos, sin = np.cos(theta) / scale, np.sin(theta) / scale
        py = self._grid[0][None, :] - ty[:, None]
        px = self._grid[1][None, :] - tx[:, None]
        qy = cos[:, None] * py - sin[:, None] * px + self._cy
        qx = sin[:, None] * py + cos[:, None] * px + self._cx
        return self._bilinear(X.reshape(b, h * w), qy, qx).astype(X.dtype, copy=False).reshape(X.shape)

    def _bilinear(self, flat: np.ndarray, qy: np.ndarray, qx: np.ndarray) -> np.ndarray:
        """Values of each image ``flat (B, H·W)`` at positions ``(qy, qx) (B, H·W)``, zero outside."""
        h, w = self.shape
        y0, x0 = np.floor(qy), np.floor(qx)
        fy, fx = qy - y0, qx - x0
        y0, x0 = y0.astype(np.intp), x0.astype(np.intp)
        rows = np.arange(flat.shape[0])[:, None] * (h * w)
        flat = flat.ravel()
        out = np.zeros(qy.shape, dtype=np.float64)
        for dy, dx, weight in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx),
                               (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
            yi, xi = y0 + dy, x0 + dx
            inside = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
            idx = rows + np.clip(yi, 0, h - 1) * w + np.clip(xi, 0, w - 1)
            out += np.where(inside, weight * flat[idx], 0.0)
        return out


TRANSFORMS = {"affine": RandomAffine}


def make_transform(spec: dict | None, shape: tuple[int, int] | None = None):
    """A transform from a JSON-like spec ``{"kind": "affine", "max_shift": 2, ...}`` (as recipes write it);
    ``None`` or ``{}`` gives None (no augmentation). ``shape`` fills in the image shape when the spec has none."""
    if not spec:
        return None
    if not isinstance(spec, dict):
        raise ValueError(f"an augmentation must be a table such as {{kind = 'affine', max_shift = 2}}, got {spec!r}")
    spec = dict(spec)
    kind = spec.pop("kind", "affine")
    if kind not in TRANSFORMS:
        raise ValueError(f"unknown augmentation {kind!r}; expected one of {', '.join(TRANSFORMS)}")
    if "shape" not in spec:
        if shape is None:
            raise ValueError("the augmentation needs the image shape (height, width)")
        spec["shape"] = tuple(shape)
    spec["shape"] = tuple(spec["shape"])
    try:
        return TRANSFORMS[kind](**spec)
    except TypeError as exc:
        raise ValueError(f"bad augmentation options {spec!r}: {exc}") from None
