"""Truncated-BPTT training of a LanguageModel on a text corpus, with checkpoints and resume.

Nothing a run has learned is lost: a checkpoint is written every
``save_every`` steps (default: every SAVE_EVERY_SECONDS of training), when a
limit is reached, on SIGINT / SIGTERM / SIGHUP (the current step finishes,
then the run saves and stops) and when an exception ends the run between two
updates. The signal handlers stay until the checkpoint is on disk, so a second
Ctrl-C during the save cannot cut it short (and the save is atomic anyway).
"""
import dataclasses
import hashlib
import json
import math
import os
import signal
import time

import numpy as np

from .. import __version__
from ..backends import backend_status
from ..errors import InputError
from ..vocab import Vocabulary
from . import checkpoint
from .config import SAVE_EVERY_SECONDS, TrainConfig, check_fits_in_memory, training_bytes
from .data import ContiguousBatches, CorpusError, load_corpus, split_train_val
from .model import LanguageModel
from .optim import OPTIMIZERS, clip_grad_norm, clip_grad_value

__all__ = ["Trainer", "TrainConfig", "STOP_SIGNALS"]

# Signals that stop a run cleanly (finish the step, save, exit 128 + signal number).
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

LN2 = math.log(2)


class Trainer:
    """Owns the data, model, optimizer and progress of one run; ``run()`` trains until a limit.

    Deterministic for a given config and backend: the data order is fixed
    (contiguous streams, no shuffling) and the only randomness is the seeded
    initialisation, so a run interrupted and resumed from its checkpoint ends
    with the same parameters as an uninterrupted one.
    """

    def __init__(self, config, out_dir, resume=None, skipped=None):
        """skipped: a list that receives (path, reason) for corpus entries that are not read."""
        try:
            config.validate()
        except ValueError as exc:
            raise InputError(str(exc)) from None
        self.config, self.out_dir = config, out_dir
        text, files = load_corpus(config.corpus, skipped=skipped)
        self.corpus_sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        self.vocab = Vocabulary.from_json(resume["vocab"]) if resume else \
            Vocabulary.build(text, config.level, config.max_words)
        if resume and resume["corpus_sha256"] != self.corpus_sha:
            raise checkpoint.CheckpointError("the corpus changed since the checkpoint was written "
                                             f"({', '.join(config.corpus) or 'default corpus'})")
        if resume and self.vocab.unknown(text):
            raise checkpoint.CheckpointError("the corpus holds characters the checkpoint's vocabulary lacks")
        ids = self.vocab.encode(text)
        check_corpus_size(len(ids), config, self.vocab.level)
        train_ids, self.val_ids = split_train_val(ids)
        self.batches = ContiguousBatches(train_ids, config.batch, config.seq_len)
        chunk_len = min(config.seq_len, self.batches.length)
        check_fits_in_memory(training_bytes(len(self.vocab), config, chunk_len),
                             f"training {config.layers} x {config.hidden} {config.cell.upper()} (embedding "
                             f"{config.embed}, vocabulary {len(self.vocab)}, batch {config.batch} x "
                             f"{chunk_len} steps)")
        self.corpus_files, self.n_tokens = len(files), len(ids)
        self.model = LanguageModel(len(self.vocab), config.embed, config.hidden, config.layers, config.cell,
                                   config.backend, seed=config.seed)
        self.optimizer = OPTIMIZERS[config.optimizer](self.model, lr=config.lr)
        self.rng = np.random.default_rng(config.seed)
        self.step, self.chunk_index, self.tokens_seen, self.elapsed = 0, 0, 0, 0.0
        self.history = {"train": [], "val": []}      # [step, bits per token]
        self.carry = None
        self.saved_step, self._saved_elapsed = None, 0.0
        self.stop_signal = None                      # the signal that stopped the last run(), if any

    # -- checkpoints -------------------------------------------------------------
    def meta(self):
        return dict(pyrnn_version=__version__, config=dataclasses.asdict(self.config), vocab=self.vocab.to_json(),
                    corpus_sha256=self.corpus_sha, step=self.step, chunk_index=self.chunk_index,
                    tokens_seen=self.tokens_seen, elapsed=self.elapsed, history=self.history,
                    rng_state=self.rng.bit_generator.state)

    def save(self):
        """Write the checkpoint (and history.json); CheckpointError naming the folder if the OS refuses."""
        carry = None if self.carry is None else (self.carry if isinstance(self.carry, tuple) else (self.carry,))
        checkpoint.save(self.out_dir, self.meta(), self.model.state_dict(), self.optimizer.state_dict(), carry)
        try:
            checkpoint.atomic_write(os.path.join(self.out_dir, "history.json"),
                                    lambda f: f.write(json.dumps(self.history).encode()))
        except OSError as exc:
            raise checkpoint.CheckpointError(f"could not write history.json in {self.out_dir}: "
                                             f"{exc.strerror or exc} (the checkpoint is saved)") from None
        self.saved_step, self._saved_elapsed = self.step, self.elapsed

    @classmethod
    def resume(cls, out_dir, steps=None, minutes=None, skipped=None):
        """Rebuild a run from DIR/checkpoint.npz; steps/minutes may extend its limits.

        skipped: as for the constructor (corpus entries that are not read)."""
        meta, model_state, optim_state, carry = checkpoint.load(out_dir)     # every field checked there
        config = TrainConfig.from_dict(dict(meta["config"]))
        if config.backend != "auto" and config.backend not in backend_status():
            raise checkpoint.CheckpointError(f"{out_dir}: the checkpoint names backend {config.backend!r}, "
                                             f"which this pyrnn does not know")
        if steps is not None:
            config.steps = steps
        if minutes is not None:
            config.minutes = minutes
        trainer = cls(config, out_dir, resume=meta, skipped=skipped)
        try:
            trainer.model.load_state_dict(model_state)
            trainer.optimizer.load_state_dict(optim_state)
        except (ValueError, TypeError) as exc:
            raise checkpoint.CheckpointError(f"{out_dir}: checkpoint does not fit its own config ({exc})") from None
        trainer.step, trainer.chunk_index = meta["step"], meta["chunk_index"]
        trainer.tokens_seen, trainer.elapsed = meta["tokens_seen"], meta["elapsed"]
        trainer.history = meta["history"]
        trainer.rng.bit_generator.state = meta["rng_state"]
        if carry is not None:
            if carry[0].shape[1] != trainer.batches.batch:
                raise checkpoint.CheckpointError(f"{out_dir}: the carried state does not fit batch {config.batch}")
            trainer.carry = tuple(carry) if trainer.model.is_lstm else carry[0]
        trainer.saved_step, trainer._saved_elapsed = trainer.step, trainer.elapsed
        return trainer

    # -- evaluation ------------------------------------------------------------
    def validate(self, max_tokens=None, should_stop=None):
        """Mean validation loss in bits per token over (a prefix of) the held-out 5%.

        should_stop: callable checked between chunks; when it returns true the
        validation is abandoned and None returned.
        """
        ids = self.val_ids[:max(2, max_tokens)] if max_tokens else self.val_ids
        streams = min(self.config.batch, max(1, (len(ids) - 1) // 2))
        batches = ContiguousBatches(ids, streams, self.config.seq_len)
        self.model.eval()
        total, count, state = 0.0, 0, None
        try:
            for i in range(batches.chunks_per_epoch):
                if should_stop is not None and should_stop():
                    return None
                x, y = batches.chunk(i)
                loss, state = self.model.loss(x, y, state)
                total += loss * y.size
                count += y.size
        finally:
            self.model.train()
        return total / count / LN2

    # -- training ----------------------------------------------------------------
    def _train_step(self):
        x, y = self.batches.chunk(self.chunk_index)
        if self.batches.starts_epoch(self.chunk_index):
            self.carry = None                        # every stream restarts at its beginning
        loss, carry = self.model.loss_and_backward(x, y, self.carry)
        if self.config.clip > 0:
            (clip_grad_norm if self.config.clip_mode == "norm" else clip_grad_value)(
                self.optimizer.params, self.config.clip)
        # From here to the end of the step the parameters and the progress counters change
        # together: an exception in between leaves a state that must not be saved.
        self._updating = True
        self.optimizer.step()
        self.optimizer.zero_grad()
        self.carry = carry
        self.step += 1
        self.chunk_index += 1
        self.tokens_seen += y.size
        self._updating = False
        return loss

    def _save_due(self):
        if self.config.save_every:
            return self.step % self.config.save_every == 0
        return self.elapsed - self._saved_elapsed >= SAVE_EVERY_SECONDS

    def run(self, progress=None):
        """Train until config.steps or config.minutes of training time, or until a stop signal.

        Returns "done" or "interrupted" (then ``stop_signal`` is the signal's
        number); a checkpoint is written either way, and periodically on the way.
        progress: callable(trainer, loss, tokens_per_second) called after each step.
        """
        self._updating = False
        self.stop_signal = None
        with _StopSignals() as stop:
            try:
                status = self._run(progress, stop)
            except BaseException:
                # Save what the last complete step learned (never a half-applied update), then let
                # the error through: a MemoryError or a bug must not cost the whole run.
                # Not a step-0 checkpoint: a run that failed before learning anything must be
                # restartable with other sizes, not "resumable" with the same failing ones.
                if not self._updating and self.step > 0 and self.step != self.saved_step:
                    try:
                        self.save()
                    except Exception:        # noqa: BLE001 - the original error matters more
                        pass
                raise
            self.stop_signal = stop.signum
        return status

    def _run(self, progress, stop):
        self.model.train()
        window = []
        while stop.signum is None and not self._limit_reached():
            t0 = time.perf_counter()
            loss = self._train_step()
            seconds = time.perf_counter() - t0
            window = (window + [(self.batches.batch * self.config.seq_len, seconds)])[-20:]
            self.elapsed += seconds        # training time: validations are not counted
            if self.step % 10 == 0 or self.step == 1:
                self.history["train"].append([self.step, loss / LN2])
            if self.config.eval_every and self.step % self.config.eval_every == 0:
                val = self.validate(self.config.val_tokens, should_stop=lambda: stop.signum is not None)
                if val is not None:
                    self.history["val"].append([self.step, val])
            if self._save_due():
                self.save()
            if progress is not None:
                progress(self, loss, sum(w[0] for w in window) / sum(w[1] for w in window))
        if stop.signum is None and (not self.history["val"] or self.history["val"][-1][0] != self.step):
            val = self.validate(should_stop=lambda: stop.signum is not None)
            if val is not None:
                self.history["val"].append([self.step, val])
        self.save()          # still under the signal handlers: a second Ctrl-C cannot cut it short
        return "done" if stop.signum is None else "interrupted"

    def _limit_reached(self):
        c = self.config
        return (c.steps and self.step >= c.steps) or (c.minutes and self.elapsed >= 60 * c.minutes)


class _StopSignals:
    """While active (main thread only): SIGINT, SIGTERM and SIGHUP only record that a stop was asked."""

    def __init__(self):
        self.signum, self._previous = None, {}

    def _handle(self, signum, frame):
        if self.signum is None:
            self.signum = signum

    def __enter__(self):
        if _main_thread():
            for sig in STOP_SIGNALS:
                # An ignored signal stays ignored: `nohup pyrnn train &` must survive the terminal
                # closing, and a shell without job control starts background jobs ignoring SIGINT.
                if signal.getsignal(sig) is not signal.SIG_IGN:
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        return False


def check_corpus_size(n_tokens, config, level="char"):
    """CorpusError unless the corpus holds one batch of training tokens plus a usable validation split."""
    n_val = max(1, int(n_tokens * 0.05))
    if n_tokens - n_val - 1 >= config.batch and n_val >= 2:
        return
    needed = max(40, math.ceil((config.batch + 1) / 0.95) + 2)
    while not (needed - max(1, int(needed * 0.05)) - 1 >= config.batch and int(needed * 0.05) >= 2):
        needed += 1
    raise CorpusError(f"the corpus holds {n_tokens:,} {level}s, too few for batch {config.batch}: one batch "
                      f"needs {config.batch + 1} training {level}s and the held-out last 5% at least 2, so at "
                      f"least {needed:,} {level}s (or a smaller --batch)")


def _main_thread():
    import threading
    return threading.current_thread() is threading.main_thread()
