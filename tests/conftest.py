"""Shared fixtures and THE tolerances (one place, as the design card asks)."""
import os

import numpy as np
import pytest

import pyrnn

# Parity with the reference / torch.nn: max |a - b| <= TOL * max(1, |b|) elementwise (rtol = atol).
TOLERANCE = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}
# Finite differences (eps = 1e-6, float64) against analytic gradients, relative to max(1, |grad|).
from pyrnn.gradcheck import TOLERANCE as GRADCHECK_TOLERANCE  # noqa: E402,F401

LAYERS = {"rnn": pyrnn.RNN, "lstm": pyrnn.LSTM, "gru": pyrnn.GRU}
CELLS = {"rnn": pyrnn.RNNCell, "lstm": pyrnn.LSTMCell, "gru": pyrnn.GRUCell}


def assert_close(actual, expected, dtype, what=""):
    """Elementwise parity at the dtype's tolerance (rtol = atol = TOLERANCE[dtype])."""
    tol = TOLERANCE[np.dtype(dtype)]
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol, err_msg=what)


# PYRNN_TEST_BACKENDS=c,numba restricts the backend-parametrized tests (the sanitizer run uses it).
_BACKENDS = [b for b in pyrnn.available_backends()
             if b in os.environ.get("PYRNN_TEST_BACKENDS", b).split(",")]


@pytest.fixture(params=_BACKENDS)
def backend(request):
    """Every test taking this fixture runs once per backend available here."""
    return request.param
