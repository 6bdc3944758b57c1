"""Cells as data: one description per recurrent cell, the registry ``CELLS[mode]``.

A description says everything about a cell that is not a backend's kernel:
its gate count G, its states, the parameters of one layer-direction (torch
names, shapes as functions of (I, H), initialisation), the per-step
activations a training forward keeps for backward, and its reference math
(:mod:`pyrnn.reference`). The layers, the cells, pyrnn.jax, the backend
checks (:func:`pyrnn.backends.base.check_call`) and the numpy backend read
it instead of switching on the mode.

The order of ``params`` is the order of the ``weights`` tuple every backend
call takes (:class:`pyrnn.backends.base.Backend`); absent biases are None
there. By convention the last dimension of ``weight_hh`` is H (the checks
read the hidden size from it), and no parameter's first dimension depends on I.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .reference import gru, indrnn, lstm, rnn


def torch_uniform(rng, shape, hidden_size):
    """torch.nn's recurrent initialisation: U(-1/sqrt(H), 1/sqrt(H)), drawn in float64."""
    bound = 1.0 / np.sqrt(hidden_size)
    return rng.uniform(-bound, bound, size=shape)


def unit_uniform(rng, shape, hidden_size):
    """U(0, 1), drawn in float64: IndRNN's recurrent weights u, where |u| <= 1 keeps each
    unit's own recurrence from growing (the range Li et al. 2018 use without long-term targets)."""
    return rng.uniform(0.0, 1.0, size=shape)


@dataclass(frozen=True)
class Param:
    """One parameter of a layer-direction.

    name: torch's name without the layer suffix (``weight_ih``; a layer adds
    ``_l{k}`` and ``_reverse``); dims: each dimension as ``"I"``, ``"H"`` or
    ``"<k>H"`` (k times H); bias: absent when the layer is built with
    bias=False; init(rng, shape, hidden_size) -> float64 array.
    """

    name: str
    dims: tuple
    bias: bool = False
    init: Callable = torch_uniform

    def shape(self, input_size, hidden_size):
        """The concrete shape for input size I and hidden size H."""
        sizes = {"I": input_size, "H": hidden_size}
        return tuple(int(d[:-1] or 1) * sizes[d[-1]] for d in self.dims)

    @property
    def dims_text(self):
        """The shape in letters, as messages write it: ``(4H, I)``, ``(H,)``."""
        return f"({', '.join(self.dims)}{',' if len(self.dims) == 1 else ''})"

    @property
    def short(self):
        """The name the backend contract uses: w_ih, w_hh, b_ih, b_hh."""
        return self.name.replace("weight_", "w_").replace("bias_", "b_")


@dataclass(frozen=True)
class CellSpec:
    """The description of one cell (one backend mode).

    mode: the name backends are called with (cuDNN's where it has one);
    gates: G, the rows of W_ih per hidden unit; states: the state arrays, each
    (B, H), e.g. ("h",) or ("h", "c"); params: see :class:`Param`; saved: the
    per-step activations a training forward keeps, as (name, k) for an array
    (T, B, k*H) (the reference keeps them under these names, and so does the
    numba backend); forward(x, state, weights, lengths, reverse) -> (y, state_n,
    saved) and backward(saved, dy, dstate_n) -> (dx, dstate0, dweights): the
    reference math, with the tuples of the backend contract.
    """

    mode: str
    gates: int
    states: tuple
    params: tuple
    saved: tuple
    forward: Callable
    backward: Callable

    def names(self, suffix="", bias=True):
        """Parameter names of one layer-direction in weights order; None for absent biases.

        suffix: "" for a cell (``weight_ih``), ``"l0"``, ``"l1_reverse"``, ... for a layer.
        """
        return tuple(None if p.bias and not bias else (f"{p.name}_{suffix}" if suffix else p.name)
                     for p in self.params)

    def shapes(self, input_size, hidden_size, suffix="", bias=True):
        """{name: shape} of one layer-direction's present parameters, in weights order."""
        return {n: p.shape(input_size, hidden_size) for n, p in zip(self.names(suffix, bias), self.params)
                if n is not None}

    def initial(self, rng, input_size, hidden_size, suffix="", bias=True):
        """{name: float64 values} of one layer-direction, drawn from ``rng`` in weights order."""
        return {n: p.init(rng, p.shape(input_size, hidden_size), hidden_size)
                for n, p in zip(self.names(suffix, bias), self.params) if n is not None}

    def state_tuple(self, suffix="0"):
        """How messages write the state tuple: ``(h0,)``, ``(h0, c0)``."""
        names = [f"{s}{suffix}" for s in self.states]
        return f"({', '.join(names)}{',' if len(names) == 1 else ''})"


def layer_suffix(layer, direction):
    """torch.nn's suffix of layer ``layer``, direction 0 (forward) or 1 (reverse): l0, l0_reverse, ..."""
    return f"l{layer}" + ("_reverse" if direction else "")


def _reference(module, **options):
    """The backend contract's tuples around a reference module's flat signature.

    The reference functions take and return states one by one
    (``forward(x, h0, c0, *weights)`` -> ``(y, h_n, c_n, saved)``); the contract passes tuples.
    """
    def forward(x, state, weights, lengths, reverse):
        y, *state_n, saved = module.forward(x, *state, *weights, lengths=lengths, reverse=reverse, **options)
        return y, tuple(state_n), saved

    def backward(saved, dy, dstate_n):
        dx, *dstate0, dweights = module.backward(saved, dy, *dstate_n)
        return dx, tuple(dstate0), tuple(dweights)

    return forward, backward


def _gated(G):
    """The parameters of torch.nn's RNN, LSTM and GRU: W_ih (G*H, I), W_hh (G*H, H), b_ih, b_hh (G*H,)."""
    rows = f"{G}H" if G > 1 else "H"
    return (Param("weight_ih", (rows, "I")), Param("weight_hh", (rows, "H")),
            Param("bias_ih", (rows,), bias=True), Param("bias_hh", (rows,), bias=True))


def _independent():
    """IndRNN's parameters: W_ih (H, I), the elementwise recurrent weight u as weight_hh (H,), b_ih (H,)."""
    return (Param("weight_ih", ("H", "I")), Param("weight_hh", ("H",), init=unit_uniform),
            Param("bias_ih", ("H",), bias=True))


def _cell(mode, gates, states, params, saved, module, **options):
    return CellSpec(mode, gates, states, params, saved, *_reference(module, **options))


CELLS = {spec.mode: spec for spec in (
    _cell("rnn_tanh", 1, ("h",), _gated(1), (("h_prev", 1), ("h_out", 1)), rnn, nonlinearity="tanh"),
    _cell("rnn_relu", 1, ("h",), _gated(1), (("h_prev", 1), ("h_out", 1)), rnn, nonlinearity="relu"),
    _cell("lstm", 4, ("h", "c"), _gated(4), (("gates", 4), ("h_prev", 1), ("c_prev", 1), ("tanh_c", 1)), lstm),
    _cell("gru", 3, ("h",), _gated(3), (("gates", 3), ("h_prev", 1), ("hn", 1)), gru),
    _cell("indrnn_tanh", 1, ("h",), _independent(), (("h_prev", 1), ("h_out", 1)), indrnn, nonlinearity="tanh"),
    _cell("indrnn_relu", 1, ("h",), _independent(), (("h_prev", 1), ("h_out", 1)), indrnn, nonlinearity="relu"),
)}
