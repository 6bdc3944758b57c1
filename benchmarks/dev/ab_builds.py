"""Two builds of the C extension timed against each other in ONE process.

    python benchmarks/dev/ab_builds.py OLD.so NEW.so [--cell lstm] [--shapes T,B,H ...] [--rounds 6]
                                       [--dtype float32|bfloat16]

Times of separate processes on a shared 2-core machine drift by 10-50% from one minute to the next,
more than most kernel changes are worth. Here both builds are loaded side by side (each .so is its own
copy of the kernels; they share the process's OpenMP runtime and OpenBLAS) and one pyrnn layer per
build (same weights, same input, I = H) is timed in alternating blocks (harness.time_interleaved):
before each call the c backend is pointed at that build. Prints, per shape and pass (forward in eval
mode, forward + backward in train mode), the median ms of each build and NEW / OLD (< 1: faster).

Build the old one from a checkout of the old commit (``python setup.py build_ext --inplace`` there,
or a copy of ``pyrnn/backends/c/_pyrnn_c.abi3.so`` kept aside before rebuilding). A build from before
``pyrnn_work_size`` took the input width I is adapted.
"""
import argparse
import importlib.util
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import make_pyrnn, pyrnn_step, time_interleaved  # noqa: E402

from pyrnn.backends import get_backend  # noqa: E402

SHAPES = ["35,20,200", "35,64,128", "35,8,256", "100,32,256", "35,64,512"]


class _OldWorkSize:
    """A build whose pyrnn_work_size has no I argument, called as the current backend calls it."""

    def __init__(self, lib):
        self._lib = lib

    def __getattr__(self, name):
        return getattr(self._lib, name)

    def pyrnn_work_size(self, mode, T, B, I, H, P, training):
        return self._lib.pyrnn_work_size(mode, T, B, H, P, training)


def load_build(path):
    """(ffi, lib) of the extension at path, loaded beside the installed one."""
    spec = importlib.util.spec_from_file_location("pyrnn.backends.c._pyrnn_c", path)
    if spec is None or not os.path.exists(path):
        raise SystemExit(f"ab_builds: {path!r} is not a loadable extension module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lib = module.lib
    try:
        lib.pyrnn_work_size(2, 10, 1, 1, 1, 1, 0)
    except TypeError:
        lib = _OldWorkSize(lib)
    return module.ffi, lib


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--shapes", nargs="+", default=SHAPES, help="T,B,H (I = H)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                        help="bfloat16: forward only (the bf16 kernels are inference-only)")
    args = parser.parse_args(argv)
    backend = get_backend("c")   # loads the installed build first (and the OpenBLAS it links)
    builds = {"old": load_build(args.old), "new": load_build(args.new)}
    for shape in args.shapes:
        T, B, H = (int(v) for v in shape.split(","))
        rng = np.random.default_rng(0)
        x = rng.standard_normal((T, B, H), dtype=np.float32)
        dy = rng.standard_normal((T, B, H), dtype=np.float32)
        for backward in (False, True) if args.dtype == "float32" else (False,):
            runs = {}
            for name, (ffi, lib) in builds.items():
                step = pyrnn_step(make_pyrnn(args.cell, H, H, "c", dtype=args.dtype), x, dy, backward)

                def run(ffi=ffi, lib=lib, step=step):
                    backend._ffi, backend._lib = ffi, lib
                    backend._kernels.clear()   # its memo of the float kernels' functions is per build
                    step()
                runs[name] = run
            t = time_interleaved(runs, rounds=args.rounds, block_time=0.25, settle=0.1)
            print(f"{args.cell} {args.dtype} T={T} B={B} H={H} {'fwd+bwd' if backward else 'fwd'}: old {t['old'] * 1e3:.3f} ms, "
                  f"new {t['new'] * 1e3:.3f} ms, new/old {t['new'] / t['old']:.3f}", flush=True)


if __name__ == "__main__":
    main()
