"""The C kernels outside the normal build: CMake + ctest, and the sanitizer mode.

Sanitizer mode: the kernels are compiled again with AddressSanitizer and
UndefinedBehaviorSanitizer (csrc/build_ffi.py, sanitize=True) and
the C-backend tests and the shared layer, cell and gradient-check suites
(restricted to the c backend) run against that build in a child process,
with every problem split over threads (PYRNN_C_MIN_WORK=1). Any report fails the
test: ASan aborts on the first error, UBSan is built with
-fno-sanitize-recover. Both tests are part of the default run (CI included).
"""
import os
import re
import shutil
import subprocess
import sys

import pytest

from shared import ROOT


pytestmark = pytest.mark.slow


def _gcc_runtime(name):
    """Path of a sanitizer runtime shipped with gcc, or None."""
    if shutil.which("gcc") is None:
        return None
    path = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


@pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("ctest") is None, reason="cmake not installed")
def test_cmake_builds_the_library_and_ctest_passes(tmp_path):
    build = tmp_path / "build"
    steps = [
        ["cmake", "-S", ROOT, "-B", str(build), f"-DPYRNN_PYTHON={sys.executable}"],
        ["cmake", "--build", str(build), "-j2"],
        ["ctest", "--output-on-failure"],
    ]
    for cmd in steps:
        out = subprocess.run(cmd, cwd=build if cmd[0] == "ctest" else ROOT, capture_output=True, text=True,
                             timeout=600)
        assert out.returncode == 0, f"{' '.join(cmd)}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    assert "100% tests passed" in out.stdout
    assert list(build.glob("libpyrnn.so*")), "no shared library built"


@pytest.mark.skipif(_gcc_runtime("libasan.so") is None, reason="gcc with AddressSanitizer runtime not found")
def test_c_parity_suite_is_clean_under_asan_and_ubsan(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "csrc"))
    try:
        from build_ffi import make_builder
    finally:
        sys.path.pop(0)
    built = make_builder(sanitize=True, absolute_paths=True).compile(tmpdir=str(tmp_path), verbose=False)
    env = {
        **os.environ,
        "PYTHONPATH": ROOT,
        "PYRNN_C_EXTENSION": built,
        "PYRNN_TEST_EXPECT_SANITIZED": "1",
        "PYRNN_C_MIN_WORK": "1",                   # split even the smallest problems over threads
        "PYRNN_TEST_BACKENDS": "c",                # the shared suites: only the c backend
        "LD_PRELOAD": _gcc_runtime("libasan.so"),  # the ASan runtime must come first (python is not instrumented)
        # CPython keeps objects alive until exit by design: leak reports would be noise.
        "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1",
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
    }
    suites = [os.path.join(ROOT, "tests", group, name) for group, name in (
        ("backends", "test_c_backend.py"), ("api", "test_gradcheck.py"), ("api", "test_layers.py"),
        ("api", "test_cells.py"), ("api", "test_bfloat16.py"))]
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-x", *suites,
         # (a torch backward that raises aborts under the preloaded ASan runtime: not the kernels)
         "-k", "not without_a_compiler and not missing_extension and not backward_says_why_not"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    report = out.stdout[-4000:] + out.stderr[-4000:]
    assert "AddressSanitizer" not in out.stderr and "runtime error:" not in out.stderr, report
    assert out.returncode == 0, report
    passed = re.search(r"(\d+) passed", out.stdout)
    assert passed and int(passed.group(1)) >= 150, report
    # the only skips allowed: the bf16 paths whose instructions this CPU lacks
    skips = [line for line in out.stdout.splitlines() if line.startswith("SKIPPED")]
    assert all("this CPU" in line for line in skips), report


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
def test_every_fused_gate_loop_is_vectorized_with_the_package_flags(tmp_path):
    """Each `#pragma omp simd` loop of the gate code compiles to vector code.

    A scalar gate row costs the LSTM forward 2-3x (a selection that GCC may not
    if-convert is enough to lose it), and no parity test notices: the numbers
    are the same. GCC's vectorizer report names every loop it vectorized.
    """
    sys.path.insert(0, os.path.join(ROOT, "csrc"))
    try:
        from build_ffi import compile_flags
    finally:
        sys.path.pop(0)
    import scipy_openblas32
    gates = os.path.join(ROOT, "csrc", "pyrnn_gates.h")
    with open(gates, encoding="utf-8") as f:
        simd_loops = [n + 1 for n, line in enumerate(f) if line.strip() == "#pragma omp simd"]
    assert simd_loops, "no omp simd loops found in pyrnn_gates.h"
    report = tmp_path / "vec.txt"
    cmd = ["gcc", *compile_flags(), "-DPYRNN_BLAS_SCIPY_OPENBLAS=1", "-I", os.path.join(ROOT, "csrc"),
           "-I", scipy_openblas32.get_include_dir(), "-c", os.path.join(ROOT, "csrc", "pyrnn.c"),
           "-o", str(tmp_path / "pyrnn.o"), f"-fopt-info-vec-optimized={report}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    vectorized = {int(m.group(1)) for m in re.finditer(r"pyrnn_gates\.h:(\d+):\d+: optimized: loop vectorized",
                                                      report.read_text())}
    # GCC names a loop by its for statement or the first line of its body: just below the pragma.
    scalar = [line + 1 for line in simd_loops if not vectorized & {line + 1, line + 2}]
    assert not scalar, f"gate loops left scalar at pyrnn_gates.h lines {scalar} (flags: {' '.join(compile_flags())})"
