"""Packaging for pyrnn.

Metadata lives here (pyproject.toml names setuptools as the build backend). The C
backend's extension ``pyrnn.backends.c._pyrnn_c`` is built from csrc/ by cffi
(csrc/build_ffi.py) and is optional: when it cannot be compiled (no C
compiler, no OpenMP), the package installs anyway, the reason is kept in
``pyrnn/backends/c/_c_build_error.txt`` and the "c" backend reports it.
"""
import os

from setuptools import find_packages, setup
from setuptools.command.build_ext import build_ext

BUILD_ERROR_FILE = "_c_build_error.txt"


class OptionalBuildExt(build_ext):
    """build_ext that turns a failed C build into a warning plus a note for the backend probe."""

    def run(self):
        # setuptools clears `inplace` before building (editable installs build in a
        # temporary folder and copy back): remember where the package really lives.
        self._into_source = bool(self.inplace or getattr(self, "editable_mode", False))
        super().run()

    def _note_dirs(self):
        dirs = {os.path.join(self.build_lib, "pyrnn", "backends", "c")}
        if getattr(self, "_into_source", False):
            dirs.add(os.path.join(os.path.dirname(os.path.abspath(__file__)), "pyrnn", "backends", "c"))
        return dirs

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:    # CompileError, LinkError, missing compiler (OSError/DistutilsExecError)
            message = f"{type(exc).__name__}: {exc}".strip().replace("\n", " ")
            self.warn(f"pyrnn: the C backend's extension was not built ({message}); "
                      "pyrnn installs without it and its 'c' backend reports itself unavailable")
            for folder in self._note_dirs():
                os.makedirs(folder, exist_ok=True)
                with open(os.path.join(folder, BUILD_ERROR_FILE), "w", encoding="utf-8") as f:
                    f.write(message + "\n")
            return
        for folder in self._note_dirs():
            stale = os.path.join(folder, BUILD_ERROR_FILE)
            if os.path.exists(stale):
                os.remove(stale)


setup(
    name="pyrnn",
    version="0.1.0",
    description="Fused RNN/LSTM/GRU kernels with backpropagation through time, one API over "
                "NumPy, Numba, C and CUDA backends",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    # The CUDA sources (kernels/) travel as package data "pyrnn._kernels": the cuda backend
    # compiles them at run time (NVRTC), cuda_host with the host's C++ compiler.
    packages=find_packages(include=["pyrnn", "pyrnn.*"]) + ["pyrnn._kernels"],
    package_dir={"pyrnn._kernels": "kernels"},
    package_data={"pyrnn._kernels": ["*.cu", "*.cuh", "*.h", "*.cpp"]},
    # numba + scipy power the Numba backend (Numba takes BLAS for np.dot from SciPy);
    # cffi + scipy-openblas32 the C backend (its run-time module and its BLAS).
    # If a backend cannot load anyway, "auto" falls back to the next one, down to NumPy.
    install_requires=["numpy>=1.22", "numba>=0.59", "scipy>=1.10", "tqdm>=4.60", "matplotlib>=3.5",
                      "cffi>=1.15", "scipy-openblas32>=0.3.27", "ml_dtypes>=0.4"],
    cffi_modules=["csrc/build_ffi.py:ffibuilder"],
    cmdclass={"build_ext": OptionalBuildExt},
    extras_require={
        # torch is the outside oracle of the tests (and what pyrnn.torch plugs into), never a
        # run-time dependency of pyrnn itself; jax likewise for pyrnn.jax; scikit-learn ships the
        # digits data of the examples.
        "test": ["pytest>=7", "hypothesis>=6", "pytest-benchmark>=4", "torch==2.13.0", "jax>=0.4.35",
                 "scikit-learn>=1.2"],
        # onnxruntime, openvino and onnx (the exported graph) are the peers of
        # benchmarks/compare_peers.py.
        "bench": ["pytest-benchmark>=4", "torch==2.13.0", "onnxruntime>=1.32", "openvino>=2026.4",
                  "onnx>=1.23"],
        "jax": ["jax>=0.4.35"],
        "examples": ["scikit-learn>=1.2"],
    },
    entry_points={"console_scripts": ["pyrnn = pyrnn.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: C",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
