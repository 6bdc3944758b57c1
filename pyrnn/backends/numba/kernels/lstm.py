"""The LSTM's rows for the Numba loop (loop.py), gate order i, f, g, o; with and without projections.

Forward, per (t, b) row: the precomputed input projection xw plus a = h @ W_hh^T
(the loop's one BLAS call per step), every gate activation, c and h updated, y
and what backward needs saved. Backward, per row: every gate gradient, dc
carried. The input projection and the weight gradients are single large GEMMs
outside (pyrnn/backends/numba/backend.py).
"""
from numba import njit

from .activations import sigmoid, tanh


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def forward_row(xw, a, h, c, y, gates, h_prev, c_prev, tanh_c):
    """One (t, b) row: xw, a, gates (4H,); h, c (H,) updated in place; y, h_prev, c_prev, tanh_c (H,) out."""
    H = h.shape[0]
    for j in range(H):
        i = sigmoid(xw[j] + a[j])
        f = sigmoid(xw[H + j] + a[H + j])
        g = tanh(xw[2 * H + j] + a[2 * H + j])
        o = sigmoid(xw[3 * H + j] + a[3 * H + j])
        c_new = f * c[j] + i * g
        tc = tanh(c_new)
        h_new = o * tc
        gates[j] = i
        gates[H + j] = f
        gates[2 * H + j] = g
        gates[3 * H + j] = o
        h_prev[j] = h[j]
        c_prev[j] = c[j]
        tanh_c[j] = tc
        c[j] = c_new
        h[j] = h_new
        y[j] = h_new


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def projected_row(xw, a, h, c, m, gates, h_prev, c_prev, tanh_c, m_saved):
    """With projections (torch.nn's proj_size: h_t = W_hr m_t, m_t = o * tanh(c_t); the loop does the
    product): xw, a, gates (4H,); c (H,) in place; h (P,) read (h_prev = h); m, m_saved, c_prev,
    tanh_c (H,) out."""
    H = c.shape[0]
    for j in range(H):
        i = sigmoid(xw[j] + a[j])
        f = sigmoid(xw[H + j] + a[H + j])
        g = tanh(xw[2 * H + j] + a[2 * H + j])
        o = sigmoid(xw[3 * H + j] + a[3 * H + j])
        c_new = f * c[j] + i * g
        tc = tanh(c_new)
        gates[j] = i
        gates[H + j] = f
        gates[2 * H + j] = g
        gates[3 * H + j] = o
        c_prev[j] = c[j]
        tanh_c[j] = tc
        c[j] = c_new
        m[j] = o * tc
        m_saved[j] = o * tc
    for k in range(h.shape[0]):
        h_prev[k] = h[k]


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def backward_row(dy, gates, c_prev, tanh_c, dh, dc, dgates, one):
    """One (t, b) row: dgates (4H,) out; dc (H,) in place (-> d c_{t-1}); dh (H,) read, then 0
    (h_{t-1} enters only through W_hh)."""
    H = dh.shape[0]
    zero = one - one
    for j in range(H):
        i = gates[j]
        f = gates[H + j]
        g = gates[2 * H + j]
        o = gates[3 * H + j]
        tc = tanh_c[j]
        dh_t = dh[j] + dy[j]
        dc_t = dc[j] + dh_t * o * (one - tc * tc)
        dgates[j] = dc_t * g * i * (one - i)
        dgates[H + j] = dc_t * c_prev[j] * f * (one - f)
        dgates[2 * H + j] = dc_t * i * (one - g * g)
        dgates[3 * H + j] = dh_t * tc * o * (one - o)
        dc[j] = dc_t * f
        dh[j] = zero
