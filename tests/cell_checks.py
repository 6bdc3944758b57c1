"""What the cell-description tests share: one layer and one cell constructor per registered mode.

A cell registered in pyrnn.cell_specs.CELLS without an entry here fails
test_cell_specs (every description must be checked against what the layers build).
"""
import numpy as np

import pyrnn
from pyrnn.backends import get_backend


def _with_nonlinearity(cls, nonlinearity):
    return lambda *args, **kwargs: cls(*args, nonlinearity=nonlinearity, **kwargs)


LAYER_OF = {"rnn_tanh": _with_nonlinearity(pyrnn.RNN, "tanh"), "rnn_relu": _with_nonlinearity(pyrnn.RNN, "relu"),
            "lstm": pyrnn.LSTM, "gru": pyrnn.GRU,
            "indrnn_tanh": _with_nonlinearity(pyrnn.IndRNN, "tanh"),
            "indrnn_relu": _with_nonlinearity(pyrnn.IndRNN, "relu")}
CELL_OF = {"rnn_tanh": _with_nonlinearity(pyrnn.RNNCell, "tanh"),
           "rnn_relu": _with_nonlinearity(pyrnn.RNNCell, "relu"),
           "lstm": pyrnn.LSTMCell, "gru": pyrnn.GRUCell,
           "indrnn_tanh": _with_nonlinearity(pyrnn.IndRNNCell, "tanh"),
           "indrnn_relu": _with_nonlinearity(pyrnn.IndRNNCell, "relu")}


def _projected(proj_size):
    """pyrnn.LSTM with projections, as the layer tests build it: proj_size = hidden_size // 2 + 1
    (< hidden_size, as torch.nn requires, and not a divisor of it) unless given."""
    def build(input_size, hidden_size, *args, **kwargs):
        kwargs.setdefault("proj_size", proj_size(hidden_size))
        return pyrnn.LSTM(input_size, hidden_size, *args, **kwargs)
    return build


def proj_size_for(spec, hidden_size):
    """The P the tests use for a projected cell of hidden size H (None for the others)."""
    return hidden_size // 2 + 1 if spec.projected else None


LAYER_OF["lstm_proj"] = _projected(lambda hidden_size: hidden_size // 2 + 1)
LAYER_OF["layernorm_lstm"] = pyrnn.LayerNormLSTM
CELL_OF["layernorm_lstm"] = pyrnn.LayerNormLSTMCell


def backends_running(*modes):
    """The available backends with kernels for any of ``modes`` (numpy always: it runs every cell)."""
    return [b for b in pyrnn.available_backends() if any(m in get_backend(b).cells for m in modes)]


def random_call(spec, T, B, I, H, rng, bias=True, dtype=np.float64):
    """A backend call's arguments for cell ``spec``: x (T, B, I), state tuple, weights tuple (spec order).

    A projected cell gets P = proj_size_for(spec, H).
    """
    P = proj_size_for(spec, H)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    state = tuple(rng.standard_normal(shape).astype(dtype) for shape in spec.state_shapes(B, H, P))
    weights = tuple(None if p.bias and not bias else rng.standard_normal(p.shape(I, H, P)).astype(dtype)
                    for p in spec.params)
    return x, state, weights
