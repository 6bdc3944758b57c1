"""pyrnn.torch vs torch.nn over the grid of layer shapes users run, in ONE process.

    python benchmarks/shape_grid.py [--cells lstm gru rnn_tanh] [--hidden 64 128 ...] [--batch 1 8 20 64]
                                    [--steps 35] [--long-rows] [--rounds 3] [--threads 2]
                                    [--x-no-grad] [--out benchmarks/results/shape-grid/NAME]

For each cell x H x B x pass (forward in eval mode under no_grad; forward + backward
in train mode with a gradient flowing to x), torch.nn's module and pyrnn.torch's
(same weights, same input, I = H, one layer) are timed in alternating blocks
(harness.time_interleaved) and the median per call taken. ``--long-rows`` adds
T = 100 at H in {256, 512} for LSTM and GRU. Written to --out: results.json
(every point: times, ratio, % of the GEMM peak of both contenders), table.md and
heatmap.png (pyrnn.torch / torch.nn per (H, B), one panel per cell and pass;
< 1 = pyrnn faster). Absolute times on shared machines are noise; the ratio in
one run is the figure. ``--x-no-grad``: forward + backward with an input that
needs no gradient (a first layer reading data rather than an embedding's
output); pyrnn then leaves dx's products out, torch.nn computes them anyway
(its time is the same either way), and the % of peak still counts them for both.
"""
import argparse
import datetime
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from configs import gemm_flops  # noqa: E402
from harness import cpu_model, measure_gemm_peak, time_interleaved, torch_step  # noqa: E402

import pyrnn  # noqa: E402

HIDDEN = [64, 128, 200, 256, 512, 650, 1024]
BATCH = [1, 8, 20, 64]
TARGETS = {"fwd": 1.0, "fwd+bwd": 0.9}   # pyrnn.torch / torch.nn at most, in every cell of the grid


def grid(cells, hidden, batch, steps, long_rows):
    """The points (cell, T, B, H), the T = steps grid first, then the long rows."""
    points = [(c, steps, b, h) for c in cells for h in hidden for b in batch]
    if long_rows:
        points += [(c, 100, b, h) for c in cells if c in ("lstm", "gru") for h in (256, 512) for b in batch]
    return points


def measure(cell, T, B, H, pas, rounds, peak, input_grad=True):
    """One point: both contenders on the same weights and data."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, H), dtype=np.float32)
    dy = rng.standard_normal((T, B, H), dtype=np.float32)
    backward = pas == "fwd+bwd"
    ref = torch_step(cell, H, H, x, dy, backward, input_grad=input_grad)
    state = ref.module.state_dict()
    sd = {k: v.numpy() for k, v in state.items()}
    runs = {"torch.nn": ref,
            "pyrnn.torch": torch_step(cell, H, H, x, dy, backward, sd, drop_in=True, input_grad=input_grad)}
    times = time_interleaved(runs, rounds=rounds, block_time=0.2, settle=0.2)
    flops = gemm_flops(cell, T, B, H, H, backward)
    return dict(cell=cell, T=T, B=B, H=H, I=H, pass_=pas, torch_ms=times["torch.nn"] * 1e3,
                pyrnn_ms=times["pyrnn.torch"] * 1e3, ratio=times["pyrnn.torch"] / times["torch.nn"],
                torch_peak=flops / times["torch.nn"] / peak, pyrnn_peak=flops / times["pyrnn.torch"] / peak)


def write_table(rows, header, path):
    lines = [header, "", "| cell | T | B | H | pass | torch.nn ms (% peak) | pyrnn.torch ms (% peak) | ratio | target |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        target = TARGETS[r["pass_"]]
        mark = "" if r["ratio"] <= target else " **miss**"
        lines.append(f"| {r['cell']} | {r['T']} | {r['B']} | {r['H']} | {r['pass_']} | {r['torch_ms']:.3f} "
                     f"({r['torch_peak']:.0%}) | {r['pyrnn_ms']:.3f} ({r['pyrnn_peak']:.0%}) | "
                     f"{r['ratio']:.2f}{mark} | <= {target} |")
    misses = [r for r in rows if r["ratio"] > TARGETS[r["pass_"]]]
    lines += ["", f"{len(rows) - len(misses)} of {len(rows)} points meet the target; worst ratio "
              f"{max(r['ratio'] for r in rows):.2f}."]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def write_heatmap(rows, cells, steps, header, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    passes = list(TARGETS)
    fig, axes = plt.subplots(len(passes), len(cells), figsize=(4.2 * len(cells), 3.6 * len(passes)), squeeze=False)
    norm = TwoSlopeNorm(vmin=0.25, vcenter=1.0, vmax=2.0)
    for i, pas in enumerate(passes):
        for j, cell in enumerate(cells):
            pts = [r for r in rows if r["cell"] == cell and r["pass_"] == pas and r["T"] == steps]
            hs = sorted({r["H"] for r in pts})
            bs = sorted({r["B"] for r in pts})
            ratio = np.full((len(hs), len(bs)), np.nan)
            for r in pts:
                ratio[hs.index(r["H"]), bs.index(r["B"])] = r["ratio"]
            ax = axes[i][j]
            ax.imshow(ratio, cmap="RdYlGn_r", norm=norm, aspect="auto")
            for (a, b), v in np.ndenumerate(ratio):
                if np.isfinite(v):
                    ax.text(b, a, f"{v:.2f}", ha="center", va="center", fontsize=8,
                            fontweight="bold" if v > TARGETS[pas] else "normal")
            ax.set_xticks(range(len(bs)), [str(b) for b in bs])
            ax.set_yticks(range(len(hs)), [str(h) for h in hs])
            ax.set_xlabel("batch B")
            ax.set_ylabel("hidden H (= input)")
            ax.set_title(f"{cell} {pas}, T={steps} (target <= {TARGETS[pas]})", fontsize=9)
    fig.suptitle("pyrnn.torch / torch.nn time (< 1: pyrnn faster; bold: miss)\n" + header, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=["lstm", "gru", "rnn_tanh"])
    parser.add_argument("--hidden", nargs="+", type=int, default=HIDDEN)
    parser.add_argument("--batch", nargs="+", type=int, default=BATCH)
    parser.add_argument("--steps", type=int, default=35, help="sequence length T of the grid")
    parser.add_argument("--long-rows", action="store_true", help="add T=100 rows at H 256, 512 (LSTM, GRU)")
    parser.add_argument("--passes", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--x-no-grad", action="store_true",
                        help="forward + backward with an input that needs no gradient (no dx)")
    parser.add_argument("--out", default=None, help="folder for results.json, table.md, heatmap.png")
    args = parser.parse_args(argv)

    import torch
    from pyrnn.backends import get_backend
    torch.set_num_threads(args.threads)
    peak = measure_gemm_peak()
    header = (f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {cpu_model()}, "
              f"{os.cpu_count()} CPUs, torch {torch.__version__} ({args.threads} threads), pyrnn "
              f"{pyrnn.__version__} (backend {get_backend('auto').name}), float32, I = H, one layer"
              f"{', x needs no gradient' if args.x_no_grad else ''}; "
              f"np.matmul GEMM peak {peak / 1e9:.0f} GFLOP/s")
    print("# " + header, flush=True)
    rows, start = [], time.perf_counter()
    for cell, T, B, H in grid(args.cells, args.hidden, args.batch, args.steps, args.long_rows):
        for pas in args.passes:
            r = measure(cell, T, B, H, pas, args.rounds, peak, input_grad=not args.x_no_grad)
            rows.append(r)
            print(f"{cell:8s} T={T:3d} B={B:2d} H={H:4d} {pas:7s} torch.nn {r['torch_ms']:9.3f} ms "
                  f"({r['torch_peak']:4.0%}) pyrnn.torch {r['pyrnn_ms']:9.3f} ms ({r['pyrnn_peak']:4.0%}) "
                  f"ratio {r['ratio']:.2f}{'' if r['ratio'] <= TARGETS[pas] else '  MISS'}"
                  f"   [{time.perf_counter() - start:5.0f} s]", flush=True)
    # The peak again at the end, and the best of both for the table: a slow phase of this shared
    # machine during one measurement would otherwise inflate every % of peak (seen: 176 then 339).
    peak_end = measure_gemm_peak()
    if peak_end > peak:
        for r in rows:
            r["torch_peak"] *= peak / peak_end
            r["pyrnn_peak"] *= peak / peak_end
    header += f" at the start, {peak_end / 1e9:.0f} at the end (the % of peak use the larger)"
    print("# " + header, flush=True)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "results.json"), "w", encoding="utf-8") as f:
            json.dump(dict(header=header, targets=TARGETS, rows=rows), f, indent=1)
        write_table(rows, header, os.path.join(args.out, "table.md"))
        write_heatmap(rows, args.cells, args.steps, header, os.path.join(args.out, "heatmap.png"))
        print(f"wrote {args.out}/results.json, table.md, heatmap.png")
    misses = [r for r in rows if r["ratio"] > TARGETS[r["pass_"]]]
    print(f"{len(rows) - len(misses)} of {len(rows)} points meet the target", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
