"""LSTM time loops for the Numba backend (gate order i, f, g, o).

Forward, per step t: a = h @ W_hh^T (one BLAS call, W_hh passed transposed, no copy), then ONE fused pass per
batch row that adds the precomputed input projection xw[t], applies every
gate activation, updates c and h, writes y and what backward needs. Backward,
per step: one fused pass for all gate gradients, then dh = dgates[t] @ W_hh.
The input projection and the weight gradients are single large GEMMs done
outside (pyrnn/backends/numba/backend.py).
"""
import numpy as np
from numba import njit

from .activations import sigmoid, tanh


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _forward_row(xw, a, h, c, y, gates, h_prev, c_prev, tanh_c):
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
def lstm_forward(xw, w_hh, h, c, lengths, reverse, save, y, gates, h_prev, c_prev, tanh_c):
    """Run the recurrence; h and c (B, H) enter as h0/c0 and leave as h_n/c_n.

    xw (T, B, 4H) = x @ W_ih^T + b_ih + b_hh; w_hh (4H, H);
    lengths (B,) int64; y (T, B, H) out; when ``save``: gates (T, B, 4H)
    activated i, f, g, o, h_prev/c_prev (T, B, H) states entering step t,
    tanh_c (T, B, H) (otherwise these may be empty and are not touched).
    """
    T, B, G = xw.shape
    H = G // 4
    scratch_g = np.empty(G, dtype=xw.dtype)
    scratch_h = np.empty((3, H), dtype=xw.dtype)
    a = np.empty((B, G), dtype=xw.dtype)
    for step in range(T):
        t = T - 1 - step if reverse else step
        np.dot(h, w_hh.T, a)
        for b in range(B):
            if t >= lengths[b]:          # padding: state held, y = 0
                y[t, b, :] = 0
                if save:
                    gates[t, b, :] = 0
                    h_prev[t, b, :] = h[b, :]
            elif save:
                _forward_row(xw[t, b], a[b], h[b], c[b], y[t, b], gates[t, b], h_prev[t, b],
                             c_prev[t, b], tanh_c[t, b])
            else:
                _forward_row(xw[t, b], a[b], h[b], c[b], y[t, b], scratch_g, scratch_h[0],
                             scratch_h[1], scratch_h[2])


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _backward_row(dy, gates, c_prev, tanh_c, dh, dc, dgates, one):
    """One (t, b) row: dh, dc (H,) in place (dc -> d c_{t-1}); dgates (4H,) out."""
    H = dh.shape[0]
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


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def lstm_backward(dy, gates, c_prev, tanh_c, w_hh, lengths, reverse, dh, dc, dgates, one):
    """BPTT; dh and dc (B, H) enter as dh_n/dc_n and leave as dh0/dc0.

    dy (T, B, H); saved gates/c_prev/tanh_c from lstm_forward; w_hh (4H, H);
    dgates (T, B, 4H) out: d loss / d pre-activations; one = 1 in the dtype.
    """
    T, B, G = gates.shape
    dh_rec = np.empty_like(dh)
    for step in range(T):
        t = step if reverse else T - 1 - step
        for b in range(B):
            if t >= lengths[b]:
                dgates[t, b, :] = 0
            else:
                _backward_row(dy[t, b], gates[t, b], c_prev[t, b], tanh_c[t, b], dh[b], dc[b],
                              dgates[t, b], one)
        np.dot(dgates[t], w_hh, dh_rec)
        for b in range(B):
            if t < lengths[b]:
                dh[b, :] = dh_rec[b, :]


# -- with projections (torch.nn's proj_size): h_t = W_hr m_t, m_t = o * tanh(c_t); h (B, P), c (B, H)

@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _projected_row(xw, a, c, m, gates, c_prev, tanh_c):
    """One (t, b) row: xw, a, gates (4H,); c (H,) updated in place; m, c_prev, tanh_c (H,) out."""
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


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def lstmp_forward(xw, w_hh, w_hr, h, c, lengths, reverse, save, y, gates, h_prev, c_prev, tanh_c, m):
    """The projected recurrence; h (B, P) and c (B, H) enter as h0/c0 and leave as h_n/c_n.

    xw (T, B, 4H) = x @ W_ih^T + b_ih + b_hh; w_hh (4H, P); w_hr (P, H); y (T, B, P) out;
    when ``save``: gates (T, B, 4H), h_prev (T, B, P), c_prev, tanh_c and m = o * tanh(c_t)
    (T, B, H; zero at padded steps) (otherwise these may be empty and are not touched).
    Per step: a = h @ W_hh^T, one fused pass per row giving m, then h = m @ W_hr^T (BLAS).
    """
    T, B, G = xw.shape
    H = G // 4
    scratch_g = np.empty(G, dtype=xw.dtype)
    scratch_h = np.empty((2, H), dtype=xw.dtype)
    a = np.empty((B, G), dtype=xw.dtype)
    m_t = np.zeros((B, H), dtype=xw.dtype)
    h_new = np.empty_like(h)
    for step in range(T):
        t = T - 1 - step if reverse else step
        np.dot(h, w_hh.T, a)
        for b in range(B):
            if t >= lengths[b]:          # padding: state held, y = 0, nothing for dW_hr
                m_t[b, :] = 0
                if save:
                    gates[t, b, :] = 0
                    c_prev[t, b, :] = 0
                    tanh_c[t, b, :] = 0
            elif save:
                _projected_row(xw[t, b], a[b], c[b], m_t[b], gates[t, b], c_prev[t, b], tanh_c[t, b])
            else:
                _projected_row(xw[t, b], a[b], c[b], m_t[b], scratch_g, scratch_h[0], scratch_h[1])
        np.dot(m_t, w_hr.T, h_new)
        for b in range(B):
            if save:
                h_prev[t, b, :] = h[b, :]
                m[t, b, :] = m_t[b, :]
            if t >= lengths[b]:
                y[t, b, :] = 0
            else:
                h[b, :] = h_new[b, :]
                y[t, b, :] = h_new[b, :]


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def lstmp_backward(dy, gates, c_prev, tanh_c, w_hh, w_hr, lengths, reverse, dh, dc, dgates, dh_out, one):
    """BPTT of the projected LSTM; dh (B, P) and dc (B, H) enter as dh_n/dc_n and leave as dh0/dc0.

    dy (T, B, P); saved gates/c_prev/tanh_c from lstmp_forward; w_hh (4H, P); w_hr (P, H);
    out: dgates (T, B, 4H) d loss / d pre-activations and dh_out (T, B, P) d loss / d h_t (zero
    at padded steps; dW_hr = dh_out^T m over all rows). Per step: dm = dh_t @ W_hr (BLAS), the
    LSTM's fused gradient row with dm in place of dh, then dh = dgates[t] @ W_hh.
    """
    T, B, G = gates.shape
    H = G // 4
    dm = np.empty((B, H), dtype=dy.dtype)
    no_dy = np.zeros(H, dtype=dy.dtype)      # dy is already in dm
    dh_rec = np.empty_like(dh)
    for step in range(T):
        t = step if reverse else T - 1 - step
        for b in range(B):
            if t >= lengths[b]:
                dh_out[t, b, :] = 0
            else:
                dh_out[t, b, :] = dh[b, :] + dy[t, b, :]
        np.dot(dh_out[t], w_hr, dm)
        for b in range(B):
            if t >= lengths[b]:
                dgates[t, b, :] = 0
            else:
                _backward_row(no_dy, gates[t, b], c_prev[t, b], tanh_c[t, b], dm[b], dc[b], dgates[t, b], one)
        np.dot(dgates[t], w_hh, dh_rec)
        for b in range(B):
            if t < lengths[b]:
                dh[b, :] = dh_rec[b, :]
