"""Faults in the numbers and at the backend's door: NaN/inf propagate as in torch.nn, direct calls are checked.

A kernel that turns NaN into a finite number hides a diverged model; a backend
called directly (not through the layer API) with a wrong shape must refuse it
instead of reading or writing out of bounds.
"""
import threading

import numpy as np
import pytest

import pyrnn
from pyrnn.backends import get_backend
from pyrnn.backends.base import GATES
from pyrnn.errors import InputError
from torch_oracle import run_torch_layer, torch_layer

KINDS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", None), ("gru", None)]
SPOTS = ["x", "h0", "c0", "weight_ih_l0", "weight_hh_l0", "bias_hh_l0"]


def _same_numbers(actual, expected, what, value):
    """Non-finite exactly where torch is non-finite, and the finite values close.

    A NaN fed in must come out as NaN wherever torch's does. For an infinity fed
    in, NaN and +-inf are not told apart: 0 * inf = NaN where torch's sigmoid
    rounds a saturated gate to exactly 0, and +-inf where ours keeps the
    smallest normal number (pyrnn/reference/activations.py) - both non-finite.
    """
    actual, expected = np.asarray(actual), np.asarray(expected)
    if np.isnan(value):
        np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg=f"{what}: NaN pattern")
    np.testing.assert_array_equal(np.isfinite(actual), np.isfinite(expected), err_msg=f"{what}: non-finite pattern")
    finite = np.isfinite(expected)
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=1e-9, atol=1e-9, err_msg=what)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("spot", SPOTS)
@pytest.mark.parametrize("kind,nonlinearity", KINDS)
def test_nan_and_inf_propagate_like_torch(kind, nonlinearity, spot, value, backend):
    if spot == "c0" and kind != "lstm":
        pytest.skip("only the LSTM has a cell state")
    rng = np.random.default_rng(3)
    T, B, I, H = 4, 3, 2, 5
    extra = {"nonlinearity": nonlinearity} if nonlinearity else {}
    layer = {"rnn": pyrnn.RNN, "lstm": pyrnn.LSTM, "gru": pyrnn.GRU}[kind](I, H, backend=backend,
                                                                          dtype=np.float64, seed=1, **extra)
    x = rng.standard_normal((T, B, I))
    states = [rng.standard_normal((1, B, H)) for _ in range(2 if kind == "lstm" else 1)]
    params = layer.state_dict()
    # One poisoned entry, in one sequence (b = 1) where it is per-sequence: the others stay finite.
    if spot == "x":
        x[1, 1, 0] = value
    elif spot in ("h0", "c0"):
        states[SPOTS.index(spot) - 1][0, 1, 2] = value
    else:
        params[spot].flat[3] = value
    layer.load_state_dict(params)
    dy = rng.standard_normal((T, B, H))
    dstates = [rng.standard_normal((1, B, H)) for _ in states]
    ref = run_torch_layer(torch_layer(kind, I, H, nonlinearity=nonlinearity or "tanh", state_dict=params),
                          x, states, dy, dstates)
    with np.errstate(all="ignore"):      # the NumPy reference computes inf - inf on purpose here
        y, finals = layer(x, states[0] if kind != "lstm" else tuple(states))
        dx, dstates0 = layer.backward(dy, dstates[0] if kind != "lstm" else tuple(dstates))
    finals = [finals] if kind != "lstm" else list(finals)
    dstates0 = [dstates0] if kind != "lstm" else list(dstates0)
    _same_numbers(y, ref["y"], "y", value)
    for a, e in zip(finals, ref["states_n"]):
        _same_numbers(a, e, "final state", value)
    _same_numbers(dx, ref["dx"], "dx", value)
    for a, e in zip(dstates0, ref["dstates0"]):
        _same_numbers(a, e, "initial-state gradient", value)
    for name, g in layer.grads.items():
        _same_numbers(g, ref["grads"][name], name, value)


def _call_args(mode, T=3, B=2, I=4, H=5, dtype=np.float64):
    G = GATES[mode]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    state = tuple(rng.standard_normal((B, H)).astype(dtype) for _ in range(2 if mode == "lstm" else 1))
    weights = [rng.standard_normal((G * H, I)).astype(dtype), rng.standard_normal((G * H, H)).astype(dtype),
               rng.standard_normal(G * H).astype(dtype), rng.standard_normal(G * H).astype(dtype)]
    return x, state, weights


BAD_FORWARD = {
    "weight_ih has the wrong input size": lambda x, s, w, G, H: (x, s, [w[0][:, :-1]] + w[1:], None),
    "weight_hh has too few rows": lambda x, s, w, G, H: (x, s, [w[0], w[1][:-1]] + w[2:], None),
    "bias_hh too short": lambda x, s, w, G, H: (x, s, w[:3] + [w[3][:-1]], None),
    "one bias missing": lambda x, s, w, G, H: (x, s, w[:3] + [None], None),
    "state batch too small": lambda x, s, w, G, H: (x, tuple(v[:1] for v in s), w, None),
    "state missing": lambda x, s, w, G, H: (x, (), w, None),
    "weights of another dtype": lambda x, s, w, G, H: (x, s, [w[0].astype(np.float32)] + w[1:], None),
    "integer input": lambda x, s, w, G, H: (x.astype(np.int64), s, w, None),
    "lengths beyond seq_len": lambda x, s, w, G, H: (x, s, w, np.array([1, x.shape[0] + 1])),
    "lengths of zero": lambda x, s, w, G, H: (x, s, w, np.array([0, 1])),
    "lengths of the wrong batch": lambda x, s, w, G, H: (x, s, w, np.array([1, 1, 1])),
}


@pytest.mark.parametrize("case", list(BAD_FORWARD))
@pytest.mark.parametrize("mode", list(GATES))
def test_direct_backend_forward_checks_its_arguments(mode, case, backend):
    x, state, weights = _call_args(mode)
    x, state, weights, lengths = BAD_FORWARD[case](x, state, weights, GATES[mode], 5)
    with pytest.raises(InputError):
        get_backend(backend).forward(mode, x, state, tuple(weights), lengths, False, True)


@pytest.mark.parametrize("mode", list(GATES))
def test_direct_backend_backward_checks_its_arguments(mode, backend):
    impl = get_backend(backend)
    x, state, weights = _call_args(mode)
    y, state_n, saved = impl.forward(mode, x, state, tuple(weights), None, False, True)
    dstate = tuple(np.ones_like(s) for s in state_n)
    with pytest.raises(InputError, match="dy must have shape"):
        impl.backward(mode, saved, y[:, :1], dstate)
    with pytest.raises(InputError, match=r"dstate_n\[0\] must have shape"):
        impl.backward(mode, saved, np.ones_like(y), tuple(d[:, :-1] for d in dstate))
    with pytest.raises(InputError, match="saved must be"):
        impl.backward(mode, {"x": x}, np.ones_like(y), dstate)
    other = "gru" if mode != "gru" else "lstm"
    with pytest.raises(InputError, match="forward"):
        impl.backward(other, saved, np.ones_like(y), dstate)
    impl.backward(mode, saved, np.ones_like(y), dstate)           # the real call still works
    with pytest.raises(RuntimeError, match="already backpropagated"):
        impl.backward(mode, saved, np.ones_like(y), dstate)


def test_one_module_trained_from_two_threads_gives_each_thread_its_own_gradients(backend):
    """Each thread's forward/backward pair uses its own tape: dx is exactly the single-thread dx,
    and the parameter gradients of both threads add up."""
    lstm = pyrnn.LSTM(3, 8, backend=backend, dtype=np.float64, seed=0)
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((30, 4, 3)) for _ in range(2)]
    expected_dx, expected_grads = [], []
    for x in xs:
        lstm.zero_grad()
        y, _ = lstm(x)
        expected_dx.append(lstm.backward(np.ones_like(y))[0])
        expected_grads.append({k: g.copy() for k, g in lstm.grads.items()})
    lstm.zero_grad()
    rounds, errors, barrier = 20, [], threading.Barrier(2, timeout=60)

    def work(i):
        try:
            for _ in range(rounds):
                barrier.wait()
                y, _ = lstm(xs[i])
                barrier.wait()              # both forwards done before either backward
                dx, _ = lstm.backward(np.ones_like(y))
                if not np.allclose(dx, expected_dx[i], rtol=1e-12, atol=1e-12):
                    errors.append(f"thread {i}: wrong dx")
        except Exception as exc:            # noqa: BLE001 - reported below
            errors.append(f"thread {i}: {type(exc).__name__}: {exc}")
            barrier.abort()                 # the other thread stops waiting instead of hanging

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    for name, g in lstm.grads.items():
        np.testing.assert_allclose(g, rounds * (expected_grads[0][name] + expected_grads[1][name]),
                                   rtol=1e-10, atol=1e-10, err_msg=name)


def test_backward_on_another_thread_than_its_forward_is_refused():
    lstm = pyrnn.LSTM(3, 4, backend="numpy", dtype=np.float64)
    y, _ = lstm(np.ones((2, 1, 3)))
    errors = []

    def other():
        try:
            lstm.backward(np.ones_like(y))
        except RuntimeError as exc:
            errors.append(str(exc))

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert errors and "forward() in train mode" in errors[0]
    lstm.backward(np.ones_like(y))          # the forward's own thread still can


@pytest.mark.parametrize("kind,nonlinearity", KINDS)
def test_nan_through_a_cell_step_propagates_like_torch(kind, nonlinearity, backend):
    torch = pytest.importorskip("torch")
    from torch_oracle import torch_cell

    rng = np.random.default_rng(5)
    B, I, H = 3, 2, 4
    extra = {"nonlinearity": nonlinearity} if nonlinearity else {}
    cell = {"rnn": pyrnn.RNNCell, "lstm": pyrnn.LSTMCell, "gru": pyrnn.GRUCell}[kind](
        I, H, backend=backend, dtype=np.float64, seed=2, **extra)
    x = rng.standard_normal((B, I))
    x[1, 0] = np.nan
    hx = [rng.standard_normal((B, H)) for _ in range(2 if kind == "lstm" else 1)]
    ours = cell(x, tuple(hx) if kind == "lstm" else hx[0])
    ours = list(ours) if kind == "lstm" else [ours]
    ref = torch_cell(kind, I, H, nonlinearity=nonlinearity or "tanh", state_dict=cell.state_dict())
    with torch.no_grad():
        theirs = ref(torch.from_numpy(x), tuple(map(torch.from_numpy, hx)) if kind == "lstm" else torch.from_numpy(hx[0]))
    theirs = [t.numpy() for t in (theirs if kind == "lstm" else [theirs])]
    for a, e in zip(ours, theirs):
        _same_numbers(a, e, "cell state", np.nan)
    assert np.isnan(ours[0][1]).all() and np.isfinite(ours[0][[0, 2]]).all()
