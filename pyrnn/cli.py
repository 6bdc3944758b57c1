"""The ``pyrnn`` command line (also ``python -m pyrnn``).

    pyrnn train [CORPUS ...] --out DIR [options]    train a language model (default: stdlib sources)
    pyrnn train --resume DIR [--steps N | --minutes M]
    pyrnn sample DIR [--length N --temperature T --top-k K --prime TEXT --seed S]
    pyrnn inspect RUN [options]                      which units of a trained char-LM track features of the text
    pyrnn demo [--backend NAME] [--seed S]          forward/backward on random data + a gradient check
    pyrnn info                                       version, backends with their availability, BLAS
"""
import argparse
import contextlib
import os
import platform
import signal
import sys

import numpy as np

from . import GRU, LSTM, RNN, __version__, backend_status
from .backends import get_backend
from .backends.base import BackendUnavailableError
from .errors import InputError
from .gradcheck import TOLERANCE as GRADCHECK_TOLERANCE
from .gradcheck import gradcheck
from .train.config import SAVE_EVERY_SECONDS


class UsageError(Exception):
    """A bad command-line value: reported as one line, exit code 2."""


# -- argument types: each names what it expects ---------------------------------------------
def _int_at_least(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value}")
        return value
    return parse


def _float_at_least(minimum, strict=False):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not np.isfinite(value) or value < minimum or (strict and value == minimum):
            raise argparse.ArgumentTypeError(f"must be a number {'>' if strict else '>='} {minimum:g}, got {text!r}")
        return value
    return parse


_seed = _int_at_least(0)


def _check_backend(name):
    try:
        get_backend(name)
    except (TypeError, ValueError) as exc:   # unknown backend name
        raise UsageError(str(exc)) from None


# -- demo ------------------------------------------------------------------------------------
def _demo(args):
    _check_backend(args.backend)
    rng = np.random.default_rng(args.seed)
    T, B, I, H = 20, 4, 8, 16
    lstm = LSTM(I, H, num_layers=2, bidirectional=True, batch_first=True, backend=args.backend,
                seed=args.seed)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    lengths = rng.integers(1, T + 1, size=B)
    print(f"pyrnn {__version__}: {lstm}")
    y, (h_n, c_n) = lstm(x, lengths=lengths)
    print(f"forward : x {x.shape}, lengths {lengths.tolist()} -> y {y.shape}, "
          f"h_n {h_n.shape}, c_n {c_n.shape}")
    dx, (dh0, dc0) = lstm.backward(np.ones_like(y))
    norms = ", ".join(f"{k} {np.linalg.norm(g):.3f}" for k, g in list(lstm.grads.items())[:4])
    print(f"backward: dx {dx.shape}, dh0 {dh0.shape}, dc0 {dc0.shape}; grad norms: {norms}, ...")

    print(f"gradient check (float64, central differences, tolerance {GRADCHECK_TOLERANCE:g}):")
    worst_overall = 0.0
    for cls in (RNN, LSTM, GRU):
        module = cls(3, 4, num_layers=2, bidirectional=True, backend=args.backend, dtype=np.float64,
                     seed=args.seed)
        errors = gradcheck(module, rng.standard_normal((5, 3, 3)), lengths=[5, 2, 4], seed=args.seed)
        name, worst = max(errors.items(), key=lambda kv: kv[1])
        worst_overall = max(worst_overall, worst)
        verdict = "ok" if worst < GRADCHECK_TOLERANCE else "FAILED"
        print(f"  {cls.__name__:4s} 2 layers x 2 directions, lengths [5, 2, 4]: "
              f"{len(errors)} gradients, max relative error {worst:.1e} ({name}) {verdict}")
    return 0 if worst_overall < GRADCHECK_TOLERANCE else 1


# -- info --------------------------------------------------------------------------------------
def _blas_line(module):
    try:
        blas = module.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:          # show_config's layout differs between releases
        return "unknown"


def _info(args):
    print(f"pyrnn {__version__}  (Python {platform.python_version()}, NumPy {np.__version__}, "
          f"{platform.machine()}, {os.cpu_count()} CPUs)")
    from .backends import auto_exclusions, backend_cells, backend_dtypes

    print("backends (best first):")
    not_auto, cells, dtypes = auto_exclusions(), backend_cells(), backend_dtypes()
    for name, reason in backend_status().items():
        detail = "available" if reason is None else "unavailable: " + reason
        if name == "c" and reason is None:
            detail += f" ({get_backend('c').build_info}, {get_backend('c').threads} threads)"
        if name in not_auto:
            detail += f"; never chosen by auto ({not_auto[name]})"
        if reason is None and cells.get(name):
            detail += f"; cells: {' '.join(cells[name])}"
        if reason is None and dtypes.get(name):
            detail += f"; dtypes: {' '.join(dtypes[name])}"
            if name == "c":
                detail += f" (bfloat16, inference: {get_backend('c').bf16_path})"
            elif name == "numba":
                detail += " (no bfloat16: Numba cannot reach the AVX512-BF16 / AMX instructions)"
        print(f"  {name:8s} {detail}")
    print(f"BLAS: NumPy uses {_blas_line(np)}", end="")
    try:
        import scipy
        print(f"; SciPy (and so the numba backend) uses {_blas_line(scipy)}")
    except ImportError:
        print("; SciPy is not installed")
    return 0


# -- train / sample ------------------------------------------------------------------------------
_MODEL_OPTIONS = ("level", "max_words", "cell", "embed", "hidden", "layers", "seq_len", "batch", "optimizer",
                  "lr", "clip", "clip_mode", "seed", "backend", "eval_every", "val_tokens", "save_every")


def _say(text, file=None):
    """print, unless the terminal is gone (SIGHUP closed it): the run's outcome is in the folder anyway."""
    try:
        print(text, file=file or sys.stdout, flush=True)
    except OSError:
        pass


def _train(args):
    from .train import Trainer, TrainConfig, checkpoint
    from .train.runfolder import RunLock, check_new_folder, create_folder

    skipped = []
    with contextlib.ExitStack() as held:          # the run folder's lock, released on every way out
        if args.resume:
            given = [o for o in _MODEL_OPTIONS if getattr(args, o) is not None] + (["CORPUS"] if args.corpus else [])
            if given or args.out:
                raise UsageError(f"--resume continues a run with its own settings; only --steps and --minutes "
                                 f"may be given with it (got {', '.join('--' + g.replace('_', '-') for g in given) or '--out'})")
            out = args.resume
            # Locked before the checkpoint is read: a second --resume of the same folder stops here.
            # (Only a folder that holds a checkpoint: a mistyped --resume leaves no .lock behind.)
            if checkpoint.exists(out):
                held.enter_context(RunLock(out))
            trainer = Trainer.resume(out, steps=args.steps, minutes=args.minutes, skipped=skipped)
        else:
            if not args.out:
                raise UsageError("give --out DIR for a new run (or --resume DIR to continue one)")
            check_new_folder(args.out)
            if checkpoint.exists(args.out):
                raise UsageError(f"{args.out} already holds a checkpoint; continue it with --resume {args.out} "
                                 f"or choose another --out")
            options = {o: getattr(args, o) for o in _MODEL_OPTIONS if getattr(args, o) is not None}
            config = TrainConfig(corpus=list(args.corpus), steps=args.steps or 0, minutes=args.minutes or 0.0,
                                 **options)
            if not config.steps and not config.minutes:
                config.minutes = 10.0
            _check_backend(config.backend)
            # Corpus, sizes and memory are checked before DIR is touched; then DIR is made and locked.
            trainer = Trainer(config, args.out, skipped=skipped)
            out = args.out
            create_folder(out)
            held.enter_context(RunLock(out))
            if checkpoint.exists(out):       # another run started in this folder meanwhile
                raise UsageError(f"{out} already holds a checkpoint; continue it with --resume {out}")
        return _train_locked(trainer, out, skipped)


def _train_locked(trainer, out, skipped):
    from .train.plot import plot_history

    if skipped:
        shown = "; ".join(reason for _, reason in skipped[:5])
        _say(f"pyrnn train: skipped {len(skipped)} corpus entr{'y' if len(skipped) == 1 else 'ies'} that "
             f"{'is' if len(skipped) == 1 else 'are'} not text files: {shown}"
             + (f"; and {len(skipped) - 5} more" if len(skipped) > 5 else ""), sys.stderr)
    c = trainer.config
    unit = "char" if c.level == "char" else "word"
    print(f"pyrnn train: {trainer.n_tokens:,} {unit}s from {trainer.corpus_files} files, vocabulary "
          f"{len(trainer.vocab)}; {c.layers}x{c.hidden} {c.cell.upper()} (embedding {c.embed}) on "
          f"backend {trainer.model.rnn.backend}; batch {c.batch} x seq {c.seq_len}, {c.optimizer} lr {c.lr}, "
          f"clip {c.clip} ({c.clip_mode}); limit: "
          + (f"{c.steps} steps" if c.steps else "") + (" / " if c.steps and c.minutes else "")
          + (f"{c.minutes:g} min" if c.minutes else "")
          + f"; checkpoint every {f'{c.save_every} steps' if c.save_every else f'{SAVE_EVERY_SECONDS / 60:g} min'}",
          flush=True)
    bar, update = _progress_bar(trainer)
    try:
        status = trainer.run(progress=update)
    finally:
        try:
            bar.close()
        except OSError:
            pass
    try:
        plot_history(trainer.history, os.path.join(out, "loss_curve.png"),
                     title=f"{c.layers}x{c.hidden} {c.cell.upper()}, {trainer.step} steps", unit=f"bits/{unit}")
    except OSError as exc:       # the checkpoint is what matters; it is saved
        _say(f"pyrnn train: note: loss_curve.png not written ({exc.strerror or exc})", sys.stderr)
    if status == "interrupted":
        name = signal.Signals(trainer.stop_signal).name
        _say(f"\ninterrupted at step {trainer.step} ({name}): checkpoint saved in {out}; continue with "
             f"`pyrnn train --resume {out}`", sys.stderr)
        return 128 + trainer.stop_signal
    val = trainer.history["val"][-1][1] if trainer.history["val"] else float("nan")
    rate = trainer.tokens_seen / max(trainer.elapsed, 1e-9)
    _say(f"done: {trainer.step} steps, {trainer.tokens_seen:,} {unit}s in {trainer.elapsed:.0f} s "
         f"({rate:,.0f} {unit}s/s); validation {val:.3f} bits/{unit}; checkpoint, history.json and "
         f"loss_curve.png in {out}")
    return 0


def _progress_bar(trainer):
    from tqdm import tqdm
    c = trainer.config
    bar = tqdm(total=c.steps or None, initial=trainer.step, unit="step", dynamic_ncols=True, mininterval=1.0,
               file=sys.stderr)

    def update(tr, loss, tokens_per_second):
        try:
            _update(tr, loss, tokens_per_second)
        except OSError:          # the terminal is gone (SIGHUP): train on, save, report in the folder
            pass

    def _update(tr, loss, tokens_per_second):
        bar.n = tr.step
        post = {"loss": f"{loss / np.log(2):.3f} b/tok", "tok/s": f"{tokens_per_second:,.0f}"}
        if tr.history["val"]:
            post["val"] = f"{tr.history['val'][-1][1]:.3f}"
        if c.minutes:
            post["left"] = f"{max(0.0, 60 * c.minutes - tr.elapsed):.0f}s"
        bar.set_postfix(post, refresh=False)
        bar.update(0)
    return bar, update


def _sample(args):
    from .train import checkpoint
    from .train.sampling import generate

    _check_backend(args.backend)              # before the checkpoint: a bad name is the user's, not the file's
    model, vocab, _ = checkpoint.load_language_model(args.dir, backend=args.backend)
    # Streamed: a long --length shows text at once, and Ctrl-C keeps what was printed.
    try:
        for piece in generate(model, vocab, args.length, args.temperature, args.top_k, args.prime, args.seed):
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
        sys.stdout.flush()
    except BrokenPipeError:                   # `pyrnn sample run | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except KeyboardInterrupt:
        sys.stdout.write("\n")
        sys.stdout.flush()
        raise
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="pyrnn", description="Fused RNN/LSTM/GRU kernels with BPTT.")
    parser.add_argument("--version", action="version", version=f"pyrnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser("train", help="train a recurrent language model on text",
                           description="Train a character- (or word-) level language model with truncated "
                                       "BPTT. Without CORPUS: the Python standard library's own sources.")
    train.add_argument("corpus", nargs="*", metavar="CORPUS", help="text files or folders")
    train.add_argument("--out", metavar="DIR", help="where checkpoint, history and loss curve go (new run)")
    train.add_argument("--resume", metavar="DIR", help="continue the run saved in DIR")
    train.add_argument("--steps", type=_int_at_least(1), help="stop after this many steps (in total)")
    train.add_argument("--minutes", type=_float_at_least(0, strict=True),
                       help="stop after this much training time (default 10 when no --steps)")
    train.add_argument("--level", choices=["char", "word"], help="tokens: characters (default) or words")
    train.add_argument("--max-words", dest="max_words", type=_int_at_least(1),
                       help="word level: vocabulary size before <unk> (default 10000)")
    train.add_argument("--cell", choices=["lstm", "gru", "rnn"], help="recurrent cell (default lstm)")
    train.add_argument("--embed", type=_int_at_least(1), help="embedding size (default 64)")
    train.add_argument("--hidden", type=_int_at_least(1), help="hidden size (default 256)")
    train.add_argument("--layers", type=_int_at_least(1), help="recurrent layers (default 2)")
    train.add_argument("--seq-len", dest="seq_len", type=_int_at_least(1), help="BPTT length (default 100)")
    train.add_argument("--batch", type=_int_at_least(1), help="parallel streams (default 32)")
    train.add_argument("--optimizer", choices=["adam", "sgd", "rmsprop", "adagrad"], help="default adam")
    train.add_argument("--lr", type=_float_at_least(0, strict=True), help="learning rate (default 2e-3)")
    train.add_argument("--clip", type=_float_at_least(0), help="gradient clip, 0 = off (default 5)")
    train.add_argument("--clip-mode", dest="clip_mode", choices=["norm", "value"],
                       help="clip the global norm (default) or each value")
    train.add_argument("--seed", type=_seed, help="random seed (default 0)")
    train.add_argument("--backend", help="backend name or 'auto' (see `pyrnn info`)")
    train.add_argument("--eval-every", dest="eval_every", type=_int_at_least(0),
                       help="validate every N steps, 0 = only at the end (default 200)")
    train.add_argument("--val-tokens", dest="val_tokens", type=_int_at_least(1),
                       help="tokens of the held-out 5%% used by the interval validations (default 100000; "
                            "the final one uses all)")
    train.add_argument("--save-every", dest="save_every", type=_int_at_least(1),
                       help=f"write the checkpoint every N steps (default: every {SAVE_EVERY_SECONDS / 60:g} "
                            "minutes of training); it is also written at the end, on Ctrl-C, SIGTERM and SIGHUP")
    train.set_defaults(run=_train)

    smp = sub.add_parser("sample", help="generate text from a trained model")
    smp.add_argument("dir", metavar="DIR", help="a folder written by `pyrnn train`")
    smp.add_argument("--length", type=_int_at_least(0), default=500, help="tokens to generate (default 500)")
    smp.add_argument("--temperature", type=_float_at_least(0), default=1.0, help="0 = greedy (default 1)")
    smp.add_argument("--top-k", dest="top_k", type=_int_at_least(0), default=0, help="0 = all (default)")
    smp.add_argument("--prime", default="", help="text to start from")
    smp.add_argument("--seed", type=_seed, default=None, help="random seed")
    smp.add_argument("--backend", default="auto", help="backend name or 'auto'")
    smp.set_defaults(run=_sample)

    from .train import inspect as _inspect       # the command and its options live in pyrnn/train/inspect.py
    insp = sub.add_parser("inspect", help="colour text by a unit of a trained char-LM; find units that track "
                                          "strings, comments, brackets, indentation, line position",
                          description=_inspect.__doc__.split("\n\n")[0])
    _inspect.add_arguments(insp)
    insp.set_defaults(run=_inspect.command)

    demo = sub.add_parser("demo", help="forward/backward on random data and a gradient check")
    demo.add_argument("--backend", default="auto", help="backend name or 'auto' (see `pyrnn info`)")
    demo.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    demo.set_defaults(run=_demo)
    info = sub.add_parser("info", help="version, backends with their availability, BLAS")
    info.set_defaults(run=_info)
    return parser


def main(argv=None):
    from .train import CheckpointError, CorpusError
    from .train.runfolder import RunFolderError

    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (InputError, BackendUnavailableError, UsageError, CorpusError, CheckpointError, RunFolderError) as exc:
        # A user-facing error: one line, no traceback.
        _say(f"pyrnn {args.command}: error: {exc}", sys.stderr)
        return 2
    except MemoryError:
        _say(f"pyrnn {args.command}: error: out of memory (the last checkpoint, if any, is intact); "
             f"choose smaller sizes", sys.stderr)
        return 2
    except KeyboardInterrupt:      # outside the training loop (which saves and returns 130 itself)
        print(f"\npyrnn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
