"""GRU, one layer, one direction: the specification, exactly as PyTorch/cuDNN.

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)          gates stacked r, z, n
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))       (r applied AFTER W_hn h + b_hn)
    h' = (1 - z) * n + z * h
"""
import numpy as np

from ._common import input_grad, input_projection, step_mask, time_steps, weight_grads
from .activations import dsigmoid_from_output, dtanh_from_output, sigmoid, tanh


def forward(x, h0, w_ih, w_hh, b_ih, b_hh, lengths=None, reverse=False):
    """Run the GRU over a sequence.

    x (T, B, I), h0 (B, H), w_ih (3H, I), w_hh (3H, H), b_ih/b_hh (3H,) or None,
    lengths (B,) ints in [1, T] or None, reverse: walk t = T-1 .. 0.
    Returns y (T, B, H), h_n (B, H), saved.
    """
    T, B, _ = x.shape
    H = h0.shape[1]
    mask = step_mask(lengths, T, B)                 # (T, B, 1)
    # b_hh cannot be folded into the input projection: r multiplies W_hn h + b_hn.
    xw = input_projection(x, w_ih, b_ih)            # (T, B, 3H)
    gates = np.empty_like(xw)                       # (T, B, 3H) activated r, z, n
    y = np.zeros((T, B, H), dtype=x.dtype)
    h_prev = np.empty_like(y)                       # (T, B, H) state entering step t
    hn = np.empty_like(y)                           # (T, B, H) W_hn h + b_hn
    h = h0
    for t in time_steps(T, reverse):
        hw = h @ w_hh.T                             # (B, 3H)
        if b_hh is not None:
            hw += b_hh
        r = sigmoid(xw[t, :, :H] + hw[:, :H])
        z = sigmoid(xw[t, :, H:2 * H] + hw[:, H:2 * H])
        n = tanh(xw[t, :, 2 * H:] + r * hw[:, 2 * H:])
        h_new = (1 - z) * n + z * h
        gates[t] = np.concatenate([r, z, n], axis=1)
        h_prev[t], hn[t] = h, hw[:, 2 * H:]
        h = np.where(mask[t], h_new, h)
        y[t] = np.where(mask[t], h_new, 0)
    saved = dict(x=x, h_prev=h_prev, gates=gates, hn=hn, mask=mask, reverse=reverse,
                 w_ih=w_ih, w_hh=w_hh, has_bias=b_ih is not None)
    return y, h, saved


def backward(saved, dy, dh_n):
    """BPTT through one forward.

    dy (T, B, H) (ignored at padded steps), dh_n (B, H).
    Returns dx (T, B, I), dh0 (B, H), (dw_ih, dw_hh, db_ih, db_hh).
    """
    mask, gates, w_hh = saved["mask"], saved["gates"], saved["w_hh"]
    T, _, H = saved["hn"].shape
    d_in = np.zeros_like(gates)      # (T, B, 3H) d loss / d (W_ih x + b_ih)
    d_hid = np.zeros_like(gates)     # (T, B, 3H) d loss / d (W_hh h + b_hh)
    dh = dh_n
    for t in reversed(time_steps(T, saved["reverse"])):
        r, z, n = gates[t, :, :H], gates[t, :, H:2 * H], gates[t, :, 2 * H:]
        h_prev = saved["h_prev"][t]
        dh_t = dh + dy[t] * mask[t]
        da_n = dh_t * (1 - z) * dtanh_from_output(n)
        da_r = da_n * saved["hn"][t] * dsigmoid_from_output(r)
        da_z = dh_t * (h_prev - n) * dsigmoid_from_output(z)
        d_in[t] = np.concatenate([da_r, da_z, da_n], axis=1) * mask[t]
        d_hid[t] = np.concatenate([da_r, da_z, da_n * r], axis=1) * mask[t]
        dh = np.where(mask[t], d_hid[t] @ w_hh + dh_t * z, dh)
    dx = input_grad(d_in, saved["w_ih"])
    dweights = weight_grads(d_in, d_hid, saved["x"], saved["h_prev"], saved["has_bias"])
    return dx, dh, dweights
