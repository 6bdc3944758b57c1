"""THE tolerances of the test suite (one place), importable by the tests and their helper modules."""
import numpy as np

from pyrnn.gradcheck import TOLERANCE as GRADCHECK_TOLERANCE  # noqa: F401

# Parity with the reference / torch.nn: max |a - b| <= TOL * max(1, |b|) elementwise (rtol = atol).
TOLERANCE = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}
# Finite differences (eps = 1e-6, float64) against analytic gradients, relative to max(1, |grad|):
# GRADCHECK_TOLERANCE, pyrnn.gradcheck's own.


def assert_close(actual, expected, dtype, what=""):
    """Elementwise parity at the dtype's tolerance (rtol = atol = TOLERANCE[dtype])."""
    tol = TOLERANCE[np.dtype(dtype)]
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol, err_msg=what)


def assert_close_scaled(actual, expected, dtype, what=""):
    """Parity relative to the array's scale: |a - b| <= TOL * (|b| + max(1, max|b|)) elementwise.

    For results that sum over many rows (weight gradients) or pass through ill-conditioned steps
    (a layer norm's 1/std, BPTT through two layers), where float32 rounding scales with the
    array's magnitude rather than each element's; the same rule as the c backend's parity tests.
    """
    tol = TOLERANCE[np.dtype(dtype)]
    scale = max(1.0, float(np.max(np.abs(expected)))) if np.size(expected) else 1.0
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale, err_msg=what)


# bfloat16 (inference): against the float64 reference evaluated on the same bf16-rounded weights and
# inputs, the kernels differ by rounding y to bf16 (unit roundoff u = eps/2, eps = 2^-7) and h after
# every step (u again), carried through a recurrence whose gain on an error is below 1/2 at torch's
# init (so a carried error stays below 2u): at most u + 2u < 2 eps per layer, the next layer taking
# the error of the one before it through W_ih. Elementwise |a - b| <= layers * TOL * max(1, |b|).
BF16_EPS = 2.0 ** -7
BF16_TOLERANCE_PER_LAYER = 2 * BF16_EPS


def assert_close_bf16(actual, expected, layers=1, what=""):
    """bf16 results (any array-like) against float64 ones at ``layers`` x BF16_TOLERANCE_PER_LAYER."""
    tol = layers * BF16_TOLERANCE_PER_LAYER
    np.testing.assert_allclose(np.asarray(actual).astype(np.float64), expected, rtol=tol, atol=tol, err_msg=what)
# A layer-normalised cell divides W_hh h by that row's std before the gates: the carried rounding
# error is scaled by |W_hh| / std(W_hh h), above 1 (measured up to 3 eps on the test grid), so its
# bound is twice the per-layer one.
BF16_LAYER_NORM_FACTOR = 2
