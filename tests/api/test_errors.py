"""Bad input gets a clear error at the API door, never a deep NumPy traceback.

Every error test goes through :func:`raises`, which checks that

* the exception type is *exactly* the documented one (InputError for shapes
  and values, TypeError for dtypes, RuntimeError for misuse of backward,
  StateDictError for load_state_dict, ...), never an IndexError,
  AttributeError or KeyError leaking out;
* the message names the argument (``match``) and, where given, what was
  expected (``expect``), and holds no traceback text;
* the exception was raised by pyrnn itself, not from inside NumPy.
"""
import os
import re
import warnings

import numpy as np
import pytest

import pyrnn
from pyrnn import InputError, StateDictError

from shared import CELLS, LAYERS

PYRNN_DIR = os.path.dirname(os.path.abspath(pyrnn.__file__))

T, B, I, H = 5, 2, 3, 4  # seq_len, batch, input_size, hidden_size (T != B on purpose)


def raises(exc_type, match, fn, *args, expect=(), **kwargs):
    """Call fn and check the error is exactly ``exc_type``, clear and raised by pyrnn."""
    with pytest.raises(exc_type, match=match) as info:
        fn(*args, **kwargs)
    err = info.value
    assert type(err) is exc_type, f"expected exactly {exc_type.__name__}, got {type(err).__name__}: {err}"
    assert not isinstance(err, (IndexError, AttributeError, KeyError)), repr(err)
    message = str(err)
    assert message and "Traceback" not in message, message
    for part in (expect,) if isinstance(expect, str) else expect:
        assert part in message, f"{part!r} not in message {message!r}"
    raised_in = os.path.abspath(str(info.traceback[-1].path))
    assert raised_in.startswith(PYRNN_DIR + os.sep), f"raised from {raised_in}, not from pyrnn: {message}"
    return err


def arg(name):
    """Regex: the argument name as a whole word (so "x" does not match inside "max")."""
    return rf"(?<![\w\[]){re.escape(name)}(?![\w])"


# -- harness: one call signature for RNN/GRU (h0, dh_n) and LSTM ((h0, c0), (dh_n, dc_n)) ------
def make(kind, **kwargs):
    kwargs.setdefault("seed", 0)
    return LAYERS[kind](I, H, **kwargs)


def is_lstm(module):
    return isinstance(module, (pyrnn.LSTM, pyrnn.LSTMCell))


def fwd(layer, x, h0=None, c0=None, lengths=None):
    if is_lstm(layer):
        hx = None if h0 is None and c0 is None else (h0, c0)
        return layer(x, hx, lengths=lengths)
    assert c0 is None
    return layer(x, h0, lengths=lengths)


def bwd(layer, dy, dh_n=None, dc_n=None):
    if is_lstm(layer):
        return layer.backward(dy, None if dh_n is None and dc_n is None else (dh_n, dc_n))
    assert dc_n is None
    return layer.backward(dy, dh_n)


def rand(*shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.fixture(params=sorted(LAYERS))
def kind(request):
    return request.param


@pytest.fixture(params=sorted(CELLS))
def cell_kind(request):
    return request.param


# ====================================================================================
# Exception hierarchy
# ====================================================================================
def test_exception_hierarchy():
    assert issubclass(InputError, ValueError) and issubclass(InputError, RuntimeError)
    assert issubclass(StateDictError, InputError)
    assert issubclass(pyrnn.BackendUnavailableError, RuntimeError)
    # A shape error is caught by NumPy-style and by torch-style handlers alike.
    layer = make("gru")
    for handler in (ValueError, RuntimeError):
        with pytest.raises(handler):
            layer(np.zeros((T, B, I + 1), np.float32))


# ====================================================================================
# Layers: x
# ====================================================================================
@pytest.mark.parametrize("shape, ndim", [((I,), "1-D"), ((T, B, I, 1), "4-D"), ((1, T, B, I, 1), "5-D")])
@pytest.mark.parametrize("batch_first", [False, True])
def test_layer_x_wrong_rank(kind, shape, ndim, batch_first):
    layer = make(kind, batch_first=batch_first)
    order = "(batch, seq_len, input_size)" if batch_first else "(seq_len, batch, input_size)"
    raises(InputError, arg("x"), fwd, layer, np.zeros(shape, np.float32), expect=(ndim, order, str(shape)))


@pytest.mark.parametrize("x", [np.float32(1.0), np.zeros((), np.float64), 1.0],
                         ids=["np-scalar", "0-d", "float"])
def test_layer_x_scalar(kind, x):
    raises(InputError, arg("x"), fwd, make(kind), x, expect="3-D")


# Regression: as_float() once used np.ascontiguousarray, which turns 0-D into shape (1,).
def test_layer_x_scalar_message_reports_0d(kind):
    raises(InputError, arg("x"), fwd, make(kind), np.float32(1.0), expect="0-D")


def test_layer_h0_scalar_message_reports_its_shape(kind):
    raises(InputError, arg("h0"), fwd, make(kind), rand(T, I), h0=np.float32(0.0), expect="got ()")


@pytest.mark.parametrize("shape", [(T, B, I + 1), (T, B, 1), (T, I - 1)],
                         ids=["batched", "one", "unbatched"])
def test_layer_x_wrong_feature_size(kind, shape):
    raises(InputError, arg("x"), fwd, make(kind), np.zeros(shape, np.float32),
           expect=(f"input_size = {I}", str(shape[-1])))


def test_layer_x_wrong_feature_size_batch_first(kind):
    # batch_first must not change which axis is the feature axis
    layer = make(kind, batch_first=True)
    raises(InputError, arg("x"), fwd, layer, np.zeros((B, T, I + 2), np.float32),
           expect=f"input_size = {I}")


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("empty", ["seq_len", "batch", "unbatched_seq_len"])
def test_layer_x_empty(kind, batch_first, empty):
    shape = {
        "seq_len": (B, 0, I) if batch_first else (0, B, I),
        "batch": (0, T, I) if batch_first else (T, 0, I),
        "unbatched_seq_len": (0, I),
    }[empty]
    raises(InputError, arg("x"), fwd, make(kind, batch_first=batch_first), np.zeros(shape, np.float32),
           expect="at least one")


# ====================================================================================
# Layers: h0 / c0 / hx
# ====================================================================================
def _bad_state_shapes(num_layers, bidirectional):
    LD = num_layers * (2 if bidirectional else 1)
    good = (LD, B, H)
    return good, {
        "batch": (LD, B + 1, H),
        "layers_x_directions": (LD + 1, B, H),
        "hidden": (LD, B, H + 1),
        "2-D": (B, H),
        "4-D": (LD, B, H, 1),
    }


@pytest.mark.parametrize("num_layers, bidirectional", [(1, False), (2, False), (1, True), (2, True)])
@pytest.mark.parametrize("which", ["batch", "layers_x_directions", "hidden", "2-D", "4-D"])
def test_layer_h0_wrong_shape(kind, num_layers, bidirectional, which):
    layer = make(kind, num_layers=num_layers, bidirectional=bidirectional)
    good, bad = _bad_state_shapes(num_layers, bidirectional)
    x = rand(T, B, I)
    raises(InputError, arg("h0"), fwd, layer, x, h0=np.zeros(bad[which], np.float32), expect=str(good))
    if kind == "lstm":
        raises(InputError, arg("c0"), fwd, layer, x, h0=np.zeros(good, np.float32),
               c0=np.zeros(bad[which], np.float32), expect=str(good))
        raises(InputError, arg("c0"), fwd, layer, x, c0=np.zeros(bad[which], np.float32), expect=str(good))


def test_layer_bidirectional_h0_needs_both_directions(kind):
    # a (num_layers, B, H) state, as for a unidirectional layer, is one direction short
    layer = make(kind, num_layers=2, bidirectional=True)
    raises(InputError, arg("h0"), fwd, layer, rand(T, B, I), h0=np.zeros((2, B, H), np.float32),
           expect=("num_layers * num_directions", "(4, 2, 4)"))


def test_layer_h0_wrong_batch_with_batch_first(kind):
    # with batch_first x is (B, T, I) but states stay (L*D, B, H)
    layer = make(kind, batch_first=True)
    x = rand(B, T, I)
    raises(InputError, arg("h0"), fwd, layer, x, h0=np.zeros((1, T, H), np.float32), expect=str((1, B, H)))
    fwd(layer, x, h0=np.zeros((1, B, H), np.float32))  # the right one is accepted


@pytest.mark.parametrize("h0_shape", [(1, 1, H), (1, H + 1), (2, H), (H,)])
def test_layer_unbatched_x_with_wrong_state(kind, h0_shape):
    layer = make(kind)
    x = rand(T, I)  # one unbatched sequence: states are (L*D, H)
    raises(InputError, arg("h0"), fwd, layer, x, h0=np.zeros(h0_shape, np.float32), expect=str((1, H)))
    if kind == "lstm":
        raises(InputError, arg("c0"), fwd, layer, x, h0=np.zeros((1, H), np.float32),
               c0=np.zeros(h0_shape, np.float32), expect=str((1, H)))


@pytest.mark.parametrize("hx", ["array", "1-tuple", "3-tuple", "dict"])
def test_lstm_hx_not_a_pair(hx):
    layer = make("lstm")
    h0 = np.zeros((1, B, H), np.float32)
    value = {"array": h0, "1-tuple": (h0,), "3-tuple": (h0, h0, h0), "dict": {"h0": h0, "c0": h0}}[hx]
    raises(TypeError, arg("hx"), layer, rand(T, B, I), value, expect="(h0, c0)")


def test_lstm_hx_list_and_partial_none_accepted():
    layer = make("lstm")
    x, h0 = rand(T, B, I), rand(1, B, H, seed=1)
    y1, (h1, c1) = layer(x, [h0, None])
    y2, (h2, c2) = layer(x, (h0, np.zeros((1, B, H), np.float32)))
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(c1, c2)


# ====================================================================================
# Layers: lengths
# ====================================================================================
BAD_LENGTH_SHAPES = {
    "too_short": [T],
    "too_long": [T, T, T],
    "2-D": [[T, T]],
    "column": [[T], [T]],
    "empty": np.zeros(0, np.int64),
}
BAD_LENGTH_VALUES = {"zero": [0, T], "above_T": [T + 1, 2], "negative": [-1, T], "all_zero": [0, 0]}


@pytest.mark.parametrize("lengths", list(BAD_LENGTH_SHAPES.values()), ids=list(BAD_LENGTH_SHAPES))
@pytest.mark.parametrize("batch_first", [False, True])
def test_layer_lengths_wrong_shape(kind, lengths, batch_first):
    layer = make(kind, batch_first=batch_first)
    x = rand(B, T, I) if batch_first else rand(T, B, I)
    raises(InputError, arg("lengths"), fwd, layer, x, lengths=lengths, expect=f"({B},)")


@pytest.mark.parametrize("lengths", list(BAD_LENGTH_VALUES.values()), ids=list(BAD_LENGTH_VALUES))
@pytest.mark.parametrize("batch_first", [False, True])
def test_layer_lengths_out_of_range(kind, lengths, batch_first):
    layer = make(kind, batch_first=batch_first)
    x = rand(B, T, I) if batch_first else rand(T, B, I)
    raises(InputError, arg("lengths"), fwd, layer, x, lengths=np.array(lengths), expect=f"[1, {T}]")


def test_layer_lengths_batch_first_uses_batch_axis(kind):
    # With batch_first x is (B, T, I): lengths of size T (the wrong axis) is rejected,
    # and lengths may reach T (axis 1) but not beyond.
    layer = make(kind, batch_first=True)
    x = rand(B, T, I)
    raises(InputError, arg("lengths"), fwd, layer, x, lengths=[T] * T, expect=f"({B},)")
    raises(InputError, arg("lengths"), fwd, layer, x, lengths=[B + 10, 1], expect=f"[1, {T}]")
    y, *_ = fwd(layer, x, lengths=[T, 1])
    assert y.shape == (B, T, H)
    np.testing.assert_array_equal(y[1, 1:], 0)  # padded steps give y = 0


@pytest.mark.parametrize("lengths", [[5.0, 4.0], np.array([5, 4], np.float32), [True, True], ["5", "4"],
                                     [5 + 0j, 4 + 0j]],
                         ids=["float-list", "float32", "bool", "str", "complex"])
def test_layer_lengths_non_integer_dtype(kind, lengths):
    raises(TypeError, arg("lengths"), fwd, make(kind), rand(T, B, I), lengths=lengths, expect="integer")


def test_layer_lengths_ragged(kind):
    raises(TypeError, arg("lengths"), fwd, make(kind), rand(T, B, I), lengths=[[1, 2], [3]])


@pytest.mark.parametrize("lengths", [np.array([T, 2], np.uint8), (T, 1), np.array([3, 3], np.int16)])
def test_layer_lengths_any_integer_type_accepted(kind, lengths):
    y, *_ = fwd(make(kind), rand(T, B, I), lengths=lengths)
    assert y.shape == (T, B, H)
    for b, n in enumerate(np.asarray(lengths)):
        np.testing.assert_array_equal(y[n:, b], 0)
        assert np.any(y[:n, b] != 0)


@pytest.mark.parametrize("lengths, expected_type", [([T, T], InputError), ([T + 1], InputError),
                                                    ([0], InputError), ([2.0], TypeError)])
def test_layer_lengths_unbatched(kind, lengths, expected_type):
    raises(expected_type, arg("lengths"), fwd, make(kind), rand(T, I), lengths=lengths)


# ====================================================================================
# Layers: dtypes
# ====================================================================================
NON_FLOAT_X = {
    "int32": lambda s: np.ones(s, np.int32),
    "int64": lambda s: np.ones(s, np.int64),
    "uint8": lambda s: np.ones(s, np.uint8),
    "bool": lambda s: np.ones(s, bool),
    "complex64": lambda s: np.ones(s, np.complex64),
    "complex128": lambda s: np.ones(s, np.complex128),
    "object": lambda s: np.ones(s, dtype=object),
    "str": lambda s: np.full(s, "a"),
    "int-list": lambda s: np.ones(s, np.int64).tolist(),
    "None": lambda s: None,
}


@pytest.mark.parametrize("make_x", list(NON_FLOAT_X.values()), ids=list(NON_FLOAT_X))
def test_layer_non_floating_x(kind, make_x):
    raises(TypeError, arg("x"), fwd, make(kind), make_x((T, B, I)))


def test_layer_ragged_x(kind):
    ragged = [[[0.0] * I] * B, [[0.0] * I]]  # second time step has one sequence fewer
    raises(TypeError, arg("x"), fwd, make(kind), ragged)
    raises(TypeError, arg("x"), fwd, make(kind), [[0.0, 1.0, 2.0], [0.0, 1.0]])


@pytest.mark.parametrize("dtype", [np.int32, np.int64, bool, np.complex128])
def test_layer_non_floating_states(kind, dtype):
    layer = make(kind)
    raises(TypeError, arg("h0"), fwd, layer, rand(T, B, I), h0=np.zeros((1, B, H), dtype))
    if kind == "lstm":
        raises(TypeError, arg("c0"), fwd, layer, rand(T, B, I), c0=np.zeros((1, B, H), dtype))


def test_layer_non_floating_dy_and_dh(kind):
    layer = make(kind)
    y, *_ = fwd(layer, rand(T, B, I))
    raises(TypeError, arg("dy"), bwd, layer, np.ones(y.shape, np.int64))
    raises(TypeError, arg("dh_n"), bwd, layer, np.ones_like(y), dh_n=np.ones((1, B, H), np.int64))
    if kind == "lstm":
        raises(TypeError, arg("dc_n"), bwd, layer, np.ones_like(y), dc_n=np.ones((1, B, H), bool))
    bwd(layer, np.ones_like(y))  # the failed calls did not consume the forward


@pytest.mark.parametrize("x_dtype", [np.float64, np.float16, "list"])
def test_layer_other_float_x_is_cast_to_layer_dtype(kind, x_dtype):
    layer = make(kind, dtype=np.float32)
    x64 = rand(T, B, I, dtype=np.float64)
    x = x64.tolist() if x_dtype == "list" else x64.astype(x_dtype)
    y, states = fwd(layer, x, h0=rand(1, B, H, dtype=np.float64))
    assert y.dtype == np.float32
    for s in states if isinstance(states, tuple) else (states,):
        assert s.dtype == np.float32
    dx, _ = bwd(layer, np.ones(y.shape, np.float64))
    assert dx.dtype == np.float32 and dx.shape == (T, B, I)
    # the cast is a plain rounding of x: same result as feeding float32 x
    y32, _ = fwd(make(kind, dtype=np.float32), np.asarray(x, dtype=np.float32),
                 h0=rand(1, B, H, dtype=np.float64).astype(np.float32))
    np.testing.assert_array_equal(y, y32)


def test_layer_torch_tensors(kind):
    """Float tensors (even ones that require grad) are accepted; int/bool tensors get the TypeError."""
    torch = pytest.importorskip("torch")
    layer = make(kind)
    x = torch.from_numpy(rand(T, B, I, dtype=np.float64)).requires_grad_(True)
    h0 = torch.zeros(1, B, H, requires_grad=True)
    y, _ = fwd(layer, x, h0=h0, lengths=torch.tensor([T, 2]))
    y_np, _ = fwd(make(kind), x.detach().numpy(), h0=np.zeros((1, B, H)), lengths=[T, 2])
    assert isinstance(y, np.ndarray) and y.dtype == np.float32
    np.testing.assert_array_equal(y, y_np)
    for bad in (torch.ones(T, B, I, dtype=torch.int64), torch.ones(T, B, I, dtype=torch.bool)):
        raises(TypeError, arg("x"), fwd, layer, bad)
    raises(TypeError, arg("lengths"), fwd, layer, x, lengths=torch.tensor([5.0, 2.0]))


def test_layer_float32_x_into_float64_layer(kind):
    layer = make(kind, dtype=np.float64)
    y, _ = fwd(layer, rand(T, B, I, dtype=np.float32))
    assert y.dtype == np.float64


# ====================================================================================
# Layers: dy / dh_n
# ====================================================================================
@pytest.mark.parametrize("bidirectional", [False, True])
def test_layer_dy_wrong_shape(kind, bidirectional):
    layer = make(kind, bidirectional=bidirectional)
    D = 2 if bidirectional else 1
    y, *_ = fwd(layer, rand(T, B, I))
    assert y.shape == (T, B, D * H)
    bads = [(T, B, D * H + 1), (T + 1, B, D * H), (T, B + 1, D * H), (B, T, D * H),
            (T, B), (T, B, D * H, 1)]
    for bad in bads:
        raises(InputError, arg("dy"), bwd, layer, np.ones(bad, np.float32), expect=str((T, B, D * H)))
    if bidirectional:  # one direction's worth of gradient is not enough
        raises(InputError, arg("dy"), bwd, layer, np.ones((T, B, H), np.float32), expect=str((T, B, 2 * H)))
    dx, _ = bwd(layer, np.ones_like(y))
    assert dx.shape == (T, B, I)


def test_layer_dy_wrong_shape_batch_first(kind):
    layer = make(kind, batch_first=True)
    y, *_ = fwd(layer, rand(B, T, I))
    assert y.shape == (B, T, H)
    # dy in the seq-first layout is wrong for a batch_first layer
    raises(InputError, arg("dy"), bwd, layer, np.ones((T, B, H), np.float32),
           expect=("(batch, seq_len", str((B, T, H))))
    dx, _ = bwd(layer, np.ones_like(y))
    assert dx.shape == (B, T, I)


def test_layer_dy_wrong_shape_unbatched(kind):
    layer = make(kind)
    y, *_ = fwd(layer, rand(T, I))
    assert y.shape == (T, H)
    raises(InputError, arg("dy"), bwd, layer, np.ones((T, 1, H), np.float32), expect=str((T, H)))
    raises(InputError, arg("dh_n"), bwd, layer, np.ones_like(y), dh_n=np.ones((1, 1, H), np.float32),
           expect=str((1, H)))


@pytest.mark.parametrize("bad", [(1, B + 1, H), (2, B, H), (1, B, H + 1), (B, H)])
def test_layer_dh_n_wrong_shape(kind, bad):
    layer = make(kind)
    y, *_ = fwd(layer, rand(T, B, I))
    raises(InputError, arg("dh_n"), bwd, layer, np.ones_like(y), dh_n=np.ones(bad, np.float32),
           expect=str((1, B, H)))
    if kind == "lstm":
        raises(InputError, arg("dc_n"), bwd, layer, np.ones_like(y), dh_n=np.ones((1, B, H), np.float32),
               dc_n=np.ones(bad, np.float32), expect=str((1, B, H)))


@pytest.mark.parametrize("dhx", ["array", "1-tuple"])
def test_lstm_dhx_not_a_pair(dhx):
    layer = make("lstm")
    y, _ = layer(rand(T, B, I))
    dh = np.ones((1, B, H), np.float32)
    raises(TypeError, arg("dhx"), layer.backward, np.ones_like(y), dh if dhx == "array" else (dh,),
           expect="(dh_n, dc_n)")


def test_layer_failed_backward_has_no_side_effects(kind):
    """A rejected backward neither consumes the forward nor touches the gradients."""
    x, dy = rand(T, B, I), rand(T, B, H, seed=2)
    a, b = make(kind), make(kind)
    fwd(a, x)
    fwd(b, x)
    raises(InputError, arg("dy"), bwd, a, dy[:-1])
    raises(InputError, arg("dh_n"), bwd, a, dy, dh_n=np.ones((3, B, H), np.float32))
    for name, g in a.grads.items():
        assert not g.any(), f"{name} gradient changed by a rejected backward"
    dxa, _ = bwd(a, dy)
    dxb, _ = bwd(b, dy)
    np.testing.assert_array_equal(dxa, dxb)
    for name in a.grads:
        np.testing.assert_array_equal(a.grads[name], b.grads[name])


# ====================================================================================
# Layers: backward misuse (RuntimeError)
# ====================================================================================
def test_layer_backward_before_forward(kind):
    raises(RuntimeError, "forward", bwd, make(kind), np.ones((T, B, H), np.float32), expect="backward")


def test_layer_backward_twice(kind):
    layer = make(kind)
    y, *_ = fwd(layer, rand(T, B, I))
    bwd(layer, np.ones_like(y))
    raises(RuntimeError, "forward", bwd, layer, np.ones_like(y), expect="backward")


def test_layer_backward_in_eval_mode(kind):
    layer = make(kind).eval()
    y, *_ = fwd(layer, rand(T, B, I))
    raises(RuntimeError, "eval", bwd, layer, np.ones_like(y), expect="backward")


def test_layer_eval_after_train_forward_drops_the_tape(kind):
    layer = make(kind)
    y, *_ = fwd(layer, rand(T, B, I))
    layer.eval()
    raises(RuntimeError, "eval", bwd, layer, np.ones_like(y))
    layer.train()  # back in train mode the old forward is gone: run forward again
    raises(RuntimeError, "forward", bwd, layer, np.ones_like(y))
    y, *_ = fwd(layer, rand(T, B, I))
    dx, _ = bwd(layer, np.ones_like(y))
    assert dx.shape == (T, B, I)


def test_layer_backward_misuse_checked_before_dy(kind):
    # with no forward to backprop, a nonsense dy still gets the RuntimeError, not a shape error
    raises(RuntimeError, "forward", bwd, make(kind), np.ones((1,), np.float32))


# ====================================================================================
# Cells
# ====================================================================================
def make_cell(kind, **kwargs):
    kwargs.setdefault("seed", 0)
    return CELLS[kind](I, H, **kwargs)


def cell_fwd(cell, x, h=None, c=None):
    if is_lstm(cell):
        return cell(x, None if h is None and c is None else (h, c))
    assert c is None
    return cell(x, h)


def cell_bwd(cell, dh=None, dc=None):
    if is_lstm(cell):
        return cell.backward(None if dh is None and dc is None else (dh, dc))
    assert dc is None
    return cell.backward(dh)


@pytest.mark.parametrize("shape, ndim", [((B, I, 1), "3-D"), ((1, B, I, 1), "4-D"), ((1, B, I), "3-D")])
def test_cell_x_wrong_rank(cell_kind, shape, ndim):
    raises(InputError, arg("x"), cell_fwd, make_cell(cell_kind), np.zeros(shape, np.float32),
           expect=(ndim, "(batch, input_size)", str(shape)))


def test_cell_x_scalar(cell_kind):
    # rejected (naming x) when input_size != 1 ...
    raises(InputError, arg("x"), cell_fwd, make_cell(cell_kind), np.float32(1.0))


# Regression: a cell with input_size=1 once accepted a 0-D x as one unbatched step.
def test_cell_x_scalar_rejected_when_input_size_is_one(cell_kind):
    cell = CELLS[cell_kind](1, H, seed=0)
    raises(InputError, arg("x"), cell_fwd, cell, np.float32(1.0), expect="0-D")


@pytest.mark.parametrize("shape", [(B, I + 1), (I - 1,), (B, 1)])
def test_cell_x_wrong_feature_size(cell_kind, shape):
    raises(InputError, arg("x"), cell_fwd, make_cell(cell_kind), np.zeros(shape, np.float32),
           expect=f"input_size = {I}")


def test_cell_x_empty_batch(cell_kind):
    raises(InputError, arg("x"), cell_fwd, make_cell(cell_kind), np.zeros((0, I), np.float32))


@pytest.mark.parametrize("make_x", list(NON_FLOAT_X.values()), ids=list(NON_FLOAT_X))
def test_cell_non_floating_x(cell_kind, make_x):
    raises(TypeError, arg("x"), cell_fwd, make_cell(cell_kind), make_x((B, I)))


def test_cell_ragged_x(cell_kind):
    raises(TypeError, arg("x"), cell_fwd, make_cell(cell_kind), [[0.0] * I, [0.0] * (I - 1)])


@pytest.mark.parametrize("x_shape, bad, good", [
    ((B, I), (B + 1, H), (B, H)),
    ((B, I), (B, H + 1), (B, H)),
    ((B, I), (1, B, H), (B, H)),
    ((I,), (1, H), (H,)),          # unbatched x with a batched state
    ((I,), (H + 1,), (H,)),
])
def test_cell_state_wrong_shape(cell_kind, x_shape, bad, good):
    cell = make_cell(cell_kind)
    x = rand(*x_shape)
    raises(InputError, arg("hx"), cell_fwd, cell, x, h=np.zeros(bad, np.float32), expect=str(good))
    if cell_kind == "lstm":
        raises(InputError, arg("hx"), cell_fwd, cell, x, h=np.zeros(good, np.float32),
               c=np.zeros(bad, np.float32), expect=("hx[1]", str(good)))


def test_cell_non_floating_state(cell_kind):
    cell = make_cell(cell_kind)
    raises(TypeError, arg("hx"), cell_fwd, cell, rand(B, I), h=np.zeros((B, H), np.int64))
    if cell_kind == "lstm":
        raises(TypeError, arg("hx"), cell_fwd, cell, rand(B, I), c=np.zeros((B, H), bool))


@pytest.mark.parametrize("hx", ["array", "1-tuple", "3-tuple"])
def test_lstm_cell_hx_not_a_pair(hx):
    h = np.zeros((B, H), np.float32)
    value = {"array": h, "1-tuple": (h,), "3-tuple": (h, h, h)}[hx]
    raises(TypeError, arg("hx"), make_cell("lstm"), rand(B, I), value, expect="(h, c)")


def test_cell_float64_x_is_cast(cell_kind):
    cell = make_cell(cell_kind, dtype=np.float32)
    out = cell_fwd(cell, rand(B, I, dtype=np.float64), h=rand(B, H, dtype=np.float64))
    for s in out if isinstance(out, tuple) else (out,):
        assert s.dtype == np.float32 and s.shape == (B, H)
    dx, _ = cell_bwd(cell, np.ones((B, H), np.float64))
    assert dx.dtype == np.float32


def test_cell_backward_with_no_pending_step(cell_kind):
    cell = make_cell(cell_kind)
    assert cell.pending_steps == 0
    raises(RuntimeError, "pending", cell_bwd, cell, np.ones((B, H), np.float32), expect="backward")


def test_cell_backward_more_often_than_forward(cell_kind):
    cell = make_cell(cell_kind)
    cell_fwd(cell, rand(B, I))
    cell_fwd(cell, rand(B, I, seed=1))
    assert cell.pending_steps == 2
    cell_bwd(cell, np.ones((B, H), np.float32))
    cell_bwd(cell, np.ones((B, H), np.float32))
    raises(RuntimeError, "pending", cell_bwd, cell, np.ones((B, H), np.float32))


def test_cell_backward_in_eval_mode(cell_kind):
    cell = make_cell(cell_kind).eval()
    cell_fwd(cell, rand(B, I))
    assert cell.pending_steps == 0
    raises(RuntimeError, "eval", cell_bwd, cell, np.ones((B, H), np.float32))


def test_cell_eval_after_train_forward(cell_kind):
    cell = make_cell(cell_kind)
    cell_fwd(cell, rand(B, I))
    cell.eval()
    assert cell.pending_steps == 0
    raises(RuntimeError, "eval", cell_bwd, cell, np.ones((B, H), np.float32))
    cell.train()
    raises(RuntimeError, "pending", cell_bwd, cell, np.ones((B, H), np.float32))


@pytest.mark.parametrize("bad", [(B + 1, H), (B, H + 1), (H,)])
def test_cell_backward_wrong_shape_keeps_the_step(cell_kind, bad):
    cell = make_cell(cell_kind)
    cell_fwd(cell, rand(B, I))
    name = "dhx" if cell_kind == "lstm" else "dh"
    raises(InputError, arg(name), cell_bwd, cell, np.ones(bad, np.float32), expect=str((B, H)))
    if cell_kind == "lstm":
        raises(InputError, arg("dhx"), cell_bwd, cell, None, np.ones(bad, np.float32), expect="dhx[1]")
        raises(TypeError, arg("dhx"), cell.backward, np.ones((B, H), np.float32))
    raises(TypeError, arg(name), cell_bwd, cell, np.ones((B, H), np.int32))
    assert cell.pending_steps == 1  # nothing consumed by the rejected calls
    for g in cell.grads.values():
        assert not g.any()
    dx, _ = cell_bwd(cell, np.ones((B, H), np.float32))
    assert dx.shape == (B, I) and cell.pending_steps == 0


# ====================================================================================
# Constructors
# ====================================================================================
ALL_CLASSES = {**{f"layer-{k}": v for k, v in LAYERS.items()}, **{f"cell-{k}": v for k, v in CELLS.items()}}


@pytest.fixture(params=sorted(ALL_CLASSES))
def cls(request):
    return ALL_CLASSES[request.param]


@pytest.mark.parametrize("value, exc, expect", [
    (0, InputError, ">= 1"), (-1, InputError, ">= 1"),
    (2.5, TypeError, "integer"), (True, TypeError, "integer"),
    ("3", TypeError, "integer"), (None, TypeError, "integer"), (3.0, TypeError, "integer"),
])
@pytest.mark.parametrize("which", ["input_size", "hidden_size"])
def test_constructor_sizes(cls, which, value, exc, expect):
    sizes = {"input_size": I, "hidden_size": H, which: value}
    raises(exc, arg(which), cls, sizes["input_size"], sizes["hidden_size"], expect=expect)


@pytest.mark.parametrize("value, exc", [(0, InputError), (-2, InputError),
                                        (1.0, TypeError), (False, TypeError)])
def test_constructor_num_layers(kind, value, exc):
    raises(exc, arg("num_layers"), LAYERS[kind], I, H, num_layers=value)


def test_constructor_numpy_integer_sizes_accepted(cls):
    module = cls(np.int64(I), np.int32(H), seed=0)
    assert module.input_size == I and module.hidden_size == H
    assert type(module.input_size) is int


@pytest.mark.parametrize("cls_", [pyrnn.RNN, pyrnn.RNNCell])
@pytest.mark.parametrize("value", ["sigmoid", "Tanh", "", None])
def test_constructor_nonlinearity(cls_, value):
    raises(InputError, arg("nonlinearity"), cls_, I, H, nonlinearity=value, expect=("'tanh'", "'relu'"))


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float16, np.complex64, bool, "int64",
                                   np.longdouble])
def test_constructor_bad_dtype(cls, dtype):
    raises(TypeError, arg("dtype"), cls, I, H, dtype=dtype, expect="float32")


# Regression: np.dtype("float64") == None is True, so unparseable dtypes once slipped through.
@pytest.mark.parametrize("dtype", ["foo", "not-a-dtype"])
def test_constructor_unparseable_dtype(cls, dtype):
    raises(TypeError, arg("dtype"), cls, I, H, dtype=dtype, expect="float32")


@pytest.mark.parametrize("dtype, expected", [("float32", np.float32), ("float64", np.float64),
                                             (np.dtype("float32"), np.float32), ("f8", np.float64)])
def test_constructor_dtype_strings_accepted(cls, dtype, expected):
    module = cls(I, H, dtype=dtype, seed=0)
    assert module.dtype == np.dtype(expected)
    for name, p in module.named_parameters():
        assert p.dtype == np.dtype(expected), name
    assert np.dtype(expected).name in repr(module)


@pytest.mark.parametrize("value", ["yes", 1, None, np.array([True])])
def test_constructor_bias_flag(cls, value):
    raises(TypeError, arg("bias"), cls, I, H, bias=value)


@pytest.mark.parametrize("flag_name", ["batch_first", "bidirectional"])
def test_constructor_layer_flags(kind, flag_name):
    raises(TypeError, arg(flag_name), LAYERS[kind], I, H, **{flag_name: "yes"})


def test_constructor_backend_errors(cls):
    raises(ValueError, arg("backend"), cls, I, H, backend="no-such-backend", expect="'numpy'")
    raises(TypeError, arg("backend"), cls, I, H, backend=3, expect="'auto'")


# Regression: a bad seed once reached numpy.random.default_rng unchecked.
@pytest.mark.parametrize("seed, exc", [(-1, ValueError), ("abc", TypeError), (2.5, TypeError)])
def test_constructor_bad_seed(cls, seed, exc):
    with pytest.raises(exc, match=arg("seed")) as info:
        cls(I, H, seed=seed)
    raised_in = os.path.abspath(str(info.traceback[-1].path))
    assert raised_in.startswith(PYRNN_DIR + os.sep)


# ====================================================================================
# load_state_dict
# ====================================================================================
def build(family, kind, **kwargs):
    if family == "cell":
        return make_cell(kind, **kwargs)
    return make(kind, num_layers=2, bidirectional=True, **kwargs)


@pytest.fixture(params=["layer", "cell"])
def family(request):
    return request.param


def snapshot(module):
    return {k: v.copy() for k, v in module.named_parameters()}


def assert_params_equal(module, expected):
    params = dict(module.named_parameters())
    assert list(params) == list(expected)
    for k, v in expected.items():
        np.testing.assert_array_equal(params[k], v, err_msg=k)


def fresh_values(module, seed=7):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(v.shape) for k, v in module.state_dict().items()}


def test_load_state_dict_missing_key(family, kind):
    m = build(family, kind)
    before = snapshot(m)
    sd = fresh_values(m)
    missing = list(sd)[-1]
    del sd[missing]
    raises(StateDictError, arg("state_dict"), m.load_state_dict, sd, expect=("missing", repr(missing)))
    assert_params_equal(m, before)


def test_load_state_dict_unknown_key(family, kind):
    m = build(family, kind)
    before = snapshot(m)
    sd = fresh_values(m)
    sd["weight_ih_l9"] = np.zeros((1, 1))
    raises(StateDictError, arg("state_dict"), m.load_state_dict, sd, expect=("unknown", "'weight_ih_l9'"))
    assert_params_equal(m, before)


def test_load_state_dict_missing_and_unknown_both_listed(kind):
    m = make(kind)
    sd = fresh_values(m)
    sd["bias_ih_l0_typo"] = sd.pop("bias_ih_l0")
    raises(StateDictError, arg("state_dict"), m.load_state_dict, sd,
           expect=("missing", "'bias_ih_l0'", "unknown", "'bias_ih_l0_typo'"))


def test_load_state_dict_wrong_shape_changes_nothing(family, kind):
    """The bad entry is last, after valid new values for every other key: none may land."""
    m = build(family, kind)
    before = snapshot(m)
    sd = fresh_values(m)
    last = list(sd)[-1]
    good_shape = sd[last].shape
    sd[last] = np.zeros(good_shape + (1,))
    raises(StateDictError, arg("state_dict"), m.load_state_dict, sd, expect=(repr(last), str(good_shape)))
    assert_params_equal(m, before)
    sd[last] = np.zeros(good_shape[::-1] if len(good_shape) == 2 else (good_shape[0] + 1,))
    raises(StateDictError, arg("state_dict"), m.load_state_dict, sd, expect=str(good_shape))
    assert_params_equal(m, before)


@pytest.mark.parametrize("bad", ["complex", "str", "ragged", "bool"])
def test_load_state_dict_non_numeric_value_changes_nothing(family, kind, bad):
    m = build(family, kind)
    before = snapshot(m)
    sd = fresh_values(m)
    last = list(sd)[-1]
    shape = sd[last].shape
    sd[last] = {"complex": lambda: np.ones(shape, np.complex128), "str": lambda: np.full(shape, "x"),
                "ragged": lambda: [[1.0], [1.0, 2.0]], "bool": lambda: np.ones(shape, bool)}[bad]()
    raises(TypeError, arg("state_dict"), m.load_state_dict, sd, expect=repr(last))
    assert_params_equal(m, before)


@pytest.mark.parametrize("value", [[("weight_ih", np.zeros(1))], np.zeros(3), None, "weights"],
                         ids=["pairs", "array", "None", "str"])
def test_load_state_dict_not_a_mapping(family, kind, value):
    m = build(family, kind)
    before = snapshot(m)
    raises(TypeError, arg("state_dict"), m.load_state_dict, value, expect="mapping")
    assert_params_equal(m, before)


def test_load_state_dict_from_lists(family, kind):
    m = build(family, kind, dtype=np.float64)
    live = dict(m.named_parameters())
    sd = fresh_values(m)
    m.load_state_dict({k: v.tolist() for k, v in sd.items()})
    assert_params_equal(m, sd)
    # loaded in place: arrays handed out by named_parameters() stay the live ones
    for k, p in m.named_parameters():
        assert p is live[k]


def test_load_state_dict_casts_and_copies(family, kind):
    m = build(family, kind, dtype=np.float32)
    sd = fresh_values(m)  # float64 values
    m.load_state_dict(sd)
    for k, p in m.named_parameters():
        assert p.dtype == np.float32
        np.testing.assert_array_equal(p, sd[k].astype(np.float32))
        sd[k] += 1.0  # later edits of the source do not reach the module
        assert not np.array_equal(p, sd[k].astype(np.float32))


def _torch_module(torch, family, kind):
    torch.manual_seed(0)
    if family == "cell":
        return {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}[kind](I, H)
    cls_ = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    return cls_(I, H, num_layers=2, bidirectional=True)


@pytest.mark.parametrize("source", ["state_dict", "named_parameters", "float64_state_dict"])
def test_load_state_dict_from_torch(family, kind, source):
    torch = pytest.importorskip("torch")
    tm = _torch_module(torch, family, kind)
    if source == "state_dict":
        sd = tm.state_dict()
    elif source == "named_parameters":
        sd = {k: p for k, p in tm.named_parameters()}
        assert all(p.requires_grad for p in sd.values())
    else:
        sd = tm.double().state_dict()
    m = build(family, kind, dtype=np.float32)
    m.load_state_dict(sd)
    expected = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in sd.items()}
    assert_params_equal(m, expected)


def test_load_state_dict_from_torch_wrong_architecture_changes_nothing(kind):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tm = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](I, H + 1, num_layers=2,
                                                                                 bidirectional=True)
    m = make(kind, num_layers=2, bidirectional=True)
    before = snapshot(m)
    raises(StateDictError, arg("state_dict"), m.load_state_dict, tm.state_dict())
    assert_params_equal(m, before)
    tm1 = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](I, H, num_layers=1)
    raises(StateDictError, arg("state_dict"), m.load_state_dict, tm1.state_dict(), expect="missing")
    assert_params_equal(m, before)


# ====================================================================================
# Numerically stable activations: pre-activations of about +-1000
# ====================================================================================
def _saturate(module, seed=0):
    """Load sign-pattern weights: x ~ +-1000 hits W_ih (+-1); everything else is +-500."""
    rng = np.random.default_rng(seed)
    sd = {}
    for k, v in module.state_dict().items():
        scale = 1.0 if k in ("weight_ih_l0", "weight_ih_l0_reverse", "weight_ih") else 500.0
        sd[k] = scale * np.where(rng.standard_normal(v.shape) >= 0, 1.0, -1.0)
    module.load_state_dict(sd)


def _big_x(shape, seed=1):
    return 1000.0 * np.where(np.random.default_rng(seed).standard_normal(shape) >= 0, 1.0, -1.0)


def _run_saturated(family, kind, dtype, backend):
    """Forward + backward on saturated pre-activations; returns every array produced."""
    if family == "layer":
        m = make(kind, num_layers=2, bidirectional=True, dtype=dtype, backend=backend)
        _saturate(m)
        y, states = fwd(m, _big_x((T, B, I)).astype(dtype))
        states = states if isinstance(states, tuple) else (states,)
        dx, dstates = bwd(m, np.ones_like(y), *(np.ones_like(s) for s in states))
        outs = [y, *states]
    else:
        m = make_cell(kind, dtype=dtype, backend=backend)
        _saturate(m)
        h = None
        outs = []
        for t in range(T):
            out = cell_fwd(m, _big_x((B, I), seed=t).astype(dtype), *(() if h is None else h))
            h = out if isinstance(out, tuple) else (out,)
            outs.extend(h)
        for t in range(T):
            dx, dstates = cell_bwd(m, *(np.ones((B, H), dtype) for _ in h))
        y = outs[0]
    dstates = dstates if isinstance(dstates, tuple) else (dstates,)
    return m, outs, [dx, *dstates, *m.grads.values()], y


def _check_saturated(family, kind, dtype, backend, errstate):
    with warnings.catch_warnings(), np.errstate(**errstate):
        warnings.simplefilter("error")
        m, outs, grads, y = _run_saturated(family, kind, dtype, backend)
    for a in outs + grads:
        assert a.dtype == np.dtype(dtype)
        assert np.all(np.isfinite(a))
    # tanh-bounded outputs (RNN tanh, LSTM o * tanh(c), GRU convex mix from h0 = 0) stay in [-1, 1]
    assert np.abs(y).max() <= 1.0
    # the weights really were saturating: gates are exactly 0/1 and tanh exactly +-1, so RNN/GRU
    # outputs hit +-1 and the LSTM (h = o * tanh(c), c = i * g = +-1 on the first step) hits tanh(1)
    target = np.tanh(1.0) if kind == "lstm" else 1.0
    assert np.any(np.isclose(np.abs(y), target, rtol=1e-6, atol=0))


KINDS_FAMILIES = [(f, k) for f in ("layer", "cell") for k in ("rnn", "lstm", "gru")]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("family, kind_", KINDS_FAMILIES)
def test_saturated_preactivations_no_overflow(family, kind_, dtype, backend):
    """No overflow / invalid / divide-by-zero anywhere (underflow to 0 tolerated)."""
    errstate = dict(over="raise", divide="raise", invalid="raise", under="ignore")
    _check_saturated(family, kind_, dtype, backend, errstate)


# Underflow is deliberately not raised: products of saturated gates (o ~ 1e-38 times tanh(c))
# flush to subnormals/zero, which is benign and which NumPy itself ignores by default.
