"""pyrnn layers as JAX functions: ``lstm``, ``gru``, ``rnn``, ``indrnn``, ``layernorm_lstm`` with ``jax.custom_vjp`` over pyrnn kernels.

    import jax, jax.numpy as jnp, numpy as np, pyrnn, pyrnn.jax
    params = {k: jnp.asarray(v) for k, v in pyrnn.LSTM(8, 32, num_layers=2, seed=0).state_dict().items()}
    loss = lambda p, x: jnp.sum(pyrnn.jax.lstm(p, x)[0] ** 2)
    grads = jax.jit(jax.grad(loss))(params, jnp.ones((20, 4, 8)))

Parameters are a dict with torch.nn's names (weight_ih_l0, weight_hh_l0,
bias_ih_l0, ..., *_reverse): a pyrnn or torch.nn state_dict converted to
JAX arrays. The number of layers, the direction count and whether there are
biases are read from its keys. Each layer-direction is one kernel call made
through ``jax.pure_callback`` on the host CPU, so ``jax.jit``, ``jax.grad``
(reverse mode; forward-mode jvp is not defined) and ``jax.vmap`` (one kernel
call per mapped element) work; layers, directions and masking are composed in
jax.numpy (the stack is :mod:`pyrnn.stack`).

float64 is safe with x64 enabled globally (``jax.config.update("jax_enable_x64",
True)`` or JAX_ENABLE_X64=1): the ``jax.enable_x64`` context manager is
thread-local, and where a callback runs on a thread that does not see it,
float64 operands arrive rounded to float32 (the host side then raises instead of
computing on). Parameters and initial states are cast to x's dtype.

The backward callback runs the forward again before backpropagating: a pure
callback cannot hand the kernels' saved activations from the forward pass to
the backward pass, so the cost of a gradient is one forward more than with
the layer API (about 1.3x the forward+backward time).
"""
import functools

import numpy as np

try:
    import jax
    import jax.numpy as jnp
except ImportError as exc:      # pragma: no cover - exercised where jax is absent
    raise ImportError("pyrnn.jax needs JAX (pip install jax); the rest of pyrnn works without it") from exc

from . import stack
from ._checks import as_lengths, to_numpy
from .backends import get_backend
from .backends.base import check_call
from .cell_specs import CELLS
from .errors import InputError

__all__ = ["lstm", "gru", "rnn", "indrnn", "layernorm_lstm"]


# -- the host side: NumPy arrays in, the backend, NumPy arrays out ------------------------------
def _host(value):
    return None if value is None else np.ascontiguousarray(to_numpy(value, "array"))


def _host_forward(config, x, weights, states, lengths, training):
    mode, reverse, backend, dtype = config
    x = _host(x)
    states, weights = tuple(_host(s) for s in states), tuple(_host(w) for w in weights)
    if x.dtype != dtype:
        # jax.enable_x64() as a context manager is thread-local: a callback run on another
        # thread may not see it and then receives float64 operands rounded to float32.
        raise TypeError(f"pyrnn.jax: a {dtype} array reached the kernels as {x.dtype}; float64 needs x64 "
                        f"enabled globally (jax.config.update('jax_enable_x64', True) or JAX_ENABLE_X64=1), "
                        f"not only through the jax.enable_x64 context manager")
    check_call(mode, x, states, weights)     # checked when traced too; this guards the kernels' memory
    # Values are known only here, at run time: the layer API's own lengths check.
    return get_backend(backend).forward(mode, x, states, weights, as_lengths(lengths, *x.shape[:2]),
                                        reverse, training)


def _forward_callback(config, x, weights, states, lengths):
    y, states_n, _ = _host_forward(config, x, weights, states, lengths, False)
    return y, tuple(states_n)


def _backward_callback(config, x, weights, states, lengths, dy, dstates_n):
    _, _, saved = _host_forward(config, x, weights, states, lengths, True)
    dx, dstates0, dweights = get_backend(config[2]).backward(config[0], saved, _host(dy),
                                                             tuple(_host(d) for d in dstates_n))
    return dx, tuple(dweights), tuple(dstates0)


def _like(value):
    return None if value is None else jax.ShapeDtypeStruct(value.shape, value.dtype)


# -- one layer-direction as a differentiable JAX function --------------------------------------
@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _direction(config, x, weights, states, lengths):
    """config = (mode, reverse, backend name, dtype name); x (T, B, I); weights (w_ih, w_hh, b_ih|None, b_hh|None);
    states ((B, H),) or ((B, H), (B, H)); lengths (B,) ints or None. Returns (y (T, B, H), states_n)."""
    return _call_forward(config, x, weights, states, lengths)


def _call_forward(config, x, weights, states, lengths):
    T, B, _ = x.shape
    width = states[0].shape[-1]      # y has h's width: H, or P with projections
    shapes = (jax.ShapeDtypeStruct((T, B, width), x.dtype), tuple(_like(s) for s in states))
    return jax.pure_callback(functools.partial(_forward_callback, config), shapes, x, weights, states, lengths,
                             vmap_method="sequential")


def _direction_fwd(config, x, weights, states, lengths):
    return _call_forward(config, x, weights, states, lengths), (x, weights, states, lengths)


def _direction_bwd(config, residuals, cotangents):
    x, weights, states, lengths = residuals
    dy, dstates_n = cotangents
    shapes = (_like(x), tuple(_like(w) for w in weights), tuple(_like(s) for s in states))
    dx, dweights, dstates0 = jax.pure_callback(functools.partial(_backward_callback, config), shapes, x, weights,
                                               states, lengths, dy, tuple(dstates_n), vmap_method="sequential")
    return dx, dweights, dstates0, None


_direction.defvjp(_direction_fwd, _direction_bwd)


# -- the stack: layers x directions, as torch.nn ------------------------------------------------
def _structure(params, spec):
    """(num_layers, num_directions, names, hidden_size, proj_size) of cell ``spec``, read from torch.nn-named
    params: names[layer, direction] the parameter names in weights order (None for absent biases,
    :func:`pyrnn.stack.direction_names`); proj_size None without projections."""
    if not hasattr(params, "keys"):
        raise TypeError(f"params must be a dict of torch.nn-named arrays (weight_ih_l0, ...), "
                        f"got {type(params).__name__}")
    layers = 0
    while f"weight_ih_l{layers}" in params:
        layers += 1
    if layers == 0:
        raise InputError(f"params has no 'weight_ih_l0'; expected torch.nn names, got keys {sorted(params)}")
    directions = 2 if "weight_ih_l0_reverse" in params else 1
    has_bias = any(n in params for n, p in zip(spec.names("l0"), spec.params) if p.bias)
    # H and P from W_hh and W_hr (the conventions of pyrnn.cell_specs)
    H = spec.hidden_of(params["weight_hh_l0"].shape) if "weight_hh_l0" in params else None
    P = params["weight_hr_l0"].shape[0] if spec.projected and "weight_hr_l0" in params else None
    names = stack.direction_names(spec, layers, directions, has_bias)
    expected = {}       # name -> its Param
    for direction_names in names.values():
        expected.update((n, p) for n, p in zip(direction_names, spec.params) if n is not None)
    missing, unknown = sorted(set(expected) - set(params)), sorted(set(params) - set(expected))
    if missing or unknown:
        raise InputError(f"params do not form a torch.nn layer: missing {missing}, unknown {unknown}")
    for name, param in expected.items():
        rows, want = params[name].shape[0], param.shape(0, H, P)[0]    # no first dimension depends on I
        if rows != want:
            what = "proj_size" if param.dims[0] == "P" else "gates * hidden_size"
            raise InputError(f"params[{name!r}] has {rows} rows, expected {what} = {want}")
    return layers, directions, names, H, P


def _stack(mode, params, x, states, lengths, batch_first, backend):
    spec = CELLS[mode]
    layers, directions, names, H, P = _structure(params, spec)
    backend = get_backend(backend, mode).name
    x = jnp.asarray(x)
    if x.ndim != 3:
        raise InputError(f"x must be 3-D {'(batch, seq_len, input_size)' if batch_first else '(seq_len, batch, input_size)'}, "
                         f"got shape {x.shape}")
    if not jnp.issubdtype(x.dtype, jnp.floating) or x.dtype.itemsize not in (4, 8):
        raise TypeError(f"x must be float32 or float64, got dtype {x.dtype}")
    if batch_first:
        x = jnp.swapaxes(x, 0, 1)
    T, B, I = x.shape
    if T == 0:
        raise InputError("x must have at least one time step, got seq_len=0")
    if params["weight_ih_l0"].shape[1] != I:
        raise InputError(f"x has input_size {I} but params['weight_ih_l0'] expects {params['weight_ih_l0'].shape[1]}")
    shapes = stack.stacked_state_shapes(spec, layers, directions, B, H, P)
    if states is None:
        states = tuple(jnp.zeros(shape, x.dtype) for shape in shapes)
    for i, (s, shape) in enumerate(zip(states, shapes)):
        if s is None or tuple(s.shape) != shape:
            width = "proj_size" if spec.state_dims[i] == "P" else "hidden_size"
            raise InputError(f"initial state {i} must have shape (num_layers * num_directions, batch, {width}) "
                             f"= {shape}, got {None if s is None else tuple(s.shape)}")
    states = tuple(jnp.asarray(s, x.dtype) for s in states)
    if lengths is not None:
        lengths = jnp.asarray(lengths)
        if lengths.shape != (B,) or not jnp.issubdtype(lengths.dtype, jnp.integer):
            raise InputError(f"lengths must be (batch,) = ({B},) integers, got shape {lengths.shape} dtype {lengths.dtype}")
        # Padding never enters the arithmetic (a NaN there would reach dW through 0 * NaN).
        x = jnp.where((jnp.arange(T)[:, None] < lengths[None, :])[:, :, None], x, 0)
    if B == 0:       # an empty batch: empty results (and zero gradients), no kernel call
        y = jnp.zeros((T, 0, directions * spec.output_size(H, P)), x.dtype)
        return (jnp.swapaxes(y, 0, 1) if batch_first else y), states

    def run(layer, direction, layer_input, states):
        weights = tuple(None if n is None else jnp.asarray(params[n], x.dtype) for n in names[layer, direction])
        try:
            check_call(mode, layer_input, states, weights, H)
        except InputError as exc:
            raise InputError(f"params of layer {layer}{' (reverse)' if direction else ''}: {exc}") from None
        y, states_n = _direction((mode, bool(direction), backend, x.dtype.name), layer_input, weights, states,
                                 lengths)
        return y, states_n, None

    y, finals, _ = stack.forward(jnp, x, states, layers, directions, run)
    return (jnp.swapaxes(y, 0, 1) if batch_first else y), tuple(finals)


def lstm(params, x, hx=None, *, lengths=None, batch_first=False, backend="auto"):
    """torch.nn.LSTM as a function: ``y, (h_n, c_n) = lstm(params, x, (h0, c0))``.

    params: torch.nn-named dict; x (T, B, I) or (B, T, I) with batch_first;
    hx: (h0, c0), each (num_layers * num_directions, B, H), or None (zeros);
    lengths: (B,) ints in [1, T] or None - steps t >= lengths[b] are padding (y = 0 there,
    the state stops at the sequence's own last step, as with a PackedSequence).
    With projections (params hold weight_hr_l{k} (P, H), as torch.nn.LSTM(proj_size=P) has):
    h0/h_n (num_layers * num_directions, B, P) and y (T, B, D * P).
    """
    if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
        raise TypeError(f"hx must be a tuple (h0, c0) or None, got {type(hx).__name__}")
    mode = "lstm_proj" if hasattr(params, "keys") and "weight_hr_l0" in params else "lstm"
    y, (h_n, c_n) = _stack(mode, params, x, None if hx is None else tuple(hx), lengths, batch_first, backend)
    return y, (h_n, c_n)


def gru(params, x, h0=None, *, lengths=None, batch_first=False, backend="auto"):
    """torch.nn.GRU as a function: ``y, h_n = gru(params, x, h0)`` (shapes as :func:`lstm`)."""
    y, (h_n,) = _stack("gru", params, x, None if h0 is None else (h0,), lengths, batch_first, backend)
    return y, h_n


def rnn(params, x, h0=None, *, nonlinearity="tanh", lengths=None, batch_first=False, backend="auto"):
    """torch.nn.RNN (tanh or relu) as a function: ``y, h_n = rnn(params, x, h0)`` (shapes as :func:`lstm`)."""
    if nonlinearity not in ("tanh", "relu"):
        raise InputError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    y, (h_n,) = _stack(f"rnn_{nonlinearity}", params, x, None if h0 is None else (h0,), lengths, batch_first,
                       backend)
    return y, h_n


def indrnn(params, x, h0=None, *, nonlinearity="tanh", lengths=None, batch_first=False, backend="auto"):
    """pyrnn.IndRNN as a function: ``y, h_n = indrnn(params, x, h0)`` (shapes as :func:`lstm`).

    params: weight_ih_l{k} (H, I), weight_hh_l{k} (H,) (the elementwise u), bias_ih_l{k} (H,) or
    none, ``_reverse`` for a second direction; "auto" takes the best backend that runs IndRNN.
    """
    if nonlinearity not in ("tanh", "relu"):
        raise InputError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    y, (h_n,) = _stack(f"indrnn_{nonlinearity}", params, x, None if h0 is None else (h0,), lengths, batch_first,
                       backend)
    return y, h_n


def layernorm_lstm(params, x, hx=None, *, lengths=None, batch_first=False, backend="auto"):
    """pyrnn.LayerNormLSTM as a function: ``y, (h_n, c_n) = layernorm_lstm(params, x, (h0, c0))``.

    params: the layer's state_dict names (the LSTM's plus ln_ih_weight_l{k}, ln_ih_bias_l{k},
    ln_hh_weight_l{k}, ln_hh_bias_l{k} (4H,), ln_c_weight_l{k}, ln_c_bias_l{k} (H,)); shapes as
    :func:`lstm`; "auto" takes the best backend that runs this cell.
    """
    if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
        raise TypeError(f"hx must be a tuple (h0, c0) or None, got {type(hx).__name__}")
    y, (h_n, c_n) = _stack("layernorm_lstm", params, x, None if hx is None else tuple(hx), lengths, batch_first,
                           backend)
    return y, (h_n, c_n)
