"""The layer-normalised LSTM's rows for the Numba loop (loop.py), gate order i, f, g, o (see
pyrnn/reference/layernorm_lstm.py for the math).

Before the loop, the input projection's rows are normalised once for all T*B
rows (:func:`normalise_rows`). Forward row: the statistics of a = h W_hh^T, the
gates, c, the statistics of c, h. Backward row: the layer norm of c backwards,
the gate gradients, the layer norm of W_hh h backwards (the loop then adds
da_h[t] @ W_hh to dh).
Row statistics (mean, 1/std and the two means of LN's backward) are summed in
float64, as the reference computes them.
"""
import numpy as np
from numba import njit

from .activations import sigmoid, tanh

EPS = 1e-5


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _stats(v):
    """(mean, 1/std) of the row v, accumulated in float64 (biased variance, + EPS)."""
    n = v.shape[0]
    s = 0.0
    for k in range(n):
        s += v[k]
    mean = s / n
    q = 0.0
    for k in range(n):
        d = v[k] - mean
        q += d * d
    return mean, 1.0 / np.sqrt(q / n + EPS)


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def normalise_rows(xw, w, b, xhat, rstd):
    """xw (T, B, F) -> LN(xw; w, b) in place; xhat (T, B, F) and rstd (T, B, 1) out."""
    T, B, F = xw.shape
    for t in range(T):
        for r in range(B):
            mean, rs = _stats(xw[t, r])
            rstd[t, r, 0] = rs
            for k in range(F):
                v = (xw[t, r, k] - mean) * rs
                xhat[t, r, k] = v
                xw[t, r, k] = v * w[k] + b[k]


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def forward_row(ln_x, a, bias, ln_hh_w, ln_hh_b, ln_c_w, ln_c_b, h, c, y, gates, hhat, h_rstd, chat, c_rstd,
                 tanh_n, h_prev, c_prev):
    """One (t, b) row: ln_x, a (4H,) in; h, c (H,) updated in place; y and the saved rows out."""
    H = h.shape[0]
    mean, rs = _stats(a)
    h_rstd[0] = rs
    for k in range(4 * H):
        hhat[k] = (a[k] - mean) * rs
    for j in range(H):
        i = sigmoid(ln_x[j] + hhat[j] * ln_hh_w[j] + ln_hh_b[j] + bias[j])
        f = sigmoid(ln_x[H + j] + hhat[H + j] * ln_hh_w[H + j] + ln_hh_b[H + j] + bias[H + j])
        g = tanh(ln_x[2 * H + j] + hhat[2 * H + j] * ln_hh_w[2 * H + j] + ln_hh_b[2 * H + j] + bias[2 * H + j])
        o = sigmoid(ln_x[3 * H + j] + hhat[3 * H + j] * ln_hh_w[3 * H + j] + ln_hh_b[3 * H + j] + bias[3 * H + j])
        gates[j] = i
        gates[H + j] = f
        gates[2 * H + j] = g
        gates[3 * H + j] = o
        h_prev[j] = h[j]
        c_prev[j] = c[j]
        c[j] = f * c[j] + i * g
    mean, rs = _stats(c)
    c_rstd[0] = rs
    for j in range(H):
        chat[j] = (c[j] - mean) * rs
        tanh_n[j] = tanh(chat[j] * ln_c_w[j] + ln_c_b[j])
        h[j] = gates[3 * H + j] * tanh_n[j]
        y[j] = h[j]


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _layer_norm_backward(dout, w, vhat, rstd, dv):
    """dv = rstd * (g - mean(g) - vhat * mean(g * vhat)), g = dout * w, over one row (means in float64)."""
    n = dout.shape[0]
    s = 0.0
    q = 0.0
    for k in range(n):
        g = dout[k] * w[k]
        s += g
        q += g * vhat[k]
    s /= n
    q /= n
    for k in range(n):
        dv[k] = rstd * (dout[k] * w[k] - s - vhat[k] * q)


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def backward_row(dy, gates, c_prev, chat, c_rstd, tanh_n, hhat, h_rstd, ln_c_w, ln_hh_w, dh, dc, da, da_h,
                  dln_c, dc_ln, one):
    """One (t, b) row: dh (H,) read, then 0; dc (H,) in place (-> d c_{t-1}); da, da_h (4H,), dln_c (H,) out."""
    H = dh.shape[0]
    for j in range(H):
        dln_c[j] = (dh[j] + dy[j]) * gates[3 * H + j] * (one - tanh_n[j] * tanh_n[j])
    _layer_norm_backward(dln_c, ln_c_w, chat, c_rstd[0], dc_ln)
    for j in range(H):
        i = gates[j]
        f = gates[H + j]
        g = gates[2 * H + j]
        o = gates[3 * H + j]
        dc_t = dc[j] + dc_ln[j]
        da[j] = dc_t * g * i * (one - i)
        da[H + j] = dc_t * c_prev[j] * f * (one - f)
        da[2 * H + j] = dc_t * i * (one - g * g)
        da[3 * H + j] = (dh[j] + dy[j]) * tanh_n[j] * o * (one - o)
        dc[j] = dc_t * f
        dh[j] = one - one       # h_{t-1} enters only through W_hh: the loop adds dh_rec
    _layer_norm_backward(da, ln_hh_w, hhat, h_rstd[0], da_h)


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def input_norm_backward(da, xhat, x_rstd, ln_ih_w, da_x):
    """da_x (T, B, 4H) = LN_ih's backward of da, row by row."""
    T, B, _ = da.shape
    for t in range(T):
        for b in range(B):
            _layer_norm_backward(da[t, b], ln_ih_w, xhat[t, b], x_rstd[t, b, 0], da_x[t, b])
