"""The large GEMMs of the Numba backend, done through the same BLAS as the time loops.

Numba's np.dot calls SciPy's OpenBLAS; NumPy's matmul calls NumPy's own
OpenBLAS build. Mixing both in one layer call made each library's idle
threads spin against the other's on a 2-core machine (a (64 x 512) @
(512 x 2048) step went from 0.9 ms to 1.9 ms), so the backend routes every
GEMM through these Numba wrappers and only one BLAS thread pool is ever busy.
"""
import numpy as np
from numba import njit


@njit(cache=True)
def input_projection(x, w_ih, b1, b2, out):
    """out (T, B, G*H) = x (T, B, I) @ w_ih^T + b1 + b2, one GEMM over all T*B rows (biases (G*H,))."""
    T, B, I = x.shape
    out2 = out.reshape(T * B, w_ih.shape[0])
    np.dot(x.reshape(T * B, I), w_ih.T, out2)
    out2 += b1 + b2


@njit(cache=True)
def input_grad(d_in, w_ih):
    """dx (T, B, I) = d_in (T, B, G*H) @ w_ih (G*H, I), one GEMM."""
    T, B, G = d_in.shape
    return np.dot(d_in.reshape(T * B, G), w_ih).reshape(T, B, w_ih.shape[1])


@njit(cache=True)
def grad_product(d, inputs):
    """d^T @ inputs over all T*B rows: d (T, B, G*H), inputs (T, B, F) -> (G*H, F), one GEMM."""
    T, B, G = d.shape
    return np.dot(d.reshape(T * B, G).T, inputs.reshape(T * B, inputs.shape[2]))


@njit(cache=True)
def column_sums(d):
    """Sum of d (T, B, G*H) over T and B as ones @ d (a BLAS gemv).

    d.sum(axis=(0, 1)) would be a sequential loop in Numba, which loses
    float32 accuracy over T*B rows; BLAS blocks the sum.
    """
    T, B, G = d.shape
    return np.dot(np.ones(T * B, dtype=d.dtype), d.reshape(T * B, G))


def weight_grads(d_in, d_hid, x, h_prev, has_bias):
    """(dw_ih, dw_hh, db_ih, db_hh) from single GEMMs; the biases None when the layer has none.

    For RNN and LSTM d_hid is d_in (one gradient for both pre-activations), so
    its bias sum is taken once; db_hh is a copy of it, not the same array: the
    caller owns each gradient (torch's autograd accumulates into the first one in place).
    """
    dw_ih, dw_hh = grad_product(d_in, x), grad_product(d_hid, h_prev)
    if not has_bias:
        return dw_ih, dw_hh, None, None
    db_ih = column_sums(d_in)
    return dw_ih, dw_hh, db_ih, (db_ih.copy() if d_hid is d_in else column_sums(d_hid))
