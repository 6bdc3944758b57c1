"""IndRNN (pyrnn.IndRNN, pyrnn.IndRNNCell): the reference against a plain torch loop and finite differences.

    h_t = f(W_ih x_t + b_ih + u * h_{t-1}),   f = tanh or relu
"""
import pickle

import numpy as np
import pytest

import pyrnn
from pyrnn import InputError, StateDictError
import pyrnn.backends as backends
from pyrnn.backends import get_backend
from pyrnn.backends.base import BASE_CELLS, UnsupportedCellError
from pyrnn.backends.numpy_ref import NumpyBackend
from pyrnn.cell_specs import CELLS
from pyrnn.gradcheck import TOLERANCE as FD_TOLERANCE
from pyrnn.gradcheck import gradcheck

from cell_checks import backends_running, random_call
from indrnn_oracle import run_loop
from tolerances import assert_close

T, B, I, H = 5, 3, 4, 6
MODES = ("indrnn_tanh", "indrnn_relu")


def indrnn_backends():
    """The available backends that run IndRNN (numpy always)."""
    return backends_running(*MODES)


@pytest.fixture(params=indrnn_backends())
def backend(request):
    return request.param


def run_layer(layer, x, h0, dy, dh_n, lengths=None):
    y, h_n = layer(x, h0, lengths=lengths)
    layer.zero_grad()
    dx, dh0 = layer.backward(dy, dh_n)
    return y, h_n, dx, dh0, {k: g.copy() for k, g in layer.grads.items()}


def problem(layer, rng, batch_first=False):
    """x in the layer's layout, h0, dy, dh_n (random)."""
    D = layer.num_directions
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I))
    h0 = rng.standard_normal((layer.num_layers * D, B, H))
    dy = rng.standard_normal((B, T, D * H) if batch_first else (T, B, D * H))
    dh_n = rng.standard_normal(h0.shape)
    return x, h0, dy, dh_n


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("num_layers,bidirectional,bias,batch_first,with_lengths", [
    (1, False, True, False, False), (1, True, True, False, True), (2, False, False, False, True),
    (2, True, True, True, True), (1, False, True, True, False)])
def test_layer_matches_a_torch_loop(dtype, nonlinearity, num_layers, bidirectional, bias, batch_first,
                                    with_lengths, backend):
    layer = pyrnn.IndRNN(I, H, num_layers=num_layers, nonlinearity=nonlinearity, bias=bias,
                         batch_first=batch_first, bidirectional=bidirectional, backend=backend,
                         dtype=dtype, seed=1)
    rng = np.random.default_rng(2)
    x, h0, dy, dh_n = problem(layer, rng, batch_first)
    lengths = np.array([T, 2, 4]) if with_lengths else None
    got = run_layer(layer, x.astype(dtype), h0.astype(dtype), dy.astype(dtype), dh_n.astype(dtype), lengths)
    tm = (lambda a: a.transpose(1, 0, 2)) if batch_first else (lambda a: a)
    y, h_n, dx, dh0, grads = run_loop(layer.state_dict(), tm(x), h0, tm(dy), dh_n, dtype,
                                      nonlinearity=nonlinearity, num_layers=num_layers,
                                      bidirectional=bidirectional, lengths=lengths)
    for what, a, b in [("y", got[0], tm(y)), ("h_n", got[1], h_n), ("dx", got[2], tm(dx)), ("dh0", got[3], dh0)]:
        assert a.dtype == dtype
        assert_close(a, b, dtype, what)
    assert set(got[4]) == set(grads)
    for name, g in grads.items():
        assert_close(got[4][name], g, dtype, name)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_every_gradient_against_finite_differences(nonlinearity, bidirectional, backend):
    layer = pyrnn.IndRNN(3, 4, num_layers=2, nonlinearity=nonlinearity, bidirectional=bidirectional,
                         backend=backend, dtype=np.float64, seed=3)
    x = np.random.default_rng(4).standard_normal((4, 2, 3))
    errors = gradcheck(layer, x, lengths=[4, 2])
    names = {n for n, _ in layer.named_parameters()} | {"x", "h0"}
    assert set(errors) == names
    assert max(errors.values()) < FD_TOLERANCE, errors


def test_cell_gradients_against_finite_differences(backend):
    cell = pyrnn.IndRNNCell(3, 5, nonlinearity="relu", backend=backend, dtype=np.float64, seed=5)
    errors = gradcheck(cell, np.random.default_rng(6).standard_normal((2, 3)))
    assert set(errors) == {"weight_ih", "weight_hh", "bias_ih", "x", "h0"}
    assert max(errors.values()) < FD_TOLERANCE, errors


@pytest.mark.parametrize("mode", MODES)
def test_backend_matches_the_reference_in_float64(mode, backend):
    """Direct backend calls (lengths, reverse) against the description's reference math, exactly to 1e-10."""
    spec = CELLS[mode]
    rng = np.random.default_rng(7)
    x, state, weights = random_call(spec, T, B, I, H, rng)
    lengths = np.array([T, 1, 3])
    impl = get_backend(backend)
    for reverse in (False, True):
        y, state_n, saved = impl.forward(mode, x, state, weights, lengths, reverse, True)
        ry, rstate_n, rsaved = spec.forward(x, state, weights, lengths, reverse)
        dy, dh = rng.standard_normal(y.shape), rng.standard_normal(state_n[0].shape)
        dx, dstate0, dweights = impl.backward(mode, saved, dy, (dh,))
        rdx, rdstate0, rdweights = spec.backward(rsaved, dy, (dh,))
        for a, b in zip([y, *state_n, dx, *dstate0, *dweights], [ry, *rstate_n, rdx, *rdstate0, *rdweights]):
            assert_close(a, b, np.float64)


@pytest.mark.parametrize("mode", MODES)
def test_backend_results_are_fresh_arrays(mode, backend):
    """As the contract says for every cell: no result shares memory with another result or an input."""
    spec = CELLS[mode]
    rng = np.random.default_rng(16)
    x, state, weights = random_call(spec, T, B, I, H, rng)
    impl = get_backend(backend)
    y, state_n, saved = impl.forward(mode, x, state, weights, None, False, True)
    dy, dh = rng.standard_normal(y.shape), rng.standard_normal((B, H))
    dx, dstate0, dweights = impl.backward(mode, saved, dy, (dh,))
    results = [y, *state_n, dx, *dstate0, *dweights]
    for i, a in enumerate(results):
        for b in results[i + 1:] + [x, *state, *weights, dy, dh]:
            assert not np.shares_memory(a, b)


def test_reverse_is_forward_on_the_flipped_sequence():
    spec = CELLS["indrnn_tanh"]
    x, state, weights = random_call(spec, T, B, I, H, np.random.default_rng(8))
    y_rev, (h_rev,), _ = spec.forward(x, state, weights, None, True)
    y_fwd, (h_fwd,), _ = spec.forward(x[::-1].copy(), state, weights, None, False)
    np.testing.assert_array_equal(y_rev, y_fwd[::-1])
    np.testing.assert_array_equal(h_rev, h_fwd)


def test_lengths_are_sequences_run_alone(backend):
    """Padded steps give y = 0; h_n is the state at each sequence's own last step."""
    layer = pyrnn.IndRNN(I, H, bidirectional=True, backend=backend, dtype=np.float64, seed=9)
    rng = np.random.default_rng(10)
    x = rng.standard_normal((T, B, I))
    lengths = np.array([T, 2, 4])
    y, h_n = layer(x, lengths=lengths)
    for b, n in enumerate(lengths):
        y_b, h_b = layer(x[:n, b:b + 1])
        assert_close(y[:n, b], y_b[:, 0], np.float64)
        assert not y[n:, b].any()
        assert_close(h_n[:, b], h_b[:, 0], np.float64)


def test_relu_nan_stays_nan():
    """A NaN input stays NaN through relu and u * h (torch.relu keeps NaN); gradients as torch's autograd."""
    layer = pyrnn.IndRNN(I, H, nonlinearity="relu", backend="numpy", dtype=np.float64, seed=0)
    rng = np.random.default_rng(11)
    x, h0, dy, dh_n = problem(layer, rng)
    x[1, 0, 0] = np.nan
    y, h_n, dx, dh0, grads = run_layer(layer, x, h0, dy, dh_n)
    assert np.isnan(y[1:, 0]).all() and np.isnan(h_n[0, 0]).all()
    assert np.isfinite(y[:, 1:]).all() and np.isfinite(y[0]).all()
    assert np.isnan(grads["weight_ih_l0"]).any()
    expected = run_loop(layer.state_dict(), x, h0, dy, dh_n, np.float64, nonlinearity="relu")
    for what, a, b in zip(["y", "h_n", "dx", "dh0"], (y, h_n, dx, dh0), expected[:4]):
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=what)
        assert_close(a, b, np.float64, what)           # NaN where torch has NaN, equal elsewhere
    for name, g in expected[4].items():
        np.testing.assert_array_equal(np.isnan(grads[name]), np.isnan(g), err_msg=name)
        assert_close(grads[name], g, np.float64, name)


def test_state_dict_names_shapes_and_initialisation():
    layer = pyrnn.IndRNN(I, H, num_layers=2, bidirectional=True, seed=0)
    names = [f"{kind}_l{k}{sfx}" for k in range(2) for sfx in ("", "_reverse")
             for kind in ("weight_ih", "weight_hh", "bias_ih")]
    sd = layer.state_dict()
    assert list(sd) == names
    assert sd["weight_ih_l0"].shape == (H, I) and sd["weight_ih_l1"].shape == (H, 2 * H)
    assert sd["weight_hh_l1_reverse"].shape == (H,) and sd["bias_ih_l0_reverse"].shape == (H,)
    bound = 1 / np.sqrt(H)
    for name, value in sd.items():
        low, high = (0, 1) if name.startswith("weight_hh") else (-bound, bound)
        assert value.min() >= low and value.max() <= high, name
    assert list(pyrnn.IndRNN(I, H, bias=False).state_dict()) == ["weight_ih_l0", "weight_hh_l0"]
    assert list(pyrnn.IndRNNCell(I, H).state_dict()) == ["weight_ih", "weight_hh", "bias_ih"]
    # one seed, same weights in float32 and float64; a state dict round-trips
    a = pyrnn.IndRNN(I, H, seed=4, dtype=np.float64)
    b = pyrnn.IndRNN(I, H, seed=4, dtype=np.float32)
    assert_close(b.weight_hh_l0, a.weight_hh_l0, np.float32)
    b.load_state_dict(pyrnn.IndRNN(I, H, seed=5).state_dict())
    np.testing.assert_array_equal(b.weight_ih_l0, pyrnn.IndRNN(I, H, seed=5).weight_ih_l0)


def test_cell_steps_equal_the_layer(backend):
    layer = pyrnn.IndRNN(I, H, nonlinearity="relu", backend=backend, dtype=np.float64, seed=12)
    cell = pyrnn.IndRNNCell(I, H, nonlinearity="relu", backend=backend, dtype=np.float64)
    cell.load_state_dict({k[:-len("_l0")]: v for k, v in layer.state_dict().items()})
    x = np.random.default_rng(13).standard_normal((T, B, I))
    y, h_n = layer(x)
    h = None
    for t in range(T):
        h = cell(x[t], h)
        assert_close(h, y[t], np.float64)
    assert_close(h, h_n[0], np.float64)


def test_repr_and_pickle():
    layer = pyrnn.IndRNN(I, H, num_layers=2, nonlinearity="relu", backend="numpy", seed=0)
    assert repr(layer) == "IndRNN(4, 6, num_layers=2, nonlinearity='relu', backend='numpy', dtype=float32)"
    assert repr(pyrnn.IndRNNCell(I, H, backend="numpy")).startswith("IndRNNCell(4, 6, nonlinearity='tanh'")
    copy = pickle.loads(pickle.dumps(layer))
    x = np.ones((T, B, I), np.float32)
    np.testing.assert_array_equal(copy(x)[0], layer(x)[0])


def one_line_error(exc_type, match, fn, *args, **kwargs):
    with pytest.raises(exc_type, match=match) as info:
        fn(*args, **kwargs)
    assert type(info.value) is exc_type and "\n" not in str(info.value)
    return str(info.value)


def test_bad_shapes_name_the_argument():
    layer = pyrnn.IndRNN(I, H, num_layers=2, seed=0)
    x = np.zeros((T, B, I), np.float32)
    one_line_error(InputError, "x must have input_size = 4", layer, np.zeros((T, B, I + 1)))
    one_line_error(InputError, r"h0 must have shape \(num_layers \* num_directions, batch, hidden_size\)",
                   layer, x, np.zeros((1, B, H)))
    layer(x)
    one_line_error(InputError, "dy must have shape", layer.backward, np.zeros((T, B, H + 1)))
    one_line_error(StateDictError, r"state_dict\['weight_hh_l0'\] must have shape \(6,\)",
                   layer.load_state_dict, {**layer.state_dict(), "weight_hh_l0": np.zeros((H, H))})
    one_line_error(InputError, "nonlinearity must be 'tanh' or 'relu'", pyrnn.IndRNN, I, H, nonlinearity="sigmoid")
    # a direct backend call: u must be (H,), not the (H, H) matrix of an Elman RNN
    spec = CELLS["indrnn_tanh"]
    xb, state, weights = random_call(spec, T, B, I, H, np.random.default_rng(0))
    numpy = get_backend("numpy")
    one_line_error(InputError, r"w_hh \(H,\) for indrnn_tanh; got w_hh of shape \(6, 6\)",
                   numpy.forward, "indrnn_tanh", xb, state, (weights[0], np.zeros((H, H)), weights[2]), None,
                   False, False)
    one_line_error(InputError, r"weight_ih must have shape \(6, 4\) for a indrnn_tanh layer",
                   numpy.forward, "indrnn_tanh", xb, state, (np.zeros((H, I + 1)), weights[1], weights[2]), None,
                   False, False)
    one_line_error(InputError, r"weights must be \(w_ih, w_hh, b_ih\), got 4 entries",
                   numpy.forward, "indrnn_tanh", xb, state, weights + (None,), None, False, False)


class ClassicOnly(NumpyBackend):
    """The NumPy reference under another name, listing only the cells every backend runs."""

    name = "classiconly"
    cells = BASE_CELLS


@pytest.fixture
def classic_only():
    """A backend that ranks above every real one and has no IndRNN kernels (unregistered afterwards)."""
    backends.register("classiconly", probe=lambda: None, load=ClassicOnly, priority=10**6)
    yield get_backend("classiconly")
    backends.unregister("classiconly")


def test_a_call_one_backend_accepted_is_still_refused_by_one_without_the_cell():
    # Backend.forward remembers the calls that passed its checks; that memory must not let a backend
    # of the same name without the cell (or the dtype) skip its own refusal.
    x, state, weights = random_call(CELLS["indrnn_tanh"], T, B, I, H, np.random.default_rng(0))

    class Everything(NumpyBackend):
        name = "classiconly"

    Everything().forward("indrnn_tanh", x, state, weights, None, False, False)
    Everything().forward("indrnn_tanh", x, state, weights, None, False, False)   # the remembered pass
    one_line_error(UnsupportedCellError, "backend 'classiconly' has no kernels for the indrnn_tanh cell",
                   ClassicOnly().forward, "indrnn_tanh", x, state, weights, None, False, False)


def test_a_backend_without_kernels_refuses_and_auto_takes_one_that_runs_it(classic_only):
    message = one_line_error(UnsupportedCellError, "backend 'classiconly' has no kernels for the indrnn_tanh cell",
                             pyrnn.IndRNN, I, H, backend="classiconly")
    assert "backend='numpy'" in message and "it runs rnn_tanh, rnn_relu, lstm, gru" in message
    one_line_error(UnsupportedCellError, "backend 'classiconly' has no kernels for the indrnn_relu cell",
                   pyrnn.IndRNNCell, I, H, nonlinearity="relu", backend="classiconly")
    x, state, weights = random_call(CELLS["indrnn_tanh"], T, B, I, H, np.random.default_rng(0))
    one_line_error(UnsupportedCellError, "backend 'classiconly' has no kernels for the indrnn_tanh cell",
                   classic_only.forward, "indrnn_tanh", x, state, weights, None, False, False)
    assert issubclass(UnsupportedCellError, pyrnn.BackendUnavailableError)
    # "auto": the best backend that runs the cell; the other cells keep the best one overall
    assert pyrnn.available_backends()[0] == "classiconly"
    assert pyrnn.IndRNN(I, H).backend == indrnn_backends()[0] != "classiconly"
    assert pyrnn.IndRNNCell(I, H, nonlinearity="relu").backend == indrnn_backends()[0]
    assert pyrnn.RNN(I, H).backend == pyrnn.LSTMCell(I, H).backend == "classiconly"


@pytest.mark.parametrize("bidirectional,bias", [(False, True), (True, False)])
def test_jax_function_matches_the_layer(bidirectional, bias):
    """pyrnn.jax.indrnn: values and jax.grad equal the layer's forward and backward (float64)."""
    jax = pytest.importorskip("jax")
    pj = pytest.importorskip("pyrnn.jax")
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        layer = pyrnn.IndRNN(I, H, num_layers=2, nonlinearity="relu", bias=bias, bidirectional=bidirectional,
                             backend="numpy", dtype=np.float64, seed=14)
        x, h0, dy, dh_n = problem(layer, np.random.default_rng(15))
        lengths = np.array([T, 3, 1])
        y, h_n, dx, dh0, grads = run_layer(layer, x, h0, dy, dh_n, lengths)
        params = {k: jax.numpy.asarray(v) for k, v in layer.state_dict().items()}

        def loss(p, xx, hh):
            yy, hn = pj.indrnn(p, xx, hh, nonlinearity="relu", lengths=lengths)
            return (yy * dy).sum() + (hn * dh_n).sum()

        yj, hj = pj.indrnn(params, x, h0, nonlinearity="relu", lengths=lengths)
        gp, gx, gh = jax.grad(loss, argnums=(0, 1, 2))(params, x, h0)
        for what, a, b in [("y", yj, y), ("h_n", hj, h_n), ("dx", gx, dx), ("dh0", gh, dh0)]:
            assert_close(np.asarray(a), b, np.float64, what)
        for name, g in grads.items():
            assert_close(np.asarray(gp[name]), g, np.float64, name)
    finally:
        jax.config.update("jax_enable_x64", before)
