"""LayerNormLSTM (pyrnn.LayerNormLSTM, pyrnn.LayerNormLSTMCell) against the same math as a torch loop.

Every backend that runs the cell ``layernorm_lstm`` is checked, forward and every gradient,
layers x directions, batch_first, lengths, hx; plus finite differences, the cell against the
layer, names and initialisation, and pyrnn.jax. The oracle runs in float64: float64 results
must match it elementwise to 1e-10; float32 results to 1e-4 of each array's scale
(tolerances.assert_close_scaled). Measured on these problems: torch's own float32 loop is
2e-5 from the float64 result on gradients of scale ~5 (a layer norm's 1/std, two layers of
BPTT), pyrnn's float32 backends 2e-5 (numpy) to 1.5e-4 (numba), so a float32-vs-float32
elementwise 1e-4 would test rounding noise, not the math.
"""
import pickle

import numpy as np
import pytest

import pyrnn
from pyrnn.backends import get_backend
from pyrnn.cell_specs import CELLS
from pyrnn.errors import InputError
from pyrnn.gradcheck import TOLERANCE as FD_TOLERANCE
from pyrnn.gradcheck import gradcheck

from cell_checks import backends_running, random_call
from layernorm_lstm_oracle import run_loop
from tolerances import assert_close, assert_close_scaled

T, B, I, H = 5, 3, 4, 6
MODE = "layernorm_lstm"


@pytest.fixture(params=backends_running(MODE))
def backend(request):
    return request.param


def perturbed(layer, rng):
    """The layer with every parameter moved off its initial value (gains 1 and shifts 0 would hide
    a swapped or ignored LN parameter); returns its state dict."""
    state = {k: v + 0.3 * rng.standard_normal(v.shape).astype(v.dtype) for k, v in layer.state_dict().items()}
    layer.load_state_dict(state)
    return layer.state_dict()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("num_layers,bidirectional,bias,batch_first,with_lengths", [
    (1, False, True, False, False), (1, True, True, False, True), (2, False, False, False, True),
    (2, True, True, True, True), (1, False, True, True, False)])
def test_layer_matches_a_torch_loop(dtype, num_layers, bidirectional, bias, batch_first, with_lengths, backend):
    layer = pyrnn.LayerNormLSTM(I, H, num_layers=num_layers, bias=bias, batch_first=batch_first,
                                bidirectional=bidirectional, backend=backend, dtype=dtype, seed=1)
    rng = np.random.default_rng(2)
    state = perturbed(layer, rng)
    D = layer.num_directions
    x = rng.standard_normal((T, B, I)).astype(dtype)
    h0, c0 = (rng.standard_normal((num_layers * D, B, H)).astype(dtype) for _ in range(2))
    dy = rng.standard_normal((T, B, D * H)).astype(dtype)
    dh_n, dc_n = (rng.standard_normal(h0.shape).astype(dtype) for _ in range(2))
    lengths = np.array([T, 2, 4]) if with_lengths else None
    if lengths is not None:
        dy[np.arange(T)[:, None] >= lengths[None, :]] = 0
    tm = (lambda a: np.ascontiguousarray(a.transpose(1, 0, 2))) if batch_first else (lambda a: a)
    y, (h_n, c_n) = layer(tm(x), (h0, c0), lengths=lengths)
    layer.zero_grad()
    dx, (dh0, dc0) = layer.backward(tm(dy), (dh_n, dc_n))
    want = run_loop({k: v.astype(np.float64) for k, v in state.items()}, *(a.astype(np.float64) for a in
                    (x, h0, c0, dy, dh_n, dc_n)), np.float64, num_layers, bidirectional, lengths)
    check = assert_close if dtype == np.float64 else assert_close_scaled
    for what, got, exp in zip(("y", "h_n", "c_n", "dx", "dh0", "dc0"), (tm(y), h_n, c_n, tm(dx), dh0, dc0), want):
        assert got.dtype == dtype, what
        check(got, exp, dtype, what)
    assert set(layer.grads) == set(want[6])
    for name, g in want[6].items():
        check(layer.grads[name], g, dtype, name)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_every_gradient_against_finite_differences(bidirectional, backend):
    layer = pyrnn.LayerNormLSTM(3, 4, num_layers=2, bidirectional=bidirectional, backend=backend,
                                dtype=np.float64, seed=3)
    perturbed(layer, np.random.default_rng(4))
    errors = gradcheck(layer, np.random.default_rng(5).standard_normal((4, 2, 3)), lengths=np.array([4, 2]))
    assert set(errors) == {*layer.state_dict(), "x", "h0", "c0"}
    assert max(errors.values()) < FD_TOLERANCE, errors


def test_cell_gradients_against_finite_differences(backend):
    cell = pyrnn.LayerNormLSTMCell(3, 5, backend=backend, dtype=np.float64, seed=6)
    perturbed(cell, np.random.default_rng(7))
    errors = gradcheck(cell, np.random.default_rng(8).standard_normal((2, 3)))
    assert set(errors) == {*cell.state_dict(), "x", "h0", "c0"}
    assert max(errors.values()) < FD_TOLERANCE, errors


def test_backend_matches_the_reference_across_shapes(backend):
    """Direct backend calls (lengths, reverse, float32 and float64) over shapes that cross the kernels'
    paths (batch 1, widths that are not multiples of the vector length, 8+ steps)."""
    spec = CELLS[MODE]
    rng = np.random.default_rng(9)
    for T_, B_, I_, H_ in [(3, 1, 2, 5), (9, 1, 3, 33), (12, 7, 5, 40), (10, 16, 8, 128)]:
        for dtype in (np.float64, np.float32):
            x, state, weights = random_call(spec, T_, B_, I_, H_, rng, dtype=dtype)
            lengths = rng.integers(1, T_ + 1, size=B_)
            for reverse in (False, True):
                results = []
                for name in (backend, "numpy"):
                    be = get_backend(name)
                    y, state_n, saved = be.forward(MODE, x, state, weights, lengths, reverse, True)
                    dy = np.cos(np.arange(y.size)).reshape(y.shape).astype(dtype)
                    dstate = tuple(np.sin(np.arange(s.size)).reshape(s.shape).astype(dtype) for s in state_n)
                    dx, dstate0, dweights = be.backward(MODE, saved, dy, dstate)
                    results.append([y, *state_n, dx, *dstate0, *dweights])
                for k, (got, want) in enumerate(zip(*results)):   # weight gradients sum over T*B rows
                    assert_close_scaled(got, want, dtype, f"output {k} at {(T_, B_, I_, H_)}")


def test_cell_steps_equal_the_layer(backend):
    layer = pyrnn.LayerNormLSTM(I, H, backend=backend, dtype=np.float64, seed=10)
    perturbed(layer, np.random.default_rng(11))
    cell = pyrnn.LayerNormLSTMCell(I, H, backend=backend, dtype=np.float64)
    cell.load_state_dict({k[:-len("_l0")]: v for k, v in layer.state_dict().items()})
    x = np.random.default_rng(12).standard_normal((T, B, I))
    y, (h_n, c_n) = layer(x)
    hx = None
    for t in range(T):
        hx = cell(x[t], hx)
        assert_close(hx[0], y[t], np.float64)
    assert_close(hx[0], h_n[0], np.float64)
    assert_close(hx[1], c_n[0], np.float64)


def test_state_dict_names_shapes_and_initialisation():
    layer = pyrnn.LayerNormLSTM(I, H, num_layers=2, bidirectional=True, seed=0)
    kinds = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "ln_ih_weight", "ln_ih_bias", "ln_hh_weight",
             "ln_hh_bias", "ln_c_weight", "ln_c_bias")
    sd = layer.state_dict()
    assert list(sd) == [f"{kind}_l{k}{sfx}" for k in range(2) for sfx in ("", "_reverse") for kind in kinds]
    assert sd["weight_ih_l1"].shape == (4 * H, 2 * H) and sd["ln_hh_bias_l0_reverse"].shape == (4 * H,)
    assert sd["ln_c_weight_l1"].shape == (H,)
    for name, value in sd.items():
        if name.startswith("ln_"):
            assert (value == (1 if "_weight" in name else 0)).all(), name
        else:
            assert np.abs(value).max() <= 1 / np.sqrt(H), name
    assert list(pyrnn.LayerNormLSTM(I, H, bias=False).state_dict())[:3] == ["weight_ih_l0", "weight_hh_l0",
                                                                            "ln_ih_weight_l0"]
    assert list(pyrnn.LayerNormLSTMCell(I, H).state_dict()) == list(kinds)


def test_padded_steps_hold_h_and_c(backend):
    layer = pyrnn.LayerNormLSTM(I, H, bidirectional=True, backend=backend, dtype=np.float64, seed=13)
    perturbed(layer, np.random.default_rng(14))
    x = np.random.default_rng(15).standard_normal((T, B, I))
    lengths = np.array([T, 2, 4])
    y, (h_n, c_n) = layer(x, lengths=lengths)
    for b, n in enumerate(lengths):
        y_b, (h_b, c_b) = layer(x[:n, b:b + 1])
        assert_close(y[:n, b], y_b[:, 0], np.float64)
        assert not y[n:, b].any()
        assert_close(h_n[:, b], h_b[:, 0], np.float64)
        assert_close(c_n[:, b], c_b[:, 0], np.float64)


def test_repr_pickle_and_errors():
    layer = pyrnn.LayerNormLSTM(I, H, num_layers=2, backend="numpy", seed=0)
    assert repr(layer) == "LayerNormLSTM(4, 6, num_layers=2, backend='numpy', dtype=float32)"
    copy = pickle.loads(pickle.dumps(layer))
    x = np.ones((T, B, I), np.float32)
    np.testing.assert_array_equal(copy(x)[0], layer(x)[0])
    with pytest.raises(InputError, match=r"c0 must have shape"):
        layer(x, (None, np.zeros((2, B, H + 1))))
    with pytest.raises(InputError, match=r"ln_c_weight_l0\b.* must have shape \(6,\)|state_dict\['ln_c_weight_l0'\]"):
        layer.load_state_dict({**layer.state_dict(), "ln_c_weight_l0": np.zeros(H + 1)})
    spec = CELLS[MODE]
    xb, state, weights = random_call(spec, T, B, I, H, np.random.default_rng(0))
    bad = list(weights)
    bad[8] = np.zeros(4 * H)    # ln_c_weight must be (H,)
    with pytest.raises(InputError, match=r"ln_c_weight must have shape \(6,\)"):
        get_backend("numpy").forward(MODE, xb, state, tuple(bad), None, False, False)


@pytest.mark.parametrize("bidirectional,bias", [(False, True), (True, False)])
def test_jax_function_matches_the_layer(bidirectional, bias):
    jax = pytest.importorskip("jax")
    pj = pytest.importorskip("pyrnn.jax")
    layer = pyrnn.LayerNormLSTM(I, H, num_layers=2, bias=bias, bidirectional=bidirectional, backend="numpy",
                                dtype=np.float32, seed=16)
    perturbed(layer, np.random.default_rng(17))
    params = {k: jax.numpy.asarray(v) for k, v in layer.state_dict().items()}
    x = np.random.default_rng(18).standard_normal((T, B, I)).astype(np.float32)
    lengths = np.array([T, 3, 1])
    y, (h_n, c_n) = layer(x, lengths=lengths)
    yj, (hj, cj) = pj.layernorm_lstm(params, x, lengths=lengths)
    for what, a, b in [("y", yj, y), ("h_n", hj, h_n), ("c_n", cj, c_n)]:
        assert_close(np.asarray(a), b, np.float32, what)

    def loss(p):
        yy, (hh, cc) = pj.layernorm_lstm(p, x, lengths=lengths)
        return jax.numpy.sum(jax.numpy.sin(yy)) + jax.numpy.sum(hh) + jax.numpy.sum(cc * cc)

    grads = jax.grad(loss)(params)
    layer.zero_grad()
    layer(x, lengths=lengths)
    layer.backward(np.cos(y), (np.ones_like(h_n), 2 * c_n))
    for name, g in grads.items():
        assert_close(np.asarray(g), layer.grads[name], np.float32, name)
