"""The contract every backend implements (one layer, one direction per call).

Modes: the cells of :data:`pyrnn.cell_specs.CELLS` (cuDNN's names where it has
them: ``"rnn_tanh"``, ``"rnn_relu"``, ``"lstm"``, ``"gru"``). Every backend runs
:data:`BASE_CELLS`; a backend that runs more lists them in its ``cells``.
Layout: T time, B batch, I input, H hidden, G gates (1, 1, 4, 3 for the modes
above); arrays are C-contiguous, row-major, of one floating dtype; gate blocks
in PyTorch order (LSTM i, f, g, o; GRU r, z, n).

Every call is checked here, at the backend's own door (``Backend.forward`` /
``Backend.backward``), before the kernel sees it: the kernels take every size
from ``x`` and ``w_hh`` and would read or write out of bounds on a parameter of
another shape, and a direct call (benchmarks, other front ends, users) does not
pass through the layer API. The checks read shapes and dtypes only (plus the
lengths' values when they are host memory), a few microseconds per call.
"""
import numpy as np

from ..cell_specs import CELLS
from ..errors import InputError

# The cells every backend implements (the default of Backend.cells).
BASE_CELLS = ("rnn_tanh", "rnn_relu", "lstm", "gru")

# G of each cell every backend runs (what backend-wide tests iterate); CELLS[mode].gates for any cell.
GATES = {mode: CELLS[mode].gates for mode in BASE_CELLS}


def states_of(mode):
    """How many state arrays a mode carries: (h, c) for LSTM, (h,) otherwise."""
    return len(CELLS[mode].states)


class BackendUnavailableError(RuntimeError):
    """A known backend that cannot run on this machine (the message says why)."""


class UnsupportedCellError(BackendUnavailableError):
    """A backend that runs here but has no kernels for the requested cell (the message names both)."""


def unsupported_cell(backend, cells, mode):
    """The error for ``backend`` (a name) asked to run ``mode``, which is not in its ``cells``."""
    return UnsupportedCellError(f"backend {backend!r} has no kernels for the {mode} cell (it runs "
                                f"{', '.join(cells)}); use backend='numpy', or 'auto' for the best "
                                f"backend that runs it")


class SavedActivations:
    """What one training forward hands its backward: the backend's own record plus the call's sizes.

    The sizes let ``Backend.backward`` check dy and the state gradients before
    the kernel runs; ``consumed`` makes a second backward through the same
    record an error (the kernels overwrite saved activations with gate gradients).
    """

    __slots__ = ("backend", "mode", "y_shape", "state_shapes", "dtype", "inner", "consumed")

    def __init__(self, backend, mode, y_shape, state_shapes, dtype, inner):
        self.backend, self.mode, self.dtype = backend, mode, dtype
        self.y_shape, self.state_shapes = y_shape, state_shapes
        self.inner, self.consumed = inner, False


class Backend:
    """Interface of a backend; subclasses implement ``_forward`` and ``_backward``.

    ``forward(mode, x, state, weights, lengths, reverse, training)``
        x (T, B, I); state: tuple of (B, H) arrays, ``(h0,)`` or ``(h0, c0)``
        (lstm_proj: h0 (B, P), c0 (B, H); its y is (T, B, P));
        weights: the cell's parameters in ``CELLS[mode].params`` order, None
        for absent biases: ``(w_ih (G*H, I), w_hh (G*H, H), b_ih (G*H,) | None,
        b_hh | None)`` for RNN, LSTM and GRU, then ``w_hr (P, H)`` for lstm_proj;
        lengths: (B,) integers in [1, T] or None; reverse: walk t = T-1 .. 0;
        training: keep what backward needs.
        Returns ``(y (T, B, H), state_n (tuple like state), saved)``, saved None
        when not training; y and each state_n array are new memory (the layer
        stack hands a final state to the caller as a view of it). Padded steps
        (t >= lengths[b]) hold the state and give y = 0.

    ``backward(mode, saved, dy, dstate_n, input_grad=True, weight_grads=True)``
        dy (T, B, H); dstate_n: tuple like state, of (B, H) arrays.
        Returns ``(dx (T, B, I), dstate0 (tuple), dweights)`` with dweights
        ordered like weights (None for absent biases); dx None when
        ``input_grad`` is False (an input that needs no gradient), every
        dweights entry None when ``weight_grads`` is False (frozen weights).
        Backends with ``skips_unneeded_grads`` then leave those products out. Every returned array is
        new memory the caller owns: no two alias each other, the inputs or the
        backend's buffers (torch's autograd keeps and accumulates into them).
        ``saved`` serves exactly one backward.

    Both check their arguments (:func:`check_call`, :func:`check_lengths`,
    :func:`check_backward`) and raise :class:`~pyrnn.errors.InputError` naming
    the argument; ``_forward``/``_backward`` may then assume valid input of
    matching shapes and dtypes (contiguity is each backend's own business).
    A mode outside ``cells`` raises :class:`UnsupportedCellError` first.
    """

    name = "?"
    cells = BASE_CELLS
    # The dtypes its kernels compute in ("bfloat16": inference only, forward with training=False).
    dtypes = ("float32", "float64")
    # The array module of the memory the kernels run on. A host backend computes on NumPy arrays
    # (the moves below are the identity); a device backend (cuda) sets its own, and the layers
    # then keep activations in that memory from one layer-direction to the next.
    xp = np
    # Whether _backward takes input_grad and weight_grads and leaves out the products of the
    # gradients not wanted (returning None for them): dx is a quarter of a backward's multiply-adds
    # at I = H, the weight gradients half. Elsewhere they are computed and dropped.
    skips_unneeded_grads = False

    def to_device(self, array):
        """``array`` in the memory the kernels run on (None stays None)."""
        return array

    def to_host(self, array):
        """``array`` as a NumPy array (None stays None)."""
        return array

    def forward(self, mode, x, state, weights, lengths, reverse, training):
        signature = _signature(mode, x, state, weights, None)
        # The cell and dtype checks read the backend's class, name, cells and dtypes: all in the key.
        accepted = None if signature is None else (type(self), self.name, tuple(self.cells), tuple(self.dtypes),
                                                   signature, bool(training))
        if accepted is None or accepted not in _ACCEPTED_CALLS:
            self._require_cell(mode)
            self._require_dtype(x, training)
            if not _all_arrays(x, *state, *weights):
                _require_arrays(x=x, **{f"state[{i}]": s for i, s in enumerate(state)},
                                **{f"weights[{i}]": w for i, w in enumerate(weights)})
            check_call(mode, x, state, weights)
            if accepted is not None:
                _remember(_ACCEPTED_CALLS, accepted)
        if lengths is not None and not _all_arrays(lengths):
            _require_arrays(lengths=lengths)
        check_lengths(lengths, x.shape[0], x.shape[1])
        y, state_n, saved = self._forward(mode, x, state, weights, lengths, reverse, training)
        if not training:
            return y, state_n, None
        return y, state_n, SavedActivations(self.name, mode, tuple(y.shape), tuple(tuple(s.shape) for s in state),
                                            x.dtype, saved)

    def backward(self, mode, saved, dy, dstate_n, input_grad=True, weight_grads=True):
        self._require_cell(mode)
        if not _all_arrays(dy, *dstate_n):
            _require_arrays(dy=dy, **{f"dstate_n[{i}]": d for i, d in enumerate(dstate_n)})
        check_backward(self.name, mode, saved, dy, dstate_n)
        saved.consumed = True
        if self.skips_unneeded_grads and not (input_grad and weight_grads):
            return self._backward(mode, saved.inner, dy, dstate_n, input_grad=input_grad, weight_grads=weight_grads)
        dx, dstate0, dweights = self._backward(mode, saved.inner, dy, dstate_n)
        return ((dx if input_grad else None), dstate0,
                dweights if weight_grads else tuple(None for _ in dweights))

    def _require_dtype(self, x, training):
        dtype = _dtype_name(getattr(x, "dtype", None))
        if dtype == "bfloat16" and "bfloat16" in self.dtypes and training:
            raise InputError("bfloat16 runs inference only (no backward): call with training=False "
                             "(layers and cells: .eval() first)")
        if dtype == "bfloat16" and "bfloat16" not in self.dtypes:
            raise InputError(f"the {self.name} backend computes in {' or '.join(self.dtypes)}, not bfloat16 "
                             f"(bfloat16 runs on the c backend)")

    def _require_cell(self, mode):
        check_mode(mode)
        if mode not in self.cells:
            raise unsupported_cell(self.name, self.cells, mode)

    def _forward(self, mode, x, state, weights, lengths, reverse, training):
        raise NotImplementedError

    def _backward(self, mode, saved, dy, dstate_n):
        raise NotImplementedError


# The C API's and the CUDA step runner's fixed argument order of the weights.
KERNEL_WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")


def kernel_weights(mode, weights, convert=lambda w: w):
    """``weights`` (the cell's params order) as (w_ih, w_hh, b_ih, b_hh, w_hr), absent ones None.

    The kernels take one signature for every cell: IndRNN's three (w_ih, u, b_ih) have no b_hh,
    only lstm_proj has w_hr. ``convert`` is applied to each present array (e.g. a contiguous copy).
    """
    return tuple(None if i is None or weights[i] is None else convert(weights[i])
                 for i in CELLS[mode].positions(KERNEL_WEIGHTS))


def _all_arrays(*values):
    """Whether every value is None or array-like (the common case, checked without naming anything)."""
    return all(v is None or (hasattr(v, "shape") and hasattr(v, "dtype")) for v in values)


def _require_arrays(**values):
    """Backends take arrays (NumPy, or CuPy on the device): a list is refused by name, not deep inside."""
    for name, value in values.items():
        if value is not None and not (hasattr(value, "shape") and hasattr(value, "dtype")):
            raise InputError(f"{name} must be an array, got {type(value).__name__} (the layer API converts "
                             f"array-likes; a direct backend call must pass arrays)")


def _dtype_name(dtype):
    """'float32' for NumPy, JAX and torch dtypes alike (torch prints 'torch.float32')."""
    try:
        return _DTYPE_NAMES[dtype]
    except (KeyError, TypeError):      # TypeError: an unhashable dtype-like, named but not kept
        name = str(dtype).rsplit(".", 1)[-1]
        if len(_DTYPE_NAMES) < _MAX_SIGNATURES:
            try:
                _DTYPE_NAMES[dtype] = name
            except TypeError:
                pass
        return name


# str() of a NumPy dtype costs ~1.5 us, a dict lookup ~0.1: the few dtypes a program uses, named once.
_DTYPE_NAMES = {}


def check_lengths(lengths, T, B):
    """lengths None or (B,) integers in [1, T]; values are checked where they lie in host memory."""
    if lengths is None:
        return
    if tuple(lengths.shape) != (B,):
        raise InputError(f"lengths must have shape ({B},) (one length per sequence), got {tuple(lengths.shape)}")
    if np.dtype(lengths.dtype).kind not in "iu":
        raise InputError(f"lengths must be integers, got dtype {lengths.dtype}")
    if isinstance(lengths, np.ndarray) and B and (lengths.min() < 1 or lengths.max() > T):
        raise InputError(f"lengths must lie in [1, seq_len] = [1, {T}], got values from "
                         f"{lengths.min()} to {lengths.max()}")


def check_backward(backend, mode, saved, dy, dstate_n):
    """Checks of one backward call against the forward that produced ``saved``."""
    if not isinstance(saved, SavedActivations):
        raise InputError(f"saved must be what {backend}.forward(..., training=True) returned, "
                         f"got {type(saved).__name__}")
    if saved.backend != backend:
        raise InputError(f"saved was produced by backend {saved.backend!r}, not {backend!r}")
    if saved.mode != mode:
        raise InputError(f"saved was produced by a {saved.mode} forward, backward was asked for {mode}")
    if saved.consumed:
        raise RuntimeError("these saved activations were already backpropagated once "
                           "(each training forward serves one backward)")
    if tuple(dy.shape) != saved.y_shape:
        raise InputError(f"dy must have shape {saved.y_shape} like the forward's y, got {tuple(dy.shape)}")
    if len(dstate_n) != states_of(mode):
        raise InputError(f"dstate_n must hold {states_of(mode)} array(s) for {mode}, got {len(dstate_n)}")
    for i, (d, shape) in enumerate(zip(dstate_n, saved.state_shapes)):
        if tuple(d.shape) != shape:
            raise InputError(f"dstate_n[{i}] must have shape {shape}, got {tuple(d.shape)}")
    for name, value in [("dy", dy)] + [(f"dstate_n[{i}]", d) for i, d in enumerate(dstate_n)]:
        if value.dtype != saved.dtype:
            raise InputError(f"{name} has dtype {value.dtype}, the forward ran in {saved.dtype}")


def check_mode(mode):
    """The description of ``mode``; InputError listing the known cells for anything else."""
    spec = CELLS.get(mode) if isinstance(mode, str) else None
    if spec is None:
        raise InputError(f"mode must be one of {sorted(CELLS)}, got {mode!r}")
    return spec


# Signatures (mode, hidden_size, and the shape and dtype of every argument) that passed
# check_call. A training loop calls with the same few signatures again and again, and the
# full check cost ~30 us per call (measured: 2 calls per layer-direction were a tenth of
# a small LSTM's forward through pyrnn.torch); looking one up costs ~3 us.
_PASSED_SIGNATURES = {}
_MAX_SIGNATURES = 1024
# (backend class, name, cells, dtypes, signature, training) of calls that passed Backend.forward's
# checks (the lengths are checked at every call: their values matter).
_ACCEPTED_CALLS = {}


def _signature(mode, x, state, weights, hidden_size):
    """A hashable summary of everything check_call reads, or None if one is not hashable."""
    try:
        key = (mode, hidden_size, tuple(x.shape), x.dtype,
               tuple(None if w is None else (tuple(w.shape), w.dtype) for w in weights),
               tuple((tuple(s.shape), s.dtype) for s in state))
        hash(key)
    except (AttributeError, TypeError):
        return None
    return key


def check_call(mode, x, state, weights, hidden_size=None):
    """Shape and dtype checks of one backend call (a signature that passed before passes at once).

    The kernels take every size from ``x`` and ``w_hh``; a parameter of another
    shape would make them read out of bounds. Raises ValueError naming the
    argument (InputError: a ValueError and a RuntimeError). Shapes as in
    :class:`Backend` (arrays, tensors or JAX tracers: only ``.shape`` and
    ``.dtype`` are read), expected shapes from ``CELLS[mode]``. hidden_size:
    the layer's H (default: read from w_hh, :meth:`~pyrnn.cell_specs.CellSpec.hidden_of`).
    """
    key = _signature(mode, x, state, weights, hidden_size)
    if key is not None and key in _PASSED_SIGNATURES:
        return
    _check_call_in_full(mode, x, state, weights, hidden_size)
    if key is not None:
        _remember(_PASSED_SIGNATURES, key)


def _remember(memo, key):
    """Add key to a memo of passed checks, emptied when it reaches _MAX_SIGNATURES entries."""
    if len(memo) >= _MAX_SIGNATURES:
        memo.clear()
    memo[key] = True


def _check_call_in_full(mode, x, state, weights, hidden_size):
    """check_call without the memo: every rule, each with its own message."""
    spec = check_mode(mode)
    if _dtype_name(x.dtype) not in ("float32", "float64", "bfloat16"):
        raise InputError(f"x must be float32, float64 or bfloat16, got dtype {x.dtype}")
    if len(state) != len(spec.states):
        raise InputError(f"state must hold {len(spec.states)} array(s) for {mode} "
                         f"{spec.state_tuple()}, got {len(state)}")
    shorts = [p.short for p in spec.params]
    if len(weights) != len(spec.params):
        raise InputError(f"weights must be ({', '.join(shorts)}), got {len(weights)} entries")
    if len(x.shape) != 3:
        raise InputError(f"x must be 3-D (seq_len, batch, input_size), got shape {tuple(x.shape)}")
    T, B, I = x.shape
    hh = shorts.index("w_hh")
    required = [(p, w) for p, w in zip(spec.params, weights) if not p.bias]
    if any(w is None for _, w in required) or len(weights[hh].shape) != len(spec.params[hh].dims):
        got = "None" if weights[hh] is None else f"shape {tuple(weights[hh].shape)}"
        raise InputError(f"weights[0:{len(required)}] must be the arrays "
                         + " and ".join(f"{p.short} {p.dims_text}" for p, _ in required)
                         + f" for {mode}; got w_hh of {got}")
    biases = [(p, w) for p, w in zip(spec.params, weights) if p.bias]
    if len({w is None for _, w in biases}) > 1:
        raise InputError(f"biases must be {'both' if len(biases) == 2 else 'all'} given or "
                         f"{'both' if len(biases) == 2 else 'all'} None ({', '.join(p.short for p, _ in biases)})")
    H, P = spec.sizes_of(weights)
    H = H if hidden_size is None else hidden_size
    if H < 1:
        raise InputError(f"w_hh must have shape {spec.params[hh].dims_text} with H >= 1 for {mode}, "
                         f"got {tuple(weights[hh].shape)}")
    expected = {p.name: (w, p.shape(I, H, P)) for p, w in zip(spec.params, weights)}
    expected.update({f"state[{i}]": (s, shape) for i, (s, shape) in enumerate(zip(state, spec.state_shapes(B, H, P)))})
    sizes = f"input_size={I}, hidden_size={H}" + (f", proj_size={P}" if spec.projected else "")
    for name, (value, shape) in expected.items():
        if value is None:
            continue
        if tuple(value.shape) != shape:
            raise InputError(f"{name} must have shape {shape} for a {mode} layer with {sizes}, "
                             f"batch={B}; got {tuple(value.shape)}")
        if value.dtype != x.dtype:
            raise InputError(f"{name} has dtype {value.dtype}, the input has {x.dtype}: one dtype throughout")
