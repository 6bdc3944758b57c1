"""What defines a training run (TrainConfig), its checks, and what the run's memory will be.

The same checks serve a new run's options and a checkpoint's stored config, so
an edited or corrupted header fails here with a sentence instead of deep inside
NumPy; the memory estimate refuses sizes the machine cannot hold before
anything is allocated.
"""
import dataclasses
import math
import os

from ..backends.base import GATES
from ..errors import InputError
from .model import CELLS
from .optim import OPTIMIZERS

SAVE_EVERY_SECONDS = 120.0     # without --save-every: a checkpoint at least this often (training time)


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
    save_every: int = 0     # steps between checkpoints; 0 = every SAVE_EVERY_SECONDS of training

    @classmethod
    def from_dict(cls, values):
        """A config from a stored dict, every field checked; ValueError names the first bad one."""
        if not isinstance(values, dict):
            raise ValueError(f"config must be a JSON object, got {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"config has fields this pyrnn does not know: {', '.join(unknown)}")
        config = cls(**values)
        config.validate()
        return config

    def validate(self):
        """Types and ranges of every field; ValueError naming the field and what it holds."""
        for name, (kind, check, expected) in _FIELDS.items():
            value = getattr(self, name)
            if not _is(value, kind) or not check(value):
                raise ValueError(f"config field {name!r} must be {expected}, got {value!r}")
        return self


def _is(value, kind):
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind is list:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, kind)


_FIELDS = {
    "corpus": (list, lambda v: True, "a list of paths"),
    "level": (str, lambda v: v in ("char", "word"), "'char' or 'word'"),
    "max_words": (int, lambda v: v >= 1, "an integer >= 1"),
    "cell": (str, lambda v: v in CELLS, f"one of {sorted(CELLS)}"),
    "embed": (int, lambda v: v >= 1, "an integer >= 1"),
    "hidden": (int, lambda v: v >= 1, "an integer >= 1"),
    "layers": (int, lambda v: v >= 1, "an integer >= 1"),
    "seq_len": (int, lambda v: v >= 1, "an integer >= 1"),
    "batch": (int, lambda v: v >= 1, "an integer >= 1"),
    "optimizer": (str, lambda v: v in OPTIMIZERS, f"one of {sorted(OPTIMIZERS)}"),
    "lr": (float, lambda v: v > 0, "a number > 0"),
    "clip": (float, lambda v: v >= 0, "a number >= 0"),
    "clip_mode": (str, lambda v: v in ("norm", "value"), "'norm' or 'value'"),
    "steps": (int, lambda v: v >= 0, "an integer >= 0"),
    "minutes": (float, lambda v: v >= 0, "a number >= 0"),
    "seed": (int, lambda v: v >= 0, "an integer >= 0"),
    "backend": (str, lambda v: bool(v), "a backend name"),
    "eval_every": (int, lambda v: v >= 0, "an integer >= 0"),
    "val_tokens": (int, lambda v: v >= 1, "an integer >= 1"),
    "save_every": (int, lambda v: v >= 0, "an integer >= 0"),
}


# -- memory ---------------------------------------------------------------------------------------
def parameter_count(vocab_size, embed, hidden, layers, cell):
    """Parameters of LanguageModel(vocab_size, embed, hidden, layers, cell), as a Python int
    (closed form: a header may claim 10^5 layers, and listing them would be slow)."""
    G = GATES["rnn_tanh" if cell == "rnn" else cell]
    recurrent = G * hidden * (embed + hidden + 2) + (layers - 1) * G * hidden * (2 * hidden + 2)
    return vocab_size * embed + recurrent + hidden * vocab_size + vocab_size


def training_bytes(vocab_size, config, chunk_len):
    """A lower estimate of the memory one training step needs (float32), in bytes.

    Parameters with their gradients and two optimizer moments, plus what the
    forward keeps for backward: per step and sequence the gates and states of
    every layer, the embeddings, and the logits with their gradient and the
    softmax (the large part for a big vocabulary). chunk_len is the real chunk
    length, seq_len capped by the tokens each stream holds.
    """
    c = config
    params = parameter_count(vocab_size, c.embed, c.hidden, c.layers, c.cell)
    per_row = c.embed + c.layers * 10 * c.hidden + 3 * vocab_size
    return 4 * (4 * params + chunk_len * c.batch * per_row)


def machine_memory_bytes():
    """What this process may allocate (bytes): the least of physical memory, the memory available
    now (Linux's MemAvailable) and the address-space limit (ulimit -v); None where nothing is known."""
    limits = []
    try:
        limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
                    break
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            limits.append(soft)
    except (ImportError, OSError, ValueError):
        pass
    return min(limits) if limits else None


def format_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def check_fits_in_memory(needed, what):
    """InputError when `needed` bytes exceed what this process may allocate (machine_memory_bytes)."""
    total = machine_memory_bytes()
    if total is not None and needed > total:
        raise InputError(f"{what} needs at least {format_bytes(needed)} of memory, this machine has "
                         f"{format_bytes(total)} available; choose smaller sizes")
