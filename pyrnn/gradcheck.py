"""Finite-difference check of a module's backward (float64 modules).

Used by the test suite and the demo. The scalar loss is a fixed random
projection of every output, L = sum_k <out_k, R_k>, so that backward is
called with dy = R_y and the final-state gradients = R_h (, R_c), and every
analytic gradient (parameters, x, initial states) is compared with the
central difference (L(p + eps) - L(p - eps)) / (2 eps) of each entry.
"""
import numpy as np

from ._checks import as_float
from .backends.base import states_of
from .cells import _Cell

# Central differences with eps = 1e-6 in float64 agree with exact gradients to ~1e-9
# (truncation ~eps^2, rounding ~1e-16/eps); 1e-6 leaves a margin and still catches any real error.
TOLERANCE = 1e-6
EPS = 1e-6


def central_difference(loss, array, idx, eps=EPS):
    """(loss() at array[idx] + eps - loss() at array[idx] - eps) / (2 eps).

    ``array`` is perturbed in place (``loss`` reads it) and restored before returning.
    """
    orig = array[idx]
    array[idx] = orig + eps
    plus = loss()
    array[idx] = orig - eps
    minus = loss()
    array[idx] = orig
    return (plus - minus) / (2 * eps)


def _flatten(out):
    flat = []
    for o in out if isinstance(out, tuple) else (out,):
        flat.extend(_flatten(o) if isinstance(o, tuple) else [o])
    return flat


def _run(module, x, states, lengths):
    paired = states_of(module.mode) == 2           # (h, c) passed as one tuple
    hx = tuple(states) if paired else states[0]
    if isinstance(module, _Cell):
        return _flatten(module(x, hx))
    return _flatten(module(x, hx, lengths=lengths))


def _backward(module, projections):
    paired = states_of(module.mode) == 2
    if isinstance(module, _Cell):
        dx, d0 = module.backward(tuple(projections) if paired else projections[0])
    else:
        dy, *dstates = projections
        dx, d0 = module.backward(dy, tuple(dstates) if paired else dstates[0])
    return [dx] + _flatten(d0)


def gradcheck(module, x, hx=None, lengths=None, eps=EPS, seed=0):
    """Max error of every analytic gradient against central finite differences.

    module: a float64 layer or cell (its ``grads`` are zeroed and refilled);
    x, hx, lengths: as for the module's forward (hx None = random states, so
    that the initial-state gradients are checked at a non-trivial point).
    Returns ``{name: error}`` for every parameter, "x" and each initial state
    ("h0", "c0"), where error = max|analytic - numeric| / max(1, max|numeric|).
    Costs two forward passes per checked scalar: use small modules. Side
    effects: the module's grads are overwritten and a cell's pending tape is
    cleared (the check runs forward passes of its own).
    """
    if isinstance(module, _Cell) and lengths is not None:
        raise TypeError("lengths applies to layers only; a cell runs one step")
    if module.dtype != np.float64:
        raise TypeError("gradcheck needs a float64 module (finite differences in float32 are "
                        f"too coarse), got {module.dtype}")
    rng = np.random.default_rng(seed)
    x = as_float(x, "x", np.float64).copy()
    was_training = module.training
    n_states = states_of(module.mode)
    module.train()
    outs = _run(module, x, [None] * n_states, lengths)
    if hx is None:   # outs end with the final states: each initial state has its final state's shape
        states = [rng.standard_normal(o.shape) for o in outs[-n_states:]]
    else:
        states = [as_float(s, "hx", np.float64).copy() for s in (hx if n_states == 2 else (hx,))]
    module.zero_grad()
    outs = _run(module, x, states, lengths)
    projections = [rng.standard_normal(o.shape) for o in outs]
    analytic = dict(zip(["x", "h0", "c0"][:1 + n_states], _backward(module, projections)))
    analytic.update({name: g.copy() for name, g in module.grads.items()})

    def loss():
        return sum(float(np.sum(o * r)) for o, r in zip(_run(module, x, states, lengths), projections))

    targets = dict(module.named_parameters(), x=x, h0=states[0])
    if n_states == 2:
        targets["c0"] = states[1]
    module.eval()
    errors = {}
    try:
        for name, array in targets.items():
            numeric = np.zeros_like(array)
            for idx in np.ndindex(array.shape):
                numeric[idx] = central_difference(loss, array, idx, eps)
            scale = max(1.0, float(np.max(np.abs(numeric))) if numeric.size else 1.0)
            errors[name] = float(np.max(np.abs(analytic[name] - numeric))) / scale
    finally:
        module.train(was_training)
    return errors
