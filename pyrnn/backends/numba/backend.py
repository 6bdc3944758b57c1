"""Backend "numba": Numba-JIT CPU kernels (pyrnn/backends/numba/kernels/).

Per layer-direction: one GEMM (Numba's np.dot, the same BLAS as the loops) for
the input projection of all T*B rows; the whole time loop in one compiled call (recurrent product +
one fused pointwise pass per step); in backward one compiled call for the
loop, then dx and the weight gradients as single large GEMMs. IndRNN's step
has no recurrent product (u * h is pointwise), only the fused pass.
Kernels are compiled on first use and cached on disk (``cache=True``).
"""
import importlib.util

import numpy as np

from ...cell_specs import CELLS, dim_size
from .. import register
from ..base import BASE_CELLS, Backend, kernel_weights
from ..workspace import BufferPool


def _probe():
    if importlib.util.find_spec("numba") is None:
        return "numba is not installed (pip install numba scipy)"
    if importlib.util.find_spec("scipy") is None:
        return "scipy is not installed (Numba takes the BLAS behind np.dot from SciPy)"
    return None


class NumbaBackend(Backend):
    """Fused Numba kernels; the default where the C extension (backend "c") is not built."""

    name = "numba"
    cells = BASE_CELLS + ("indrnn_tanh", "indrnn_relu", "lstm_proj", "layernorm_lstm")

    def __init__(self):
        # Imported here, not at module level: registering must stay cheap.
        from .kernels import gemm, gru, indrnn, layernorm_lstm, lstm, rnn
        self._gemm, self._lstm, self._gru, self._rnn, self._indrnn = gemm, lstm, gru, rnn, indrnn
        self._ln_lstm = layernorm_lstm
        self._pool = BufferPool()

    def _project(self, x, w_ih, b1, b2=None):
        """x @ w_ih^T + b1 + b2 (absent biases as zeros), into a pooled (T, B, G*H) buffer."""
        T, B, _ = x.shape
        zero = np.zeros(w_ih.shape[0], dtype=x.dtype)
        xw = self._pool.take((T, B, w_ih.shape[0]), x.dtype)
        self._gemm.input_projection(x, w_ih, zero if b1 is None else b1, zero if b2 is None else b2, xw)
        return xw

    def _forward(self, mode, x, state, weights, lengths, reverse, training):
        T, B, _ = x.shape
        if mode == "layernorm_lstm":
            return self._layernorm_forward(x, state, weights, lengths, reverse, training)
        # IndRNN's three are (w_ih, u, b_ih): no b_hh; w_hr only for lstm_proj
        w_ih, w_hh, b_ih, b_hh, w_hr = kernel_weights(mode, weights)
        H, P = CELLS[mode].sizes_of(weights)
        lengths = np.full(B, T, dtype=np.int64) if lengths is None else lengths
        y = np.empty((T, B, P), dtype=x.dtype)
        h = state[0].copy()

        def buf(*shape):   # saved activations (pooled), or an unused empty placeholder in eval mode
            return self._pool.take(shape, x.dtype) if training else np.empty((0, 0, 0), dtype=x.dtype)

        saved = dict(mode=mode, x=x, lengths=lengths, reverse=reverse, w_ih=w_ih, w_hh=w_hh, w_hr=w_hr,
                     has_bias=b_ih is not None)
        # The per-step activations the cell's description says backward needs (pooled).
        saved.update({name: buf(T, B, dim_size(dim, 0, H, P)) for name, dim in CELLS[mode].saved})
        if mode == "lstm_proj":
            xw = self._project(x, w_ih, b_ih, b_hh)
            c = state[1].copy()
            self._lstm.lstmp_forward(xw, w_hh, w_hr, h, c, lengths, reverse, training, y, saved["gates"],
                                     saved["h_prev"], saved["c_prev"], saved["tanh_c"], saved["m"])
            state_n = (h, c)
        elif mode == "lstm":
            xw = self._project(x, w_ih, b_ih, b_hh)
            c = state[1].copy()
            self._lstm.lstm_forward(xw, w_hh, h, c, lengths, reverse, training, y, saved["gates"],
                                    saved["h_prev"], saved["c_prev"], saved["tanh_c"])
            state_n = (h, c)
        elif mode == "gru":
            xw = self._project(x, w_ih, b_ih)
            bias_hh = np.zeros(3 * H, dtype=x.dtype) if b_hh is None else b_hh
            self._gru.gru_forward(xw, w_hh, bias_hh, h, lengths, reverse, training, y, saved["gates"],
                                  saved["h_prev"], saved["hn"])
            state_n = (h,)
        elif mode in ("indrnn_tanh", "indrnn_relu"):
            xw = self._project(x, w_ih, b_ih)      # w_hh is u (H,); IndRNN has no b_hh
            self._indrnn.indrnn_forward(xw, w_hh, h, lengths, reverse, mode == "indrnn_relu", training, y,
                                        saved["h_prev"], saved["h_out"], x.dtype.type(1))
            state_n = (h,)
        else:
            xw = self._project(x, w_ih, b_ih, b_hh)
            self._rnn.rnn_forward(xw, w_hh, h, lengths, reverse, mode == "rnn_relu", training, y,
                                  saved["h_prev"], saved["h_out"], x.dtype.type(1))
            state_n = (h,)
        self._pool.give(xw)
        return y, state_n, (saved if training else None)

    def _backward(self, mode, saved, dy, dstate_n):
        x, w_hh, lengths, reverse = saved["x"], saved["w_hh"], saved["lengths"], saved["reverse"]
        T, B, _ = x.shape
        H = w_hh.shape[-1]
        one = x.dtype.type(1)
        dh = dstate_n[0].copy()
        if mode in ("indrnn_tanh", "indrnn_relu"):
            return self._indrnn_backward(mode, saved, dy, dh)
        if mode == "lstm_proj":
            return self._projected_backward(saved, dy, dh, dstate_n[1].copy())
        if mode == "layernorm_lstm":
            return self._layernorm_backward(saved, dy, dh, dstate_n[1].copy())
        if mode == "lstm":
            dc = dstate_n[1].copy()
            d_in = self._pool.take((T, B, 4 * H), x.dtype)
            self._lstm.lstm_backward(dy, saved["gates"], saved["c_prev"], saved["tanh_c"], w_hh, lengths,
                                     reverse, dh, dc, d_in, one)
            d_hid, dstate0 = d_in, (dh, dc)
        elif mode == "gru":
            d_in = self._pool.take((T, B, 3 * H), x.dtype)
            d_hid = self._pool.take((T, B, 3 * H), x.dtype)
            self._gru.gru_backward(dy, saved["gates"], saved["h_prev"], saved["hn"], w_hh, lengths,
                                   reverse, dh, d_in, d_hid, one)
            dstate0 = (dh,)
        else:
            d_in = self._pool.take((T, B, H), x.dtype)
            self._rnn.rnn_backward(dy, saved["h_out"], w_hh, lengths, reverse, mode == "rnn_relu", dh,
                                   d_in, one)
            d_hid, dstate0 = d_in, (dh,)
        dx = self._gemm.input_grad(d_in, saved["w_ih"])
        dweights = self._gemm.weight_grads(d_in, d_hid, x, saved["h_prev"], saved["has_bias"])
        # The saved activations and the gate gradients are dead now: back to the pool. (A
        # second backward through the same saved dict cannot happen: layers and cells
        # consume their tape.)
        self._pool.give(d_in, *(() if d_hid is d_in else (d_hid,)), *(saved.pop(k) for k, _ in CELLS[mode].saved))
        return dx, dstate0, dweights

    def _layernorm_forward(self, x, state, weights, lengths, reverse, training):
        """layernorm_lstm: LN of the input projection for all rows at once, then the fused loop."""
        w_ih, w_hh, b_ih, b_hh, ln_ih_w, ln_ih_b, ln_hh_w, ln_hh_b, ln_c_w, ln_c_b = weights
        T, B, _ = x.shape
        H = w_hh.shape[-1]
        lengths = np.full(B, T, dtype=np.int64) if lengths is None else lengths
        saved = dict(x=x, lengths=lengths, reverse=reverse, w_ih=w_ih, w_hh=w_hh, ln_ih_w=ln_ih_w, ln_hh_w=ln_hh_w,
                     ln_c_w=ln_c_w, has_bias=b_ih is not None)
        spec = CELLS["layernorm_lstm"]
        # xhat and x_rstd are written in eval mode too (the input projection's normalisation needs them).
        saved.update({name: self._pool.take((T, B, dim_size(dim, 0, H)), x.dtype) for name, dim in spec.saved
                      if training or name in ("xhat", "x_rstd")})
        empty = np.empty((0, 0, 0), dtype=x.dtype)
        keep = [saved.get(name, empty) for name in ("gates", "hhat", "h_rstd", "chat", "c_rstd", "tanh_n",
                                                      "h_prev", "c_prev")]
        zero = np.zeros(4 * H, dtype=x.dtype)
        xw = self._project(x, w_ih, None)
        self._ln_lstm.normalise_rows(xw, ln_ih_w, ln_ih_b, saved["xhat"], saved["x_rstd"])
        bias = zero if b_ih is None else b_ih + b_hh
        h, c = state[0].copy(), state[1].copy()
        y = np.empty((T, B, H), dtype=x.dtype)
        self._ln_lstm.layernorm_lstm_forward(xw, w_hh, bias, ln_hh_w, ln_hh_b, ln_c_w, ln_c_b, h, c, lengths,
                                             reverse, training, y, *keep)
        self._pool.give(xw)
        if not training:
            self._pool.give(saved.pop("xhat"), saved.pop("x_rstd"))
            return y, (h, c), None
        return y, (h, c), saved

    def _layernorm_backward(self, saved, dy, dh, dc):
        """layernorm_lstm: the fused loop, then LN_ih backwards, dx and every weight gradient as GEMMs/sums."""
        x, w_hh = saved["x"], saved["w_hh"]
        T, B, _ = x.shape
        G = w_hh.shape[0]
        H = G // 4
        da = self._pool.take((T, B, G), x.dtype)
        da_h = self._pool.take((T, B, G), x.dtype)
        dln_c = self._pool.take((T, B, H), x.dtype)
        self._ln_lstm.layernorm_lstm_backward(dy, saved["gates"], saved["c_prev"], saved["chat"], saved["c_rstd"],
                                              saved["tanh_n"], saved["hhat"], saved["h_rstd"], saved["ln_c_w"],
                                              saved["ln_hh_w"], w_hh, saved["lengths"], saved["reverse"], dh, dc,
                                              da, da_h, dln_c, x.dtype.type(1))
        da_x = self._pool.take((T, B, G), x.dtype)
        self._ln_lstm.input_norm_backward(da, saved["xhat"], saved["x_rstd"], saved["ln_ih_w"], da_x)
        g = self._gemm
        dx = g.input_grad(da_x, saved["w_ih"])
        d_bias = g.column_sums(da)      # b_ih, b_hh, ln_ih_bias and ln_hh_bias all add to the gates
        dweights = (g.grad_product(da_x, x), g.grad_product(da_h, saved["h_prev"]),
                    d_bias.copy() if saved["has_bias"] else None, d_bias.copy() if saved["has_bias"] else None,
                    g.column_sums(da * saved["xhat"]), d_bias.copy(), g.column_sums(da * saved["hhat"]), d_bias,
                    g.column_sums(dln_c * saved["chat"]), g.column_sums(dln_c))
        self._pool.give(da, da_h, dln_c, da_x, *(saved.pop(k) for k, _ in CELLS["layernorm_lstm"].saved))
        return dx, (dh, dc), dweights

    def _projected_backward(self, saved, dy, dh, dc):
        """lstm_proj: the LSTM's gradients plus dW_hr = dh_out^T m, one GEMM over all T*B rows."""
        x, w_hh, w_hr = saved["x"], saved["w_hh"], saved["w_hr"]
        T, B, _ = x.shape
        G = w_hh.shape[0]
        d_in = self._pool.take((T, B, G), x.dtype)
        dh_out = self._pool.take((T, B, w_hr.shape[0]), x.dtype)
        self._lstm.lstmp_backward(dy, saved["gates"], saved["c_prev"], saved["tanh_c"], w_hh, w_hr,
                                  saved["lengths"], saved["reverse"], dh, dc, d_in, dh_out, x.dtype.type(1))
        dx = self._gemm.input_grad(d_in, saved["w_ih"])
        dweights = self._gemm.weight_grads(d_in, d_in, x, saved["h_prev"], saved["has_bias"])
        dweights += (self._gemm.grad_product(dh_out, saved["m"]),)
        self._pool.give(d_in, dh_out, *(saved.pop(k) for k, _ in CELLS["lstm_proj"].saved))
        return dx, (dh, dc), dweights

    def _indrnn_backward(self, mode, saved, dy, dh):
        """IndRNN's weights are (w_ih, u, b_ih): du = sum over T, B of da * h_prev, no W_hh GEMM."""
        x, u = saved["x"], saved["w_hh"]
        T, B, _ = x.shape
        da = self._pool.take((T, B, u.shape[0]), x.dtype)
        self._indrnn.indrnn_backward(dy, saved["h_out"], u, saved["lengths"], saved["reverse"],
                                     mode == "indrnn_relu", dh, da, x.dtype.type(1))
        dx = self._gemm.input_grad(da, saved["w_ih"])
        # Both sums through BLAS (blocked): a sequential loop over T*B rows loses float32 accuracy.
        dweights = (self._gemm.grad_product(da, x), self._gemm.column_sums(da * saved["h_prev"]),
                    self._gemm.column_sums(da) if saved["has_bias"] else None)
        self._pool.give(da, *(saved.pop(k) for k, _ in CELLS[mode].saved))
        return dx, (dh,), dweights


register("numba", probe=_probe, load=NumbaBackend, priority=10)
