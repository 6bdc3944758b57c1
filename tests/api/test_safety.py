"""The module contract around the numbers: aliasing, padding hygiene, copying, assignment, fallback."""
import copy
import pickle

import numpy as np
import pytest

import pyrnn
from shared import CELLS, LAYERS, assert_close


def _layer(kind, backend, **kwargs):
    return LAYERS[kind](3, 4, backend=backend, dtype=np.float64, seed=0, **kwargs)


def _fwd(layer, x, **kwargs):
    y, state = layer(x, **kwargs)
    return y, (state if isinstance(state, tuple) else (state,))


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_layer_input_changed_after_forward_does_not_change_gradients(kind, backend):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 2, 3))
    dy = rng.standard_normal((5, 2, 4))
    a, b = _layer(kind, backend), _layer(kind, backend)
    a(x.copy())
    dx_a, _ = a.backward(dy)
    b(x)
    x[...] = 123.0                      # the caller reuses its buffer before backward
    dx_b, _ = b.backward(dy)
    assert_close(dx_b, dx_a, np.float64)
    for name in a.grads:
        assert_close(b.grads[name], a.grads[name], np.float64, name)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_decoder_reusing_one_input_buffer_matches_torch(kind, backend):
    """buf[:] = next input; h = cell(buf, h) -- every step must keep its own input."""
    torch = pytest.importorskip("torch")
    from torch_oracle import torch_cell
    rng = np.random.default_rng(1)
    xs = rng.standard_normal((4, 2, 3))
    cell = CELLS[kind](3, 4, backend=backend, dtype=np.float64, seed=0)
    tc = torch_cell(kind, 3, 4, state_dict=cell.state_dict(), dtype=np.float64)
    buf, state, t_state, loss = np.empty((2, 3)), None, None, 0
    for t in range(4):
        buf[...] = xs[t]
        state = cell(buf, state)
        t_state = tc(torch.from_numpy(xs[t]), t_state)
        h_t = t_state[0] if kind == "lstm" else t_state
        loss = loss + h_t.sum()
    loss.backward()
    carry = None
    for t in reversed(range(4)):
        ones = np.ones((2, 4))
        if kind == "lstm":
            _, carry = cell.backward((ones if carry is None else ones + carry[0], None if carry is None else carry[1]))
        else:
            _, carry = cell.backward(ones if carry is None else ones + carry)
    for name, p in tc.named_parameters():
        assert_close(cell.grads[name], p.grad.numpy(), np.float64, name)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_non_finite_padding_gets_no_gradient_and_changes_nothing(kind, backend):
    rng = np.random.default_rng(2)
    lengths = np.array([5, 2, 3])
    pad = np.arange(5)[:, None] >= lengths[None, :]
    x = rng.standard_normal((5, 3, 3))
    clean, dirty = _layer(kind, backend, bidirectional=True), _layer(kind, backend, bidirectional=True)
    dy = rng.standard_normal((5, 3, 8))
    y1, s1 = _fwd(clean, x, lengths=lengths)
    dx1, _ = clean.backward(dy)
    x_bad = np.where(pad[:, :, None], np.nan, x)
    dy_bad = np.where(pad[:, :, None], np.inf, dy)
    y2, s2 = _fwd(dirty, x_bad, lengths=lengths)
    dx2, _ = dirty.backward(dy_bad)
    assert np.all(np.isfinite(y2)) and np.all(np.isfinite(dx2))
    assert_close(y2, y1, np.float64)
    assert_close(dx2, dx1, np.float64)
    assert np.all(dx2[pad] == 0)
    for name in clean.grads:
        assert np.all(np.isfinite(dirty.grads[name])), name
        assert_close(dirty.grads[name], clean.grads[name], np.float64, name)


@pytest.mark.parametrize("make", [lambda b: pyrnn.LSTM(3, 4, num_layers=2, backend=b, seed=0),
                                  lambda b: pyrnn.GRUCell(3, 4, backend=b, seed=0)], ids=["LSTM", "GRUCell"])
def test_modules_pickle_and_deepcopy(make, backend):
    module = make(backend)
    x = np.random.default_rng(3).standard_normal((5, 2, 3) if isinstance(module, pyrnn.LSTM) else (2, 3))
    expected = module.eval()(x)
    before = module.state_dict()
    for clone in (pickle.loads(pickle.dumps(module)), copy.deepcopy(module)):
        assert clone.backend == backend
        got = clone(x)
        np.testing.assert_array_equal(np.asarray(got[0]), np.asarray(expected[0]))
        for p in clone.parameters():
            p[...] = 0
    for name, value in module.state_dict().items():   # the clones share no memory with the original
        np.testing.assert_array_equal(value, before[name])


def test_assigning_a_parameter_copies_into_it_with_checks():
    layer = pyrnn.GRU(3, 4, dtype=np.float64, seed=0)
    live = layer.weight_hh_l0
    layer.weight_hh_l0 = np.ones((12, 4))
    assert layer.weight_hh_l0 is live and np.all(live == 1)       # the kernels see it
    with pytest.raises(pyrnn.StateDictError, match="weight_hh_l0.*shape"):
        layer.weight_hh_l0 = np.ones((4, 12))
    layer.some_attribute = 5                                       # ordinary attributes still work
    assert layer.some_attribute == 5


def test_replacing_parameters_between_forward_and_backward_is_refused():
    layer = pyrnn.LSTM(3, 4, seed=0)
    y, _ = layer(np.ones((2, 1, 3), np.float32))
    layer.load_state_dict(pyrnn.LSTM(3, 4, seed=1).state_dict())
    with pytest.raises(RuntimeError, match="between forward"):
        layer.backward(np.ones_like(y))
    cell = pyrnn.RNNCell(3, 4, seed=0)
    cell(np.ones(3, np.float32))
    cell.bias_hh = np.zeros(4)
    with pytest.raises(RuntimeError, match="between forward"):
        cell.backward(np.ones(4, np.float32))


def test_load_state_dict_strict_false_reports_missing_and_unexpected():
    layer = pyrnn.RNN(3, 4, seed=0)
    missing, unexpected = layer.load_state_dict({"weight_ih_l0": np.zeros((4, 3)), "extra": 1}, strict=False)
    assert np.all(layer.weight_ih_l0 == 0)
    assert missing == ["weight_hh_l0", "bias_ih_l0", "bias_hh_l0"] and unexpected == ["extra"]
    assert layer.load_state_dict(layer.state_dict()) == ([], [])


@pytest.mark.parametrize("kind", ["rnn", "gru"])
def test_hx_is_accepted_as_torchs_name_for_h0(kind):
    layer = LAYERS[kind](3, 4, seed=0)
    x, h = np.ones((2, 1, 3), np.float32), np.full((1, 1, 4), 0.5, np.float32)
    np.testing.assert_array_equal(layer(x, hx=h)[0], layer(x, h)[0])
    with pytest.raises(TypeError, match="h0 or as hx"):
        layer(x, h, hx=h)


def test_a_subclass_forward_is_what_calling_runs():
    class Doubled(pyrnn.GRU):
        def forward(self, x, h0=None, lengths=None):
            y, h = super().forward(x, h0, lengths)
            return 2 * y, h

    layer = Doubled(3, 4, seed=0)
    x = np.ones((2, 1, 3), np.float32)
    np.testing.assert_array_equal(layer(x)[0], 2 * pyrnn.GRU.forward(layer, x)[0])


def test_auto_falls_back_when_the_best_backend_fails_to_load():
    from pyrnn import backends
    from pyrnn.backends.numpy_ref import NumpyBackend

    def broken():
        raise ImportError("numba compiled against another NumPy")

    backends.register("brokenfast", probe=lambda: None, load=broken, priority=10**6)
    try:
        assert pyrnn.LSTM(2, 3).backend != "brokenfast"
        with pytest.raises(pyrnn.BackendUnavailableError, match="failed to load: ImportError"):
            pyrnn.LSTM(2, 3, backend="brokenfast")
        assert "failed to load" in pyrnn.backend_status()["brokenfast"]
        assert "brokenfast" not in pyrnn.available_backends()
    finally:
        backends.unregister("brokenfast")
    assert isinstance(backends.get_backend("numpy"), NumpyBackend)


def test_gradcheck_rejects_lengths_for_a_cell():
    from pyrnn.gradcheck import gradcheck
    with pytest.raises(TypeError, match="lengths"):
        gradcheck(pyrnn.GRUCell(2, 3, dtype=np.float64), np.zeros(2), lengths=[1])
