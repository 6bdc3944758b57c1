"""Shared fixtures and THE tolerances (one place, as the design card asks)."""
import numpy as np
import pytest

import pyrnn

# Parity with the reference / torch.nn: max |a - b| <= TOL * max(1, |b|) elementwise (rtol = atol).
TOLERANCE = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}
# Finite differences (eps = 1e-6, float64) against analytic gradients, relative to max(1, |grad|).
GRADCHECK_TOLERANCE = 1e-6

LAYERS = {"rnn": pyrnn.RNN, "lstm": pyrnn.LSTM, "gru": pyrnn.GRU}
CELLS = {"rnn": pyrnn.RNNCell, "lstm": pyrnn.LSTMCell, "gru": pyrnn.GRUCell}


def assert_close(actual, expected, dtype, what=""):
    """Elementwise parity at the dtype's tolerance (rtol = atol = TOLERANCE[dtype])."""
    tol = TOLERANCE[np.dtype(dtype)]
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol, err_msg=what)


@pytest.fixture(params=pyrnn.available_backends())
def backend(request):
    """Every test taking this fixture runs once per backend available here."""
    return request.param
