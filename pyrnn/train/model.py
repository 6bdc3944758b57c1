"""The recurrent language model: Embedding -> RNN/LSTM/GRU stack -> Linear -> softmax."""
import numpy as np

from ..backends.base import GATES
from ..layers import GRU, LSTM, RNN
from .base import Model
from .losses import softmax_cross_entropy
from .modules import Embedding, Linear

CELLS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}


class LanguageModel(Model):
    """Next-token model over a vocabulary of ``vocab_size`` ids.

    ids (T, B) -> logits (T, B, vocab_size). Its state is the recurrent
    layer's: an LSTM carries (h, c), the others h. Parameter names are
    ``embedding.weight``, ``rnn.weight_ih_l0``, ..., ``head.weight``, ``head.bias``.
    """

    def __init__(self, vocab_size, embed=64, hidden=256, layers=2, cell="lstm", backend="auto",
                 dtype=np.float32, seed=0):
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        rng = np.random.default_rng(seed)
        seeds = rng.integers(0, 2**31, size=3)
        self.config = dict(vocab_size=vocab_size, embed=embed, hidden=hidden, layers=layers, cell=cell)
        self.embedding = Embedding(vocab_size, embed, dtype=dtype, seed=int(seeds[0]))
        self.rnn = CELLS[cell](embed, hidden, num_layers=layers, backend=backend, dtype=dtype, seed=int(seeds[1]))
        self.head = Linear(hidden, vocab_size, dtype=dtype, seed=int(seeds[2]))
        self._register({"embedding": self.embedding, "rnn": self.rnn, "head": self.head})

    @staticmethod
    def parameter_shapes(vocab_size, embed, hidden, layers, cell):
        """name -> shape of every parameter of such a model (state_dict order), without building it.

        What a checkpoint must hold, so that a loader can check the file before it
        allocates the model that a (possibly edited) header describes.
        """
        G = GATES["rnn_tanh" if cell == "rnn" else cell]
        shapes = {"embedding.weight": (vocab_size, embed)}
        for k in range(layers):
            shapes[f"rnn.weight_ih_l{k}"] = (G * hidden, embed if k == 0 else hidden)
            shapes[f"rnn.weight_hh_l{k}"] = (G * hidden, hidden)
            shapes[f"rnn.bias_ih_l{k}"] = shapes[f"rnn.bias_hh_l{k}"] = (G * hidden,)
        shapes["head.weight"], shapes["head.bias"] = (vocab_size, hidden), (vocab_size,)
        return shapes

    @property
    def is_lstm(self):
        return isinstance(self.rnn, LSTM)

    # -- forward / backward ----------------------------------------------------
    def forward(self, ids, state=None):
        """ids (T, B) -> (logits (T, B, V), new state); state None = zeros."""
        y, state = self.rnn(self.embedding.forward(ids), state)
        return self.head.forward(y), state

    def loss_and_backward(self, ids, targets, state=None):
        """One truncated-BPTT chunk: forward, mean cross-entropy (nats), backward into every grad.

        The gradient stops at the chunk's start (the carried state is a constant).
        Returns (loss, final state to carry into the next chunk).
        """
        logits, state = self.forward(ids, state)
        loss, dlogits = softmax_cross_entropy(logits, targets)
        dy = self.head.backward(dlogits)
        dx, _ = self.rnn.backward(dy)
        self.embedding.backward(dx)
        return loss, state

    def loss(self, ids, targets, state=None):
        """Forward-only mean cross-entropy (nats) and the final state (use in eval mode)."""
        logits, state = self.forward(ids, state)
        return softmax_cross_entropy(logits, targets)[0], state
