"""The cells torch.nn does not have, against what a torch user writes today: IndRNN.

    python benchmarks/compare_cells.py [--configs large medium small] [--backends c numba] [--rounds 5]

IndRNN (h_t = f(W_ih x_t + b_ih + u * h_{t-1})) as a torch user writes it: the
input projection of all T*B rows as one matmul, then a Python loop over time
of ``h = tanh(xw[t] + u * h)`` on torch tensors (autograd for the backward).
pyrnn's layer (pyrnn.IndRNN, same weights) on each backend; one process,
alternating blocks (harness.time_interleaved), median per call. Each pyrnn
contender is first checked against the torch loop (forward outputs, and in
fwd+bwd every gradient) and is timed only if it matches (float32, 1e-4).
Ratios < 1 mean pyrnn is faster.
"""
import argparse
import datetime
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from configs import CONFIGS  # noqa: E402
from harness import cpu_model, pyrnn_step, time_interleaved  # noqa: E402

import pyrnn  # noqa: E402

TOL = 1e-4


def torch_loop(state_dict, x, dy, backward):
    """The torch user's IndRNN: one projection matmul, a loop over time; returns (run, grads())."""
    import torch
    p = {k: torch.tensor(v, requires_grad=backward) for k, v in state_dict.items()}
    xt = torch.tensor(x, requires_grad=backward)
    dyt = torch.tensor(dy)

    def forward():
        T, B, I = xt.shape
        xw = (xt.reshape(T * B, I) @ p["weight_ih_l0"].T + p["bias_ih_l0"]).reshape(T, B, -1)
        h = xt.new_zeros(B, xw.shape[-1])
        ys = []
        for t in range(T):
            h = torch.tanh(xw[t] + p["weight_hh_l0"] * h)
            ys.append(h)
        return torch.stack(ys)

    if backward:
        def run():
            for v in (*p.values(), xt):
                v.grad = None
            forward().backward(dyt)

        def grads():
            return {"x": xt.grad.numpy(), **{k: v.grad.numpy() for k, v in p.items()}}
    else:
        def run():
            with torch.no_grad():
                forward()

        def grads():
            return None
    return run, forward, grads


def _scaled_error(got, want):
    """max |got - want| relative to the array's scale (weight gradients sum over T*B rows), as the tests."""
    return float(np.abs(got - want).max()) / max(1.0, float(np.abs(want).max()))


def check(layer, x, dy, backward, reference_forward, reference_grads):
    """Largest scaled error of pyrnn's outputs (and every gradient) against the torch loop."""
    import torch
    layer.train(backward)
    layer.zero_grad()
    y, _ = layer(x)
    with torch.no_grad():
        err = _scaled_error(y, reference_forward().numpy())
    if backward:
        dx, _ = layer.backward(dy)
        ref = reference_grads()
        err = max(err, _scaled_error(dx, ref["x"]), *(_scaled_error(layer.grads[k], ref[k]) for k in layer.grads))
    return err


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--backends", nargs="+",
                        default=[b for b in pyrnn.available_backends() if b in ("c", "numba")])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import torch
    torch.set_num_threads(args.threads)
    print(f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {cpu_model()}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__} ({args.threads} threads), float32, one layer, "
          f"I = H; IndRNN (tanh) vs a plain torch loop\n")
    print("| config | pass | torch loop ms | " + " | ".join(f"{b} ms | {b}/torch | {b} max error"
                                                         for b in args.backends) + " |")
    print("|---|---|---|" + "---|---|---|" * len(args.backends))
    for cfg in args.configs:
        T, B, I, H = CONFIGS[cfg]
        rng = np.random.default_rng(0)
        x = rng.standard_normal((T, B, I), dtype=np.float32)
        dy = rng.standard_normal((T, B, H), dtype=np.float32)
        for backward in (False, True):
            layers = {b: pyrnn.IndRNN(I, H, backend=b, seed=0) for b in args.backends}
            sd = next(iter(layers.values())).state_dict()
            run, forward, grads = torch_loop(sd, x, dy, backward)
            run()                                   # fills the torch gradients the check reads
            errors = {b: check(layer, x, dy, backward, forward, grads) for b, layer in layers.items()}
            runs = {"torch": run}
            runs.update({b: pyrnn_step(layer, x, dy, backward) for b, layer in layers.items()
                         if errors[b] <= TOL})
            times = time_interleaved(runs, rounds=args.rounds)
            cells = []
            for b in args.backends:
                if b in times:
                    cells.append(f"{times[b] * 1e3:.2f} | {times[b] / times['torch']:.2f} | {errors[b]:.1e}")
                else:
                    cells.append(f"not timed | - | {errors[b]:.1e} (fails the check)")
            print(f"| {cfg} T={T} B={B} H={H} | {'fwd+bwd' if backward else 'fwd'} | "
                  f"{times['torch'] * 1e3:.2f} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
