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
def input_projection(x, w_ih, b1, b2):
    """(T, B, G*H) = x (T, B, I) @ w_ih^T + b1 + b2, one GEMM over all T*B rows (biases (G*H,))."""
    T, B, I = x.shape
    xw = np.dot(x.reshape(T * B, I), w_ih.T)
    xw += b1 + b2
    return xw.reshape(T, B, w_ih.shape[0])


@njit(cache=True)
def input_grad(d_in, w_ih):
    """dx (T, B, I) = d_in (T, B, G*H) @ w_ih (G*H, I), one GEMM."""
    T, B, G = d_in.shape
    return np.dot(d_in.reshape(T * B, G), w_ih).reshape(T, B, w_ih.shape[1])


@njit(cache=True)
def weight_grads(d_in, d_hid, x, h_prev):
    """dw_ih = d_in^T x, dw_hh = d_hid^T h_prev (one GEMM each over all T*B rows), db_ih, db_hh."""
    T, B, G = d_in.shape
    d_in2 = d_in.reshape(T * B, G)
    d_hid2 = d_hid.reshape(T * B, G)
    dw_ih = np.dot(d_in2.T, x.reshape(T * B, x.shape[2]))
    dw_hh = np.dot(d_hid2.T, h_prev.reshape(T * B, h_prev.shape[2]))
    return dw_ih, dw_hh, d_in2.sum(axis=0), d_hid2.sum(axis=0)
