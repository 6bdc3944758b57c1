"""Multi-layer, optionally bidirectional RNN / LSTM / GRU / IndRNN / LayerNormLSTM layers (torch.nn semantics).

A layer is a stack of ``num_layers`` x ``num_directions`` single-direction
runs (:mod:`pyrnn.stack`); each run is one backend call (see
:mod:`pyrnn.backends.base`) on the backend's own arrays. Layer l reads the
concatenated [forward, reverse] outputs of layer l-1.
"""
import numpy as np

from . import stack
from ._checks import (as_float, as_lengths, check_nonlinearity, check_proj_size, expect_shape, flag, positive_int,
                      private)
from ._module import Module, ThreadTape
from .cell_specs import CELLS, layer_suffix
from .errors import InputError


class _Layer(ThreadTape, Module):
    """Shared machinery of RNN, LSTM and GRU; subclasses fix the mode and signatures."""

    def __init__(self, mode, input_size, hidden_size, num_layers, bias, batch_first,
                 bidirectional, backend, dtype, seed, proj_size=0):
        self.input_size = positive_int(input_size, "input_size")
        self.hidden_size = positive_int(hidden_size, "hidden_size")
        self.proj_size = proj_size
        self.num_layers = positive_int(num_layers, "num_layers")
        self.bias = flag(bias, "bias")
        self.batch_first = flag(batch_first, "batch_first")
        self.bidirectional = flag(bidirectional, "bidirectional")
        super().__init__(backend, dtype, seed, cell=mode)
        self.mode = mode
        self.num_directions = 2 if self.bidirectional else 1
        spec = CELLS[mode]
        P = self.proj_size or None
        # The width of y per direction (H, or P with projections) and of each state array.
        self._out_size = spec.output_size(self.hidden_size, P)
        self._state_widths = [w for _, w in spec.state_shapes(0, self.hidden_size, P)]
        self._weight_names = {}
        for layer in range(self.num_layers):
            in_size = self.input_size if layer == 0 else self._out_size * self.num_directions
            for direction in range(self.num_directions):
                self._weight_names[layer, direction] = self._init_cell_params(
                    spec, in_size, layer_suffix(layer, direction), P)

    def __repr__(self):
        # Like torch.nn: only the arguments that differ from their defaults.
        non_default = {"num_layers": self.num_layers != 1, "bias": not self.bias,
                       "batch_first": self.batch_first, "bidirectional": self.bidirectional,
                       "proj_size": self.proj_size != 0}
        extra = "".join(f", {k}={getattr(self, k)!r}" for k, differs in non_default.items() if differs)
        return (f"{type(self).__name__}({self.input_size}, {self.hidden_size}{extra}"
                f"{self._repr_mode()}, backend={self.backend!r}, dtype={self.dtype.name})")

    def _repr_mode(self):
        return ""

    def _weights(self, layer, direction):
        return tuple(None if n is None else self._params[n] for n in self._weight_names[layer, direction])

    # -- input preparation -----------------------------------------------------
    def _prepare_input(self, x):
        """x -> (T, B, I) contiguous array (our own copy when training), plus whether it was unbatched."""
        original = x
        x = as_float(x, "x", self.dtype)
        if self.training:
            x = private(x, original)
        order = "(batch, seq_len, input_size)" if self.batch_first else "(seq_len, batch, input_size)"
        if x.ndim == 2:
            unbatched, x = True, x[:, None, :]
        elif x.ndim == 3:
            unbatched = False
            if self.batch_first:
                x = np.ascontiguousarray(x.transpose(1, 0, 2))
        else:
            raise InputError(f"x must be 3-D {order}, or 2-D (seq_len, input_size) for one "
                             f"unbatched sequence; got a {x.ndim}-D array of shape {x.shape}")
        T, B, I = x.shape
        if I != self.input_size:
            raise InputError(f"x must have input_size = {self.input_size} features in its last "
                             f"dimension, got {I}")
        if T == 0 or B == 0:
            raise InputError(f"x must have at least one time step and one sequence, got seq_len={T}, "
                             f"batch={B}")
        return x, unbatched

    def _state_shape(self, index, B, unbatched):
        LD, W = self.num_layers * self.num_directions, self._state_widths[index]
        width = "proj_size" if self.proj_size and W == self.proj_size and index == 0 else "hidden_size"
        return ((LD, W), f"(num_layers * num_directions, {width})") if unbatched else \
               ((LD, B, W), f"(num_layers * num_directions, batch, {width})")

    def _prepare_state(self, value, name, B, unbatched, index):
        """hx component ``index`` -> (L*D, B, W) array (zeros when None); W its width (H, or P for h
        with projections)."""
        shape, meaning = self._state_shape(index, B, unbatched)
        if value is None:
            return np.zeros((shape[0], B, shape[-1]), dtype=self.dtype)
        arr = as_float(value, name, self.dtype)
        expect_shape(arr, name, shape, meaning)
        return arr[:, None, :] if unbatched else arr

    def _to_user_layout(self, seq, unbatched):
        """(T, B, F) -> the caller's layout: (T, F) unbatched, (B, T, F) batch_first."""
        if unbatched:
            return seq[:, 0, :]
        return np.ascontiguousarray(seq.transpose(1, 0, 2)) if self.batch_first else seq

    # -- the stack (pyrnn.stack, on the backend's arrays) -------------------------
    def _run(self, x, state_values, state_names, lengths):
        """Forward through every layer and direction.

        Returns y in the caller's layout and the final states (one array per
        state kind, (L*D, B, H) or (L*D, H) unbatched).
        """
        x, unbatched = self._prepare_input(x)
        T, B, _ = x.shape
        states0 = [self._prepare_state(v, n, B, unbatched, i)
                   for i, (v, n) in enumerate(zip(state_values, state_names))]
        lengths = as_lengths(lengths, T, B)
        if lengths is not None:
            # Padding never enters the arithmetic: a NaN or inf there would otherwise leak
            # into dW_ih through 0 * NaN (pack_padded_sequence never reads it either).
            x = np.where(_padding(lengths, T)[:, :, None], 0, x).astype(self.dtype, copy=False)
        backend = self._backend

        def run(layer, direction, layer_input, states):
            return backend.forward(self.mode, layer_input, states, self._weights(layer, direction),
                                   lengths, bool(direction), self.training)

        y, finals, saved = stack.forward(backend.xp, backend.to_device(x), [backend.to_device(s) for s in states0],
                                         self.num_layers, self.num_directions, run)
        self._tape = (dict(saved=saved, T=T, B=B, unbatched=unbatched, lengths=lengths,
                           version=self._param_version) if self.training else None)
        finals = [backend.to_host(f) for f in finals]
        if unbatched:
            finals = [f[:, 0, :] for f in finals]
        return self._to_user_layout(backend.to_host(y), unbatched), finals

    def _backprop(self, dy, dstate_values, dstate_names):
        """BPTT through the last forward; consumes it. Returns dx and the initial-state grads."""
        self._require_tape()
        if self._tape is None:
            raise RuntimeError("backward() needs a forward() in train mode first (each forward "
                               "can be backpropagated once)")
        tape = self._tape
        self._check_version(tape["version"])
        T, B, unbatched = tape["T"], tape["B"], tape["unbatched"]
        D, H = self.num_directions, self._out_size
        width = "proj_size" if self.proj_size else "hidden_size"
        dy = as_float(dy, "dy", self.dtype)
        if unbatched:
            expect_shape(dy, "dy", (T, D * H), f"(seq_len, num_directions * {width}) like y")
            dy = dy[:, None, :]
        elif self.batch_first:
            expect_shape(dy, "dy", (B, T, D * H), f"(batch, seq_len, num_directions * {width}) like y")
            dy = dy.transpose(1, 0, 2)
        else:
            expect_shape(dy, "dy", (T, B, D * H), f"(seq_len, batch, num_directions * {width}) like y")
        if tape["lengths"] is not None:      # dy at padded steps is ignored, even NaN
            dy = np.where(_padding(tape["lengths"], T)[:, :, None], 0, dy).astype(self.dtype, copy=False)
        dstates_n = [self._prepare_state(v, n, B, unbatched, i)
                     for i, (v, n) in enumerate(zip(dstate_values, dstate_names))]
        self._tape = None
        backend = self._backend

        def run(layer, direction, d_dir, dstates):
            dx, dstate0, dweights = backend.backward(self.mode, tape["saved"][layer][direction], d_dir, dstates)
            # The parameters (and so their gradients) live on the host.
            self._accumulate_grads(self._weight_names[layer, direction],
                                   tuple(backend.to_host(d) for d in dweights))
            return dx, dstate0

        dx, dstates_0 = stack.backward(backend.xp, backend.to_device(dy), [backend.to_device(d) for d in dstates_n],
                                       self.num_layers, D, H, run)
        dstates_0 = [backend.to_host(d) for d in dstates_0]
        if unbatched:
            dstates_0 = [d[:, 0, :] for d in dstates_0]
        return self._to_user_layout(backend.to_host(dx), unbatched), dstates_0


_LAYER_DOC = """
    Parameters mirror torch.nn.{name}: input_size, hidden_size, num_layers,
    bias, batch_first, bidirectional; plus backend ("auto" or a name from
    :func:`pyrnn.available_backends`), dtype (float32/float64) and seed
    (reproducible U(-1/sqrt(H), 1/sqrt(H)) initialisation).

    Shapes: x (T, B, I) or (B, T, I) with batch_first, or (T, I) unbatched;
    states (num_layers * D, B, H); y (T, B, D * H). ``lengths`` (B,) ints in
    [1, T] runs variable-length sequences without packing: padded steps give
    y = 0, final states are taken at each sequence's own last step and the
    reverse direction starts there (same numbers as pack_padded_sequence).
"""


def _padding(lengths, T):
    """(T, B) bool: True at padded steps t >= lengths[b]."""
    return np.arange(T)[:, None] >= lengths[None, :]


class _HiddenStateLayer(_Layer):
    """RNN and GRU: the state is h alone."""

    def forward(self, x, h0=None, lengths=None, *, hx=None):
        """Returns ``(y, h_n)``. ``hx=`` is accepted as torch's name for h0."""
        if hx is not None:
            if h0 is not None:
                raise TypeError("pass the initial state as h0 or as hx, not both")
            h0 = hx
        y, (h_n,) = self._run(x, (h0,), ("h0",), lengths)
        return y, h_n

    def backward(self, dy, dh_n=None):
        """BPTT through the last forward: dy like y, dh_n like h_n (None = zeros).

        Accumulates parameter gradients into ``grads``; returns ``(dx, dh0)``.
        """
        dx, (dh0,) = self._backprop(dy, (dh_n,), ("dh_n",))
        return dx, dh0


class RNN(_HiddenStateLayer):
    """Elman RNN, h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), f = tanh or relu."""

    __doc__ += _LAYER_DOC.format(name="RNN")

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, bidirectional=False, backend="auto", dtype=np.float32, seed=None):
        self.nonlinearity = check_nonlinearity(nonlinearity)
        super().__init__(f"rnn_{nonlinearity}", input_size, hidden_size, num_layers, bias,
                         batch_first, bidirectional, backend, dtype, seed)

    def _repr_mode(self):
        return f", nonlinearity={self.nonlinearity!r}"


class IndRNN(_HiddenStateLayer):
    """IndRNN (Li et al. 2018): h_t = f(W_ih x_t + b_ih + u * h_{t-1}), u (H,) elementwise, f = tanh or relu.

    Each unit sees only its own past (u * h, no H x H product). Parameters per
    layer-direction: weight_ih_l{k} (H, I), weight_hh_l{k} (H,) = u, bias_ih_l{k}
    (H,) when bias=True (no bias_hh); ``_reverse`` for the reverse direction.
    Initialisation: weight_ih and bias_ih U(-1/sqrt(H), 1/sqrt(H)) as torch.nn;
    u ~ U(0, 1). Same arguments (with nonlinearity), forward and backward as
    :class:`RNN`: backend ("auto" takes the best backend that runs IndRNN),
    dtype (float32/float64), seed.

    Shapes: x (T, B, I) or (B, T, I) with batch_first, or (T, I) unbatched;
    h0 and h_n (num_layers * D, B, H); y (T, B, D * H). ``lengths`` (B,) ints
    in [1, T]: padded steps give y = 0 and hold h; the reverse direction starts
    at each sequence's own last step.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, bidirectional=False, backend="auto", dtype=np.float32, seed=None):
        self.nonlinearity = check_nonlinearity(nonlinearity)
        super().__init__(f"indrnn_{nonlinearity}", input_size, hidden_size, num_layers, bias,
                         batch_first, bidirectional, backend, dtype, seed)

    def _repr_mode(self):
        return f", nonlinearity={self.nonlinearity!r}"


class GRU(_HiddenStateLayer):
    """GRU exactly as torch.nn.GRU / cuDNN (gates r, z, n; r applied after W_hn h + b_hn)."""

    __doc__ += _LAYER_DOC.format(name="GRU")

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 bidirectional=False, backend="auto", dtype=np.float32, seed=None):
        super().__init__("gru", input_size, hidden_size, num_layers, bias, batch_first,
                         bidirectional, backend, dtype, seed)


class _CellStateLayer(_Layer):
    """The LSTMs: the state is (h, c)."""

    def forward(self, x, hx=None, lengths=None):
        """hx = (h0, c0) or None (zeros; either entry may be None). Returns ``(y, (h_n, c_n))``."""
        h0, c0 = _pair(hx, "hx", "(h0, c0)")
        y, (h_n, c_n) = self._run(x, (h0, c0), ("h0", "c0"), lengths)
        return y, (h_n, c_n)

    def backward(self, dy, dhx=None):
        """BPTT through the last forward: dy like y, dhx = (dh_n, dc_n) or None (zeros).

        Accumulates parameter gradients into ``grads``; returns ``(dx, (dh0, dc0))``.
        """
        dh_n, dc_n = _pair(dhx, "dhx", "(dh_n, dc_n)")
        dx, (dh0, dc0) = self._backprop(dy, (dh_n, dc_n), ("dh_n", "dc_n"))
        return dx, (dh0, dc0)


class LSTM(_CellStateLayer):
    """LSTM with gates in PyTorch order i, f, g, o; ``proj_size`` = P > 0 adds torch.nn's projection.

    With projections h_t = W_hr (o_t * tanh(c_t)): parameters ``weight_hr_l{k}``
    (P, H) after the biases, ``weight_hh_l{k}`` (4H, P), layer l > 0 reads
    D * P features; h0/h_n (num_layers * D, B, P), c0/c_n (num_layers * D, B, H),
    y (T, B, D * P). 0 < proj_size < hidden_size, as torch.nn requires.
    """

    __doc__ += _LAYER_DOC.format(name="LSTM")

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 bidirectional=False, proj_size=0, backend="auto", dtype=np.float32, seed=None):
        proj_size = check_proj_size(proj_size, hidden_size)
        super().__init__("lstm_proj" if proj_size else "lstm", input_size, hidden_size, num_layers, bias,
                         batch_first, bidirectional, backend, dtype, seed, proj_size)

class LayerNormLSTM(_CellStateLayer):
    """Layer-normalised LSTM (Ba et al. 2016; the form haste ships on the GPU), torch.nn.LSTM's interface.

    Per step, with LN(v; w, b) = (v - mean(v)) / sqrt(var(v) + 1e-5) * w + b over the last axis:
    a = LN(W_ih x_t; ln_ih) + LN(W_hh h_{t-1}; ln_hh) + b_ih + b_hh (gates i, f, g, o as LSTM),
    c_t = sigmoid(f) c_{t-1} + sigmoid(i) tanh(g), h_t = sigmoid(o) tanh(LN(c_t; ln_c)); c_t
    itself (not its normalisation) is carried. Parameters per layer-direction: the LSTM's
    weight_ih_l{k} (4H, I), weight_hh_l{k} (4H, H), bias_ih_l{k}, bias_hh_l{k} (4H,) when
    bias=True, then ln_ih_weight_l{k}, ln_ih_bias_l{k}, ln_hh_weight_l{k}, ln_hh_bias_l{k} (4H,),
    ln_c_weight_l{k}, ln_c_bias_l{k} (H,) (``_reverse`` for the reverse direction). Gains start
    at 1 and shifts at 0; the other parameters as torch.nn.LSTM's.

    Shapes, arguments, forward and backward as :class:`LSTM` (no proj_size); ``backend`` "auto"
    takes the best backend that runs this cell.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 bidirectional=False, backend="auto", dtype=np.float32, seed=None):
        super().__init__("layernorm_lstm", input_size, hidden_size, num_layers, bias, batch_first,
                         bidirectional, backend, dtype, seed)


def _pair(value, name, meaning):
    """An LSTM state argument: None or a 2-tuple/list; returns its two entries."""
    if value is None:
        return None, None
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name} must be a tuple {meaning} or None, got {type(value).__name__}")
    return value
