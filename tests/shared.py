"""What the test modules share: the layer and cell classes under test, and THE tolerances.

Imported as a plain module (``from shared import LAYERS``): conftest.py holds only
pytest's fixtures. The tolerances themselves live in tests/tolerances.py.
"""
import os

import pyrnn
from tolerances import GRADCHECK_TOLERANCE, TOLERANCE, assert_close  # noqa: F401

LAYERS = {"rnn": pyrnn.RNN, "lstm": pyrnn.LSTM, "gru": pyrnn.GRU}
CELLS = {"rnn": pyrnn.RNNCell, "lstm": pyrnn.LSTMCell, "gru": pyrnn.GRUCell}

# The repository's root (the test modules live one folder deeper, grouped by what they test).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
