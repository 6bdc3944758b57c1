"""GRU time loops for the Numba backend (gate order r, z, n; PyTorch/cuDNN form).

    r = sigmoid(xw_r + hw_r)   z = sigmoid(xw_z + hw_z)   n = tanh(xw_n + r * hw_n)
    h' = n + z * (h - n)       with xw = x @ W_ih^T + b_ih, hw = h @ W_hh^T + b_hh
"""
import numpy as np
from numba import njit

from .activations import sigmoid, tanh


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _forward_row(xw, a, b_hh, h, y, gates, h_prev, hn):
    """One (t, b) row: xw, a, b_hh, gates (3H,); h (H,) in place; y, h_prev, hn (H,) out."""
    H = h.shape[0]
    for j in range(H):
        r = sigmoid(xw[j] + a[j] + b_hh[j])
        z = sigmoid(xw[H + j] + a[H + j] + b_hh[H + j])
        hw_n = a[2 * H + j] + b_hh[2 * H + j]
        n = tanh(xw[2 * H + j] + r * hw_n)
        h_new = n + z * (h[j] - n)
        gates[j] = r
        gates[H + j] = z
        gates[2 * H + j] = n
        h_prev[j] = h[j]
        hn[j] = hw_n
        h[j] = h_new
        y[j] = h_new


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def gru_forward(xw, w_hh, b_hh, h, lengths, reverse, save, y, gates, h_prev, hn):
    """Run the recurrence; h (B, H) enters as h0 and leaves as h_n.

    xw (T, B, 3H) = x @ W_ih^T + b_ih; w_hh (3H, H); b_hh (3H,) (zeros if
    no bias); y (T, B, H) out; when ``save``: gates (T, B, 3H) activated
    r, z, n, h_prev (T, B, H), hn (T, B, H) = W_hn h + b_hn.
    """
    T, B, G = xw.shape
    H = G // 3
    scratch_g = np.empty(G, dtype=xw.dtype)
    scratch_h = np.empty((2, H), dtype=xw.dtype)
    a = np.empty((B, G), dtype=xw.dtype)
    for step in range(T):
        t = T - 1 - step if reverse else step
        np.dot(h, w_hh.T, a)
        for b in range(B):
            if t >= lengths[b]:
                y[t, b, :] = 0
                if save:
                    gates[t, b, :] = 0
                    h_prev[t, b, :] = h[b, :]
                    hn[t, b, :] = 0
            elif save:
                _forward_row(xw[t, b], a[b], b_hh, h[b], y[t, b], gates[t, b], h_prev[t, b], hn[t, b])
            else:
                _forward_row(xw[t, b], a[b], b_hh, h[b], y[t, b], scratch_g, scratch_h[0], scratch_h[1])


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _backward_row(dy, gates, h_prev, hn, dh, d_in, d_hid, one):
    """One (t, b) row: dh (H,) in place (-> the direct part of d h_{t-1}); d_in, d_hid (3H,) out."""
    H = dh.shape[0]
    for j in range(H):
        r = gates[j]
        z = gates[H + j]
        n = gates[2 * H + j]
        dh_t = dh[j] + dy[j]
        da_n = dh_t * (one - z) * (one - n * n)
        da_r = da_n * hn[j] * r * (one - r)
        da_z = dh_t * (h_prev[j] - n) * z * (one - z)
        d_in[j] = da_r
        d_in[H + j] = da_z
        d_in[2 * H + j] = da_n
        d_hid[j] = da_r
        d_hid[H + j] = da_z
        d_hid[2 * H + j] = da_n * r
        dh[j] = dh_t * z


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def gru_backward(dy, gates, h_prev, hn, w_hh, lengths, reverse, dh, d_in, d_hid, one):
    """BPTT; dh (B, H) enters as dh_n and leaves as dh0.

    d_in (T, B, 3H) out: d loss / d (x W_ih^T + b_ih); d_hid (T, B, 3H) out:
    d loss / d (h W_hh^T + b_hh).
    """
    T, B, G = gates.shape
    dh_rec = np.empty_like(dh)
    for step in range(T):
        t = step if reverse else T - 1 - step
        for b in range(B):
            if t >= lengths[b]:
                d_in[t, b, :] = 0
                d_hid[t, b, :] = 0
            else:
                _backward_row(dy[t, b], gates[t, b], h_prev[t, b], hn[t, b], dh[b], d_in[t, b],
                              d_hid[t, b], one)
        np.dot(d_hid[t], w_hh, dh_rec)
        for b in range(B):
            if t < lengths[b]:
                dh[b, :] += dh_rec[b, :]
