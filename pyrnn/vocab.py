"""The one vocabulary of the applications: tokens <-> ids, for ``pyrnn train`` and every model in pyrnn.models.

A :class:`Vocabulary` is an ordered list of tokens (id = position) and a
``level`` saying how a text becomes tokens:

* ``"char"``: every character is a token; ids join back with "".
* ``"word"``: words, whitespace runs and single symbols (the language model's
  word level): joining the tokens back with "" gives the text exactly.
* ``"space"``: the text split at whitespace (a closed grammar's words, such as
  the captions); ids join back with " ".

Some tokens may be *reserved*: ``<pad>`` (padding), ``<s>`` (start), ``</s>``
(end of sequence), ``<unk>`` (any token not in the vocabulary). With ``<unk>``
an unknown token maps to it; without, encoding one raises DataError naming it.
Decoding drops padding, start and end, and writes ``<unk>`` as itself.
"""
import collections
import re

import numpy as np

from .errors import DataError

PAD, BOS, EOS, UNKNOWN = "<pad>", "<s>", "</s>", "<unk>"
RESERVED = (PAD, BOS, EOS, UNKNOWN)
SEQUENCE_SPECIALS = (PAD, BOS, EOS)      # what a sequence-to-sequence model's target side needs

_SPLITTERS = {
    "char": list,
    "word": re.compile(r"\w+|\s+|[^\w\s]").findall,
    "space": str.split,
}
_JOINERS = {"char": "", "word": "", "space": " "}
# What a vocabulary stored without its reserved tokens named (as the language model's checkpoints
# have always been) reserves: a word-level one holds <unk>, a char-level one nothing.
_DEFAULT_SPECIALS = {"char": (), "word": (UNKNOWN,), "space": ()}


class Vocabulary:
    """Tokens <-> ids.

    ``Vocabulary(tokens, level="char", specials=())``: ``tokens`` are all the
    tokens in id order, ``specials`` names the reserved ones among them (a subset
    of ``<pad> <s> </s> <unk>``). ``pad_id``, ``bos_id``, ``eos_id``, ``unk_id``
    are their ids (None when not reserved).
    """

    def __init__(self, tokens, level="char", specials=()):
        if level not in _SPLITTERS:
            raise ValueError(f"level must be one of {sorted(_SPLITTERS)}, got {level!r}")
        self.level = level
        self.tokens = list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise DataError("a vocabulary's tokens must be distinct")
        self.specials = tuple(specials)
        unknown = [s for s in self.specials if s not in RESERVED]
        if unknown:
            raise ValueError(f"reserved tokens are {', '.join(RESERVED)}; got {unknown}")
        absent = [s for s in self.specials if s not in self.index]
        if absent:
            raise DataError(f"the reserved tokens {absent} are not among the vocabulary's tokens")
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = (
            self.index[s] if s in self.specials else None for s in RESERVED)
        # Ids decode() leaves out: padding, start and end (never text).
        self._silent = {self.index[s] for s in self.specials if s != UNKNOWN}

    # -- building ------------------------------------------------------------------
    @classmethod
    def build(cls, text, level="char", max_words=10_000):
        """The language model's vocabulary of ``text``: char level every character seen (sorted),
        word level <unk> and the ``max_words`` most frequent tokens (sorted)."""
        if level == "char":
            return cls(sorted(set(text)), "char")
        counts = collections.Counter(_SPLITTERS[level](text))
        common = sorted(t for t, _ in counts.most_common(max_words))
        return cls([UNKNOWN] + common, level, specials=(UNKNOWN,))

    @classmethod
    def of(cls, tokens, level="char", specials=SEQUENCE_SPECIALS):
        """The reserved tokens (ids 0, 1, ...) then the distinct ``tokens`` sorted, e.g. an alphabet."""
        return cls(list(specials) + sorted(set(tokens) - set(specials)), level, specials)

    @classmethod
    def counted(cls, token_lists, min_count=1, level="word", specials=(PAD, UNKNOWN)):
        """From already split texts (training texts only): every token seen ``min_count`` times or more."""
        counts = collections.Counter(t for tokens in token_lists for t in tokens)
        return cls.of([t for t, c in counts.items() if c >= min_count], level, specials)

    # -- use ------------------------------------------------------------------------
    def __len__(self):
        return len(self.tokens)

    def __repr__(self):
        return f"Vocabulary({len(self)} tokens, level={self.level!r}, specials={list(self.specials)})"

    def split(self, text):
        """text -> its tokens at this vocabulary's level."""
        return _SPLITTERS[self.level](text)

    def unknown(self, text):
        """The distinct tokens of ``text`` that encode() would refuse (none when <unk> is reserved), sorted."""
        if self.unk_id is not None:
            return []
        return sorted(set(t for t in self.split(text) if t not in self.index))

    def encode(self, text, eos=False):
        """text (or a list of tokens already split) -> (N,) int32 ids, plus the end id when ``eos``."""
        tokens = self.split(text) if isinstance(text, str) else list(text)
        if eos and self.eos_id is None:
            raise DataError("eos=True needs a vocabulary that reserves </s>")
        index, unk = self.index, self.unk_id
        ids = (index[t] for t in tokens) if unk is None else (index.get(t, unk) for t in tokens)
        try:
            ids = np.fromiter(ids, dtype=np.int32, count=len(tokens))
        except KeyError as exc:
            raise DataError(f"token {exc.args[0]!r} is not in the vocabulary") from None
        return np.append(ids, np.int32(self.eos_id)) if eos else ids

    def decode(self, ids):
        """ids -> text (padding, start and end left out)."""
        return _JOINERS[self.level].join(self.tokens[int(i)] for i in ids if int(i) not in self._silent)

    def batch(self, texts, eos=False, max_len=None):
        """texts -> ``(ids (N, L) int64 padded with <pad>, lengths (N,) int64)``."""
        if self.pad_id is None:
            raise DataError("batch() needs a vocabulary that reserves <pad>")
        return pad_sequences([self.encode(t, eos) for t in texts], pad=self.pad_id, max_len=max_len)

    # -- storage --------------------------------------------------------------------
    def to_json(self):
        """``{"level", "tokens"}`` (plus ``"specials"`` when they are not the level's default)."""
        out = {"level": self.level, "tokens": list(self.tokens)}
        if self.specials != _DEFAULT_SPECIALS[self.level]:
            out["specials"] = list(self.specials)
        return out

    @classmethod
    def from_json(cls, data):
        level = data["level"]
        return cls(data["tokens"], level, tuple(data.get("specials", _DEFAULT_SPECIALS.get(level, ()))))


def pad_sequences(seqs, pad=0, max_len=None):
    """Lists of ids -> ``(ids (N, L) int64, lengths (N,) int64)``; longer ones cut at max_len, empty ones
    get one padding token (length 1) since a recurrent layer needs at least one step."""
    seqs = [list(s)[:max_len] if max_len else list(s) for s in seqs]
    seqs = [s if s else [pad] for s in seqs]
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    out = np.full((len(seqs), int(lengths.max()) if len(seqs) else 1), pad, dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = s
    return out, lengths
