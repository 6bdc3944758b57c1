"""Embedding and Linear: the layers around a recurrent core, with forward/backward.

Same conventions as the recurrent modules (pyrnn._module.Module): torch.nn
parameter names and initialisation, accumulating ``grads``, a backward
through the last train-mode forward.
"""
import numpy as np

from .._blas import matmul
from .._checks import as_float, expect_shape, flag, positive_int, private, to_numpy
from .._module import Module
from ..errors import InputError


class Embedding(Module):
    """Lookup table: ids (...,) ints in [0, num_embeddings) -> (..., embedding_dim).

    weight (num_embeddings, embedding_dim) ~ N(0, 1) as in torch.nn.Embedding.
    """

    def __init__(self, num_embeddings, embedding_dim, dtype=np.float32, seed=None):
        self.num_embeddings = positive_int(num_embeddings, "num_embeddings")
        self.embedding_dim = positive_int(embedding_dim, "embedding_dim")
        super().__init__(None, dtype, seed, uses_backend=False)
        self._add_params({"weight": self._rng.standard_normal((self.num_embeddings, self.embedding_dim))})
        self._ids = None

    def __repr__(self):
        return f"Embedding({self.num_embeddings}, {self.embedding_dim}, dtype={self.dtype.name})"

    def _clear_tape(self):
        self._ids = None

    def forward(self, ids):
        original = ids
        ids = to_numpy(ids, "ids")
        if ids.dtype.kind not in "iu":
            raise TypeError(f"ids must be integers, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            raise InputError(f"ids must lie in [0, num_embeddings) = [0, {self.num_embeddings}), got "
                             f"values from {ids.min()} to {ids.max()}")
        if self.training:
            self._ids = private(ids, original)
        return self._params["weight"][ids]

    def backward(self, dout):
        """Accumulate d weight from dout (ids.shape + (embedding_dim,)); ids have no gradient."""
        self._require_tape()
        if self._ids is None:
            raise RuntimeError("backward() needs a forward() in train mode first")
        dout = as_float(dout, "dout", self.dtype)
        expect_shape(dout, "dout", self._ids.shape + (self.embedding_dim,), "ids.shape + (embedding_dim,)")
        np.add.at(self.grads["weight"], self._ids.ravel(), dout.reshape(-1, self.embedding_dim))
        self._ids = None


class Linear(Module):
    """y = x @ weight^T + bias over the last axis: x (..., in_features) -> (..., out_features).

    weight (out, in), bias (out,) ~ U(-1/sqrt(in), 1/sqrt(in)), torch.nn.Linear's default bound.
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32, seed=None):
        self.in_features = positive_int(in_features, "in_features")
        self.out_features = positive_int(out_features, "out_features")
        # has_bias, not bias: as in torch.nn.Linear, ``lin.bias`` is the parameter (or None).
        self.has_bias = flag(bias, "bias")
        super().__init__(None, dtype, seed, uses_backend=False)
        bound = 1.0 / np.sqrt(self.in_features)
        params = {"weight": self._rng.uniform(-bound, bound, (self.out_features, self.in_features))}
        if self.has_bias:
            params["bias"] = self._rng.uniform(-bound, bound, self.out_features)
        else:
            self.bias = None
        self._add_params(params)
        self._x = None

    def __repr__(self):
        return (f"Linear({self.in_features}, {self.out_features}"
                f"{'' if self.has_bias else ', bias=False'}, dtype={self.dtype.name})")

    def _clear_tape(self):
        self._x = None

    def forward(self, x):
        original = x
        x = as_float(x, "x", self.dtype)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise InputError(f"x must have in_features = {self.in_features} in its last dimension, "
                             f"got shape {x.shape}")
        if self.training:
            self._x = private(x, original)       # copied only when x is the caller's memory
        y = matmul(x.reshape(-1, self.in_features), self._params["weight"].T)
        if self.has_bias:
            y += self._params["bias"]
        return y.reshape(x.shape[:-1] + (self.out_features,))

    def backward(self, dout):
        """Accumulate d weight, d bias; return dx like x."""
        self._require_tape()
        if self._x is None:
            raise RuntimeError("backward() needs a forward() in train mode first")
        x, self._x = self._x, None
        dout = as_float(dout, "dout", self.dtype)
        expect_shape(dout, "dout", x.shape[:-1] + (self.out_features,), "x.shape[:-1] + (out_features,)")
        d2, x2 = dout.reshape(-1, self.out_features), x.reshape(-1, self.in_features)
        self.grads["weight"] += matmul(d2.T, x2)
        if self.has_bias:
            self.grads["bias"] += d2.sum(axis=0)
        return matmul(d2, self._params["weight"]).reshape(x.shape)
