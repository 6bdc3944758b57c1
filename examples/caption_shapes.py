"""Image captioning (Show and Tell, with Show-Attend-and-Tell attention) on generated scenes of two shapes.

Every scene is two objects - a size (small, large), a colour (red, green,
blue, yellow, purple) and a shape (circle, square, triangle) - one left of
or above the other, rendered with NumPy on a 32x32 canvas; its captions are
the four phrasings of a small grammar ("a small red circle left of a large
blue square", "there is a large blue square to the right of a small red
circle", ...), one drawn at random per training scene. A small
convolutional encoder (three 4x4 stride-2 convolutions) sets the initial
state of an LSTM decoder that attends over the 4x4 image regions; it is
trained with teacher forcing and decodes greedily and with beam search
until its end token.

The held-out scenes are combinations (object, object, relation) never shown
in training: 20% of the 1740 are kept aside, so the nearest-neighbour
baseline (the caption of the closest training image, in pixels) can never be
exactly right and the model must compose what it learned. ``--variants``
adds, with the same budget, the model without attention (the image only
through the initial state) and a linear encoder over the pixels instead of
the convolutions.

    python examples/caption_shapes.py            # ~8 min here
    python examples/caption_shapes.py --variants attention,no_attention,linear_encoder
    python examples/caption_shapes.py --quick    # seconds

Prints BLEU-4 and exact match (the caption equals one of the scene's four
phrasings) for greedy and beam decoding against the baseline, and writes
captions.png (held-out scenes with their generated captions), attention.png
and metrics.json into --out.
"""
import os
import sys

import numpy as np

from _common import Clock, UsageError, check_backend, out_dir, parser, pyplot, run, write_json

from pyrnn.models import Captioner, corpus_bleu, fit
from pyrnn.models.scenes import caption_vocabulary, captions, make_scenes, split_combinations

NAME = "caption_shapes.py"
SIZE = 32
# variant -> Captioner options; the first is the main model.
VARIANTS = {"attention": dict(encoder="conv", attention="additive"),
            "no_attention": dict(encoder="conv", attention=None),
            "linear_encoder": dict(encoder="linear", attention=None)}


def main(argv=None):
    return run(NAME, _main, argv)


def nearest_neighbour_captions(train_images, train_captions, images, chunk=500):
    """The caption of the closest training image (squared pixel distance) for every image."""
    flat = train_images.reshape(len(train_images), -1).astype(np.float64)
    sq = np.sum(flat * flat, axis=1)
    out = []
    for lo in range(0, len(images), chunk):
        q = images[lo:lo + chunk].reshape(-1, flat.shape[1]).astype(np.float64)
        d = sq[None, :] - 2 * q @ flat.T                     # + |q|^2, the same for every candidate
        out.extend(train_captions[i] for i in np.argmin(d, axis=1))
    return out


def score(predicted, scenes):
    """BLEU-4 against all four phrasings, and exact match with any of them."""
    refs = [captions(s) for s in scenes]
    return dict(bleu4=corpus_bleu([p.split() for p in predicted], [[r.split() for r in rs] for rs in refs]),
                exact_match=float(np.mean([p in rs for p, rs in zip(predicted, refs)])))


def evaluate(model, vocab, images, scenes, beam_size, beam_count, max_len):
    seqs, weights = model.greedy_decode(images, max_len=max_len)
    greedy = [vocab.decode(s) for s in seqs]
    metrics = dict(greedy=score(greedy, scenes))
    n = min(beam_count, len(images))
    if n:
        beams = [vocab.decode(s) for s in model.beam_search(images[:n], beam_size=beam_size, max_len=max_len)]
        metrics["beam"] = dict(score(beams, scenes[:n]), size=beam_size, examples=n)
    return metrics, greedy, weights


def _main(argv):
    p = parser(NAME, __doc__.split("\n\n")[0])
    p.add_argument("--hidden", type=int, default=128, help="decoder size (default %(default)s)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default 8; 3 with --quick)")
    p.add_argument("--train-size", type=int, default=None, help="training scenes (default 20000; 3000 --quick)")
    p.add_argument("--channels", default="16,32,64",
                   help="output channels of the 4x4 stride-2 convolutions (default %(default)s: 4x4 regions)")
    p.add_argument("--batch", type=int, default=None, help="minibatch size (default 64; 32 with --quick)")
    p.add_argument("--beam", type=int, default=3, help="beam size (default: %(default)s)")
    p.add_argument("--variants", default=None,
                   help=f"comma-separated subset of {','.join(VARIANTS)} (default: attention)")
    args = p.parse_args(argv)
    check_backend(args.backend)
    hidden = args.hidden
    epochs = args.epochs or (3 if args.quick else 8)
    n_train = args.train_size or (3000 if args.quick else 20000)
    batch = args.batch or (32 if args.quick else 64)
    n_test, n_seen = (200, 100) if args.quick else (1000, 500)
    beam_count = 50 if args.quick else 300
    variants = (args.variants or "attention").split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise UsageError(f"--variants: unknown {unknown}; choose from {list(VARIANTS)}")
    try:
        channels = tuple(int(c) for c in args.channels.split(","))
    except ValueError:
        raise UsageError(f"--channels must be comma-separated integers, got {args.channels!r}") from None
    if 2 ** len(channels) > SIZE or min(channels) < 1:
        raise UsageError(f"--channels: at most {int(np.log2(SIZE))} convolutions of >= 1 channel each")
    if min(hidden, epochs, n_train, batch, args.beam) < 1:
        raise UsageError("--hidden, --epochs, --train-size, --batch and --beam must be >= 1")

    clock = Clock()
    vocab = caption_vocabulary()
    train_combos, test_combos = split_combinations(test_fraction=0.2, seed=0)
    images, scenes = make_scenes(train_combos, n_train, SIZE, seed=1)
    rng = np.random.default_rng(2)
    train_caps = [captions(s)[rng.integers(4)] for s in scenes]          # one phrasing per training scene
    caps, _ = vocab.batch(train_caps, eos=True)
    test_images, test_scenes = make_scenes(test_combos, n_test, SIZE, seed=3)
    seen_images, seen_scenes = make_scenes(train_combos, n_seen, SIZE, seed=4)   # new renders, known combinations
    test_caps, _ = vocab.batch([captions(s)[0] for s in test_scenes], eos=True)
    max_len = test_caps.shape[1] + 3
    out = out_dir(args.out)
    print(f"{len(train_combos)} training / {len(test_combos)} held-out combinations; {n_train} training scenes, "
          f"{n_test} held-out scenes of unseen combinations (+{n_seen} of seen ones); vocabulary {len(vocab)}; "
          f"data in {clock.seconds():.1f} s")

    nn = nearest_neighbour_captions(images, train_caps, test_images)
    baseline = dict(unseen=score(nn, test_scenes),
                    seen=score(nearest_neighbour_captions(images, train_caps, seen_images), seen_scenes))
    print(f"  nearest-neighbour caption: BLEU-4 {baseline['unseen']['bleu4']:.3f}, exact match "
          f"{baseline['unseen']['exact_match']:.1%} on unseen combinations (seen: "
          f"{baseline['seen']['exact_match']:.1%})")

    results, shown = {}, None
    for variant in variants:
        clock = Clock()
        model = Captioner(len(vocab), image_size=SIZE, channels=channels, embed=32, hidden=hidden,
                          pad_id=vocab.pad_id, bos_id=vocab.bos_id, eos_id=vocab.eos_id, backend=args.backend, seed=args.seed,
                          **VARIANTS[variant])
        initial = model.loss(test_images[:500], test_caps[:500])
        history = fit(model, (images, caps), epochs=epochs, batch_size=batch, lr=3e-3, lr_decay=0.7, clip=5.0,
                      seed=args.seed)
        final = model.loss(test_images[:500], test_caps[:500])
        train_seconds = clock.seconds()
        unseen, greedy, weights = evaluate(model, vocab, test_images, test_scenes, args.beam, beam_count, max_len)
        seen, _, _ = evaluate(model, vocab, seen_images, seen_scenes, args.beam, 0, max_len)
        results[variant] = dict(VARIANTS[variant], parameters=model.num_parameters(), initial_loss=initial,
                                final_loss=final, steps=history["steps"], train_seconds=train_seconds,
                                seconds=clock.seconds(), unseen=unseen, seen=seen)
        if shown is None:
            shown = (variant, greedy, weights)
        g, b = unseen["greedy"], unseen["beam"]
        print(f"  {variant}: held-out loss {initial:.3f} -> {final:.4f} nats/word in {history['steps']} steps "
              f"({train_seconds:.0f} s); unseen combinations: BLEU-4 {g['bleu4']:.3f}, exact match "
              f"{g['exact_match']:.1%} (beam {b['size']}: {b['bleu4']:.3f}, {b['exact_match']:.1%} on the first "
              f"{b['examples']}); seen combinations: exact {seen['greedy']['exact_match']:.1%}")

    main_variant = shown[0]
    _plot_captions(os.path.join(out, "captions.png"), test_images, test_scenes, shown[1], nn, main_variant)
    if shown[2] is not None:
        right = [i for i, (p, s) in enumerate(zip(shown[1], test_scenes)) if p in captions(s)]
        _plot_attention(os.path.join(out, "attention.png"), test_images, shown[1], shown[2], (right or [0])[0])
    m = results[main_variant]["unseen"]["greedy"]
    beats = m["bleu4"] > baseline["unseen"]["bleu4"] and m["exact_match"] > baseline["unseen"]["exact_match"]
    write_json(out, dict(example="caption_shapes", quick=args.quick, hidden=hidden, channels=channels, epochs=epochs,
                         batch=batch, train_size=n_train,
                         test_size=n_test, seen_test_size=n_seen, train_combinations=len(train_combos),
                         test_combinations=len(test_combos), vocabulary=len(vocab), seed=args.seed,
                         baseline=baseline, beats_baseline=beats, results=results))
    print(f"{main_variant}: BLEU-4 {m['bleu4']:.3f} and exact match {m['exact_match']:.1%} on {n_test} scenes of "
          f"unseen combinations, nearest-neighbour caption {baseline['unseen']['bleu4']:.3f} / "
          f"{baseline['unseen']['exact_match']:.1%} ({'beaten' if beats else 'NOT beaten'}); captions.png"
          f"{', attention.png' if shown[2] is not None else ''} and metrics.json in {out}")
    return 0


def _wrap(text, width=26):
    words, lines, line = text.split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    return "\n".join(lines + [line])


def _plot_captions(path, images, scenes, predicted, nn, variant, n=12):
    plt = pyplot()
    fig, axes = plt.subplots(3, n // 3, figsize=(3.1 * n // 3, 10.2), dpi=100)
    for ax, i in zip(axes.ravel(), range(n)):
        ok = predicted[i] in captions(scenes[i])
        ax.imshow(images[i], interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(_wrap(predicted[i]), fontsize=8.5, color="darkgreen" if ok else "firebrick")
        ax.set_xlabel("NN: " + _wrap(nn[i], 30), fontsize=7, color="gray")
    fig.suptitle(f"held-out scenes (combinations never seen in training): {variant} captioner, greedy "
                 f"(green: one of the 4 true phrasings); below: nearest-neighbour caption", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_attention(path, images, predicted, weights, index=0):
    # One word per decoder step; the end token only if the decoder wrote it within the steps it ran.
    words = (predicted[index].split() + ["</s>"])[:weights.shape[1]]
    grid = int(round(np.sqrt(weights.shape[2])))
    plt = pyplot()
    cols = 8
    rows = -(-(len(words) + 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.8 * cols, 2.2 * rows), dpi=100)
    axes = axes.ravel()
    axes[0].imshow(images[index], interpolation="nearest")
    axes[0].set_title("scene", fontsize=9)
    for k, word in enumerate(words):
        ax = axes[k + 1]
        ax.imshow(images[index], interpolation="nearest")
        w = weights[index, k].reshape(grid, grid)
        # Dark where the weight is small: the brighter a region, the more this word reads from it.
        ax.imshow(w, cmap="gray", alpha=0.7, extent=(-0.5, images.shape[2] - 0.5, images.shape[1] - 0.5, -0.5),
                  interpolation="nearest", vmin=0, vmax=w.max())
        ax.set_title(word, fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[len(words) + 1:]:
        ax.axis("off")
    fig.suptitle(f"where the decoder looks (attention over the {grid}x{grid} regions, brighter = more weight) "
                 f"while writing each word", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
