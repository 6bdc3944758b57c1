"""pyrnn backend "cuda" vs torch.nn with cuDNN on the GPU, side by side in ONE process.

    python benchmarks/gpu_compare.py [--modes lstm gru rnn_tanh] [--passes fwd fwd+bwd]
                                     [--repeats 20] [--markdown] [--no-check]

Configs: "large" T=100 B=64 I=H=512 (as compare_torch.py), and a batch sweep B in
{1, 8, 32, 64, 128} at T=50 with I=H=256 and I=H=512. float32, one layer, one
direction. Each run is checked against torch.nn (outputs, and for fwd+bwd dx)
before it is timed (--no-check skips that); the kernels are compiled before
timing (NVRTC and cuDNN autotuning excluded: warm-up calls), GPU time is taken
with cupy.cuda.Event pairs around `repeats` calls, synchronized, median of 5 rounds,
contenders alternating. Reported: ms per call and the ratio pyrnn/cuDNN (< 1 =
pyrnn faster) with the issue's target: <= 1.0 at B >= 32, <= 0.5 at B <= 8.

Arrays stay on the device for both contenders (pyrnn gets CuPy arrays, torch
CUDA tensors), so no host transfer is timed. pyrnn's layer API is NumPy-only
for now, so pyrnn is timed at the backend level (one layer-direction:
backend.forward / backend.backward), which is exactly what a layer calls.

Without a CUDA device (or without CuPy, or without torch built with CUDA) it
exits with status 2 and says why.
"""
import argparse
import os
import statistics
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import pyrnn  # noqa: E402
from pyrnn.backends import backend_status, get_backend  # noqa: E402
from pyrnn.backends.base import GATES  # noqa: E402

LARGE = ("large", 100, 64, 512, 512)
SWEEP = [(f"T50 B{B} H{H}", 50, B, H, H) for H in (256, 512) for B in (1, 8, 32, 64, 128)]
TORCH_MODES = {"lstm": ("LSTM", {}), "gru": ("GRU", {}), "rnn_tanh": ("RNN", {"nonlinearity": "tanh"}),
               "rnn_relu": ("RNN", {"nonlinearity": "relu"})}


def fail(message):
    print(f"gpu_compare.py: {message}", file=sys.stderr)
    sys.exit(2)


def require_gpu():
    reason = backend_status().get("cuda", "backend 'cuda' is not registered")
    if reason is not None:
        fail(f"this benchmark needs a CUDA GPU with CuPy: backend 'cuda' is not available here ({reason})")
    try:
        import torch
    except ImportError:
        fail("this benchmark needs a CUDA GPU and torch with CUDA (the cuDNN peer): torch is not installed")
    if not torch.cuda.is_available():
        fail("this benchmark needs a CUDA GPU and torch with CUDA (the cuDNN peer): "
             f"torch {torch.__version__} sees no CUDA device")
    import cupy
    return cupy, torch


def gpu_time(cp, fn, repeats):
    """Milliseconds per call of fn over `repeats` calls, by CUDA events, synchronized."""
    start, stop = cp.cuda.Event(), cp.cuda.Event()
    cp.cuda.Device().synchronize()
    start.record()
    for _ in range(repeats):
        fn()
    stop.record()
    stop.synchronize()
    return cp.cuda.get_elapsed_time(start, stop) / repeats


def make_case(cp, torch, mode, T, B, I, H, seed=0):
    G = GATES[mode]
    rng = np.random.default_rng(seed)
    k = 1 / np.sqrt(H)
    w = [rng.uniform(-k, k, s).astype(np.float32) for s in ((G * H, I), (G * H, H), (G * H,), (G * H,))]
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    n_state = 2 if mode == "lstm" else 1
    state = [np.zeros((B, H), np.float32) for _ in range(n_state)]
    dy = rng.standard_normal((T, B, H)).astype(np.float32)
    cls_name, kwargs = TORCH_MODES[mode]
    tmod = getattr(torch.nn, cls_name)(I, H, **kwargs).cuda()
    with torch.no_grad():
        for name, value in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"), w):
            getattr(tmod, name).copy_(torch.from_numpy(value))
    dev = dict(x=cp.asarray(x), state=tuple(cp.asarray(s) for s in state),
               w=tuple(cp.asarray(a) for a in w), dy=cp.asarray(dy),
               dstate=tuple(cp.zeros((B, H), cp.float32) for _ in state))
    tx = torch.from_numpy(x).cuda().requires_grad_(True)
    tdy = torch.from_numpy(dy).cuda()
    return dev, tmod, tx, tdy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=["lstm", "gru", "rnn_tanh"], choices=list(TORCH_MODES))
    parser.add_argument("--passes", nargs="+", default=["fwd", "fwd+bwd"], choices=["fwd", "fwd+bwd"])
    parser.add_argument("--repeats", type=int, default=20, help="calls per timed round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--no-check", action="store_true", help="skip the parity check before timing")
    args = parser.parse_args(argv)
    cp, torch = require_gpu()
    torch.backends.cudnn.enabled = True
    impl = get_backend("cuda")
    rows = []
    for mode in args.modes:
        for name, T, B, I, H in [LARGE, *SWEEP]:
            dev, tmod, tx, tdy = make_case(cp, torch, mode, T, B, I, H)

            def pyrnn_fwd():
                impl.forward(mode, dev["x"], dev["state"], dev["w"], None, False, False)

            def pyrnn_fwd_bwd():
                _, _, saved = impl.forward(mode, dev["x"], dev["state"], dev["w"], None, False, True)
                impl.backward(mode, saved, dev["dy"], dev["dstate"])

            def torch_fwd():
                with torch.no_grad():
                    tmod(tx)

            def torch_fwd_bwd():
                out, _ = tmod(tx)
                out.backward(tdy)

            if not args.no_check:
                y, _, saved = impl.forward(mode, dev["x"], dev["state"], dev["w"], None, False, True)
                dx, _, _ = impl.backward(mode, saved, dev["dy"], dev["dstate"])
                tx.grad = None
                out, _ = tmod(tx)
                out.backward(tdy)
                for what, ours, theirs in (("y", y, out), ("dx", dx, tx.grad)):
                    err = float(cp.max(cp.abs(ours - cp.asarray(theirs.detach()))))
                    if not err <= 1e-3:
                        fail(f"{mode} {name}: {what} differs from torch.nn by {err:.2e}; not timing a wrong kernel")
            for pass_ in args.passes:
                ours, theirs = (pyrnn_fwd, torch_fwd) if pass_ == "fwd" else (pyrnn_fwd_bwd, torch_fwd_bwd)
                for fn in (ours, theirs, ours, theirs):        # warm-up: NVRTC, cuBLAS, cuDNN
                    fn()
                times = {"pyrnn": [], "cudnn": []}
                for _ in range(args.rounds):                   # alternating contenders
                    times["pyrnn"].append(gpu_time(cp, ours, args.repeats))
                    torch.cuda.synchronize()
                    times["cudnn"].append(gpu_time(cp, theirs, args.repeats))
                p, c = statistics.median(times["pyrnn"]), statistics.median(times["cudnn"])
                target = 1.0 if B >= 32 else (0.5 if B <= 8 else None)
                rows.append((name, mode, pass_, c, p, p / c, target))
                print(f"{name:>14} {mode:>8} {pass_:>7}  cudnn {c:8.3f} ms  pyrnn {p:8.3f} ms  "
                      f"ratio {p / c:5.2f}  target {'-' if target is None else f'<= {target}'}", flush=True)
    if args.markdown:
        print(f"\nGPU: {cp.cuda.runtime.getDeviceProperties(0)['name'].decode()}, pyrnn {pyrnn.__version__}, "
              f"torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}\n")
        print("| config | cell | pass | cuDNN ms | pyrnn ms | pyrnn/cuDNN | target |")
        print("|---|---|---|---|---|---|---|")
        for name, mode, pass_, c, p, ratio, target in rows:
            met = "" if target is None else (f"<= {target}: " + ("met" if ratio <= target else "NOT met"))
            print(f"| {name} | {mode} | {pass_} | {c:.3f} | {p:.3f} | **{ratio:.2f}** | {met} |")


if __name__ == "__main__":
    main()
