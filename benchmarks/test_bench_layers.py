"""pytest-benchmark suite: backends x cells x configs, forward and forward + backward.

    python -m pytest benchmarks/ --benchmark-group-by=param:config,param:mode,param:pas

Not part of the test run (testpaths = tests). Each benchmark is checked
before it is timed: the backend's output must match the NumPy reference on
the same weights and input (float32 tolerance). torch.nn appears as the
"torch" backend when installed, as the peer to compare against. The "numpy"
reference is only timed on the small config (it is the specification, not a
contender), but computes the expected forward and gradients for every config.
"""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from configs import CONFIGS  # noqa: E402
from harness import make_pyrnn, pyrnn_step, torch_step  # noqa: E402

import pyrnn  # noqa: E402

pytest.importorskip("pytest_benchmark")

BACKENDS = pyrnn.available_backends() + (["torch"] if __import__("importlib").util.find_spec("torch") else [])
MODES = ["lstm", "gru", "rnn_tanh"]


def _inputs(cfg):
    T, B, I, H = CONFIGS[cfg]
    rng = np.random.default_rng(0)
    return rng.standard_normal((T, B, I), dtype=np.float32), rng.standard_normal((T, B, H), dtype=np.float32)


_reference_cache = {}


def _reference(config, mode):
    """The NumPy reference's layer, y, dx and weight gradients for one config (computed once)."""
    key = (config, mode)
    if key not in _reference_cache:
        T, B, I, H = CONFIGS[config]
        x, dy = _inputs(config)
        layer = make_pyrnn(mode, I, H, "numpy")
        y, _ = layer(x)
        dx, _ = layer.backward(dy)
        _reference_cache[key] = (layer, y, dx, {k: g.copy() for k, g in layer.grads.items()})
    return _reference_cache[key]


def _check_against_reference(layer, config, mode):
    """Forward and every gradient must match the reference before anything is timed."""
    reference, y_ref, dx_ref, grads_ref = _reference(config, mode)
    x, dy = _inputs(config)
    layer.load_state_dict(reference.state_dict())
    layer.train()
    layer.zero_grad()
    y, _ = layer(x)
    dx, _ = layer.backward(dy)
    np.testing.assert_allclose(y, y_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-4, atol=1e-4)
    for name, g in grads_ref.items():   # summed over T*B rows: relative to the gradient's scale
        np.testing.assert_allclose(layer.grads[name], g, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(g).max()))


@pytest.mark.parametrize("pas", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_layer(benchmark, backend, config, mode, pas):
    if backend == "numpy" and config != "small":
        pytest.skip("the NumPy reference is timed on the small config only")
    T, B, I, H = CONFIGS[config]
    x, dy = _inputs(config)
    backward = pas == "fwd+bwd"
    reference = _reference(config, mode)[0]
    if backend == "torch":
        import torch
        torch.set_num_threads(2)
        run = torch_step(mode, I, H, x, dy, backward, reference.state_dict())
    else:
        layer = make_pyrnn(mode, I, H, backend)
        _check_against_reference(layer, config, mode)        # checked before timed
        run = pyrnn_step(layer, x, dy, backward)
    benchmark.extra_info.update(T=T, B=B, I=I, H=H)
    benchmark.pedantic(run, rounds=5 if config == "large" else 20, warmup_rounds=1)
