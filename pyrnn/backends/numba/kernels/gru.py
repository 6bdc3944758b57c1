"""The GRU's rows for the Numba loop (loop.py), gate order r, z, n (PyTorch/cuDNN form).

    r = sigmoid(xw_r + hw_r)   z = sigmoid(xw_z + hw_z)   n = tanh(xw_n + r * hw_n)
    h' = n + z * (h - n)       with xw = x @ W_ih^T + b_ih, hw = h @ W_hh^T + b_hh
"""
from numba import njit

from .activations import sigmoid, tanh


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def forward_row(xw, a, b_hh, h, y, gates, h_prev, hn):
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
def backward_row(dy, gates, h_prev, hn, dh, d_in, d_hid, one):
    """One (t, b) row: dh (H,) in place (-> the direct part of d h_{t-1}, dh_t * z); d_in, d_hid (3H,) out."""
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
