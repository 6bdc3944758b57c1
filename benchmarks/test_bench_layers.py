"""pytest-benchmark suite: backends x cells x configs, forward and forward + backward.

    python -m pytest benchmarks/ --benchmark-group-by=param:config,param:mode,param:pas

Not part of the test run (testpaths = tests). Each benchmark is checked
before it is timed: the backend's output must match the NumPy reference on
the same weights and input (float32 tolerance). torch.nn appears as the
"torch" backend when installed, as the peer to compare against. The "numpy"
reference is only timed on the small config (it is the specification, not a
contender).
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
    reference = make_pyrnn(mode, I, H, "numpy")
    y_ref, _ = reference(x)
    if backend == "torch":
        import torch
        torch.set_num_threads(2)
        run = torch_step(mode, I, H, x, dy, backward, reference.state_dict())
    else:
        layer = make_pyrnn(mode, I, H, backend)
        layer.load_state_dict(reference.state_dict())
        y, _ = layer(x)                                      # checked before timed
        np.testing.assert_allclose(y, y_ref, rtol=1e-4, atol=1e-4)
        run = pyrnn_step(layer, x, dy, backward)
    benchmark.extra_info.update(T=T, B=B, I=I, H=H)
    benchmark.pedantic(run, rounds=5 if config == "large" else 20, warmup_rounds=1)
