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
    # Beyond the cap e is exactly 0 (IEEE exp would underflow there), so sigmoid(-inf) = 0
    # and 0 * inf = NaN downstream, as in torch.nn: an infinite state never comes out finite.
    e = np.where(np.abs(a) > cap, 0, np.exp(-np.minimum(np.abs(a), cap))).astype(a.dtype, copy=False)
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)


def tanh(a):
    """Hyperbolic tangent (np.tanh saturates to +-1 without overflow)."""
    return np.tanh(a)


def relu(a):
    """max(a, 0); NaN stays NaN (np.maximum propagates it), as torch.relu."""
    return np.maximum(a, 0)


# Derivatives written in terms of the activation's OUTPUT y (what the forward
# pass saves), as cuDNN and haste do: no pre-activation has to be kept.
def dsigmoid_from_output(y):
    """d sigmoid / da expressed through y = sigmoid(a): y * (1 - y)."""
    return y * (1 - y)


def dtanh_from_output(y):
    """d tanh / da expressed through y = tanh(a): 1 - y^2."""
    return 1 - y * y


def relu_backward(y, grad):
    """grad through relu, given its output y: 0 where y <= 0, else grad.

    A selection, not a product with a 0/1 derivative: a NaN gradient arriving at a
    unit that relu switched off stays off (0 * NaN would be NaN), and a NaN output
    passes the gradient, both exactly as torch's threshold_backward.
    """
    return np.where(y <= 0, 0, grad).astype(grad.dtype, copy=False)


def tanh_backward(y, grad):
    """grad through tanh, given its output y: grad * (1 - y^2)."""
    return grad * dtanh_from_output(y)


# The nonlinearities of the one-gate cells (RNN, IndRNN): name -> (forward, backward from the output).
NONLINEARITIES = {"tanh": (tanh, tanh_backward), "relu": (relu, relu_backward)}
