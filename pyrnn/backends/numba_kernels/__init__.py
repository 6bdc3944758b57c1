"""Numba kernels of the "numba" backend: one module per cell, plus shared pieces.

Every kernel runs the whole time loop of one layer-direction in compiled
code (no Python per step). Conventions (see pyrnn/backends/base.py):

* arrays C-contiguous, one dtype; constants that must keep that dtype
  (``one``) are passed as arguments, since Numba promotes float32 * Python
  float to float64 and ``cache=True`` freezes globals;
* ``error_model="numpy"`` everywhere: Python's ZeroDivisionError check on
  ``/`` is a branch that stops LLVM from vectorizing the pointwise loops;
* transcendentals come from :mod:`.activations` (vectorizable polynomials),
  because this llvmlite has no SVML and ``math.exp`` would stay a scalar call.
"""
