"""Single-step cells (torch.nn.RNNCell / LSTMCell / GRUCell, and IndRNNCell) for step-by-step models.

A cell in train mode records every forward step on a tape; each backward()
consumes the most recent unconsumed step (last in, first out). A decoder
that runs steps 1..T forward therefore calls backward T times, for steps
T..1, passing each step's total gradient w.r.t. its output state (the loss
gradient plus what the later step returned as d(previous state)).
In eval mode nothing is recorded (use it for sampling).
"""
import numpy as np

from ._checks import as_float, check_nonlinearity, expect_shape, flag, positive_int, private
from ._module import Module, StepTape
from .cell_specs import CELLS
from .errors import InputError
from .layers import _pair


class _Cell(StepTape, Module):
    def __init__(self, mode, input_size, hidden_size, bias, backend, dtype, seed):
        self.input_size = positive_int(input_size, "input_size")
        self.hidden_size = positive_int(hidden_size, "hidden_size")
        self.bias = flag(bias, "bias")
        super().__init__(backend, dtype, seed, cell=mode)
        self.mode = mode
        self._names = self._init_cell_params(CELLS[mode], self.input_size)

    def __repr__(self):
        extra = "" if self.bias else ", bias=False"
        return (f"{type(self).__name__}({self.input_size}, {self.hidden_size}{extra}"
                f"{self._repr_mode()}, backend={self.backend!r}, dtype={self.dtype.name})")

    def _repr_mode(self):
        return ""

    def _state(self, value, name, B, unbatched):
        """A state argument -> (B, H) array (zeros when None)."""
        if value is None:
            return np.zeros((B, self.hidden_size), dtype=self.dtype)
        arr = as_float(value, name, self.dtype)
        if unbatched:
            expect_shape(arr, name, (self.hidden_size,), "(hidden_size,)")
            return arr[None, :]
        expect_shape(arr, name, (B, self.hidden_size), "(batch, hidden_size)")
        return arr

    def _step(self, x, state_values, state_names):
        original = x
        x = as_float(x, "x", self.dtype)
        if self.training:
            x = private(x, original)      # saved for backward: a reused input buffer must not leak in
        if x.ndim not in (1, 2):
            raise InputError(f"x must be 2-D (batch, input_size), or 1-D (input_size,) unbatched; "
                             f"got a {x.ndim}-D array of shape {x.shape}")
        unbatched = x.ndim == 1
        x = x[None, :] if unbatched else x
        B, I = x.shape
        if I != self.input_size:
            raise InputError(f"x must have input_size = {self.input_size} features in its last "
                             f"dimension, got {I}")
        if B == 0:
            raise InputError("x must hold at least one sequence (batch >= 1)")
        states = tuple(self._state(v, n, B, unbatched) for v, n in zip(state_values, state_names))
        weights = tuple(None if n is None else self._params[n] for n in self._names)
        _, state_n, saved = self._backend.forward(self.mode, x[None], states, weights, None, False,
                                                  self.training)
        if self.training:
            self._tape.append((saved, B, unbatched, self._param_version))
        return tuple(s[0] if unbatched else s for s in state_n)

    def _backward_step(self, dstate_values, dstate_names):
        self._require_tape()
        if not self._tape:
            raise RuntimeError("backward() needs a pending forward() step in train mode; every "
                               "recorded step has already been backpropagated")
        saved, B, unbatched, version = self._tape[-1]
        self._check_version(version)
        dstates = tuple(self._state(v, n, B, unbatched) for v, n in zip(dstate_values, dstate_names))
        self._tape.pop()
        dy = np.zeros((1, B, self.hidden_size), dtype=self.dtype)
        dx, dstate0, dweights = self._backend.backward(self.mode, saved, dy, dstates)
        self._accumulate_grads(self._names, dweights)
        if unbatched:
            return dx[0, 0], tuple(d[0] for d in dstate0)
        return dx[0], dstate0


class _HiddenStateCell(_Cell):
    def forward(self, x, hx=None):
        """x (B, I) or (I,); hx (B, H) / (H,) or None (zeros). Returns h' like hx."""
        (h,) = self._step(x, (hx,), ("hx",))
        return h

    def backward(self, dh):
        """Backprop the most recent pending step; dh = d loss / d h' (None = zeros).

        Accumulates parameter gradients; returns ``(dx, dh_prev)``.
        """
        dx, (dh_prev,) = self._backward_step((dh,), ("dh",))
        return dx, dh_prev


class RNNCell(_HiddenStateCell):
    """One step of an Elman RNN: h' = f(W_ih x + b_ih + W_hh h + b_hh), f = tanh or relu."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", backend="auto",
                 dtype=np.float32, seed=None):
        self.nonlinearity = check_nonlinearity(nonlinearity)
        super().__init__(f"rnn_{nonlinearity}", input_size, hidden_size, bias, backend, dtype, seed)

    def _repr_mode(self):
        return f", nonlinearity={self.nonlinearity!r}"


class IndRNNCell(_HiddenStateCell):
    """One IndRNN step: h' = f(W_ih x + b_ih + u * h), u (H,) elementwise, f = tanh or relu.

    Parameters weight_ih (H, I), weight_hh (H,) = u, bias_ih (H,) when bias=True;
    initialised as :class:`pyrnn.IndRNN` (u ~ U(0, 1)).
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", backend="auto",
                 dtype=np.float32, seed=None):
        self.nonlinearity = check_nonlinearity(nonlinearity)
        super().__init__(f"indrnn_{nonlinearity}", input_size, hidden_size, bias, backend, dtype, seed)

    def _repr_mode(self):
        return f", nonlinearity={self.nonlinearity!r}"


class GRUCell(_HiddenStateCell):
    """One GRU step, exactly as torch.nn.GRUCell (gates r, z, n)."""

    def __init__(self, input_size, hidden_size, bias=True, backend="auto", dtype=np.float32, seed=None):
        super().__init__("gru", input_size, hidden_size, bias, backend, dtype, seed)


class _CellStateCell(_Cell):
    """The LSTM cells: the state is (h, c)."""

    def forward(self, x, hx=None):
        """x (B, I) or (I,); hx = (h, c) or None (zeros). Returns ``(h', c')``."""
        h, c = _pair(hx, "hx", "(h, c)")
        return self._step(x, (h, c), ("hx[0]", "hx[1]"))

    def backward(self, dhx):
        """Backprop the most recent pending step; dhx = (dh, dc) w.r.t. (h', c'), entries may be None.

        Accumulates parameter gradients; returns ``(dx, (dh_prev, dc_prev))``.
        """
        dh, dc = _pair(dhx, "dhx", "(dh, dc)")
        dx, dstate0 = self._backward_step((dh, dc), ("dhx[0]", "dhx[1]"))
        return dx, dstate0


class LSTMCell(_CellStateCell):
    """One LSTM step, exactly as torch.nn.LSTMCell (gates i, f, g, o)."""

    def __init__(self, input_size, hidden_size, bias=True, backend="auto", dtype=np.float32, seed=None):
        super().__init__("lstm", input_size, hidden_size, bias, backend, dtype, seed)


class LayerNormLSTMCell(_CellStateCell):
    """One step of :class:`pyrnn.LayerNormLSTM`: parameters named as its layer's without ``_l{k}``
    (weight_ih, weight_hh, bias_ih, bias_hh, ln_ih_weight, ln_ih_bias, ln_hh_weight, ln_hh_bias,
    ln_c_weight, ln_c_bias); forward and backward as :class:`LSTMCell`."""

    def __init__(self, input_size, hidden_size, bias=True, backend="auto", dtype=np.float32, seed=None):
        super().__init__("layernorm_lstm", input_size, hidden_size, bias, backend, dtype, seed)
