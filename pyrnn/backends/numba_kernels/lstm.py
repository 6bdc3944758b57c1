"""LSTM time loops for the Numba backend (gate order i, f, g, o).

Forward, per step t: a = h @ W_hh^T (recurrent product), then ONE fused pass
over (b, j) that adds the precomputed input projection xw[t], applies every
gate activation, updates c and h, writes y and, when training, what backward
needs. Backward, per step: one fused pass for all gate gradients, then
dh_prev = dgates[t] @ W_hh. The input projection and the weight gradients
are single large GEMMs outside (pyrnn/backends/numba_cpu.py).
"""
from numba import njit

from .activations import sigmoid, tanh
from .matmul import matmul_into


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def lstm_forward(xw, w_hh_t, h, c, lengths, reverse, save, y, gates, h_prev, c_prev, tanh_c, a, one):
    """Run the recurrence; h and c (B, H) enter as h0/c0 and leave as h_n/c_n.

    xw (T, B, 4H) = x @ W_ih^T + b_ih + b_hh; w_hh_t (H, 4H) = W_hh^T;
    lengths (B,) int64; y (T, B, H) out; when ``save``: gates (T, B, 4H)
    activated i, f, g, o, h_prev/c_prev (T, B, H) states entering step t,
    tanh_c (T, B, H); a (B, 4H) scratch; one = 1 in the arrays' dtype.
    """
    T, B, G = xw.shape
    H = G // 4
    for step in range(T):
        t = T - 1 - step if reverse else step
        matmul_into(h, w_hh_t, a)
        for b in range(B):
            if t >= lengths[b]:          # padding: state held, y = 0
                y[t, b, :] = 0
                if save:
                    gates[t, b, :] = 0
                    h_prev[t, b, :] = h[b, :]
                continue
            for j in range(H):
                i = sigmoid(xw[t, b, j] + a[b, j])
                f = sigmoid(xw[t, b, H + j] + a[b, H + j])
                g = tanh(xw[t, b, 2 * H + j] + a[b, 2 * H + j])
                o = sigmoid(xw[t, b, 3 * H + j] + a[b, 3 * H + j])
                c_new = f * c[b, j] + i * g
                tc = tanh(c_new)
                h_new = o * tc
                if save:
                    gates[t, b, j] = i
                    gates[t, b, H + j] = f
                    gates[t, b, 2 * H + j] = g
                    gates[t, b, 3 * H + j] = o
                    h_prev[t, b, j] = h[b, j]
                    c_prev[t, b, j] = c[b, j]
                    tanh_c[t, b, j] = tc
                c[b, j] = c_new
                h[b, j] = h_new
                y[t, b, j] = h_new


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def lstm_backward(dy, gates, c_prev, tanh_c, w_hh, lengths, reverse, dh, dc, dgates, dh_rec, one):
    """BPTT; dh and dc (B, H) enter as dh_n/dc_n and leave as dh0/dc0.

    dy (T, B, H); saved gates/c_prev/tanh_c from lstm_forward; w_hh (4H, H);
    dgates (T, B, 4H) out: d loss / d pre-activations; dh_rec (B, H) scratch.
    """
    T, B, G = gates.shape
    H = G // 4
    for step in range(T):
        t = step if reverse else T - 1 - step
        for b in range(B):
            if t >= lengths[b]:
                dgates[t, b, :] = 0
                continue
            for j in range(H):
                i = gates[t, b, j]
                f = gates[t, b, H + j]
                g = gates[t, b, 2 * H + j]
                o = gates[t, b, 3 * H + j]
                tc = tanh_c[t, b, j]
                dh_t = dh[b, j] + dy[t, b, j]
                dc_t = dc[b, j] + dh_t * o * (one - tc * tc)
                dgates[t, b, j] = dc_t * g * i * (one - i)
                dgates[t, b, H + j] = dc_t * c_prev[t, b, j] * f * (one - f)
                dgates[t, b, 2 * H + j] = dc_t * i * (one - g * g)
                dgates[t, b, 3 * H + j] = dh_t * tc * o * (one - o)
                dc[b, j] = dc_t * f
        matmul_into(dgates[t], w_hh, dh_rec)
        for b in range(B):
            if t < lengths[b]:
                dh[b, :] = dh_rec[b, :]
