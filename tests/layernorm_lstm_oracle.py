"""The layer-normalised LSTM written as a plain torch loop (what a torch user writes today): the oracle.

torch.nn.functional.layer_norm and autograd give values and every gradient; the pyrnn
layer is compared against them.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

EPS = 1e-5


def direction(p, suffix, x, h, c, lengths, reverse):
    """One layer-direction: x (T, B, I) tensor, h/c (B, H); returns y (T, B, H), h_n, c_n."""
    T, B, _ = x.shape
    H = h.shape[1]
    w = lambda name: p.get(f"{name}_{suffix}")   # noqa: E731
    xw = F.layer_norm(x @ w("weight_ih").T, (4 * H,), w("ln_ih_weight"), w("ln_ih_bias"), EPS)
    bias = 0 if w("bias_ih") is None else w("bias_ih") + w("bias_hh")
    ys = [None] * T
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        a = xw[t] + F.layer_norm(h @ w("weight_hh").T, (4 * H,), w("ln_hh_weight"), w("ln_hh_bias"), EPS) + bias
        i, f, g, o = a.chunk(4, dim=1)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h_new = torch.sigmoid(o) * torch.tanh(F.layer_norm(c_new, (H,), w("ln_c_weight"), w("ln_c_bias"), EPS))
        live = (torch.ones(B, 1, dtype=torch.bool) if lengths is None
                else torch.as_tensor(np.asarray(lengths) > t)[:, None])
        h, c = torch.where(live, h_new, h), torch.where(live, c_new, c)
        ys[t] = torch.where(live, h_new, torch.zeros_like(h_new))
    return torch.stack(ys), h, c


def run_loop(state_dict, x, h0, c0, dy, dh_n, dc_n, dtype, num_layers=1, bidirectional=False, lengths=None):
    """Forward + backward of the torch loop; arrays in (T, B, .) layout. Returns y, h_n, c_n, dx, dh0, dc0, grads."""
    td = torch.float64 if dtype == np.float64 else torch.float32
    t = lambda a, grad=True: torch.tensor(np.asarray(a), dtype=td, requires_grad=grad)   # noqa: E731
    p = {k: t(v) for k, v in state_dict.items()}
    xt, h0t, c0t = t(x), t(h0), t(c0)
    D = 2 if bidirectional else 1
    inp, hs, cs = xt, [], []
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            k = layer * D + d
            y, h, c = direction(p, f"l{layer}" + ("_reverse" if d else ""), inp, h0t[k], c0t[k], lengths, bool(d))
            outs.append(y)
            hs.append(h)
            cs.append(c)
        inp = outs[0] if D == 1 else torch.cat(outs, dim=2)
    h_n, c_n = torch.stack(hs), torch.stack(cs)
    loss = (inp * t(dy, False)).sum() + (h_n * t(dh_n, False)).sum() + (c_n * t(dc_n, False)).sum()
    loss.backward()
    np_ = lambda a: a.detach().numpy()   # noqa: E731
    return (np_(inp), np_(h_n), np_(c_n), np_(xt.grad), np_(h0t.grad), np_(c0t.grad),
            {k: np_(v.grad) for k, v in p.items()})
