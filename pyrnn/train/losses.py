"""Softmax cross-entropy with its gradient."""
import numpy as np

from .._checks import to_numpy
from ..errors import InputError


def softmax_cross_entropy(logits, targets):
    """Mean cross-entropy (nats) of integer targets under softmax(logits), and d loss / d logits.

    logits (..., V) float; targets (...) ints in [0, V). The log-softmax
    subtracts the row maximum first, so large logits cannot overflow.
    Returns (loss: float, dlogits like logits).
    """
    logits = to_numpy(logits, "logits")
    targets = to_numpy(targets, "targets")
    if targets.dtype.kind not in "iu":
        raise TypeError(f"targets must be integers, got dtype {targets.dtype}")
    if logits.shape[:-1] != targets.shape:
        raise InputError(f"targets must have shape logits.shape[:-1] = {logits.shape[:-1]}, got {targets.shape}")
    V = logits.shape[-1]
    if targets.size and (targets.min() < 0 or targets.max() >= V):
        raise InputError(f"targets must lie in [0, {V}), got values from {targets.min()} to {targets.max()}")
    flat = logits.reshape(-1, V)
    t = targets.ravel()
    shifted = flat - flat.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_probs = shifted - log_norm
    n = max(t.size, 1)
    loss = -float(log_probs[np.arange(t.size), t].sum()) / n
    dlogits = np.exp(log_probs)
    dlogits[np.arange(t.size), t] -= 1
    dlogits /= n
    return loss, dlogits.reshape(logits.shape).astype(logits.dtype, copy=False)
