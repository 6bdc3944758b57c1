"""Vanilla (Elman) RNN, one layer, one direction: the specification.

    h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),   f = tanh or relu
"""
import numpy as np

from ._common import input_grad, input_projection, step_mask, time_steps, weight_grads
from .activations import NONLINEARITIES


def forward(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh", lengths=None, reverse=False):
    """Run the RNN over a sequence.

    x (T, B, I), h0 (B, H), w_ih (H, I), w_hh (H, H), b_ih/b_hh (H,) or None,
    lengths (B,) ints in [1, T] or None, reverse: walk t = T-1 .. 0.
    Returns y (T, B, H), h_n (B, H), saved (what backward needs).
    """
    act, _ = NONLINEARITIES[nonlinearity]
    T, B, _ = x.shape
    mask = step_mask(lengths, T, B)                # (T, B, 1)
    xw = input_projection(x, w_ih, b_ih, b_hh)     # (T, B, H)
    y = np.zeros(xw.shape, dtype=x.dtype)          # (T, B, H)
    h_prev = np.empty_like(y)                      # (T, B, H) state entering step t
    h_out = np.empty_like(y)                       # (T, B, H) f(a_t), before masking
    h = h0
    for t in time_steps(T, reverse):
        h_prev[t] = h
        h_new = act(xw[t] + h @ w_hh.T)
        h_out[t] = h_new
        h = np.where(mask[t], h_new, h)
        y[t] = np.where(mask[t], h_new, 0)
    saved = dict(x=x, h_prev=h_prev, h_out=h_out, mask=mask, reverse=reverse,
                 w_ih=w_ih, w_hh=w_hh, has_bias=b_ih is not None, nonlinearity=nonlinearity)
    return y, h, saved


def backward(saved, dy, dh_n):
    """BPTT through one forward.

    dy (T, B, H) (ignored at padded steps), dh_n (B, H).
    Returns dx (T, B, I), dh0 (B, H), (dw_ih, dw_hh, db_ih, db_hh).
    """
    _, act_backward = NONLINEARITIES[saved["nonlinearity"]]
    mask, h_out, w_hh = saved["mask"], saved["h_out"], saved["w_hh"]
    T = mask.shape[0]
    da_all = np.zeros_like(h_out)                  # (T, B, H) d loss / d a_t
    dh = dh_n
    for t in reversed(time_steps(T, saved["reverse"])):
        da = act_backward(h_out[t], dh + dy[t] * mask[t]) * mask[t]
        da_all[t] = da
        dh = np.where(mask[t], da @ w_hh, dh)
    dx = input_grad(da_all, saved["w_ih"])
    dweights = weight_grads(da_all, da_all, saved["x"], saved["h_prev"], saved["has_bias"])
    return dx, dh, dweights
