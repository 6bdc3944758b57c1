"""Many-to-one classification: only the last hidden state feeds the classifier (sentiment-style).

    sequence (B, T, I) or token ids (B, T) --RNN/LSTM/GRU--> h_T (B, D*H) --Linear--> logits (B, C)
"""
import numpy as np

from ..train.losses import softmax_cross_entropy
from ..train.modules import Linear
from .base import Model
from .encoder import LastStateEncoder


class SequenceClassifier(Model):
    """Sequence -> one of ``num_classes`` labels.

    Float sequences: give ``input_size`` (x is (B, T, input_size)).
    Text: give ``vocab_size`` (x is ids (B, T), embedded with ``embed`` dims).
    ``lengths`` (B,) gives variable-length sequences in one padded batch; the
    padding's content is never read. Parameters: ``embedding.weight`` (text
    only), ``rnn.*`` (torch.nn names), ``head.weight``, ``head.bias``.
    """

    def __init__(self, num_classes, input_size=None, vocab_size=None, embed=32, hidden=64, layers=1,
                 cell="lstm", bidirectional=False, backend="auto", dtype=np.float32, seed=0):
        seeds = np.random.default_rng(seed).integers(0, 2**31, size=2)
        self.config = dict(num_classes=num_classes, input_size=input_size, vocab_size=vocab_size, embed=embed,
                           hidden=hidden, layers=layers, cell=cell, bidirectional=bidirectional)
        self.encoder = LastStateEncoder(input_size=input_size, hidden=hidden, layers=layers, cell=cell,
                                        bidirectional=bidirectional, vocab_size=vocab_size, embed=embed,
                                        backend=backend, dtype=dtype, seed=int(seeds[0]))
        self.head = Linear(self.encoder.output_size, num_classes, dtype=dtype, seed=int(seeds[1]))
        self._register({**self.encoder.modules, "head": self.head})

    def logits(self, x, lengths=None):
        """Unnormalised class scores (B, num_classes)."""
        return self.head.forward(self.encoder.forward(x, lengths))

    def loss_and_backward(self, x, y, lengths=None):
        """Mean cross-entropy (nats) of labels y (B,) ints; accumulates every gradient. Returns the loss."""
        loss, dlogits = softmax_cross_entropy(self.logits(x, lengths), np.asarray(y))
        self.encoder.backward(self.head.backward(dlogits))
        return loss

    def loss(self, x, y, lengths=None):
        """Forward-only mean cross-entropy (call in eval mode)."""
        return softmax_cross_entropy(self.logits(x, lengths), np.asarray(y))[0]

    def predict_proba(self, x, lengths=None):
        """Class probabilities (B, num_classes) (call in eval mode)."""
        z = self.logits(x, lengths).astype(np.float64)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def predict(self, x, lengths=None):
        """Most probable class (B,) (call in eval mode)."""
        return np.argmax(self.logits(x, lengths), axis=1)
