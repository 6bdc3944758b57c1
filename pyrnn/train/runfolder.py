"""The run folder of `pyrnn train`: checked before any work, and locked while a run owns it.

The lock is an OS lock (flock) on ``DIR/.lock``: it dies with the process that
holds it, so a run killed with SIGKILL leaves no stale lock behind, and a
second run on the same folder (two ``--resume DIR``) is refused at once
instead of silently overwriting the other's checkpoints.
"""
import errno
import fcntl
import os

LOCK_NAME = ".lock"


class RunFolderError(Exception):
    """The run folder cannot be used (not a folder, not writable, in use); the message says why."""


def check_new_folder(path):
    """Refuse an --out that cannot become a run folder, without creating anything yet."""
    if os.path.islink(path) and not os.path.exists(path):
        raise RunFolderError(f"--out {path} is a broken symbolic link (to {os.readlink(path)})")
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise RunFolderError(f"--out {path} exists and is not a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise RunFolderError(f"the run folder {path} is not writable")
        return
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise RunFolderError(f"cannot create the run folder {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RunFolderError(f"cannot create the run folder {path}: {parent} is not writable")


def create_folder(path):
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise RunFolderError(f"cannot create the run folder {path}: {exc.strerror or exc}") from None


class RunLock:
    """Exclusive ownership of a run folder for the life of this object (or until ``release``)."""

    def __init__(self, folder):
        self.folder = folder
        path = os.path.join(folder, LOCK_NAME)
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise RunFolderError(f"cannot use the run folder {folder}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_pid(self._fd)
            os.close(self._fd)
            self._fd = None
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunFolderError(f"{folder} is in use by another pyrnn train"
                                     + (f" (pid {holder})" if holder else "")
                                     + "; wait for it to finish or stop it first") from None
            raise RunFolderError(f"cannot lock the run folder {folder}: {exc.strerror or exc}") from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())

    def release(self):
        if self._fd is not None:
            os.close(self._fd)          # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def _read_pid(fd):
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return text if text.isdigit() else None
