"""Backend "cuda": the CUDA kernels of kernels/ through CuPy (GPU only).

Per layer-direction (pyrnn/backends/cuda/steps.py, shared with the host-shim
backend "cuda_host"): the input projection of all T*B rows as one cuBLAS
GEMM (cupy.matmul); per step one GEMM for the recurrent term and ONE fused
pointwise kernel (kernels/<cell>_forward.cu) that applies every gate, updates
the state, writes y and saves what backward needs; backward per step one
fused kernel (kernels/<cell>_backward.cu) and one GEMM, then dx and the weight
gradients as single GEMMs. Kernels are compiled once per process with
cupy.RawModule (NVRTC; CuPy also caches the binary on disk).

Arrays: NumPy inputs are moved to the device (cupy.asarray) and the results
come back as NumPy arrays; CuPy inputs give CuPy results. What backward needs
stays on the device between forward and backward.

STATUS: written and compiled (nvcc, sm_80/sm_90, warnings as errors, in the
tests), the kernels and this orchestration verified on the CPU through the
host shim; NOT YET RUN ON A GPU (tests/gpu/ and benchmarks/gpu_compare.py
are the checks to run there). See docs/cuda-backend.md.

$PYRNN_CUDA_PERSISTENT=1 (opt-in, UNVERIFIED: never run on a device) runs the
LSTM forward loop for B <= 16 in one cooperative kernel that keeps W_hh in
shared memory for all steps (kernels/lstm_persistent_forward.cu).
"""
import importlib.util
import os

import numpy as np

from .. import register
from ..base import Backend
from .host import kernels_dir, missing_sources
from .steps import CUDA_CELLS, KERNEL_FILES, StepRunner

THREADS_PER_BLOCK = 256
MAX_BLOCKS = 4096          # the kernels stride over larger problems
# The persistent LSTM forward (kernels/lstm_persistent_forward.cu): opt-in, UNVERIFIED on a device.
PERSISTENT_ENV = "PYRNN_CUDA_PERSISTENT"
PERSISTENT_MAX_BATCH = 16
PERSISTENT_FILE = "lstm_persistent_forward.cu"


def _probe():
    if importlib.util.find_spec("cupy") is None:
        return "cupy is not installed (pip install cupy-cuda12x)"
    try:
        import cupy
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:     # CUDA driver missing or broken
        return f"no CUDA device found ({type(exc).__name__}: {exc})"
    if count < 1:
        return "no CUDA device found"
    return missing_sources(KERNEL_FILES)


def module_source():
    """The one translation unit NVRTC compiles: every kernel file, included from kernels/."""
    return "".join(f'#include "{name}"\n' for name in KERNEL_FILES)


class CudaBackend(Backend):
    """Fused CUDA kernels + cuBLAS GEMMs through CuPy."""

    name = "cuda"
    cells = CUDA_CELLS

    def __init__(self):
        import cupy
        self._cp = self.xp = cupy
        self._module = cupy.RawModule(code=module_source(),
                                      options=("-std=c++17", f"-I{kernels_dir()}"))
        self._kernels = {}
        self._persistent = None         # (RawModule, {name: RawKernel}) once compiled
        persistent = os.environ.get(PERSISTENT_ENV, "") not in ("", "0")
        self._steps = StepRunner(cupy, self._launch, self._persistent_lstm if persistent else None)

    def to_device(self, array):
        return None if array is None else self._cp.asarray(array)

    def to_host(self, array):
        return None if array is None else self._cp.asnumpy(array)

    def _launch(self, name, n_elements, *args):
        kernel = self._kernels.get(name)
        if kernel is None:
            kernel = self._kernels[name] = self._module.get_function(name)
        blocks = max(1, min(MAX_BLOCKS, -(-n_elements // THREADS_PER_BLOCK)))
        # Every scalar parameter of the kernels is an int: pass it as a 32-bit int explicitly
        # (CuPy would pass a Python int as 64 bits).
        kernel((blocks,), (THREADS_PER_BLOCK,),
               tuple(np.int32(a) if isinstance(a, (int, np.integer)) else a for a in args))

    def _persistent_lstm(self, mode, reverse, training, lengths, xw, w_hh, hbuf, cbuf, y, gates, extra):
        """The whole LSTM forward loop in one cooperative kernel, where it applies (B <= 16 and
        the block's slice of W_hh plus h fit in shared memory); False otherwise (step path)."""
        if mode != "lstm":
            return False
        cp = self._cp
        T, B, GH = xw.shape
        H = GH // 4
        if B > PERSISTENT_MAX_BATCH:
            return False
        device = cp.cuda.Device()
        attrs = device.attributes
        sms = attrs["MultiProcessorCount"]
        smem_max = attrs.get("MaxSharedMemoryPerBlockOptin", attrs["MaxSharedMemoryPerBlock"])
        grid = min(H, sms)              # one block per SM: all resident, as a grid sync requires
        units = -(-H // grid)
        smem = (4 * units * (H + 1) + B * (H + 1) + B * 4 * units) * xw.dtype.itemsize
        if smem > smem_max:
            return False
        if self._persistent is None:
            module = cp.RawModule(code=f'#include "{PERSISTENT_FILE}"\n',
                                  options=("-std=c++17", f"-I{kernels_dir()}"), enable_cooperative_groups=True)
            self._persistent = (module, {})
        module, kernels = self._persistent
        name = f"lstm_persistent_forward_{'f32' if xw.dtype == np.float32 else 'f64'}"
        kernel = kernels.get(name)
        if kernel is None:
            kernel = kernels[name] = module.get_function(name)
        if kernel.max_dynamic_shared_size_bytes < smem:
            kernel.max_dynamic_shared_size_bytes = smem
        i32 = np.int32
        kernel((grid,), (THREADS_PER_BLOCK,),
               (i32(T), i32(B), i32(H), i32(bool(reverse)), i32(bool(training)), lengths, xw,
                cp.ascontiguousarray(w_hh), hbuf, cbuf, y, gates, extra),
               shared_mem=smem)
        return True

    def _forward(self, mode, x, state, weights, lengths, reverse, training):
        cp = self._cp
        on_device = isinstance(x, cp.ndarray)
        x = cp.ascontiguousarray(cp.asarray(x))
        state = tuple(cp.asarray(s, dtype=x.dtype) for s in state)
        weights = tuple(None if w is None else cp.asarray(w, dtype=x.dtype) for w in weights)
        lengths = None if lengths is None else cp.asarray(lengths, dtype=cp.int64)
        y, state_n, saved = self._steps.forward(mode, x, state, weights, lengths, reverse, training)
        if saved is not None:
            saved["on_device"] = on_device
        if on_device:
            return y, state_n, saved
        return cp.asnumpy(y), tuple(cp.asnumpy(s) for s in state_n), saved

    def _backward(self, mode, saved, dy, dstate_n):
        cp = self._cp
        on_device = saved.get("on_device", False)
        dy = cp.asarray(dy)
        dstate_n = tuple(cp.asarray(d) for d in dstate_n)
        dx, dstate0, dweights = self._steps.backward(mode, saved, dy, dstate_n)
        if on_device:
            return dx, dstate0, dweights
        host = cp.asnumpy
        return (host(dx), tuple(host(d) for d in dstate0),
                tuple(None if d is None else host(d) for d in dweights))


# Set to the results file (benchmarks/results/...) of a green tests/gpu run on a real device; until
# then "auto" never picks this backend, even on a machine with a GPU and CuPy.
VERIFIED_ON_GPU = None

register("cuda", probe=_probe, load=CudaBackend, priority=30,
         auto=True if VERIFIED_ON_GPU else
         "unverified: it has never passed tests/gpu on a GPU, so auto does not choose it")
