"""LSTM, one layer, one direction: the specification (PyTorch gate order i, f, g, o).

    i = sigmoid(a_i)  f = sigmoid(a_f)  g = tanh(a_g)  o = sigmoid(a_o)
    a = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh          (4H gates stacked i, f, g, o)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)                                 (no projection)
    h_t = W_hr (o * tanh(c_t))                          (with projections, torch.nn's proj_size)

With projections the state h and the output y have P = proj_size units
(w_hr (P, H), w_hh (4H, P)); the cell state c keeps H. Without, P = H.
"""
import numpy as np

from ._common import input_grad, input_projection, step_mask, time_steps, weight_grads
from .activations import dsigmoid_from_output, dtanh_from_output, sigmoid, tanh


def forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr=None, lengths=None, reverse=False):
    """Run the LSTM over a sequence.

    x (T, B, I), h0 (B, P), c0 (B, H), w_ih (4H, I), w_hh (4H, P), b_ih/b_hh (4H,) or None,
    w_hr (P, H) or None (no projection: P = H), lengths (B,) ints in [1, T] or None,
    reverse: walk t = T-1 .. 0.
    Returns y (T, B, P), h_n (B, P), c_n (B, H), saved.
    """
    T, B, _ = x.shape
    H, P = c0.shape[1], h0.shape[1]
    mask = step_mask(lengths, T, B)                 # (T, B, 1)
    xw = input_projection(x, w_ih, b_ih, b_hh)      # (T, B, 4H)
    gates = np.empty_like(xw)                       # (T, B, 4H) activated i, f, g, o
    y = np.zeros((T, B, P), dtype=x.dtype)
    h_prev = np.empty((T, B, P), dtype=x.dtype)     # state entering step t
    c_prev = np.empty((T, B, H), dtype=x.dtype)
    tanh_c = np.empty_like(c_prev)                  # (T, B, H) tanh(c_t), before masking
    m = np.zeros_like(c_prev)                       # (T, B, H) o * tanh(c_t), what W_hr projects
    h, c = h0, c0
    for t in time_steps(T, reverse):
        a = xw[t] + h @ w_hh.T
        i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
        g, o = tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
        c_new = f * c + i * g
        tc = tanh(c_new)
        m_t = o * tc
        h_new = m_t if w_hr is None else m_t @ w_hr.T
        m[t] = np.where(mask[t], m_t, 0)        # padded steps add nothing to dW_hr, not even NaN
        gates[t] = np.concatenate([i, f, g, o], axis=1)
        h_prev[t], c_prev[t], tanh_c[t] = h, c, tc
        h = np.where(mask[t], h_new, h)
        c = np.where(mask[t], c_new, c)
        y[t] = np.where(mask[t], h_new, 0)
    saved = dict(x=x, h_prev=h_prev, c_prev=c_prev, gates=gates, tanh_c=tanh_c, m=m, mask=mask,
                 reverse=reverse, w_ih=w_ih, w_hh=w_hh, w_hr=w_hr, has_bias=b_ih is not None)
    return y, h, c, saved


def backward(saved, dy, dh_n, dc_n):
    """BPTT through one forward.

    dy (T, B, P) (ignored at padded steps), dh_n (B, P), dc_n (B, H).
    Returns dx (T, B, I), dh0 (B, P), dc0 (B, H), (dw_ih, dw_hh, db_ih, db_hh) and, with
    projections, dw_hr (P, H) after them.
    """
    mask, gates, w_hh, w_hr = saved["mask"], saved["gates"], saved["w_hh"], saved["w_hr"]
    T, _, H = saved["tanh_c"].shape
    dgates = np.zeros_like(gates)                   # (T, B, 4H) d loss / d a_t
    dh_out = np.zeros(saved["h_prev"].shape, dtype=dy.dtype)   # (T, B, P) d loss / d h_t
    dh, dc = dh_n, dc_n
    for t in reversed(time_steps(T, saved["reverse"])):
        i, f = gates[t, :, :H], gates[t, :, H:2 * H]
        g, o = gates[t, :, 2 * H:3 * H], gates[t, :, 3 * H:]
        tc = saved["tanh_c"][t]
        dh_t = (dh + dy[t]) * mask[t]
        dh_out[t] = dh_t
        dm = dh_t if w_hr is None else dh_t @ w_hr          # (B, H) d loss / d (o * tanh c_t)
        dc_t = dc + dm * o * dtanh_from_output(tc)
        da = np.concatenate([
            dc_t * g * dsigmoid_from_output(i),
            dc_t * saved["c_prev"][t] * dsigmoid_from_output(f),
            dc_t * i * dtanh_from_output(g),
            dm * tc * dsigmoid_from_output(o),
        ], axis=1) * mask[t]
        dgates[t] = da
        dh = np.where(mask[t], da @ w_hh, dh)
        dc = np.where(mask[t], dc_t * f, dc)
    dx = input_grad(dgates, saved["w_ih"])
    dweights = weight_grads(dgates, dgates, saved["x"], saved["h_prev"], saved["has_bias"])
    if w_hr is not None:    # dW_hr = sum over t, b of dh_t m_t^T, one GEMM
        P = w_hr.shape[0]
        dweights += (dh_out.reshape(-1, P).T @ saved["m"].reshape(-1, H),)
    return dx, dh, dc, dweights
