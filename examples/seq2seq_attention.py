"""Sequence to sequence with attention: dates in many human formats -> ISO 8601, or reversing digit strings.

An LSTM encoder reads the source characters; an LSTM decoder cell writes
the target one character at a time until its end-of-sequence token,
attending over the encoder's outputs at every step (additive/Bahdanau by
default, --attention dot for Luong's). Training uses teacher forcing;
evaluation decodes greedily and with beam search. The same model without
attention (the decoder sees the source only through the encoder's final
state) is trained with the same budget for comparison. Test examples are
held out (dates: whole calendar days never seen in training; reverse:
strings never seen in training).

    python examples/seq2seq_attention.py                    # dates (~1-2 min here)
    python examples/seq2seq_attention.py --task reverse     # reversal of 4-30 digits (~4 min)
    python examples/seq2seq_attention.py --quick            # seconds

Prints exact-match accuracy (greedy and beam) with and without attention,
overall and by input length, and writes attention.png (the alignment of
a few test examples), length_accuracy.png and metrics.json into --out.
"""
import os
import sys

import numpy as np

from _common import Clock, given_or, UsageError, check_backend, out_dir, parser, pyplot, run, write_json

from pyrnn.models import Seq2Seq, fit
from pyrnn.models.data import Vocabulary, date_examples, date_vocabularies, reversal_examples, split_dates

NAME = "seq2seq_attention.py"
BAR = 0.95
# task -> (default training examples, default epochs, test examples, input-length buckets (inclusive))
TASKS = {"dates": dict(train=20000, epochs=2, test=2000, buckets=[(1, 10), (11, 20), (21, 45)]),
         "reverse": dict(train=20000, epochs=4, test=2000, buckets=[(4, 10), (11, 17), (18, 24), (25, 30)])}


def main(argv=None):
    return run(NAME, _main, argv)


def make_data(task, n_train, n_test):
    """-> (source vocab, target vocab, train pairs, test pairs); pairs are (source text, target text)."""
    if task == "dates":
        src_vocab, tgt_vocab = date_vocabularies()
        train_dates, test_dates = split_dates(test_fraction=0.1, seed=0)
        train = [e[:2] for e in date_examples(train_dates, n_train, seed=1)]
        test = [e[:2] for e in date_examples(test_dates, n_test, seed=2)]
    else:
        src_vocab = tgt_vocab = Vocabulary.of("0123456789")
        test = reversal_examples(n_test, seed=2)
        train = reversal_examples(n_train, seed=1, exclude={s for s, _ in test})
    return src_vocab, tgt_vocab, train, test


def evaluate(model, tgt_vocab, src, src_len, pairs, max_len, beam_size, beam_count, buckets):
    """Exact match (greedy, beam), token accuracy and exact match by input length; plus the attention weights."""
    seqs, weights = model.greedy_decode(src, src_len, max_len=max_len)
    pred = [tgt_vocab.decode(s) for s in seqs]
    truth = [t for _, t in pairs]
    exact = np.array([p == t for p, t in zip(pred, truth)])
    # Token accuracy: the target characters plus the end token, compared position by position.
    hits = sum(sum(a == b for a, b in zip(p + "$", t + "$")) for p, t in zip(pred, truth))
    token_acc = hits / sum(len(t) + 1 for t in truth)
    lengths = np.array([len(s) for s, _ in pairs])
    by_length = {f"{lo}-{hi}": dict(n=int(np.sum(sel)), exact_match=float(np.mean(exact[sel])))
                 for lo, hi in buckets for sel in [(lengths >= lo) & (lengths <= hi)] if sel.any()}
    n = min(beam_count, len(pairs))
    beams = model.beam_search(src[:n], src_len[:n], beam_size=beam_size, max_len=max_len)
    beam_exact = float(np.mean([tgt_vocab.decode(s) == t for s, t in zip(beams, truth[:n])]))
    return dict(exact_match=float(exact.mean()), token_accuracy=float(token_acc), by_length=by_length,
                beam_exact_match=beam_exact, beam_size=beam_size, beam_examples=n), pred, weights


def _main(argv):
    p = parser(NAME, __doc__.split("\n\n")[0])
    p.add_argument("--task", choices=sorted(TASKS), default="dates")
    p.add_argument("--attention", choices=["additive", "dot"], default="additive")
    p.add_argument("--cell", choices=["lstm", "gru"], default="lstm")
    p.add_argument("--hidden", type=int, default=None, help="hidden size (default 128; 64 with --quick)")
    p.add_argument("--epochs", type=int, default=None, help="epochs over the training set (default: per task)")
    p.add_argument("--train-size", type=int, default=None, help="training examples (default: per task)")
    p.add_argument("--beam", type=int, default=4, help="beam size (default: %(default)s)")
    args = p.parse_args(argv)
    check_backend(args.backend)
    spec = TASKS[args.task]
    hidden = given_or(args.hidden, (64 if args.quick else 128))
    epochs = given_or(args.epochs, (2 if args.quick else spec["epochs"]))
    n_train = given_or(args.train_size, (6000 if args.quick else spec["train"]))
    n_test = 300 if args.quick else spec["test"]
    beam_count = 50 if args.quick else 500
    if min(hidden, epochs, n_train, args.beam) < 1:
        raise UsageError("--hidden, --epochs, --train-size and --beam must be >= 1")

    src_vocab, tgt_vocab, train, test = make_data(args.task, n_train, n_test)
    src, src_len = src_vocab.batch([s for s, _ in train])
    tgt, _ = tgt_vocab.batch([t for _, t in train], eos=True)
    test_src, test_len = src_vocab.batch([s for s, _ in test])
    test_tgt, _ = tgt_vocab.batch([t for _, t in test], eos=True)
    max_len = max(len(t) for _, t in test) + 5
    out = out_dir(args.out)
    print(f"{args.task}: {len(train)} training / {len(test)} held-out pairs, e.g. {test[0][0]!r} -> {test[0][1]!r}; "
          f"{args.cell.upper()} {hidden}, {epochs} epoch(s) of batch 64 (Adam 3e-3, halved every epoch), "
          f"backend {args.backend}")

    results, preds, weights = {}, {}, None
    for variant in (args.attention, None):
        label = variant or "none"
        clock = Clock()
        model = Seq2Seq(len(src_vocab), len(tgt_vocab), embed=32, hidden=hidden, cell=args.cell, attention=variant,
                        pad_id=tgt_vocab.pad_id, bos_id=tgt_vocab.bos_id, eos_id=tgt_vocab.eos_id, backend=args.backend,
                        seed=args.seed)
        # Teacher-forced loss (nats per target character) on held-out pairs, before and after training.
        initial = model.loss(test_src[:500], test_tgt[:500], test_len[:500])
        # Halving the learning rate every epoch: at a constant 3e-3 the reversal's loss kept jumping
        # back up (0.017 -> 0.2) after it had learned.
        history = fit(model, (src, tgt, src_len), epochs=epochs, batch_size=64, lr=3e-3, lr_decay=0.5, clip=5.0,
                      seed=args.seed)
        final = model.loss(test_src[:500], test_tgt[:500], test_len[:500])
        train_seconds = clock.seconds()
        metrics, preds[label], w = evaluate(model, tgt_vocab, test_src, test_len, test, max_len, args.beam,
                                            beam_count, spec["buckets"])
        if variant is not None:
            weights = w
        results[label] = dict(attention=variant, initial_loss=initial, final_loss=final, steps=history["steps"],
                              train_seconds=train_seconds, seconds=clock.seconds(), **metrics)
        buckets = ", ".join(f"{k}: {v['exact_match']:.1%}" for k, v in metrics["by_length"].items())
        print(f"  attention {label}: held-out loss {initial:.3f} -> {final:.4f} in {history['steps']} steps "
              f"({train_seconds:.0f} s); exact match greedy {metrics['exact_match']:.2%}, beam {args.beam} "
              f"{metrics['beam_exact_match']:.2%} (first {metrics['beam_examples']}); by input length {buckets}")

    _plot_attention(os.path.join(out, "attention.png"), test, preds[args.attention], weights, args)
    _plot_lengths(os.path.join(out, "length_accuracy.png"), results, args)
    att = results[args.attention]
    met = att["exact_match"] >= BAR
    write_json(out, dict(example="seq2seq_attention", task=args.task, quick=args.quick, cell=args.cell, hidden=hidden,
                         epochs=epochs, train_size=len(train), test_size=len(test), seed=args.seed, bar=BAR,
                         bar_met=met, chance_token_accuracy=1 / (len(tgt_vocab) - 2), results=results))
    print(f"exact match on {len(test)} held-out examples: {att['exact_match']:.2%} with {args.attention} attention "
          f"(bar {BAR:.0%}: {'met' if met else 'NOT met'}), {results['none']['exact_match']:.2%} without; "
          f"attention.png, length_accuracy.png and metrics.json in {out}")
    return 0


def _plot_attention(path, test, pred, weights, args):
    # Three different inputs: the longest, one from the longest quarter and one of median length.
    first = {}
    for i, (src, _) in enumerate(test):
        first.setdefault(src, i)
    by_length = sorted(first.values(), key=lambda i: -len(test[i][0]))
    picks = [by_length[0], by_length[len(by_length) // 4], by_length[len(by_length) // 2]]
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.2), dpi=100)
    for ax, i in zip(axes, picks):
        src, _ = test[i]
        out_chars = list(pred[i]) + ["</s>"]
        w = weights[i, :len(out_chars), :len(src)]
        ax.imshow(w, cmap="viridis", aspect="auto", vmin=0, vmax=1)
        ax.set_xticks(range(len(src)), list(src), fontsize=7)
        ax.set_yticks(range(len(out_chars)), out_chars, fontsize=7)
        ax.set_xlabel("input character")
        ax.set_ylabel("output character")
        ax.set_title(f"{src!r}\n-> {pred[i]!r}", fontsize=9)
    fig.suptitle(f"{args.attention} attention weights ({args.task}): which input each output step reads")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_lengths(path, results, args):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    names = list(results)
    buckets = list(results[names[0]]["by_length"])
    x = np.arange(len(buckets))
    for k, name in enumerate(names):
        acc = [results[name]["by_length"][b]["exact_match"] for b in buckets]
        bars = ax.bar(x + (k - 0.5) * 0.38, acc, 0.38, label=f"attention: {name} ({results[name]['exact_match']:.1%})")
        ax.bar_label(bars, [f"{a:.0%}" for a in acc], fontsize=8)
    ax.set_xticks(x, [f"{b} chars" for b in buckets])
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("exact match (greedy), held out")
    ax.set_title(f"{args.task}: same model and budget, with and without attention")
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
