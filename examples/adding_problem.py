"""Long-term dependencies: the adding problem (Hochreiter & Schmidhuber 1997) and vanishing gradients.

Each sequence holds T random numbers and two markers; the target is the sum
of the two marked numbers, one in the first half and one in the second, so
the network must carry a number across up to T steps. Always answering 1
scores the baseline MSE 1/6 = 0.167. A vanilla RNN (tanh), an LSTM (chrono
initialisation, Tallec & Ollivier 2018) and a GRU are trained with the same
budget at each T on fresh random sequences and tested on 1,000 held-out ones.
The picture shows the test MSE during training and the gradient norm
||dL/dh_t|| at each step t (at T = the longest length), which in the vanilla
RNN vanishes going back in time.

    python examples/adding_problem.py            # T = 50 and 200 (a few minutes here)
    python examples/adding_problem.py --quick    # T = 20, seconds
"""
import os
import sys

from _common import Clock, given_or, UsageError, check_backend, out_dir, parser, pyplot, run, write_json

from pyrnn.models import SequenceRegressor
from pyrnn.models.data import ADDING_BASELINE_MSE, adding_problem
from pyrnn.train import Adam, clip_grad_norm

NAME = "adding_problem.py"
FAR_BELOW = 0.1 * ADDING_BASELINE_MSE      # "far below the baseline": under a tenth of it
NOT_BELOW = 0.5 * ADDING_BASELINE_MSE      # "does not": still above half of it


def main(argv=None):
    return run(NAME, _main, argv)


def _ints(text, name):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"{name} must be comma-separated integers, got {text!r}") from None
    if not values or min(values) < 4:
        raise UsageError(f"{name} must list integers >= 4, got {text!r}")
    return values


def train_one(cell, T, args, hidden, steps, X_test, y_test, grad_batch):
    model = SequenceRegressor(2, hidden=hidden, cell=cell, chrono=T if cell == "lstm" else None,
                              backend=args.backend, seed=args.seed)
    norms_init = model.hidden_gradient_norms(*grad_batch)
    opt = Adam(model, lr=args.lr)
    curve = [(0, model.eval().loss(X_test, y_test))]
    model.train()
    eval_every = max(steps // 20, 1)
    clock = Clock()
    for step in range(1, steps + 1):
        X, y = adding_problem(args.batch, T, seed=[args.seed, T, step])    # fresh sequences every step
        model.zero_grad()
        model.loss_and_backward(X, y)
        clip_grad_norm(model, 1.0)
        opt.step()
        if step % eval_every == 0 or step == steps:
            curve.append((step, model.eval().loss(X_test, y_test)))
            model.train()
    seconds = clock.seconds()
    return dict(test_mse=curve[-1][1], initial_mse=curve[0][1], curve=curve, seconds=seconds, steps=steps,
                grad_norms_init=norms_init, grad_norms=model.hidden_gradient_norms(*grad_batch),
                backend=model.rnn.backend)


def _main(argv):
    p = parser(NAME, __doc__.split("\n\n")[0])
    p.add_argument("--lengths", default=None, help="sequence lengths T (default 50,200; 20 with --quick)")
    p.add_argument("--cells", default="rnn,lstm,gru", help="cells to train (default: %(default)s)")
    p.add_argument("--steps", type=int, default=None, help="training steps per model (default 2000; 600 with --quick)")
    p.add_argument("--hidden", type=int, default=None, help="hidden size (default 64; 32 with --quick)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (default 2e-3; 5e-3 with --quick)")
    args = p.parse_args(argv)
    check_backend(args.backend)
    lengths = _ints(given_or(args.lengths, ("20" if args.quick else "50,200")), "--lengths")
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    if not cells or any(c not in ("rnn", "lstm", "gru") for c in cells):
        raise UsageError(f"--cells must list rnn, lstm and/or gru, got {args.cells!r}")
    steps = given_or(args.steps, (600 if args.quick else 2000))
    args.lr = given_or(args.lr, (5e-3 if args.quick else 2e-3))
    hidden = given_or(args.hidden, (32 if args.quick else 64))
    if min(steps, hidden, args.batch) < 1 or args.lr <= 0:
        raise UsageError("--steps, --hidden, --batch and --lr must be positive")
    out = out_dir(args.out)
    print(f"adding problem: T = {lengths}, cells {cells}, {hidden} units, {steps} steps of {args.batch} fresh "
          f"sequences each, Adam {args.lr:g}, clip 1; baseline MSE {ADDING_BASELINE_MSE:.3f}; backend {args.backend}")
    results = {}
    for T in lengths:
        X_test, y_test = adding_problem(1000, T, seed=[999, T])         # held out: a seed no step uses
        grad_batch = (X_test[:100], y_test[:100])
        for cell in cells:
            r = train_one(cell, T, args, hidden, steps, X_test, y_test, grad_batch)
            results[f"{cell}_T{T}"] = dict(cell=cell, T=T, **r)
            print(f"  T={T:4d} {cell.upper():4s}: test MSE {r['initial_mse']:.4f} -> {r['test_mse']:.4f} "
                  f"({r['test_mse'] / ADDING_BASELINE_MSE:.1%} of the baseline) in {r['seconds']:.0f} s; "
                  f"||dL/dh_t|| at t=0 / t=T-1: {r['grad_norms'][0]:.1e} / {r['grad_norms'][-1]:.1e}", flush=True)

    checks = {}
    for T in lengths:
        for cell in cells:
            mse = results[f"{cell}_T{T}"]["test_mse"]
            if cell in ("lstm", "gru"):
                checks[f"{cell}_T{T}_far_below_baseline"] = mse < FAR_BELOW
            elif T >= 200:
                checks[f"rnn_T{T}_not_below_baseline"] = mse > NOT_BELOW
    _plot(os.path.join(out, "adding.png"), results, lengths, cells, steps)
    write_json(out, dict(example="adding_problem", quick=args.quick, lengths=lengths, cells=cells, hidden=hidden,
                         steps=steps, batch=args.batch, lr=args.lr, seed=args.seed, baseline_mse=ADDING_BASELINE_MSE,
                         far_below=FAR_BELOW, not_below=NOT_BELOW, checks=checks, bar_met=all(checks.values()),
                         results=results))
    failed = [k for k, ok in checks.items() if not ok]
    table = "; ".join(f"T={T}: " + ", ".join(f"{c.upper()} {results[f'{c}_T{T}']['test_mse']:.4f}" for c in cells)
                      for T in lengths)
    print(f"test MSE (baseline {ADDING_BASELINE_MSE:.3f}): {table}; "
          f"{'NOT met: ' + ', '.join(failed) if failed else 'all checks met'}"
          f"; adding.png and metrics.json in {out}")
    return 0


def _plot(path, results, lengths, cells, steps):
    plt = pyplot()
    colors = {"rnn": "tab:red", "lstm": "tab:blue", "gru": "tab:green"}
    fig, axes = plt.subplots(1, len(lengths) + 1, figsize=(5 * (len(lengths) + 1), 4.2), dpi=100)
    for ax, T in zip(axes, lengths):
        for cell in cells:
            steps_, mse = zip(*results[f"{cell}_T{T}"]["curve"])
            ax.plot(steps_, mse, color=colors[cell], label=f"{cell.upper()} ({mse[-1]:.4f})")
        ax.axhline(ADDING_BASELINE_MSE, color="gray", ls="--", lw=1, label="baseline 0.167")
        ax.set_yscale("log")
        ax.set_xlabel("training step")
        ax.set_ylabel("held-out MSE")
        ax.set_title(f"adding problem, T = {T}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    T = max(lengths)
    ax = axes[-1]
    for cell in cells:
        r = results[f"{cell}_T{T}"]
        ax.plot(range(T), r["grad_norms"], color=colors[cell], label=f"{cell.upper()} after training")
        ax.plot(range(T), r["grad_norms_init"], color=colors[cell], ls=":", label=f"{cell.upper()} at initialisation")
    ax.set_yscale("log")
    ax.set_xlabel("time step t")
    ax.set_ylabel("||dL/dh_t|| (mean over 100 sequences)")
    ax.set_title(f"gradient reaching step t, T = {T}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
