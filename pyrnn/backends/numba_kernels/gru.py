"""GRU time loops for the Numba backend (gate order r, z, n; PyTorch/cuDNN form).

    r = sigmoid(xw_r + hw_r)   z = sigmoid(xw_z + hw_z)   n = tanh(xw_n + r * hw_n)
    h' = n + z * (h - n)       with xw = x @ W_ih^T + b_ih, hw = h @ W_hh^T + b_hh
"""
from numba import njit

from .activations import sigmoid, tanh
from .matmul import matmul_into


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def gru_forward(xw, w_hh_t, b_hh, h, lengths, reverse, save, y, gates, h_prev, hn, a, one):
    """Run the recurrence; h (B, H) enters as h0 and leaves as h_n.

    xw (T, B, 3H) = x @ W_ih^T + b_ih; w_hh_t (H, 3H); b_hh (3H,) (zeros if
    no bias); y (T, B, H) out; when ``save``: gates (T, B, 3H) activated
    r, z, n, h_prev (T, B, H), hn (T, B, H) = W_hn h + b_hn; a (B, 3H) scratch.
    """
    T, B, G = xw.shape
    H = G // 3
    for step in range(T):
        t = T - 1 - step if reverse else step
        matmul_into(h, w_hh_t, a)
        for b in range(B):
            if t >= lengths[b]:
                y[t, b, :] = 0
                if save:
                    gates[t, b, :] = 0
                    h_prev[t, b, :] = h[b, :]
                    hn[t, b, :] = 0
                continue
            for j in range(H):
                r = sigmoid(xw[t, b, j] + a[b, j] + b_hh[j])
                z = sigmoid(xw[t, b, H + j] + a[b, H + j] + b_hh[H + j])
                hw_n = a[b, 2 * H + j] + b_hh[2 * H + j]
                n = tanh(xw[t, b, 2 * H + j] + r * hw_n)
                h_new = n + z * (h[b, j] - n)
                if save:
                    gates[t, b, j] = r
                    gates[t, b, H + j] = z
                    gates[t, b, 2 * H + j] = n
                    h_prev[t, b, j] = h[b, j]
                    hn[t, b, j] = hw_n
                h[b, j] = h_new
                y[t, b, j] = h_new


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def gru_backward(dy, gates, h_prev, hn, w_hh, lengths, reverse, dh, d_in, d_hid, dh_rec, one):
    """BPTT; dh (B, H) enters as dh_n and leaves as dh0.

    d_in (T, B, 3H) out: d loss / d (x W_ih^T + b_ih); d_hid (T, B, 3H) out:
    d loss / d (h W_hh^T + b_hh); dh_rec (B, H) scratch.
    """
    T, B, G = gates.shape
    H = G // 3
    for step in range(T):
        t = step if reverse else T - 1 - step
        for b in range(B):
            if t >= lengths[b]:
                d_in[t, b, :] = 0
                d_hid[t, b, :] = 0
                continue
            for j in range(H):
                r = gates[t, b, j]
                z = gates[t, b, H + j]
                n = gates[t, b, 2 * H + j]
                dh_t = dh[b, j] + dy[t, b, j]
                da_n = dh_t * (one - z) * (one - n * n)
                da_r = da_n * hn[t, b, j] * r * (one - r)
                da_z = dh_t * (h_prev[t, b, j] - n) * z * (one - z)
                d_in[t, b, j] = da_r
                d_in[t, b, H + j] = da_z
                d_in[t, b, 2 * H + j] = da_n
                d_hid[t, b, j] = da_r
                d_hid[t, b, H + j] = da_z
                d_hid[t, b, 2 * H + j] = da_n * r
                dh[b, j] = dh_t * z          # the direct path h -> h'; the recurrent part is added below
        matmul_into(d_hid[t], w_hh, dh_rec)
        for b in range(B):
            if t < lengths[b]:
                dh[b, :] += dh_rec[b, :]
