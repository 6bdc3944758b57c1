"""Many-to-one sequence encoder: (optional embedding) -> RNN/LSTM/GRU stack -> its last hidden state.

The building block of the classifier, the regressor and the autoencoder: a
whole sequence in, one feature vector out, and the backward that sends a
gradient on that vector back through time (BPTT) to the weights.
"""
import numpy as np

from ..errors import InputError
from ..layers import GRU, LSTM, RNN
from ..train.modules import Embedding

LAYERS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}


def check_cell(cell):
    if cell not in LAYERS:
        raise InputError(f"cell must be one of {sorted(LAYERS)}, got {cell!r}")
    return cell


class LastStateEncoder:
    """x (B, T, I) floats, or ids (B, T) ints when ``vocab_size`` is given -> features (B, D * H).

    The features are the top layer's final hidden state h_n (both directions
    concatenated when bidirectional, D = 2). With ``lengths`` (B,) the
    forward direction's h_n is the state at each sequence's own last step
    (pyrnn's layers do that without packing), so padding never reaches the
    features. Not a model on its own: it exposes ``modules`` for the model
    that embeds it.
    """

    def __init__(self, input_size=None, hidden=64, layers=1, cell="lstm", bidirectional=False,
                 vocab_size=None, embed=32, backend="auto", dtype=np.float32, seed=0):
        if (input_size is None) == (vocab_size is None):
            raise InputError("give exactly one of input_size (float features) or vocab_size (token ids)")
        seeds = np.random.default_rng(seed).integers(0, 2**31, size=2)
        self.modules = {}
        self.embedding = None
        if vocab_size is not None:
            self.embedding = Embedding(vocab_size, embed, dtype=dtype, seed=int(seeds[0]))
            self.modules["embedding"] = self.embedding
            input_size = embed
        self.rnn = LAYERS[check_cell(cell)](input_size, hidden, num_layers=layers, batch_first=True,
                                            bidirectional=bidirectional, backend=backend, dtype=dtype,
                                            seed=int(seeds[1]))
        self.modules["rnn"] = self.rnn
        self.is_lstm = cell == "lstm"
        self.num_directions = 2 if bidirectional else 1
        self.output_size = self.num_directions * hidden
        self._y_shape = None

    def forward(self, x, lengths=None):
        """Features (B, D * H) of the sequences in x (batch first); lengths (B,) or None (all T)."""
        x = np.asarray(x)
        if lengths is not None:
            lengths = np.asarray(lengths)
            if lengths.ndim == 1 and lengths.size and x.ndim >= 2:
                # Steps past the longest sequence of this batch only cost time (their output is 0).
                x = x[:, :max(int(lengths.max()), 1)]
        inp = self.embedding.forward(x) if self.embedding is not None else x
        y, state = self.rnn(inp, None, lengths=lengths)
        h_n = state[0] if self.is_lstm else state
        self._y_shape = y.shape
        D = self.num_directions
        # h_n is (layers * D, B, H): the last D rows are the top layer's directions.
        return np.concatenate(list(h_n[-D:]), axis=1)

    def backward(self, dfeatures):
        """d loss / d features (B, D * H) -> accumulate every gradient through time; returns None."""
        D, H = self.num_directions, self.rnn.hidden_size
        B = dfeatures.shape[0]
        dh_n = np.zeros((self.rnn.num_layers * D, B, H), dtype=self.rnn.dtype)
        dh_n[-D:] = dfeatures.reshape(B, D, H).transpose(1, 0, 2)
        # Only the final state feeds the loss: the outputs at every step get zero gradient.
        dy = np.zeros(self._y_shape, dtype=self.rnn.dtype)
        dx, _ = self.rnn.backward(dy, (dh_n, None) if self.is_lstm else dh_n)
        if self.embedding is not None:
            self.embedding.backward(dx)
