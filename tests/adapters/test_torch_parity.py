"""torch.nn as the outside oracle: outputs, final states and EVERY gradient.

Grid: shapes with T=1, B=1, H=1 and odd sizes, num_layers 1-3, both
directions, batch_first, variable lengths, with and without bias, in
float32 (1e-4) and float64 (1e-10), for every backend available here.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import LAYERS, assert_close
from torch_oracle import run_torch_layer, torch_layer

MODES = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
SHAPES = [  # T, B, I, H
    (1, 1, 1, 1), (1, 3, 2, 5), (4, 1, 3, 1), (5, 2, 7, 3), (7, 3, 4, 6), (3, 5, 1, 2)]
STACKS = [  # num_layers, bidirectional, batch_first, with lengths, bias
    (1, False, False, False, True), (2, True, False, True, True), (3, False, True, True, True),
    (2, True, True, False, False), (1, True, False, True, True)]


def make_layer(mode, I, H, L, bidir, batch_first, bias, dtype, backend, seed=0):
    kind = mode[:3] if mode.startswith("rnn") else mode
    kwargs = dict(num_layers=L, bias=bias, batch_first=batch_first, bidirectional=bidir,
                  backend=backend, dtype=dtype, seed=seed)
    if kind == "rnn":
        kwargs["nonlinearity"] = mode[4:]
    return kind, LAYERS[kind](I, H, **kwargs)


def run_pyrnn(layer, x, states, dy, dstates, lengths):
    """Forward + backward through a pyrnn layer, in the oracle's output format."""
    if len(states) == 2:
        y, states_n = layer(x, tuple(states), lengths=lengths)
        dx, dstates0 = layer.backward(dy, tuple(dstates))
    else:
        y, h_n = layer(x, states[0], lengths=lengths)
        dx, dh0 = layer.backward(dy, dstates[0])
        states_n, dstates0 = (h_n,), (dh0,)
    return dict(y=y, states_n=list(states_n), dx=dx, dstates0=list(dstates0), grads=layer.grads)


def compare_with_torch(mode, T, B, I, H, L, bidir, batch_first, use_lengths, bias, dtype, backend,
                       seed=0, unbatched=False):
    rng = np.random.default_rng(seed)
    kind, layer = make_layer(mode, I, H, L, bidir, batch_first, bias, dtype, backend, seed)
    D = 2 if bidir else 1
    n_states = 2 if kind == "lstm" else 1
    if unbatched:
        x_shape, y_shape, s_shape = (T, I), (T, D * H), (L * D, H)
    else:
        x_shape = (B, T, I) if batch_first else (T, B, I)
        y_shape = (B, T, D * H) if batch_first else (T, B, D * H)
        s_shape = (L * D, B, H)
    x = rng.standard_normal(x_shape).astype(dtype)
    states = [0.5 * rng.standard_normal(s_shape).astype(dtype) for _ in range(n_states)]
    dy = rng.standard_normal(y_shape).astype(dtype)
    dstates = [rng.standard_normal(s_shape).astype(dtype) for _ in range(n_states)]
    lengths = rng.integers(1, T + 1, size=B) if use_lengths else None

    mine = run_pyrnn(layer, x, states, dy, dstates, lengths)
    tm = torch_layer(kind, I, H, L, bias=bias, batch_first=batch_first, bidirectional=bidir,
                     nonlinearity=mode[4:] if kind == "rnn" else "tanh",
                     state_dict=layer.state_dict(), dtype=dtype)
    ref = run_torch_layer(tm, x, states, dy, dstates, lengths=lengths, dtype=dtype)

    assert mine["y"].shape == ref["y"].shape and mine["y"].dtype == np.dtype(dtype)
    assert_close(mine["y"], ref["y"], dtype, "y")
    for i, (a, b) in enumerate(zip(mine["states_n"], ref["states_n"])):
        assert a.shape == b.shape
        assert_close(a, b, dtype, f"final state {i}")
    assert mine["dx"].shape == x.shape
    assert_close(mine["dx"], ref["dx"], dtype, "dx")
    for i, (a, b) in enumerate(zip(mine["dstates0"], ref["dstates0"])):
        assert_close(a, b, dtype, f"d initial state {i}")
    assert sorted(mine["grads"]) == sorted(ref["grads"])
    for name, g in ref["grads"].items():
        assert mine["grads"][name].shape == g.shape
        assert_close(mine["grads"][name], g, dtype, f"grad {name}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("stack", STACKS, ids=lambda s: "L{}{}{}{}{}".format(
    s[0], "-bi" if s[1] else "", "-bf" if s[2] else "", "-len" if s[3] else "", "" if s[4] else "-nobias"))
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T{}B{}I{}H{}".format(*s))
@pytest.mark.parametrize("mode", MODES)
def test_layer_matches_torch(mode, shape, stack, dtype, backend):
    compare_with_torch(mode, *shape, *stack, dtype=dtype, backend=backend)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("bidir", [False, True])
@pytest.mark.parametrize("mode", MODES)
def test_unbatched_layer_matches_torch(mode, bidir, dtype, backend):
    compare_with_torch(mode, 6, 1, 3, 4, 2, bidir, False, False, True, dtype, backend, unbatched=True)


@settings(max_examples=40, deadline=None)
@given(mode=st.sampled_from(MODES), T=st.integers(1, 8), B=st.integers(1, 5), I=st.integers(1, 6),
       H=st.integers(1, 6), L=st.integers(1, 3), bidir=st.booleans(), batch_first=st.booleans(),
       use_lengths=st.booleans(), bias=st.booleans(), seed=st.integers(0, 2**16))
def test_random_shapes_match_torch_float64(mode, T, B, I, H, L, bidir, batch_first, use_lengths, bias,
                                            seed):
    import pyrnn
    for backend in pyrnn.available_backends():
        compare_with_torch(mode, T, B, I, H, L, bidir, batch_first, use_lengths, bias, np.float64,
                           backend, seed=seed)
