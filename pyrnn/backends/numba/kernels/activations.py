"""Vectorizable exp/tanh/sigmoid for Numba loops, float32 and float64.

LLVM can only vectorize a loop whose body it can see: a call into libm's exp
or tanh (what ``math.exp`` / ``np.tanh`` become without SVML) keeps the loop
scalar at ~10-17 ns per element. Here exp is written in plain arithmetic:

    x = k ln2 + r,  |r| <= ln2 / 2          (k = round(x / ln2))
    exp(x) - 1 = 2^k (expm1(r)) + (2^k - 1)  expm1(r) by its Taylor polynomial
    2^k                                      built from the exponent bits (a bitcast)

and tanh, sigmoid from it:

    tanh(a)    = sign(a) * (-m) / (2 + m),  m = expm1(-2|a|)   (no cancellation near 0)
    sigmoid(a) = 1 / (1 + e) for a >= 0, e / (1 + e) for a < 0,  e = exp(-|a|) = 2^k (1 + expm1(r))
                 (not expm1(-|a|) + 1, which would keep only absolute accuracy for tiny e)

Only non-positive arguments reach exp, so nothing can overflow; they are
clamped above the underflow limit. Accuracy (measured, tests/backends/test_numba_backend.py):
float64 within 4e-16 absolute of NumPy's tanh, float32 within 2 ulp-ish (~2e-7).
The public functions are generic: ``tanh(x)`` compiles to the float32 or the
float64 version by the argument's Numba type.
"""
import numpy as np
from numba import njit, types
from numba.extending import overload

# float64 constants (Cody-Waite split of ln 2: k * LN2_HI is exact for |k| < 2^11)
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_MIN_ARG64 = -708.0          # exp(-708) ~ 3e-308, still a normal double

# float32 constants
_LOG2E32 = np.float32(1.4426950408889634)
_LN2_HI32 = np.float32(0.693359375)          # 0.693359375 = 355/512, exact in float32
_LN2_LO32 = np.float32(-2.12194440e-4)
_MIN_ARG32 = np.float32(-87.0)               # exp(-87) ~ 1.6e-38, a normal float
_HALF32 = np.float32(0.5)
_ONE32 = np.float32(1.0)
_TWO32 = np.float32(2.0)
_ZERO32 = np.float32(0.0)


@njit(error_model="numpy")
def _exp_parts64(x):
    """(2^k, expm1(r)) with x = k ln2 + r, |r| <= ln2/2, for x <= 0 (float64; clamped)."""
    x = max(x, _MIN_ARG64)
    k = np.floor(x * _LOG2E + 0.5)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    p = r * (1.0 + r * (1.0 / 2 + r * (1.0 / 6 + r * (1.0 / 24 + r * (1.0 / 120 + r * (
        1.0 / 720 + r * (1.0 / 5040 + r * (1.0 / 40320 + r * (1.0 / 362880 + r * (
            1.0 / 3628800 + r * (1.0 / 39916800 + r * (1.0 / 479001600 + r * (
                1.0 / 6227020800)))))))))))))
    return np.int64((np.int64(k) + 1023) << 52).view(np.float64), p


@njit(error_model="numpy")
def _expm1_nonpos64(x):
    """exp(x) - 1 for x <= 0 (float64), vectorizable: no cancellation near 0."""
    two_k, p = _exp_parts64(x)
    return two_k * p + (two_k - 1.0)


@njit(error_model="numpy")
def _exp_nonpos64(x):
    """exp(x) for x <= 0 (float64): full relative accuracy for tiny results, 0 below the clamp.

    Exactly 0 there (as IEEE exp underflows), so sigmoid(-inf) is 0 and 0 * inf stays NaN
    downstream, as in torch: an infinite state must not come out finite."""
    two_k, p = _exp_parts64(x)
    return 0.0 if x < _MIN_ARG64 else two_k * (1.0 + p)


@njit(error_model="numpy")
def _exp_parts32(x):
    """(2^k, expm1(r)) with x = k ln2 + r, |r| <= ln2/2, for x <= 0 (float32; clamped)."""
    x = max(x, _MIN_ARG32)
    k = np.floor(x * _LOG2E32 + _HALF32)
    r = (x - k * _LN2_HI32) - k * _LN2_LO32
    p = r * (_ONE32 + r * (np.float32(1.0 / 2) + r * (np.float32(1.0 / 6) + r * (
        np.float32(1.0 / 24) + r * (np.float32(1.0 / 120) + r * (np.float32(1.0 / 720) + r * (
            np.float32(1.0 / 5040) + r * np.float32(1.0 / 40320))))))))
    return np.int32((np.int32(k) + 127) << 23).view(np.float32), p


@njit(error_model="numpy")
def _expm1_nonpos32(x):
    """exp(x) - 1 for x <= 0 (float32), vectorizable."""
    two_k, p = _exp_parts32(x)
    return two_k * p + (two_k - _ONE32)


@njit(error_model="numpy")
def _exp_nonpos32(x):
    """exp(x) for x <= 0 (float32): full relative accuracy for tiny results, 0 below the clamp."""
    two_k, p = _exp_parts32(x)
    return _ZERO32 if x < _MIN_ARG32 else two_k * (_ONE32 + p)


@njit(error_model="numpy")
def _tanh64(a):
    m = _expm1_nonpos64(-2.0 * abs(a))
    return np.copysign(-m / (2.0 + m), a)


@njit(error_model="numpy")
def _tanh32(a):
    m = _expm1_nonpos32(-_TWO32 * abs(a))
    return np.copysign(-m / (_TWO32 + m), a)


@njit(error_model="numpy")
def _sigmoid64(a):
    e = _exp_nonpos64(-abs(a))
    return (1.0 if a >= 0 else e) / (1.0 + e)


@njit(error_model="numpy")
def _sigmoid32(a):
    e = _exp_nonpos32(-abs(a))
    return (_ONE32 if a >= _ZERO32 else e) / (_ONE32 + e)


def tanh(a):
    """Hyperbolic tangent (generic; see the module docstring)."""
    raise NotImplementedError("pyrnn.backends.numba.kernels.activations.tanh runs inside @njit only")


def sigmoid(a):
    """Logistic function (generic; see the module docstring)."""
    raise NotImplementedError("pyrnn.backends.numba.kernels.activations.sigmoid runs inside @njit only")


@overload(tanh)
def _tanh_overload(a):
    if a == types.float32:
        return lambda a: _tanh32(a)
    if a == types.float64:
        return lambda a: _tanh64(a)


@overload(sigmoid)
def _sigmoid_overload(a):
    if a == types.float32:
        return lambda a: _sigmoid32(a)
    if a == types.float64:
        return lambda a: _sigmoid64(a)
