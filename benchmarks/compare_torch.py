"""pyrnn vs torch.nn on the CPU, side by side in ONE process: ratios and % of GEMM peak.

    python benchmarks/compare_torch.py [--backends numba] [--configs large small]
                                       [--modes lstm gru rnn_tanh] [--rounds 5] [--markdown]

For each config x cell x pass (forward in eval mode; forward + backward in
train mode), every contender (torch and each pyrnn backend, same threads,
same weights, same input) is timed in alternating blocks (harness.py) and
the median per call taken. The
figures that matter are the ratios pyrnn/torch (< 1 = pyrnn faster) and the
fraction of this machine's float32 GEMM throughput (np.matmul, measured at
the start) that each run reaches, counting only GEMM FLOPs (configs.py).
"""
import argparse
import datetime
import os
import platform
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from configs import CONFIGS, gemm_flops  # noqa: E402
from harness import make_pyrnn, measure_gemm_peak, pyrnn_step, time_interleaved, torch_step  # noqa: E402

import pyrnn  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=[b for b in pyrnn.available_backends() if b != "numpy"])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--modes", nargs="+", default=["lstm", "gru", "rnn_tanh"])
    parser.add_argument("--passes", nargs="+", default=["fwd", "fwd+bwd"], choices=["fwd", "fwd+bwd"])
    parser.add_argument("--rounds", type=int, default=5, help="alternating timing rounds")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--drop-in", action="store_true",
                        help="also time pyrnn.torch's module (torch autograd around the default backend) "
                             "as contender 'pyrnn.torch'")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)

    import torch
    torch.set_num_threads(args.threads)
    peak = measure_gemm_peak()
    print(f"# {datetime.date.today()} {platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}"
          f" ({args.threads} threads), numpy {np.__version__}; float32; "
          f"np.matmul GEMM peak {peak / 1e9:.0f} GFLOP/s")
    contenders = args.backends + (["pyrnn.torch"] if args.drop_in else [])
    rows = []
    for cfg in args.configs:
        T, B, I, H = CONFIGS[cfg]
        rng = np.random.default_rng(0)
        x = rng.standard_normal((T, B, I), dtype=np.float32)
        dy = rng.standard_normal((T, B, H), dtype=np.float32)
        for mode in args.modes:
            for pas in args.passes:
                backward = pas == "fwd+bwd"
                layers = {b: make_pyrnn(mode, I, H, b) for b in args.backends}
                sd = next(iter(layers.values())).state_dict()
                for layer in layers.values():
                    layer.load_state_dict(sd)
                runs = {"torch": torch_step(mode, I, H, x, dy, backward, sd)}
                runs.update({b: pyrnn_step(layer, x, dy, backward) for b, layer in layers.items()})
                if args.drop_in:
                    runs["pyrnn.torch"] = torch_step(mode, I, H, x, dy, backward, sd, drop_in=True)
                times = time_interleaved(runs, rounds=args.rounds)
                flops = gemm_flops(mode, T, B, I, H, backward)
                rows.append((cfg, mode, pas, times, flops))
                line = f"{cfg:6s} {mode:8s} {pas:8s} torch {times['torch'] * 1e3:8.2f} ms ({flops / times['torch'] / peak:4.0%})"
                for b in contenders:
                    line += (f" | {b} {times[b] * 1e3:8.2f} ms ({flops / times[b] / peak:4.0%}) "
                             f"ratio {times[b] / times['torch']:.2f}")
                print(line, flush=True)
    if args.markdown:
        head = "| config | cell | pass | torch ms (% peak) | " + " | ".join(
            f"{b} ms (% peak) | {b}/torch" for b in contenders) + " |"
        print("\n" + head + "\n|" + "---|" * (head.count("|") - 1))
        for cfg, mode, pas, times, flops in rows:
            cells = [f"{times['torch'] * 1e3:.2f} ({flops / times['torch'] / peak:.0%})"]
            for b in contenders:
                cells += [f"{times[b] * 1e3:.2f} ({flops / times[b] / peak:.0%})", f"**{times[b] / times['torch']:.2f}**"]
            print(f"| {cfg} T={CONFIGS[cfg][0]} B={CONFIGS[cfg][1]} H={CONFIGS[cfg][3]} | {mode} | {pas} | "
                  + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
