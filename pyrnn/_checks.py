"""Validation at the API door: every user-supplied array passes through here once.

Messages name the argument and say what was expected, so a user never sees
a traceback from deep inside NumPy or a kernel. Backends may then assume
valid, C-contiguous arrays of the module's dtype.
"""
import numbers

import numpy as np

from .errors import InputError

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def to_numpy(value, name):
    """Any array-like (ndarray, list, object with __array__, torch tensor) -> ndarray."""
    if isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        # A torch tensor that requires grad refuses __array__; its detached copy does not.
        detach = getattr(value, "detach", None)
        if callable(detach):
            try:
                return np.asarray(detach().cpu().numpy())
            except Exception:
                pass
        raise TypeError(f"{name} must be an array-like of numbers, got {type(value).__name__} "
                        f"that NumPy cannot convert ({exc})") from None


def check_dtype(dtype):
    """The module dtype: float32 or float64 (None = float32, torch's default), else TypeError."""
    if dtype is None:
        return FLOAT_DTYPES[0]
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError):
        dt = None
    # `dt in FLOAT_DTYPES` alone is not enough: np.dtype("float64") == None is True.
    if dt is None or not any(dt is f or dt == f for f in FLOAT_DTYPES):
        raise TypeError(f"dtype must be numpy.float32 or numpy.float64, got {dtype!r}")
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
    if arr.dtype.kind != "f":
        raise TypeError(f"{name} must hold floating-point numbers (float32 or float64), "
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
    if arr.min() < 1 or arr.max() > T:
        raise InputError(f"lengths must lie in [1, seq_len] = [1, {T}], got values from "
                         f"{arr.min()} to {arr.max()}")
    return arr.astype(np.int64)
