"""One layer-direction of a recurrent layer as a torch.autograd.Function over a pyrnn backend.

Every pyrnn.torch module is built from :func:`run_direction` calls: torch
autograd composes them (layers, directions, dropout, packing), the pyrnn
kernels do the recurrent work. Tensors reach the kernels as zero-copy NumPy
views of their CPU memory; results come back as tensors sharing the kernels'
output arrays.
"""
import numpy as np
import torch
from torch.autograd.function import once_differentiable

from .._checks import BFLOAT16
from ..backends import get_backend
from ..backends.base import check_call

# bfloat16: inference only, on the backends that compute in it (the c backend).
_KERNEL_DTYPES = (torch.float32, torch.float64, torch.bfloat16)


def host_array(tensor):
    """A C-contiguous NumPy view of a CPU tensor (copied only if strided, negated or conjugated).

    bfloat16 tensors (which torch cannot hand to NumPy) come as views of ml_dtypes.bfloat16: the same bits."""
    if tensor is None:
        return None
    t = tensor.detach()
    if t.dtype == torch.bfloat16:
        return t.contiguous().view(torch.int16).numpy().view(BFLOAT16)
    try:
        array = t.numpy()
    except RuntimeError:              # a lazily negated or conjugated view: materialise it
        array = t.resolve_neg().resolve_conj().numpy()
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


def _tensor(array):
    if array is None:
        return None
    if array.dtype == BFLOAT16:
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array)


def check_tensors(what, tensors):
    """Device and dtype checks with messages naming what was wrong (the kernels run on the CPU)."""
    for name, t in tensors:
        if t is None:
            continue
        if not t.is_cpu:
            raise RuntimeError(f"{what}: {name} is on {t.device}; pyrnn.torch runs its kernels on the CPU "
                               f"(move the module and its inputs with .cpu(), or use torch.nn on the GPU)")
        if t.dtype not in _KERNEL_DTYPES:
            raise TypeError(f"{what}: {name} has dtype {t.dtype}; pyrnn kernels compute in torch.float32, "
                            f"torch.float64 or (inference) torch.bfloat16")


def follow_torch_threads(backend):
    """Cap a threaded backend at torch's thread count, as torch's own operators are.

    Inside a torch program the user sets the budget with torch.set_num_threads;
    the C kernels (on their own OpenMP runtime) would otherwise take every core
    whatever torch was told. Set per call: one store in C, cheaper than remembering.
    """
    set_threads = getattr(backend, "set_num_threads", None)
    if set_threads is not None:
        set_threads(torch.get_num_threads())


def _forward_on_host(backend, mode, x, states, weights, lengths, reverse, training):
    """The backend's forward on host views of the tensors: (y, states_n, saved) as NumPy."""
    follow_torch_threads(backend)
    return backend.forward(mode, host_array(x), tuple(host_array(s) for s in states),
                           tuple(host_array(w) for w in weights), lengths, reverse, training)


class DirectionRun(torch.autograd.Function):
    """forward(backend_name, mode, reverse, lengths, n_weights, x, *weights, *states) -> (y, *states_n).

    x (T, B, I); weights: the cell's parameters in ``CELLS[mode].params`` order
    (n_weights of them; biases may be None); states: (h0,) or (h0, c0);
    lengths a (B,) int64 NumPy array or None. Shapes as in the backend contract
    (:class:`pyrnn.backends.base.Backend`).
    """

    @staticmethod
    def forward(ctx, backend_name, mode, reverse, lengths, n_weights, x, *weights_and_states):
        backend = get_backend(backend_name)
        weights, states = weights_and_states[:n_weights], weights_and_states[n_weights:]
        y, states_n, saved = _forward_on_host(backend, mode, x, states, weights, lengths, reverse, True)
        # The tensors are saved only for torch's checks (an in-place change before backward is
        # an error, as in torch.nn) and to recompute the activations for a second backward.
        ctx.save_for_backward(x, *weights, *states)
        ctx.backend, ctx.mode, ctx.reverse, ctx.lengths = backend, mode, reverse, lengths
        ctx.n_weights, ctx.run = n_weights, saved
        return (_tensor(y), *(_tensor(s) for s in states_n))

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, *dstates_n):
        x, *rest = ctx.saved_tensors
        weights, states = tuple(rest[:ctx.n_weights]), tuple(rest[ctx.n_weights:])
        saved, ctx.run = ctx.run, None
        if saved is None:
            # The kernels' backward overwrites the saved activations (they become the gate
            # gradients), so a second backward through a retained graph (retain_graph=True,
            # torch.autograd.gradcheck) recomputes them: same inputs, same deterministic kernels.
            _, _, saved = _forward_on_host(ctx.backend, ctx.mode, x, states, weights, ctx.lengths, ctx.reverse,
                                           True)
        follow_torch_threads(ctx.backend)
        # x is input 5 of forward, the weights the next n_weights. An x that needs no gradient (a
        # first layer reading data, not an embedding) spares the backend dx's product, frozen
        # weights (none requires grad: an input-gradient or saliency pass) the weight gradients'.
        wanted = ctx.needs_input_grad
        dx, dstates0, dweights = ctx.backend.backward(ctx.mode, saved, host_array(dy),
                                                      tuple(host_array(d) for d in dstates_n),
                                                      input_grad=wanted[5],
                                                      weight_grads=any(wanted[6:6 + ctx.n_weights]))
        return (None, None, None, None, None, _tensor(dx), *(_tensor(g) for g in dweights),
                *(_tensor(d) for d in dstates0))


class InferenceOnly(torch.autograd.Function):
    """A bfloat16 forward inside a graph that wants gradients (e.g. a module in eval mode whose
    parameters still require grad): the result is computed, and only a backward through it fails."""

    @staticmethod
    def forward(ctx, run, *inputs):
        y, states_n = run()
        return (y, *states_n)

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError("pyrnn.torch: bfloat16 runs inference only, there is no backward through it; "
                           "train in float32 (or float64) and convert with .to(torch.bfloat16) for inference")


def run_direction(backend_name, mode, x, states, weights, lengths=None, reverse=False, hidden_size=None):
    """One direction of one layer: (y (T, B, H or P), [h_n, (c_n)]) as tensors.

    weights: the cell's parameters in ``CELLS[mode].params`` order. Goes through
    autograd only when a gradient can flow; otherwise (torch.no_grad, inference on
    frozen weights) the kernels run in inference mode and keep nothing.
    """
    # The kernels take every size from x and w_hh: a parameter of another shape (assigned, or
    # swapped in by functional_call) must be refused here, not read out of bounds.
    check_call(mode, x, states, weights, hidden_size)
    T, B, _ = x.shape
    if B == 0:
        # torch.nn accepts an empty batch: empty results, zero gradients, still part of the graph.
        zero = sum(t.sum() * 0 for t in (x, *weights, *states) if t is not None)
        return x.new_zeros((T, 0, states[0].shape[-1])) + zero, [s + zero for s in states]
    wants_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, *weights, *states))
    if wants_grad and x.dtype == torch.bfloat16:
        def run():
            y, states_n, _ = _forward_on_host(get_backend(backend_name), mode, x, states, weights, lengths, reverse,
                                              False)
            return _tensor(y), [_tensor(s) for s in states_n]
        y, *states_n = InferenceOnly.apply(run, *(t for t in (x, *weights, *states) if t is not None))
        return y, states_n
    if wants_grad:
        y, *states_n = DirectionRun.apply(backend_name, mode, reverse, lengths, len(weights), x, *weights,
                                          *states)
        return y, states_n
    y, states_n, _ = _forward_on_host(get_backend(backend_name), mode, x, states, weights, lengths, reverse, False)
    return _tensor(y), [_tensor(s) for s in states_n]
