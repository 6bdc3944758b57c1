"""Backend "numba", one place: the backend (:mod:`.backend`) and its Numba-JIT kernels
(:mod:`.kernels`, one module per cell plus the shared GEMM and activation pieces)."""
