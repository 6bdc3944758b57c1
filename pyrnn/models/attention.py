"""Attention for step-by-step decoders: additive (Bahdanau) and dot-product (Luong), with backward.

Attending is two calls. ``memory = attention.memory(keys, values, mask)``
once per batch of source sequences: keys (B, S, K), values (B, S, Dv),
mask (B, S) bool (False = padding). Then ``context, weights =
attention(query, memory)`` at every decoder step: the query (B, Hq) scores
each of the S keys, a softmax over the valid positions turns the scores
into weights (B, S) (0 on padding), and the context (B, Dv) is the
weighted sum of the values.

``memory`` validates and copies once, zeroing the padded positions (so
that nothing there, even NaN, is ever read), instead of once per step;
the caller may reuse its own arrays afterwards.

Like pyrnn's cells, a module in train mode records every step on a tape
and each ``backward`` consumes the most recent one (last in, first out): a
decoder that attends at steps 1..T calls backward for T..1 and sums the
returned key and value gradients over the steps.
"""
from collections import namedtuple

import numpy as np

from .._blas import matmul
from .._checks import as_float, expect_shape, positive_int, private
from .._module import Module, StepTape
from ..errors import InputError

Memory = namedtuple("Memory", "keys values mask")
Memory.__doc__ = "What a query attends over: keys (B, S, K), values (B, S, Dv), mask (B, S) bool."


class _Attention(StepTape, Module):
    """The masked softmax, the weighted sum and the tape; subclasses supply the scores."""

    def __init__(self, dtype, seed):
        super().__init__(None, dtype, seed, uses_backend=False)
        self._tape = []

    def _key_size(self, query_size):
        raise NotImplementedError

    def _score(self, query, keys):
        """(scores (B, S), what _score_backward needs)."""
        raise NotImplementedError

    def _score_backward(self, dscores, query, keys, saved):
        """-> (dquery, dkeys); accumulates parameter gradients."""
        raise NotImplementedError

    def memory(self, keys, values, mask=None):
        """keys (B, S, K), values (B, S, Dv), mask (B, S) bool or None (all valid) -> a :class:`Memory`.

        Copies, with keys and values set to 0 where mask is False.
        """
        keys = as_float(keys, "keys", self.dtype)
        values = as_float(values, "values", self.dtype)
        if keys.ndim != 3 or values.ndim != 3:
            raise InputError(f"keys must be (B, S, K) and values (B, S, Dv); got shapes {keys.shape}, {values.shape}")
        B, S = keys.shape[:2]
        expect_shape(values, "values", (B, S, values.shape[2]), "(batch, S, value_size) like keys")
        if mask is None:
            return Memory(keys.copy(), values.copy(), np.ones((B, S), dtype=bool))
        mask = np.array(mask, dtype=bool)
        expect_shape(mask, "mask", (B, S), "(batch, S) like keys")
        if not mask.any(axis=1).all():
            raise InputError("mask must leave at least one valid position in every row")
        zero = lambda a: np.where(mask[:, :, None], a, 0).astype(self.dtype, copy=False)  # noqa: E731
        return Memory(zero(keys), zero(values), mask)

    def forward(self, query, memory):
        """query (B, Hq), memory from :meth:`memory` -> ``(context (B, Dv), weights (B, S))``.

        Every row of weights sums to 1 over the valid positions and is 0 on padding.
        """
        original = query
        query = as_float(query, "query", self.dtype)
        if not isinstance(memory, Memory):
            raise TypeError("memory must come from attention.memory(keys, values, mask)")
        B, S, K = memory.keys.shape
        if query.ndim != 2 or query.shape[0] != B or self._key_size(query.shape[1]) != K:
            raise InputError(f"query must be (batch, query_size) = ({B}, {self._query_size(K)}) for keys "
                             f"{memory.keys.shape}, got {query.shape}")
        if self.training:
            query = private(query, original)
        scores, saved = self._score(query, memory.keys)
        scores = np.where(memory.mask, scores, -np.inf)
        # Softmax with the row maximum subtracted (no overflow); masked positions give exp(-inf) = 0.
        w = np.exp(scores - scores.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        context = np.einsum("bs,bsd->bd", w, memory.values)
        if self.training:
            self._tape.append((query, memory, w, saved))
        return context, w

    def backward(self, dcontext, dweights=None):
        """Backprop the most recent pending step: dcontext (B, Dv), dweights (B, S) or None.

        Accumulates parameter gradients; returns ``(dquery, dkeys, dvalues)``
        (0 at padded positions).
        """
        self._require_tape()
        if not self._tape:
            raise RuntimeError("backward() needs a pending forward() in train mode")
        query, memory, w, saved = self._tape[-1]
        dcontext = as_float(dcontext, "dcontext", self.dtype)
        expect_shape(dcontext, "dcontext", (w.shape[0], memory.values.shape[2]), "(batch, value_size)")
        self._tape.pop()
        dvalues = w[:, :, None] * dcontext[:, None, :]
        dw = np.einsum("bsd,bd->bs", memory.values, dcontext)
        if dweights is not None:
            dw = dw + as_float(dweights, "dweights", self.dtype)
        # Softmax Jacobian: ds = w * (dw - <w, dw>); masked positions have w = 0, so no gradient.
        dscores = w * (dw - np.sum(w * dw, axis=1, keepdims=True))
        dquery, dkeys = self._score_backward(dscores, query, memory.keys, saved)
        return dquery, dkeys, dvalues


class AdditiveAttention(_Attention):
    """Bahdanau et al. (2015): score_s = v . tanh(W q + k_s).

    The keys are expected already projected into the attention space
    (B, S, attn_size): a decoder projects its encoder outputs once per
    sequence (a :class:`pyrnn.train.Linear`) instead of once per step.
    Parameters: ``query_weight`` (attn_size, query_size) ~ U(+-1/sqrt(query_size)),
    ``v`` (attn_size,) ~ U(+-1/sqrt(attn_size)).
    """

    def __init__(self, query_size, attn_size, dtype=np.float32, seed=None):
        self.query_size = positive_int(query_size, "query_size")
        self.attn_size = positive_int(attn_size, "attn_size")
        super().__init__(dtype, seed)
        bq, bv = 1 / np.sqrt(self.query_size), 1 / np.sqrt(self.attn_size)
        self._add_params({"query_weight": self._rng.uniform(-bq, bq, (self.attn_size, self.query_size)),
                          "v": self._rng.uniform(-bv, bv, self.attn_size)})

    def __repr__(self):
        return f"AdditiveAttention({self.query_size}, {self.attn_size}, dtype={self.dtype.name})"

    def _key_size(self, query_size):
        return self.attn_size if query_size == self.query_size else -1

    def _query_size(self, key_size):
        return self.query_size

    def _score(self, query, keys):
        e = np.tanh(matmul(query, self._params["query_weight"].T)[:, None, :] + keys)   # (B, S, A)
        return e @ self._params["v"], e

    def _score_backward(self, dscores, query, keys, e):
        self.grads["v"] += np.einsum("bs,bsa->a", dscores, e)
        dpre = dscores[:, :, None] * self._params["v"] * (1 - e * e)      # tanh' from its output
        dq_proj = dpre.sum(axis=1)                                        # W q is shared by every s
        self.grads["query_weight"] += matmul(dq_proj.T, query)
        return matmul(dq_proj, self._params["query_weight"]), dpre


class DotAttention(_Attention):
    """Luong et al. (2015) dot score: score_s = q . k_s (keys the size of the query); no parameters.

    Luong's "general" score q . W h_s is this with keys projected by a Linear W
    once per sequence, which is how :class:`pyrnn.models.Seq2Seq` uses it.
    """

    def __init__(self, dtype=np.float32, seed=None):
        super().__init__(dtype, seed)

    def __repr__(self):
        return f"DotAttention(dtype={self.dtype.name})"

    def _key_size(self, query_size):
        return query_size

    def _query_size(self, key_size):
        return key_size

    def _score(self, query, keys):
        return np.einsum("bsk,bk->bs", keys, query), None

    def _score_backward(self, dscores, query, keys, saved):
        return np.einsum("bs,bsk->bk", dscores, keys), dscores[:, :, None] * query[:, None, :]


ATTENTION = {"additive": AdditiveAttention, "dot": DotAttention}
