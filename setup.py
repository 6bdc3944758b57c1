"""Packaging for pyrnn.

Metadata lives here (the design card's layout asks for setup.py); the C
backend will add its cffi extension built from csrc/ to ``cffi_modules``,
and the CUDA backend the sources in kernels/ as package data.
"""
from setuptools import find_packages, setup

setup(
    name="pyrnn",
    version="0.1.0",
    description="Fused RNN/LSTM/GRU kernels with backpropagation through time, one API over "
                "NumPy, Numba, C and CUDA backends",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    packages=find_packages(include=["pyrnn", "pyrnn.*"]),
    # numba + scipy power the default CPU backend (Numba takes BLAS for np.dot from SciPy).
    # Required; if they are missing or broken anyway, "auto" falls back to the NumPy reference.
    install_requires=["numpy>=1.22", "numba>=0.59", "scipy>=1.10", "tqdm>=4.60", "matplotlib>=3.5"],
    extras_require={
        # torch is the outside oracle of the tests, never a run-time dependency.
        "test": ["pytest>=7", "hypothesis>=6", "pytest-benchmark>=4", "torch==2.13.0"],
        "bench": ["pytest-benchmark>=4", "torch==2.13.0"],
    },
    entry_points={"console_scripts": ["pyrnn = pyrnn.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
