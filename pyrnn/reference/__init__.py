"""The NumPy reference: the specification every backend is tested against.

One module per cell; each has ``forward(...) -> (y, h_n[, c_n], saved)`` and
``backward(saved, dy, dh_n[, dc_n]) -> (dx, dh0[, dc0], dweights)`` for one
layer in one direction, with lengths (padded steps hold state) and reverse.
"""
from . import gru, indrnn, layernorm_lstm, lstm, rnn  # noqa: F401

__all__ = ["rnn", "lstm", "gru", "indrnn", "layernorm_lstm"]
