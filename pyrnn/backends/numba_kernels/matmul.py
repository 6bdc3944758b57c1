"""out = a @ w inside Numba, for the per-step recurrent products.

Small batches (M <= SMALL_BATCH rows) use a hand loop: for each row k of w,
out[m, :] += a[m, k] * w[k, :], vectorized along the contiguous rows of w and
blocked along N so the touched block of ``out`` stays in L1 while w streams
from cache once per step. A BLAS call at M = 1..8 pays call and thread
start-up overhead on every step, which is where small-batch RNNs lose time.
Larger batches call BLAS through np.dot (Numba takes it from SciPy).
"""
import numpy as np
from numba import njit

SMALL_BATCH = 8
_BLOCK_N = 512


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def matmul_into(a, w, out):
    """out (M, N) = a (M, K) @ w (K, N); all C-contiguous, one dtype."""
    M, K = a.shape
    N = w.shape[1]
    if M > SMALL_BATCH:
        out[:, :] = np.dot(a, w)
        return
    for n0 in range(0, N, _BLOCK_N):
        n1 = min(n0 + _BLOCK_N, N)
        for m in range(M):
            out[m, n0:n1] = 0
        for k in range(K):
            for m in range(M):
                s = a[m, k]
                for n in range(n0, n1):
                    out[m, n] += s * w[k, n]
