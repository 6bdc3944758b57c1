"""Elman RNN time loops for the Numba backend: h' = f(xw + h @ W_hh^T), f = tanh | relu."""
from numba import njit

from .activations import tanh
from .matmul import matmul_into


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def rnn_forward(xw, w_hh_t, h, lengths, reverse, relu, save, y, h_prev, h_out, a, one):
    """Run the recurrence; h (B, H) enters as h0 and leaves as h_n.

    xw (T, B, H) = x @ W_ih^T + b_ih + b_hh; w_hh_t (H, H); relu: f = relu
    else tanh; y (T, B, H) out; when ``save``: h_prev (T, B, H) states
    entering step t and h_out (T, B, H) = f(a_t); a (B, H) scratch.
    """
    T, B, H = xw.shape
    zero = one - one
    for step in range(T):
        t = T - 1 - step if reverse else step
        matmul_into(h, w_hh_t, a)
        for b in range(B):
            if t >= lengths[b]:
                y[t, b, :] = 0
                if save:
                    h_prev[t, b, :] = h[b, :]
                    h_out[t, b, :] = 0
                continue
            for j in range(H):
                pre = xw[t, b, j] + a[b, j]
                h_new = max(pre, zero) if relu else tanh(pre)
                if save:
                    h_prev[t, b, j] = h[b, j]
                    h_out[t, b, j] = h_new
                h[b, j] = h_new
                y[t, b, j] = h_new


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def rnn_backward(dy, h_out, w_hh, lengths, reverse, relu, dh, da, dh_rec, one):
    """BPTT; dh (B, H) enters as dh_n and leaves as dh0.

    da (T, B, H) out: d loss / d pre-activation; dh_rec (B, H) scratch.
    """
    T, B, H = h_out.shape
    zero = one - one
    for step in range(T):
        t = step if reverse else T - 1 - step
        for b in range(B):
            if t >= lengths[b]:
                da[t, b, :] = 0
                continue
            for j in range(H):
                out = h_out[t, b, j]
                deriv = (one if out > zero else zero) if relu else one - out * out
                da[t, b, j] = (dh[b, j] + dy[t, b, j]) * deriv
        matmul_into(da[t], w_hh, dh_rec)
        for b in range(B):
            if t < lengths[b]:
                dh[b, :] = dh_rec[b, :]
