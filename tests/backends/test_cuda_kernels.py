"""The CUDA kernels (kernels/*.cu) without a GPU: nvcc compiles them; the host shim runs them.

* Every .cu compiles with nvcc for sm_80 and sm_90 with warnings as errors
  (skipped where nvcc is missing), and the module the cuda backend hands to
  NVRTC compiles as one translation unit.
* The host shim (kernels/host_shim.h) builds with g++ warnings as errors; each
  step kernel matches a direct NumPy formula at one step (f32 and f64, with
  padded rows and without lengths); the grid-stride partitioning gives
  bit-identical results for any simulated grid.
The whole layer contract on the host-shim kernels is covered by every test
taking the ``backend`` fixture (backend "cuda_host").
"""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from pyrnn.backends import backend_status
from pyrnn.backends.cuda.host import (KERNEL_FILES, SHIM_SOURCES, CudaHostBackend, HostKernels, kernels_dir,
                                     shim_kernels, write_manifest)
from pyrnn.backends.cuda.steps import CUDA_CELLS
from pyrnn.cell_specs import CELLS

from shared import ROOT, TOLERANCE

KERNELS = kernels_dir()
CU_FILES = sorted(f for f in os.listdir(KERNELS) if f.endswith(".cu"))
NVCC = shutil.which("nvcc")
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc (CUDA toolkit) is not installed: the CUDA "
                                "kernels are not compiled here")


def _shim_reason():
    """Why backend "cuda_host" (the host shim) cannot run here; None if it can."""
    return backend_status().get("cuda_host", "backend 'cuda_host' is not registered")


needs_shim = pytest.mark.skipif(_shim_reason() is not None, reason=f"host shim unavailable: {_shim_reason()}")
ARCHS = ("-gencode", "arch=compute_80,code=sm_80", "-gencode", "arch=compute_90,code=sm_90")
NVCC_FLAGS = ("-Werror", "all-warnings", "-std=c++17", f"-I{KERNELS}")


def test_every_cell_has_both_directions():
    for mode in CUDA_CELLS:
        kernel = CELLS[mode].kernel
        assert {f"{kernel}_forward.cu", f"{kernel}_backward.cu"} <= set(CU_FILES), mode
        assert f"{kernel}_forward.cu" in KERNEL_FILES and f"{kernel}_backward.cu" in KERNEL_FILES


def test_the_shim_manifest_lists_every_kernel_of_every_file():
    """Each `__global__` of a kernel file is found (once per precision), none is invented."""
    for name, kernels in shim_kernels(KERNELS):
        with open(os.path.join(KERNELS, name)) as f:
            defined = f.read().count("__global__")
        assert defined >= 1 and len(kernels) == 2 * defined, name
    names = [k for _, ks in shim_kernels(KERNELS) for k in ks]
    assert len(names) == len(set(names))
    assert "lstm_forward_step_f32" in names and "lnlstm_input_norm_backward_f64" in names


@needs_nvcc
@pytest.mark.parametrize("name", CU_FILES)
def test_nvcc_compiles_for_sm80_and_sm90_without_warnings(name, tmp_path):
    """Device code for both architectures (a fatbin), every warning an error."""
    out = tmp_path / (name + ".fatbin")
    result = subprocess.run([NVCC, "-fatbin", *ARCHS, *NVCC_FLAGS, "-o", str(out), os.path.join(KERNELS, name)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 0


@needs_nvcc
def test_nvcc_compiles_the_backend_module_as_one_unit(tmp_path):
    """What backend "cuda" gives NVRTC (every kernel file in one translation unit), compiled to
    an object with host stubs: no clashes between the files, no warnings."""
    from pyrnn.backends.cuda.backend import module_source
    src = tmp_path / "module.cu"
    src.write_text(module_source())
    result = subprocess.run([NVCC, "-c", *ARCHS, *NVCC_FLAGS, "-o", str(tmp_path / "module.o"), str(src)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@needs_shim
def test_host_shim_compiles_without_warnings(tmp_path):
    cxx = os.environ.get("CXX") or shutil.which("g++")
    write_manifest(str(tmp_path), KERNELS)
    result = subprocess.run([cxx, "-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", "-Werror",
                             f"-I{tmp_path}", f"-I{KERNELS}", os.path.join(KERNELS, "host_shim.cpp")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_missing_compiler_is_reported(monkeypatch):
    from pyrnn.backends.cuda import host as cuda_host
    monkeypatch.setenv("CXX", "/nonexistent/g++")
    assert "no C++ compiler" in cuda_host._probe()
    with pytest.raises(RuntimeError, match="needs a C..17 compiler"):
        cuda_host.build_shim()


def test_cuda_backend_says_why_it_is_unavailable():
    reason = backend_status()["cuda"]
    try:
        import cupy
        has_device = cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        has_device = False
    if has_device:
        assert reason is None
    else:
        assert reason is not None and ("cupy is not installed" in reason or "no CUDA device" in reason)


def test_gpu_benchmark_fails_clearly_without_a_gpu():
    if backend_status()["cuda"] is None:
        pytest.skip("a CUDA device is present: the benchmark would run")
    script = os.path.join(ROOT, "benchmarks",
                          "gpu_compare.py")
    result = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "needs a CUDA GPU" in result.stderr and backend_status()["cuda"] in result.stderr


# ---------------------------------------------------------------- one step vs NumPy

def _sig(a):
    return 1 / (1 + np.exp(-a))


def _step_data(rng, dtype):
    """r(*shape): standard normal samples in dtype."""
    def r(*shape):
        return rng.standard_normal(shape).astype(dtype)
    return r


@pytest.fixture(scope="module")
def kernels():
    if _shim_reason() is not None:
        pytest.skip(f"host shim unavailable: {_shim_reason()}")
    return HostKernels(grid=2, block=3)


CASES = [(np.float32, True), (np.float64, True), (np.float64, False)]   # (dtype, with lengths)


@pytest.mark.parametrize("dtype, with_lengths", CASES)
def test_lstm_steps_match_numpy(kernels, dtype, with_lengths):
    rng = np.random.default_rng(1)
    B, H, t = 4, 5, 2
    r = _step_data(rng, dtype)
    lengths = np.array([3, 2, 5, 1], dtype=np.int64) if with_lengths else None
    live = (np.arange(B) if lengths is None else np.flatnonzero(t < lengths))
    dead = np.setdiff1d(np.arange(B), live)
    sfx = "f32" if dtype == np.float32 else "f64"
    xw, hw, h_in, c_in = r(B, 4 * H), r(B, 4 * H), r(B, H), r(B, H)
    h_out, c_out, y = (np.full((B, H), np.nan, dtype) for _ in range(3))
    gates, tanh_c = np.full((B, 4 * H), np.nan, dtype), np.full((B, H), np.nan, dtype)
    kernels.launch(f"lstm_forward_step_{sfx}", B * H, B, H, t, lengths, xw, hw, h_in, c_in, h_out, c_out, y,
                   gates, tanh_c)
    a = (xw + hw).astype(np.float64)
    i, f, g, o = _sig(a[:, :H]), _sig(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), _sig(a[:, 3 * H:])
    c_new = f * c_in + i * g
    h_new = o * np.tanh(c_new)
    tol = TOLERANCE[np.dtype(dtype)]
    np.testing.assert_allclose(h_out[live], h_new[live], rtol=tol, atol=tol)
    np.testing.assert_allclose(y[live], h_new[live], rtol=tol, atol=tol)
    np.testing.assert_allclose(c_out[live], c_new[live], rtol=tol, atol=tol)
    np.testing.assert_allclose(gates[live], np.concatenate([i, f, g, o], 1)[live], rtol=tol, atol=tol)
    np.testing.assert_allclose(tanh_c[live], np.tanh(c_new)[live], rtol=tol, atol=tol)
    assert np.array_equal(h_out[dead], h_in[dead]) and np.array_equal(c_out[dead], c_in[dead])
    assert not y[dead].any() and not gates[dead].any()

    # backward of the same step: gd holds the gates on entry
    dy, dh_rec, dh_dir, dc, c_prev = r(B, H), r(B, H), r(B, H), r(B, H), c_in
    if lengths is not None:
        dy[dead] = np.nan                       # padding of dy is never read
    gd, dh_dir0, dc0 = gates.copy(), dh_dir.copy(), dc.copy()
    kernels.launch(f"lstm_backward_step_{sfx}", B * H, B, H, t, lengths, dy, dh_rec, dh_dir, dc, gd, c_prev,
                   tanh_c)
    i, f, g, o = (gates[:, k * H:(k + 1) * H].astype(np.float64) for k in range(4))
    tc = tanh_c.astype(np.float64)
    dh_t = dh_dir0 + dh_rec + dy
    dc_t = dc0 + dh_t * o * (1 - tc ** 2)
    expect = np.concatenate([dc_t * g * i * (1 - i), dc_t * c_prev * f * (1 - f), dc_t * i * (1 - g ** 2),
                             dh_t * tc * o * (1 - o)], 1)
    np.testing.assert_allclose(gd[live], expect[live], rtol=tol, atol=tol)
    np.testing.assert_allclose(dc[live], (dc_t * f)[live], rtol=tol, atol=tol)
    assert not dh_dir[live].any()
    assert not gd[dead].any() and np.array_equal(dc[dead], dc0[dead])
    np.testing.assert_array_equal(dh_dir[dead], (dh_dir0 + dh_rec)[dead])


@pytest.mark.parametrize("dtype, with_lengths", CASES)
def test_gru_steps_match_numpy(kernels, dtype, with_lengths):
    rng = np.random.default_rng(2)
    B, H, t = 4, 5, 2
    r = _step_data(rng, dtype)
    lengths = np.array([3, 2, 5, 1], dtype=np.int64) if with_lengths else None
    live = (np.arange(B) if lengths is None else np.flatnonzero(t < lengths))
    dead = np.setdiff1d(np.arange(B), live)
    sfx = "f32" if dtype == np.float32 else "f64"
    xw, hw, b_hh, h_in = r(B, 3 * H), r(B, 3 * H), r(3 * H), r(B, H)
    h_out, y, hn = (np.full((B, H), np.nan, dtype) for _ in range(3))
    gates = np.full((B, 3 * H), np.nan, dtype)
    kernels.launch(f"gru_forward_step_{sfx}", B * H, B, H, t, lengths, xw, hw, b_hh, h_in, h_out, y, gates, hn)
    hwb = (hw + b_hh).astype(np.float64)
    rr = _sig(xw[:, :H] + hwb[:, :H])
    z = _sig(xw[:, H:2 * H] + hwb[:, H:2 * H])
    n = np.tanh(xw[:, 2 * H:] + rr * hwb[:, 2 * H:])
    h_new = (1 - z) * n + z * h_in
    tol = TOLERANCE[np.dtype(dtype)]
    np.testing.assert_allclose(h_out[live], h_new[live], rtol=tol, atol=tol)
    np.testing.assert_allclose(y[live], h_new[live], rtol=tol, atol=tol)
    np.testing.assert_allclose(gates[live], np.concatenate([rr, z, n], 1)[live], rtol=tol, atol=tol)
    np.testing.assert_allclose(hn[live], hwb[:, 2 * H:][live], rtol=tol, atol=tol)
    assert np.array_equal(h_out[dead], h_in[dead]) and not y[dead].any() and not gates[dead].any()

    dy, dh_rec, dh_dir = r(B, H), r(B, H), r(B, H)
    if lengths is not None:
        dy[dead] = np.nan
    gd, d_hid, dh_dir0 = gates.copy(), np.full((B, 3 * H), np.nan, dtype), dh_dir.copy()
    kernels.launch(f"gru_backward_step_{sfx}", B * H, B, H, t, lengths, dy, dh_rec, dh_dir, gd, d_hid, h_in, hn)
    rr, z, n = (gates[:, k * H:(k + 1) * H].astype(np.float64) for k in range(3))
    dh_t = dh_dir0 + dh_rec + dy
    da_n = dh_t * (1 - z) * (1 - n ** 2)
    da_r = da_n * hn * rr * (1 - rr)
    da_z = dh_t * (h_in - n) * z * (1 - z)
    np.testing.assert_allclose(gd[live], np.concatenate([da_r, da_z, da_n], 1)[live], rtol=tol, atol=tol)
    np.testing.assert_allclose(d_hid[live], np.concatenate([da_r, da_z, da_n * rr], 1)[live], rtol=tol, atol=tol)
    np.testing.assert_allclose(dh_dir[live], (dh_t * z)[live], rtol=tol, atol=tol)
    assert not gd[dead].any() and not d_hid[dead].any()
    np.testing.assert_array_equal(dh_dir[dead], (dh_dir0 + dh_rec)[dead])


@pytest.mark.parametrize("relu", [0, 1])
@pytest.mark.parametrize("dtype, with_lengths", CASES)
def test_rnn_steps_match_numpy(kernels, dtype, with_lengths, relu):
    rng = np.random.default_rng(3)
    B, H, t = 4, 5, 2
    r = _step_data(rng, dtype)
    lengths = np.array([3, 2, 5, 1], dtype=np.int64) if with_lengths else None
    live = (np.arange(B) if lengths is None else np.flatnonzero(t < lengths))
    dead = np.setdiff1d(np.arange(B), live)
    sfx = "f32" if dtype == np.float32 else "f64"
    xw, hw, h_in = r(B, H), r(B, H), r(B, H)
    h_out, y = np.full((B, H), np.nan, dtype), np.full((B, H), np.nan, dtype)
    kernels.launch(f"rnn_forward_step_{sfx}", B * H, B, H, t, lengths, relu, xw, hw, h_in, h_out, y)
    a = (xw + hw).astype(np.float64)
    h_new = np.maximum(a, 0) if relu else np.tanh(a)
    tol = TOLERANCE[np.dtype(dtype)]
    np.testing.assert_allclose(h_out[live], h_new[live], rtol=tol, atol=tol)
    np.testing.assert_allclose(y[live], h_new[live], rtol=tol, atol=tol)
    assert np.array_equal(h_out[dead], h_in[dead]) and not y[dead].any()

    dy, dh_rec, dh_dir = r(B, H), r(B, H), r(B, H)
    if lengths is not None:
        dy[dead] = np.nan
    da, dh_dir0 = np.full((B, H), np.nan, dtype), dh_dir.copy()
    kernels.launch(f"rnn_backward_step_{sfx}", B * H, B, H, t, lengths, relu, dy, dh_rec, dh_dir, h_out, da)
    dh_t = dh_dir0 + dh_rec + dy
    expect = dh_t * ((h_out > 0) if relu else (1 - h_out.astype(np.float64) ** 2))
    np.testing.assert_allclose(da[live], expect[live], rtol=tol, atol=tol)
    assert not dh_dir[live].any() and not da[dead].any()
    np.testing.assert_array_equal(dh_dir[dead], (dh_dir0 + dh_rec)[dead])


# ---------------------------------------------------------------- grid-stride partitioning

@needs_shim
@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_any_simulated_grid_gives_identical_results(mode):
    """1 thread, 2 blocks x 3 threads, 4 x 7 (more threads than elements): bit-identical
    forward and backward (each element is computed by exactly one thread, the same way)."""
    rng = np.random.default_rng(4)
    T, B, I, H = 4, 3, 2, 5
    G = {"lstm": 4, "gru": 3}.get(mode, 1)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    weights = tuple(rng.standard_normal(s).astype(np.float32) for s in ((G * H, I), (G * H, H), (G * H,), (G * H,)))
    state = tuple(rng.standard_normal((B, H)).astype(np.float32) for _ in range(2 if mode == "lstm" else 1))
    lengths = np.array([4, 2, 3], dtype=np.int64)
    x[np.arange(T)[:, None] >= lengths[None, :]] = 0
    dy = rng.standard_normal((T, B, H)).astype(np.float32)
    results = []
    for grid, block in ((1, 1), (2, 3), (4, 7)):
        impl = CudaHostBackend(grid, block)
        y, state_n, saved = impl.forward(mode, x, state, weights, lengths, True, True)
        dx, dstate0, dweights = impl.backward(mode, saved, dy, state)
        results.append([y, *state_n, dx, *dstate0, *dweights])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


@needs_shim
def test_shim_sources_are_all_present():
    for name in SHIM_SOURCES:
        assert os.path.isfile(os.path.join(KERNELS, name)), name
