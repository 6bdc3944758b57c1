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
