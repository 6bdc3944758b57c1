"""Layer-normalised LSTM (Ba et al. 2016, the form haste ships), one layer, one direction: the specification.

    LN(v; w, b) = (v - mean(v)) / sqrt(var(v) + 1e-5) * w + b     over the last axis, biased variance
    a = LN(W_ih x_t; ln_ih) + LN(W_hh h_{t-1}; ln_hh) + b_ih + b_hh   (4H, gates i, f, g, o)
    i, f, o = sigmoid(a_i, a_f, a_o), g = tanh(a_g)
    c_t = f * c_{t-1} + i * g                   (c_t, not its normalisation, is carried)
    h_t = o * tanh(LN(c_t; ln_c))

Parameters (weights order): w_ih (4H, I), w_hh (4H, H), b_ih, b_hh (4H,) or None,
ln_ih_w, ln_ih_b, ln_hh_w, ln_hh_b (4H,), ln_c_w, ln_c_b (H,).
"""
import numpy as np

from ._common import input_grad, step_mask, time_steps
from .activations import dsigmoid_from_output, dtanh_from_output, sigmoid, tanh

EPS = 1e-5


def layer_norm(v, w, b):
    """LN over the last axis: returns (LN(v), vhat, rstd) with vhat = (v - mean) * rstd, rstd (..., 1).

    The row statistics (mean, 1/std, vhat) are computed in float64 and then rounded to v's dtype:
    in float32 their rounding, amplified through BPTT and the layers above, left the float32
    gradients ~5x further from the float64 result than a float32 torch loop's (measured, 2 layers).
    """
    v64 = v.astype(np.float64)
    centred = v64 - v64.mean(axis=-1, keepdims=True)
    rstd = 1 / np.sqrt((centred * centred).mean(axis=-1, keepdims=True) + EPS)
    vhat = (centred * rstd).astype(v.dtype)
    return vhat * w + b, vhat, rstd.astype(v.dtype)


def layer_norm_backward(dout, vhat, rstd, w):
    """d loss / d v of LN, given d loss / d LN(v) = dout: rstd * (g - mean(g) - vhat * mean(g * vhat)), g = dout * w."""
    g = dout * w
    return rstd * (g - g.mean(axis=-1, keepdims=True) - vhat * (g * vhat).mean(axis=-1, keepdims=True))


def forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, ln_ih_w, ln_ih_b, ln_hh_w, ln_hh_b, ln_c_w, ln_c_b,
            lengths=None, reverse=False):
    """Run the layer-normalised LSTM over a sequence.

    x (T, B, I), h0/c0 (B, H); weights as in the module docstring; lengths (B,) ints in [1, T]
    or None (padded steps hold h and c, y = 0); reverse: walk t = T-1 .. 0.
    Returns y (T, B, H), h_n (B, H), c_n (B, H), saved.
    """
    T, B, I = x.shape
    H = h0.shape[1]
    mask = step_mask(lengths, T, B)                                    # (T, B, 1)
    ln_x, xhat, x_rstd = layer_norm((x.reshape(T * B, I) @ w_ih.T).reshape(T, B, 4 * H), ln_ih_w, ln_ih_b)
    bias = sum(b for b in (b_ih, b_hh) if b is not None)
    gates = np.empty((T, B, 4 * H), dtype=x.dtype)                     # activated i, f, g, o
    hhat = np.empty_like(gates)                                        # normalised W_hh h_{t-1}
    h_rstd = np.empty((T, B, 1), dtype=x.dtype)
    chat = np.empty((T, B, H), dtype=x.dtype)                          # normalised c_t
    c_rstd = np.empty((T, B, 1), dtype=x.dtype)
    tanh_n = np.empty((T, B, H), dtype=x.dtype)                        # tanh(LN(c_t))
    h_prev, c_prev = np.empty_like(chat), np.empty_like(chat)
    y = np.zeros((T, B, H), dtype=x.dtype)
    h, c = h0, c0
    for t in time_steps(T, reverse):
        ln_h, hhat[t], h_rstd[t] = layer_norm(h @ w_hh.T, ln_hh_w, ln_hh_b)
        a = ln_x[t] + ln_h + bias
        i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
        g, o = tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
        c_new = f * c + i * g
        ln_c, chat[t], c_rstd[t] = layer_norm(c_new, ln_c_w, ln_c_b)
        tanh_n[t] = tanh(ln_c)
        h_new = o * tanh_n[t]
        gates[t] = np.concatenate([i, f, g, o], axis=1)
        h_prev[t], c_prev[t] = h, c
        h = np.where(mask[t], h_new, h)
        c = np.where(mask[t], c_new, c)
        y[t] = np.where(mask[t], h_new, 0)
    saved = dict(x=x, mask=mask, reverse=reverse, w_ih=w_ih, w_hh=w_hh, has_bias=b_ih is not None,
                 ln_ih_w=ln_ih_w, ln_hh_w=ln_hh_w, ln_c_w=ln_c_w, xhat=xhat, x_rstd=x_rstd, hhat=hhat,
                 h_rstd=h_rstd, chat=chat, c_rstd=c_rstd, tanh_n=tanh_n, gates=gates, h_prev=h_prev,
                 c_prev=c_prev)
    return y, h, c, saved


def backward(saved, dy, dh_n, dc_n):
    """BPTT through one forward.

    dy (T, B, H) (ignored at padded steps), dh_n/dc_n (B, H).
    Returns dx (T, B, I), dh0 (B, H), dc0 (B, H) and the gradients in weights order:
    (dw_ih, dw_hh, db_ih | None, db_hh | None, dln_ih_w, dln_ih_b, dln_hh_w, dln_hh_b, dln_c_w, dln_c_b).
    """
    s = saved
    mask, gates, w_hh = s["mask"], s["gates"], s["w_hh"]
    T, B, H = s["chat"].shape
    da = np.zeros_like(gates)               # (T, B, 4H) d loss / d a_t (the gate pre-activations)
    da_h = np.zeros_like(gates)             # (T, B, 4H) d loss / d (W_hh h_{t-1}), through LN_hh
    dln_c = np.zeros((T, B, H), dtype=dy.dtype)   # d loss / d LN(c_t)
    dh, dc = dh_n, dc_n
    for t in reversed(time_steps(T, s["reverse"])):
        i, f = gates[t, :, :H], gates[t, :, H:2 * H]
        g, o = gates[t, :, 2 * H:3 * H], gates[t, :, 3 * H:]
        tn = s["tanh_n"][t]
        dh_t = (dh + dy[t]) * mask[t]
        dln_c[t] = dh_t * o * dtanh_from_output(tn)
        dc_t = dc + layer_norm_backward(dln_c[t], s["chat"][t], s["c_rstd"][t], s["ln_c_w"]) * mask[t]
        da[t] = np.concatenate([
            dc_t * g * dsigmoid_from_output(i),
            dc_t * s["c_prev"][t] * dsigmoid_from_output(f),
            dc_t * i * dtanh_from_output(g),
            dh_t * tn * dsigmoid_from_output(o),
        ], axis=1) * mask[t]
        da_h[t] = layer_norm_backward(da[t], s["hhat"][t], s["h_rstd"][t], s["ln_hh_w"])
        dh = np.where(mask[t], da_h[t] @ w_hh, dh)
        dc = np.where(mask[t], dc_t * f, dc)
    da_x = layer_norm_backward(da, s["xhat"], s["x_rstd"], s["ln_ih_w"])     # (T, B, 4H)
    dx = input_grad(da_x, s["w_ih"])
    dw_ih, dw_hh = _rows(da_x).T @ _rows(s["x"]), _rows(da_h).T @ _rows(s["h_prev"])
    db = da.sum(axis=(0, 1)) if s["has_bias"] else None
    dweights = (dw_ih, dw_hh, db, None if db is None else db.copy(), *_affine_grads(da, s["xhat"]),
                *_affine_grads(da, s["hhat"]), *_affine_grads(dln_c, s["chat"]))
    return dx, dh, dc, dweights


def _rows(a):
    """(T, B, F) -> (T*B, F)."""
    return a.reshape(-1, a.shape[-1])


def _affine_grads(dout, vhat):
    """(d LN weight, d LN bias) summed over every (t, b): sum dout * vhat, sum dout."""
    return (dout * vhat).sum(axis=(0, 1)), dout.sum(axis=(0, 1))
