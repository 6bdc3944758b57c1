"""The backend contract (pyrnn/backends/base.py) beyond numbers: ownership of what backward returns."""
import itertools

import numpy as np
import pytest

from pyrnn.backends import get_backend
from pyrnn.backends.base import GATES


@pytest.mark.parametrize("mode", list(GATES))
def test_forward_and_backward_results_are_fresh_arrays(mode, backend):
    """No two results share memory with each other or with the inputs: callers may keep and
    modify each one (torch's autograd accumulates into the first gradient it receives)."""
    rng = np.random.default_rng(0)
    T, B, I, H = 4, 3, 2, 5
    G = GATES[mode]
    x = rng.standard_normal((T, B, I))
    weights = (rng.standard_normal((G * H, I)), rng.standard_normal((G * H, H)),
               rng.standard_normal(G * H), rng.standard_normal(G * H))
    state = tuple(rng.standard_normal((B, H)) for _ in range(2 if mode == "lstm" else 1))
    impl = get_backend(backend)
    y, state_n, saved = impl.forward(mode, x, state, weights, None, False, True)
    dy = rng.standard_normal(y.shape)
    dstate_n = tuple(rng.standard_normal((B, H)) for _ in state)
    dx, dstate0, dweights = impl.backward(mode, saved, dy, dstate_n)
    results = [y, *state_n, dx, *dstate0, *dweights]
    for a, b in itertools.combinations(results, 2):
        assert not np.shares_memory(a, b)
    for out in results:
        for inp in (x, *weights, *state, dy, *dstate_n):
            assert not np.shares_memory(out, inp)
    # Later calls (which reuse the backend's pooled buffers) leave earlier results untouched.
    snapshot = [r.copy() for r in results]
    for _ in range(2):
        _, _, saved2 = impl.forward(mode, 2 * x, state, weights, None, True, True)
        impl.backward(mode, saved2, -dy, dstate_n)
    for before, after in zip(snapshot, results):
        np.testing.assert_array_equal(before, after)
