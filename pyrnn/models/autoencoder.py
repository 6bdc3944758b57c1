"""Sequence autoencoder: compress a sequence into one code vector and reconstruct it from that vector.

    x (B, T, I) --encoder RNN--> h_T (B, H) --Linear--> code (B, C)
    code --Linear--> decoder h_0;  code repeated at every step --decoder RNN--> (B, T, H) --Linear--> x^ (B, T, I)

The decoder sees nothing of x but the code (Srivastava et al. 2015's
"unconditioned" decoder): everything it reconstructs had to pass through
the C numbers, which is what makes the code a summary of the sequence.
Because the decoder's inputs do not depend on its outputs, it runs as one
fused layer over all T steps, not step by step.
"""
import numpy as np

from ..train.modules import Linear
from .base import Model
from .encoder import LAYERS, LastStateEncoder
from .losses import mse_loss


class SequenceAutoencoder(Model):
    """Fixed-length float sequences (B, T, input_size) -> codes (B, code_size) -> reconstructions.

    Trained with ``loss_and_backward(x, x)`` (fit(X, X)): mean squared error of
    the reconstruction. Parameters: ``encoder.*``, ``decoder.*`` (torch.nn layer
    names), ``to_code.*``, ``from_code.*``, ``out.*``.
    """

    def __init__(self, input_size, hidden=64, code_size=16, cell="lstm", backend="auto", dtype=np.float32, seed=0):
        s = [int(v) for v in np.random.default_rng(seed).integers(0, 2**31, size=5)]
        self.config = dict(input_size=input_size, hidden=hidden, code_size=code_size, cell=cell)
        self.is_lstm = cell == "lstm"
        self.enc = LastStateEncoder(input_size=input_size, hidden=hidden, cell=cell, backend=backend, dtype=dtype,
                                    seed=s[0])
        self.to_code = Linear(hidden, code_size, dtype=dtype, seed=s[1])
        self.from_code = Linear(code_size, hidden, dtype=dtype, seed=s[2])
        self.decoder = LAYERS[cell](code_size, hidden, batch_first=True, backend=backend, dtype=dtype, seed=s[3])
        self.out = Linear(hidden, input_size, dtype=dtype, seed=s[4])
        self._register({"encoder": self.enc.rnn, "to_code": self.to_code, "from_code": self.from_code,
                        "decoder": self.decoder, "out": self.out})

    def encode(self, x):
        """Code vectors (B, code_size) of the sequences x (B, T, I)."""
        return self.to_code.forward(self.enc.forward(x))

    def forward(self, x):
        """Reconstructions (B, T, I) of x (B, T, I); keeps the code in ``self.last_code``."""
        code = self.encode(x)
        self.last_code = code
        T = np.asarray(x).shape[1]
        h0 = self.from_code.forward(code)[None]                           # (1, B, H)
        y, _ = self.decoder(np.repeat(code[:, None, :], T, axis=1), (h0, None) if self.is_lstm else h0)
        return self.out.forward(y)

    def loss_and_backward(self, x, target=None):
        """Mean squared reconstruction error against target (default x); accumulates every gradient."""
        recon = self.forward(x)
        loss, drecon = mse_loss(recon, x if target is None else target)
        dy = self.out.backward(drecon)
        dinp, dstate0 = self.decoder.backward(dy)
        dh0 = dstate0[0] if self.is_lstm else dstate0
        # The code reached the loss twice: as the decoder's input at every step and through h_0.
        dcode = dinp.sum(axis=1) + self.from_code.backward(dh0[0])
        self.enc.backward(self.to_code.backward(dcode))
        return loss

    def loss(self, x, target=None):
        """Forward-only mean squared reconstruction error (call in eval mode)."""
        return mse_loss(self.forward(x), x if target is None else target)[0]

    def reconstruct(self, x):
        return self.forward(x)
