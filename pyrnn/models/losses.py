"""Mean squared error with its gradient (the regression counterpart of softmax_cross_entropy)."""
import numpy as np

from ..errors import InputError


def mse_loss(pred, target, mask=None):
    """Mean of (pred - target)^2 over the entries where ``mask`` is true (all when None).

    pred, target: same shape, float; mask: bool, broadcastable to it.
    Returns (loss: float, dpred like pred) with dpred = 2 (pred - target) / n
    on the counted entries and 0 elsewhere.
    """
    pred = np.asarray(pred)
    target = np.asarray(target, dtype=pred.dtype)
    if pred.shape != target.shape:
        raise InputError(f"target must have the shape of pred {pred.shape}, got {target.shape}")
    diff = pred - target
    if mask is None:
        n = max(diff.size, 1)
    else:
        mask = np.broadcast_to(np.asarray(mask, dtype=bool), diff.shape)
        diff = np.where(mask, diff, 0)
        n = max(int(mask.sum()), 1)
    loss = float(np.sum(diff.astype(np.float64) ** 2)) / n
    return loss, (2.0 / n * diff).astype(pred.dtype, copy=False)
