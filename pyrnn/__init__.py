"""pyrnn: fused RNN / LSTM / GRU kernels with BPTT, one API over several backends (plus IndRNN and LayerNormLSTM).

    >>> import numpy as np, pyrnn
    >>> lstm = pyrnn.LSTM(8, 16, num_layers=2, seed=0)
    >>> y, (h_n, c_n) = lstm(np.zeros((5, 3, 8), np.float32))
    >>> y.shape, h_n.shape
    ((5, 3, 16), (2, 3, 16))
"""
from .backends import available_backends, backend_status
from .backends.base import BackendUnavailableError, UnsupportedCellError
from .cells import GRUCell, IndRNNCell, LayerNormLSTMCell, LSTMCell, RNNCell
from .errors import InputError, StateDictError
from .layers import GRU, LSTM, RNN, IndRNN, LayerNormLSTM

__version__ = "0.1.0"

__all__ = ["RNN", "LSTM", "GRU", "IndRNN", "LayerNormLSTM", "RNNCell", "LSTMCell", "GRUCell", "IndRNNCell",
           "LayerNormLSTMCell", "available_backends",
           "backend_status", "BackendUnavailableError", "UnsupportedCellError", "InputError", "StateDictError",
           "__version__"]
