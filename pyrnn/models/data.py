"""Data for the example applications: no download, every generator seeded and deterministic.

* :func:`load_digits_sequences` - scikit-learn's bundled 8x8 digits, read row by row (T = 8, I = 8).
* :func:`stratified_split` - train/test indices with every class in the same proportion.
* :func:`adding_problem` - Hochreiter & Schmidhuber's long-range memory task.
* :func:`split_dates`, :func:`date_examples` - dates in many human formats -> ISO 8601.
* :func:`reversal_examples` - digit strings and their reversal.
* :func:`read_labeled_csv`, :func:`tokenize` - text classification data (ids: :class:`pyrnn.vocab.Vocabulary`).
"""
import csv
import datetime
import os
import re

import numpy as np

from ..errors import DataError
from ..vocab import Vocabulary, pad_sequences  # noqa: F401  (pad_sequences: re-exported for the text examples)


class MissingDependencyError(ImportError):
    """An optional package a data set needs is not installed; the message says which and how to get it."""


# -- digits ------------------------------------------------------------------------------
def load_digits_sequences():
    """The 1,797 8x8 digit images as sequences of 8 rows of 8 pixels.

    Returns ``(X (1797, 8, 8) float32 in [0, 1], y (1797,) int64 labels 0-9)``:
    X[n, t] is row t of image n (pixel values 0..16 divided by 16).
    scikit-learn ships the data (no download); it is imported only here.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise MissingDependencyError("the digits data come with scikit-learn, which is not installed: "
                                     "pip install scikit-learn (or pip install 'pyrnn[examples]')") from None
    digits = load_digits()
    X = (digits.images / 16.0).astype(np.float32)
    return X, digits.target.astype(np.int64)


def stratified_split(y, test_fraction=0.2, seed=0):
    """Indices ``(train, test)``: test_fraction of every class, chosen by a seeded shuffle."""
    rng = np.random.default_rng(seed)
    y = np.asarray(y)
    train, test = [], []
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        n_test = int(round(len(idx) * test_fraction))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return rng.permutation(np.concatenate(train)), np.sort(np.concatenate(test))


# -- the adding problem ------------------------------------------------------------------
ADDING_BASELINE_MSE = 1 / 6   # predicting 1 (the mean) always: Var(u1 + u2) = 2 * 1/12


def adding_problem(n, T, seed=0):
    """n sequences of length T for the adding problem.

    Each step has two inputs: a number drawn from U(0, 1) and a marker, 1 at
    exactly two steps (one in the first half, one in the second: the variant
    of Le et al. 2015 and Arjovsky et al. 2016) and 0 elsewhere. The target
    is the sum of the two marked numbers. A model that cannot remember
    always predicts the mean, 1, and scores MSE 1/6 = 0.167 (the baseline).
    Returns ``(X (n, T, 2) float32, y (n,) float32)``.
    """
    if T < 2:
        raise ValueError(f"T must be >= 2, got {T}")
    rng = np.random.default_rng(seed)
    values = rng.uniform(0, 1, size=(n, T))
    half = T // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, T, size=n)
    markers = np.zeros((n, T))
    rows = np.arange(n)
    markers[rows, first] = 1
    markers[rows, second] = 1
    X = np.stack([values, markers], axis=2).astype(np.float32)
    y = (values[rows, first] + values[rows, second]).astype(np.float32)
    return X, y


# -- dates -------------------------------------------------------------------------------
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _ordinal(n):
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


# Unambiguous formats only: a named month, or a fixed numeric order (ISO-like year first; the
# dotted form is always day.month.year), so every input has exactly one right answer.
DATE_FORMATS = {
    "iso": lambda d: d.isoformat(),
    "compact": lambda d: d.strftime("%Y%m%d"),
    "slashes": lambda d: d.strftime("%Y/%m/%d"),
    "dotted": lambda d: d.strftime("%d.%m.%Y"),
    "d month yyyy": lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    "dd mon yyyy": lambda d: f"{d.day:02d} {MONTHS[d.month - 1][:3]} {d.year}",
    "month d, yyyy": lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    "mon d yyyy": lambda d: f"{MONTHS[d.month - 1][:3]} {d.day} {d.year}",
    "month dth, yyyy": lambda d: f"{MONTHS[d.month - 1]} {_ordinal(d.day)}, {d.year}",
    "dth of month yyyy": lambda d: f"{_ordinal(d.day)} of {MONTHS[d.month - 1]} {d.year}",
    "wkd d mon yyyy": lambda d: f"{WEEKDAYS[d.weekday()][:3]} {d.day} {MONTHS[d.month - 1][:3]} {d.year}",
    "weekday, month d, yyyy": lambda d: f"{WEEKDAYS[d.weekday()]}, {MONTHS[d.month - 1]} {d.day}, {d.year}",
    "weekday, the dth of month, yyyy":
        lambda d: f"{WEEKDAYS[d.weekday()]}, the {_ordinal(d.day)} of {MONTHS[d.month - 1]}, {d.year}",
    "the dth day of month in the year yyyy":
        lambda d: f"the {_ordinal(d.day)} day of {MONTHS[d.month - 1]} in the year {d.year}",
}


def split_dates(test_fraction=0.1, seed=0, first=datetime.date(1900, 1, 1), last=datetime.date(2099, 12, 31)):
    """Every calendar day in [first, last], split into disjoint ``(train_dates, test_dates)``.

    Held-out examples are held out as dates, not just as strings: no test
    date appears in training in any format.
    """
    days = np.arange((last - first).days + 1)
    rng = np.random.default_rng(seed)
    mask = rng.random(days.size) < test_fraction
    to_dates = lambda offsets: [first + datetime.timedelta(days=int(o)) for o in offsets]  # noqa: E731
    return to_dates(days[~mask]), to_dates(days[mask])


def date_examples(dates, n, seed=0, formats=None):
    """n examples ``(human, iso, format name)`` from dates, each in a random format and letter case.

    Formats with words are written as they are, in lower case or in upper
    case with equal chance (so "May", "may" and "MAY" all occur).
    """
    rng = np.random.default_rng(seed)
    names = list(DATE_FORMATS) if formats is None else list(formats)
    out = []
    for i in rng.integers(0, len(dates), size=n):
        d = dates[int(i)]
        name = names[int(rng.integers(len(names)))]
        text = DATE_FORMATS[name](d)
        case = rng.integers(3)
        text = text.lower() if case == 1 else text.upper() if case == 2 else text
        out.append((text, d.isoformat(), name))
    return out


def date_vocabularies():
    """(source vocabulary: every character any format can write, target vocabulary: ISO's "0-9" and "-")."""
    chars = set("0123456789 ,./-")
    for word in MONTHS + WEEKDAYS + ["the", "of", "day", "in", "year", "st", "nd", "rd", "th"]:
        chars |= set(word) | set(word.lower()) | set(word.upper())
    return Vocabulary.of(chars), Vocabulary.of("0123456789-")


# -- text classification ---------------------------------------------------------------
def read_labeled_csv(path):
    """A CSV file with a header row ``text,label`` (more columns are allowed and ignored).

    Returns ``(texts, labels)`` as lists of strings. Raises DataError naming
    the file (and the line) when it is missing, not UTF-8, lacks the header,
    has an empty text or label, or holds fewer than two labels.
    """
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file (expected a CSV file with a header row 'text,label')")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); expected a CSV file "
                        f"with a header row 'text,label'") from None
    except csv.Error as exc:
        raise DataError(f"{path}: not a readable CSV file ({exc})") from None
    if not rows:
        raise DataError(f"{path}: the file is empty; expected a header row 'text,label' and one example per line")
    header = [h.strip().lower() for h in rows[0]]
    if "text" not in header or "label" not in header:
        raise DataError(f"{path}: the first line must be the header 'text,label' (columns named text and label), "
                        f"got {','.join(rows[0])!r}")
    ti, li = header.index("text"), header.index("label")
    texts, labels = [], []
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not cell.strip() for cell in row):
            continue                                    # blank lines are harmless
        if len(row) <= max(ti, li):
            raise DataError(f"{path}, line {line}: expected {len(header)} columns like the header, got {len(row)}")
        text, label = row[ti].strip(), row[li].strip()
        if not text or not label:
            raise DataError(f"{path}, line {line}: empty {'text' if not text else 'label'}")
        texts.append(text)
        labels.append(label)
    if len(set(labels)) < 2:
        raise DataError(f"{path}: needs examples of at least two labels to classify, found "
                        f"{len(texts)} example(s) with label(s) {sorted(set(labels))}")
    return texts, labels


_WORDS = re.compile(r"\w+|[^\w\s]")


def tokenize(text, level):
    """Lower-cased tokens: characters (level "char") or words and punctuation marks (level "word")."""
    if level == "char":
        return list(text.lower())
    if level == "word":
        return _WORDS.findall(text.lower())
    raise ValueError(f"level must be 'char' or 'word', got {level!r}")


# -- digit strings -------------------------------------------------------------------------
def reversal_examples(n, min_len=4, max_len=30, seed=0, exclude=()):
    """n examples ``(digits, reversed digits)`` with lengths uniform in [min_len, max_len].

    Strings in ``exclude`` (e.g. the test set) are never produced, so a
    training set drawn with the test strings excluded is disjoint from it.
    """
    rng = np.random.default_rng(seed)
    exclude = set(exclude)
    out = []
    while len(out) < n:
        s = "".join(map(str, rng.integers(0, 10, size=int(rng.integers(min_len, max_len + 1)))))
        if s not in exclude:
            out.append((s, s[::-1]))
    return out
