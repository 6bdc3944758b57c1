"""A 2-D convolution with forward/backward, for the image encoder of :class:`pyrnn.models.Captioner`.

Images are channels-last, (B, H, W, C): that is how NumPy renders them and
how the convolution's patches are laid out (im2col through a strided view),
so one matrix product does all the work. Parameters are named and shaped as
torch.nn.Conv2d's: ``weight`` (out, in, k, k), ``bias`` (out,), both
~ U(+-1/sqrt(in * k * k)).
"""
import numpy as np

from .._blas import matmul
from .._checks import as_float, expect_shape, positive_int, private
from .._module import Module
from ..errors import InputError


class Conv2d(Module):
    """x (B, H, W, in_channels) -> (B, H', W', out_channels), H' = (H + 2 padding - k) // stride + 1."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dtype=np.float32, seed=None):
        self.in_channels = positive_int(in_channels, "in_channels")
        self.out_channels = positive_int(out_channels, "out_channels")
        self.kernel_size = positive_int(kernel_size, "kernel_size")
        self.stride = positive_int(stride, "stride")
        self.padding = positive_int(padding, "padding", minimum=0)
        super().__init__(None, dtype, seed, uses_backend=False)
        fan_in = self.in_channels * self.kernel_size ** 2
        bound = 1.0 / np.sqrt(fan_in)
        k = self.kernel_size
        self._add_params({"weight": self._rng.uniform(-bound, bound, (self.out_channels, self.in_channels, k, k)),
                          "bias": self._rng.uniform(-bound, bound, self.out_channels)})
        self._saved = None

    def __repr__(self):
        return (f"Conv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, dtype={self.dtype.name})")

    def _clear_tape(self):
        self._saved = None

    def output_size(self, size):
        return (size + 2 * self.padding - self.kernel_size) // self.stride + 1

    def _patches(self, x):
        """x (B, H, W, C) -> patches (B, H', W', C, k, k), a copy laid out for one product."""
        p, k, s = self.padding, self.kernel_size, self.stride
        xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0))) if p else x
        view = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(1, 2))[:, ::s, ::s]
        return np.ascontiguousarray(view)

    def forward(self, x):
        original = x
        x = as_float(x, "x", self.dtype)
        if x.ndim != 4 or x.shape[3] != self.in_channels:
            raise InputError(f"x must be images (batch, height, width, {self.in_channels}), got shape {x.shape}")
        if min(self.output_size(x.shape[1]), self.output_size(x.shape[2])) < 1:
            raise InputError(f"images {x.shape[1]}x{x.shape[2]} are smaller than the kernel ({self.kernel_size})")
        x = private(x, original) if self.training else x
        cols = self._patches(x)
        B, Ho, Wo = cols.shape[:3]
        cols2 = cols.reshape(B * Ho * Wo, -1)                        # (B H' W', C k k)
        y = matmul(cols2, self._params["weight"].reshape(self.out_channels, -1).T) + self._params["bias"]
        if self.training:
            self._saved = (x.shape, cols2, (B, Ho, Wo))
        return y.reshape(B, Ho, Wo, self.out_channels)

    def backward(self, dout):
        """Accumulate d weight, d bias from dout (B, H', W', out_channels); return dx (B, H, W, in_channels)."""
        self._require_tape()
        if self._saved is None:
            raise RuntimeError("backward() needs a forward() in train mode first")
        (x_shape, cols2, (B, Ho, Wo)), self._saved = self._saved, None
        dout = as_float(dout, "dout", self.dtype)
        expect_shape(dout, "dout", (B, Ho, Wo, self.out_channels), "(batch, H', W', out_channels)")
        d2 = dout.reshape(-1, self.out_channels)
        W = self._params["weight"]
        self.grads["weight"] += matmul(d2.T, cols2).reshape(W.shape)
        self.grads["bias"] += d2.sum(axis=0)
        dcols = matmul(d2, W.reshape(self.out_channels, -1)).reshape(B, Ho, Wo, self.in_channels,
                                                                     self.kernel_size, self.kernel_size)
        # col2im: each kernel offset (i, j) adds its patch gradients back onto a strided grid of pixels.
        p, s = self.padding, self.stride
        _, H, Wd, C = x_shape
        dxp = np.zeros((B, H + 2 * p, Wd + 2 * p, C), dtype=self.dtype)
        for i in range(self.kernel_size):
            for j in range(self.kernel_size):
                dxp[:, i:i + s * (Ho - 1) + 1:s, j:j + s * (Wo - 1) + 1:s] += dcols[..., i, j]
        return dxp[:, p:p + H, p:p + Wd]
