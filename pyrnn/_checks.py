"""Validation at the API door: every user-supplied array passes through here once.

Messages name the argument and say what was expected, so a user never sees
a traceback from deep inside NumPy or a kernel. Backends may then assume
valid, C-contiguous arrays of the module's dtype.
"""
import numbers

import ml_dtypes
import numpy as np

from .backends.base import check_lengths
from .errors import InputError

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# bfloat16 (NumPy has none: ml_dtypes'): inference only, on the backends that list it in ``dtypes``.
BFLOAT16 = np.dtype(ml_dtypes.bfloat16)
MODULE_DTYPES = FLOAT_DTYPES + (BFLOAT16,)


def is_floating(dtype):
    """float16/32/64 and bfloat16 (whose NumPy kind is 'V', not 'f')."""
    return np.dtype(dtype).kind == "f" or np.dtype(dtype) == BFLOAT16


# DLPack device types (dlpack.h) that are host memory NumPy can read.
_DLPACK_HOST_DEVICES = {1: "cpu", 3: "cuda_host (pinned)"}
_DLPACK_DEVICE_NAMES = {2: "a CUDA GPU", 4: "an OpenCL device", 7: "a Vulkan device", 8: "a Metal device",
                        10: "a ROCm GPU", 13: "a CUDA GPU (managed memory)", 14: "a oneAPI device"}


def _device_memory(value):
    """A description of the accelerator ``value`` lives on, or None for host memory / unknown."""
    if hasattr(value, "__cuda_array_interface__"):
        return "a CUDA GPU (__cuda_array_interface__)"
    dlpack_device = getattr(value, "__dlpack_device__", None)
    if callable(dlpack_device):
        try:
            device_type, device_id = dlpack_device()
        except Exception:       # a broken exporter: let the conversion below report it
            return None
        if int(device_type) not in _DLPACK_HOST_DEVICES:
            where = _DLPACK_DEVICE_NAMES.get(int(device_type), f"DLPack device type {int(device_type)}")
            return f"{where} (device {device_id})"
    return None


def to_numpy(value, name):
    """Any array-like -> ndarray, zero-copy where the memory allows.

    Accepted: NumPy arrays; objects with ``__dlpack__`` (torch tensors, JAX and
    CuPy arrays) on the host, read through :func:`numpy.from_dlpack` as a view
    of the producer's memory (strides kept, even non-contiguous ones); objects
    with ``__array_interface__`` or ``__array__``; nested lists. A torch tensor
    that requires grad is read through its detached view (still zero-copy).
    Memory on an accelerator is refused with a message naming the argument:
    the CPU backends cannot read it, and a silent device-to-host copy of every
    argument would hide a slow path.
    """
    if isinstance(value, np.ndarray):
        return value
    device = _device_memory(value)
    if device is not None:
        raise InputError(f"{name} lives on {device}; pyrnn's CPU backends read host memory only: move it "
                         f"to the CPU first (torch: .cpu(), CuPy: cupy.asnumpy, JAX: jax.device_get)")
    if getattr(value, "requires_grad", False) and callable(getattr(value, "detach", None)):
        value = value.detach()      # torch refuses to export a tensor that requires grad
    if hasattr(value, "__dlpack__"):
        try:
            return np.from_dlpack(value)
        except (BufferError, TypeError, ValueError, RuntimeError):
            pass        # e.g. a dtype NumPy has no equivalent for (bfloat16): NumPy's own path says so
    try:
        return np.asarray(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"{name} must be an array-like of numbers, got {type(value).__name__} "
                        f"that NumPy cannot convert ({exc})") from None


def check_dtype(dtype):
    """The module dtype: float32, float64 or bfloat16 ("bfloat16" or ml_dtypes.bfloat16; None =
    float32, torch's default), else TypeError."""
    if dtype is None:
        return FLOAT_DTYPES[0]
    if isinstance(dtype, str) and dtype == "bfloat16":
        return BFLOAT16
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError):
        dt = None
    # `dt in FLOAT_DTYPES` alone is not enough: np.dtype("float64") == None is True.
    if dt is None or not any(dt is f or dt == f for f in MODULE_DTYPES):
        raise TypeError(f"dtype must be numpy.float32, numpy.float64 or 'bfloat16', got {dtype!r}")
    return dt


def check_seed(seed):
    """seed: None or a non-negative integer (what np.random.default_rng takes)."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be None or a non-negative integer, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise InputError(f"seed must be None or a non-negative integer, got {seed}")
    return int(seed)


def as_float(value, name, dtype):
    """A floating array-like as a C-contiguous array of ``dtype`` (cast if needed).

    Integer, boolean, complex and object arrays are rejected with TypeError,
    as torch.nn rejects them: an int tensor fed to an RNN is almost always a
    bug (token ids that should have gone through an embedding).
    """
    arr = to_numpy(value, name)
    if not is_floating(arr.dtype):
        raise TypeError(f"{name} must hold floating-point numbers (float32, float64 or bfloat16), "
                        f"got dtype {arr.dtype}")
    # np.asarray(order="C") rather than np.ascontiguousarray, which turns 0-d into 1-d.
    return np.asarray(arr, dtype=dtype, order="C")


def private(arr, original):
    """``arr`` if it is memory of its own, else a copy.

    Training saves its input for backward; an array that is (or views) the
    caller's memory could be refilled before backward runs (a decoder reusing
    one input buffer) and would silently corrupt the gradients.
    """
    return arr if arr is not original and arr.base is None else arr.copy()


def expect_shape(arr, name, expected, meaning):
    """Raise InputError unless ``arr.shape == expected``; ``meaning`` names the dims."""
    if arr.shape != tuple(expected):
        raise InputError(f"{name} must have shape {meaning} = {tuple(expected)}, got {arr.shape}")


def positive_int(value, name, minimum=1):
    """A plain integer >= minimum (bools rejected), else a clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise InputError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_proj_size(value, hidden_size):
    """LSTM proj_size: an integer, 0 (no projection) or in [1, hidden_size), as torch.nn requires."""
    value = positive_int(value, "proj_size", minimum=0)
    hidden = positive_int(hidden_size, "hidden_size")
    if value >= hidden:
        raise InputError(f"proj_size has to be smaller than hidden_size, got proj_size={value}, "
                         f"hidden_size={hidden}")
    return value


def check_nonlinearity(value):
    """RNN nonlinearity: 'tanh' or 'relu'."""
    if value not in ("tanh", "relu"):
        raise InputError(f"nonlinearity must be 'tanh' or 'relu', got {value!r}")
    return value


def flag(value, name):
    """A bool argument (NumPy bools accepted)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def as_lengths(lengths, T, B):
    """lengths -> (B,) int64 with every entry in [1, T]; None stays None."""
    if lengths is None:
        return None
    arr = to_numpy(lengths, "lengths")
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1 or arr.shape[0] != B:
        raise InputError(f"lengths must have shape (batch,) = ({B},), one length per sequence, "
                         f"got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"lengths must be integers, got dtype {arr.dtype}")
    check_lengths(arr, T, B)          # the range, as every backend checks it
    return arr.astype(np.int64)
