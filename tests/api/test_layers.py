"""Layer semantics beyond single-run parity: invariants (hypothesis), TBPTT, state dicts, modes."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pyrnn
from shared import LAYERS, assert_close

KIND_MODES = [("rnn", {"nonlinearity": "tanh"}), ("rnn", {"nonlinearity": "relu"}), ("lstm", {}), ("gru", {})]
IDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


def make(kind, extra, I, H, backend, dtype=np.float64, seed=0, **kwargs):
    return LAYERS[kind](I, H, backend=backend, dtype=dtype, seed=seed, **extra, **kwargs)


def call(layer, x, states=None, lengths=None):
    """Forward returning (y, [final states])."""
    if isinstance(layer, pyrnn.LSTM):
        y, (h, c) = layer(x, None if states is None else tuple(states), lengths=lengths)
        return y, [h, c]
    y, h = layer(x, None if states is None else states[0], lengths=lengths)
    return y, [h]


def back(layer, dy, dstates=None):
    """Backward returning (dx, [initial-state grads])."""
    if isinstance(layer, pyrnn.LSTM):
        dx, (dh, dc) = layer.backward(dy, None if dstates is None else tuple(dstates))
        return dx, [dh, dc]
    dx, dh = layer.backward(dy, None if dstates is None else dstates[0])
    return dx, [dh]


shape_strategy = st.tuples(st.integers(1, 7), st.integers(1, 4), st.integers(1, 4), st.integers(1, 5),
                           st.integers(1, 3), st.booleans())


@settings(max_examples=25, deadline=None)
@given(km=st.sampled_from(KIND_MODES), shape=shape_strategy, seed=st.integers(0, 1000))
def test_each_sequence_is_independent_of_the_batch(km, shape, seed):
    """Row b of a batched run equals running sequence b alone (with its own length)."""
    T, B, I, H, L, bidir = shape
    rng = np.random.default_rng(seed)
    for backend in pyrnn.available_backends():
        layer = make(*km, I, H, backend, num_layers=L, bidirectional=bidir)
        x = rng.standard_normal((T, B, I))
        lengths = rng.integers(1, T + 1, size=B)
        y, finals = call(layer, x, lengths=lengths)
        for b in range(B):
            yb, fb = call(layer, x[:lengths[b], b:b + 1], lengths=None)
            assert_close(y[:lengths[b], b:b + 1], yb, np.float64)
            assert np.all(y[lengths[b]:, b] == 0)
            for f, g in zip(finals, fb):
                assert_close(f[:, b:b + 1], g, np.float64)


@settings(max_examples=25, deadline=None)
@given(km=st.sampled_from(KIND_MODES), shape=shape_strategy, seed=st.integers(0, 1000))
def test_padding_content_is_ignored_and_gets_no_gradient(km, shape, seed):
    T, B, I, H, L, bidir = shape
    rng = np.random.default_rng(seed)
    for backend in pyrnn.available_backends():
        layer = make(*km, I, H, backend, num_layers=L, bidirectional=bidir)
        lengths = rng.integers(1, T + 1, size=B)
        pad = np.arange(T)[:, None] >= lengths[None, :]          # (T, B)
        x1 = rng.standard_normal((T, B, I))
        x2 = np.where(pad[:, :, None], 100 * rng.standard_normal((T, B, I)), x1)
        y1, f1 = call(layer, x1, lengths=lengths)
        dy = rng.standard_normal(y1.shape)
        dx1, d1 = back(layer, dy)
        g1 = {k: v.copy() for k, v in layer.grads.items()}
        layer.zero_grad()
        y2, f2 = call(layer, x2, lengths=lengths)
        dx2, d2 = back(layer, np.where(pad[:, :, None], 7.0, dy))  # dy at padding is ignored
        assert_close(y1, y2, np.float64)
        assert_close(dx1, dx2, np.float64)
        assert np.all(dx1[pad] == 0)
        for a, b in zip(f1 + d1, f2 + d2):
            assert_close(a, b, np.float64)
        for k in g1:
            assert_close(layer.grads[k], g1[k], np.float64, k)


@settings(max_examples=20, deadline=None)
@given(km=st.sampled_from(KIND_MODES), T=st.integers(2, 8), split=st.integers(1, 7), B=st.integers(1, 3),
       L=st.integers(1, 2), seed=st.integers(0, 1000))
def test_truncated_bptt_chunks_continue_the_sequence_exactly(km, T, split, B, L, seed):
    """Chunk 2 started from chunk 1's final state = the uninterrupted run; backward covers the chunk,
    and feeding chunk 2's d(initial state) into chunk 1's backward recovers full BPTT."""
    split = min(split, T - 1)
    rng = np.random.default_rng(seed)
    for backend in pyrnn.available_backends():
        layer = make(*km, 3, 4, backend, num_layers=L)
        x = rng.standard_normal((T, B, 3))
        dy = rng.standard_normal((T, B, 4))
        y_full, f_full = call(layer, x)
        dx_full, d0_full = back(layer, dy)
        g_full = {k: v.copy() for k, v in layer.grads.items()}
        layer.zero_grad()

        y1, f1 = call(layer, x[:split])
        y2, f2 = call(layer, x[split:], f1)       # the pending tape is now chunk 2
        assert_close(np.concatenate([y1, y2]), y_full, np.float64)
        for a, b in zip(f2, f_full):
            assert_close(a, b, np.float64)
        dx2, d_mid = back(layer, dy[split:])
        call(layer, x[:split])                      # re-run chunk 1 to backprop it as well
        dx1, d0 = back(layer, dy[:split], d_mid)
        assert_close(np.concatenate([dx1, dx2]), dx_full, np.float64)
        for a, b in zip(d0, d0_full):
            assert_close(a, b, np.float64)
        for k in g_full:
            assert_close(layer.grads[k], g_full[k], np.float64, k)


@pytest.mark.parametrize("km", KIND_MODES, ids=IDS)
def test_batch_first_is_a_transpose(km, backend):
    rng = np.random.default_rng(0)
    a = make(*km, 3, 4, backend, num_layers=2, bidirectional=True)
    b = make(*km, 3, 4, backend, num_layers=2, bidirectional=True, batch_first=True)
    b.load_state_dict(a.state_dict())
    x, lengths = rng.standard_normal((5, 3, 3)), [5, 2, 4]
    ya, fa = call(a, x, lengths=lengths)
    yb, fb = call(b, x.transpose(1, 0, 2), lengths=lengths)
    assert_close(yb, ya.transpose(1, 0, 2), np.float64)
    dy = rng.standard_normal(ya.shape)
    dxa, _ = back(a, dy)
    dxb, _ = back(b, dy.transpose(1, 0, 2))
    assert_close(dxb, dxa.transpose(1, 0, 2), np.float64)
    for f, g in zip(fa, fb):
        assert_close(f, g, np.float64)


@pytest.mark.parametrize("km", KIND_MODES, ids=IDS)
def test_float32_follows_float64(km, backend):
    rng = np.random.default_rng(1)
    l64 = make(*km, 4, 6, backend, num_layers=2, bidirectional=True)
    l32 = make(*km, 4, 6, backend, dtype=np.float32, num_layers=2, bidirectional=True)
    l32.load_state_dict(l64.state_dict())
    x = rng.standard_normal((9, 3, 4))
    y64, _ = call(l64, x)
    y32, _ = call(l32, x.astype(np.float32))
    assert y32.dtype == np.float32
    dy = rng.standard_normal(y64.shape)
    dx64, _ = back(l64, dy)
    dx32, _ = back(l32, dy.astype(np.float32))
    assert dx32.dtype == np.float32 and all(g.dtype == np.float32 for g in l32.grads.values())
    assert_close(y32, y64, np.float32)
    assert_close(dx32, dx64, np.float32)
    for k in l64.grads:
        assert_close(l32.grads[k], l64.grads[k], np.float32, k)


def test_state_dict_names_shapes_and_order_match_torch():
    torch = pytest.importorskip("torch")
    for kind in ("rnn", "lstm", "gru"):
        for bias in (True, False):
            ours = LAYERS[kind](5, 7, num_layers=3, bidirectional=True, bias=bias)
            theirs = getattr(torch.nn, kind.upper())(5, 7, num_layers=3, bidirectional=True, bias=bias)
            assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
                   [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]


def test_initialisation_is_uniform_in_bound_and_seeded():
    a = pyrnn.LSTM(10, 25, num_layers=2, seed=7)
    b = pyrnn.LSTM(10, 25, num_layers=2, seed=7)
    c = pyrnn.LSTM(10, 25, num_layers=2, seed=8)
    bound = 1 / np.sqrt(25)
    values = np.concatenate([p.ravel() for p in a.parameters()])
    assert np.all(np.abs(values) <= bound) and values.std() > 0.5 * bound / np.sqrt(3)
    assert all(np.array_equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert not np.array_equal(a.weight_hh_l0, c.weight_hh_l0)
    d = pyrnn.LSTM(10, 25, num_layers=2, seed=7, dtype=np.float64)
    assert np.allclose(d.weight_ih_l1, a.weight_ih_l1, atol=1e-7)   # same draws, other precision


def test_state_dict_is_a_copy_and_parameters_are_live():
    layer = pyrnn.GRU(3, 4, seed=0)
    sd = layer.state_dict()
    sd["weight_ih_l0"][...] = 0
    assert np.any(layer.weight_ih_l0 != 0)
    dict(layer.named_parameters())["weight_ih_l0"][...] = 1
    assert np.all(layer.state_dict()["weight_ih_l0"] == 1)


def test_load_state_dict_roundtrip_and_cast():
    a = pyrnn.LSTM(3, 4, num_layers=2, seed=0, dtype=np.float64)
    b = pyrnn.LSTM(3, 4, num_layers=2, seed=1, dtype=np.float32)
    b.load_state_dict({k: v.tolist() for k, v in a.state_dict().items()})
    for k, v in b.state_dict().items():
        assert v.dtype == np.float32
        np.testing.assert_allclose(v, a.state_dict()[k], rtol=1e-6)


@pytest.mark.parametrize("km", KIND_MODES, ids=IDS)
def test_grads_accumulate_until_zero_grad(km, backend):
    layer = make(*km, 3, 4, backend, num_layers=2)
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    y, _ = call(layer, x)
    back(layer, np.ones_like(y))
    once = {k: v.copy() for k, v in layer.grads.items()}
    assert any(np.any(v != 0) for v in once.values())
    call(layer, x)
    back(layer, np.ones_like(y))
    for k in once:
        assert_close(layer.grads[k], 2 * once[k], np.float64, k)
    grads_before = {k: id(v) for k, v in layer.grads.items()}
    layer.zero_grad()
    assert all(np.all(v == 0) for v in layer.grads.values())
    assert {k: id(v) for k, v in layer.grads.items()} == grads_before   # zeroed in place


@pytest.mark.parametrize("km", KIND_MODES, ids=IDS)
def test_eval_gives_the_same_output_and_keeps_nothing(km, backend):
    layer = make(*km, 3, 4, backend, num_layers=2, bidirectional=True)
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    y_train, f_train = call(layer, x)
    layer.eval()
    assert layer._tape is None and not layer.training
    y_eval, f_eval = call(layer, x)
    assert layer._tape is None
    np.testing.assert_array_equal(y_train, y_eval)
    with pytest.raises(RuntimeError, match="eval"):
        back(layer, np.ones_like(y_eval))
    assert layer.train() is layer and layer.training


def test_repr_reads_like_torch():
    assert repr(pyrnn.LSTM(3, 4, backend="numpy")) == "LSTM(3, 4, backend='numpy', dtype=float32)"
    assert repr(pyrnn.RNN(3, 4, 2, "relu", bidirectional=True, backend="numpy", dtype=np.float64)) == \
        "RNN(3, 4, num_layers=2, bidirectional=True, nonlinearity='relu', backend='numpy', dtype=float64)"
    assert repr(pyrnn.GRUCell(3, 4, bias=False, backend="numpy")) == \
        "GRUCell(3, 4, bias=False, backend='numpy', dtype=float32)"


def test_torch_style_attribute_access():
    layer = pyrnn.LSTM(3, 4, bidirectional=True)
    assert layer.weight_hh_l0_reverse.shape == (16, 4)
    assert pyrnn.LSTMCell(3, 4).bias_ih.shape == (16,)
    with pytest.raises(AttributeError, match="weight_hh_l1"):
        layer.weight_hh_l1
