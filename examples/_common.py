"""What every example script shares: the command line, the output folder, errors, JSON and figures.

Each example is ``main(argv=None) -> exit code``: it runs from a shell
(``python examples/NAME.py --quick``) and from Python (the test suite calls
main with a list of arguments).
"""
import argparse
import json
import os
import sys
import time

# Run from a clone without installing: the package lives one folder up.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import numpy as np  # noqa: E402

import pyrnn  # noqa: E402
from pyrnn.backends import get_backend  # noqa: E402
from pyrnn.backends.base import BackendUnavailableError  # noqa: E402
from pyrnn.models.data import DataError, MissingDependencyError  # noqa: E402


class UsageError(Exception):
    """A bad command-line value; reported in one line like the others."""


def parser(name, description):
    p = argparse.ArgumentParser(prog=name, description=description)
    p.add_argument("--quick", action="store_true",
                   help="a few seconds of training on less data (what the test suite runs)")
    p.add_argument("--out", default=os.path.join("runs", os.path.splitext(name)[0]),
                   help="folder for the pictures and metrics.json (created; nothing outside it is written); "
                        "default: %(default)s")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial weights and the batch order")
    p.add_argument("--backend", default="auto", help=f"pyrnn backend: auto or one of {pyrnn.available_backends()}")
    return p


def run(name, body, argv):
    """body(argv), with the user-facing errors (bad data, options, backend, a missing optional package)
    turned into one line on stderr and exit code 2; anything else is a bug and keeps its traceback."""
    try:
        return body(argv)
    except (DataError, MissingDependencyError, pyrnn.InputError, BackendUnavailableError, UsageError) as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 2


def given_or(value, default):
    """An option's value, or the default when it was not given: 0 and "" count as given
    (``value or default`` would turn ``--epochs 0`` into the default instead of an error)."""
    return default if value is None else value


def check_backend(name):
    try:
        get_backend(name)
    except (TypeError, ValueError) as exc:        # an unknown name lists the available ones
        raise UsageError(str(exc)) from None
    return name


def out_dir(path):
    os.makedirs(path, exist_ok=True)
    return path


def write_json(folder, data, filename="metrics.json"):
    path = os.path.join(folder, filename)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, default=_plain)
        f.write("\n")
    return path


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def confusion_matrix(y_true, y_pred, n):
    m = np.zeros((n, n), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return m


def plot_confusion(ax, matrix, labels, title):
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    top = matrix.max()
    for (i, j), v in np.ndenumerate(matrix):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                    color="white" if v > top / 2 else "black")


class Clock:
    def __init__(self):
        self.start = time.perf_counter()

    def seconds(self):
        return time.perf_counter() - self.start
