"""The contract every backend implements (one layer, one direction per call).

Modes (cuDNN's names): ``"rnn_tanh"``, ``"rnn_relu"``, ``"lstm"``, ``"gru"``.
Layout: T time, B batch, I input, H hidden, G gates (1, 1, 4, 3 for the modes
above); arrays are C-contiguous, row-major, of one floating dtype; gate blocks
in PyTorch order (LSTM i, f, g, o; GRU r, z, n). The layer API validates
everything before a backend sees it, so backends may assume valid input.
"""

from ..errors import InputError

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


class BackendUnavailableError(RuntimeError):
    """A known backend that cannot run on this machine (the message says why)."""


class Backend:
    """Interface of a backend; subclasses implement forward and backward.

    ``forward(mode, x, state, weights, lengths, reverse, training)``
        x (T, B, I); state: tuple of (B, H) arrays, ``(h0,)`` or ``(h0, c0)``;
        weights: ``(w_ih (G*H, I), w_hh (G*H, H), b_ih (G*H,) | None, b_hh | None)``;
        lengths: (B,) int64 in [1, T] or None; reverse: walk t = T-1 .. 0;
        training: keep what backward needs.
        Returns ``(y (T, B, H), state_n (tuple like state), saved)``, saved None
        when not training. Padded steps (t >= lengths[b]) hold the state and
        give y = 0.

    ``backward(mode, saved, dy, dstate_n)``
        dy (T, B, H); dstate_n: tuple like state, of (B, H) arrays.
        Returns ``(dx (T, B, I), dstate0 (tuple), dweights)`` with dweights
        ordered like weights (None for absent biases). Every returned array is
        new memory the caller owns: no two alias each other, the inputs or the
        backend's buffers (torch's autograd keeps and accumulates into them).
        ``saved`` serves one backward (it may be overwritten).
    """

    name = "?"

    def forward(self, mode, x, state, weights, lengths, reverse, training):
        raise NotImplementedError

    def backward(self, mode, saved, dy, dstate_n):
        raise NotImplementedError


def check_call(mode, x, state, weights, hidden_size=None):
    """Shape and dtype checks of one backend call, for callers that bypass the layer API.

    The kernels take every size from ``x`` and ``w_hh``; a parameter of another
    shape would make them read out of bounds. Raises ValueError naming the
    argument (InputError: a ValueError and a RuntimeError). Shapes as in
    :class:`Backend` (arrays, tensors or JAX tracers: only ``.shape`` and
    ``.dtype`` are read). hidden_size: the layer's H (default: read from w_hh).
    """
    G = GATES[mode]
    if len(x.shape) != 3:
        raise InputError(f"x must be 3-D (seq_len, batch, input_size), got shape {tuple(x.shape)}")
    T, B, I = x.shape
    w_ih, w_hh, b_ih, b_hh = weights
    H = w_hh.shape[-1] if hidden_size is None else hidden_size
    expected = {"weight_ih": (w_ih, (G * H, I)), "weight_hh": (w_hh, (G * H, H)),
                "bias_ih": (b_ih, (G * H,)), "bias_hh": (b_hh, (G * H,))}
    expected.update({f"state[{i}]": (s, (B, H)) for i, s in enumerate(state)})
    for name, (value, shape) in expected.items():
        if value is None:
            continue
        if tuple(value.shape) != shape:
            raise InputError(f"{name} must have shape {shape} for a {mode} layer with input_size={I}, "
                             f"hidden_size={H}, batch={B}; got {tuple(value.shape)}")
        if value.dtype != x.dtype:
            raise InputError(f"{name} has dtype {value.dtype}, the input has {x.dtype}: one dtype throughout")
