"""Elman RNN time loops for the Numba backend: h' = f(xw + h @ W_hh^T), f = tanh | relu."""
import numpy as np
from numba import njit

from .activations import tanh


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _forward_row_tanh(xw, a, h, y, h_prev, h_out, zero):
    for j in range(h.shape[0]):
        h_new = tanh(xw[j] + a[j])
        h_prev[j] = h[j]
        h_out[j] = h_new
        h[j] = h_new
        y[j] = h_new


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _forward_row_relu(xw, a, h, y, h_prev, h_out, zero):
    for j in range(h.shape[0]):
        pre = xw[j] + a[j]
        # typed zero: max(pre, 0) would promote float32 to float64; NaN stays NaN, as torch's relu
        h_new = zero if pre < zero else pre
        h_prev[j] = h[j]
        h_out[j] = h_new
        h[j] = h_new
        y[j] = h_new


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def rnn_forward(xw, w_hh, h, lengths, reverse, relu, save, y, h_prev, h_out, one):
    """Run the recurrence; h (B, H) enters as h0 and leaves as h_n.

    xw (T, B, H) = x @ W_ih^T + b_ih + b_hh; w_hh (H, H); relu: f = relu
    else tanh; y (T, B, H) out; when ``save``: h_prev (T, B, H) states
    entering step t and h_out (T, B, H) = f(a_t); one = 1 in the dtype.
    """
    T, B, H = xw.shape
    zero = one - one
    scratch = np.empty((2, H), dtype=xw.dtype)
    a = np.empty((B, H), dtype=xw.dtype)
    for step in range(T):
        t = T - 1 - step if reverse else step
        np.dot(h, w_hh.T, a)
        for b in range(B):
            if t >= lengths[b]:
                y[t, b, :] = 0
                if save:
                    h_prev[t, b, :] = h[b, :]
                    h_out[t, b, :] = 0
                continue
            hp, ho = (h_prev[t, b], h_out[t, b]) if save else (scratch[0], scratch[1])
            if relu:
                _forward_row_relu(xw[t, b], a[b], h[b], y[t, b], hp, ho, zero)
            else:
                _forward_row_tanh(xw[t, b], a[b], h[b], y[t, b], hp, ho, zero)


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _backward_row_tanh(dy, h_out, dh, da, one):
    for j in range(dh.shape[0]):
        da[j] = (dh[j] + dy[j]) * (one - h_out[j] * h_out[j])


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _backward_row_relu(dy, h_out, dh, da, one):
    zero = one - one
    for j in range(dh.shape[0]):
        da[j] = zero if h_out[j] <= zero else (dh[j] + dy[j])     # a NaN output passes the gradient


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def rnn_backward(dy, h_out, w_hh, lengths, reverse, relu, dh, da, one):
    """BPTT; dh (B, H) enters as dh_n and leaves as dh0; da (T, B, H) out: d loss / d a_t."""
    T, B, H = h_out.shape
    dh_rec = np.empty_like(dh)
    for step in range(T):
        t = step if reverse else T - 1 - step
        for b in range(B):
            if t >= lengths[b]:
                da[t, b, :] = 0
            elif relu:
                _backward_row_relu(dy[t, b], h_out[t, b], dh[b], da[t, b], one)
            else:
                _backward_row_tanh(dy[t, b], h_out[t, b], dh[b], da[t, b], one)
        np.dot(da[t], w_hh, dh_rec)
        for b in range(B):
            if t < lengths[b]:
                dh[b, :] = dh_rec[b, :]
