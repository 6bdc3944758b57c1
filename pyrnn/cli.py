"""The ``pyrnn`` command line (also ``python -m pyrnn``).

    pyrnn demo [--backend NAME] [--seed S]   forward/backward on random data + a gradient check
    pyrnn info                                version and every backend with its availability
"""
import argparse
import platform
import sys

import numpy as np

from . import GRU, LSTM, RNN, __version__, backend_status
from .backends import get_backend
from .backends.base import BackendUnavailableError
from .errors import InputError
from .gradcheck import TOLERANCE as GRADCHECK_TOLERANCE
from .gradcheck import gradcheck


class UsageError(Exception):
    """A bad command-line value: reported as one line, exit code 2."""


def _demo(args):
    try:
        get_backend(args.backend)
    except (TypeError, ValueError) as exc:   # unknown backend name
        raise UsageError(str(exc)) from None
    rng = np.random.default_rng(args.seed)
    T, B, I, H = 20, 4, 8, 16
    lstm = LSTM(I, H, num_layers=2, bidirectional=True, batch_first=True, backend=args.backend,
                seed=args.seed)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    lengths = rng.integers(1, T + 1, size=B)
    print(f"pyrnn {__version__}: {lstm}")
    y, (h_n, c_n) = lstm(x, lengths=lengths)
    print(f"forward : x {x.shape}, lengths {lengths.tolist()} -> y {y.shape}, "
          f"h_n {h_n.shape}, c_n {c_n.shape}")
    dx, (dh0, dc0) = lstm.backward(np.ones_like(y))
    norms = ", ".join(f"{k} {np.linalg.norm(g):.3f}" for k, g in list(lstm.grads.items())[:4])
    print(f"backward: dx {dx.shape}, dh0 {dh0.shape}, dc0 {dc0.shape}; grad norms: {norms}, ...")

    print(f"gradient check (float64, central differences, tolerance {GRADCHECK_TOLERANCE:g}):")
    worst_overall = 0.0
    for module in (RNN(3, 4, num_layers=2, bidirectional=True, backend=args.backend, dtype=np.float64,
                       seed=args.seed),
                   LSTM(3, 4, num_layers=2, bidirectional=True, backend=args.backend, dtype=np.float64,
                        seed=args.seed),
                   GRU(3, 4, num_layers=2, bidirectional=True, backend=args.backend, dtype=np.float64,
                       seed=args.seed)):
        errors = gradcheck(module, rng.standard_normal((5, 3, 3)), lengths=[5, 2, 4], seed=args.seed)
        name, worst = max(errors.items(), key=lambda kv: kv[1])
        worst_overall = max(worst_overall, worst)
        verdict = "ok" if worst < GRADCHECK_TOLERANCE else "FAILED"
        print(f"  {type(module).__name__:4s} 2 layers x 2 directions, lengths [5, 2, 4]: "
              f"{len(errors)} gradients, max relative error {worst:.1e} ({name}) {verdict}")
    return 0 if worst_overall < GRADCHECK_TOLERANCE else 1


def _info(args):
    print(f"pyrnn {__version__}  (Python {platform.python_version()}, NumPy {np.__version__}, "
          f"{platform.machine()})")
    print("backends (best first):")
    for name, reason in backend_status().items():
        print(f"  {name:8s} {'available' if reason is None else 'unavailable: ' + reason}")
    return 0


def _seed(text):
    """argparse type: a non-negative integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {value}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(prog="pyrnn", description="Fused RNN/LSTM/GRU kernels with BPTT.")
    parser.add_argument("--version", action="version", version=f"pyrnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="forward/backward on random data and a gradient check")
    demo.add_argument("--backend", default="auto", help="backend name or 'auto' (see `pyrnn info`)")
    demo.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    demo.set_defaults(run=_demo)
    info = sub.add_parser("info", help="version and backends with their availability")
    info.set_defaults(run=_info)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (InputError, BackendUnavailableError, UsageError) as exc:
        # A user-facing error: one line, no traceback.
        print(f"pyrnn {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
