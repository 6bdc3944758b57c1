"""IndRNN written as a plain torch loop: what a torch user has today, and the outside oracle of the tests.

    h_t = f(x_t W_ih^T + b_ih + u * h_{t-1}),   f = tanh or relu

torch is a test-only dependency; tests that import this module skip when it is absent.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

_TORCH_DTYPE = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def indrnn_loop(params, x, h0, nonlinearity="tanh", num_layers=1, bidirectional=False, lengths=None):
    """The stack with torch autograd: x (T, B, I), h0 (L*D, B, H) tensors; params name -> tensor.

    lengths (B,) ints or None: steps t >= lengths[b] hold h and give y = 0; the
    reverse direction starts at each sequence's own last step.
    Returns y (T, B, D*H), h_n (L*D, B, H).
    """
    f = torch.tanh if nonlinearity == "tanh" else torch.relu
    T, B, _ = x.shape
    D = 2 if bidirectional else 1
    steps = torch.ones(T, B, 1, dtype=torch.bool) if lengths is None else \
        (torch.arange(T)[:, None] < torch.as_tensor(np.asarray(lengths))[None, :])[:, :, None]
    inp, finals = x, []
    for layer in range(num_layers):
        outs = []
        for direction in range(D):
            sfx = f"l{layer}" + ("_reverse" if direction else "")
            w, u, b = params[f"weight_ih_{sfx}"], params[f"weight_hh_{sfx}"], params.get(f"bias_ih_{sfx}")
            h = h0[layer * D + direction]
            ys = [None] * T
            for t in (reversed(range(T)) if direction else range(T)):
                a = inp[t] @ w.T + u * h
                if b is not None:
                    a = a + b
                h_new = f(a)
                h = torch.where(steps[t], h_new, h)
                ys[t] = torch.where(steps[t], h_new, torch.zeros_like(h_new))
            outs.append(torch.stack(ys))
            finals.append(h)
        inp = outs[0] if D == 1 else torch.cat(outs, dim=2)
    return inp, torch.stack(finals)


def run_loop(state_dict, x, h0, dy, dh_n, dtype, **kwargs):
    """Forward + backward of :func:`indrnn_loop` on NumPy arrays (x (T, B, I) time-major).

    Returns y, h_n, dx, dh0 and {name: gradient}, all NumPy, for the loss
    sum(y * dy) + sum(h_n * dh_n).
    """
    td = _TORCH_DTYPE[np.dtype(dtype)]
    params = {k: torch.tensor(v, dtype=td, requires_grad=True) for k, v in state_dict.items()}
    xt = torch.tensor(x, dtype=td, requires_grad=True)
    ht = torch.tensor(h0, dtype=td, requires_grad=True)
    y, h_n = indrnn_loop(params, xt, ht, **kwargs)
    loss = (y * torch.tensor(dy, dtype=td)).sum() + (h_n * torch.tensor(dh_n, dtype=td)).sum()
    loss.backward()
    return (y.detach().numpy(), h_n.detach().numpy(), xt.grad.numpy(), ht.grad.numpy(),
            {k: p.grad.numpy() for k, p in params.items()})
