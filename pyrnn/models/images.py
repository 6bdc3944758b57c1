"""Binary images for the generative models (PixelRNN, DRAW): the digits, a Bernoulli likelihood, a baseline.

* :func:`binarized_digits` - scikit-learn's 8x8 digits (via :func:`load_digits_sequences`),
  optionally upsampled bilinearly to 16x16, thresholded to {0, 1}.
* :func:`bernoulli_nll` - -log p(x) of binary pixels under sigmoid(logits), with its gradient.
* :class:`IndependentBernoulli` - the baseline every generative model must beat: each pixel
  on with its own training frequency, independently of the others.

Likelihoods are in nats per image (the sum over pixels, averaged over images);
:func:`bits_per_pixel` converts.
"""
import numpy as np

from ..errors import InputError
from .data import load_digits_sequences


def _interpolation_matrix(n_in, n_out):
    """(n_out, n_in) bilinear weights, pixel centres aligned (as align_corners=False)."""
    pos = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    pos = np.clip(pos, 0, n_in - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    w = pos - lo
    m = np.zeros((n_out, n_in))
    m[np.arange(n_out), lo] += 1 - w
    m[np.arange(n_out), hi] += w
    return m


def binarized_digits(size=8, threshold=0.5):
    """The 1,797 digits as binary images.

    size 8: the original pixels; size 16: upsampled bilinearly first (smoother
    strokes than repeating each pixel, so the 16x16 images are not 8x8 ones in
    disguise). A pixel is 1 where the intensity (in [0, 1]) exceeds ``threshold``.
    Returns ``(X (1797, size, size) float32 in {0, 1}, y (1797,) int64 labels)``.
    """
    if size not in (8, 16):
        raise InputError(f"size must be 8 or 16, got {size!r}")
    X, y = load_digits_sequences()
    X = X.astype(np.float64)
    if size != 8:
        m = _interpolation_matrix(8, size)
        X = m @ X @ m.T
    return (X > threshold).astype(np.float32), y


def bernoulli_nll(logits, x):
    """-log p(x) of binary x under independent Bernoulli(sigmoid(logits)), summed over pixels.

    logits, x: (B, ...) same shape. Returns ``(mean over the B images of the
    per-image sum in nats: float, dlogits like logits)`` where dlogits is the
    gradient of that mean, (sigmoid(logits) - x) / B. softplus is computed as
    max(z, 0) + log1p(exp(-|z|)), so large logits cannot overflow.
    """
    logits = np.asarray(logits)
    x = np.asarray(x, dtype=logits.dtype)
    if logits.shape != x.shape:
        raise InputError(f"x must have the shape of logits {logits.shape}, got {x.shape}")
    B = max(logits.shape[0], 1)
    z = logits.astype(np.float64)
    nll = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))) - x * z
    dlogits = (sigmoid(logits) - x) / B
    return float(nll.sum()) / B, dlogits.astype(logits.dtype, copy=False)


def per_image_nll(logits, x):
    """(B,) nats of each image (float64): the terms :func:`bernoulli_nll` averages."""
    z = np.asarray(logits, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    return (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))) - x * z).reshape(len(z), -1).sum(axis=1)


def sigmoid(z):
    """1 / (1 + exp(-z)) without overflow for large |z|."""
    z = np.asarray(z)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)


def bits_per_pixel(nats_per_image, pixels):
    return nats_per_image / (pixels * np.log(2))


class IndependentBernoulli:
    """p(x) = prod_i p_i^x_i (1 - p_i)^(1 - x_i), p_i the training frequency of pixel i.

    ``alpha`` is add-alpha smoothing, so a pixel never on in training does not
    give a held-out image that has it on infinite -log p.
    """

    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def fit(self, X):
        X = np.asarray(X, dtype=np.float64)
        self.p = (X.sum(axis=0) + self.alpha) / (len(X) + 2 * self.alpha)
        return self

    def nll(self, X):
        """Mean -log p(x) in nats per image over the images X (N, ...)."""
        logits = np.log(self.p) - np.log1p(-self.p)
        return float(per_image_nll(np.broadcast_to(logits, np.shape(X)), X).mean())

    def sample(self, n, seed=0):
        return (np.random.default_rng(seed).random((n,) + self.p.shape) < self.p).astype(np.float32)
