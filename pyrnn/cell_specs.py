"""Cells as data: one description per recurrent cell, the registry ``CELLS[mode]``.

A description says everything about a cell that is not a backend's kernel:
its gate count G, its states, the parameters of one layer-direction (torch
names, shapes as functions of (I, H), initialisation), the per-step
activations a training forward keeps for backward, and its reference math
(:mod:`pyrnn.reference`). The layers, the cells, pyrnn.jax, the backend
checks (:func:`pyrnn.backends.base.check_call`) and the numpy backend read
it instead of switching on the mode.

Sizes are letters: I input, H hidden, P projection (the width of h and y
for a cell with an output projection, LSTM's proj_size; H otherwise).
The order of ``params`` is the order of the ``weights`` tuple every backend
call takes (:class:`pyrnn.backends.base.Backend`); absent biases are None
there. By convention ``weight_hh`` is (G*H, H), (H,) or (G*H, P) (the checks
read the hidden size from it: :meth:`CellSpec.hidden_of`), a P appears first in the shape of some
parameter (``weight_hr`` (P, H): the checks read P there), and no
parameter's first dimension depends on I.
"""
import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .reference import gru, indrnn, layernorm_lstm, lstm, rnn


def torch_uniform(rng, shape, hidden_size):
    """torch.nn's recurrent initialisation: U(-1/sqrt(H), 1/sqrt(H)), drawn in float64."""
    bound = 1.0 / np.sqrt(hidden_size)
    return rng.uniform(-bound, bound, size=shape)


def ones(rng, shape, hidden_size):
    """1 everywhere: a layer norm's gain starts as the identity (nothing is drawn from rng)."""
    return np.ones(shape)


def zeros(rng, shape, hidden_size):
    """0 everywhere: a layer norm's shift starts at none (nothing is drawn from rng)."""
    return np.zeros(shape)


def unit_uniform(rng, shape, hidden_size):
    """U(0, 1), drawn in float64: IndRNN's recurrent weights u, where |u| <= 1 keeps each
    unit's own recurrence from growing (the range Li et al. 2018 use without long-term targets)."""
    return rng.uniform(0.0, 1.0, size=shape)


def dim_size(dim, input_size, hidden_size, proj_size=None):
    """The size a dimension letter stands for: ``"4H"`` -> 4 * hidden_size; P defaults to H; "1" is 1."""
    sizes = {"I": input_size, "H": hidden_size, "P": hidden_size if proj_size is None else proj_size, "1": 1}
    return int(dim[:-1] or 1) * sizes[dim[-1]]


@dataclass(frozen=True)
class Param:
    """One parameter of a layer-direction.

    name: torch's name without the layer suffix (``weight_ih``; a layer adds
    ``_l{k}`` and ``_reverse``); dims: each dimension as a size letter
    ``"I"``, ``"H"``, ``"P"`` or ``"<k>H"`` (k times H); bias: absent when the
    layer is built with bias=False; init(rng, shape, hidden_size) -> float64 array.
    """

    name: str
    dims: tuple
    bias: bool = False
    init: Callable = torch_uniform

    def shape(self, input_size, hidden_size, proj_size=None):
        """The concrete shape for input size I, hidden size H and projection size P (default H)."""
        return tuple(dim_size(d, input_size, hidden_size, proj_size) for d in self.dims)

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
    gates: G, the rows of W_ih per hidden unit; states: the state arrays,
    e.g. ("h",) or ("h", "c"); params: see :class:`Param`; saved: the
    per-step activations a training forward keeps, as (name, dim) for an array
    (T, B, dim), dim a size letter such as "4H" (the reference keeps them
    under these names, and so does the numba backend); forward(x, state,
    weights, lengths, reverse) -> (y, state_n, saved) and backward(saved, dy,
    dstate_n) -> (dx, dstate0, dweights): the reference math, with the tuples
    of the backend contract; state_dims: the width of each state, (B, dim)
    (default H each); output: the width of y (T, B, output); kernel: the name
    of the cell's compiled kernels, shared by the modes that differ only in an
    activation (rnn_tanh, rnn_relu -> "rnn"): the C enum is ``PYRNN_<MODE>``
    and the CUDA sources are kernels/<kernel>_forward.cu and _backward.cu.
    """

    mode: str
    gates: int
    states: tuple
    params: tuple
    saved: tuple
    forward: Callable
    backward: Callable
    kernel: str
    state_dims: tuple = None
    output: str = "H"

    def __post_init__(self):
        if self.state_dims is None:
            object.__setattr__(self, "state_dims", ("H",) * len(self.states))

    @property
    def projected(self):
        """Whether the cell has a projection size P of its own (h and y of width P)."""
        return any("P" in p.dims for p in self.params)

    def hidden_of(self, w_hh_shape):
        """H read from the shape of weight_hh: its last dimension where that is H (RNN, LSTM, GRU:
        (G*H, H); IndRNN: (H,)), else its first, G*H (LSTM with projections: (4H, P))."""
        dims = self.params[self._hh_index].dims
        return int(w_hh_shape[-1]) if dims[-1] == "H" else int(w_hh_shape[0]) // self.gates

    def sizes_of(self, weights):
        """(H, P) read from a weights tuple (the conventions above); P = H without a projection."""
        H = self.hidden_of(weights[self._hh_index].shape)
        P = H
        for i in self._p_first_indices:
            if weights[i] is not None:
                P = int(weights[i].shape[0])
        return H, P

    def positions(self, names):
        """The index in ``params`` (and so in a weights tuple) of each name (a tuple), None for a
        name the cell does not have: what backends use to pick parameters on every call, so each
        answer is kept (a dict lookup, not a new tuple per call)."""
        try:
            return self._positions_of_names[names]
        except KeyError:
            found = self._positions_of_names[names] = tuple(self._position_of.get(name) for name in names)
            return found

    # Read on every backend call: the positions in ``params``, found once (cached_property
    # writes the instance's __dict__, which a frozen dataclass allows).
    @functools.cached_property
    def _positions_of_names(self):
        return {}

    @functools.cached_property
    def _position_of(self):
        return {p.name: i for i, p in enumerate(self.params)}

    @functools.cached_property
    def _hh_index(self):
        return self._position_of["weight_hh"]

    @functools.cached_property
    def _p_first_indices(self):
        return tuple(i for i, p in enumerate(self.params) if p.dims[0] == "P")

    def state_shapes(self, batch, hidden_size, proj_size=None):
        """The shape of each state array, in ``states`` order: ``((B, P), (B, H))`` for LSTMP."""
        return tuple((batch, dim_size(d, 0, hidden_size, proj_size)) for d in self.state_dims)

    def output_size(self, hidden_size, proj_size=None):
        """The width of y: H, or P for a projected cell."""
        return dim_size(self.output, 0, hidden_size, proj_size)

    def names(self, suffix="", bias=True):
        """Parameter names of one layer-direction in weights order; None for absent biases.

        suffix: "" for a cell (``weight_ih``), ``"l0"``, ``"l1_reverse"``, ... for a layer.
        """
        return tuple(None if p.bias and not bias else (f"{p.name}_{suffix}" if suffix else p.name)
                     for p in self.params)

    def shapes(self, input_size, hidden_size, suffix="", bias=True, proj_size=None):
        """{name: shape} of one layer-direction's present parameters, in weights order."""
        return {n: p.shape(input_size, hidden_size, proj_size)
                for n, p in zip(self.names(suffix, bias), self.params) if n is not None}

    def initial(self, rng, input_size, hidden_size, suffix="", bias=True, proj_size=None):
        """{name: float64 values} of one layer-direction, drawn from ``rng`` in weights order."""
        return {n: p.init(rng, p.shape(input_size, hidden_size, proj_size), hidden_size)
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


def _projected_lstm():
    """torch.nn.LSTM's parameters with proj_size = P: W_hh (4H, P) and, last, W_hr (P, H)."""
    return (Param("weight_ih", ("4H", "I")), Param("weight_hh", ("4H", "P")),
            Param("bias_ih", ("4H",), bias=True), Param("bias_hh", ("4H",), bias=True),
            Param("weight_hr", ("P", "H")))


def _layer_normalised_lstm():
    """The LSTM's parameters, then gain and shift of the three layer norms (LN(W_ih x), LN(W_hh h), LN(c))."""
    norms = tuple(Param(f"ln_{where}_{kind}", (dim,), init=ones if kind == "weight" else zeros)
                  for where, dim in (("ih", "4H"), ("hh", "4H"), ("c", "H")) for kind in ("weight", "bias"))
    return _gated(4) + norms


def _cell(mode, kernel, gates, states, params, saved, module, state_dims=None, output="H", **options):
    return CellSpec(mode, gates, states, params, saved, *_reference(module, **options), kernel=kernel,
                    state_dims=state_dims, output=output)


_LSTM_SAVED = (("gates", "4H"), ("h_prev", "H"), ("c_prev", "H"), ("tanh_c", "H"))

CELLS = {spec.mode: spec for spec in (
    _cell("rnn_tanh", "rnn", 1, ("h",), _gated(1), (("h_prev", "H"), ("h_out", "H")), rnn, nonlinearity="tanh"),
    _cell("rnn_relu", "rnn", 1, ("h",), _gated(1), (("h_prev", "H"), ("h_out", "H")), rnn, nonlinearity="relu"),
    _cell("lstm", "lstm", 4, ("h", "c"), _gated(4), _LSTM_SAVED, lstm),
    # h_t = W_hr (o * tanh(c_t)): h and y have P units, c keeps H; m = o * tanh(c_t) is saved for dW_hr.
    _cell("lstm_proj", "lstmp", 4, ("h", "c"), _projected_lstm(),
          (("gates", "4H"), ("h_prev", "P"), ("c_prev", "H"), ("tanh_c", "H"), ("m", "H")), lstm,
          state_dims=("P", "H"), output="P"),
    _cell("gru", "gru", 3, ("h",), _gated(3), (("gates", "3H"), ("h_prev", "H"), ("hn", "H")), gru),
    # vhat and 1/std of each layer norm are saved, per row (t, b); tanh_n = tanh(LN(c_t)).
    _cell("layernorm_lstm", "lnlstm", 4, ("h", "c"), _layer_normalised_lstm(),
          (("gates", "4H"), ("xhat", "4H"), ("x_rstd", "1"), ("hhat", "4H"), ("h_rstd", "1"), ("chat", "H"),
           ("c_rstd", "1"), ("tanh_n", "H"), ("h_prev", "H"), ("c_prev", "H")), layernorm_lstm),
    _cell("indrnn_tanh", "indrnn", 1, ("h",), _independent(), (("h_prev", "H"), ("h_out", "H")), indrnn,
          nonlinearity="tanh"),
    _cell("indrnn_relu", "indrnn", 1, ("h",), _independent(), (("h_prev", "H"), ("h_out", "H")), indrnn,
          nonlinearity="relu"),
)}
