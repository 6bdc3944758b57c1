"""Backend "cuda" on a real device (marker ``gpu``; skipped without CuPy and a CUDA device).

Where a device is present, "cuda" is also among ``pyrnn.available_backends()``,
so every test taking the ``backend`` fixture (torch.nn parity, gradcheck,
lengths, bidirectional, cells, the backend contract...) runs on it as well;
this file adds what is specific to the device: backend-level parity with the
reference on NumPy and on CuPy arrays, multi-block and grid-stride launches,
and torch.nn with cuDNN on the same GPU as an outside oracle.

STATUS: written without access to a GPU; not yet run (docs/cuda-backend.md).
"""
import itertools

import numpy as np
import pytest

from pyrnn.backends import backend_status, get_backend
from pyrnn.backends.cuda.steps import CUDA_CELLS
from pyrnn.cell_specs import CELLS

from shared import assert_close

_REASON = backend_status().get("cuda", "backend 'cuda' is not registered")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(_REASON is not None, reason=f"needs a CUDA device: {_REASON}")]

MODES = list(CUDA_CELLS)


def _case(mode, T, B, I, H, dtype, seed=0, with_lengths=False, bias=True):
    rng = np.random.default_rng(seed)
    spec = CELLS[mode]
    P = H // 2 + 1 if spec.projected else None     # the LSTM with projections: h and y of width P
    x = rng.standard_normal((T, B, I)).astype(dtype)
    w = [None if p.bias and not bias else rng.uniform(-0.5, 0.5, p.shape(I, H, P)).astype(dtype)
         for p in spec.params]      # in the order of the backend call
    state = tuple(rng.standard_normal(shape).astype(dtype) for shape in spec.state_shapes(B, H, P))
    lengths = None
    if with_lengths:
        lengths = rng.integers(1, T + 1, B).astype(np.int64)
        lengths[0] = T
        x[np.arange(T)[:, None] >= lengths[None, :]] = 0       # the layers zero the padding
    dy = rng.standard_normal((T, B, spec.output_size(H, P))).astype(dtype)
    if with_lengths:
        dy[np.arange(T)[:, None] >= lengths[None, :]] = 0
    dstate = tuple(rng.standard_normal(s.shape).astype(dtype) for s in state)
    return x, state, tuple(w), lengths, dy, dstate


def _both(impl, mode, case, reverse):
    x, state, w, lengths, dy, dstate = case
    y, state_n, saved = impl.forward(mode, x, state, w, lengths, reverse, True)
    dx, dstate0, dweights = impl.backward(mode, saved, dy, dstate)
    return [y, *state_n, dx, *dstate0, *dweights]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("reverse, with_lengths, bias",
                         list(itertools.product([False, True], [False, True], [True, False])))
@pytest.mark.parametrize("mode", MODES)
def test_backend_matches_reference(mode, reverse, with_lengths, bias, dtype):
    case = _case(mode, 7, 5, 3, 33, dtype, with_lengths=with_lengths, bias=bias)
    ours = _both(get_backend("cuda"), mode, case, reverse)
    ref = _both(get_backend("numpy"), mode, case, reverse)
    for k, (a, b) in enumerate(zip(ours, ref)):
        if b is None:
            assert a is None
            continue
        assert isinstance(a, np.ndarray), "NumPy in, NumPy out"
        assert_close(a, b, dtype, what=f"result {k}")


@pytest.mark.parametrize("mode", MODES)
def test_cupy_in_cupy_out(mode):
    import cupy
    case = _case(mode, 6, 4, 5, 17, np.float64, with_lengths=True)
    x, state, w, lengths, dy, dstate = case
    dev = lambda a: None if a is None else cupy.asarray(a)   # noqa: E731
    impl = get_backend("cuda")
    y, state_n, saved = impl.forward(mode, dev(x), tuple(map(dev, state)), tuple(map(dev, w)), dev(lengths),
                                     False, True)
    dx, dstate0, dweights = impl.backward(mode, saved, dev(dy), tuple(map(dev, dstate)))
    ours = [y, *state_n, dx, *dstate0, *dweights]
    assert all(isinstance(a, cupy.ndarray) for a in ours)
    ref = _both(get_backend("numpy"), mode, case, False)
    for a, b in zip(ours, ref):
        assert_close(cupy.asnumpy(a), b, np.float64)


@pytest.mark.parametrize("max_blocks", [1, 4096])
@pytest.mark.parametrize("mode", MODES)
def test_many_blocks_and_grid_stride(mode, max_blocks, monkeypatch):
    """B*H = 9 * 300 elements: 11 blocks of 256 threads, or ONE block striding over them."""
    from pyrnn.backends.cuda import backend as cuda
    monkeypatch.setattr(cuda, "MAX_BLOCKS", max_blocks)
    case = _case(mode, 5, 9, 4, 300, np.float64, with_lengths=True)
    ours = _both(get_backend("cuda"), mode, case, True)
    ref = _both(get_backend("numpy"), mode, case, True)
    for a, b in zip(ours, ref):
        assert_close(a, b, np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("kind, nonlinearity", [("rnn", "tanh"), ("rnn", "relu"), ("lstm", None), ("gru", None)])
def test_layer_matches_torch_cudnn_on_the_gpu(kind, nonlinearity, dtype):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip(f"torch {torch.__version__} has no CUDA device")
    import pyrnn
    cls = {"rnn": pyrnn.RNN, "lstm": pyrnn.LSTM, "gru": pyrnn.GRU}[kind]
    tcls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    kw = {"nonlinearity": nonlinearity} if kind == "rnn" else {}
    T, B, I, H, L = 9, 6, 7, 24, 2
    layer = cls(I, H, num_layers=L, bidirectional=True, backend="cuda", dtype=dtype, seed=0, **kw)
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    tlayer = tcls(I, H, num_layers=L, bidirectional=True, dtype=tdtype, **kw).cuda()
    tlayer.load_state_dict({k: torch.as_tensor(v).cuda() for k, v in layer.state_dict().items()})
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    dy = rng.standard_normal((T, B, 2 * H)).astype(dtype)
    y, _ = layer(x)
    dx = layer.backward(dy)[0]
    tx = torch.as_tensor(x).cuda().requires_grad_(True)
    ty, _ = tlayer(tx)
    ty.backward(torch.as_tensor(dy).cuda())
    assert_close(y, ty.detach().cpu().numpy(), dtype, "y")
    assert_close(dx, tx.grad.cpu().numpy(), dtype, "dx")
    for name, p in tlayer.named_parameters():
        assert_close(layer.grads[name], p.grad.cpu().numpy(), dtype, name)

