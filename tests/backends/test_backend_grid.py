"""Every backend against the reference, for every cell it runs, over a grid of shapes.

Direct backend calls (no layer in between): forward (training and eval) and backward, float64
to 1e-10 and float32 to 1e-4 (both of each array's scale: weight gradients sum over T*B rows),
with and without lengths, forward and reverse. The shapes cross the kernels' paths: one step and
8+ steps (the c backend packs W_hh from 8 steps on), batch 1 (mat-vec) and batches that are not
multiples of its 6-row tiles, widths below and above a thread's 16-unit alignment and not
multiples of the vector length, and I != H (I > H too: from 8 rows the c backend's LSTM inference
multiplies x_t W_ih^T inside each step's tiles, beside h W_hh^T; from 16 rows it splits the batch
over the threads instead of the hidden units, where the weights fit in L2). Plus the contract's ownership rule for every cell:
no result aliases another result or an input, and later calls leave earlier results untouched.
"""
import itertools
import zlib

import numpy as np
import pytest

from pyrnn.backends import get_backend
from pyrnn.cell_specs import CELLS

from cell_checks import random_call
from tolerances import assert_close_scaled

# (T, B, I, H)
SHAPES = [(1, 1, 3, 5), (9, 1, 4, 33), (8, 7, 6, 17), (12, 13, 5, 40), (10, 8, 70, 37), (9, 17, 6, 45)]


def _cells_of(backend):
    return [mode for mode in sorted(CELLS) if mode in get_backend(backend).cells]


def _run(impl, mode, x, state, weights, lengths, reverse, rng):
    y, state_n, saved = impl.forward(mode, x, state, weights, lengths, reverse, True)
    y_eval, state_eval, none = impl.forward(mode, x, state, weights, lengths, reverse, False)
    assert none is None
    dy = rng.standard_normal(y.shape).astype(x.dtype)
    dstate_n = tuple(rng.standard_normal(s.shape).astype(x.dtype) for s in state_n)
    dx, dstate0, dweights = impl.backward(mode, saved, dy, dstate_n)
    return [y, *state_n, y_eval, *state_eval, dx, *dstate0, *dweights]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T%d-B%d-I%d-H%d" % s)
def test_every_cell_matches_the_reference(shape, dtype, backend):
    T, B, I, H = shape
    impl, reference = get_backend(backend), get_backend("numpy")
    for mode in _cells_of(backend):
        spec = CELLS[mode]
        for with_lengths, reverse in itertools.product((False, True), (False, True)):
            rng = np.random.default_rng(zlib.crc32(repr((mode, shape, with_lengths, reverse)).encode()))
            x, state, weights = random_call(spec, T, B, I, H, rng, dtype=dtype)
            x *= 0.5
            weights = tuple(None if w is None else (w / np.sqrt(w.shape[-1])).astype(dtype) for w in weights)
            lengths = rng.integers(1, T + 1, size=B) if with_lengths else None
            got = _run(impl, mode, x, state, weights, lengths, reverse, np.random.default_rng(1))
            want = _run(reference, mode, x, state, weights, lengths, reverse, np.random.default_rng(1))
            assert len(got) == len(want)
            for k, (a, b) in enumerate(zip(got, want)):
                if b is None:
                    assert a is None, k
                    continue
                assert a.shape == b.shape and a.dtype == b.dtype, (mode, k)
                assert_close_scaled(a, b, dtype, f"{mode} result {k}, lengths={with_lengths}, reverse={reverse}")


def test_results_of_every_cell_are_fresh_arrays(backend):
    """No result shares memory with another result or an input, and later calls (which reuse the
    backend's pooled buffers) leave earlier results untouched - for every cell the backend runs."""
    impl = get_backend(backend)
    for mode in _cells_of(backend):
        rng = np.random.default_rng(3)
        x, state, weights = random_call(CELLS[mode], 9, 3, 2, 5, rng)
        y, state_n, saved = impl.forward(mode, x, state, weights, None, False, True)
        dy = rng.standard_normal(y.shape)
        dstate_n = tuple(rng.standard_normal(s.shape) for s in state_n)
        dx, dstate0, dweights = impl.backward(mode, saved, dy, dstate_n)
        results = [r for r in (y, *state_n, dx, *dstate0, *dweights) if r is not None]
        for a, b in itertools.combinations(results, 2):
            assert not np.shares_memory(a, b), mode
        for out in results:
            for inp in (x, *(w for w in weights if w is not None), *state, dy, *dstate_n):
                assert not np.shares_memory(out, inp), mode
        snapshot = [r.copy() for r in results]
        for _ in range(2):
            _, _, saved2 = impl.forward(mode, 2 * x, state, weights, None, True, True)
            impl.backward(mode, saved2, -dy, dstate_n)
        for before, after in zip(snapshot, results):
            np.testing.assert_array_equal(before, after, err_msg=mode)
