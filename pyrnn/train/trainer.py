"""Truncated-BPTT training of a LanguageModel on a text corpus, with checkpoints and resume."""
import dataclasses
import hashlib
import json
import math
import os
import signal
import time

import numpy as np

from .. import __version__
from . import checkpoint
from .data import ContiguousBatches, Vocabulary, load_corpus, split_train_val
from .model import LanguageModel
from .optim import OPTIMIZERS, clip_grad_norm, clip_grad_value

LN2 = math.log(2)


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a run (stored in the checkpoint; a resume reuses it)."""
    corpus: list = dataclasses.field(default_factory=list)   # files/folders; empty = default corpus
    level: str = "char"
    max_words: int = 10_000
    cell: str = "lstm"
    embed: int = 64
    hidden: int = 256
    layers: int = 2
    seq_len: int = 100
    batch: int = 32
    optimizer: str = "adam"
    lr: float = 2e-3
    clip: float = 5.0
    clip_mode: str = "norm"
    steps: int = 0          # 0 = no step limit
    minutes: float = 0.0    # 0 = no time limit
    seed: int = 0
    backend: str = "auto"
    eval_every: int = 200
    val_tokens: int = 100_000


class Trainer:
    """Owns the data, model, optimizer and progress of one run; ``run()`` trains until a limit.

    Deterministic for a given config and backend: the data order is fixed
    (contiguous streams, no shuffling) and the only randomness is the seeded
    initialisation, so a run interrupted and resumed from its checkpoint ends
    with the same parameters as an uninterrupted one.
    """

    def __init__(self, config, out_dir, resume=None):
        self.config, self.out_dir = config, out_dir
        text, files = load_corpus(config.corpus)
        self.corpus_sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        self.vocab = Vocabulary.from_json(resume["vocab"]) if resume else \
            Vocabulary.build(text, config.level, config.max_words)
        if resume and resume["corpus_sha256"] != self.corpus_sha:
            raise checkpoint.CheckpointError("the corpus changed since the checkpoint was written "
                                             f"({', '.join(config.corpus) or 'default corpus'})")
        ids = self.vocab.encode(text)
        train_ids, self.val_ids = split_train_val(ids)
        self.batches = ContiguousBatches(train_ids, config.batch, config.seq_len)
        self.corpus_files, self.n_tokens = len(files), len(ids)
        self.model = LanguageModel(len(self.vocab), config.embed, config.hidden, config.layers, config.cell,
                                   config.backend, seed=config.seed)
        self.optimizer = OPTIMIZERS[config.optimizer](self.model.parameters, lr=config.lr)
        self.rng = np.random.default_rng(config.seed)
        self.step, self.chunk_index, self.tokens_seen, self.elapsed = 0, 0, 0, 0.0
        self.history = {"train": [], "val": []}      # [step, bits per token]
        self.carry = None

    # -- checkpoints -------------------------------------------------------------
    def meta(self):
        return dict(pyrnn_version=__version__, config=dataclasses.asdict(self.config), vocab=self.vocab.to_json(),
                    corpus_sha256=self.corpus_sha, step=self.step, chunk_index=self.chunk_index,
                    tokens_seen=self.tokens_seen, elapsed=self.elapsed, history=self.history,
                    rng_state=self.rng.bit_generator.state)

    def save(self):
        carry = None if self.carry is None else (self.carry if isinstance(self.carry, tuple) else (self.carry,))
        checkpoint.save(self.out_dir, self.meta(), self.model.state_dict(), self.optimizer.state_dict(), carry)
        checkpoint.atomic_write(os.path.join(self.out_dir, "history.json"),
                                lambda f: f.write(json.dumps(self.history).encode()))

    @classmethod
    def resume(cls, out_dir, steps=None, minutes=None):
        """Rebuild a run from DIR/checkpoint.npz; steps/minutes may extend its limits."""
        meta, model_state, optim_state, carry = checkpoint.load(out_dir)
        try:
            config = TrainConfig(**meta["config"])
        except TypeError as exc:
            raise checkpoint.CheckpointError(f"{out_dir}: checkpoint config does not fit this pyrnn ({exc})") from None
        if steps is not None:
            config.steps = steps
        if minutes is not None:
            config.minutes = minutes
        trainer = cls(config, out_dir, resume=meta)
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
            trainer.carry = tuple(carry) if trainer.model.is_lstm else carry[0]
        return trainer

    # -- evaluation ------------------------------------------------------------
    def validate(self, max_tokens=None):
        """Mean validation loss in bits per token over (a prefix of) the held-out 5%."""
        ids = self.val_ids[:max_tokens] if max_tokens else self.val_ids
        streams = min(self.config.batch, max(1, (len(ids) - 1) // 2))
        batches = ContiguousBatches(ids, streams, self.config.seq_len)
        self.model.eval()
        total, count, state = 0.0, 0, None
        try:
            for i in range(batches.chunks_per_epoch):
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
        loss, self.carry = self.model.loss_and_backward(x, y, self.carry)
        if self.config.clip > 0:
            (clip_grad_norm if self.config.clip_mode == "norm" else clip_grad_value)(
                self.model.parameters, self.config.clip)
        self.optimizer.step()
        self.optimizer.zero_grad()
        self.step += 1
        self.chunk_index += 1
        self.tokens_seen += y.size
        return loss

    def run(self, progress=None):
        """Train until config.steps or config.minutes of training time; Ctrl-C stops after the current step.

        Returns "done" or "interrupted"; a checkpoint is written either way.
        progress: callable(trainer, loss, tokens_per_second) called after each step.
        """
        interrupted = []
        previous = signal.signal(signal.SIGINT, lambda *_: interrupted.append(True)) \
            if _main_thread() else None
        self.model.train()
        window = []
        try:
            while not interrupted and not self._limit_reached():
                t0 = time.perf_counter()
                loss = self._train_step()
                seconds = time.perf_counter() - t0
                window = (window + [(self.batches.batch * self.config.seq_len, seconds)])[-20:]
                self.elapsed += seconds        # training time: validations are not counted
                if self.step % 10 == 0 or self.step == 1:
                    self.history["train"].append([self.step, loss / LN2])
                if self.config.eval_every and self.step % self.config.eval_every == 0:
                    self.history["val"].append([self.step, self.validate(self.config.val_tokens)])
                if progress is not None:
                    progress(self, loss, sum(w[0] for w in window) / sum(w[1] for w in window))
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        if interrupted:
            self.save()
            return "interrupted"
        if not self.history["val"] or self.history["val"][-1][0] != self.step:
            self.history["val"].append([self.step, self.validate()])
        self.save()
        return "done"

    def _limit_reached(self):
        c = self.config
        return (c.steps and self.step >= c.steps) or (c.minutes and self.elapsed >= 60 * c.minutes)


def _main_thread():
    import threading
    return threading.current_thread() is threading.main_thread()
