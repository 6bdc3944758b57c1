"""Backends "cuda" and "cuda_host", one place: the time-step orchestration both share
(:mod:`.steps`), the GPU backend through CuPy (:mod:`.backend`) and the host shim that runs the
same kernel sources on the CPU (:mod:`.host`). The kernel sources are kernels/ at the top of the
checkout (pyrnn/_kernels in an installed package)."""
