"""2-D matrix products through the BLAS the default backend uses.

NumPy's ``@`` calls NumPy's own OpenBLAS; Numba's ``np.dot`` calls SciPy's.
Alternating between the two (a Linear head in NumPy around LSTM kernels in
Numba) lets each library's idle threads spin against the other's busy ones
on a small machine: a language-model head of (3200 x 256) @ (256 x 163)
took 55 ms instead of ~2 ms next to the Numba LSTM. Code around the
recurrent kernels therefore multiplies through :func:`matmul`, which uses
Numba's BLAS when numba is installed.
"""
import numpy as np

try:
    from numba import njit
except ImportError:          # no numba: NumPy's BLAS is then the only one in use
    njit = None

if njit is not None:
    from ._numba_cache import install_cache_locator

    install_cache_locator()     # before the @njit below: its cache folder is chosen at decoration time

    @njit(cache=True)
    def _numba_dot(a, b):
        return np.dot(a, b)

    def matmul(a, b):
        """a (M, K) @ b (K, N) for C- or F-contiguous float32/float64 arrays of one dtype."""
        if a.dtype != b.dtype or a.dtype not in (np.float32, np.float64):
            return a @ b
        return _numba_dot(a if a.flags.c_contiguous or a.flags.f_contiguous else np.ascontiguousarray(a),
                          b if b.flags.c_contiguous or b.flags.f_contiguous else np.ascontiguousarray(b))
else:
    def matmul(a, b):
        """a (M, K) @ b (K, N)."""
        return a @ b
