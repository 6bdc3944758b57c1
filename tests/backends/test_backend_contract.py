"""The backend contract (pyrnn/backends/base.py) beyond numbers: ownership of what backward returns."""
import itertools

import numpy as np
import pytest

from cell_checks import random_call
from pyrnn.backends import get_backend
from pyrnn.backends.base import GATES
from pyrnn.cell_specs import CELLS


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


@pytest.mark.parametrize("mode", sorted(CELLS))
@pytest.mark.parametrize("T, B, H, lengths, reverse", [
    (4, 3, 6, None, False),
    (9, 16, 64, None, True),   # the C kernels split this batch over 2 threads (work header S = 2)
    (9, 16, 64, np.r_[9, 3, 1, 9, 5, 2, 9, 7, 4, 9, 8, 6, 9, 1, 2, 3], False),
])
@pytest.mark.parametrize("input_grad, weight_grads", [(False, True), (True, False), (False, False)])
def test_backward_without_some_gradients_gives_the_others_unchanged(mode, backend, T, B, H, lengths, reverse,
                                                                     input_grad, weight_grads, request):
    """input_grad=False returns dx None, weight_grads=False every weight gradient None, and the
    gradients still asked for come out as a full backward gives them (bit for bit: the C kernels
    only leave the other products out)."""
    impl = get_backend(backend)
    if mode not in impl.cells:
        pytest.skip(f"{backend} does not run {mode}")
    if backend == "c":   # the batch split needs 2 threads, whatever an earlier test capped them at
        previous = impl.threads
        impl.set_num_threads(2)
        request.addfinalizer(lambda: impl.set_num_threads(previous))
    spec, I = CELLS[mode], 3
    rng = np.random.default_rng(1)
    x, state, weights = random_call(spec, T, B, I, H, rng)
    x, state, weights = (impl.to_device(x), tuple(impl.to_device(s) for s in state),
                         tuple(impl.to_device(w) for w in weights))
    lengths = None if lengths is None else np.asarray(lengths, dtype=np.int64)
    y, state_n, _ = impl.forward(mode, x, state, weights, lengths, reverse, False)
    dy = impl.to_device(rng.standard_normal(y.shape))
    dstate_n = tuple(impl.to_device(rng.standard_normal(s.shape)) for s in state_n)
    results = []
    for wanted in ((True, True), (input_grad, weight_grads)):
        _, _, saved = impl.forward(mode, x, state, weights, lengths, reverse, True)
        if backend == "c" and B == 16 and mode in ("rnn_tanh", "rnn_relu", "lstm", "gru"):
            assert saved.inner["work"][0] == 2   # the work header: the batch ran in 2 slices
        results.append(impl.backward(mode, saved, dy, dstate_n, input_grad=wanted[0], weight_grads=wanted[1]))
    (dx, dstate0, dweights), (dx_b, dstate0_b, dweights_b) = results
    assert tuple(dx.shape) == tuple(x.shape) and len(dweights_b) == len(dweights)
    assert (dx_b is None) == (not input_grad)
    assert all(d is None for d in dweights_b) == (not weight_grads)
    pairs = list(zip(dstate0, dstate0_b)) + ([(dx, dx_b)] if input_grad else []) + \
        ([(a, b) for a, b in zip(dweights, dweights_b) if a is not None] if weight_grads else [])
    for a, b in pairs:
        np.testing.assert_array_equal(impl.to_host(a), impl.to_host(b))
