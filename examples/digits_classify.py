"""Many-to-one classification: the 8x8 digits read row by row (T = 8 rows of I = 8 pixels).

An LSTM and a GRU each read an image one row per step; only the last hidden
state feeds the linear classifier. The data ship with scikit-learn (no
download); 20% of every class is held out for testing (the same split for
every seed). Prints the test accuracy of each cell and writes
confusion.png and metrics.json into --out.

    python examples/digits_classify.py            # default: ~10-20 s here, >= 95% test accuracy
    python examples/digits_classify.py --quick    # seconds
"""
import os
import sys

import numpy as np

from _common import Clock, UsageError, given_or, check_backend, out_dir, parser, plot_confusion, pyplot, run, write_json, confusion_matrix

from pyrnn.models import SequenceClassifier, fit
from pyrnn.models.data import load_digits_sequences, stratified_split

NAME = "digits_classify.py"
BAR = 0.95


def main(argv=None):
    return run(NAME, _main, argv)


def _main(argv):
    p = parser(NAME, __doc__.split("\n\n")[0])
    p.add_argument("--cells", default="lstm,gru", help="comma-separated cells to train (default: %(default)s)")
    p.add_argument("--hidden", type=int, default=None, help="hidden size (default 128; 32 with --quick)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default 40; 4 with --quick)")
    args = p.parse_args(argv)
    check_backend(args.backend)
    hidden = given_or(args.hidden, (32 if args.quick else 128))
    epochs = given_or(args.epochs, (4 if args.quick else 40))
    if min(hidden, epochs) < 1:
        raise UsageError(f"--hidden and --epochs must be >= 1, got {hidden} and {epochs}")
    lr = 1e-2 if args.quick else 2e-3
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]

    X, y = load_digits_sequences()                        # (1797, 8, 8): image n, row t, pixel i
    train, test = stratified_split(y, test_fraction=0.2, seed=0)
    out = out_dir(args.out)
    print(f"digits: {len(train)} training and {len(test)} test images, each read as 8 rows of 8 pixels; "
          f"{hidden}-unit cells, {epochs} epochs, backend {args.backend}")
    results, matrices = {}, {}
    for cell in cells:
        clock = Clock()
        model = SequenceClassifier(10, input_size=8, hidden=hidden, cell=cell, backend=args.backend, seed=args.seed)
        initial = model.eval().loss(X[train], y[train])
        history = fit(model, (X[train], y[train]), epochs=epochs, batch_size=32, lr=lr, clip=5.0, seed=args.seed)
        model.eval()
        pred = model.predict(X[test])
        acc = float(np.mean(pred == y[test]))
        matrices[cell] = confusion_matrix(y[test], pred, 10)
        results[cell] = dict(test_accuracy=acc, initial_loss=initial, final_loss=model.loss(X[train], y[train]),
                             epoch_loss=history["epoch_loss"], steps=history["steps"], seconds=clock.seconds(),
                             backend=model.modules["rnn"].backend)
        print(f"  {cell.upper()}: training loss {initial:.3f} -> {results[cell]['final_loss']:.4f} in "
              f"{history['steps']} steps ({clock.seconds():.1f} s); test accuracy {acc:.2%} "
              f"({int(np.sum(pred != y[test]))} of {len(test)} wrong)")

    plt = pyplot()
    fig, axes = plt.subplots(1, len(cells) + 1, figsize=(4.2 * (len(cells) + 1), 4.0), dpi=100)
    for ax, cell in zip(axes, cells):
        plot_confusion(ax, matrices[cell], [str(d) for d in range(10)],
                       f"{cell.upper()}: test accuracy {results[cell]['test_accuracy']:.1%}")
    for cell in cells:
        axes[-1].plot(range(1, epochs + 1), results[cell]["epoch_loss"], label=cell.upper())
    axes[-1].set_yscale("log")
    axes[-1].set_xlabel("epoch")
    axes[-1].set_ylabel("training cross-entropy (nats)")
    axes[-1].legend()
    axes[-1].grid(alpha=0.3)
    fig.suptitle("8x8 digits read row by row: many-to-one classification")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "confusion.png"))
    plt.close(fig)
    met = all(r["test_accuracy"] >= BAR for r in results.values())
    write_json(out, dict(example="digits_classify", quick=args.quick, hidden=hidden, epochs=epochs, seed=args.seed,
                         bar=BAR, bar_met=met, chance=0.1, results=results))
    summary = ", ".join(f"{c.upper()} {r['test_accuracy']:.2%}" for c, r in results.items())
    print(f"test accuracy: {summary} (bar {BAR:.0%}: {'met' if met else 'NOT met'}); "
          f"confusion.png and metrics.json in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
