"""PixelRNN (van den Oord, Kalchbrenner & Kavukcuoglu 2016): the Row LSTM, and a plain pixel-by-pixel LSTM.

Both model binary images (B, n, n) autoregressively in raster order,
p(x) = prod_{r, j} p(x_rj | every pixel before it), each factor a Bernoulli.

Row LSTM. The image is processed one row at a time; row r's state is a row
of n LSTM states (h_r, c_r), each (n, H). At pixel j of row r the gates are

    [i, f, g, o] = K_is (*) x  +  K_ss (*) h_{r-1}          (two 1-D / masked convolutions)
    c_r[j] = f * c_{r-1}[j] + i * g,   h_r[j] = o * tanh(c_r[j])

K_is is a masked k x k convolution (the paper's "mask A": the k//2 rows above
and the k//2 pixels to the left, never the pixel itself or anything after it),
K_ss a width-s convolution over the row above's states. Both are linear, so
one pyrnn.LSTMCell step computes the whole row: the n pixels are its batch,
its input is [masked patch of x, h_{r-1}[j - s//2 .. j - 1], h_{r-1}[j + 1 .. j + s//2]]
(W_ih holds K_is and the side taps of K_ss) and its state is (h_{r-1}[j], c_{r-1}[j])
(W_hh is K_ss's centre tap). The logit of pixel (r, j) is Linear(h_r[j]).
h_r[j] sees x only through pixels before (r, j), so the product above is a
proper distribution; its receptive field is the paper's triangle (a pixel
far to the right in the rows above is out of reach), which the Diagonal BiLSTM
was designed to remove (not implemented here).

PixelLSTM, the baseline: one pyrnn.LSTM layer reads the n*n pixels one by
one (input: the previous pixel) and predicts the next, knowing the 2-D
layout only by counting.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..cells import LSTMCell
from ..errors import InputError
from ..layers import LSTM
from ..train.modules import Linear
from .base import Model
from .images import bernoulli_nll, per_image_nll, sigmoid


def causal_patches(x, k):
    """x (B, R, n) -> (B, R, n, P), P = (k//2) k + k//2: the masked ("mask A") k x k window of every pixel.

    For pixel (r, j): rows r - k//2 .. r - 1 at columns j - k//2 .. j + k//2
    (row-major), then pixels (r, j - k//2) .. (r, j - 1); outside the image is 0.
    """
    B, R, n = x.shape
    a = k // 2
    padded = np.pad(x, ((0, 0), (a, 0), (a, a)))
    win = sliding_window_view(padded, (a + 1, k), axis=(1, 2))             # (B, R, n, a + 1, k)
    return np.concatenate([win[..., :a, :].reshape(B, R, n, a * k), win[..., a, :a]], axis=-1)


def shift(h, d):
    """h (B, n, H) -> out with out[:, j] = h[:, j + d] (0 where j + d is outside [0, n))."""
    out = np.zeros_like(h)
    n = h.shape[1]
    if d > 0:
        out[:, :n - d] = h[:, d:]
    elif d < 0:
        out[:, -d:] = h[:, :n + d]
    else:
        out[...] = h
    return out


def _check_images(x, size, dtype):
    x = np.asarray(x, dtype=dtype)
    if x.ndim != 3 or x.shape[1:] != (size, size):
        raise InputError(f"x must be binary images (batch, {size}, {size}), got shape {x.shape}")
    return x


class _PixelModel(Model):
    """What the pixel models share: the likelihood of binary images from ``self.logits(x)``.

    Subclasses set ``size`` and ``dtype`` and define ``logits(x)`` (B, n, n) of
    every pixel given the ones before it.
    """

    def loss(self, x):
        """Forward-only mean -log p(x), nats per image (call in eval mode)."""
        x = _check_images(x, self.size, self.dtype)
        return bernoulli_nll(self.logits(x), x)[0]

    def nll(self, X, batch_size=256):
        """(N,) -log p(x) in nats of every image in X (N, n, n), float64 (call in eval mode)."""
        X = _check_images(X, self.size, self.dtype)
        return np.concatenate([per_image_nll(self.logits(X[i:i + batch_size]), X[i:i + batch_size])
                               for i in range(0, len(X), batch_size)])


class RowLSTM(_PixelModel):
    """PixelRNN Row LSTM over binary images (B, size, size); see the module docstring.

    input_kernel: k of the masked k x k input-to-state convolution (odd);
    state_kernel: s of the state-to-state convolution over the row above (odd).
    Parameters: ``rows.*`` (a torch.nn.LSTMCell's names), ``out.*``.
    """

    def __init__(self, size, hidden=64, input_kernel=7, state_kernel=3, backend="auto", dtype=np.float32, seed=0):
        if input_kernel % 2 == 0 or state_kernel % 2 == 0 or input_kernel < 3 or state_kernel < 1:
            raise InputError(f"input_kernel (>= 3) and state_kernel (>= 1) must be odd, got {input_kernel}, "
                             f"{state_kernel}")
        s = [int(v) for v in np.random.default_rng(seed).integers(0, 2**31, size=2)]
        self.config = dict(size=size, hidden=hidden, input_kernel=input_kernel, state_kernel=state_kernel)
        self.size, self.hidden, self.k = size, hidden, input_kernel
        self.offsets = [d for d in range(-(state_kernel // 2), state_kernel // 2 + 1) if d != 0]
        patch = (input_kernel // 2) * input_kernel + input_kernel // 2
        self.rows = LSTMCell(patch + len(self.offsets) * hidden, hidden, backend=backend, dtype=dtype, seed=s[0])
        self.out = Linear(hidden, 1, dtype=dtype, seed=s[1])
        self.dtype = self.rows.dtype
        self._register({"rows": self.rows, "out": self.out})

    def _row_step(self, patches_r, state):
        """One row: patches_r (B, n, P), state (h, c) of the row above, each (B, n, H) -> (h, c) of this row."""
        h, c = state
        B, n, H = h.shape
        inp = np.concatenate([patches_r] + [shift(h, d) for d in self.offsets], axis=-1)
        h2, c2 = self.rows(inp.reshape(B * n, -1), (h.reshape(B * n, H), c.reshape(B * n, H)))
        return h2.reshape(B, n, H), c2.reshape(B, n, H)

    def logits(self, x):
        """Logits (B, n, n) of p(x_rj = 1 | the pixels before it), all pixels at once (x is known)."""
        x = _check_images(x, self.size, self.dtype)
        B, n = x.shape[0], self.size
        patches = causal_patches(x, self.k)
        zeros = np.zeros((B, n, self.hidden), dtype=self.dtype)
        state, hs = (zeros, zeros), []
        for r in range(n):
            state = self._row_step(patches[:, r], state)
            hs.append(state[0])
        return self.out.forward(np.stack(hs, axis=1))[..., 0]

    def loss_and_backward(self, x):
        """Mean -log p(x) in nats per image of x (B, n, n); accumulates every gradient. Returns the loss."""
        x = _check_images(x, self.size, self.dtype)
        loss, dlogits = bernoulli_nll(self.logits(x), x)
        dh_all = self.out.backward(dlogits[..., None])                     # (B, n, n, H)
        B, n, H = x.shape[0], self.size, self.hidden
        P = self.rows.input_size - len(self.offsets) * H
        dh, dc = np.zeros((B, n, H), dtype=self.dtype), np.zeros((B * n, H), dtype=self.dtype)
        for r in reversed(range(n)):
            # Row r's h reached the loss through its own logits and through row r + 1 (dh, dc).
            dinp, (dh_prev, dc) = self.rows.backward(((dh_all[:, r] + dh).reshape(B * n, H), dc))
            dh = dh_prev.reshape(B, n, H)
            dinp = dinp.reshape(B, n, -1)
            for m, d in enumerate(self.offsets):
                # Input slot m at pixel j held h_{r-1}[j + d]: its gradient goes back to pixel j + d.
                dh += shift(dinp[..., P + m * H:P + (m + 1) * H], -d)
        return loss

    def sample(self, num=None, given=None, start_row=0, seed=0):
        """Draw images pixel by pixel in raster order (call in eval mode).

        Either ``num`` fresh images, or completions of ``given`` (B, n, n):
        rows before ``start_row`` are kept, the rest are drawn conditioned on them.
        Returns (images (B, n, n) float in {0, 1}, probabilities (B, n, n) each pixel was drawn with).
        """
        n, rng = self.size, np.random.default_rng(seed)
        x = np.zeros((num, n, n), dtype=self.dtype) if given is None else _check_images(given, n, self.dtype).copy()
        B = len(x)
        x[:, start_row:] = 0
        probs = np.zeros_like(x)
        zeros = np.zeros((B, n, self.hidden), dtype=self.dtype)
        state = (zeros, zeros)
        for r in range(n):
            if r < start_row:
                state = self._row_step(causal_patches(x, self.k)[:, r], state)
                continue
            for j in range(n):
                # Pixels after (r, j) are still 0 but no state at or before column j reads them.
                row = self._row_step(causal_patches(x[:, max(r - self.k // 2, 0):r + 1], self.k)[:, -1], state)
                p = sigmoid(self.out.forward(row[0][:, j])[:, 0])
                probs[:, r, j] = p
                x[:, r, j] = rng.random(B) < p
            state = row                       # the last pixel's input never reads the pixel itself
        return x, probs


class PixelLSTM(_PixelModel):
    """The baseline: one LSTM layer over the n*n pixels in raster order, x (B, n, n).

    Step t reads pixel t - 1 (0 before the first) and predicts pixel t.
    Parameters: ``rnn.*`` (torch.nn.LSTM names), ``out.*``.
    """

    def __init__(self, size, hidden=128, backend="auto", dtype=np.float32, seed=0):
        s = [int(v) for v in np.random.default_rng(seed).integers(0, 2**31, size=2)]
        self.config = dict(size=size, hidden=hidden)
        self.size, self.hidden = size, hidden
        self.rnn = LSTM(1, hidden, batch_first=True, backend=backend, dtype=dtype, seed=s[0])
        self.out = Linear(hidden, 1, dtype=dtype, seed=s[1])
        self.dtype = self.rnn.dtype
        self._register({"rnn": self.rnn, "out": self.out})

    def logits(self, x):
        """Logits (B, n, n) of every pixel given the ones before it."""
        x = _check_images(x, self.size, self.dtype)
        flat = x.reshape(len(x), -1)
        inp = np.concatenate([np.zeros((len(x), 1), dtype=self.dtype), flat[:, :-1]], axis=1)[..., None]
        y, _ = self.rnn(inp)
        return self.out.forward(y)[..., 0].reshape(x.shape)

    def loss_and_backward(self, x):
        """Mean -log p(x) in nats per image; accumulates every gradient. Returns the loss."""
        x = _check_images(x, self.size, self.dtype)
        loss, dlogits = bernoulli_nll(self.logits(x), x)
        dy = self.out.backward(dlogits.reshape(len(x), -1, 1))
        self.rnn.backward(dy)
        return loss

    def sample(self, num=None, given=None, start_row=0, seed=0):
        """As :meth:`RowLSTM.sample`: fresh images or completions from ``start_row`` on (eval mode)."""
        n, rng = self.size, np.random.default_rng(seed)
        x = np.zeros((num, n, n), dtype=self.dtype) if given is None else _check_images(given, n, self.dtype).copy()
        B = len(x)
        x[:, start_row:] = 0
        flat, probs = x.reshape(B, -1), np.zeros((B, n * n), dtype=self.dtype)
        state, prev = None, np.zeros((B, 1, 1), dtype=self.dtype)
        for t in range(n * n):
            y, state = self.rnn(prev, state)
            if t >= start_row * n:
                probs[:, t] = sigmoid(self.out.forward(y[:, 0])[:, 0])
                flat[:, t] = rng.random(B) < probs[:, t]
            prev = flat[:, t].reshape(B, 1, 1)
        return flat.reshape(B, n, n), probs.reshape(B, n, n)
