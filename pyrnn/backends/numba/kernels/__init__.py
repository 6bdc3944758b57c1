"""Numba kernels of the "numba" backend: the one time loop (loop.py), one module of fused rows per
cell (rnn, lstm, gru, layernorm_lstm, indrnn), plus shared pieces (gemm, activations).

The loop runs the whole recurrence of one layer-direction in compiled code
(no Python per step). Conventions (see pyrnn/backends/base.py):

* arrays C-contiguous, one dtype; constants that must keep that dtype
  (``one``) are passed as arguments, since Numba promotes float32 * Python
  float to float64 and ``cache=True`` freezes globals;
* ``error_model="numpy"`` everywhere: Python's ZeroDivisionError check on
  ``/`` is a branch that stops LLVM from vectorizing the pointwise loops;
* transcendentals come from :mod:`.activations` (vectorizable polynomials),
  because this llvmlite has no SVML and ``math.exp`` would stay a scalar call;
* the pointwise work of one (t, b) row is a separate function over 1-D
  contiguous rows with no branch inside its loop: a conditional store in the
  loop ("save only when training") kept LLVM from vectorizing it (65 ns per
  LSTM element instead of 3). In eval mode the saves go to scratch rows;
* the per-step recurrent product is a BLAS call (np.dot, which Numba takes
  from SciPy) at every batch size: measured against hand-written mat-vec
  loops it won everywhere, down to (1 x 128) @ (128 x 512) (3.1 us vs 4.9 us
  at best; see benchmarks/dev/matvec_variants.py). The time loop around it
  stays compiled, so small batches pay no Python per step.
"""
from ...._numba_cache import install_cache_locator

install_cache_locator()     # before any kernel module is imported: cache=True picks its folder then
