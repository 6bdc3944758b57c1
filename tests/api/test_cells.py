"""Cells: one step against torch.nn cells, and step-by-step loops against the layer."""
import numpy as np
import pytest

from shared import CELLS, LAYERS, assert_close
from torch_oracle import _t, torch, torch_cell

KINDS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", None), ("gru", None)]
IDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


def make_cell(kind, nonlinearity, I, H, backend, dtype, bias=True, seed=0):
    kwargs = {"nonlinearity": nonlinearity} if kind == "rnn" else {}
    return CELLS[kind](I, H, bias=bias, backend=backend, dtype=dtype, seed=seed, **kwargs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 4, 5), (2, 7, 1)], ids=lambda s: "B{}I{}H{}".format(*s))
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind,nonlinearity", KINDS, ids=IDS)
def test_multi_step_cell_matches_torch_cell(kind, nonlinearity, bias, shape, dtype, backend):
    """Three steps forward, then three backward calls (LIFO), against torch autograd."""
    B, I, H = shape
    rng = np.random.default_rng(1)
    cell = make_cell(kind, nonlinearity, I, H, backend, dtype, bias)
    tc = torch_cell(kind, I, H, bias=bias, nonlinearity=nonlinearity or "tanh",
                    state_dict=cell.state_dict(), dtype=dtype)
    n_states = 2 if kind == "lstm" else 1
    xs = [rng.standard_normal((B, I)).astype(dtype) for _ in range(3)]
    s0 = [rng.standard_normal((B, H)).astype(dtype) for _ in range(n_states)]
    dhs = [rng.standard_normal((B, H)).astype(dtype) for _ in range(3)]   # loss = sum_t <h_t, dhs[t]>

    # torch
    xts = [_t(x, dtype, grad=True) for x in xs]
    sts = [_t(s, dtype, grad=True) for s in s0]
    state = tuple(sts) if n_states == 2 else sts[0]
    loss, outs = 0, []
    for xt, dh in zip(xts, dhs):
        state = tc(xt, state)
        h = state[0] if n_states == 2 else state
        outs.append(h.detach().numpy())
        loss = loss + (h * _t(dh, dtype)).sum()
    loss.backward()

    # pyrnn: forward steps, then backward steps in reverse order, carrying d(previous state)
    state = tuple(s0) if n_states == 2 else s0[0]
    for step, x in enumerate(xs):
        state = cell(x, state)
        assert_close(state[0] if n_states == 2 else state, outs[step], dtype, f"h step {step}")
    assert cell.pending_steps == 3
    carry = [np.zeros((B, H), dtype)] * n_states
    dxs = [None] * 3
    for step in reversed(range(3)):
        dh = carry[0] + dhs[step]
        if n_states == 2:
            dxs[step], carry = cell.backward((dh, carry[1]))
        else:
            dxs[step], d = cell.backward(dh)
            carry = [d]
    assert cell.pending_steps == 0
    for step in range(3):
        assert_close(dxs[step], xts[step].grad.numpy(), dtype, f"dx step {step}")
    for a, s in zip(carry, sts):
        assert_close(a, s.grad.numpy(), dtype, "d initial state")
    for name, p in tc.named_parameters():
        assert_close(cell.grads[name], p.grad.numpy(), dtype, f"grad {name}")


@pytest.mark.parametrize("kind,nonlinearity", KINDS, ids=IDS)
def test_cell_loop_equals_one_layer(kind, nonlinearity, backend):
    """A cell run step by step is the single-layer layer with the same weights (float64)."""
    T, B, I, H = 6, 3, 4, 5
    rng = np.random.default_rng(2)
    cell = make_cell(kind, nonlinearity, I, H, backend, np.float64)
    kwargs = {"nonlinearity": nonlinearity} if kind == "rnn" else {}
    layer = LAYERS[kind](I, H, backend=backend, dtype=np.float64, **kwargs)
    layer.load_state_dict({f"{k}_l0": v for k, v in cell.state_dict().items()})
    x = rng.standard_normal((T, B, I))
    dy = rng.standard_normal((T, B, H))

    y, _ = layer(x)
    dx_layer, _ = layer.backward(dy)
    state, hs = None, []
    for t in range(T):
        state = cell(x[t], state)
        hs.append(state[0] if kind == "lstm" else state)
    assert_close(np.stack(hs), y, np.float64, "y")
    carry, dxs = None, []
    for t in reversed(range(T)):
        if kind == "lstm":
            dh = dy[t] if carry is None else dy[t] + carry[0]
            dx, carry = cell.backward((dh, None if carry is None else carry[1]))
        else:
            dx, carry = cell.backward(dy[t] if carry is None else dy[t] + carry)
        dxs.append(dx)
    assert_close(np.stack(dxs[::-1]), dx_layer, np.float64, "dx")
    for name, g in cell.grads.items():
        assert_close(g, layer.grads[f"{name}_l0"], np.float64, name)


@pytest.mark.parametrize("kind,nonlinearity", KINDS, ids=IDS)
def test_unbatched_cell_matches_batched(kind, nonlinearity, backend):
    cell = make_cell(kind, nonlinearity, 3, 4, backend, np.float64)
    x = np.random.default_rng(3).standard_normal(3)
    out1 = cell(x)
    out2 = cell(x[None])
    if kind == "lstm":
        assert out1[0].shape == (4,) and out1[1].shape == (4,)
        assert_close(out1[0], out2[0][0], np.float64)
        assert_close(out1[1], out2[1][0], np.float64)
        dx, (dh, dc) = cell.backward((np.ones((1, 4)), None))   # pops the batched step
        dx1, (dh1, dc1) = cell.backward((np.ones(4), None))     # then the unbatched one
        assert dh1.shape == dc1.shape == (4,)
        assert_close(dh1, dh[0], np.float64)
        assert_close(dc1, dc[0], np.float64)
    else:
        assert out1.shape == (4,)
        assert_close(out1, out2[0], np.float64)
        dx, dh = cell.backward(np.ones((1, 4)))     # pops the batched step
        dx1, dh1 = cell.backward(np.ones(4))        # then the unbatched one
        assert dh1.shape == (4,)
        assert_close(dh1, dh[0], np.float64)
    assert dx.shape == (1, 3) and dx1.shape == (3,)
    assert_close(dx1, dx[0], np.float64)


def test_eval_mode_cell_records_nothing(backend):
    cell = make_cell("gru", None, 3, 4, backend, np.float32).eval()
    h = cell(np.ones((2, 3), np.float32))
    assert h.shape == (2, 4) and cell.pending_steps == 0
    cell.train()
    cell(np.ones((2, 3), np.float32))
    cell(np.ones((2, 3), np.float32))
    assert cell.pending_steps == 2
    cell.clear_tape()
    assert cell.pending_steps == 0


def test_torch_oracle_is_real():
    """The oracle module really is torch (guards against an accidental stub)."""
    assert torch.__version__.startswith("2.")
