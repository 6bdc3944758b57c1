"""torch.nn against pyrnn.torch in many short interleaved blocks: the spread, not one median.

    python benchmarks/dev/block_medians.py [--cell lstm] [--shape T,B,H] [--blocks 40] [--calls 10]
                                           [--x-no-grad] [--frozen] [--threads 2]

One training step (forward, then backward of a fixed dy) of a one-layer module, I = H, same
weights and data for both. Each block pauses 0.2 s (idle threads stop spinning), makes one untimed
call and then times --calls calls; the two contenders alternate block by block. Prints, per
contender, the distribution of the block medians (min, quartiles, max), how many blocks were more
than 1.3x slower than that contender's fastest block, and the ratio of the two medians of block
medians. On the shared 2-core machines both contenders have runs of blocks 1.3-1.9x slower than
the rest (another tenant on the host; no steal time shows), which can decide a 3-round median
(shape_grid.py) either way; this shows whether a gap is the kernels' or the machine's.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import torch_step  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="lstm", choices=["lstm", "gru", "rnn_tanh", "rnn_relu"])
    parser.add_argument("--shape", default="35,20,256", help="T,B,H")
    parser.add_argument("--blocks", type=int, default=40)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--x-no-grad", action="store_true", help="x needs no gradient (a first layer on data)")
    parser.add_argument("--frozen", action="store_true", help="the layer's weights need no gradient")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.frozen and args.x_no_grad:
        parser.error("--frozen with --x-no-grad leaves nothing to differentiate")
    T, B, H = (int(v) for v in args.shape.split(","))
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, H), dtype=np.float32)
    dy = rng.standard_normal((T, B, H), dtype=np.float32)
    ref = torch_step(args.cell, H, H, x, dy, True, input_grad=not args.x_no_grad)
    state = {k: v.numpy() for k, v in ref.module.state_dict().items()}
    steps = {"torch.nn": ref,
             "pyrnn.torch": torch_step(args.cell, H, H, x, dy, True, state, drop_in=True,
                                       input_grad=not args.x_no_grad)}
    for step in steps.values():
        step.module.requires_grad_(not args.frozen)
        for _ in range(5):
            step()
    medians = {name: [] for name in steps}
    for _ in range(args.blocks):
        for name, step in steps.items():
            time.sleep(0.2)
            step()
            times = []
            for _ in range(args.calls):
                t0 = time.perf_counter()
                step()
                times.append(time.perf_counter() - t0)
            medians[name].append(1e3 * float(np.median(times)))
    print(f"{args.cell} T={T} B={B} H={H} forward + backward, x {'without' if args.x_no_grad else 'with'} "
          f"gradient{', frozen weights' if args.frozen else ''}, {args.threads} threads, {args.blocks} blocks of "
          f"{args.calls} calls")
    for name, v in medians.items():
        v = np.array(v)
        q1, q2, q3 = np.percentile(v, [25, 50, 75])
        print(f"  {name:12s} block medians ms: min {v.min():.2f}  q1 {q1:.2f}  median {q2:.2f}  q3 {q3:.2f}  "
              f"max {v.max():.2f}; {(v > 1.3 * v.min()).sum()} of {len(v)} blocks > 1.3x its fastest")
    print(f"  pyrnn.torch / torch.nn, medians of the block medians: "
          f"{np.median(medians['pyrnn.torch']) / np.median(medians['torch.nn']):.2f}")


if __name__ == "__main__":
    main()
