"""Pieces every reference cell shares: masks, time order, the big GEMMs.

Layout (the same in every backend): T time, B batch, I input, H hidden,
G gates (1 RNN, 3 GRU, 4 LSTM); row-major, last index fastest.
"""
import numpy as np


def step_mask(lengths, T, B):
    """Which (t, b) are real steps: (T, B, 1) bool, True where t < lengths[b].

    lengths: (B,) ints in [1, T], or None for "every sequence has length T".
    Padded steps hold the state unchanged and emit y = 0, so a reverse pass
    that walks t = T-1 .. 0 starts at each sequence's own last step.
    """
    if lengths is None:
        return np.ones((T, B, 1), dtype=bool)
    return (np.arange(T)[:, None] < np.asarray(lengths)[None, :])[:, :, None]


def time_steps(T, reverse):
    """The order in which a direction visits time steps."""
    return range(T - 1, -1, -1) if reverse else range(T)


def input_projection(x, w_ih, *biases):
    """One GEMM for all T*B rows: x @ w_ih^T + sum(biases).

    x (T, B, I), w_ih (G*H, I), each bias (G*H,) or None -> (T, B, G*H).
    """
    T, B, I = x.shape
    xw = (x.reshape(T * B, I) @ w_ih.T).reshape(T, B, -1)
    for b in biases:
        if b is not None:
            xw += b
    return xw


def weight_grads(d_in, d_hid, x, h_prev, has_bias):
    """Weight gradients as single large GEMMs over the whole sequence.

    d_in  (T, B, G*H): gradient w.r.t. the input pre-activations (x @ w_ih^T + b_ih)
    d_hid (T, B, G*H): gradient w.r.t. the recurrent pre-activations (h @ w_hh^T + b_hh)
    x (T, B, I), h_prev (T, B, H): the step inputs.
    Returns (dw_ih (G*H, I), dw_hh (G*H, H), db_ih (G*H,) | None, db_hh (G*H,) | None).
    """
    G = d_in.shape[-1]
    dw_ih = d_in.reshape(-1, G).T @ x.reshape(-1, x.shape[-1])
    dw_hh = d_hid.reshape(-1, G).T @ h_prev.reshape(-1, h_prev.shape[-1])
    if not has_bias:
        return dw_ih, dw_hh, None, None
    return dw_ih, dw_hh, d_in.sum(axis=(0, 1)), d_hid.sum(axis=(0, 1))


def input_grad(d_in, w_ih):
    """dx (T, B, I) = d_in (T, B, G*H) @ w_ih (G*H, I), as one GEMM over all T*B rows."""
    T, B, G = d_in.shape
    return (d_in.reshape(T * B, G) @ w_ih).reshape(T, B, -1)
