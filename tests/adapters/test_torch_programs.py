"""Whole torch programs with pyrnn.torch swapped in: the same numbers, saved and loaded as torch.nn's.

The word-level language model is the shape of torch's classic example
(embedding -> dropout -> 2-layer LSTM with dropout between layers, hidden state
carried and detached from batch to batch -> dropout -> linear -> log-softmax/NLL,
SGD with gradient clipping), small and in float64 so that the two runs can be
compared to 1e-10 step by step.
"""
import ast
import io
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import pyrnn.torch as prt  # noqa: E402

nn = torch.nn


class WordLM(nn.Module):
    """torch's word_language_model, with the recurrent class as a parameter."""

    def __init__(self, rnn_class, ntoken=50, ninp=16, nhid=16, nlayers=2, dropout=0.2):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = rnn_class(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        self.nlayers, self.nhid = nlayers, nhid

    def forward(self, x, hidden):
        emb = self.drop(self.encoder(x))
        output, hidden = self.rnn(emb, hidden)
        return torch.log_softmax(self.decoder(self.drop(output)), dim=-1), hidden

    def init_hidden(self, bsz):
        w = next(self.parameters())
        return (w.new_zeros(self.nlayers, bsz, self.nhid), w.new_zeros(self.nlayers, bsz, self.nhid))


def _train(rnn_class, steps=6, bptt=7, batch=4, seed=0):
    """Losses and final parameters of a short training run (float64, fixed seed)."""
    torch.manual_seed(seed)
    model = WordLM(rnn_class).double()
    data = torch.randint(0, 50, (bptt * steps + 1, batch), generator=torch.Generator().manual_seed(1))
    hidden = model.init_hidden(batch)
    losses = []
    model.train()
    for i in range(steps):
        x, y = data[i * bptt:(i + 1) * bptt], data[i * bptt + 1:(i + 1) * bptt + 1]
        hidden = tuple(h.detach() for h in hidden)          # truncated BPTT, as the example does
        model.zero_grad()
        out, hidden = model(x, hidden)
        loss = nn.functional.nll_loss(out.view(-1, 50), y.reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(p.grad, alpha=-20.0)                    # SGD, lr 20
        losses.append(loss.item())
    return losses, {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("backend", ["c", "numba", "numpy"])
def test_word_lm_training_gives_torch_nn_losses_and_parameters(backend):
    import pyrnn
    if backend not in pyrnn.available_backends():
        pytest.skip(f"backend {backend} not available here")
    ref_losses, ref_params = _train(nn.LSTM)
    losses, params = _train(lambda *a, **k: prt.LSTM(*a, backend=backend, **k))
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-10, atol=1e-10)
    assert ref_losses[-1] != ref_losses[0]                  # it trained (the comparison is not vacuous)
    for name, ref in ref_params.items():
        np.testing.assert_allclose(params[name].numpy(), ref.numpy(), rtol=1e-10, atol=1e-10, err_msg=name)


def test_torch_load_with_weights_only_needs_no_pyrnn_names_in_the_allowlist(tmp_path):
    model = WordLM(prt.LSTM).double().eval()
    model.cell = prt.GRUCell(3, 4)
    path = tmp_path / "model.pt"
    torch.save(model, path)
    # What the program allowlists: its own class and the torch.nn classes it uses.
    with torch.serialization.safe_globals([WordLM, nn.Dropout, nn.Embedding, nn.LSTM, nn.Linear, nn.GRUCell]):
        loaded = torch.load(path)                           # weights_only=True, torch's default
    assert type(loaded.rnn) is prt.LSTM and loaded.rnn.backend == model.rnn.backend
    x = torch.randint(0, 50, (5, 2))
    hidden = model.init_hidden(2)
    torch.testing.assert_close(loaded(x, hidden)[0], model(x, hidden)[0], rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell"])
def test_state_dicts_round_trip_between_torch_nn_and_pyrnn_torch(kind):
    torch.manual_seed(0)
    args = (5, 7) if kind.endswith("Cell") else (5, 7, 2)
    ours, theirs = getattr(prt, kind)(*args).double(), getattr(nn, kind)(*args).double()
    theirs.load_state_dict(ours.state_dict())
    back = getattr(prt, kind)(*args).double()
    back.load_state_dict(theirs.state_dict())
    x = torch.randn((3, 5) if kind.endswith("Cell") else (4, 3, 5), dtype=torch.float64)
    out_ours, out_theirs, out_back = ours(x), theirs(x), back(x)
    first = (lambda o: o[0] if isinstance(o, tuple) else o)
    torch.testing.assert_close(first(out_ours), first(out_theirs), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(first(out_back), first(out_ours), rtol=0, atol=0)
    buf = io.BytesIO()
    torch.save(theirs.state_dict(), buf)
    buf.seek(0)
    back.load_state_dict(torch.load(buf))                   # a torch.nn checkpoint file loads as well


def test_the_c_kernels_follow_torch_set_num_threads():
    import pyrnn
    from pyrnn.backends import get_backend
    if "c" not in pyrnn.available_backends():
        pytest.skip("the C extension is not built")
    c, before = get_backend("c"), torch.get_num_threads()
    lstm = prt.LSTM(4, 8, backend="c")
    x = torch.randn(3, 2, 4)
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            lstm(x)[0].sum().backward()
            assert c.threads <= n and (n > 1 or c.threads == 1)
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
@pytest.mark.parametrize("first", ["torch", "pyrnn"])
def test_one_openmp_runtime_serves_torch_and_the_c_kernels(first):
    """Whichever is imported first, torch's operators and pyrnn's C kernels share one libgomp.

    torch's wheel bundles a libgomp.so.1 and the extension links the system's; both carry the
    soname libgomp.so.1, and the dynamic loader maps an already loaded soname once. So there
    is one thread pool: no second pool spinning against torch's on the same cores, and
    torch.set_num_threads reaches the kernels' runtime too.
    """
    import pyrnn
    if "c" not in pyrnn.available_backends():
        pytest.skip("the C extension is not built")
    imports = ("import torch, pyrnn.torch as prt" if first == "torch"
               else "import pyrnn, pyrnn.torch as prt, torch")
    script = (f"{imports}\n"
              "prt.LSTM(4, 8, backend='c')(torch.randn(9, 2, 4))[0].sum().backward()\n"
              "torch.ones(512, 512).sum()\n"
              "print(sorted({l.split()[-1] for l in open('/proc/self/maps') if 'libgomp' in l}))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    runtimes = ast.literal_eval(out.stdout.strip().splitlines()[-1])
    assert len(runtimes) == 1, f"two OpenMP runtimes mapped: {runtimes}"
