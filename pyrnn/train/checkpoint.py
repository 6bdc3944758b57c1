"""Checkpoints: one .npz file (no pickle) holding arrays and a JSON header, written atomically, read warily.

Layout of ``DIR/checkpoint.npz`` (an uncompressed zip of .npy members):
    meta            0-d unicode array: JSON (format tag, config, vocabulary, progress, RNG state)
    model/<name>    parameters (LanguageModel.state_dict names)
    optim/<name>    optimizer state (Optimizer.state_dict names)
    carry/<i>       the hidden state carried into the next chunk (absent at an epoch start)

Writing: to a temporary file in DIR, fsynced, then renamed over the old one,
so a crash, Ctrl-C or a full disk never leaves a half-written checkpoint and
the previous one stays intact until the rename.

Reading trusts nothing: the header is checked field by field (types, ranges)
before anything is sized from it; the arrays it implies are compared with
the file's size before any is read (a 40 KB file cannot hold a hidden=20000
model); only the expected members are opened, each one's declared size and
.npy header (shape, dtype) checked before its data is read; unknown members
are never decompressed. Every failure is a CheckpointError saying what is wrong.
"""
import dataclasses
import json
import math
import os
import tempfile
import zipfile

import numpy as np

from ..backends.base import states_of
from ..vocab import UNKNOWN, Vocabulary
from .config import TrainConfig, format_bytes, parameter_count
from .model import LanguageModel
from .optim import OPTIMIZERS

FORMAT = "pyrnn-checkpoint"
VERSION = 1
FILENAME = "checkpoint.npz"
MAX_META_BYTES = 64 * 2**20          # the JSON header: vocabulary and history, a few MB at most
_NPY_HEADER_SLACK = 4096             # an .npy member's header (magic, dict, padding) is far smaller


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupted or not pyrnn's; the message says which and why."""


# -- writing ----------------------------------------------------------------------------------------
def atomic_write(path, write):
    """Call write(file object) on a temporary file next to path, then rename it over path.

    An OSError (disk full, folder gone, no permission) removes the temporary
    file and leaves path as it was.
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)       # mkstemp makes 0600; give the usual permissions of a new file
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save(folder, meta, model_state, optim_state, carry):
    """Write DIR/checkpoint.npz atomically; CheckpointError (naming the folder) when the OS refuses."""
    arrays = {"meta": np.array(json.dumps(dict(meta, format=FORMAT, version=VERSION)))}
    arrays.update({f"model/{k}": v for k, v in model_state.items()})
    arrays.update({f"optim/{k}": v for k, v in optim_state.items()})
    arrays.update({f"carry/{i}": v for i, v in enumerate(carry or ())})
    try:
        atomic_write(os.path.join(folder, FILENAME), lambda f: np.savez(f, **arrays))
    except OSError as exc:
        kept = " (the previous checkpoint there is intact)" if exists(folder) else ""
        raise CheckpointError(f"could not write the checkpoint in {folder}: {exc.strerror or exc}{kept}") from None


def exists(folder):
    return os.path.isfile(os.path.join(folder, FILENAME))


# -- reading ----------------------------------------------------------------------------------------
def load(folder):
    """-> (meta dict, model_state, optim_state, carry list or None), all checked; CheckpointError otherwise.

    meta["config"] is returned as a dict (``TrainConfig.from_dict`` accepted it);
    model_state holds exactly the parameters that config and vocabulary imply.
    """
    path = os.path.join(folder, FILENAME)
    if not os.path.isdir(folder):
        raise CheckpointError(f"checkpoint folder {folder} does not exist")
    if not os.path.isfile(path):
        raise CheckpointError(f"{folder} holds no pyrnn checkpoint ({FILENAME} is missing)")
    try:
        with zipfile.ZipFile(path) as archive:
            return _Reader(path, archive).read()
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, KeyError,
            NotImplementedError, RuntimeError, OverflowError, MemoryError) as exc:
        # RuntimeError: zipfile's "encrypted member"; NotImplementedError: an unknown compression;
        # EOFError/OSError: a truncated member; MemoryError: a member whose data does not fit.
        raise CheckpointError(f"{path} is not a readable pyrnn checkpoint ({type(exc).__name__}: {exc})") from None


class _Reader:
    """One checkpoint file being read: header first, then the members it implies."""

    def __init__(self, path, archive):
        self.path, self.archive = path, archive
        self.members = {info.filename: info for info in archive.infolist()}

    def fail(self, why):
        raise CheckpointError(f"{self.path}: {why}")

    def read(self):
        meta = self.read_meta()
        config = meta["config"]
        V = len(meta["vocab"]["tokens"])
        buffers = OPTIMIZERS[config["optimizer"]]._buffers
        n_states = states_of(config["cell"])
        carry_count = sum(1 for name in self.members if name.startswith("carry/"))
        if carry_count not in (0, n_states):
            self.fail(f"holds {carry_count} carried states, a {config['cell']} carries {n_states} (or none)")
        # Before sizing anything from the header (a claim of 10^5 layers would already make the
        # list of names large): can this file hold the arrays it claims? A closed form, in bytes.
        params = parameter_count(V, config["embed"], config["hidden"], config["layers"], config["cell"])
        needed = 4 * (params * (1 + len(buffers)) + carry_count * config["layers"] * config["batch"] * config["hidden"])
        size = os.path.getsize(self.path)
        if needed > size:
            self.fail(f"the header describes a model of {_sizes(config, V)} whose arrays need "
                      f"{format_bytes(needed)}, but the file holds only {format_bytes(size)}: "
                      f"the header was edited or the file is truncated")
        shapes = LanguageModel.parameter_shapes(V, config["embed"], config["hidden"], config["layers"],
                                                config["cell"])
        optim_shapes = {"step": ()}
        for name, shape in shapes.items():
            optim_shapes.update({f"{name}/{b}": shape for b in buffers})
        carry_shape = (config["layers"], config["batch"], config["hidden"])
        model = {k: self.read_array(f"model/{k}", s, "f") for k, s in shapes.items()}
        optim = {k: self.read_array(f"optim/{k}", s, "iu" if k == "step" else "f") for k, s in optim_shapes.items()}
        # The values the optimizer divides by or takes roots of: an edited step of -1 would make
        # Adam's bias correction divide by zero, a negative sum of squares give NaN silently.
        if optim["step"] < 0:
            self.fail(f"optimizer step count must be >= 0, got {optim['step']}")
        nonneg = OPTIMIZERS[config["optimizer"]]._nonnegative
        for k, arr in optim.items():
            if k.rsplit("/", 1)[-1] in nonneg and not (arr >= 0).all():
                self.fail(f"optimizer state {k!r} holds negative or NaN values (a sum of squares)")
        carry = [self.read_array(f"carry/{i}", carry_shape, "f") for i in range(carry_count)]
        return meta, model, optim, (carry or None)

    def read_meta(self):
        info = self.members.get("meta.npy")
        # A stored (uncompressed) member cannot hold more than the file; a compressed one is capped.
        stored = info is not None and info.compress_type == zipfile.ZIP_STORED
        text = self.read_array("meta", (), "U", max_bytes=os.path.getsize(self.path) if stored else MAX_META_BYTES)
        try:
            meta = json.loads(str(text[()]))
        except ValueError as exc:
            self.fail(f"its header is not valid JSON ({exc})")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            self.fail("is not a pyrnn checkpoint (format tag "
                      f"{meta.get('format') if isinstance(meta, dict) else None!r})")
        if meta.get("version") != VERSION:
            self.fail(f"has checkpoint version {meta.get('version')!r}, this pyrnn reads version {VERSION}")
        try:
            check_meta(meta)
        except ValueError as exc:
            self.fail(f"its header is not usable: {exc}")
        # Fields an older pyrnn did not write take their defaults, as TrainConfig.from_dict gave them.
        meta["config"] = dataclasses.asdict(TrainConfig.from_dict(meta["config"]))
        return meta

    def read_array(self, name, shape, kinds, max_bytes=None):
        """Member `name`.npy as an array of exactly `shape` and a dtype kind in `kinds`."""
        info = self.members.get(name + ".npy")
        if info is None:
            self.fail(f"member {name!r} is missing")
        if max_bytes is None:
            max_bytes = 8 * math.prod(shape) + _NPY_HEADER_SLACK
        if info.file_size > max_bytes:
            self.fail(f"member {name!r} declares {format_bytes(info.file_size)}, at most "
                      f"{format_bytes(max_bytes)} expected")
        with self.archive.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                stored_shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                stored_shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            if tuple(stored_shape) != tuple(shape) or dtype.kind not in kinds or dtype.hasobject:
                self.fail(f"member {name!r} is {dtype} of shape {tuple(stored_shape)}, expected shape "
                          f"{tuple(shape)} ({'text' if kinds == 'U' else 'numbers'})")
            count = math.prod(shape)
            data = f.read(count * dtype.itemsize)
            if len(data) != count * dtype.itemsize:
                self.fail(f"member {name!r} is truncated")
            f.read()                        # to the member's end: zipfile checks its CRC there
        return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C").copy()


def _sizes(config, vocab_size):
    return (f"{config['layers']} x {config['hidden']} {config['cell']}, embedding {config['embed']}, "
            f"vocabulary {vocab_size}")


# -- the header's fields ------------------------------------------------------------------------------
def _count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_meta(meta):
    """Every field the trainer and the sampler read; ValueError naming the first bad one."""
    config = TrainConfig.from_dict(meta.get("config"))
    check_vocab(meta.get("vocab"))
    if meta["vocab"]["level"] != config.level:
        raise ValueError(f"the vocabulary is {meta['vocab']['level']}-level, the config says {config.level!r}")
    for name in ("step", "chunk_index", "tokens_seen"):
        if not _count(meta.get(name)):
            raise ValueError(f"{name!r} must be an integer >= 0, got {meta.get(name)!r}")
    elapsed = meta.get("elapsed")
    if not isinstance(elapsed, (int, float)) or isinstance(elapsed, bool) or not math.isfinite(elapsed) \
            or elapsed < 0:
        raise ValueError(f"'elapsed' must be a number of seconds >= 0, got {elapsed!r}")
    sha = meta.get("corpus_sha256")
    if not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
        raise ValueError(f"'corpus_sha256' must be 64 hex digits, got {sha!r}")
    history = meta.get("history")
    if not (isinstance(history, dict) and set(history) == {"train", "val"}):
        raise ValueError("'history' must be an object with lists 'train' and 'val'")
    for part, points in history.items():
        if not isinstance(points, list) or not all(
                isinstance(p, list) and len(p) == 2 and _count(p[0]) and isinstance(p[1], (int, float))
                and not isinstance(p[1], bool) for p in points):
            raise ValueError(f"'history.{part}' must be a list of [step, bits] pairs")
    try:
        np.random.default_rng(0).bit_generator.state = meta.get("rng_state")
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise ValueError(f"'rng_state' is not a NumPy PCG64 state ({type(exc).__name__}: {exc})") from None


def check_vocab(vocab):
    """A Vocabulary.to_json() dict: level, and a non-empty list of distinct tokens (chars: one each)."""
    if not isinstance(vocab, dict) or vocab.get("level") not in ("char", "word"):
        raise ValueError("'vocab' must be an object with 'level' 'char' or 'word'")
    tokens = vocab.get("tokens")
    if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) and t for t in tokens):
        raise ValueError("'vocab.tokens' must be a non-empty list of non-empty strings")
    if len(set(tokens)) != len(tokens):
        raise ValueError("'vocab.tokens' holds duplicates")
    if vocab["level"] == "char" and any(len(t) != 1 for t in tokens):
        raise ValueError("a character vocabulary must hold single characters")
    if vocab["level"] == "word" and UNKNOWN not in tokens:
        raise ValueError(f"a word vocabulary must hold {UNKNOWN!r}")


def load_language_model(folder, backend="auto"):
    """(model in eval mode, Vocabulary, meta) from DIR/checkpoint.npz; CheckpointError when unusable."""
    meta, model_state, _, _ = load(folder)
    vocab = Vocabulary.from_json(meta["vocab"])
    cfg = meta["config"]
    model = LanguageModel(len(vocab), cfg["embed"], cfg["hidden"], cfg["layers"], cfg["cell"], backend=backend,
                          seed=0)
    model.load_state_dict(model_state)            # shapes were checked by load()
    return model.eval(), vocab, meta
