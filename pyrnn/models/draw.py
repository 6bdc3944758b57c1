"""DRAW (Gregor, Danihelka, Graves, Rezende & Wierstra 2015): a variational autoencoder that draws in T steps.

For an image x (B, A, A), from a canvas c_0 and h^dec_0 = 0, step t = 1..T:

    x^_t  = x - sigmoid(c_{t-1})                              (what is still missing)
    r_t   = read(x, x^_t, h^dec_{t-1})
    h^enc_t = LSTM_enc([r_t, h^dec_{t-1}], h^enc_{t-1})          (pyrnn.LSTMCell)
    mu_t, log sigma_t = Linear(h^enc_t);  z_t = mu_t + sigma_t * eps_t,  eps_t ~ N(0, I)
    h^dec_t = LSTM_dec(z_t, h^dec_{t-1})                        (pyrnn.LSTMCell)
    c_t   = c_{t-1} + write(h^dec_t)

and p(x | z_1..T) = Bernoulli(sigmoid(c_T)). c_0 is a parameter here (the paper
fixes it at 0), which :meth:`DRAW.init_canvas` sets to the logits of the training
images' pixel frequencies: the writer then starts from the independent-pixel
model instead of p = 1/2 everywhere (with attention it would otherwise have to
paint the empty background first, which on a small budget costs many epochs). The loss is the negative ELBO,
-log p(x | z) + sum_t KL(N(mu_t, sigma_t^2) || N(0, I)), in nats per image.

Without attention, read is [x, x^_t] and write a Linear layer onto the whole
canvas. With attention (``read_size`` N_r, ``write_size`` N_w) both go through
an N x N grid of Gaussian filters whose centre g, stride delta, width sigma
and intensity gamma a Linear layer reads off h^dec (the paper's eq. 19-27):
read = gamma [F_y x F_x^T, F_y x^ F_x^T] (two N_r x N_r glimpses), write =
(1 / gamma) F_y^T w F_x with w an N_w x N_w patch emitted by the decoder.
With T = 1 and no attention the model is a plain (one-step) VAE whose
encoder and decoder are one LSTM step each: the baseline.
"""
import numpy as np

from .._module import Module, StepTape
from ..cells import LSTMCell
from ..errors import InputError
from ..train.modules import Linear
from .base import Model
from .images import IndependentBernoulli, bernoulli_nll, per_image_nll, sigmoid


class StepLinear(StepTape, Linear):
    """A Linear layer used once per step of a recurrence: forward records its input on a tape,
    backward consumes the most recent one (last in, first out), as pyrnn's cells do."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._tape = []

    def _clear_tape(self):
        self._tape = []
        self._x = None

    def forward(self, x):
        y = super().forward(x)
        if self.training:
            self._tape.append(self._x)
        return y

    def backward(self, dout):
        self._require_tape()
        if not self._tape:
            raise RuntimeError("backward() needs a pending forward() step in train mode")
        self._x = self._tape.pop()
        return super().backward(dout)


class CanvasBias(Module):
    """The learned initial canvas c_0, ``weight`` (A, A) (zeros at the start, as the paper's fixed c_0 = 0)."""

    def __init__(self, size, dtype=np.float32):
        super().__init__(None, dtype, 0, uses_backend=False)
        self._add_params({"weight": np.zeros((size, size))})

    def __repr__(self):
        return f"CanvasBias({self._params['weight'].shape[0]}, dtype={self.dtype.name})"

    def _clear_tape(self):
        pass

    def forward(self, B):
        return np.broadcast_to(self._params["weight"], (B,) + self._params["weight"].shape).copy()

    def backward(self, dcanvas):
        """dcanvas (B, A, A) -> accumulate d weight (the same c_0 starts every image)."""
        self._require_tape()
        self.grads["weight"] += dcanvas.sum(axis=0)


# -- the Gaussian filterbank ------------------------------------------------------------------
def filterbank(params, A, N, eps=1e-8):
    """params (B, 5) = (g~x, g~y, log sigma^2, log delta~, log gamma) -> (Fx, Fy (B, N, A), gamma (B,), cache).

    Centre g = (A + 1) / 2 (g~ + 1) in pixel coordinates 1..A, stride
    delta = (A - 1) / (N - 1) exp(log delta~), filter i's mean g + (i - N/2 + 1/2) delta,
    each row of F normalised to sum to 1 (eps keeps a filter far outside the image finite).
    """
    p = params.astype(np.float64)
    g = (A + 1) / 2 * (p[:, :2] + 1)                                  # (B, 2): gx, gy
    sigma2, delta = np.exp(p[:, 2]), (A - 1) / max(N - 1, 1) * np.exp(p[:, 3])
    gamma = np.exp(p[:, 4])
    grid = np.arange(N) - N / 2 + 0.5                                   # (N,)
    mu = g[:, :, None] + grid[None, None, :] * delta[:, None, None]     # (B, 2, N)
    diff = np.arange(1, A + 1)[None, None, None, :] - mu[..., None]    # (B, 2, N, A)
    E = np.exp(-diff ** 2 / (2 * sigma2[:, None, None, None]))
    Z = E.sum(axis=-1, keepdims=True) + eps
    F = E / Z
    dt = params.dtype
    return (F[:, 0].astype(dt), F[:, 1].astype(dt), gamma.astype(dt),
            dict(F=F, Z=Z, diff=diff, sigma2=sigma2, delta=delta, gamma=gamma, grid=grid, A=A, dtype=dt))


def filterbank_backward(dFx, dFy, dgamma, cache):
    """Gradients w.r.t. Fx, Fy (B, N, A) and gamma (B,) -> d params (B, 5)."""
    F, Z, diff, sigma2 = cache["F"], cache["Z"], cache["diff"], cache["sigma2"]
    dF = np.stack([dFx, dFy], axis=1).astype(np.float64)              # (B, 2, N, A)
    # F = E / Z with Z = sum_a E + eps; E = exp(u), u = -diff^2 / (2 sigma^2).
    dE = (dF - (dF * F).sum(axis=-1, keepdims=True)) / Z
    du = dE * F * Z                                                     # dE * E, E = F Z
    dmu = (du * diff).sum(axis=-1) / sigma2[:, None, None]              # (B, 2, N)
    dsigma2 = (du * diff ** 2).sum(axis=(1, 2, 3)) / (2 * sigma2 ** 2)
    dg = dmu.sum(axis=-1)                                               # (B, 2)
    ddelta = (dmu * cache["grid"]).sum(axis=(1, 2))
    dp = np.empty((len(F), 5))
    dp[:, :2] = dg * (cache["A"] + 1) / 2
    dp[:, 2] = dsigma2 * sigma2
    dp[:, 3] = ddelta * cache["delta"]
    dp[:, 4] = np.asarray(dgamma, dtype=np.float64) * cache["gamma"]
    return dp.astype(cache["dtype"])


class DRAW(Model):
    """DRAW over binary images (B, size, size); see the module docstring.

    steps: T; hidden: units of both LSTMs; latent: size of each z_t;
    read_size / write_size: N of the attention grids (both None: no attention).
    Parameters: ``encoder.*``, ``decoder.*`` (torch.nn.LSTMCell names), ``canvas0.weight`` (c_0),
    ``posterior.*`` (mu and log sigma of q(z_t | h^enc_t)), ``write.*`` and, with attention,
    ``read_attn.*``, ``write_attn.*``.
    """

    def __init__(self, size, steps=8, hidden=128, latent=8, read_size=None, write_size=None, backend="auto",
                 dtype=np.float32, seed=0):
        if (read_size is None) != (write_size is None):
            raise InputError("give both read_size and write_size (attention) or neither (no attention)")
        if read_size is not None and min(read_size, write_size) < 2:
            raise InputError(f"read_size and write_size must be >= 2, got {read_size}, {write_size}")
        s = [int(v) for v in np.random.default_rng(seed).integers(0, 2**31, size=7)]
        self.config = dict(size=size, steps=steps, hidden=hidden, latent=latent, read_size=read_size,
                           write_size=write_size)
        self.size, self.steps, self.hidden, self.latent = size, steps, hidden, latent
        self.attention = read_size is not None
        self.read_size, self.write_size = read_size, write_size
        read_dim = 2 * (read_size ** 2 if self.attention else size * size)
        patch = write_size ** 2 if self.attention else size * size
        modules = {"encoder": LSTMCell(read_dim + hidden, hidden, backend=backend, dtype=dtype, seed=s[0]),
                   "decoder": LSTMCell(latent, hidden, backend=backend, dtype=dtype, seed=s[1]),
                   "posterior": StepLinear(hidden, 2 * latent, dtype=dtype, seed=s[2]),
                   "write": StepLinear(hidden, patch, dtype=dtype, seed=s[3]),
                   "canvas0": CanvasBias(size, dtype=dtype)}
        if self.attention:
            modules["read_attn"] = StepLinear(hidden, 5, dtype=dtype, seed=s[4])
            modules["write_attn"] = StepLinear(hidden, 5, dtype=dtype, seed=s[5])
        self._register(modules)
        for name, m in modules.items():
            setattr(self, name, m)
        self.dtype = self.encoder.dtype
        self._rng = np.random.default_rng(s[6])

    def init_canvas(self, X, alpha=1.0):
        """c_0 <- logit of the pixel frequencies in X (N, A, A) (add-alpha smoothed). Returns self."""
        p = IndependentBernoulli(alpha).fit(self._check(X)).p
        self.canvas0.load_state_dict({"weight": np.log(p) - np.log1p(-p)})
        return self

    def _check(self, x):
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim != 3 or x.shape[1:] != (self.size, self.size):
            raise InputError(f"x must be binary images (batch, {self.size}, {self.size}), got shape {x.shape}")
        return x

    def _noise(self, noise, B):
        if noise is None:
            return self._rng.standard_normal((self.steps, B, self.latent)).astype(self.dtype)
        noise = np.asarray(noise, dtype=self.dtype)
        if noise.shape != (self.steps, B, self.latent):
            raise InputError(f"noise must have shape (steps, batch, latent) = {(self.steps, B, self.latent)}, "
                             f"got {noise.shape}")
        return noise

    # -- read and write -------------------------------------------------------------------------
    def _read(self, x, xhat, h_dec):
        """-> (r (B, read_dim), cache for _read_backward)."""
        B = len(x)
        if not self.attention:
            return np.concatenate([x.reshape(B, -1), xhat.reshape(B, -1)], axis=1), None
        Fx, Fy, gamma, fb = filterbank(self.read_attn(h_dec), self.size, self.read_size)
        glimpses = [Fy @ img @ Fx.transpose(0, 2, 1) for img in (x, xhat)]        # (B, N, N) each
        r = gamma[:, None] * np.concatenate([g.reshape(B, -1) for g in glimpses], axis=1)
        return r, (Fx, Fy, gamma, fb, x, xhat, glimpses)

    def _read_backward(self, dr, cache):
        """-> (d xhat (B, A, A), d h_dec from the attention parameters or None)."""
        B, A = len(dr), self.size
        if not self.attention:
            return dr[:, A * A:].reshape(B, A, A), None
        Fx, Fy, gamma, fb, x, xhat, glimpses = cache
        N = self.read_size
        dFx, dFy, dgamma, dxhat = np.zeros_like(Fx), np.zeros_like(Fy), np.zeros(B, dtype=self.dtype), None
        for k, (img, G) in enumerate(zip((x, xhat), glimpses)):
            dG = dr[:, k * N * N:(k + 1) * N * N].reshape(B, N, N)
            dgamma += (dG * G).sum(axis=(1, 2))
            dM = gamma[:, None, None] * dG                                      # M = Fy img Fx^T
            dFy += dM @ Fx @ img.transpose(0, 2, 1)
            dFx += dM.transpose(0, 2, 1) @ Fy @ img
            if k == 1:
                dxhat = Fy.transpose(0, 2, 1) @ dM @ Fx
        return dxhat, self.read_attn.backward(filterbank_backward(dFx, dFy, dgamma, fb))

    def _write(self, h_dec):
        """-> (canvas increment (B, A, A), cache for _write_backward)."""
        B, A = len(h_dec), self.size
        w = self.write(h_dec)
        if not self.attention:
            return w.reshape(B, A, A), None
        N = self.write_size
        Fx, Fy, gamma, fb = filterbank(self.write_attn(h_dec), A, N)
        w = w.reshape(B, N, N)
        out = Fy.transpose(0, 2, 1) @ w @ Fx / gamma[:, None, None]
        return out, (Fx, Fy, gamma, fb, w, out)

    def _write_backward(self, dout, cache):
        """-> d h_dec (B, H)."""
        B = len(dout)
        if not self.attention:
            return self.write.backward(dout.reshape(B, -1))
        Fx, Fy, gamma, fb, w, out = cache
        dgamma = -(dout * out).sum(axis=(1, 2)) / gamma                          # out = V / gamma
        dV = dout / gamma[:, None, None]                                          # V = Fy^T w Fx
        dw = Fy @ dV @ Fx.transpose(0, 2, 1)
        dFy = w @ Fx @ dV.transpose(0, 2, 1)
        dFx = w.transpose(0, 2, 1) @ Fy @ dV
        dh = self.write.backward(dw.reshape(B, -1))
        return dh + self.write_attn.backward(filterbank_backward(dFx, dFy, dgamma, fb))

    # -- the model --------------------------------------------------------------------------------
    def _forward(self, x, noise):
        """All T steps on x (B, A, A) -> (logits (B, A, A), KL (B,) per image, per-step caches)."""
        B, H = len(x), self.hidden
        zeros = np.zeros((B, H), dtype=self.dtype)
        enc, dec = (zeros, zeros), (zeros, zeros)
        canvas = self.canvas0(B)
        kl = np.zeros(B)
        steps = []
        for t in range(self.steps):
            xhat = x - sigmoid(canvas)
            r, read_cache = self._read(x, xhat, dec[0])
            enc = self.encoder(np.concatenate([r, dec[0]], axis=1), enc)
            stats = self.posterior(enc[0])
            mu, logsig = stats[:, :self.latent], stats[:, self.latent:]
            sig = np.exp(logsig)
            z = mu + sig * noise[t]
            dec = self.decoder(z, dec)
            inc, write_cache = self._write(dec[0])
            steps.append(dict(canvas=canvas, read=read_cache, write=write_cache, mu=mu, sig=sig, logsig=logsig,
                              r_dim=r.shape[1]))
            canvas = canvas + inc
            kl += 0.5 * np.sum(mu.astype(np.float64) ** 2 + sig.astype(np.float64) ** 2 - 2 * logsig - 1, axis=1)
        return canvas, kl, steps

    def loss_and_backward(self, x, noise=None):
        """Mean negative ELBO (nats per image) of x (B, A, A) with noise (T, B, latent) (None: drawn
        from the model's generator); accumulates every gradient. Returns the loss."""
        x = self._check(x)
        B, H = len(x), self.hidden
        noise = self._noise(noise, B)
        logits, kl, steps = self._forward(x, noise)
        rec, dcanvas = bernoulli_nll(logits, x)
        dh_dec, dc_dec = np.zeros((B, H), dtype=self.dtype), np.zeros((B, H), dtype=self.dtype)
        dh_enc, dc_enc = np.zeros((B, H), dtype=self.dtype), np.zeros((B, H), dtype=self.dtype)
        for t in reversed(range(self.steps)):
            s = steps[t]
            # h^dec_t reached the loss through its write, and through step t + 1 (dh_dec: its
            # encoder input, its read attention and its decoder step).
            dh_dec = dh_dec + self._write_backward(dcanvas, s["write"])
            dz, (dh_dec, dc_dec) = self.decoder.backward((dh_dec, dc_dec))
            # KL = 0.5 sum(mu^2 + sig^2 - 2 log sig - 1), averaged over the batch like the reconstruction.
            dmu = dz + s["mu"] / B
            dlogsig = dz * s["sig"] * noise[t] + (s["sig"] ** 2 - 1) / B
            denc = self.posterior.backward(np.concatenate([dmu, dlogsig], axis=1))
            dinp, (dh_enc, dc_enc) = self.encoder.backward((denc + dh_enc, dc_enc))
            R = s["r_dim"]
            dh_dec = dh_dec + dinp[:, R:]
            dxhat, dh_attn = self._read_backward(dinp[:, :R], s["read"])
            if dh_attn is not None:
                dh_dec = dh_dec + dh_attn
            # xhat_t = x - sigmoid(c_{t-1}): the earlier canvas also gets what the read asked of it.
            p = sigmoid(s["canvas"])
            dcanvas = dcanvas - dxhat * p * (1 - p)
        self.canvas0.backward(dcanvas)
        return rec + float(kl.mean())

    def loss(self, x, noise=None):
        """Forward-only mean negative ELBO (call in eval mode)."""
        x = self._check(x)
        noise = self._noise(noise, len(x))
        logits, kl, _ = self._forward(x, noise)
        return bernoulli_nll(logits, x)[0] + float(kl.mean())

    def neg_elbo(self, X, samples=1, batch_size=256, seed=0):
        """(N,) negative ELBO in nats of every image in X, averaged over ``samples`` draws of the
        noise, and its (N,) KL part; float64 (call in eval mode)."""
        X = self._check(X)
        rng = np.random.default_rng(seed)
        total, kls = np.zeros(len(X)), np.zeros(len(X))
        for _ in range(samples):
            for i in range(0, len(X), batch_size):
                xb = X[i:i + batch_size]
                noise = rng.standard_normal((self.steps, len(xb), self.latent)).astype(self.dtype)
                logits, kl, _ = self._forward(xb, noise)
                total[i:i + batch_size] += per_image_nll(logits, xb) + kl
                kls[i:i + batch_size] += kl
        return total / samples, kls / samples

    def generate(self, num, seed=0):
        """Draw ``num`` images from the prior (call in eval mode).

        Returns ``(canvases (T, num, A, A): sigmoid(c_t) after every step, windows)``:
        the last canvas is the image's Bernoulli means; windows (T, num, 4) holds the write
        attention's (centre x, centre y, width, height) in pixel coordinates (None without attention).
        """
        rng = np.random.default_rng(seed)
        A, H = self.size, self.hidden
        zeros = np.zeros((num, H), dtype=self.dtype)
        dec, canvas = (zeros, zeros), self.canvas0(num)
        canvases, windows = [], []
        for _ in range(self.steps):
            dec = self.decoder(rng.standard_normal((num, self.latent)).astype(self.dtype), dec)
            inc, cache = self._write(dec[0])
            canvas = canvas + inc
            canvases.append(sigmoid(canvas))
            if self.attention:
                fb = cache[3]
                mu = (A + 1) / 2 * (self.write_attn(dec[0])[:, :2].astype(np.float64) + 1)
                extent = fb["delta"] * self.write_size
                windows.append(np.column_stack([mu, extent, extent]))
        return np.stack(canvases), (np.stack(windows) if self.attention else None)
