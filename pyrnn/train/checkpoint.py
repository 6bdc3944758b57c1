"""Checkpoints: one .npz file (no pickle) holding arrays and a JSON header, written atomically.

Layout of ``DIR/checkpoint.npz``:
    meta            0-d unicode array: JSON (format tag, config, vocabulary, progress, RNG state)
    model/<name>    parameters (LanguageModel.state_dict names)
    optim/<name>    optimizer state (Optimizer.state_dict names)
    carry/<i>       the hidden state carried into the next chunk (absent at an epoch start)
It is written to a temporary file in DIR and renamed over the old one, so a
crash or Ctrl-C never leaves a half-written checkpoint, and a failing command
never touches a good one.
"""
import json
import os
import tempfile

import numpy as np

FORMAT = "pyrnn-checkpoint"
VERSION = 1
FILENAME = "checkpoint.npz"


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupted or not pyrnn's; the message says which and why."""


def atomic_write(path, write):
    """Call write(file object) on a temporary file next to path, then rename it over path."""
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
    """Write DIR/checkpoint.npz atomically."""
    arrays = {"meta": np.array(json.dumps(dict(meta, format=FORMAT, version=VERSION)))}
    arrays.update({f"model/{k}": v for k, v in model_state.items()})
    arrays.update({f"optim/{k}": v for k, v in optim_state.items()})
    arrays.update({f"carry/{i}": v for i, v in enumerate(carry or ())})
    atomic_write(os.path.join(folder, FILENAME), lambda f: np.savez(f, **arrays))


def exists(folder):
    return os.path.isfile(os.path.join(folder, FILENAME))


def load(folder):
    """-> (meta dict, model_state, optim_state, carry list or None); CheckpointError on anything odd."""
    path = os.path.join(folder, FILENAME)
    if not os.path.isdir(folder):
        raise CheckpointError(f"checkpoint folder {folder} does not exist")
    if not os.path.isfile(path):
        raise CheckpointError(f"{folder} holds no pyrnn checkpoint ({FILENAME} is missing)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(str(arrays.pop("meta")[()]))
    except Exception as exc:
        raise CheckpointError(f"{path} is not a readable pyrnn checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a pyrnn checkpoint (format tag {meta.get('format')!r})"
                              if isinstance(meta, dict) else f"{path} is not a pyrnn checkpoint")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {meta.get('version')}, this pyrnn reads {VERSION}")

    def part(prefix):
        return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}

    carry = part("carry/")
    carry = [carry[str(i)] for i in range(len(carry))] or None
    return meta, part("model/"), part("optim/"), carry
