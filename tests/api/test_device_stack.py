"""The one layer stack (pyrnn.stack) keeps a device backend's activations in its memory.

A fake device: arrays of its memory are a NumPy subclass, its array module
marks what it makes, and every kernel call asserts that x, the states and the
output gradients it receives are device arrays. A two-layer bidirectional LSTM
with lengths, forward and backward, must then move x, the states and dy to the
device once each, bring back only y, the final states, dx and the parameter
gradients, and give exactly the numpy backend's numbers.
"""
import numpy as np
import pytest

import pyrnn
from pyrnn.backends import register, unregister
from pyrnn.backends.numpy_ref import NumpyBackend


class DeviceArray(np.ndarray):
    """An array in the fake device's memory."""


def _on_device(array):
    return np.asarray(array).view(DeviceArray)


class FakeDeviceOps:
    """The fake device's array module: what pyrnn.stack calls, returning device arrays."""

    concatenate = staticmethod(lambda arrays, axis: _on_device(np.concatenate(arrays, axis=axis)))
    stack = staticmethod(lambda arrays: _on_device(np.stack(arrays)))
    ascontiguousarray = staticmethod(lambda array: _on_device(np.ascontiguousarray(array)))


def _require_device(what, *arrays):
    for a in arrays:
        assert isinstance(a, DeviceArray), f"{what} reached the kernels from host memory"


class FakeDeviceBackend(NumpyBackend):
    """The numpy backend's numbers, computed on 'device' arrays only."""

    name = "fake_device"
    xp = FakeDeviceOps

    def __init__(self):
        self.to_host_shapes = []
        self.to_device_count = 0

    def to_device(self, array):
        self.to_device_count += 1
        return None if array is None else _on_device(np.array(array))

    def to_host(self, array):
        if array is None:
            return None
        self.to_host_shapes.append(tuple(array.shape))
        return np.array(array).view(np.ndarray)

    def _forward(self, mode, x, state, weights, lengths, reverse, training):
        _require_device("x", x)
        _require_device("a state", *state)
        y, state_n, saved = super()._forward(mode, np.asarray(x), tuple(np.asarray(s) for s in state),
                                             weights, lengths, reverse, training)
        return _on_device(y), tuple(_on_device(s) for s in state_n), saved

    def _backward(self, mode, saved, dy, dstate_n):
        _require_device("dy", dy)
        _require_device("a state gradient", *dstate_n)
        dx, dstate0, dweights = super()._backward(mode, saved, np.asarray(dy), tuple(np.asarray(d) for d in dstate_n))
        return (_on_device(dx), tuple(_on_device(d) for d in dstate0),
                tuple(None if d is None else _on_device(d) for d in dweights))


@pytest.fixture
def fake_device():
    register("fake_device", probe=lambda: None, load=FakeDeviceBackend, priority=-5, auto="a test double of a device backend")
    try:
        yield
    finally:
        unregister("fake_device")


@pytest.mark.filterwarnings("ignore:pyrnn backend .fake_device.")
def test_activations_stay_on_the_device_from_layer_to_layer(fake_device):
    T, B, I, H, L = 6, 3, 4, 5, 2
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I))
    lengths = np.array([6, 2, 4])
    dy = rng.standard_normal((T, B, 2 * H))
    dh = rng.standard_normal((2 * L, B, H))
    results = {}
    for name in ("numpy", "fake_device"):
        layer = pyrnn.LSTM(I, H, num_layers=L, bidirectional=True, backend=name, dtype=np.float64, seed=1)
        device = layer._backend
        y, (h_n, c_n) = layer.forward(x, lengths=lengths)
        if name == "fake_device":
            # In: x, h0, c0. Out: y and the two final states, nothing in between.
            assert device.to_device_count == 3
            assert device.to_host_shapes == [(L * 2, B, H), (L * 2, B, H), (T, B, 2 * H)]
            device.to_host_shapes.clear()
        dx, (dh0, dc0) = layer.backward(dy, (dh, None))
        if name == "fake_device":
            assert device.to_device_count == 6                 # + dy, dh_n, dc_n
            activations = [s for s in device.to_host_shapes if len(s) == 3 and s[0] in (T, 2 * L)]
            assert activations == [(2 * L, B, H), (2 * L, B, H), (T, B, I)]   # dh0, dc0, dx
        results[name] = [y, h_n, c_n, dx, dh0, dc0] + [layer.grads[k] for k in sorted(layer.grads)]
        assert all(type(r) is np.ndarray for r in results[name])
    for a, b in zip(results["numpy"], results["fake_device"]):
        np.testing.assert_array_equal(a, b)
