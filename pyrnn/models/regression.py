"""Many-to-one regression (e.g. the adding problem), and the per-step gradient norms ||dL/dh_t||.

    sequence (B, T, I) --RNN/LSTM/GRU--> h_T (B, H) --Linear--> prediction (B,) or (B, K); MSE loss
"""
import numpy as np

from ..cells import GRUCell, LSTMCell, RNNCell
from ..errors import InputError
from ..train.modules import Linear
from .base import Model
from .encoder import LastStateEncoder
from .losses import mse_loss

_CELLS = {"lstm": LSTMCell, "gru": GRUCell, "rnn": RNNCell}


class SequenceRegressor(Model):
    """Sequence -> real number(s); mean squared error.

    x (B, T, input_size) floats; targets y (B,) when ``output_size`` is 1, else
    (B, output_size). Parameters: ``rnn.*`` (torch.nn names), ``head.weight``, ``head.bias``.

    Two optional LSTM initialisations for long dependencies (default: torch's):
    ``forget_bias`` is added to the forget-gate bias; ``chrono`` = T_max sets
    the chrono initialisation of Tallec & Ollivier (2018): forget bias
    log(U(1, T_max - 1)) and input bias its negative, so that the units start
    with memory timescales spread up to T_max steps.
    """

    def __init__(self, input_size, hidden=64, layers=1, cell="lstm", output_size=1, forget_bias=0.0, chrono=None,
                 backend="auto", dtype=np.float32, seed=0):
        seeds = np.random.default_rng(seed).integers(0, 2**31, size=3)
        self.config = dict(input_size=input_size, hidden=hidden, layers=layers, cell=cell,
                           output_size=output_size, forget_bias=forget_bias, chrono=chrono)
        self.cell = cell
        self.encoder = LastStateEncoder(input_size=input_size, hidden=hidden, layers=layers, cell=cell,
                                        backend=backend, dtype=dtype, seed=int(seeds[0]))
        self.rnn = self.encoder.rnn
        if (forget_bias or chrono) and cell != "lstm":
            raise InputError(f"forget_bias and chrono apply to an LSTM, not to cell={cell!r}")
        params = dict(self.rnn.named_parameters())          # live arrays: edited in place
        H = hidden
        for layer in range(layers):
            b_ih, b_hh = params[f"bias_ih_l{layer}"], params[f"bias_hh_l{layer}"]   # gates i, f, g, o
            if chrono:
                if chrono < 3:
                    raise InputError(f"chrono (T_max) must be >= 3, got {chrono}")
                # With the default biases the forget gate starts half closed (f ~ 0.5): what a unit
                # holds fades by half each step, and so does the gradient reaching back to it. Chrono
                # starts unit k with f/(1 - f) ~ U(1, T_max - 1), a memory of up to T_max steps, and
                # an input gate that much closed, so the long-memory units are not flooded by input.
                b_f = np.log(np.random.default_rng(int(seeds[2]) + layer).uniform(1, chrono - 1, H))
                b_ih[:2 * H] = 0
                b_hh[:2 * H] = 0
                b_ih[H:2 * H] = b_f
                b_ih[:H] = -b_f
            if forget_bias:
                # (Gers et al. 2000; Jozefowicz et al. 2015): a forget gate that starts nearer open.
                b_ih[H:2 * H] += forget_bias
        self.head = Linear(hidden, output_size, dtype=dtype, seed=int(seeds[1]))
        self._register({"rnn": self.rnn, "head": self.head})

    def forward(self, x, lengths=None):
        """Predictions (B,) (output_size 1) or (B, output_size)."""
        out = self.head.forward(self.encoder.forward(x, lengths))
        return out[:, 0] if self.head.out_features == 1 else out

    def _dpred(self, dout):
        return dout[:, None] if self.head.out_features == 1 else dout

    def loss_and_backward(self, x, y, lengths=None):
        """Mean squared error against y; accumulates every gradient. Returns the loss."""
        loss, dout = mse_loss(self.forward(x, lengths), y)
        self.encoder.backward(self.head.backward(self._dpred(dout)))
        return loss

    def loss(self, x, y, lengths=None):
        """Forward-only mean squared error (call in eval mode)."""
        return mse_loss(self.forward(x, lengths), y)[0]

    def predict(self, x, lengths=None):
        return self.forward(x, lengths)

    def hidden_gradient_norms(self, x, y):
        """||dL/dh_t|| for t = 0 .. T-1 (mean over the batch), L the mean squared error of the prediction.

        Backpropagation through time visits h_T, h_{T-1}, ..., h_1 and
        multiplies the gradient by one step's Jacobian each time; how fast
        this norm shrinks going back in t is the vanishing-gradient problem.
        The layer's fused backward does not expose dL/dh_t, so this replays
        the sequence with a cell holding the same weights and reads the
        gradient that each step's backward hands to the step before it. It
        runs in float64: a vanilla RNN's gradient can fall below float32's
        smallest number (1e-45) within 200 steps, and the plot is logarithmic.
        Needs one unidirectional layer; the model's gradients are untouched.
        """
        if self.rnn.num_layers != 1 or self.rnn.bidirectional:
            raise InputError("hidden_gradient_norms needs a single unidirectional layer")
        x = np.asarray(x, dtype=np.float64)
        B, T, _ = x.shape
        H = self.rnn.hidden_size
        kwargs = {"nonlinearity": self.rnn.nonlinearity} if self.cell == "rnn" else {}
        cell = _CELLS[self.cell](self.rnn.input_size, H, backend=self.rnn.backend, dtype=np.float64, **kwargs)
        params = dict(self.rnn.named_parameters())
        cell.load_state_dict({name: params[f"{name}_l0"] for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})
        state = None
        for t in range(T):
            state = cell(x[:, t], state)
        h_T = state[0] if self.cell == "lstm" else state
        head = {k: v.astype(np.float64) for k, v in self.head.named_parameters()}
        W = head["weight"]
        pred = h_T @ W.T + head["bias"]
        _, dpred = mse_loss(pred[:, 0] if self.head.out_features == 1 else pred, y)
        dh = self._dpred(dpred) @ W                       # dL/dh_T
        norms = np.empty(T)
        carry = (dh, None) if self.cell == "lstm" else dh
        for t in range(T - 1, -1, -1):
            dh_t = carry[0] if self.cell == "lstm" else carry
            norms[t] = np.mean(np.linalg.norm(dh_t, axis=1))
            _, carry = cell.backward(carry)               # -> d loss / d (state at t - 1)
        return norms
