"""Numerically stable activations shared by the NumPy reference.

Every function keeps the dtype of its input (float32 stays float32) and never
overflows: pre-activations of +-1000 give exact 0/1 (sigmoid), +-1 (tanh) or
0/x (relu) without floating-point warnings.
"""
import numpy as np


def sigmoid(a):
    """Logistic function 1 / (1 + exp(-a)), computed without overflow.

    exp is only ever taken of -|a| (<= 0), so it cannot overflow; the two
    branches are the algebraically equal forms for a >= 0 and a < 0. |a| is
    capped where exp(-|a|) is still a normal number (so not even underflow is
    flagged); beyond the cap sigmoid is 1 or below the dtype's smallest normal.
    """
    cap = -np.log(np.finfo(a.dtype).tiny)          # 87.3 (float32), 708.4 (float64)
    e = np.exp(-np.minimum(np.abs(a), cap))
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)


def tanh(a):
    """Hyperbolic tangent (np.tanh saturates to +-1 without overflow)."""
    return np.tanh(a)


def relu(a):
    """max(a, 0)."""
    return np.maximum(a, 0)


# Derivatives written in terms of the activation's OUTPUT y (what the forward
# pass saves), as cuDNN and haste do: no pre-activation has to be kept.
def dsigmoid_from_output(y):
    """d sigmoid / da expressed through y = sigmoid(a): y * (1 - y)."""
    return y * (1 - y)


def dtanh_from_output(y):
    """d tanh / da expressed through y = tanh(a): 1 - y^2."""
    return 1 - y * y


def drelu_from_output(y):
    """d relu / da expressed through y = relu(a): 1 where y > 0 else 0."""
    return (y > 0).astype(y.dtype)
