"""torch.nn.RNN / LSTM / GRU and their cells, with forward and backward run by pyrnn kernels.

Each class subclasses its torch.nn namesake, so construction, parameters,
initialisation (torch's RNG), state_dict keys, repr, ``.to()``, hooks and
``isinstance(m, torch.nn.LSTM)`` are torch's own; only ``forward`` differs.
The extra keyword ``backend`` picks the pyrnn backend ("auto" = the best
available here; see pyrnn.available_backends()).
"""
import functools

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import PackedSequence

from .. import stack
from ..backends import get_backend
from ..backends.base import states_of
from ..cell_specs import CELLS
from .function import check_tensors, run_direction
from .packed import pad, packed_rows, repack

_MODES = {"RNN_TANH": "rnn_tanh", "RNN_RELU": "rnn_relu", "LSTM": "lstm", "GRU": "gru"}


class TensorOps:
    """The array operations pyrnn.stack needs, on torch tensors (autograd records them)."""

    concatenate = staticmethod(lambda tensors, axis: torch.cat(tensors, dim=axis))
    stack = staticmethod(torch.stack)
    ascontiguousarray = staticmethod(lambda tensor: tensor.contiguous())


class _PyrnnKernels:
    """Mixin for the torch.nn class that follows it in the bases: keeps the backend name."""

    def __init__(self, *args, backend="auto", **kwargs):
        super().__init__(*args, **kwargs)
        # A name, not the backend object: the module stays picklable (torch.save(model)).
        self._requested_backend = backend
        self.backend = self._resolve(backend)

    def __setstate__(self, state):
        super().__setstate__(state)
        # "auto" means the best backend where the module is loaded, not where it was saved.
        if getattr(self, "_requested_backend", None) == "auto":
            self.backend = self._resolve("auto")

    def _resolve(self, backend):
        """The concrete backend name ("auto" resolved now, so a module keeps one backend) that runs this
        module's cell."""
        return get_backend(backend, self._pyrnn_mode()).name

    def _refuse_tracing(self):
        if torch.jit.is_tracing():
            raise RuntimeError(f"{type(self).__name__}: pyrnn.torch modules cannot be traced with torch.jit.trace "
                               f"(the kernels run outside torch, the trace would freeze their output); use "
                               f"eager mode or torch.compile")

    def extra_repr(self):
        return f"{super().extra_repr()}, backend={self.backend!r}"


class _Layer(_PyrnnKernels):
    """forward() of torch.nn.RNNBase on pyrnn kernels: one kernel call per layer and direction."""

    def _pyrnn_mode(self):
        """The pyrnn cell of this module: torch's mode, with projections "lstm_proj"."""
        return "lstm_proj" if getattr(self, "proj_size", 0) else _MODES[self.mode]

    @torch.compiler.disable     # the kernels run outside torch: a graph break under torch.compile
    def forward(self, input, hx=None):
        """input (T, B, I) / (B, T, I) batch_first / (T, I) unbatched / PackedSequence; hx as torch.nn.

        Returns (output, h_n) - (output, (h_n, c_n)) for LSTM - exactly as the torch.nn class does.
        """
        name = type(self).__name__
        self._refuse_tracing()
        if isinstance(input, PackedSequence):
            data, batch_sizes, sorted_indices, unsorted_indices = input
            rows, lengths = packed_rows(batch_sizes)
            T, B = len(batch_sizes), int(batch_sizes[0])
            hx = self._zero_state(B, data) if hx is None else self.permute_hidden(hx, sorted_indices)
            self.check_forward_args(data, hx, batch_sizes)
            y, hidden = self._run_stack(pad(data, rows, T, B), hx, lengths)
            packed = PackedSequence(repack(y, rows), batch_sizes, sorted_indices, unsorted_indices)
            return packed, self.permute_hidden(hidden, unsorted_indices)

        if not isinstance(input, torch.Tensor):
            raise TypeError(f"{name}: input must be a torch.Tensor or a PackedSequence, got {type(input).__name__}")
        if input.dim() not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D tensor instead")
        batched = input.dim() == 3
        batch_dim = 0 if self.batch_first else 1
        if not batched:
            input = input.unsqueeze(batch_dim)
        if hx is not None:
            states = hx if isinstance(hx, (tuple, list)) else (hx,)
            want = 3 if batched else 2
            if any(not isinstance(s, torch.Tensor) or s.dim() != want for s in states):
                dims = ", ".join(f"{s.dim()}-D" if isinstance(s, torch.Tensor) else type(s).__name__
                                 for s in states)
                raise RuntimeError(f"{name}: for {'batched 3-D' if batched else 'unbatched 2-D'} input, hx "
                                   f"should also be {want}-D, got ({dims})")
            if not batched:
                hx = tuple(s.unsqueeze(1) for s in states) if isinstance(hx, (tuple, list)) else hx.unsqueeze(1)
        else:
            hx = self._zero_state(input.size(batch_dim), input)
        self.check_forward_args(input, hx, None)
        if input.size(0 if not self.batch_first else 1) == 0:
            raise RuntimeError(f"{name}: Expected sequence length to be larger than 0 in RNN")
        y, hidden = self._run_stack(input.transpose(0, 1) if self.batch_first else input, hx, None)
        if self.batch_first:
            y = y.transpose(0, 1)
        if not batched:
            y = y.squeeze(batch_dim)
            hidden = tuple(h.squeeze(1) for h in hidden) if isinstance(hidden, tuple) else hidden.squeeze(1)
        return y, hidden

    def _zero_state(self, batch, like):
        shapes = _stacked_state_shapes(self._pyrnn_mode(), self.num_layers, 2 if self.bidirectional else 1, batch,
                                       self.hidden_size, getattr(self, "proj_size", 0) or None)
        states = [like.new_zeros(shape) for shape in shapes]
        return tuple(states) if len(states) == 2 else states[0]

    def _direction_weights(self, k, by_name):
        """Layer-direction k's parameters in the cell's weights order (None for absent biases), from
        ``by_name`` (parameter name -> tensor).

        torch.nn's names per direction are the cell's parameter names in the same order, the
        biases left out without bias (torch.nn.LSTM with projections: ..., bias_hh, weight_hr)."""
        present = iter(self._all_weights[k])
        spec = CELLS[self._pyrnn_mode()]
        return tuple(None if p.bias and not self.bias else by_name[next(present)] for p in spec.params)

    def _run_stack(self, x, hx, lengths):
        """x (T, B, I) -> (y (T, B, D*H), hidden like hx); layer l reads layer l-1's [fwd, rev] output.

        With projections y is (T, B, D*P) and h (L*D, B, P)."""
        mode = self._pyrnn_mode()
        paired = states_of(mode) == 2      # (h, c): hx and the result are tuples
        states0 = tuple(hx) if paired else (hx,)
        # The parameters by torch.nn.RNNBase's list of their names, read once, as forward reads them
        # (functional_call swaps attributes); named_parameters() walks the module tree, ~4 us a call.
        names = self._flat_weights_names
        by_name = {n: getattr(self, n) for n in names}
        check_tensors(type(self).__name__, [("input", x)] + [(f"hx[{i}]", s) for i, s in enumerate(states0)]
                      + list(by_name.items()))
        D = 2 if self.bidirectional else 1

        def run(layer, direction, layer_input, states):
            y, states_n = run_direction(self.backend, mode, layer_input, list(states),
                                        self._direction_weights(layer * D + direction, by_name),
                                        lengths, reverse=bool(direction), hidden_size=self.hidden_size)
            return y, states_n, None

        dropout = None
        if self.dropout and self.training:
            dropout = lambda layer_input: F.dropout(layer_input, p=self.dropout, training=True)  # noqa: E731
        y, hidden, _ = stack.forward(TensorOps, x, states0, self.num_layers, D, run, between=dropout)
        return y, (tuple(hidden) if paired else hidden[0])


@functools.lru_cache(maxsize=256)
def _stacked_state_shapes(mode, num_layers, num_directions, batch, hidden_size, proj_size):
    """stack.stacked_state_shapes for a module's configuration (asked on every call without hx)."""
    return stack.stacked_state_shapes(CELLS[mode], num_layers, num_directions, batch, hidden_size, proj_size)


class RNN(_Layer, torch.nn.RNN):
    """torch.nn.RNN (tanh or relu) on pyrnn kernels; same arguments plus ``backend``."""


class LSTM(_Layer, torch.nn.LSTM):
    """torch.nn.LSTM on pyrnn kernels; same arguments (proj_size included) plus ``backend``."""


class GRU(_Layer, torch.nn.GRU):
    """torch.nn.GRU on pyrnn kernels; same arguments plus ``backend``."""


class _Cell(_PyrnnKernels):
    """forward() of torch.nn.RNNCellBase on pyrnn kernels (one time step)."""

    _mode = None        # pyrnn mode; RNNCell picks it from its nonlinearity
    _n_states = 1

    @torch.compiler.disable
    def forward(self, input, hx=None):
        """input (B, I) or (I,); hx (B, H) / (H,) - LSTMCell: (h, c) - or None. Returns like torch.nn."""
        name = type(self).__name__
        self._refuse_tracing()
        if not isinstance(input, torch.Tensor):
            raise TypeError(f"{name}: input must be a torch.Tensor, got {type(input).__name__}")
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)
        if x.size(1) != self.input_size:
            raise RuntimeError(f"{name}: input has inconsistent input_size: got {x.size(1)} expected "
                               f"{self.input_size}")
        B = x.size(0)
        if hx is None:
            states = [torch.zeros(B, self.hidden_size, dtype=x.dtype, device=x.device)
                      for _ in range(self._n_states)]
        else:
            states = list(hx) if self._n_states == 2 else [hx]
            if len(states) != self._n_states:
                raise TypeError(f"{name}: hx must be a tuple (h, c), got {len(states)} entries")
            for i, s in enumerate(states):
                label = f"hx[{i}]" if self._n_states == 2 else "hx"
                if not isinstance(s, torch.Tensor) or s.dim() != input.dim():
                    raise ValueError(f"{name}: {label} must be a {input.dim()}-D tensor like input, got "
                                     f"{s.dim() if isinstance(s, torch.Tensor) else type(s).__name__}")
                s = s if batched else s.unsqueeze(0)
                if tuple(s.shape) != (B, self.hidden_size):
                    raise RuntimeError(f"{name}: {label} must have shape (batch, hidden_size) = "
                                       f"({B}, {self.hidden_size}), got {tuple(s.shape)}")
                if s.dtype != x.dtype:
                    raise RuntimeError(f"{name}: {label} has dtype {s.dtype} but input has {x.dtype}")
                states[i] = s
        weights = (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        check_tensors(name, [("input", x)] + [(f"hx[{i}]", s) for i, s in enumerate(states)]
                      + [(n, p) for n, p in self.named_parameters()])
        if self.weight_ih.dtype != x.dtype:
            raise RuntimeError(f"{name}: input has dtype {x.dtype} but the parameters have "
                               f"{self.weight_ih.dtype}")
        _, states_n = run_direction(self.backend, self._pyrnn_mode(), x.unsqueeze(0), states, weights,
                                    hidden_size=self.hidden_size)
        if not batched:
            states_n = [s.squeeze(0) for s in states_n]
        return tuple(states_n) if self._n_states == 2 else states_n[0]

    def _pyrnn_mode(self):
        return self._mode


class RNNCell(_Cell, torch.nn.RNNCell):
    """torch.nn.RNNCell (tanh or relu) on pyrnn kernels; same arguments plus ``backend``."""

    def _pyrnn_mode(self):
        return f"rnn_{self.nonlinearity}"


class LSTMCell(_Cell, torch.nn.LSTMCell):
    """torch.nn.LSTMCell on pyrnn kernels; same arguments plus ``backend``."""

    _mode, _n_states = "lstm", states_of("lstm")


class GRUCell(_Cell, torch.nn.GRUCell):
    """torch.nn.GRUCell on pyrnn kernels; same arguments plus ``backend``."""

    _mode = "gru"
