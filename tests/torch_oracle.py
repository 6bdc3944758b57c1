"""torch.nn as an outside oracle: run the same layer/cell in torch and return NumPy results.

torch is a test-only dependency; tests that import this module skip when it is absent.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

_TORCH_DTYPE = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def _t(a, dtype, grad=False):
    return torch.tensor(np.asarray(a), dtype=_TORCH_DTYPE[np.dtype(dtype)], requires_grad=grad)


def _build(cls, kind, input_size, hidden_size, nonlinearity, state_dict, dtype, **kwargs):
    """cls(input_size, hidden_size, ...) in dtype, with state_dict (NumPy arrays) loaded."""
    if kind == "rnn":
        kwargs["nonlinearity"] = nonlinearity
    module = cls(input_size, hidden_size, dtype=_TORCH_DTYPE[np.dtype(dtype)], **kwargs)
    if state_dict is not None:
        module.load_state_dict({k: _t(v, dtype) for k, v in state_dict.items()})
    return module


def torch_layer(kind, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                bidirectional=False, nonlinearity="tanh", state_dict=None, dtype=np.float64):
    """torch.nn.{RNN,LSTM,GRU} with the given parameters loaded."""
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    return _build(cls, kind, input_size, hidden_size, nonlinearity, state_dict, dtype,
                  num_layers=num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional)


def run_torch_layer(module, x, states, dy, dstates, lengths=None, dtype=np.float64):
    """Forward + backward of a torch layer.

    x in the layer's layout; states: list of arrays (h0[, c0]); dy like y;
    dstates like the final states (entries may be None). With lengths, the
    input is packed with pack_padded_sequence(enforce_sorted=False) and the
    output padded back to the full length. Returns dict of NumPy arrays:
    y, states_n, dx, dstates0, grads (name -> array).
    """
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    xt = _t(x, dtype, grad=True)
    st = [_t(s, dtype, grad=True) for s in states]
    hx = None if not st else (st[0] if len(st) == 1 else tuple(st))
    inp = xt
    if lengths is not None:
        inp = pack_padded_sequence(xt, torch.as_tensor(np.asarray(lengths)), batch_first=module.batch_first,
                                   enforce_sorted=False)
    out, hn = module(inp, hx)
    if lengths is not None:
        out, _ = pad_packed_sequence(out, batch_first=module.batch_first,
                                     total_length=xt.shape[1 if module.batch_first else 0])
    hn = list(hn) if isinstance(hn, tuple) else [hn]
    loss = (out * _t(dy, dtype)).sum()
    for h, d in zip(hn, dstates):
        if d is not None:
            loss = loss + (h * _t(d, dtype)).sum()
    module.zero_grad()
    loss.backward()
    return dict(
        y=out.detach().numpy(), states_n=[h.detach().numpy() for h in hn],
        dx=xt.grad.numpy(), dstates0=[s.grad.numpy() for s in st],
        grads={k: p.grad.numpy() for k, p in module.named_parameters()})


def torch_cell(kind, input_size, hidden_size, bias=True, nonlinearity="tanh", state_dict=None,
               dtype=np.float64):
    """torch.nn.{RNNCell,LSTMCell,GRUCell} with the given parameters loaded."""
    cls = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}[kind]
    return _build(cls, kind, input_size, hidden_size, nonlinearity, state_dict, dtype, bias=bias)
