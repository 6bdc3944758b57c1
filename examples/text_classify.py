"""Text classification from a CSV file with a header row ``text,label`` (char- or word-level).

Tokens are embedded and read by an LSTM (GRU/RNN with --cell); only the last
hidden state feeds the classifier, and sentences of different lengths
share a batch through ``lengths`` (no packing). 20% of every label is held
out for testing. The default data, examples/data/reviews.csv, are 400
made-up reviews (examples/data/make_reviews.py writes them) where "not"
and "but" change the label, so word order matters.

    python examples/text_classify.py                                  # the shipped reviews, word level
    python examples/text_classify.py --csv my.csv --level char --classify "not bad at all"
"""
import os
import sys

import numpy as np

from _common import (Clock, given_or, UsageError, check_backend, confusion_matrix, out_dir, parser, plot_confusion, pyplot,
                     run, write_json)

from pyrnn.models import SequenceClassifier, fit
from pyrnn.models.data import DataError, Vocabulary, pad_sequences, read_labeled_csv, stratified_split, tokenize

NAME = "text_classify.py"
DEFAULT_CSV = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "reviews.csv")


def main(argv=None):
    return run(NAME, _main, argv)


def _main(argv):
    p = parser(NAME, __doc__.split("\n\n")[0])
    p.add_argument("--csv", default=DEFAULT_CSV,
                   help="CSV file with a header row text,label (default: the shipped reviews)")
    p.add_argument("--level", choices=["word", "char"], default="word", help="tokens (default: %(default)s)")
    p.add_argument("--cell", choices=["lstm", "gru", "rnn"], default="lstm")
    p.add_argument("--hidden", type=int, default=None, help="hidden size (default 64; 16 with --quick)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default 30; 5 with --quick)")
    p.add_argument("--max-tokens", type=int, default=200, help="longer texts are cut (default: %(default)s)")
    p.add_argument("--classify", action="append", default=[], metavar="TEXT",
                   help="after training, print the predicted label of TEXT (repeatable)")
    args = p.parse_args(argv)
    check_backend(args.backend)
    if args.max_tokens < 1:
        raise UsageError(f"--max-tokens must be >= 1, got {args.max_tokens}")
    hidden = given_or(args.hidden, (16 if args.quick else 64))
    epochs = given_or(args.epochs, (5 if args.quick else 30))
    if min(hidden, epochs) < 1:
        raise UsageError(f"--hidden and --epochs must be >= 1, got {hidden} and {epochs}")
    lr = 1e-2 if args.quick else 3e-3

    texts, labels = read_labeled_csv(args.csv)                # DataError names the file and the problem
    classes = sorted(set(labels))
    y = np.array([classes.index(label) for label in labels])
    train, test = stratified_split(y, test_fraction=0.2, seed=0)
    if len(test) == 0 or len(train) == 0:
        raise DataError(f"{args.csv}: {len(texts)} examples are too few to hold out 20% of each label for testing")
    tokens = [tokenize(t, args.level)[:args.max_tokens] for t in texts]
    vocab = Vocabulary.counted([tokens[i] for i in train])      # test words the training set lacks become <unk>
    ids, lengths = pad_sequences([vocab.encode(t) for t in tokens])
    out = out_dir(args.out)
    print(f"{os.path.basename(args.csv)}: {len(texts)} texts, labels {classes}; {len(train)} for training, "
          f"{len(test)} held out; {args.level} level, vocabulary {len(vocab)}, longest {int(lengths.max())} tokens")

    clock = Clock()
    model = SequenceClassifier(len(classes), vocab_size=len(vocab), embed=32 if not args.quick else 16,
                               hidden=hidden, cell=args.cell, backend=args.backend, seed=args.seed)
    initial = model.eval().loss(ids[train], y[train], lengths[train])
    history = fit(model, (ids[train], y[train], lengths[train]), epochs=epochs, batch_size=16, lr=lr, clip=5.0,
                  seed=args.seed)
    model.eval()
    final = model.loss(ids[train], y[train], lengths[train])
    pred = model.predict(ids[test], lengths[test])
    acc = float(np.mean(pred == y[test]))
    majority = float(np.max(np.bincount(y[test])) / len(test))
    print(f"  {args.cell.upper()} {hidden}: training loss {initial:.3f} -> {final:.4f} in {history['steps']} steps "
          f"({clock.seconds():.1f} s)")
    wrong = [i for i, ok in zip(test, pred == y[test]) if not ok]
    for i in wrong[:5]:
        print(f"  wrong: {texts[i]!r} is {labels[i]}, predicted {classes[pred[list(test).index(i)]]}")
    for text in args.classify:
        x, n = pad_sequences([vocab.encode(tokenize(text, args.level)[:args.max_tokens])])
        proba = model.predict_proba(x, n)[0]
        print(f"  {text!r} -> {classes[int(np.argmax(proba))]} ({np.max(proba):.0%})")

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4), dpi=100)
    plot_confusion(axes[0], confusion_matrix(y[test], pred, len(classes)), classes,
                   f"held-out accuracy {acc:.1%} ({len(test)} texts)")
    axes[1].plot(range(1, epochs + 1), history["epoch_loss"])
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("training cross-entropy (nats)")
    axes[1].grid(alpha=0.3)
    fig.suptitle(f"{os.path.basename(args.csv)}: {args.level}-level {args.cell.upper()} classifier")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "confusion.png"))
    plt.close(fig)
    shown_csv = "examples/data/reviews.csv" if args.csv == DEFAULT_CSV else args.csv
    write_json(out, dict(example="text_classify", quick=args.quick, csv=shown_csv, level=args.level,
                         cell=args.cell, hidden=hidden, epochs=epochs, seed=args.seed, classes=classes,
                         n_train=len(train), n_test=len(test), test_accuracy=acc, majority_baseline=majority,
                         initial_loss=initial, final_loss=final, epoch_loss=history["epoch_loss"],
                         seconds=clock.seconds()))
    print(f"test accuracy: {acc:.2%} on {len(test)} held-out texts (majority label: {majority:.0%}); "
          f"confusion.png and metrics.json in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
