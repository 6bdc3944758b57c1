"""Faults of the process around the kernels: forks after threaded calls, unverified backends, JIT caches."""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import pyrnn
from pyrnn.backends import auto_exclusions, get_backend, register, unregister
from pyrnn.backends.numpy_ref import NumpyBackend

needs_c = pytest.mark.skipif("c" not in pyrnn.available_backends(), reason="the C extension is not built")


# The fork scenarios run in a fresh interpreter: the test process has JAX's and torch's threads
# (forking it is unsafe for reasons that are theirs, not pyrnn's), a user's script usually not.
_FORK_PRELUDE = """
import multiprocessing, queue, sys
import numpy as np, pyrnn
from pyrnn.backends import get_backend
c = get_backend("c")
if c.threads < 2:
    print("SKIP: the C kernels run on one thread here"); sys.exit(0)
lstm = pyrnn.LSTM(128, 128, backend="c", seed=0).eval()
x = np.random.default_rng(0).standard_normal((20, 32, 128)).astype(np.float32)
y = lstm(x)[0]                      # threaded: both cores' worth of OpenMP threads have run
"""

_FORK_CHILD = _FORK_PRELUDE + """
def child(q, raise_threads):
    if raise_threads:
        get_backend("c").set_num_threads(2)     # e.g. pyrnn.torch following torch's thread count
    q.put((get_backend("c").threads, lstm(x)[0]))

if __name__ == "__main__":
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=child, args=(q, sys.argv[1] == "raise"))
    p.start()
    try:
        threads, got = q.get(timeout=60)    # read before join: a child with queued data cannot exit first
    except queue.Empty:
        print("HUNG"); p.kill(); sys.exit(1)
    p.join(30)
    assert p.exitcode == 0, p.exitcode
    np.testing.assert_allclose(got, y, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(lstm(x)[0], y)      # the parent keeps its threads and its numbers
    print(f"OK child threads={threads}")
"""

_DATALOADER = _FORK_PRELUDE + """
import torch

class Encoded(torch.utils.data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return torch.from_numpy(lstm(x[:, i:i + 1])[0])

if __name__ == "__main__":
    loader = torch.utils.data.DataLoader(Encoded(), batch_size=2, num_workers=2, multiprocessing_context="fork",
                                         timeout=60)
    batches = [b.numpy() for b in loader]
    got = np.concatenate([b[k] for b in batches for k in range(b.shape[0])], axis=1)
    np.testing.assert_allclose(got, y[:, :4], rtol=1e-5, atol=1e-5)
    print("OK")
"""


def _run_script(tmp_path, source, *args):
    script = tmp_path / "scenario.py"
    script.write_text(source)
    try:
        result = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        pytest.fail("the scenario hung")
    if result.stdout.startswith("SKIP"):
        pytest.skip(result.stdout.strip())
    assert result.returncode == 0 and "HUNG" not in result.stdout, result.stdout + result.stderr
    return result.stdout


@needs_c
def test_a_child_forked_after_a_threaded_forward_runs_the_kernels_instead_of_hanging(tmp_path):
    assert "OK child threads=1" in _run_script(tmp_path, _FORK_CHILD, "plain")


@needs_c
def test_a_forked_child_cannot_raise_the_thread_count_back_into_the_hang(tmp_path):
    assert "OK child threads=1" in _run_script(tmp_path, _FORK_CHILD, "raise")


@needs_c
def test_torch_dataloader_workers_can_call_pyrnn_after_the_parent_did(tmp_path):
    pytest.importorskip("torch")
    assert "OK" in _run_script(tmp_path, _DATALOADER)


# -- 13. a backend that was never verified is never chosen silently ----------------------------------------
class _Unverified(NumpyBackend):
    name = "unverified_fake"


@pytest.fixture()
def unverified():
    register("unverified_fake", probe=lambda: None, load=_Unverified, priority=1000,
             auto="unverified: a test double")
    yield
    unregister("unverified_fake")


def test_auto_never_picks_an_unverified_backend_even_with_the_highest_priority(unverified):
    assert pyrnn.available_backends()[0] == "unverified_fake"     # available and best by priority...
    assert get_backend("auto").name != "unverified_fake"           # ...but auto passes it over
    assert pyrnn.LSTM(2, 3).backend != "unverified_fake"


def test_naming_an_unverified_backend_works_with_a_one_time_warning(unverified):
    with pytest.warns(UserWarning, match="unverified: a test double"):
        assert get_backend("unverified_fake").name == "unverified_fake"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        get_backend("unverified_fake")                               # once is enough
    y, _ = pyrnn.GRU(2, 3, backend="unverified_fake")(np.ones((2, 1, 2), np.float32))
    assert y.shape == (2, 1, 3)


def test_the_cuda_backend_stays_out_of_auto_until_a_gpu_run_verified_it():
    from pyrnn.backends.cuda import backend as cuda

    assert cuda.VERIFIED_ON_GPU is None
    assert "never passed tests/gpu" in auto_exclusions()["cuda"]
    info = subprocess.run([sys.executable, "-m", "pyrnn", "info"], capture_output=True, text=True, timeout=120)
    assert info.returncode == 0 and "never chosen by auto" in info.stdout


# -- 14. the JIT cache stays out of the installed package ------------------------------------------------
@pytest.mark.skipif("numba" not in pyrnn.available_backends(), reason="numba is not installed")
def test_numba_caches_in_a_per_user_folder_never_inside_the_package(tmp_path):
    package = os.path.dirname(pyrnn.__file__)
    before = set(_cache_files(package))
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    # The numba backend's kernels, and the matmul that pyrnn.train's Linear jits on any backend.
    code = ("import numpy as np, pyrnn\n"
            "from pyrnn.train import LanguageModel\n"
            "m = pyrnn.RNN(2, 3, backend='numba'); y, _ = m(np.ones((2, 1, 2), np.float32)); m.backward(y)\n"
            "lm = LanguageModel(10, 4, 8, 1, backend='c' if 'c' in pyrnn.available_backends() else 'numpy')\n"
            "ids = np.zeros((3, 2), np.int32); lm.loss_and_backward(ids, ids)\n")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    cached = [os.path.basename(p) for p in _cache_files(str(tmp_path / "cache" / "pyrnn" / "numba"))]
    assert any(n.startswith("_blas.") for n in cached) and any(n.startswith("rnn.") for n in cached), cached
    assert set(_cache_files(package)) == before                                  # nothing new in the package
    user_dir = str(tmp_path / "own")
    env["NUMBA_CACHE_DIR"] = user_dir                                            # the user's choice wins
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert list(_cache_files(user_dir))


def _cache_files(folder):
    for root, _, names in os.walk(folder):
        for n in names:
            if n.endswith((".nbi", ".nbc")):
                yield os.path.join(root, n)
