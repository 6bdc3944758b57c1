"""IndRNN time loops for the Numba backend: h' = f(xw + u * h), f = tanh | relu, u (H,) elementwise.

The recurrence is pointwise, so a step has no GEMM: each (t, b) row is one
fused pass (and in backward the carried dh = da * u is updated in that pass).
"""
import numpy as np
from numba import njit

from .activations import tanh


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _forward_row_tanh(xw, u, h, y, h_prev, h_out, zero):
    for j in range(h.shape[0]):
        h_new = tanh(xw[j] + u[j] * h[j])
        h_prev[j] = h[j]
        h_out[j] = h_new
        h[j] = h_new
        y[j] = h_new


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _forward_row_relu(xw, u, h, y, h_prev, h_out, zero):
    for j in range(h.shape[0]):
        pre = xw[j] + u[j] * h[j]
        # typed zero: max(pre, 0) would promote float32 to float64; NaN stays NaN, as torch's relu
        h_new = zero if pre < zero else pre
        h_prev[j] = h[j]
        h_out[j] = h_new
        h[j] = h_new
        y[j] = h_new


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def indrnn_forward(xw, u, h, lengths, reverse, relu, save, y, h_prev, h_out, one):
    """Run the recurrence; h (B, H) enters as h0 and leaves as h_n.

    xw (T, B, H) = x @ W_ih^T + b_ih; u (H,); relu: f = relu else tanh;
    y (T, B, H) out; when ``save``: h_prev (T, B, H) states entering step t
    and h_out (T, B, H) = f(a_t); one = 1 in the dtype.
    """
    T, B, H = xw.shape
    zero = one - one
    scratch = np.empty((2, H), dtype=xw.dtype)
    for step in range(T):
        t = T - 1 - step if reverse else step
        for b in range(B):
            if t >= lengths[b]:
                y[t, b, :] = 0
                if save:
                    h_prev[t, b, :] = h[b, :]
                    h_out[t, b, :] = 0
                continue
            hp, ho = (h_prev[t, b], h_out[t, b]) if save else (scratch[0], scratch[1])
            if relu:
                _forward_row_relu(xw[t, b], u, h[b], y[t, b], hp, ho, zero)
            else:
                _forward_row_tanh(xw[t, b], u, h[b], y[t, b], hp, ho, zero)


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _backward_row_tanh(dy, h_out, u, dh, da, one):
    for j in range(dh.shape[0]):
        d = (dh[j] + dy[j]) * (one - h_out[j] * h_out[j])
        da[j] = d
        dh[j] = d * u[j]


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _backward_row_relu(dy, h_out, u, dh, da, one):
    zero = one - one
    for j in range(dh.shape[0]):
        d = zero if h_out[j] <= zero else (dh[j] + dy[j])     # a NaN output passes the gradient
        da[j] = d
        dh[j] = d * u[j]


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def indrnn_backward(dy, h_out, u, lengths, reverse, relu, dh, da, one):
    """BPTT; dh (B, H) enters as dh_n and leaves as dh0; da (T, B, H) out: d loss / d a_t.

    Padded steps (t >= lengths[b]) give da = 0 and carry dh unchanged.
    """
    T, B, H = h_out.shape
    for step in range(T):
        t = step if reverse else T - 1 - step
        for b in range(B):
            if t >= lengths[b]:
                da[t, b, :] = 0
            elif relu:
                _backward_row_relu(dy[t, b], h_out[t, b], u, dh[b], da[t, b], one)
            else:
                _backward_row_tanh(dy[t, b], h_out[t, b], u, dh[b], da[t, b], one)
