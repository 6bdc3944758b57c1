"""Arrays in and out: every public entry point takes NumPy arrays, __dlpack__ objects (torch, JAX),
__array_interface__ objects and nested lists; device memory is refused by name; results are NumPy."""
import numpy as np
import pytest

import pyrnn
from pyrnn._checks import to_numpy
from pyrnn.errors import InputError
from pyrnn.train import Adam, Embedding, Linear, collect_parameters, softmax_cross_entropy

torch = pytest.importorskip("torch")


class DLPackOnly:
    """An array exposing nothing but the DLPack protocol (as a third-party library might)."""

    def __init__(self, array, device=(1, 0)):
        self._array, self._device = array, device

    def __dlpack__(self, **kwargs):
        return self._array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._device


class ArrayInterfaceOnly:
    """An array exposing nothing but NumPy's __array_interface__ (buffer protocol producers, PIL...)."""

    def __init__(self, array):
        self._array = array
        self.__array_interface__ = array.__array_interface__


class CudaArrayInterface:
    """Stands in for a CuPy / Numba device array on a machine without a GPU."""

    __cuda_array_interface__ = {"shape": (5, 2, 3), "typestr": "<f4", "data": (0, False), "version": 3}


def reference_run(x, h0):
    layer = pyrnn.GRU(3, 4, seed=0).eval()
    return layer(x, h0)


def test_layer_accepts_every_array_kind_and_returns_numpy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    h0 = rng.standard_normal((1, 2, 4)).astype(np.float32)
    y_ref, h_ref = reference_run(x, h0)
    kinds = {"torch": (torch.from_numpy(x), torch.from_numpy(h0)),
             "torch requiring grad": (torch.from_numpy(x).requires_grad_(True), torch.from_numpy(h0)),
             "dlpack only": (DLPackOnly(x), DLPackOnly(h0)),
             "array interface only": (ArrayInterfaceOnly(x), ArrayInterfaceOnly(h0)),
             "nested lists": (x.tolist(), h0.tolist())}
    try:
        import jax.numpy as jnp
        kinds["jax"] = (jnp.asarray(x), jnp.asarray(h0))
    except ImportError:
        pass
    for kind, (xi, hi) in kinds.items():
        y, h = reference_run(xi, hi)
        assert type(y) is np.ndarray and type(h) is np.ndarray, kind
        np.testing.assert_array_equal(y, y_ref, err_msg=kind)
        np.testing.assert_array_equal(h, h_ref, err_msg=kind)


def test_dlpack_inputs_are_read_without_a_copy():
    t = torch.randn(5, 2, 3)
    assert np.shares_memory(to_numpy(t, "x"), t.numpy())
    grad_t = torch.randn(4, requires_grad=True)
    assert np.shares_memory(to_numpy(grad_t, "x"), grad_t.detach().numpy())
    transposed = t.transpose(0, 2)                  # strided: still a view, strides kept
    view = to_numpy(transposed, "x")
    assert np.shares_memory(view, t.numpy()) and view.shape == (3, 2, 5)
    np.testing.assert_array_equal(view, transposed.numpy())


def test_non_contiguous_and_negative_stride_inputs_give_the_contiguous_result():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    h0 = np.zeros((1, 2, 4), np.float32)
    y_ref, _ = reference_run(x, h0)
    for variant in (x[::-1][::-1], np.asfortranarray(x), torch.from_numpy(x.transpose(2, 1, 0).copy()).permute(2, 1, 0)):
        np.testing.assert_array_equal(reference_run(variant, h0)[0], y_ref)
    flipped = x[::-1]                               # negative stride along time
    np.testing.assert_array_equal(reference_run(flipped, h0)[0], reference_run(flipped.copy(), h0)[0])


def test_training_keeps_its_own_copy_of_a_dlpack_input():
    """Backward must not see a caller's buffer that was refilled after forward (zero-copy in, private when saved)."""
    layer = pyrnn.LSTM(3, 4, seed=0)
    t = torch.randn(5, 2, 3)
    expected_x = t.clone()
    y, _ = layer(t)
    t.fill_(100.0)                                  # the caller reuses its buffer
    dx, _ = layer.backward(np.ones_like(y))
    layer2 = pyrnn.LSTM(3, 4, seed=0)
    y2, _ = layer2(expected_x.numpy())
    dx2, _ = layer2.backward(np.ones_like(y2))
    np.testing.assert_array_equal(dx, dx2)
    for name in layer.grads:
        np.testing.assert_array_equal(layer.grads[name], layer2.grads[name])


def test_other_entry_points_take_tensors():
    layer = pyrnn.LSTM(3, 4, seed=0)
    reference = torch.nn.LSTM(3, 4)
    layer.load_state_dict(reference.state_dict())        # a torch.nn state_dict, tensors as they are
    for name, p in reference.named_parameters():
        np.testing.assert_array_equal(layer.state_dict()[name], p.detach().numpy())
    y, _ = layer(torch.randn(5, 2, 3), lengths=torch.tensor([5, 3]))
    dx, _ = layer.backward(torch.ones(y.shape))
    assert type(dx) is np.ndarray
    cell = pyrnn.GRUCell(3, 4, seed=0)
    h = cell(torch.randn(2, 3), torch.zeros(2, 4))
    assert type(h) is np.ndarray
    emb = Embedding(10, 3, seed=0)
    np.testing.assert_array_equal(emb.forward(torch.tensor([1, 2])), emb.weight[[1, 2]])
    lin = Linear(3, 2, seed=0)
    assert type(lin.forward(torch.randn(4, 3))) is np.ndarray
    loss, dlogits = softmax_cross_entropy(torch.randn(4, 5), torch.tensor([0, 1, 2, 3]))
    assert isinstance(loss, float) and type(dlogits) is np.ndarray
    opt = Adam(collect_parameters({"lin": lin}))
    state = {k: torch.from_numpy(v).requires_grad_(v.dtype.kind == "f") for k, v in opt.state_dict().items()}
    opt.load_state_dict(state)


def test_device_memory_is_refused_with_the_argument_named():
    layer = pyrnn.RNN(3, 4, seed=0)
    with pytest.raises(InputError, match=r"x lives on a CUDA GPU \(__cuda_array_interface__\).*host memory"):
        layer(CudaArrayInterface())
    on_gpu = DLPackOnly(np.zeros((5, 2, 3), np.float32), device=(2, 0))
    with pytest.raises(InputError, match=r"h0 lives on a CUDA GPU \(device 0\)"):
        layer(np.zeros((5, 2, 3), np.float32), on_gpu)
    with pytest.raises(InputError, match="lengths lives on a ROCm GPU"):
        layer(np.zeros((5, 2, 3), np.float32), lengths=DLPackOnly(np.array([5, 5]), device=(10, 1)))


def test_unsupported_dtypes_are_named():
    layer = pyrnn.RNN(3, 4, seed=0)
    with pytest.raises(TypeError, match="x must be an array-like of numbers.*BFloat16"):
        layer(torch.zeros(5, 2, 3, dtype=torch.bfloat16))
    with pytest.raises(TypeError, match="x must hold floating-point numbers"):
        layer(torch.zeros(5, 2, 3, dtype=torch.int64))
