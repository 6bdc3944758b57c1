"""Shared fixtures; THE tolerances (one place: tests/tolerances.py) re-exported for the test files."""
import os

import pytest

import pyrnn

# The tolerances live in tests/tolerances.py (importable by helper modules); re-exported here.
from tolerances import GRADCHECK_TOLERANCE, TOLERANCE, assert_close  # noqa: E402,F401

LAYERS = {"rnn": pyrnn.RNN, "lstm": pyrnn.LSTM, "gru": pyrnn.GRU}
CELLS = {"rnn": pyrnn.RNNCell, "lstm": pyrnn.LSTMCell, "gru": pyrnn.GRUCell}


# PYRNN_TEST_BACKENDS=c,numba restricts the backend-parametrized tests (the sanitizer run uses it).
_BACKENDS = [b for b in pyrnn.available_backends()
             if b in os.environ.get("PYRNN_TEST_BACKENDS", b).split(",")]


@pytest.fixture(params=_BACKENDS)
def backend(request):
    """Every test taking this fixture runs once per backend available here."""
    return request.param
