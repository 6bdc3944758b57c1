"""cffi builder of the C backend's extension module (API mode, out of line).

setup.py names ``csrc/build_ffi.py:ffibuilder`` in ``cffi_modules``; the
sanitizer tests call :func:`make_builder` to build a separate copy.

The C declarations come from csrc/pyrnn.h itself (the block between the
``cffi-begin`` and ``cffi-end`` markers), so the API is written once.

BLAS: the scipy-openblas32 wheel, the OpenBLAS build NumPy and SciPy are
themselves built against: pip installs it everywhere NumPy runs, it ships
headers and a shared library, and its prefixed symbols (scipy_cblas_sgemm)
cannot clash with the copies inside NumPy or SciPy. The extension finds it
at run time through an rpath relative to itself and, as a fallback, because
pyrnn loads it first (pyrnn/backends/c/backend.py).
"""
import os
import platform
import re

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
# Inside the backends package: the c backend imports its extension from its own folder.
MODULE = "pyrnn.backends.c._pyrnn_c"
DEPENDS = [os.path.join(HERE, name) for name in ("pyrnn.h", "pyrnn_gates.h", "pyrnn_generic.inc", "pyrnn_blas.h", "pyrnn_bf16.h",
                                                      "pyrnn_transpose.h")]
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]


def cdef_from_header(path=os.path.join(HERE, "pyrnn.h")):
    """The declarations between the cffi markers of pyrnn.h."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    match = re.search(r"/\* cffi-begin[^*]*\*/(.*?)/\* cffi-end \*/", text, re.S)
    if match is None:
        raise RuntimeError(f"{path}: no cffi-begin/cffi-end block")
    return match.group(1)


def compile_flags(sanitize=False):
    """C flags: C99, optimised for the machine that builds (installs compile locally).

    PYRNN_C_NATIVE=0 drops -march=native (for a build meant for other machines).
    """
    # -ffp-contract=fast: ISO C mode (-std=c99) turns off fused multiply-add contraction,
    # which halves the speed of every dot product (and the Numba backend contracts too).
    # -fno-wrapv: Python's own CFLAGS (which distutils puts first) carry -fwrapv, which
    # blocks GCC's loop optimizations on int indices: the LSTM forward ran 15% slower.
    # -fno-trapping-math: the kernels never read or trap on floating-point exception flags, and
    # with them preserved GCC will not if-convert the selections in the gate code (sigmoid(-inf)
    # = 0 exactly, NaN kept), so the fused LSTM/GRU/tanh rows stayed scalar: the LSTM forward ran
    # 2-3x slower (measured on an AVX2 EPYC). The computed values, NaN and inf included, are the same.
    flags = ["-std=c99", "-ffp-contract=fast", "-fno-trapping-math", "-fno-wrapv", "-D_POSIX_C_SOURCE=200809L", "-fopenmp",
             "-Wall", "-Wextra"]
    flags += ["-O1", "-g"] + SANITIZE_FLAGS if sanitize else ["-O3"]
    if os.environ.get("PYRNN_C_NATIVE", "1") != "0" and platform.machine() in ("x86_64", "AMD64"):
        flags.append("-march=native")
    return flags


def make_builder(module=MODULE, sanitize=False, absolute_paths=False):
    """An FFI object ready to compile ``module`` from csrc/pyrnn.c.

    Source paths are relative to the project root, as setuptools wants them;
    ``absolute_paths`` for ``ffi.compile(tmpdir)``, which changes directory.
    """
    import scipy_openblas32 as openblas

    lib_dir = openblas.get_lib_dir()
    source = os.path.join(HERE, "pyrnn.c")
    ffi = FFI()
    ffi.cdef(cdef_from_header())
    # $ORIGIN: the installed layout (site-packages/pyrnn/backends/c, three levels below
    # site-packages/scipy_openblas32).
    # The absolute path only for local builds: under pip's build isolation it names a
    # temporary folder that is gone after the install (pyrnn then preloads the library).
    link = ["-fopenmp", "-Wl,-rpath,$ORIGIN/../../../scipy_openblas32/lib"]
    if absolute_paths:
        link.append(f"-Wl,-rpath,{lib_dir}")
    ffi.set_source(
        module, '#include "pyrnn.h"',
        # Relative to the project root (setup.py runs there) unless building elsewhere.
        sources=[source if absolute_paths else os.path.relpath(source)],
        include_dirs=[HERE, openblas.get_include_dir()],
        define_macros=[("PYRNN_BLAS_SCIPY_OPENBLAS", "1")],
        library_dirs=[lib_dir], libraries=[openblas.get_library(), "m"],
        extra_compile_args=compile_flags(sanitize),
        extra_link_args=link + (SANITIZE_FLAGS if sanitize else []),
        # headers and the generic loops: an edit to any of them rebuilds the extension
        depends=[depend if absolute_paths else os.path.relpath(depend) for depend in DEPENDS],
        # optional: without a compiler setuptools skips it, also in editable installs
        optional=True,
    )
    return ffi


ffibuilder = make_builder(sanitize=os.environ.get("PYRNN_C_SANITIZE", "0") == "1")

if __name__ == "__main__":   # a development build in place: pyrnn/backends/c/_pyrnn_c*.so
    make_builder(sanitize=os.environ.get("PYRNN_C_SANITIZE", "0") == "1", absolute_paths=True).compile(verbose=True)
