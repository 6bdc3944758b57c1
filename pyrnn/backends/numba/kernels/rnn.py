"""The Elman RNN's rows for the Numba loop (loop.py): h' = f(xw + h @ W_hh^T), f = tanh | relu."""
from numba import njit

from .activations import tanh


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def forward_row_tanh(xw, a, h, y, h_prev, h_out):
    """One (t, b) row: xw, a (H,) in; h (H,) in place; y, h_prev, h_out (H,) out."""
    for j in range(h.shape[0]):
        h_new = tanh(xw[j] + a[j])
        h_prev[j] = h[j]
        h_out[j] = h_new
        h[j] = h_new
        y[j] = h_new


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def forward_row_relu(xw, a, h, y, h_prev, h_out, zero):
    for j in range(h.shape[0]):
        pre = xw[j] + a[j]
        # typed zero: max(pre, 0) would promote float32 to float64; NaN stays NaN, as torch's relu
        h_new = zero if pre < zero else pre
        h_prev[j] = h[j]
        h_out[j] = h_new
        h[j] = h_new
        y[j] = h_new


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def backward_row_tanh(dy, h_out, dh, da, one):
    """One (t, b) row: da (H,) = d loss / d a_t out; dh (H,) -> 0 (h_{t-1} enters only through W_hh)."""
    zero = one - one
    for j in range(dh.shape[0]):
        da[j] = (dh[j] + dy[j]) * (one - h_out[j] * h_out[j])
        dh[j] = zero


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def backward_row_relu(dy, h_out, dh, da, one):
    zero = one - one
    for j in range(dh.shape[0]):
        da[j] = zero if h_out[j] <= zero else (dh[j] + dy[j])     # a NaN output passes the gradient
        dh[j] = zero
