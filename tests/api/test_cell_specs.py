"""The cell descriptions (pyrnn.cell_specs) against everything derived from them."""
import numpy as np
import pytest

import pyrnn
from pyrnn.backends import get_backend
from pyrnn.backends.base import BASE_CELLS, GATES, Backend, check_call, states_of
from pyrnn.cell_specs import CELLS, Param, dim_size, layer_suffix
from pyrnn.errors import InputError

from cell_checks import CELL_OF, LAYER_OF, proj_size_for, random_call

MODES = sorted(CELLS)


def test_every_registered_cell_has_a_layer_and_a_cell_under_test():
    assert set(LAYER_OF) == set(CELLS) and set(CELL_OF) <= set(CELLS)
    assert all(CELLS[m].mode == m for m in CELLS)


def test_derived_gates_and_state_counts_equal_the_hand_written_tables():
    # The values base.py held before they were derived (the c and cuda backends read GATES).
    assert GATES == {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}
    assert {m: states_of(m) for m in GATES} == {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 2, "gru": 1}
    assert set(BASE_CELLS) <= set(CELLS) and Backend.cells == BASE_CELLS


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bias", [True, False])
def test_layer_parameters_are_the_description(mode, bias):
    spec = CELLS[mode]
    I, H, L = 3, 5, 2
    layer = LAYER_OF[mode](I, H, num_layers=L, bidirectional=True, bias=bias, backend="numpy", seed=0)
    expected = {}
    for layer_index in range(L):
        for direction in range(2):
            in_size = I if layer_index == 0 else 2 * spec.output_size(H, proj_size_for(spec, H))
            expected.update(spec.shapes(in_size, H, layer_suffix(layer_index, direction), bias,
                                        proj_size_for(spec, H)))
    got = {name: p.shape for name, p in layer.named_parameters()}
    assert list(got) == list(expected)          # torch.nn's order: layer, direction, then weights order
    assert got == expected
    assert {n: g.shape for n, g in layer.grads.items()} == expected


@pytest.mark.parametrize("mode", sorted(CELL_OF))
@pytest.mark.parametrize("bias", [True, False])
def test_cell_parameters_are_the_description(mode, bias):
    spec = CELLS[mode]
    cell = CELL_OF[mode](4, 6, bias=bias, backend="numpy", seed=0)
    assert {n: p.shape for n, p in cell.named_parameters()} == spec.shapes(4, 6, bias=bias)
    assert list(cell.state_dict()) == [n for n in spec.names(bias=bias) if n is not None]


def test_names_and_shapes_of_one_layer_direction():
    lstm = CELLS["lstm"]
    assert lstm.names("l1_reverse") == ("weight_ih_l1_reverse", "weight_hh_l1_reverse",
                                        "bias_ih_l1_reverse", "bias_hh_l1_reverse")
    assert lstm.names(bias=False) == ("weight_ih", "weight_hh", None, None)
    assert lstm.shapes(3, 5) == {"weight_ih": (20, 3), "weight_hh": (20, 5), "bias_ih": (20,), "bias_hh": (20,)}
    assert Param("x", ("2H", "I", "H")).shape(3, 7) == (14, 3, 7)
    assert [layer_suffix(0, 0), layer_suffix(2, 1)] == ["l0", "l2_reverse"]


@pytest.mark.parametrize("mode", MODES)
def test_initialisation_follows_each_parameters_rule(mode):
    """Drawn in weights order from the module's generator, parameter by parameter."""
    spec = CELLS[mode]
    cell = LAYER_OF[mode](3, 4, backend="numpy", dtype=np.float64, seed=11)
    rng = np.random.default_rng(11)
    for name, p in zip(spec.names("l0"), spec.params):
        np.testing.assert_array_equal(cell.state_dict()[name], p.init(rng, p.shape(3, 4, proj_size_for(spec, 4)), 4))


@pytest.mark.parametrize("mode", MODES)
def test_reference_keeps_the_saved_activations_the_description_names(mode):
    spec = CELLS[mode]
    T, B, I, H = 4, 3, 2, 5
    x, state, weights = random_call(spec, T, B, I, H, np.random.default_rng(0))
    P = proj_size_for(spec, H)
    y, state_n, saved = spec.forward(x, state, weights, None, False)
    assert y.shape == (T, B, spec.output_size(H, P)) and len(state_n) == len(spec.states)
    assert [s.shape for s in state_n] == list(spec.state_shapes(B, H, P))
    for name, dim in spec.saved:
        assert saved[name].shape == (T, B, dim_size(dim, I, H, P)), name
    dx, dstate0, dweights = spec.backward(saved, np.ones_like(y), tuple(np.ones_like(s) for s in state_n))
    assert dx.shape == x.shape and len(dstate0) == len(spec.states)
    assert [None if d is None else d.shape for d in dweights] == [w.shape for w in weights]


@pytest.mark.parametrize("mode", MODES)
def test_numba_saves_what_the_description_names(mode):
    if "numba" not in pyrnn.available_backends():
        pytest.skip("numba backend not available here")
    if mode not in get_backend("numba").cells:
        pytest.skip(f"the numba backend does not run {mode}")
    spec = CELLS[mode]
    T, B, I, H = 3, 2, 2, 4
    x, state, weights = random_call(spec, T, B, I, H, np.random.default_rng(1))
    _, _, saved = get_backend("numba").forward(mode, x, state, weights, None, False, True)
    for name, dim in spec.saved:
        assert saved.inner["arrays"][name].shape == (T, B, dim_size(dim, I, H, proj_size_for(spec, H))), name


@pytest.mark.parametrize("mode", MODES)
def test_check_call_messages_come_from_the_description(mode):
    spec = CELLS[mode]
    x, state, weights = random_call(spec, 2, 3, 4, 5, np.random.default_rng(2))
    check_call(mode, x, state, weights)                      # a valid call passes
    shorts = ", ".join(p.short for p in spec.params)
    with pytest.raises(InputError, match=rf"weights must be \({shorts}\), got 1 entries"):
        check_call(mode, x, state, weights[:1])
    with pytest.raises(InputError, match=rf"state must hold {len(spec.states)} array\(s\) for {mode} "):
        check_call(mode, x, state + state, weights)
    P = proj_size_for(spec, 5)
    for i, p in enumerate(spec.params):
        wrong = weights[:i] + (np.zeros(p.shape(4, 5, P)[:-1] + (1,)),) + weights[i + 1:]
        with pytest.raises(InputError, match=rf"{p.name} must have shape {p.shape(4, 5, P)}".replace("(", r"\(")
                           .replace(")", r"\)")):
            check_call(mode, x, state, wrong, hidden_size=5)


def test_unknown_mode_lists_the_registered_cells():
    x = np.zeros((1, 1, 1))
    with pytest.raises(InputError, match=r"mode must be one of \[.*'lstm'.*\], got 'lstmp'"):
        check_call("lstmp", x, (), ())


def test_numpy_backend_runs_every_registered_cell():
    assert set(get_backend("numpy").cells) == set(CELLS)
