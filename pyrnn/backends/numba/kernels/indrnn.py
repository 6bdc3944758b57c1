"""IndRNN's rows for the Numba loop (loop.py): h' = f(xw + u * h), f = tanh | relu, u (H,) elementwise.

The recurrence is pointwise, so the loop runs no per-step product: the rows
read u * h themselves, and in backward leave the carried dh = da * u.
"""
from numba import njit

from .activations import tanh


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def forward_row_tanh(xw, u, h, y, h_prev, h_out):
    """One (t, b) row: xw, u (H,) in; h (H,) in place; y, h_prev, h_out (H,) out."""
    for j in range(h.shape[0]):
        h_new = tanh(xw[j] + u[j] * h[j])
        h_prev[j] = h[j]
        h_out[j] = h_new
        h[j] = h_new
        y[j] = h_new


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def forward_row_relu(xw, u, h, y, h_prev, h_out, zero):
    for j in range(h.shape[0]):
        pre = xw[j] + u[j] * h[j]
        # typed zero: max(pre, 0) would promote float32 to float64; NaN stays NaN, as torch's relu
        h_new = zero if pre < zero else pre
        h_prev[j] = h[j]
        h_out[j] = h_new
        h[j] = h_new
        y[j] = h_new


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def backward_row_tanh(dy, h_out, u, dh, da, one):
    """One (t, b) row: da (H,) out; dh (H,) in place -> d h_{t-1} = da * u."""
    for j in range(dh.shape[0]):
        d = (dh[j] + dy[j]) * (one - h_out[j] * h_out[j])
        da[j] = d
        dh[j] = d * u[j]


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def backward_row_relu(dy, h_out, u, dh, da, one):
    zero = one - one
    for j in range(dh.shape[0]):
        d = zero if h_out[j] <= zero else (dh[j] + dy[j])     # a NaN output passes the gradient
        da[j] = d
        dh[j] = d * u[j]
