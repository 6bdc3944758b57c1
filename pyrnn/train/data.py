"""Text corpora and contiguous batches for truncated BPTT (the vocabulary is :mod:`pyrnn.vocab`)."""
import os
import stat
import sysconfig

import numpy as np

DEFAULT_CORPUS_BYTES = 4_500_000      # the default corpus stops adding files past this size


class CorpusError(ValueError):
    """The corpus cannot be used (missing, empty, binary); the message says which file and why."""


def default_corpus_files():
    """The embedded default corpus: the standard library's own top-level ``.py`` files.

    Sorted by name and taken until about 4.5 MB, so the list is fixed for a
    given Python installation and needs no download.
    """
    stdlib = sysconfig.get_paths()["stdlib"]
    files, total = [], 0
    for name in sorted(os.listdir(stdlib)):
        path = os.path.join(stdlib, name)
        if name.endswith(".py") and os.path.isfile(path):
            files.append(path)
            total += os.path.getsize(path)
            if total >= DEFAULT_CORPUS_BYTES:
                break
    if not files:
        raise CorpusError(f"no .py files found in the standard library folder {stdlib}")
    return files


def _read_text(path):
    """The UTF-8 text of a regular file; CorpusError for anything else.

    Opened without blocking and checked on the open descriptor (no race between
    the check and the read): a FIFO would block forever and a device such as
    /dev/zero never ends.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise CorpusError(f"corpus file {path} cannot be read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as f:
        kind = _kind(os.fstat(fd).st_mode)
        if kind != "file":
            raise CorpusError(f"corpus path {path} is {kind}, not a regular file")
        data = f.read()
    if b"\0" in data:
        raise CorpusError(f"corpus file {path} is binary (it contains NUL bytes), not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"corpus file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _kind(mode):
    """What a stat mode describes, in words."""
    for test, words in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                        (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return words
    return "not a regular file"


def _describe(path):
    """What a path is (as _kind says, symlinks resolved), "a broken symbolic link", or None if absent."""
    try:
        return _kind(os.stat(path).st_mode)
    except FileNotFoundError:
        return "a broken symbolic link" if os.path.islink(path) else None
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"


def load_corpus(paths=None, skipped=None):
    """Concatenated text of files and folders (folders: every regular text file below, sorted).

    paths None or empty: the default corpus. Only regular files are read
    (symlinks resolved first): inside a folder, binary files, FIFOs, devices,
    sockets and broken symlinks are skipped and, when ``skipped`` is a list,
    reported there as (path, sentence); a path named explicitly that is not a
    readable text file, a missing path or an empty result raise CorpusError.
    Returns (text, list of files used).
    """
    if not paths:
        files = default_corpus_files()
        explicit = set(files)
    else:
        files, explicit = [], set()
        for path in paths:
            kind = _describe(path)
            if kind is None:
                raise CorpusError(f"corpus path {path} does not exist")
            if kind == "a folder":
                for root, dirs, names in os.walk(path):
                    dirs.sort()
                    for d in dirs:             # os.walk does not follow them: say so
                        if skipped is not None and os.path.islink(os.path.join(root, d)):
                            link = os.path.join(root, d)
                            skipped.append((link, f"{link} is a symbolic link to a folder (not followed)"))
                    files.extend(os.path.join(root, n) for n in sorted(names) if not n.startswith("."))
            elif kind == "file":
                files.append(path)
                explicit.add(path)
            else:
                raise CorpusError(f"corpus path {path} is {kind}, not a text file or a folder")
    texts, used = [], []
    for path in files:
        if path not in explicit:
            kind = _describe(path)
            if kind != "file":
                if skipped is not None:
                    skipped.append((path, f"{path} is {kind or 'gone'}, not a regular file"))
                continue
        try:
            texts.append(_read_text(path))
            used.append(path)
        except CorpusError as exc:
            if path in explicit:
                raise
            if skipped is not None:
                skipped.append((path, str(exc)))
    text = "".join(texts)
    if not text:
        raise CorpusError("the corpus is empty: " + (", ".join(paths) if paths else "default corpus"))
    return text, used


def split_train_val(ids, val_fraction=0.05):
    """The last val_fraction of the sequence is held out (contiguous, so no leakage across the cut)."""
    n_val = max(1, int(len(ids) * val_fraction))
    return ids[:-n_val], ids[-n_val:]


class ContiguousBatches:
    """B parallel streams over a token sequence, cut into chunks of seq_len for truncated BPTT.

    Stream b reads tokens [b * L, (b + 1) * L) with L = (N - 1) // B, so the
    hidden state carried from chunk i to chunk i + 1 continues the same text.
    chunk(i) -> (inputs (T, B), targets (T, B)) int32, targets shifted by one;
    chunk indices wrap around (a new epoch restarts every stream).
    """

    def __init__(self, ids, batch, seq_len):
        self.batch, self.seq_len = batch, seq_len
        L = (len(ids) - 1) // batch
        if L < 1:
            raise CorpusError(f"the text ({len(ids)} tokens) is too short for batch {batch}")
        self.chunks_per_epoch = max(1, (L - 1) // seq_len + 1) if L > 0 else 1
        self._x = np.ascontiguousarray(ids[:batch * L].reshape(batch, L).T)            # (L, B)
        self._y = np.ascontiguousarray(ids[1:batch * L + 1].reshape(batch, L).T)
        self.length = L

    def chunk(self, index):
        """(inputs, targets), each (T, B) with T <= seq_len; the epoch's last chunk may be shorter."""
        start = (index % self.chunks_per_epoch) * self.seq_len
        stop = min(start + self.seq_len, self.length)
        return self._x[start:stop], self._y[start:stop]

    def starts_epoch(self, index):
        return index % self.chunks_per_epoch == 0
