"""Backend "numpy": the reference implementation itself (always available)."""
from ..reference import gru, lstm, rnn
from . import register
from .base import Backend


class NumpyBackend(Backend):
    """Runs :mod:`pyrnn.reference`: readable, exact, the slowest backend."""

    name = "numpy"

    def _forward(self, mode, x, state, weights, lengths, reverse, training):
        if mode == "lstm":
            y, h_n, c_n, saved = lstm.forward(x, *state, *weights, lengths=lengths, reverse=reverse)
            state_n = (h_n, c_n)
        elif mode == "gru":
            y, h_n, saved = gru.forward(x, *state, *weights, lengths=lengths, reverse=reverse)
            state_n = (h_n,)
        else:
            y, h_n, saved = rnn.forward(x, *state, *weights, nonlinearity=mode[len("rnn_"):],
                                        lengths=lengths, reverse=reverse)
            state_n = (h_n,)
        return y, state_n, (saved if training else None)

    def _backward(self, mode, saved, dy, dstate_n):
        if mode == "lstm":
            dx, dh0, dc0, dweights = lstm.backward(saved, dy, *dstate_n)
            return dx, (dh0, dc0), dweights
        module = gru if mode == "gru" else rnn
        dx, dh0, dweights = module.backward(saved, dy, *dstate_n)
        return dx, (dh0,), dweights


register("numpy", probe=lambda: None, load=NumpyBackend, priority=0)
