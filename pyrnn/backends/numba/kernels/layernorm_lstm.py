"""Layer-normalised LSTM time loops for the Numba backend (gate order i, f, g, o; see
pyrnn/reference/layernorm_lstm.py for the math).

Forward: the input projection's rows are normalised once for all T*B rows
(:func:`normalise_rows`); per step a = h @ W_hh^T (BLAS), then one pass per
batch row: the statistics of a, the gates, c, the statistics of c, h.
Backward per step: one pass per row (the layer norm of c backwards, the gate
gradients, the layer norm of W_hh h backwards), then dh = da_h[t] @ W_hh.
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
def _forward_row(ln_x, a, bias, ln_hh_w, ln_hh_b, ln_c_w, ln_c_b, h, c, y, gates, hhat, h_rstd, chat, c_rstd,
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
def layernorm_lstm_forward(ln_x, w_hh, bias, ln_hh_w, ln_hh_b, ln_c_w, ln_c_b, h, c, lengths, reverse, save, y,
                           gates, hhat, h_rstd, chat, c_rstd, tanh_n, h_prev, c_prev):
    """Run the recurrence; h and c (B, H) enter as h0/c0 and leave as h_n/c_n.

    ln_x (T, B, 4H) = LN(x W_ih^T; ln_ih) (normalise_rows); w_hh (4H, H); bias (4H,) = b_ih + b_hh
    (zeros without); lengths (B,) int64; y (T, B, H) out. When ``save``: gates, hhat (T, B, 4H),
    h_rstd, c_rstd (T, B, 1), chat, tanh_n, h_prev, c_prev (T, B, H) (else scratch, not read).
    """
    T, B, G = ln_x.shape
    H = G // 4
    a = np.empty((B, G), dtype=ln_x.dtype)
    s4 = np.empty((2, G), dtype=ln_x.dtype)
    sH = np.empty((4, H), dtype=ln_x.dtype)
    s1 = np.empty((2, 1), dtype=ln_x.dtype)
    h_keep = np.empty(H, dtype=ln_x.dtype)
    c_keep = np.empty(H, dtype=ln_x.dtype)
    for step in range(T):
        t = T - 1 - step if reverse else step
        np.dot(h, w_hh.T, a)
        for b in range(B):
            live = t < lengths[b]
            if not live:                 # padding: state held, y = 0
                h_keep[:] = h[b]
                c_keep[:] = c[b]
            if save:
                _forward_row(ln_x[t, b], a[b], bias, ln_hh_w, ln_hh_b, ln_c_w, ln_c_b, h[b], c[b], y[t, b],
                             gates[t, b], hhat[t, b], h_rstd[t, b], chat[t, b], c_rstd[t, b], tanh_n[t, b],
                             h_prev[t, b], c_prev[t, b])
            else:
                _forward_row(ln_x[t, b], a[b], bias, ln_hh_w, ln_hh_b, ln_c_w, ln_c_b, h[b], c[b], y[t, b],
                             s4[0], s4[1], s1[0], sH[0], s1[1], sH[1], sH[2], sH[3])
            if not live:
                h[b] = h_keep
                c[b] = c_keep
                y[t, b, :] = 0
                if save:
                    gates[t, b, :] = 0


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
def _backward_row(dy, gates, c_prev, chat, c_rstd, tanh_n, hhat, h_rstd, ln_c_w, ln_hh_w, dh, dc, da, da_h,
                  dln_c, dc_ln, one):
    """One (t, b) row: dh (H,) read, dc (H,) in place (-> d c_{t-1}); da, da_h (4H,), dln_c (H,) out."""
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
    _layer_norm_backward(da, ln_hh_w, hhat, h_rstd[0], da_h)


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def layernorm_lstm_backward(dy, gates, c_prev, chat, c_rstd, tanh_n, hhat, h_rstd, ln_c_w, ln_hh_w, w_hh,
                            lengths, reverse, dh, dc, da, da_h, dln_c, one):
    """BPTT; dh and dc (B, H) enter as dh_n/dc_n and leave as dh0/dc0.

    dy (T, B, H); the saved rows of layernorm_lstm_forward; out: da (T, B, 4H) d loss / d gate
    pre-activations, da_h (T, B, 4H) d loss / d (W_hh h_{t-1}), dln_c (T, B, H) d loss / d LN(c_t)
    (all zero at padded steps).
    """
    T, B, G = gates.shape
    H = G // 4
    dh_rec = np.empty_like(dh)
    dc_ln = np.empty(H, dtype=dy.dtype)
    for step in range(T):
        t = step if reverse else T - 1 - step
        for b in range(B):
            if t >= lengths[b]:
                da[t, b, :] = 0
                da_h[t, b, :] = 0
                dln_c[t, b, :] = 0
            else:
                _backward_row(dy[t, b], gates[t, b], c_prev[t, b], chat[t, b], c_rstd[t, b], tanh_n[t, b],
                              hhat[t, b], h_rstd[t, b], ln_c_w, ln_hh_w, dh[b], dc[b], da[t, b], da_h[t, b],
                              dln_c[t, b], dc_ln, one)
        np.dot(da_h[t], w_hh, dh_rec)
        for b in range(B):
            if t < lengths[b]:
                dh[b, :] = dh_rec[b, :]


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def input_norm_backward(da, xhat, x_rstd, ln_ih_w, da_x):
    """da_x (T, B, 4H) = LN_ih's backward of da, row by row."""
    T, B, _ = da.shape
    for t in range(T):
        for b in range(B):
            _layer_norm_backward(da[t, b], ln_ih_w, xhat[t, b], x_rstd[t, b, 0], da_x[t, b])
