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
