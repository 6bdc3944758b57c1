"""What is specific to the "numba" backend: its activations, its cache, its registration.

Parity of its layers and cells with the reference and torch.nn runs in the
shared suites (every test taking the ``backend`` fixture).
"""
import subprocess
import sys

import numpy as np
import pytest

import pyrnn

pytest.importorskip("numba")
from numba import njit  # noqa: E402

from pyrnn.backends.numba.kernels.activations import sigmoid, tanh  # noqa: E402


@njit(error_model="numpy")
def _apply(x, t_out, s_out):
    for i in range(x.shape[0]):
        t_out[i] = tanh(x[i])
        s_out[i] = sigmoid(x[i])


def _grid(dtype):
    rng = np.random.default_rng(0)
    return np.concatenate([
        rng.standard_normal(200_000) * 8, np.linspace(-100, 100, 200_001), np.linspace(-1e-3, 1e-3, 2001),
        [0.0, -0.0, 1e-30, -1e-30, 20.0, -20.0, 88.0, -88.0, 710.0, -710.0, 1000.0, -1000.0, 1e30, -1e30],
    ]).astype(dtype)


# Bounds measured for these polynomials (float64: ~3e-16; float32: ~1.5e-7), with a small margin.
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-15), (np.float32, 4e-7)])
def test_vectorizable_activations_match_numpy(dtype, tol):
    x = _grid(dtype)
    t, s = np.empty_like(x), np.empty_like(x)
    _apply(x, t, s)
    assert t.dtype == s.dtype == np.dtype(dtype)
    x64 = x.astype(np.float64)
    with np.errstate(over="ignore"):
        s_ref = np.where(x64 >= 0, 1 / (1 + np.exp(-np.abs(x64))), np.exp(-np.abs(x64)) / (1 + np.exp(-np.abs(x64))))
    assert np.max(np.abs(t - np.tanh(x64))) < tol
    assert np.max(np.abs(s - s_ref)) < tol
    assert np.all(np.abs(t) <= 1) and np.all((s >= 0) & (s <= 1))
    # odd symmetry and exact saturation
    assert np.array_equal(t[x == 1000], np.ones(1, dtype)) and np.array_equal(t[x == -1000], -np.ones(1, dtype))
    assert s[x == 1000][0] == 1 and s[x == -1000][0] < 1e-30


@pytest.mark.parametrize("dtype, low, tol", [(np.float64, -700.0, 1e-14), (np.float32, -85.0, 2e-6)])
def test_sigmoid_keeps_relative_accuracy_in_the_far_negative_tail(dtype, low, tol):
    """sigmoid(a) ~ exp(a) for a << 0: built from exp, not expm1 + 1 (which keeps only absolute accuracy)."""
    x = np.linspace(low, -10.0, 20_001).astype(dtype)
    t, s = np.empty_like(x), np.empty_like(x)
    _apply(x, t, s)
    x64 = x.astype(np.float64)
    exact = np.exp(x64) / (1 + np.exp(x64))
    assert np.max(np.abs(s / exact - 1)) < tol


def test_numba_is_the_auto_choice_after_c():
    """Priority order c > numba > numpy: numba leads wherever the C extension is absent."""
    order = pyrnn.available_backends()
    assert order.index("numba") == (1 if "c" in order else 0)
    assert pyrnn.LSTM(2, 3).backend == order[0]


def test_compiled_kernels_are_cached_for_the_next_process():
    """cache=True: a fresh process loads the kernels from disk instead of recompiling."""
    code = ("import numpy as np, pyrnn; from pyrnn.backends.numba.kernels import loop\n"
            "for dtype in (np.float32, np.float64):\n"
            "    for cls in (pyrnn.GRU, pyrnn.LSTM):\n"
            "        l = cls(3, 4, backend='numba', dtype=dtype); y, _ = l(np.ones((2, 1, 3))); l.backward(y)\n"
            "kernels = (loop.forward, loop.backward)\n"
            "print(sum(len(k.stats.cache_hits) for k in kernels), sum(len(k.stats.cache_misses) for k in kernels))")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=600)  # fills the cache
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=600)
    hits, misses = map(int, out.stdout.split())
    # One loop for every cell: forward and backward x 2 dtypes (GRU and LSTM share them), all from disk.
    assert hits == 4 and misses == 0, out.stdout
