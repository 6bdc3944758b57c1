"""Finite differences (the math oracle) against every analytic gradient, float64."""
import numpy as np
import pytest

from shared import CELLS, GRADCHECK_TOLERANCE, LAYERS
from pyrnn.gradcheck import gradcheck

LAYER_MODES = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", None), ("gru", None)]
CASES = [  # num_layers, bidirectional, batch_first, lengths (T=5, B=3)
    (1, False, False, None), (2, False, False, [5, 1, 3]), (1, True, False, None),
    (2, True, True, [2, 5, 4]), (3, True, False, [3, 3, 1])]


def _layer(kind, nonlinearity, backend, **kwargs):
    if kind == "rnn":
        kwargs["nonlinearity"] = nonlinearity
    return LAYERS[kind](3, 4, backend=backend, dtype=np.float64, seed=1, **kwargs)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"L{c[0]}{'-bi' if c[1] else ''}"
                         f"{'-bf' if c[2] else ''}{'-len' if c[3] else ''}")
@pytest.mark.parametrize("kind,nonlinearity", LAYER_MODES, ids=["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_layer_gradients_match_finite_differences(kind, nonlinearity, case, backend):
    num_layers, bidir, batch_first, lengths = case
    layer = _layer(kind, nonlinearity, backend, num_layers=num_layers, bidirectional=bidir,
                   batch_first=batch_first)
    x = np.random.default_rng(2).standard_normal((3, 5, 3) if batch_first else (5, 3, 3))
    errors = gradcheck(layer, x, lengths=lengths)
    expected = {"x", "h0"} | ({"c0"} if kind == "lstm" else set()) | set(layer.state_dict())
    assert set(errors) == expected
    assert max(errors.values()) < GRADCHECK_TOLERANCE, errors


@pytest.mark.parametrize("kind,nonlinearity", LAYER_MODES, ids=["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_layer_without_bias_gradients(kind, nonlinearity, backend):
    layer = _layer(kind, nonlinearity, backend, num_layers=2, bias=False)
    errors = gradcheck(layer, np.random.default_rng(3).standard_normal((4, 2, 3)))
    assert not any(name.startswith("bias") for name in errors)
    assert max(errors.values()) < GRADCHECK_TOLERANCE, errors


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("kind,nonlinearity", LAYER_MODES, ids=["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_cell_gradients_match_finite_differences(kind, nonlinearity, batched, backend):
    kwargs = {"nonlinearity": nonlinearity} if kind == "rnn" else {}
    cell = CELLS[kind](3, 4, backend=backend, dtype=np.float64, seed=4, **kwargs)
    x = np.random.default_rng(5).standard_normal((2, 3) if batched else (3,))
    errors = gradcheck(cell, x)
    assert max(errors.values()) < GRADCHECK_TOLERANCE, errors


def test_gradcheck_detects_a_wrong_gradient(backend, monkeypatch):
    """The check itself can fail: corrupt one backward result and it must notice."""
    layer = LAYERS["gru"](3, 4, backend=backend, dtype=np.float64, seed=1)
    original = type(layer._backend).backward

    def corrupted(self, mode, saved, dy, dstate_n):
        dx, dstate0, dweights = original(self, mode, saved, dy, dstate_n)
        dweights = (dweights[0] * 1.001,) + tuple(dweights[1:])
        return dx, dstate0, dweights

    monkeypatch.setattr(type(layer._backend), "backward", corrupted)
    errors = gradcheck(layer, np.random.default_rng(0).standard_normal((3, 2, 3)))
    assert errors["weight_ih_l0"] > GRADCHECK_TOLERANCE
    assert errors["weight_hh_l0"] < GRADCHECK_TOLERANCE


def test_gradcheck_refuses_float32():
    with pytest.raises(TypeError, match="float64"):
        gradcheck(LAYERS["lstm"](2, 2), np.zeros((2, 1, 2)))
