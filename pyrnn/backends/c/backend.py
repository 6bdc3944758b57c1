"""Backend "c": the C99 kernels of csrc/ called through cffi (extension pyrnn.backends.c._pyrnn_c).

One C call per layer-direction runs the input projection, the whole time
loop and (in backward) dx and the weight gradients, in one OpenMP parallel
region with BLAS called per thread (csrc/pyrnn.h explains the threading).
The extension is compiled when the package is installed (setup.py); where
that failed, e.g. no C compiler, this backend reports itself unavailable
with the reason and the others work as before.

$PYRNN_C_EXTENSION names another build of the extension to load instead of
the package's own (the sanitizer tests use it).
"""
import ctypes
import importlib.util
import os

import numpy as np

from .. import register
from ..._checks import BFLOAT16
from ...cell_specs import CELLS
from ..base import BASE_CELLS, Backend, kernel_weights
from ..workspace import BufferPool

_ENV_EXTENSION = "PYRNN_C_EXTENSION"
_BUILD_ERROR_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_c_build_error.txt")
_extension = None


def _preload_openblas():
    """Load scipy-openblas32 so the extension finds it where its rpath does not lead (editable installs).

    The loader then matches the extension's dependency by soname. RTLD_LOCAL, not
    GLOBAL: SciPy's own OpenBLAS exports the same ``scipy_*`` names, and a global
    copy would capture SciPy's (and so Numba's) BLAS calls - single-threaded, as
    the C kernels set it (measured: the numba backend ran 2x slower).
    """
    try:
        import scipy_openblas32
        lib = os.path.join(scipy_openblas32.get_lib_dir(), scipy_openblas32.get_library(fullname=True))
        ctypes.CDLL(lib, mode=ctypes.RTLD_LOCAL)
    except (ImportError, OSError, IndexError):
        pass   # the extension's own load then says what is missing


def _single_threaded_after_fork():
    """In a forked child, run the kernels on one thread.

    libgomp is not fork-safe: its worker threads do not exist in the child, and
    the child's first parallel region with 2+ threads waits for them forever
    (multiprocessing's fork, torch DataLoader workers). A one-thread region
    never touches the pool. The child keeps working, single-threaded, and
    ``set_num_threads`` cannot raise the cap there again.
    """
    global _forked_child
    if _extension is not None:       # loaded (so maybe threaded) before the fork
        _forked_child = True
        _extension.lib.pyrnn_set_num_threads(1)


_forked_child = False


os.register_at_fork(after_in_child=_single_threaded_after_fork)


def load_extension():
    """The compiled module (``ffi``, ``lib``); ImportError/OSError say why it cannot load."""
    global _extension
    if _extension is None:
        _preload_openblas()
        path = os.environ.get(_ENV_EXTENSION)
        if path:
            spec = importlib.util.spec_from_file_location("pyrnn.backends.c._pyrnn_c", path)
            if spec is None or not os.path.exists(path):
                raise ImportError(f"${_ENV_EXTENSION} = {path!r} is not a loadable extension module")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            from . import _pyrnn_c as module
        _extension = module
    return _extension


def _probe():
    try:
        load_extension()
    except (ImportError, OSError) as exc:
        reason = "pyrnn's C extension is not built"
        if os.path.exists(_BUILD_ERROR_FILE):
            with open(_BUILD_ERROR_FILE, encoding="utf-8") as f:
                reason += f" (install-time build failed: {f.read().strip()})"
        else:
            reason += f" ({exc})"
        return reason + "; install a C compiler (gcc/clang) and reinstall pyrnn"
    return None


# The layer norms' gains and shifts, in the order the C API takes them as one array (ln, dln).
_LAYER_NORM_PARAMS = ("ln_ih_weight", "ln_ih_bias", "ln_hh_weight", "ln_hh_bias", "ln_c_weight", "ln_c_bias")


def _bf16_bits(arr):
    """A bf16 array (C-contiguous; a copy if it was not) as the uint16 view the C API takes."""
    return np.ascontiguousarray(arr, dtype=BFLOAT16).view(np.uint16)


def _layer_norm_params(mode, weights, dtype):
    """The C API's ``ln`` array [18H] (None for a cell without layer norms)."""
    positions = CELLS[mode].positions(_LAYER_NORM_PARAMS)
    if positions[0] is None:
        return None
    return np.concatenate([np.asarray(weights[i], dtype=dtype).ravel() for i in positions])


class CBackend(Backend):
    """C kernels through cffi: the lowest-latency CPU backend."""

    name = "c"
    cells = BASE_CELLS + ("indrnn_tanh", "indrnn_relu", "lstm_proj", "layernorm_lstm")
    dtypes = ("float32", "float64", "bfloat16")
    skips_unneeded_grads = True

    def __init__(self):
        module = load_extension()
        self._ffi, self._lib = module.ffi, module.lib
        # The mode numbers pyrnn.h defines: PYRNN_<MODE> for each cell this backend runs.
        self._modes = {mode: getattr(self._lib, f"PYRNN_{mode.upper()}") for mode in self.cells}
        self._pool = BufferPool()
        self._kernels = {}   # (dtype, direction) -> what _kernel returns

    @property
    def build_info(self):
        info = self._ffi.string(self._lib.pyrnn_build_info()).decode()
        kernels = self.blas_kernels and f", {self.blas_kernels} kernels"
        forced = os.environ.get("OPENBLAS_CORETYPE", "")
        if kernels and forced.lower() == self.blas_kernels.lower():   # forced: maybe not this CPU's best
            kernels += " (as $OPENBLAS_CORETYPE asks)"
        return info.replace("; ", kernels + "; ", 1)

    @property
    def blas_kernels(self):
        """The kernel set the BLAS of the C kernels runs on this CPU (OpenBLAS's core name), or ''."""
        return self._ffi.string(self._lib.pyrnn_blas_kernels()).decode()

    @property
    def bf16_path(self):
        """Which bfloat16 kernels run now: 'amx (...)', 'avx512-bf16 every-product (...)',
        'avx512-bf16 small-batch (...)' or 'portable (...)'."""
        return self._ffi.string(self._lib.pyrnn_bf16_path()).decode()

    PEAK_UNITS = ("fp32-fma", "avx512-bf16", "amx")

    def peak_gflops(self, unit):
        """One core's multiply-add rate (GFLOP/s, 2 per multiply-add) of a unit: "fp32-fma"
        (512-bit float FMAs), "avx512-bf16" (VDPBF16PS) or "amx" (TDPBF16PS), measured now (a few
        ms); 0.0 where the CPU (or its OS) lacks it. What benchmarks divide by for a fraction of peak."""
        if unit not in self.PEAK_UNITS:
            raise ValueError(f"unit must be one of {', '.join(self.PEAK_UNITS)}, got {unit!r}")
        return float(self._lib.pyrnn_peak_gflops(self.PEAK_UNITS.index(unit)))

    BF16_PATHS = ("best", "portable", "small-batch", "every-product", "amx")

    def set_bf16_path(self, path="best"):
        """Which bf16 kernels run from now on: "portable" (bf16 widened to float, any CPU),
        "small-batch" (VDPBF16PS for the step products at batch <= 4), "every-product" (VDPBF16PS for
        every product), "amx" (AMX-BF16 tiles for the products of 3 rows or more, as small-batch
        below), or "best" for this CPU (what pyrnn.c measures). Tests use it to run every path the
        CPU has. Returns the path in effect: "portable" where the CPU has no AVX512-BF16, the best
        one where "amx" is asked for and the CPU (or the OS) has no AMX."""
        if path not in self.BF16_PATHS:
            raise ValueError(f"bf16 path must be one of {', '.join(self.BF16_PATHS)}, got {path!r}")
        in_effect = self._lib.pyrnn_set_bf16_path(self.BF16_PATHS.index(path))
        return ("portable", "small-batch", "every-product", "amx")[in_effect]

    @property
    def threads(self):
        """The most OpenMP threads a call uses (small problems use fewer)."""
        return self._lib.pyrnn_get_num_threads()

    def set_num_threads(self, n):
        """Cap the OpenMP threads of the kernels (n <= 0: OpenMP's default; always 1 in a forked child)."""
        self._lib.pyrnn_set_num_threads(1 if _forked_child else int(n))

    def _ptr(self, arr, ctype):
        """A C pointer to arr's data (NULL for None); arr must be C-contiguous."""
        if arr is None:
            return self._ffi.NULL
        return self._ffi.from_buffer(ctype, arr)

    def _kernel(self, dtype, direction):
        """(the C function, the cffi type of its arrays) of a float dtype and "forward" / "backward"."""
        try:
            return self._kernels[dtype, direction]
        except KeyError:
            pass
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"the c backend computes in float32 or float64, got {dtype}")
        suffix = "f32" if dtype == np.float32 else "f64"
        kernel = getattr(self._lib, f"pyrnn_{direction}_{suffix}"), ("float[]" if suffix == "f32" else "double[]")
        self._kernels[dtype, direction] = kernel
        return kernel

    def _forward_bf16(self, mode, x, state, weights, lengths, reverse):
        """Inference in bfloat16: bf16 x, weights and y (passed as their uint16 bits), float layer
        norms and states (csrc/pyrnn.h); h and c come back in bf16, as torch's do."""
        T, B, I = x.shape
        # (Backend.forward's check_call made sure every weight has x's dtype, bf16: their bits go
        # to C as they are)
        w_ih, w_hh, b_ih, b_hh, w_hr = kernel_weights(mode, weights, _bf16_bits)
        ln = _layer_norm_params(mode, weights, np.float32)
        H, P = CELLS[mode].sizes_of(weights)
        h = np.array(state[0], dtype=np.float32, order="C")
        c = np.array(state[1], dtype=np.float32, order="C") if len(state) == 2 else None
        lengths = None if lengths is None else np.ascontiguousarray(lengths, dtype=np.int64)
        y = np.empty((T, B, P), dtype=BFLOAT16)
        m = self._modes[mode]
        work = self._pool.take_aligned(self._lib.pyrnn_work_size_bf16(m, T, B, I, H, P), np.float32)
        p, f, u = self._ptr, "float[]", "uint16_t[]"
        rc = self._lib.pyrnn_forward_bf16(
            m, T, B, I, H, P, p(_bf16_bits(x), u), p(w_ih, u), p(w_hh, u), p(b_ih, u), p(b_hh, u), p(w_hr, u),
            p(ln, f), p(lengths, "int64_t[]"), int(bool(reverse)), 0, p(h, f), p(c, f), p(y.view(np.uint16), u),
            p(work, f))
        self._pool.give_aligned(work)
        if rc != 0:
            raise RuntimeError(f"pyrnn C bf16 forward rejected its arguments (code {rc})")
        return y, (h.astype(BFLOAT16),) if c is None else (h.astype(BFLOAT16), c.astype(BFLOAT16)), None

    def _forward(self, mode, x, state, weights, lengths, reverse, training):
        if x.dtype == BFLOAT16:
            return self._forward_bf16(mode, x, state, weights, lengths, reverse)
        # The C code reads raw memory: every array must have x's dtype and C layout.
        # (The layers guarantee both; these are no-ops then, and guards otherwise.)
        dtype = x.dtype
        x = np.ascontiguousarray(x)
        T, B, I = x.shape
        # The C API's order; absent ones (IndRNN's b_hh, w_hr but for lstm_proj) are NULL.
        w_ih, w_hh, b_ih, b_hh, w_hr = kernel_weights(mode, weights, lambda w: np.ascontiguousarray(w, dtype=dtype))
        ln = _layer_norm_params(mode, weights, dtype)
        H, P = CELLS[mode].sizes_of(weights)
        fn, ct = self._kernel(dtype, "forward")
        cell_state = len(state) == 2
        h = np.array(state[0], dtype=dtype, order="C", copy=True)
        c = np.array(state[1], dtype=dtype, order="C", copy=True) if cell_state else None
        lengths = None if lengths is None else np.ascontiguousarray(lengths, dtype=np.int64)
        y = np.empty((T, B, P), dtype=dtype)
        work = self._pool.take_aligned(self._lib.pyrnn_work_size(self._modes[mode], T, B, I, H, P, int(training)), dtype)
        p = self._ptr
        rc = fn(self._modes[mode], T, B, I, H, P, p(x, ct), p(w_ih, ct), p(w_hh, ct), p(b_ih, ct), p(b_hh, ct),
                p(w_hr, ct), p(ln, ct), p(lengths, "int64_t[]"), int(bool(reverse)), int(bool(training)), p(h, ct),
                p(c, ct), p(y, ct), p(work, ct))
        if rc != 0:
            raise RuntimeError(f"pyrnn C forward rejected its arguments (code {rc})")
        state_n = (h, c) if cell_state else (h,)
        if not training:
            self._pool.give_aligned(work)
            return y, state_n, None
        saved = dict(x=x, w_ih=w_ih, w_hh=w_hh, w_hr=w_hr, ln=ln, H=H, P=P, lengths=lengths, reverse=reverse,
                     has_bias=b_ih is not None, work=work)
        return y, state_n, saved

    def _backward(self, mode, saved, dy, dstate_n, input_grad=True, weight_grads=True):
        x, w_ih, w_hh, w_hr, H, P = (saved[k] for k in ("x", "w_ih", "w_hh", "w_hr", "H", "P"))
        dtype = x.dtype
        T, B, I = x.shape
        spec = CELLS[mode]
        GH = spec.gates * H
        has_b_hh = any(p.name == "bias_hh" for p in spec.params)
        fn, ct = self._kernel(dtype, "backward")
        dy = np.ascontiguousarray(dy, dtype=dtype)
        cell_state = len(dstate_n) == 2
        dh = np.array(dstate_n[0], dtype=dtype, order="C", copy=True)
        dc = np.array(dstate_n[1], dtype=dtype, order="C", copy=True) if cell_state else None
        dx = np.empty((T, B, I), dtype=dtype) if input_grad else None
        ln = saved["ln"]

        def weight_grad(shape, present=True):   # None where absent, and all None without weight_grads (C: NULL)
            return np.empty(shape, dtype=dtype) if weight_grads and present else None
        dw_ih, dw_hh = weight_grad((GH, I)), weight_grad(w_hh.shape)
        db_ih, db_hh = weight_grad(GH, saved["has_bias"]), weight_grad(GH, saved["has_bias"] and has_b_hh)
        dw_hr = weight_grad(w_hr is not None and w_hr.shape, w_hr is not None)
        dln = weight_grad(ln is not None and ln.shape, ln is not None)
        bwork = self._pool.take_aligned(self._lib.pyrnn_backward_work_size(self._modes[mode], T, B, H, P), dtype)
        # The kernel overwrites the saved activations with the gate gradients:
        # this saved dict serves exactly one backward (layers and cells consume their tape).
        work = saved.pop("work")
        p = self._ptr
        rc = fn(self._modes[mode], T, B, I, H, P, p(x, ct), p(w_ih, ct), p(w_hh, ct), p(w_hr, ct), p(ln, ct),
                p(saved["lengths"], "int64_t[]"), int(bool(saved["reverse"])), p(work, ct), p(dy, ct),
                p(dh, ct), p(dc, ct), p(dx, ct), p(dw_ih, ct), p(dw_hh, ct), p(db_ih, ct), p(db_hh, ct),
                p(dw_hr, ct), p(dln, ct), p(bwork, ct))
        self._pool.give_aligned(work, bwork)
        if rc != 0:
            raise RuntimeError(f"pyrnn C backward rejected its arguments (code {rc})")
        dstate0 = (dh, dc) if cell_state else (dh,)
        if not weight_grads:
            return dx, dstate0, tuple(None for _ in spec.params)
        grads = {"weight_ih": dw_ih, "weight_hh": dw_hh, "bias_ih": db_ih, "bias_hh": db_hh, "weight_hr": dw_hr}
        if dln is not None:   # the C API's one array of the layer norms' gradients, in weights order
            grads.update(zip(_LAYER_NORM_PARAMS, np.split(dln, np.cumsum([4 * H] * 4 + [H])[:5])))
        return dx, dstate0, tuple(grads[p.name] for p in spec.params)


register("c", probe=_probe, load=CBackend, priority=20)
