"""Sequence autoencoder on the 8x8 digits: 8 rows in, one 16-number code, 8 rows back out.

An LSTM encoder reads an image row by row and its last state is mapped to
a code vector; an LSTM decoder that sees nothing but the code rebuilds the
8 rows (trained as fit(X, X): the input is the target). Labels are never
used in training; afterwards they show that the codes cluster by digit.
Held out: 20% of every digit.

    python examples/autoencoder_digits.py            # ~20-60 s here
    python examples/autoencoder_digits.py --quick    # seconds

Prints the held-out reconstruction error and accuracy (pixels on/off at half
intensity, as in the picture) and how well the codes separate the digits
(5-nearest-neighbour accuracy in code space, silhouette); writes
codes.png (2-D projection of the codes, and reconstructions) and metrics.json.
"""
import os
import sys

import numpy as np

from _common import Clock, given_or, UsageError, check_backend, out_dir, parser, pyplot, run, write_json

from pyrnn.models import SequenceAutoencoder, fit
from pyrnn.models.data import load_digits_sequences, stratified_split

NAME = "autoencoder_digits.py"


def main(argv=None):
    return run(NAME, _main, argv)


def knn_accuracy(train_x, train_y, test_x, test_y, k=5):
    """Share of test points whose k nearest training points (Euclidean) vote for their label."""
    d = (test_x ** 2).sum(1)[:, None] - 2 * test_x @ train_x.T + (train_x ** 2).sum(1)[None, :]
    nearest = np.argsort(d, axis=1)[:, :k]
    votes = np.array([np.bincount(train_y[row], minlength=10).argmax() for row in nearest])
    return float(np.mean(votes == test_y))


def pca_reconstruction_mse(train, test, k):
    """The linear reference: the best k-dimensional linear code (PCA fitted on train) of the flattened images."""
    mean = train.mean(axis=0)
    _, _, vt = np.linalg.svd(train - mean, full_matrices=False)
    p = vt[:k]
    return float(np.mean(((test - mean) @ p.T @ p + mean - test) ** 2))


def _main(argv):
    p = parser(NAME, __doc__.split("\n\n")[0])
    p.add_argument("--cell", choices=["lstm", "gru", "rnn"], default="lstm")
    p.add_argument("--hidden", type=int, default=None, help="hidden size (default 128; 32 with --quick)")
    p.add_argument("--code", type=int, default=None, help="code size (default 16; 8 with --quick)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default 60; 6 with --quick)")
    p.add_argument("--projection", choices=["tsne", "pca"], default=None,
                   help="2-D projection of the codes in the picture (default tsne; pca with --quick)")
    args = p.parse_args(argv)
    check_backend(args.backend)
    hidden = given_or(args.hidden, (32 if args.quick else 128))
    code = given_or(args.code, (8 if args.quick else 16))
    epochs = given_or(args.epochs, (6 if args.quick else 60))
    projection = given_or(args.projection, ("pca" if args.quick else "tsne"))
    lr = 1e-2 if args.quick else 2e-3
    if min(hidden, code, epochs) < 1:
        raise UsageError("--hidden, --code and --epochs must be >= 1")

    X, y = load_digits_sequences()
    train, test = stratified_split(y, test_fraction=0.2, seed=0)
    out = out_dir(args.out)
    print(f"digits autoencoder: {len(train)} training / {len(test)} held-out images (8 rows of 8 pixels) -> "
          f"{code} numbers -> 8 rows; {args.cell.upper()} {hidden}, {epochs} epochs, backend {args.backend}")
    clock = Clock()
    model = SequenceAutoencoder(8, hidden=hidden, code_size=code, cell=args.cell, backend=args.backend, seed=args.seed)
    initial = model.eval().loss(X[test])
    history = fit(model, (X[train], X[train]), epochs=epochs, batch_size=32, lr=lr, clip=5.0, seed=args.seed)
    model.eval()
    recon = model.reconstruct(X[test])
    mse = float(np.mean((recon - X[test]) ** 2))
    on_off = float(np.mean((recon > 0.5) == (X[test] > 0.5)))
    mean_only = float(np.mean((X[train].mean(axis=0) - X[test]) ** 2))     # predicting the average image
    flat = X.reshape(len(X), -1)
    pca_mse = pca_reconstruction_mse(flat[train], flat[test], code)
    codes = model.encode(X).astype(np.float64)
    knn = knn_accuracy(codes[train], y[train], codes[test], y[test])
    try:
        from sklearn.metrics import silhouette_score
        silhouette = float(silhouette_score(codes[test], y[test]))
    except ImportError:                       # load_digits needed it already; kept optional all the same
        silhouette = None
    results = dict(reconstruction_mse=mse, reconstruction_accuracy=on_off, mean_image_mse=mean_only,
                   pca_mse=pca_mse, initial_loss=initial, final_loss=mse, knn_code_accuracy=knn,
                   silhouette=silhouette, epoch_loss=history["epoch_loss"], steps=history["steps"],
                   seconds=clock.seconds())
    print(f"  held-out reconstruction error {initial:.4f} -> {mse:.4f} (average image {mean_only:.4f}, "
          f"{code}-component PCA {pca_mse:.4f}) in {history['steps']} steps ({clock.seconds():.0f} s)")
    print(f"  codes: 5-nearest-neighbour digit accuracy {knn:.1%} (chance 10%), silhouette "
          f"{'n/a' if silhouette is None else f'{silhouette:.3f}'}")

    _plot(os.path.join(out, "codes.png"), codes, y, test, X, recon, projection, args.seed, results, code)
    write_json(out, dict(example="autoencoder_digits", quick=args.quick, cell=args.cell, hidden=hidden, code=code,
                         epochs=epochs, seed=args.seed, projection=projection, results=results))
    print(f"reconstruction accuracy {on_off:.2%} of held-out pixels (on/off at half intensity), mean squared error "
          f"{mse:.4f}; codes cluster by digit: 5-NN accuracy {knn:.1%}; codes.png and metrics.json in {out}")
    return 0


def _plot(path, codes, y, test, X, recon, projection, seed, results, code):
    if projection == "tsne":
        from sklearn.manifold import TSNE
        xy = TSNE(n_components=2, init="pca", perplexity=30, random_state=seed).fit_transform(codes)
        title = f"t-SNE of the {code}-number codes (all 1,797 images)"
    else:
        centred = codes - codes.mean(axis=0)
        xy = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T
        title = f"PCA of the {code}-number codes (all 1,797 images)"
    plt = pyplot()
    fig = plt.figure(figsize=(13, 5.6), dpi=100)
    ax = fig.add_axes([0.04, 0.08, 0.45, 0.82])
    cmap = plt.get_cmap("tab10")
    for d in range(10):
        sel = y == d
        ax.scatter(xy[sel, 0], xy[sel, 1], s=6, color=cmap(d), alpha=0.7)
        cx, cy = np.median(xy[sel], axis=0)
        ax.text(cx, cy, str(d), fontsize=16, weight="bold", ha="center", va="center", color=cmap(d),
                bbox=dict(facecolor="white", alpha=0.7, edgecolor="none", pad=1))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{title}\nlabels unseen in training; 5-NN held-out accuracy {results['knn_code_accuracy']:.1%}",
                 fontsize=10)
    picks = [int(test[np.flatnonzero(y[test] == d)[0]]) for d in range(10)]
    rows = {"held-out image": X[picks], "reconstruction": recon[[int(np.flatnonzero(test == i)[0]) for i in picks]]}
    for r, (name, imgs) in enumerate(rows.items()):
        for c, img in enumerate(imgs):
            a = fig.add_axes([0.53 + c * 0.046, 0.55 - r * 0.2, 0.043, 0.17])
            a.imshow(np.clip(img, 0, 1), cmap="gray_r", vmin=0, vmax=1)
            a.set_xticks([])
            a.set_yticks([])
            if c == 0:
                a.set_ylabel(name, fontsize=8)
    fig.text(0.53, 0.8, f"held-out reconstruction: mean squared error {results['reconstruction_mse']:.4f}\n"
                        f"pixels right (on/off) {results['reconstruction_accuracy']:.1%}", fontsize=10)
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
