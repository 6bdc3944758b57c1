"""PixelRNN on the digits: a Row LSTM that draws binary digits pixel by pixel, each pixel conditioned on all before it.

The digits are binarised (and by default upsampled to 16x16 first). Three
models of p(x), all trained on the same 80% of every digit and scored on
the held-out 20% by exact negative log-likelihood (nats per image, bits per pixel):

* independent per-pixel Bernoulli (each pixel's training frequency);
* a plain LSTM reading the pixels one by one in raster order (pyrnn.LSTM);
* the Row LSTM of van den Oord et al. 2016 (pyrnn.LSTMCell, one step per row;
  see pyrnn/models/pixelrnn.py).

    python examples/pixelrnn_digits.py            # 16x16, a few minutes here
    python examples/pixelrnn_digits.py --quick    # 8x8, seconds

Writes samples.png (fresh samples of every model), completions.png (held-out
digits whose lower half was removed, completed by the models) and metrics.json.
"""
import os
import sys

import numpy as np

from _common import Clock, UsageError, check_backend, out_dir, parser, pyplot, run, write_json
from _image_grid import show, tile

from pyrnn.models import fit
from pyrnn.models.data import stratified_split
from pyrnn.models.images import IndependentBernoulli, binarized_digits, bits_per_pixel
from pyrnn.models.pixelrnn import PixelLSTM, RowLSTM

NAME = "pixelrnn_digits.py"


def main(argv=None):
    return run(NAME, _main, argv)


def _main(argv):
    p = parser(NAME, __doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, choices=[8, 16], default=None, help="image side (default 16; 8 with --quick)")
    p.add_argument("--hidden", type=int, default=None, help="Row LSTM units (default 64; 32 with --quick)")
    p.add_argument("--baseline-hidden", type=int, default=None,
                   help="units of the pixel-by-pixel LSTM (default 128; 32 with --quick)")
    p.add_argument("--epochs", type=int, default=None, help="epochs of each model (default 30; 4 with --quick)")
    args = p.parse_args(argv)
    check_backend(args.backend)
    pick = lambda value, quick, full: (quick if args.quick else full) if value is None else value  # noqa: E731
    size = pick(args.size, 8, 16)
    hidden = pick(args.hidden, 32, 64)
    base_hidden = pick(args.baseline_hidden, 32, 128)
    epochs = pick(args.epochs, 4, 30)
    if min(hidden, base_hidden, epochs) < 1:
        raise UsageError("--hidden, --baseline-hidden and --epochs must be >= 1")
    lr = 1e-2 if args.quick else 3e-3

    X, y = binarized_digits(size)
    train, test = stratified_split(y, test_fraction=0.2, seed=0)
    out = out_dir(args.out)
    pixels = size * size
    print(f"PixelRNN digits: {len(train)} training / {len(test)} held-out binary {size}x{size} images; Row LSTM "
          f"{hidden}, plain LSTM {base_hidden}, {epochs} epochs each, backend {args.backend}")
    clock = Clock()
    results = {}
    indep = IndependentBernoulli().fit(X[train])
    nll = indep.nll(X[test])
    results["independent"] = dict(nll=nll, bits_per_pixel=bits_per_pixel(nll, pixels), parameters=pixels)
    print(f"  independent Bernoulli: {nll:.2f} nats per image ({results['independent']['bits_per_pixel']:.4f} bpp)")
    models = {"plain_lstm": PixelLSTM(size, hidden=base_hidden, backend=args.backend, seed=args.seed),
              "row_lstm": RowLSTM(size, hidden=hidden, backend=args.backend, seed=args.seed)}
    for name, model in models.items():
        start = clock.seconds()
        initial = float(model.eval().nll(X[test]).mean())
        curve = []

        def on_epoch(epoch, m):
            curve.append(float(m.eval().nll(X[test]).mean()))

        history = fit(model, (X[train],), epochs=epochs, batch_size=32, lr=lr, clip=10.0, lr_decay=0.95,
                      seed=args.seed, on_epoch=on_epoch)
        nll = curve[-1]
        results[name] = dict(nll=nll, bits_per_pixel=bits_per_pixel(nll, pixels), initial_nll=initial,
                             first_epoch_loss=history["epoch_loss"][0], final_epoch_loss=history["epoch_loss"][-1],
                             heldout_curve=curve, epoch_loss=history["epoch_loss"], steps=history["steps"],
                             parameters=model.num_parameters(), seconds=clock.seconds() - start)
        print(f"  {name.replace('_', ' ')}: held-out {initial:.2f} -> {nll:.2f} nats per image "
              f"({results[name]['bits_per_pixel']:.4f} bpp), {model.num_parameters():,} parameters, "
              f"{results[name]['seconds']:.0f} s")

    n_samples = 20 if args.quick else 40
    samples = {name: m.sample(n_samples, seed=args.seed + 1)[0] for name, m in models.items()}
    samples["independent"] = indep.sample(n_samples, seed=args.seed + 1)
    picks = [int(test[np.flatnonzero(y[test] == d)[0]]) for d in range(10)]
    half = size // 2
    completions = {name: [m.sample(given=X[picks], start_row=half, seed=args.seed + 10 + k)[0] for k in range(3)]
                   for name, m in models.items()}
    _plot_samples(os.path.join(out, "samples.png"), samples, results, size)
    _plot_completions(os.path.join(out, "completions.png"), X[picks], completions, half)
    results["seconds"] = clock.seconds()
    write_json(out, dict(example="pixelrnn_digits", quick=args.quick, size=size, hidden=hidden,
                         baseline_hidden=base_hidden, epochs=epochs, lr=lr, seed=args.seed, n_train=len(train),
                         n_test=len(test), results=results))
    r = results
    print(f"held-out NLL, nats per image (bits per pixel): Row LSTM {r['row_lstm']['nll']:.2f} "
          f"({r['row_lstm']['bits_per_pixel']:.4f}), plain LSTM {r['plain_lstm']['nll']:.2f} "
          f"({r['plain_lstm']['bits_per_pixel']:.4f}), independent {r['independent']['nll']:.2f} "
          f"({r['independent']['bits_per_pixel']:.4f}); {clock.seconds():.0f} s; samples.png, completions.png "
          f"and metrics.json in {out}")
    return 0


TITLES = {"row_lstm": "Row LSTM", "plain_lstm": "plain LSTM, pixel by pixel", "independent": "independent pixels"}


def _plot_samples(path, samples, results, size):
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), dpi=100, gridspec_kw=dict(width_ratios=[2, 1, 1]))
    for ax, name in zip(axes, ["row_lstm", "plain_lstm", "independent"]):
        imgs = samples[name] if name == "row_lstm" else samples[name][:len(samples[name]) // 2]
        show(ax, imgs, cols=10 if name == "row_lstm" else 5,
             title=f"{TITLES[name]}\nheld-out {results[name]['nll']:.1f} nats/image "
                   f"({results[name]['bits_per_pixel']:.3f} bits/pixel)")
    fig.suptitle(f"Samples of binary {size}x{size} digits, drawn pixel by pixel in raster order", fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_completions(path, originals, completions, half):
    plt = pyplot()
    masked = originals.copy()
    masked[:, half:] = 0.5                               # grey: what the models do not see
    rows = [("held-out digit", originals), ("upper half given", masked)]
    for name in ("row_lstm", "plain_lstm"):
        rows += [(f"{TITLES[name].split(',')[0]} #{k + 1}", c) for k, c in enumerate(completions[name])]
    fig, axes = plt.subplots(len(rows), 1, figsize=(7.5, 0.75 * len(rows) + 0.5), dpi=100)
    for ax, (label, imgs) in zip(axes, rows):
        ax.imshow(tile(imgs, cols=len(imgs)), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle("Completions of held-out digits whose lower half was removed (3 draws per model)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
