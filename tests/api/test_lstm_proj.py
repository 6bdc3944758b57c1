"""LSTM with projections (torch.nn's proj_size): pyrnn.LSTM and pyrnn.torch.LSTM against torch.nn.

The cell is ``lstm_proj`` (pyrnn.cell_specs): h_t = W_hr (o_t * tanh(c_t)), h and y of
width P, c of width H. Every backend that runs it is checked, forward and every gradient.
"""
import io

import numpy as np
import pytest

import pyrnn
from pyrnn.backends import get_backend
from pyrnn.cell_specs import CELLS
from pyrnn.errors import InputError
from pyrnn.gradcheck import TOLERANCE as FD_TOLERANCE
from pyrnn.gradcheck import gradcheck

from cell_checks import backends_running

from tolerances import assert_close
from torch_oracle import run_torch_layer, torch

import pyrnn.torch as prt

T, B, I, H, P = 6, 3, 4, 7, 3
MODE = "lstm_proj"


@pytest.fixture(params=backends_running(MODE))
def backend(request):
    return request.param


def _torch_dtype(dtype):
    return torch.float64 if dtype == np.float64 else torch.float32


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("num_layers,bidirectional,bias,batch_first,with_lengths", [
    (1, False, True, False, False), (1, True, True, False, True), (2, False, False, False, True),
    (2, True, True, True, True), (1, False, True, True, False)])
def test_layer_matches_torch_nn(dtype, num_layers, bidirectional, bias, batch_first, with_lengths, backend):
    layer = pyrnn.LSTM(I, H, num_layers=num_layers, bias=bias, batch_first=batch_first,
                       bidirectional=bidirectional, proj_size=P, backend=backend, dtype=dtype, seed=3)
    ref = torch.nn.LSTM(I, H, num_layers=num_layers, bias=bias, batch_first=batch_first,
                        bidirectional=bidirectional, proj_size=P, dtype=_torch_dtype(dtype))
    ref.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in layer.state_dict().items()})
    D = layer.num_directions
    rng = np.random.default_rng(4)
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I)).astype(dtype)
    h0 = rng.standard_normal((num_layers * D, B, P)).astype(dtype)
    c0 = rng.standard_normal((num_layers * D, B, H)).astype(dtype)
    dy = rng.standard_normal((B, T, D * P) if batch_first else (T, B, D * P)).astype(dtype)
    dh_n, dc_n = rng.standard_normal(h0.shape).astype(dtype), rng.standard_normal(c0.shape).astype(dtype)
    lengths = np.array([T, 2, 4]) if with_lengths else None
    if lengths is not None:   # torch returns zeros there; dy at padded steps is ignored by both
        pad = np.arange(T)[:, None] >= lengths[None, :]
        dy[(pad.T if batch_first else pad)] = 0

    y, (h_n, c_n) = layer(x, (h0, c0), lengths=lengths)
    layer.zero_grad()
    dx, (dh0, dc0) = layer.backward(dy, (dh_n, dc_n))
    want = run_torch_layer(ref, x, [h0, c0], dy, [dh_n, dc_n], lengths, dtype)

    assert y.shape == want["y"].shape and h_n.shape == (num_layers * D, B, P) and c_n.shape == c0.shape
    for what, got, exp in [("y", y, want["y"]), ("h_n", h_n, want["states_n"][0]), ("c_n", c_n, want["states_n"][1]),
                           ("dx", dx, want["dx"]), ("dh0", dh0, want["dstates0"][0]),
                           ("dc0", dc0, want["dstates0"][1])]:
        assert got.dtype == dtype, what
        assert_close(got, exp, dtype, what)
    assert set(layer.grads) == set(want["grads"])
    for name, g in want["grads"].items():
        assert_close(layer.grads[name], g, dtype, name)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_every_gradient_against_finite_differences(bidirectional, backend):
    layer = pyrnn.LSTM(3, 4, num_layers=2, proj_size=2, bidirectional=bidirectional, backend=backend,
                       dtype=np.float64, seed=5)
    x = np.random.default_rng(6).standard_normal((4, 2, 3))
    errors = gradcheck(layer, x, lengths=np.array([4, 3]))
    assert set(errors) == {*layer.state_dict(), "x", "h0", "c0"}
    assert max(errors.values()) < FD_TOLERANCE, errors


def test_backend_matches_the_reference_across_shapes(backend):
    """Direct backend calls over shapes that cross the kernels' paths (packed blocks from 8 steps,
    batch 1, widths that are not multiples of the vector length, P close to H)."""
    spec = CELLS[MODE]
    rng = np.random.default_rng(7)
    for T_, B_, I_, H_, P_ in [(3, 1, 2, 5, 2), (9, 1, 3, 33, 17), (12, 7, 5, 40, 39), (10, 16, 8, 128, 64)]:
        for dtype in (np.float64, np.float32):
            x = rng.standard_normal((T_, B_, I_)).astype(dtype)
            state = tuple((rng.standard_normal(s) * 0.5).astype(dtype) for s in spec.state_shapes(B_, H_, P_))
            weights = tuple((rng.standard_normal(p.shape(I_, H_, P_)) / np.sqrt(H_)).astype(dtype)
                            for p in spec.params)
            lengths = rng.integers(1, T_ + 1, size=B_)
            results = []
            for name in (backend, "numpy"):
                be = get_backend(name)
                y, state_n, saved = be.forward(MODE, x, state, weights, lengths, True, True)
                dy = np.cos(np.arange(y.size)).reshape(y.shape).astype(dtype)
                dstate = tuple(np.sin(np.arange(s.size)).reshape(s.shape).astype(dtype) for s in state_n)
                dx, dstate0, dweights = be.backward(MODE, saved, dy, dstate)
                results.append([y, *state_n, dx, *dstate0, *dweights])
            for k, (got, want) in enumerate(zip(*results)):
                assert_close(got, want, dtype, f"output {k} at {(T_, B_, I_, H_, P_)}")


def test_proj_size_is_checked_like_torch():
    with pytest.raises(InputError, match="proj_size has to be smaller than hidden_size"):
        pyrnn.LSTM(3, 4, proj_size=4)
    with pytest.raises(InputError, match="proj_size must be >= 0"):
        pyrnn.LSTM(3, 4, proj_size=-1)
    with pytest.raises(TypeError, match="proj_size must be an integer"):
        pyrnn.LSTM(3, 4, proj_size=1.5)
    layer = pyrnn.LSTM(3, 4, proj_size=2, backend="numpy")
    with pytest.raises(InputError, match=r"h0 must have shape \(num_layers \* num_directions, batch, proj_size\) = \(1, 5, 2\)"):
        layer(np.zeros((2, 5, 3)), (np.zeros((1, 5, 4)), np.zeros((1, 5, 4))))
    assert repr(layer).startswith("LSTM(3, 4, proj_size=2")
    assert pyrnn.LSTM(3, 4, proj_size=0, backend="numpy").mode == "lstm"


def test_state_dict_names_and_shapes_are_torch_nn():
    ours = pyrnn.LSTM(5, 6, num_layers=2, bidirectional=True, proj_size=2, backend="numpy")
    theirs = torch.nn.LSTM(5, 6, num_layers=2, bidirectional=True, proj_size=2)
    assert [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()] == \
           [(k, v.shape) for k, v in ours.state_dict().items()]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("bidirectional,batch_first", [(False, False), (True, True)])
def test_torch_module_matches_torch_nn_with_packed_sequences(dtype, bidirectional, batch_first, backend):
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    torch.manual_seed(8)
    theirs = torch.nn.LSTM(I, H, num_layers=2, proj_size=P, bidirectional=bidirectional, batch_first=batch_first,
                           dropout=0.0, dtype=dtype)
    ours = prt.LSTM(I, H, num_layers=2, proj_size=P, bidirectional=bidirectional, batch_first=batch_first,
                    dtype=dtype, backend=backend)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn((B, T, I) if batch_first else (T, B, I), dtype=dtype)
    lengths = torch.tensor([T, 2, 5])
    results = []
    for module in (theirs, ours):
        xg = x.clone().requires_grad_()
        packed = pack_padded_sequence(xg, lengths, batch_first=batch_first, enforce_sorted=False)
        out, (h_n, c_n) = module(packed)
        y, _ = pad_packed_sequence(out, batch_first=batch_first)
        (y.sin().sum() + (h_n * 2).sum() + c_n.cos().sum()).backward()
        results.append([y, h_n, c_n, xg.grad, *(p.grad for p in module.parameters())])
        module.zero_grad()
    np_dtype = np.float64 if dtype == torch.float64 else np.float32
    for k, (got, want) in enumerate(zip(*results)):
        assert got.shape == want.shape, k
        assert_close(got.detach().numpy(), want.detach().numpy(), np_dtype, f"result {k}")


def test_torch_module_runs_a_kernel_backend_and_round_trips():
    ours = prt.LSTM(3, 5, proj_size=2)
    assert ours.backend == pyrnn.backends.get_backend("auto", MODE).name
    theirs = torch.nn.LSTM(3, 5, proj_size=2)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(4, 2, 3)
    assert torch.allclose(ours(x)[0], theirs(x)[0], atol=1e-5)
    assert ours(x[:, 0])[0].shape == (4, 2)          # unbatched
    buffer = io.BytesIO()
    torch.save(ours, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer)                      # weights_only=True: pyrnn.torch's classes are allowed
    assert torch.equal(loaded(x)[0], ours(x)[0])


@pytest.mark.parametrize("bidirectional", [False, True])
def test_jax_function_matches_the_layer(bidirectional, backend):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    import pyrnn.jax

    layer = pyrnn.LSTM(I, H, num_layers=2, proj_size=P, bidirectional=bidirectional, backend=backend,
                       dtype=np.float32, seed=9)
    params = {k: jnp.asarray(v) for k, v in layer.state_dict().items()}
    rng = np.random.default_rng(10)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    lengths = np.array([T, 2, 4])
    y, (h_n, c_n) = pyrnn.jax.lstm(params, jnp.asarray(x), lengths=lengths, backend=backend)
    want_y, (want_h, want_c) = layer(x, lengths=lengths)
    for what, got, want in [("y", y, want_y), ("h_n", h_n, want_h), ("c_n", c_n, want_c)]:
        assert_close(np.asarray(got), want, np.float32, what)

    def loss(p, inp):
        out, (h, c) = pyrnn.jax.lstm(p, inp, lengths=lengths, backend=backend)
        return jnp.sum(jnp.sin(out)) + jnp.sum(h) + jnp.sum(c * c)

    grads = jax.grad(loss)(params, jnp.asarray(x))
    layer.zero_grad()
    layer(x, lengths=lengths)
    layer.backward(np.cos(want_y), (np.ones_like(want_h), 2 * want_c))
    for name, g in grads.items():
        assert_close(np.asarray(g), layer.grads[name], np.float32, name)
