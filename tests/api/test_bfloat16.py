"""bfloat16 inference (dtype="bfloat16", the c backend): every cell, both kernel paths, layers, cells,
pyrnn.torch, against the float64 reference evaluated on the bf16-rounded weights and inputs."""
import ml_dtypes
import numpy as np
import pytest

import pyrnn
from pyrnn.backends import available_backends, get_backend
from pyrnn.cell_specs import CELLS
from pyrnn.errors import InputError
from tests.cell_checks import CELL_OF, LAYER_OF
from tests.tolerances import BF16_LAYER_NORM_FACTOR, BF16_TOLERANCE_PER_LAYER, assert_close_bf16

BF16 = np.dtype(ml_dtypes.bfloat16)
pytestmark = pytest.mark.skipif("c" not in available_backends(), reason="bfloat16 runs on the c backend")

PATHS = ["portable", "small-batch", "every-product", "amx"]


@pytest.fixture(params=PATHS)
def bf16_path(request):
    """Run the test on one of the c backend's bf16 paths (the VDPBF16PS and AMX ones only where the CPU has them)."""
    c = get_backend("c")
    in_effect = c.set_bf16_path(request.param)
    if in_effect != request.param:
        c.set_bf16_path("best")
        pytest.skip(f"this CPU (or its OS) has no {'AMX-BF16' if request.param == 'amx' else 'AVX512-BF16'}")
    yield request.param
    c.set_bf16_path("best")


def test_bf16_path_names_what_runs():
    c = get_backend("c")
    try:
        assert c.set_bf16_path("portable") == "portable" and c.bf16_path.startswith("portable")
        best = c.set_bf16_path("best")
        assert best in ("portable", "small-batch", "every-product", "amx")
        assert c.bf16_path.startswith(best if best in ("portable", "amx") else f"avx512-bf16 {best}"), c.bf16_path
        with pytest.raises(ValueError, match="bf16 path must be one of"):
            c.set_bf16_path("tiles")
    finally:
        c.set_bf16_path("best")


def _layer(mode, I, H, **kw):
    return LAYER_OF[mode](I, H, **kw) if mode in LAYER_OF else {
        "lstm_proj": lambda *a, **k: pyrnn.LSTM(*a, proj_size=H // 2 + 1, **k),
        "layernorm_lstm": pyrnn.LayerNormLSTM}[mode](I, H, **kw)


def _pair(mode, I, H, seed=0, **kw):
    """(bf16 layer on c in eval mode, float64 numpy reference holding the same - rounded - weights)."""
    layer = _layer(mode, I, H, dtype="bfloat16", backend="c", seed=seed, **kw).eval()
    ref = _layer(mode, I, H, dtype=np.float64, backend="numpy", **kw).eval()
    ref.load_state_dict({k: v.astype(np.float64) for k, v in layer.state_dict().items()})
    return layer, ref


def _layers(mode, n):
    """The tolerance's layer count for ``n`` layers of ``mode`` (tests/tolerances.py)."""
    return n * (BF16_LAYER_NORM_FACTOR if mode == "layernorm_lstm" else 1)


def _as64(a):
    return np.asarray(a).astype(np.float64)


# small-batch: batches 1..4 take the VDPBF16PS step product, larger ones float FMAs on the widened
# weights; every-product: VDPBF16PS in 6-row tiles and their remainders (B % 6), the input projection
# too (T*B rows in chunks of 192: T=13 B=16 crosses one); amx: tiles for products of 3 rows or more
# (B = 3..15: one tile of B rows; 16: whole tiles; 20, 40: the last tile overlapping the one before;
# T*B < 3: no tiles at all), padded K (I, H not multiples of 32) and partial unit tiles; odd
# widths end the 16-unit vectors and the 64-unit blocks early, odd I and H end a bf16 pair early.
# From 8 steps and 16 rows every-product splits the batch over the threads (T=13 B=16: 8 + 8 rows,
# T=9 B=33: 17 + 16).
SHAPES = [(1, 1, 3, 5), (9, 1, 7, 33), (12, 3, 64, 65), (8, 4, 33, 130), (10, 7, 16, 24), (9, 13, 5, 64),
          (13, 16, 19, 70), (3, 11, 130, 129), (9, 7, 1, 3), (6, 20, 37, 200), (4, 40, 64, 72), (2, 8, 32, 16),
          (9, 33, 24, 40)]


@pytest.mark.parametrize("mode", sorted(CELLS))
@pytest.mark.parametrize("T,B,I,H", SHAPES)
def test_every_cell_matches_the_rounded_reference(mode, T, B, I, H, bf16_path):
    layer, ref = _pair(mode, I, H)
    x = np.random.default_rng(1).standard_normal((T, B, I)).astype(BF16)
    y, state = layer(x)
    y_ref, state_ref = ref(_as64(x))
    assert y.dtype == BF16 and all(s.dtype == BF16 for s in (state if isinstance(state, tuple) else [state]))
    assert_close_bf16(y, y_ref, _layers(mode, 1), f"{mode} y")
    for s, s_ref in zip(state if isinstance(state, tuple) else [state],
                        state_ref if isinstance(state_ref, tuple) else [state_ref]):
        assert_close_bf16(s, s_ref, _layers(mode, 1), f"{mode} state")


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh", "lstm_proj", "layernorm_lstm"])
# 17: 9 + 8 rows, split on every-product where the per-step work allows it (in the sanitizer run,
# PYRNN_C_MIN_WORK=1, every cell; at the default only bigger layers: SHAPES has two)
@pytest.mark.parametrize("B", [2, 6, 17])
def test_stacks_directions_lengths_and_initial_state(mode, B, bf16_path):
    layer, ref = _pair(mode, 11, 20, num_layers=2, bidirectional=True, batch_first=True)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((B, 15, 11)).astype(np.float32)   # float32 input: rounded on the way in
    lengths = rng.integers(1, 16, B)
    lengths[0] = 15
    hx = tuple(rng.uniform(-0.5, 0.5, s.shape).astype(BF16) for s in _states(ref(_as64(x.astype(BF16)))[1]))
    y, state = layer(x, hx if len(hx) > 1 else hx[0], lengths=lengths)
    y_ref, state_ref = ref(_as64(x.astype(BF16)), tuple(map(_as64, hx)) if len(hx) > 1 else _as64(hx[0]),
                           lengths=lengths)
    assert_close_bf16(y, y_ref, _layers(mode, 2), f"{mode} y")
    for s, s_ref in zip(_states(state), _states(state_ref)):
        assert_close_bf16(s, s_ref, _layers(mode, 2), f"{mode} state")


def _states(state):
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("dot_path", ["small-batch", "every-product", "amx"])
@pytest.mark.parametrize("B", [2, 9, 20])
def test_the_paths_compute_the_same_products(dot_path, B):
    """The paths differ only in the order of the float sums: far closer to each other than to the reference."""
    c = get_backend("c")
    layer, _ = _pair("lstm", 40, 70)
    x = np.random.default_rng(3).standard_normal((20, B, 40)).astype(BF16)
    try:
        c.set_bf16_path("portable")
        y_portable = _as64(layer(x)[0])
        if c.set_bf16_path(dot_path) != dot_path:
            pytest.skip(f"this CPU has no {dot_path} path")
        y_dot = _as64(layer(x)[0])
    finally:
        c.set_bf16_path("best")
    # one bf16 ulp where a float sum rounded to the other side of a bf16 tie, nothing more
    np.testing.assert_allclose(y_dot, y_portable, rtol=0, atol=ml_dtypes.finfo(BF16).eps)


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_cells_match_the_layer(mode, bf16_path):
    cell = CELL_OF[mode](9, 17, dtype="bfloat16", backend="c").eval()
    layer = LAYER_OF[mode](9, 17, dtype="bfloat16", backend="c").eval()
    layer.load_state_dict({f"{k}_l0": v for k, v in cell.state_dict().items()})
    x = np.random.default_rng(4).standard_normal((1, 3, 9)).astype(BF16)
    out = cell(x[0])
    y, _ = layer(x)
    h = out[0] if isinstance(out, tuple) else out
    np.testing.assert_array_equal(_as64(h), _as64(y[0]))


def test_medium_configs_stay_within_1e2_of_float32():
    """What users accept for the speed (torch's bf16 and OpenVINO's are 3e-3..6e-3 from fp32 here)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((100, 32, 256)).astype(np.float32)
    for cls in (pyrnn.LSTM, pyrnn.GRU):
        f32 = cls(256, 256, backend="c", seed=0).eval()
        bf = cls(256, 256, backend="c", dtype="bfloat16").eval()
        bf.load_state_dict(f32.state_dict())
        assert np.abs(_as64(bf(x)[0]) - f32(x)[0]).max() < 1e-2, cls.__name__


def test_nan_stays_nan(bf16_path):
    layer, _ = _pair("lstm", 4, 8)
    x = np.zeros((5, 3, 4), dtype=BF16)
    x[2, 1, 0] = np.nan
    y = _as64(layer(x)[0])
    assert np.isnan(y[2:, 1]).all() and np.isfinite(y[:, [0, 2]]).all() and np.isfinite(y[:2, 1]).all()


def test_auto_picks_a_backend_that_computes_in_bf16():
    assert pyrnn.LSTM(3, 4, dtype="bfloat16").backend == "c"
    assert pyrnn.GRU(3, 4, dtype=ml_dtypes.bfloat16).dtype == BF16


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_other_backends_refuse_bf16_naming_it(backend):
    if backend not in available_backends():
        pytest.skip(f"{backend} is not available")
    with pytest.raises(RuntimeError, match="not bfloat16.*c backend"):
        pyrnn.LSTM(3, 4, dtype="bfloat16", backend=backend)


def test_training_mode_is_refused_with_a_clear_message():
    layer = pyrnn.LSTM(3, 4, dtype="bfloat16")
    with pytest.raises(InputError, match="inference only.*eval"):
        layer(np.zeros((2, 1, 3), np.float32))


def test_the_tolerance_is_stated_from_bf16_epsilon():
    assert BF16_TOLERANCE_PER_LAYER == 2 * float(ml_dtypes.finfo(BF16).eps)


@pytest.mark.parametrize("name,kw", [("LSTM", {}), ("GRU", {}), ("RNN", {}), ("LSTM", {"proj_size": 9})])
def test_pyrnn_torch_bf16_modules_match_torch_nn_bf16(name, kw, bf16_path):
    torch = pytest.importorskip("torch")   # here, not at module level: that would skip every test above
    import pyrnn.torch as pt
    torch.manual_seed(0)
    ref = getattr(torch.nn, name)(12, 21, num_layers=2, bidirectional=True, **kw)
    mod = getattr(pt, name)(12, 21, num_layers=2, bidirectional=True, **kw)
    mod.load_state_dict(ref.state_dict())
    ref, mod = ref.to(torch.bfloat16).eval(), mod.to(torch.bfloat16).eval()
    x = torch.randn(14, 3, 12).bfloat16()
    with torch.no_grad():
        y_ref, _ = ref(x)
        y, _ = mod(x)
    assert y.dtype == torch.bfloat16 and y.shape == y_ref.shape
    # each is within the tolerance of the exact result on these bf16 values (torch also rounds its
    # gates to bf16), so of each other within twice it
    assert_close_bf16(y.float().numpy(), y_ref.float().numpy().astype(np.float64), 2 * 2)


def test_pyrnn_torch_bf16_forward_works_with_grad_enabled_and_backward_says_why_not():
    torch = pytest.importorskip("torch")
    import pyrnn.torch as pt
    mod = pt.GRU(5, 6).to(torch.bfloat16).eval()
    y, _ = mod(torch.randn(3, 2, 5).bfloat16())
    with pytest.raises(RuntimeError, match="bfloat16 runs inference only"):
        y.float().sum().backward()


def test_c_api_refuses_a_bf16_training_forward():
    from pyrnn.backends.c.backend import load_extension
    module = load_extension()
    ffi, lib = module.ffi, module.lib
    u16 = np.zeros(64, np.uint16)
    f32 = np.zeros(lib.pyrnn_work_size_bf16(lib.PYRNN_RNN_TANH, 1, 1, 1, 1, 1) + 8, np.float32)
    u, f = ffi.from_buffer("uint16_t[]", u16), ffi.from_buffer("float[]", f32)
    args = [lib.PYRNN_RNN_TANH, 1, 1, 1, 1, 1, u, u, u, ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL, 0]
    assert lib.pyrnn_forward_bf16(*args, 1, f, ffi.NULL, u, f) == lib.PYRNN_EINVAL
    assert lib.pyrnn_forward_bf16(*args, 0, f, ffi.NULL, u, f) == lib.PYRNN_OK


def test_peak_rates_are_measured_for_the_units_the_cpu_has():
    c = get_backend("c")
    rates = {unit: c.peak_gflops(unit) for unit in c.PEAK_UNITS}
    try:
        has_amx = c.set_bf16_path("amx") == "amx"
        has_dot = c.set_bf16_path("small-batch") == "small-batch"
    finally:
        c.set_bf16_path("best")
    assert (rates["amx"] > 0) == has_amx and (rates["avx512-bf16"] > 0) == has_dot, rates
    if has_amx:   # a tile multiply-add does 16 x 16 x 32 where VDPBF16PS does 16 x 2
        assert rates["amx"] > rates["avx512-bf16"], rates
    with pytest.raises(ValueError, match="unit must be one of"):
        c.peak_gflops("fp16")
