"""DRAW on the digits: a variational autoencoder that builds each digit on a canvas over T steps.

The digits are binarised (and by default upsampled to 16x16 first). Three
models, trained on the same 80% of every digit and scored on the held-out
20% by the negative evidence lower bound (nats per image; an upper bound on
-log p(x), averaged over several draws of the latent noise):

* a one-step VAE: DRAW with T = 1 and no attention, its one latent as large
  as DRAW's T latents together;
* DRAW without attention (read the whole image, write the whole canvas);
* DRAW with Gaussian read and write attention (N x N filter grids placed by
  the decoder; see pyrnn/models/draw.py).

    python examples/draw_digits.py            # 16x16, a few minutes here
    python examples/draw_digits.py --quick    # seconds

Writes canvas.png (the canvas after every step for a few generated digits,
with the write windows), generated.png (digits drawn from the prior by each
model) and metrics.json.
"""
import os
import sys

import numpy as np

from _common import Clock, UsageError, check_backend, out_dir, parser, pyplot, run, write_json
from _image_grid import show

from pyrnn.models import DRAW, IndependentBernoulli, fit
from pyrnn.models.data import stratified_split
from pyrnn.models.images import binarized_digits

NAME = "draw_digits.py"
TITLES = {"vae": "one-step VAE", "draw": "DRAW, no attention", "draw_attention": "DRAW with attention"}


def main(argv=None):
    return run(NAME, _main, argv)


def _main(argv):
    p = parser(NAME, __doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, choices=[8, 16], default=None, help="image side (default 16)")
    p.add_argument("--steps", type=int, default=None, help="DRAW's T (default 8; 4 with --quick)")
    p.add_argument("--hidden", type=int, default=None, help="units of each LSTM (default 128; 48 with --quick)")
    p.add_argument("--latent", type=int, default=None, help="size of each z_t (default 8; 4 with --quick)")
    p.add_argument("--read", type=int, default=None, help="read grid N (default 4; 3 with --quick)")
    p.add_argument("--write", type=int, default=None, help="write grid N (default 6; 4 with --quick)")
    p.add_argument("--epochs", type=int, default=None, help="epochs of each model (default 60; 6 with --quick)")
    p.add_argument("--lr", type=float, default=None, help="Adam's learning rate (default 3e-3; 5e-3 with --quick)")
    args = p.parse_args(argv)
    check_backend(args.backend)
    pick = lambda value, quick, full: (quick if args.quick else full) if value is None else value  # noqa: E731
    size, steps, hidden, latent = pick(args.size, 16, 16), pick(args.steps, 4, 8), pick(args.hidden, 48, 128), \
        pick(args.latent, 4, 8)
    read, write, epochs = pick(args.read, 3, 4), pick(args.write, 4, 6), pick(args.epochs, 6, 60)
    lr = pick(args.lr, 5e-3, 3e-3)
    if min(steps, hidden, latent, epochs) < 1 or min(read, write) < 2 or not lr > 0:
        raise UsageError("--steps, --hidden, --latent and --epochs must be >= 1, --read and --write >= 2, --lr > 0")
    elbo_samples = 2 if args.quick else 10

    X, y = binarized_digits(size)
    train, test = stratified_split(y, test_fraction=0.2, seed=0)
    out = out_dir(args.out)
    print(f"DRAW digits: {len(train)} training / {len(test)} held-out binary {size}x{size} images; T = {steps}, "
          f"LSTMs {hidden}, z_t {latent}, attention read {read}x{read} / write {write}x{write}; {epochs} epochs each, "
          f"backend {args.backend}")
    clock = Clock()
    indep = IndependentBernoulli().fit(X[train]).nll(X[test])
    print(f"  independent Bernoulli (exact -log p): {indep:.2f} nats per image")
    common = dict(hidden=hidden, backend=args.backend, seed=args.seed)
    models = {"vae": DRAW(size, steps=1, latent=steps * latent, **common),
              "draw": DRAW(size, steps=steps, latent=latent, **common),
              "draw_attention": DRAW(size, steps=steps, latent=latent, read_size=read, write_size=write, **common)}
    results = {"independent": dict(nll=indep)}
    for name, model in models.items():
        start = clock.seconds()
        model.init_canvas(X[train])                # every model starts from the independent pixels
        initial = float(model.eval().neg_elbo(X[test], seed=1)[0].mean())
        curve = []

        def on_epoch(epoch, m):
            curve.append(float(m.eval().neg_elbo(X[test], seed=1)[0].mean()))

        history = fit(model, (X[train],), epochs=epochs, batch_size=32, lr=lr, clip=10.0, lr_decay=0.97,
                      seed=args.seed, on_epoch=on_epoch)
        elbo, kl = model.eval().neg_elbo(X[test], samples=elbo_samples, seed=2)
        results[name] = dict(neg_elbo=float(elbo.mean()), kl=float(kl.mean()),
                             reconstruction=float((elbo - kl).mean()), initial_neg_elbo=initial,
                             first_epoch_loss=history["epoch_loss"][0], final_epoch_loss=history["epoch_loss"][-1],
                             heldout_curve=curve, epoch_loss=history["epoch_loss"], steps=history["steps"],
                             parameters=model.num_parameters(), seconds=clock.seconds() - start)
        r = results[name]
        print(f"  {TITLES[name]}: held-out negative ELBO {initial:.2f} -> {r['neg_elbo']:.2f} nats per image "
              f"(reconstruction {r['reconstruction']:.2f} + KL {r['kl']:.2f}), {r['parameters']:,} parameters, "
              f"{r['seconds']:.0f} s")

    generated = {name: m.generate(40, seed=args.seed + 1) for name, m in models.items()}
    _plot_canvas(os.path.join(out, "canvas.png"), generated, steps)
    _plot_generated(os.path.join(out, "generated.png"), generated, results, size)
    results["seconds"] = clock.seconds()
    write_json(out, dict(example="draw_digits", quick=args.quick, size=size, steps=steps, hidden=hidden,
                         latent=latent, read=read, write=write, epochs=epochs, lr=lr, seed=args.seed,
                         elbo_samples=elbo_samples, n_train=len(train), n_test=len(test), results=results))
    r = results
    print(f"held-out negative ELBO, nats per image: DRAW with attention {r['draw_attention']['neg_elbo']:.2f}, "
          f"without {r['draw']['neg_elbo']:.2f}, one-step VAE {r['vae']['neg_elbo']:.2f} (independent pixels, "
          f"exact: {indep:.2f}); {clock.seconds():.0f} s; canvas.png, generated.png and metrics.json in {out}")
    return 0


def _plot_canvas(path, generated, steps, rows=5):
    """One row per generated digit, one column per step: sigmoid(c_t), with the write window (attention)."""
    plt = pyplot()
    names = ["draw_attention", "draw"]
    fig, axes = plt.subplots(rows, 2 * steps + 1, figsize=(1.0 * (2 * steps + 1), 1.05 * rows + 0.7), dpi=100,
                             squeeze=False)
    for k, name in enumerate(names):
        canvases, windows = generated[name]
        for i in range(rows):
            for t in range(steps):
                ax = axes[i, k * (steps + 1) + t]
                ax.imshow(canvases[t, i], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
                if windows is not None:
                    gx, gy, w, h = windows[t, i]
                    # Pixel coordinates 1..A -> imshow's 0..A-1.
                    ax.add_patch(plt.Rectangle((gx - 1 - w / 2, gy - 1 - h / 2), w, h, fill=False,
                                               edgecolor="tab:red", linewidth=1))
                ax.set_xlim(-0.5, canvases.shape[-1] - 0.5)
                ax.set_ylim(canvases.shape[-1] - 0.5, -0.5)
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(f"t = {t + 1}", fontsize=8)
        if k == 0:
            for i in range(rows):
                axes[i, steps].axis("off")
    fig.text(0.25, 0.97, f"{TITLES[names[0]]} (red: write window)", ha="center", va="top", fontsize=10)
    fig.text(0.75, 0.97, TITLES[names[1]], ha="center", va="top", fontsize=10)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.88, wspace=0.08, hspace=0.08)
    fig.savefig(path)
    plt.close(fig)


def _plot_generated(path, generated, results, size):
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.4), dpi=100)
    for ax, name in zip(axes, ["draw_attention", "draw", "vae"]):
        show(ax, generated[name][0][-1][:40], cols=10,
             title=f"{TITLES[name]}\nheld-out negative ELBO {results[name]['neg_elbo']:.1f} nats/image")
    fig.suptitle(f"Digits drawn from the prior ({size}x{size}; each pixel's Bernoulli mean)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
