"""Backend "cuda_host": the CUDA kernels of kernels/ compiled for the CPU and run there.

This is how the CUDA backend is verified on machines without a GPU (CI
included): the one-thread-per-element kernels (kernels/*_forward.cu,
kernels/*_backward.cu) are compiled by g++ through a small shim
(kernels/host_shim.h: ``__global__``/``__device__`` removed, ``threadIdx``,
``blockIdx``, ``blockDim``, ``gridDim`` as thread-local globals) and driven
by the SAME orchestration as the GPU backend (pyrnn/backends/cuda/steps.py)
with NumPy in place of CuPy. Registered with priority -1, so "auto" never
picks it (it is a test vehicle, not a fast CPU backend); every test taking
the ``backend`` fixture runs on it.

Each launch simulates a grid of ``grid`` blocks x ``block`` threads (default
2 x 3), run one after the other, so the grid-stride partitioning of the
kernels is exercised. The shared library is built at first use into a cache
directory keyed by the hash of the sources and the compile command:
$PYRNN_CACHE, else the system temp directory.
"""
import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile

import numpy as np

from .. import register
from ..base import Backend
from .steps import CUDA_CELLS, KERNEL_FILES, StepRunner

SHIM_SOURCES = ("pyrnn_cuda.cuh", "host_shim.h", "host_shim.cpp") + KERNEL_FILES
MANIFEST = "shim_manifest.inc"     # what host_shim.cpp includes: written by shim_manifest()
# A kernel's definition: `extern "C" __global__ void <name>_##SUFFIX(`, instantiated per precision.
_KERNEL_DEFINITION = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)_##SUFFIX\s*\(')
CXX_FLAGS = ("-O2", "-std=c++17", "-shared", "-fPIC", "-Wall", "-Wextra")


def kernels_dir():
    """The directory of the CUDA sources; $PYRNN_KERNELS_DIR overrides.

    A source checkout has it next to the package (<repo>/kernels); an installed
    pyrnn carries a copy as package data (pyrnn/_kernels).
    """
    env = os.environ.get("PYRNN_KERNELS_DIR")
    if env:
        return env
    package = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for candidate in (os.path.join(package, "_kernels"), os.path.join(os.path.dirname(package), "kernels")):
        if os.path.isfile(os.path.join(candidate, "pyrnn_cuda.cuh")):
            return candidate
    return os.path.join(os.path.dirname(package), "kernels")


def _compiler():
    return os.environ.get("CXX") or shutil.which("g++")


def missing_sources(names):
    """Why the CUDA sources ``names`` cannot be used (some are not in kernels_dir()), or None."""
    missing = [f for f in names if not os.path.isfile(os.path.join(kernels_dir(), f))]
    if missing:
        return f"the CUDA kernel sources are missing from {kernels_dir()} ({', '.join(missing)})"
    return None


def _probe():
    if not _compiler() or not shutil.which(_compiler()):
        return "no C++ compiler found (install g++ or set $CXX) to build the CUDA kernels for the host"
    return missing_sources(SHIM_SOURCES)


def shim_kernels(src=None):
    """Every kernel the files of KERNEL_FILES define, as the shim names them: (file, [name_f32, name_f64, ...])."""
    src = src or kernels_dir()
    found = []
    for name in KERNEL_FILES:
        with open(os.path.join(src, name)) as f:
            kernels = _KERNEL_DEFINITION.findall(f.read())
        # Every kernel file instantiates its kernels for float and double (suffixes f32, f64).
        found.append((name, [f"{k}_{sfx}" for k in kernels for sfx in ("f32", "f64")]))
    return found


def shim_manifest(src=None):
    """The text of shim_manifest.inc: the kernel files to include and the X-macro listing their kernels."""
    found = shim_kernels(src)
    includes = "".join(f'#include "{name}"\n' for name, _ in found)
    kernels = " ".join(f"X({k})" for _, names in found for k in names)
    return f"/* written by pyrnn/backends/cuda/host.py from the cell descriptions */\n{includes}" \
           f"#define PYRNN_SHIM_KERNELS(X) {kernels}\n"


def write_manifest(directory, src=None, text=None):
    """Write shim_manifest.inc (``text``, default :func:`shim_manifest`) into ``directory``, a folder
    outside kernels/ to put on the include path of host_shim.cpp."""
    text = shim_manifest(src) if text is None else text
    with open(os.path.join(directory, MANIFEST), "w") as f:
        f.write(text)
    return text


def build_shim(flags=CXX_FLAGS):
    """Path of the host-shim shared library, compiled now unless cached."""
    cxx = _compiler()
    if not cxx or not shutil.which(cxx):
        raise RuntimeError("the CUDA host shim needs a C++17 compiler: install g++ or set $CXX")
    src = kernels_dir()
    digest = hashlib.sha256(" ".join((cxx, *flags)).encode())
    for name in SHIM_SOURCES:
        with open(os.path.join(src, name), "rb") as f:
            digest.update(name.encode() + b"\0" + f.read())
    manifest = shim_manifest(src)
    digest.update(manifest.encode())
    cache = os.environ.get("PYRNN_CACHE") or tempfile.gettempdir()
    out_dir = os.path.join(cache, f"pyrnn-cuda-host-{digest.hexdigest()[:16]}")
    lib = os.path.join(out_dir, "libpyrnn_cuda_host.so")
    if os.path.exists(lib):
        return lib
    os.makedirs(out_dir, exist_ok=True)
    # This builder's own folder for the manifest and the library until the atomic rename:
    # concurrent builders (processes or threads) never share a file.
    work = tempfile.mkdtemp(dir=out_dir)
    try:
        write_manifest(work, src, manifest)
        tmp = os.path.join(work, "libpyrnn_cuda_host.so")
        cmd = [cxx, *flags, f"-I{work}", f"-I{src}", "-o", tmp, os.path.join(src, "host_shim.cpp")]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"building the CUDA host shim failed ({' '.join(cmd)}):\n{result.stderr}")
        os.replace(tmp, lib)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return lib


class HostKernels:
    """The kernels of the shim library, launched like CUDA kernels on a simulated grid."""

    def __init__(self, grid=2, block=3):
        self.grid, self.block = grid, block
        self._lib = ctypes.CDLL(build_shim())
        self._lib.pyrnn_shim_kernel.restype = ctypes.c_void_p
        self._lib.pyrnn_shim_kernel.argtypes = (ctypes.c_char_p,)
        self._fns = {}

    def function(self, name):
        fn = self._fns.get(name)
        if fn is None:
            addr = self._lib.pyrnn_shim_kernel(name.encode())
            if not addr:
                raise KeyError(f"the host shim has no kernel {name!r}")
            # Runner signature: (int grid, int block, kernel args...); the kernel args are
            # converted per call (pointers as c_void_p, ints as c_int).
            fn = ctypes.CFUNCTYPE(None)(addr)
            self._fns[name] = fn
        return fn

    def launch(self, name, n_elements, *args):
        """Run kernel ``name`` over ``n_elements`` on the simulated grid (n_elements: for the
        real launcher's grid size; the simulated grid is fixed, the kernels stride over n)."""
        c_args = []
        for a in args:
            if isinstance(a, np.ndarray):
                if not a.flags.c_contiguous:
                    raise ValueError(f"kernel {name}: array arguments must be C-contiguous")
                c_args.append(ctypes.c_void_p(a.ctypes.data))
            elif a is None:
                c_args.append(ctypes.c_void_p(None))
            else:
                c_args.append(ctypes.c_int(int(a)))
        self.function(name)(ctypes.c_int(self.grid), ctypes.c_int(self.block), *c_args)


class CudaHostBackend(Backend):
    """The CUDA backend's kernels and orchestration, run on the CPU (a test vehicle)."""

    name = "cuda_host"
    cells = CUDA_CELLS

    def __init__(self, grid=2, block=3):
        self.kernels = HostKernels(grid, block)
        self._steps = StepRunner(np, self.kernels.launch)

    def _forward(self, mode, x, state, weights, lengths, reverse, training):
        x = np.ascontiguousarray(x)
        state = tuple(np.asarray(s, dtype=x.dtype) for s in state)
        return self._steps.forward(mode, x, state, weights, lengths, reverse, training)

    def _backward(self, mode, saved, dy, dstate_n):
        return self._steps.backward(mode, saved, dy, dstate_n)


register("cuda_host", probe=_probe, load=CudaHostBackend, priority=-1)
