"""The backend registry: names, "auto", unknown and unavailable backends, probes, priorities.

Fake backends are registered through fixtures that always unregister them
again, so no test leaves anything behind in the (process-wide) registry.
"""
import numpy as np
import pytest

import pyrnn
import pyrnn.backends as backends
from pyrnn.backends.numpy_ref import NumpyBackend

from shared import CELLS, LAYERS, assert_close

ALL_CLASSES = {**{f"layer-{k}": v for k, v in LAYERS.items()}, **{f"cell-{k}": v for k, v in CELLS.items()}}
I, H, T, B = 3, 4, 5, 2


@pytest.fixture(params=sorted(ALL_CLASSES))
def cls(request):
    return ALL_CLASSES[request.param]


def run_once(module, seed=0):
    """Forward + backward with fixed data; returns the outputs, dx and the gradients."""
    rng = np.random.default_rng(seed)
    is_cell = isinstance(module, tuple(CELLS.values()))
    x = rng.standard_normal((B, I) if is_cell else (T, B, I))
    out = module(x)
    if is_cell:
        flat = list(out) if isinstance(out, tuple) else [out]
        grad = tuple(np.ones_like(o) for o in flat) if isinstance(out, tuple) else np.ones_like(out)
        dx, _ = module.backward(grad)
    else:
        y, states = out
        flat = [y, *(states if isinstance(states, tuple) else (states,))]
        dx, _ = module.backward(np.ones_like(y))
    return flat + [dx] + [module.grads[k] for k in sorted(module.grads)]


@pytest.fixture
def register_fake():
    """register_fake(name, probe, load, priority) registers a backend for this test only."""
    added = []

    def add(name, probe, load, priority=0):
        backends.register(name, probe=probe, load=load, priority=priority)
        added.append(name)

    yield add
    for name in added:
        backends.unregister(name)
    assert not set(added) & set(pyrnn.backend_status()), "a fake backend outlived its test"


@pytest.fixture
def fakegpu(register_fake):
    """A known backend that cannot run here; priority above numpy so "auto" must skip it."""
    calls = {"probe": 0, "load": 0}

    def probe():
        calls["probe"] += 1
        return "no GPU device found"

    def load():
        calls["load"] += 1
        raise AssertionError("load() must never be called for an unavailable backend")

    register_fake("fakegpu", probe=probe, load=load, priority=10**6)
    return calls


class FakeBackend(NumpyBackend):
    """The NumPy reference under another name, counting its kernel calls."""

    name = "fake"

    def __init__(self):
        self.forward_calls = 0
        self.backward_calls = 0

    def forward(self, *args, **kwargs):
        self.forward_calls += 1
        return super().forward(*args, **kwargs)

    def backward(self, *args, **kwargs):
        self.backward_calls += 1
        return super().backward(*args, **kwargs)


@pytest.fixture
def fake(register_fake):
    """An available backend with a higher priority than numpy; records how often it is loaded."""
    loaded = []

    def load():
        loaded.append(FakeBackend())
        return loaded[-1]

    register_fake("fake", probe=lambda: None, load=load, priority=10**6)
    return loaded


# ====================================================================================
# What is there
# ====================================================================================
def test_available_backends_contains_numpy():
    names = pyrnn.available_backends()
    assert isinstance(names, list) and names
    assert "numpy" in names
    assert all(isinstance(n, str) and n for n in names)
    assert len(set(names)) == len(names)
    assert "auto" not in names


def test_backend_status_agrees_with_available_backends():
    status = pyrnn.backend_status()
    assert status["numpy"] is None
    assert [n for n, reason in status.items() if reason is None] == pyrnn.available_backends()
    for name, reason in status.items():
        assert reason is None or (isinstance(reason, str) and reason.strip()), (name, reason)


@pytest.mark.parametrize("name", pyrnn.available_backends())
def test_every_available_backend_is_usable(cls, name):
    module = cls(I, H, backend=name, dtype=np.float64, seed=0)
    assert module.backend == name
    reference = cls(I, H, backend="numpy", dtype=np.float64, seed=0)
    for got, want in zip(run_once(module), run_once(reference)):
        assert np.all(np.isfinite(got))
        assert_close(got, want, np.float64, what=f"backend {name!r} vs numpy")


def test_get_backend_returns_one_cached_instance():
    a, b = backends.get_backend("numpy"), backends.get_backend("numpy")
    assert a is b and a.name == "numpy"
    assert isinstance(a, backends.Backend)


# ====================================================================================
# backend= on layers and cells
# ====================================================================================
def test_backend_numpy_and_auto(cls):
    numpy_module = cls(I, H, backend="numpy", seed=0)
    assert numpy_module.backend == "numpy"
    assert "backend='numpy'" in repr(numpy_module)
    best = pyrnn.available_backends()[0]
    assert cls(I, H, backend="auto", seed=0).backend == best
    assert cls(I, H, seed=0).backend == best  # "auto" is the default


@pytest.mark.parametrize("name", ["nope", "cudnn", "", "numpy "])
def test_unknown_backend_is_value_error_listing_available(cls, name):
    with pytest.raises(ValueError) as info:
        cls(I, H, backend=name)
    assert type(info.value) is ValueError  # not BackendUnavailableError: the name is simply unknown
    message = str(info.value)
    assert repr(name) in message and "backend" in message
    for available in pyrnn.available_backends():
        assert repr(available) in message
    assert "'auto'" in message


def test_known_backend_that_cannot_run_here_says_why(cls):
    reason = pyrnn.backend_status()["cuda"]
    if reason is None:
        pytest.skip("the cuda backend runs on this machine")
    with pytest.raises(pyrnn.BackendUnavailableError, match="backend 'cuda' is not available") as info:
        cls(I, H, backend="cuda")
    assert reason in str(info.value)


@pytest.mark.parametrize("name", [None, 0, ["numpy"], b"numpy", NumpyBackend],
                         ids=["None", "int", "list", "bytes", "class"])
def test_non_string_backend_is_type_error(cls, name):
    with pytest.raises(TypeError, match="backend") as info:
        cls(I, H, backend=name)
    assert type(info.value) is TypeError
    assert "'numpy'" in str(info.value) and "'auto'" in str(info.value)


# ====================================================================================
# Known but unavailable backends
# ====================================================================================
def test_unavailable_backend_raises_with_reason(cls, fakegpu):
    with pytest.raises(pyrnn.BackendUnavailableError) as info:
        cls(I, H, backend="fakegpu")
    err = info.value
    assert type(err) is pyrnn.BackendUnavailableError
    assert isinstance(err, RuntimeError) and not isinstance(err, ValueError)
    assert "no GPU device found" in str(err) and "'fakegpu'" in str(err)
    assert fakegpu["load"] == 0


def test_unavailable_backend_in_status_not_in_available(fakegpu):
    status = pyrnn.backend_status()
    assert status["fakegpu"] == "no GPU device found"
    assert "fakegpu" not in pyrnn.available_backends()
    assert status["numpy"] is None


def test_auto_skips_unavailable_backend_with_higher_priority(cls, fakegpu):
    module = cls(I, H, backend="auto", seed=0)
    assert module.backend == pyrnn.available_backends()[0] != "fakegpu"
    assert all(np.all(np.isfinite(a)) for a in run_once(module))
    assert fakegpu["load"] == 0


def test_probe_result_is_cached(fakegpu):
    for _ in range(3):
        pyrnn.backend_status()
        pyrnn.available_backends()
        with pytest.raises(pyrnn.BackendUnavailableError):
            pyrnn.GRU(I, H, backend="fakegpu")
    assert fakegpu["probe"] == 1


def test_unknown_name_lists_only_usable_backends(fakegpu):
    with pytest.raises(ValueError) as info:
        pyrnn.LSTM(I, H, backend="nope")
    assert "'numpy'" in str(info.value)
    assert "fakegpu" not in str(info.value)  # listed backends are ones that would actually work


@pytest.mark.parametrize("exc", [ImportError("libcudart.so.12: cannot open shared object file"),
                                 OSError("driver version mismatch"), ZeroDivisionError("boom")],
                         ids=["ImportError", "OSError", "ZeroDivisionError"])
def test_probe_that_raises_makes_backend_unavailable(register_fake, exc):
    def probe():
        raise exc

    def load():
        raise AssertionError("load() must never be called for an unavailable backend")

    register_fake("brokenprobe", probe=probe, load=load, priority=10**6)
    reason = pyrnn.backend_status()["brokenprobe"]  # does not raise
    assert reason.startswith("probe failed")
    assert type(exc).__name__ in reason and str(exc) in reason
    assert "brokenprobe" not in pyrnn.available_backends()
    assert pyrnn.RNN(I, H, seed=0).backend == pyrnn.available_backends()[0] != "brokenprobe"
    with pytest.raises(pyrnn.BackendUnavailableError, match="probe failed") as info:
        pyrnn.RNN(I, H, backend="brokenprobe")
    assert str(exc) in str(info.value)


def test_nothing_available_auto_says_why(monkeypatch):
    pyrnn.available_backends()  # make sure the built-in backends are discovered first
    monkeypatch.setattr(backends, "_registry", {})
    backends.register("fakegpu", probe=lambda: "no GPU device found", load=lambda: None)
    assert pyrnn.available_backends() == []
    with pytest.raises(pyrnn.BackendUnavailableError) as info:
        pyrnn.GRU(I, H)
    assert "no GPU device found" in str(info.value) and "fakegpu" in str(info.value)


# ====================================================================================
# Priorities: "auto" picks the best available backend
# ====================================================================================
def test_auto_prefers_higher_priority_available_backend(cls, fake):
    assert pyrnn.available_backends()[0] == "fake"
    assert pyrnn.backend_status()["fake"] is None
    module = cls(I, H, backend="auto", dtype=np.float64, seed=0)
    assert module.backend == "fake"
    assert "backend='fake'" in repr(module)
    results = run_once(module)
    backend = fake[-1]
    assert backend.forward_calls >= 1 and backend.backward_calls >= 1  # really ran on it
    for got, want in zip(results, run_once(cls(I, H, backend="numpy", dtype=np.float64, seed=0))):
        np.testing.assert_array_equal(got, want)
    # named explicitly, numpy is still used even though "fake" ranks higher
    assert cls(I, H, backend="numpy").backend == "numpy"


def test_backend_loaded_once_and_shared(fake):
    a = pyrnn.LSTM(I, H, seed=0)
    b = pyrnn.GRUCell(I, H, backend="fake", seed=1)
    assert a.backend == b.backend == "fake"
    assert len(fake) == 1


def test_lower_priority_backend_is_not_auto(register_fake):
    register_fake("slowfake", probe=lambda: None, load=FakeBackend, priority=-10**6)
    names = pyrnn.available_backends()
    assert names.index("numpy") < names.index("slowfake")
    assert pyrnn.RNN(I, H).backend == names[0] != "slowfake"


def test_unregister_restores_auto(fake):
    assert pyrnn.GRU(I, H).backend == "fake"
    best_without_fake = [n for n in pyrnn.available_backends() if n != "fake"][0]
    backends.unregister("fake")
    assert "fake" not in pyrnn.backend_status()
    assert pyrnn.GRU(I, H).backend == best_without_fake
    with pytest.raises(ValueError):
        pyrnn.GRU(I, H, backend="fake")
    backends.unregister("fake")  # unregistering an unknown name is a no-op


def test_register_replaces_existing_entry(register_fake):
    class Flaky(FakeBackend):
        name = "flaky"

    register_fake("flaky", probe=lambda: "not yet", load=Flaky)
    with pytest.raises(pyrnn.BackendUnavailableError, match="not yet"):
        pyrnn.RNN(I, H, backend="flaky")
    register_fake("flaky", probe=lambda: None, load=Flaky)  # a fresh entry: probed again
    assert pyrnn.backend_status()["flaky"] is None
    assert pyrnn.RNN(I, H, backend="flaky").backend == "flaky"


# ====================================================================================
# register() argument checks
# ====================================================================================
@pytest.mark.parametrize("name", ["auto", "", None, 3])
def test_register_rejects_reserved_or_bad_names(name):
    before = pyrnn.backend_status()
    with pytest.raises(ValueError, match="auto") as info:
        backends.register(name, probe=lambda: None, load=FakeBackend)
    assert type(info.value) is ValueError
    assert pyrnn.backend_status() == before
    # "auto" still means the best available backend, not a registered one
    assert pyrnn.RNN(I, H).backend == pyrnn.available_backends()[0]


def test_backend_unavailable_error_is_one_class():
    assert pyrnn.BackendUnavailableError is backends.BackendUnavailableError
    assert issubclass(pyrnn.BackendUnavailableError, RuntimeError)
    assert not issubclass(pyrnn.BackendUnavailableError, pyrnn.InputError)
