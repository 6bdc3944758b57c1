"""What is specific to the "c" backend: its build, its thread splits, its C API, its absence.

Parity of its layers and cells with the reference and torch.nn runs in the
shared suites (every test taking the ``backend`` fixture). Here the backend
is called directly on shapes chosen to hit each code path of csrc/:
batch 1 and larger batches with the packed W_hh blocks (T >= 8) and with
BLAS (T < 8), hidden sizes that split unevenly over the
threads (slices are aligned to 16 units) and a partial PACK block.
tests/backends/test_c_build.py re-runs this file against a sanitizer build.
"""
import os
import platform
import shlex
import shutil
import subprocess
import sys
import sysconfig

import numpy as np
import pytest

import pyrnn
from pyrnn.backends import backend_status, get_backend
from pyrnn.backends.base import GATES
from pyrnn.cell_specs import CELLS

from cell_checks import proj_size_for
from shared import ROOT, TOLERANCE

# every cell the c backend runs (RNN, LSTM, GRU and IndRNN)
MODES = list(get_backend("c").cells) if "c" in pyrnn.available_backends() else list(GATES)
# (T, B, I, H): what each shape exercises; with the default PYRNN_C_MIN_WORK the smaller problems
# (RNN/GRU here) run on one thread; the sanitizer run splits every one of them (MIN_WORK=1)
SHAPES = {
    "b1-packed": (9, 1, 7, 100),               # LSTM: 2 threads, slices [0,64) + [64,100): a partial block
    "b1-gemv-short": (3, 1, 5, 130),
    "batch-uneven-slices": (6, 3, 4, 70),      # slices [0,48) + [48,70), BLAS per step (T < 8)
    "batch-packed-tiles": (9, 7, 5, 160),      # 6-row tiles + a leftover row, full and partial blocks
    "narrow-block-tiles": (9, 13, 5, 203),     # slices [0,112) + [112,203): a narrow block of whole vectors
                                               # and single columns under 6-row tiles, plus a leftover row
    "tiny": (2, 2, 3, 5),                      # one thread, H below the slice alignment
    "batch-split": (9, 17, 6, 45),             # the batch in slices of 9 + 8 rows (LSTM, GRU, RNN),
                                               # each a whole time loop on one thread
}


def _c_compiler():
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")[0]
    return shutil.which(os.environ.get("CC", cc))


def test_c_backend_is_built_where_a_compiler_exists():
    """A silently failed build would turn every C test below into a skip: fail loudly instead."""
    if _c_compiler() is None:
        pytest.skip("no C compiler on this machine: the c backend is legitimately absent")
    reason = backend_status()["c"]
    assert reason is None, (f"the c backend is unavailable although a C compiler exists: {reason} "
                            "(from a source checkout, install with `pip install -e .`)")


needs_c = pytest.mark.skipif("c" not in pyrnn.available_backends(), reason="c backend not built")


def _problem(mode, shape, dtype, bias, with_lengths, seed):
    T, B, I, H = shape
    spec = CELLS[mode]
    P = proj_size_for(spec, H)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    state = tuple(rng.standard_normal(s).astype(dtype) * 0.5 for s in spec.state_shapes(B, H, P))
    scale = {"weight_ih": 0.3, "weight_hh": 0.9 / np.sqrt(P or H), "weight_hr": 0.9 / np.sqrt(H)}
    weights = []
    for p in spec.params:   # in the order of the backend call
        shape_p = p.shape(I, H, P)
        if p.bias:
            weights.append(rng.standard_normal(shape_p).astype(dtype) * 0.2 if bias else None)
        elif len(shape_p) == 1:   # IndRNN's elementwise u: |u| < 1 keeps the state bounded
            weights.append(rng.uniform(-0.9, 0.9, shape_p).astype(dtype))
        else:
            weights.append((rng.standard_normal(shape_p) * scale[p.name]).astype(dtype))
    lengths = None
    if with_lengths:
        lengths = rng.integers(1, T + 1, size=B).astype(np.int64)
        lengths[0] = T
    dy = rng.standard_normal((T, B, spec.output_size(H, P))).astype(dtype)
    dstate = tuple(rng.standard_normal(s.shape).astype(dtype) for s in state)
    return x, state, weights, lengths, dy, dstate


def _run(backend_name, mode, problem, reverse):
    x, state, weights, lengths, dy, dstate = problem
    be = get_backend(backend_name)
    y, state_n, saved = be.forward(mode, x, state, weights, lengths, reverse, True)
    dx, dstate0, dweights = be.backward(mode, saved, dy, dstate)
    return [y, *state_n, dx, *dstate0, *(d for d in dweights if d is not None)]


def _assert_parity(got, want, dtype):
    tol = TOLERANCE[np.dtype(dtype)]
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape and g.dtype == w.dtype, k
        # relative to the array's scale: weight gradients sum over T*B rows
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol * max(1.0, float(np.abs(w).max())),
                                   err_msg=f"output #{k}")


@needs_c
@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd-dir", "rev-dir"])
def test_c_matches_reference(shape, mode, dtype, reverse):
    for bias, with_lengths, seed in ((True, False, 1), (False, True, 2), (True, True, 3)):
        problem = _problem(mode, SHAPES[shape], dtype, bias, with_lengths, seed)
        _assert_parity(_run("c", mode, problem, reverse), _run("numpy", mode, problem, reverse), dtype)


@needs_c
@pytest.mark.parametrize("mode", MODES)
def test_padded_steps_give_exact_zeros(mode):
    problem = _problem(mode, (7, 4, 3, 40), np.float32, True, True, 5)
    x, state, weights, lengths, _, _ = problem
    y, _, _ = get_backend("c").forward(mode, x, state, weights, lengths, False, False)
    for b, n in enumerate(lengths):
        assert np.all(y[n:, b] == 0)
        if not mode.endswith("relu"):   # relu may give exact zeros at real steps too
            assert np.all(y[:n, b] != 0)


@needs_c
@pytest.mark.parametrize("mode", MODES)
def test_saturating_inputs_stay_finite_and_match(mode):
    """Pre-activations of +-1e3 saturate every gate: no overflow, no NaN, still the reference's values."""
    problem = list(_problem(mode, (5, 2, 4, 20), np.float64, True, False, 7))
    problem[0] = problem[0] * 1000
    got = _run("c", mode, problem, False)
    assert all(np.all(np.isfinite(g)) for g in got)
    _assert_parity(got, _run("numpy", mode, problem, False), np.float64)


@needs_c
@pytest.mark.parametrize("mode", ["lstm", "gru"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("B", [2, 3, 4, 5, 8, 11])
@pytest.mark.parametrize("H", [65, 80, 100, 127])
def test_register_tiles_of_every_row_count_and_block_width(mode, dtype, B, H):
    """The per-step products' tiles on one thread (so the blocks do not depend on the machine): B % 6
    = 2..5 leftover rows, and a gate's last block of H % PACK units - for PACK = 64 / 32 (AVX-512
    float / double) and 16 / 8 (AVX2): whole vectors only, or a partial last vector of 1..15 units."""
    be = get_backend("c")
    problem = _problem(mode, (9, B, 6, H), dtype, True, True, 5)
    be.set_num_threads(1)
    try:
        got = _run("c", mode, problem, False)
    finally:
        be.set_num_threads(0)
    _assert_parity(got, _run("numpy", mode, problem, False), dtype)


@needs_c
@pytest.mark.parametrize("mode", MODES)
def test_thread_count_does_not_change_results(mode):
    be = get_backend("c")
    problem = _problem(mode, (12, 4, 64, 256), np.float64, True, True, 11)   # >= 2 threads for every mode
    many = _run("c", mode, problem, False)
    be.set_num_threads(1)
    try:
        one = _run("c", mode, problem, False)
    finally:
        be.set_num_threads(0)
    for a, b in zip(many, one):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@needs_c
def test_c_api_refuses_invalid_arguments():
    be = get_backend("c")
    ffi, lib = be._ffi, be._lib
    T, B, I, H = 2, 1, 3, 4
    buf = np.zeros(5000)   # >= the work of every call below (the layer norm's partials included)
    p = ffi.from_buffer("double[]", buf)
    good = dict(mode=lib.PYRNN_LSTM, T=T, B=B, I=I, H=H)

    def call(lengths=ffi.NULL, **over):
        a = {**good, **over}
        return lib.pyrnn_forward_f64(a["mode"], a["T"], a["B"], a["I"], a["H"], a.get("P", a["H"]), p, p, p,
                                     ffi.NULL, ffi.NULL, a.get("w_hr", ffi.NULL), a.get("ln", ffi.NULL), lengths, 0,
                                     0, p, p, p, p)

    assert call() == lib.PYRNN_OK
    assert call(mode=lib.PYRNN_LSTM_PROJ, P=2, w_hr=p) == lib.PYRNN_OK
    assert call(mode=lib.PYRNN_LAYERNORM_LSTM, ln=p) == lib.PYRNN_OK
    for over in ({"mode": 7}, {"mode": -1}, {"T": 0}, {"B": 0}, {"I": -3}, {"H": 0}, {"P": 3},
                 {"mode": lib.PYRNN_LSTM_PROJ, "P": 2}, {"mode": lib.PYRNN_LSTM_PROJ, "P": 0, "w_hr": p},
                 {"w_hr": p}, {"ln": p}, {"mode": lib.PYRNN_LAYERNORM_LSTM}, {"mode": 8}):
        assert call(**over) == lib.PYRNN_EINVAL, over
    for bad in ([0], [T + 1]):
        assert call(lengths=ffi.from_buffer("int64_t[]", np.array(bad, dtype=np.int64))) == lib.PYRNN_EINVAL
    assert lib.pyrnn_forward_f64(lib.PYRNN_LSTM, T, B, I, H, H, ffi.NULL, p, p, ffi.NULL, ffi.NULL, ffi.NULL,
                                 ffi.NULL, ffi.NULL, 0, 0, p, p, p, p) == lib.PYRNN_EINVAL
    assert lib.pyrnn_work_size(9, T, B, I, H, H, 1) == 0 and lib.pyrnn_work_size(lib.PYRNN_LSTM, T, B, I, H, 2, 1) == 0
    assert lib.pyrnn_work_size(lib.PYRNN_LSTM, T, B, 0, H, H, 1) == 0


@needs_c
def test_build_info_names_the_blas():
    info = get_backend("c").build_info
    assert "BLAS" in info and "OpenMP" in info
    if os.environ.get("PYRNN_TEST_EXPECT_SANITIZED") == "1":   # set by tests/backends/test_c_build.py
        assert "AddressSanitizer" in info, info


def test_build_info_names_the_blas_kernels_and_who_chose_them():
    """OpenBLAS says which kernel set it runs; a forced one ($OPENBLAS_CORETYPE, read when OpenBLAS
    loads) is named as forced, since it may not be this CPU's best (AVX2 kernels on an AVX-512 CPU)."""
    kernels = get_backend("c").blas_kernels
    if not kernels:
        pytest.skip("this build's BLAS does not name its kernels")
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("OpenBLAS's Haswell kernels are x86-64 kernels")
    out = _pyrnn_subprocess("from pyrnn.backends import get_backend; print(get_backend('c').build_info)",
                            OPENBLAS_CORETYPE="Haswell")
    assert out.returncode == 0, out.stderr
    assert "Haswell kernels (as $OPENBLAS_CORETYPE asks)" in out.stdout, out.stdout
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    out = subprocess.run([sys.executable, "-c", "from pyrnn.backends import get_backend; "
                          "b = get_backend('c'); print(b.blas_kernels); print(b.build_info)"],
                         capture_output=True, text=True, timeout=120, env={**env, "PYTHONPATH": ROOT})
    assert out.returncode == 0, out.stderr
    chosen, info = out.stdout.splitlines()
    assert chosen and f"{chosen} kernels;" in info, info


def _pyrnn_subprocess(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": ROOT, **env})


def test_missing_extension_makes_c_unavailable_with_the_reason():
    code = ("import pyrnn\n"
            "from pyrnn.backends import BackendUnavailableError\n"
            "print('available', pyrnn.available_backends())\n"
            "try:\n    pyrnn.LSTM(3, 4, backend='c')\n"
            "except BackendUnavailableError as e:\n    print('refused:', e)\n"
            "print('auto', pyrnn.LSTM(3, 4).backend)\n")
    out = _pyrnn_subprocess(code, PYRNN_C_EXTENSION="/nonexistent/_pyrnn_c.so")
    assert out.returncode == 0, out.stderr
    assert "'c'" not in out.stdout.splitlines()[0]
    assert "refused:" in out.stdout and "C extension is not built" in out.stdout
    assert "auto numba" in out.stdout or "auto numpy" in out.stdout


@needs_c
@pytest.mark.parametrize("step_gemm", ["packed", "blas"])
def test_lstm_inference_matches_the_reference_with_either_step_product(step_gemm):
    """The LSTM's inference forward from 8 rows a step sums x_t W_ih^T in the step's tiles, and its
    work buffer then holds one row of pre; with PYRNN_C_STEP_GEMM=blas (read from the environment at
    the first call, here a work-size query) it runs the GEMM over every row instead, into a full pre."""
    code = ("import numpy as np, pyrnn\n"
            "x = np.random.default_rng(0).standard_normal((10, 8, 70))\n"
            "out = {}\n"
            "for b in ('c', 'numpy'):\n"
            "    lay = pyrnn.LSTM(70, 37, backend=b, dtype=np.float64, seed=0)\n"
            "    lay.train(False)\n"
            "    y, (h, c) = lay(x)\n"
            "    out[b] = (y, h, c)\n"
            "print(max(float(np.abs(g - w).max()) for g, w in zip(out['c'], out['numpy'])))\n")
    out = _pyrnn_subprocess(code, **({"PYRNN_C_STEP_GEMM": "blas"} if step_gemm == "blas" else {}))
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.split()[-1]) <= TOLERANCE[np.dtype(np.float64)]


@needs_c
@pytest.mark.parametrize("batch_split,wait_policy", [("1", ""), ("0", ""), ("0", "passive")],
                         ids=["batch-split", "units-split", "units-split-passive"])
def test_training_matches_the_reference_with_either_split(batch_split, wait_policy):
    """Training splits the batch over the threads where it may (pyrnn.c's batch_slices) and the hidden
    units otherwise; PYRNN_C_BATCH_SPLIT=0 (read at the first call) keeps the unit split everywhere.
    Both give the reference's forward and every gradient, lengths and both directions included; so
    does the unit split under OMP_WAIT_POLICY=passive, where a thread sleeps at every step barrier
    instead of spinning (its futex wait and wake)."""
    code = ("import numpy as np\n"
            "from pyrnn.backends import get_backend\n"
            "from pyrnn.cell_specs import CELLS\n"
            "c, ref = get_backend('c'), get_backend('numpy')\n"
            "rng = np.random.default_rng(0)\n"
            "worst, slices = 0.0, set()\n"
            "for mode in ('lstm', 'gru', 'rnn_tanh'):\n"
            "    spec = CELLS[mode]\n"
            "    T, B, I, H = 11, 21, 9, 40\n"
            "    x = rng.standard_normal((T, B, I))\n"
            "    state = tuple(rng.standard_normal(s) * 0.5 for s in spec.state_shapes(B, H, H))\n"
            "    weights = [rng.standard_normal(p.shape(I, H, H)) * 0.2 for p in spec.params]\n"
            "    lengths = rng.integers(1, T + 1, size=B)\n"
            "    for reverse in (False, True):\n"
            "        out = {}\n"
            "        for name, be in (('c', c), ('numpy', ref)):\n"
            "            y, s_n, saved = be.forward(mode, x, state, weights, lengths, reverse, True)\n"
            "            if name == 'c': slices.add(int(saved.inner['work'][0]))\n"
            "            dy = np.cos(np.arange(y.size)).reshape(y.shape)\n"
            "            ds = tuple(np.sin(np.arange(v.size)).reshape(v.shape) for v in s_n)\n"
            "            dx, d0, dw = be.backward(mode, saved, dy, ds)\n"
            "            out[name] = [y, *s_n, dx, *d0, *dw]\n"
            "        for g, w in zip(out['c'], out['numpy']):\n"
            "            worst = max(worst, float(np.abs(g - w).max()) / max(1.0, float(np.abs(w).max())))\n"
            "print(sorted(slices), worst)\n")
    out = _pyrnn_subprocess(code, PYRNN_C_BATCH_SPLIT=batch_split, OMP_NUM_THREADS="2",
                            **({"OMP_WAIT_POLICY": wait_policy} if wait_policy else {}))
    assert out.returncode == 0, out.stderr
    slices, worst = out.stdout.strip().rsplit(" ", 1)
    assert slices == ("[2]" if batch_split == "1" else "[0]"), out.stdout
    assert float(worst) <= TOLERANCE[np.dtype(np.float64)]


@needs_c
def test_backward_follows_the_forwards_split_when_the_threads_change():
    """The forward writes how it split the batch into its work buffer's header; a backward run with
    another thread count (pyrnn.torch sets it from torch at every call) still reads that layout."""
    be = get_backend("c")
    before = be.threads
    problem = _problem("lstm", (10, 24, 7, 48), np.float64, True, True, 4)
    x, state, weights, lengths, dy, dstate = problem
    want = _run("numpy", "lstm", problem, False)
    for first, then in ((2, 1), (1, 2)):
        try:
            be.set_num_threads(first)
            y, state_n, saved = be.forward("lstm", x, state, weights, lengths, False, True)
            assert int(saved.inner["work"][0]) == (2 if first == 2 else 0)
            be.set_num_threads(then)
            dx, dstate0, dweights = be.backward("lstm", saved, dy, dstate)
        finally:
            be.set_num_threads(before)
        _assert_parity([y, *state_n, dx, *dstate0, *dweights], want, np.float64)


@pytest.mark.skipif(_c_compiler() is None, reason="needs a C compiler to show what happens without one")
def test_build_without_a_compiler_still_installs_and_keeps_the_reason(tmp_path):
    """setup.py build_ext with a compiler that does not exist: success, plus the note the probe reads."""
    out = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--build-lib", str(tmp_path / "lib"),
         "--build-temp", str(tmp_path / "tmp")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "CC": "/nonexistent/cc"})
    assert out.returncode == 0, out.stderr[-2000:]
    note = tmp_path / "lib" / "pyrnn" / "backends" / "c" / "_c_build_error.txt"
    assert note.exists(), out.stderr[-2000:]
    assert "/nonexistent/cc" in note.read_text()
    assert not list((tmp_path / "lib" / "pyrnn").rglob("_pyrnn_c*.so"))


@pytest.mark.skipif(_c_compiler() is None, reason="needs a C compiler to show what happens without one")
def test_inplace_build_without_a_compiler_keeps_the_reason_next_to_the_sources(tmp_path):
    """The editable-install path (build_ext --inplace) in a copy of the project: no crash, note in pyrnn/backends/c/."""
    copy = tmp_path / "project"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.so", "*.o", "_pyrnn_c.c", "__pycache__", ".pytest_cache", ".benchmarks"))
    out = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=copy,
                         capture_output=True, text=True, timeout=300, env={**os.environ, "CC": "/nonexistent/cc"})
    assert out.returncode == 0, out.stderr[-2000:]
    note = copy / "pyrnn" / "backends" / "c" / "_c_build_error.txt"
    assert note.exists() and "/nonexistent/cc" in note.read_text()
    assert not list((copy / "pyrnn").rglob("_pyrnn_c*.so"))

