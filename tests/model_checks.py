"""Finite-difference checks of a model's hand-written backward, shared by the model test files."""
import numpy as np

from pyrnn.gradcheck import TOLERANCE as FD_TOL
from pyrnn.gradcheck import central_difference
from pyrnn.train import collect_parameters


def fd_errors(model, args, max_entries=None, seed=0):
    """Relative error of every parameter gradient of model.loss_and_backward(*args) against finite differences.

    max_entries: check at most that many entries per parameter (drawn with seed).
    """
    model.train()
    model.zero_grad()
    model.loss_and_backward(*args)
    analytic = {name: g.copy() for name, _, g in collect_parameters(model)}
    rng = np.random.default_rng(seed)
    model.eval()
    errors = {}
    for name, p, _ in collect_parameters(model):
        idxs = list(np.ndindex(p.shape))
        if max_entries is not None and len(idxs) > max_entries:
            idxs = [idxs[i] for i in rng.choice(len(idxs), max_entries, replace=False)]
        numeric = np.array([central_difference(lambda: model.loss(*args), p, idx) for idx in idxs])
        exact = np.array([analytic[name][idx] for idx in idxs])
        errors[name] = float(np.max(np.abs(exact - numeric))) / max(1.0, float(np.max(np.abs(numeric))))
    model.train()
    return errors


def assert_small(errors):
    """Every relative error below the gradient-check tolerance; the message names the worst."""
    worst = max(errors, key=errors.get)
    assert errors[worst] < FD_TOL, f"{worst}: relative error {errors[worst]:.2e} (all: {errors})"
