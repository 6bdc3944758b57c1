"""pyrnn.torch: drop-in torch.nn modules on pyrnn kernels, checked against torch.nn itself.

Every test builds the pyrnn.torch module and its torch.nn namesake from the
same torch seed (so the same parameters, drawn by torch's own
reset_parameters), runs the same inputs through both and compares outputs,
final states and every gradient at the dtype's tolerance (tolerances.TOLERANCE).
"""
import copy
import io
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
prt = pytest.importorskip("pyrnn.torch")
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

from shared import TOLERANCE  # noqa: E402
from pyrnn.backends import get_backend  # noqa: E402
from pyrnn.errors import InputError  # noqa: E402

DTYPES = {"float32": torch.float32, "float64": torch.float64}
LAYER_CLASSES = {"rnn_tanh": (prt.RNN, torch.nn.RNN), "rnn_relu": (prt.RNN, torch.nn.RNN),
                 "lstm": (prt.LSTM, torch.nn.LSTM), "gru": (prt.GRU, torch.nn.GRU)}
CELL_CLASSES = {"rnn_tanh": (prt.RNNCell, torch.nn.RNNCell), "rnn_relu": (prt.RNNCell, torch.nn.RNNCell),
                "lstm": (prt.LSTMCell, torch.nn.LSTMCell), "gru": (prt.GRUCell, torch.nn.GRUCell)}


def assert_tensors_close(actual, expected, what=""):
    tol = TOLERANCE[np.dtype(str(expected.dtype).replace("torch.", ""))]
    np.testing.assert_allclose(actual.detach().numpy(), expected.detach().numpy(), rtol=tol, atol=tol,
                               err_msg=what)


def twins(classes, mode, *args, backend="auto", seed=0, **kwargs):
    """(pyrnn.torch module, torch.nn module) with identical parameters from torch's own initialisation."""
    ours_cls, ref_cls = classes[mode]
    if mode.startswith("rnn"):
        kwargs["nonlinearity"] = mode[4:]
    torch.manual_seed(seed)
    ours = ours_cls(*args, backend=backend, **kwargs)
    torch.manual_seed(seed)
    ref = ref_cls(*args, **kwargs)
    return ours, ref


def leaves(*tensors):
    return [t.detach().clone().requires_grad_(True) for t in tensors]


def flat(out):
    """Every tensor in a (possibly nested) module output, PackedSequence data included."""
    if isinstance(out, torch.Tensor):
        return [out]
    if hasattr(out, "data") and hasattr(out, "batch_sizes"):
        return [out.data]
    return [t for item in out for t in flat(item)]


def run_both(ours, ref, make_inputs, check_grads=True):
    """Run the same freshly made inputs through both modules; compare outputs and all gradients."""
    results = []
    for module in (ours, ref):
        inputs = make_inputs()
        out = module(*inputs)
        outs = flat(out)
        # A fixed random weighting of every output, so every gradient path is exercised.
        gen = torch.Generator().manual_seed(1)
        loss = sum((o * torch.randn(o.shape, generator=gen, dtype=o.dtype)).sum() for o in outs)
        if check_grads:
            module.zero_grad()
            loss.backward()
        results.append((outs, inputs, module))
    (outs_a, inputs_a, mod_a), (outs_b, inputs_b, mod_b) = results
    for i, (a, b) in enumerate(zip(outs_a, outs_b)):
        assert a.shape == b.shape, f"output {i}: {a.shape} vs {b.shape}"
        assert_tensors_close(a, b, f"output {i}")
    if not check_grads:
        return
    for i, (a, b) in enumerate(zip(flat(inputs_a), flat(inputs_b))):
        if b.grad is not None:
            assert_tensors_close(a.grad, b.grad, f"grad of input {i}")
    for (name, p), (_, q) in zip(mod_a.named_parameters(), mod_b.named_parameters()):
        if q.grad is None:   # a frozen parameter
            assert p.grad is None, f"grad of {name}: torch.nn has none"
            continue
        assert_tensors_close(p.grad, q.grad, f"grad of {name}")


LAYER_CONFIGS = [  # num_layers, bidirectional, batch_first, bias, unbatched, with hx
    (1, False, False, True, False, False), (2, True, False, True, False, True),
    (3, False, True, True, False, True), (2, True, True, False, False, False),
    (1, True, False, True, True, True), (2, False, True, True, True, False)]


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("config", LAYER_CONFIGS, ids=lambda c: "L{}-bi{:d}-bf{:d}-bias{:d}-unb{:d}-hx{:d}".format(*c))
@pytest.mark.parametrize("mode", list(LAYER_CLASSES))
def test_layer_matches_torch_nn(mode, config, dtype, backend):
    L, bidir, batch_first, bias, unbatched, with_hx = config
    T, B, I, H = 5, 3, 4, 6
    dt = DTYPES[dtype]
    ours, ref = twins(LAYER_CLASSES, mode, I, H, num_layers=L, bias=bias, batch_first=batch_first,
                      bidirectional=bidir, dtype=dt, backend=backend)
    assert list(ours.state_dict()) == list(ref.state_dict())
    gen = torch.Generator().manual_seed(0)
    x_shape = (T, I) if unbatched else ((B, T, I) if batch_first else (T, B, I))
    h_shape = (L * (1 + bidir), H) if unbatched else (L * (1 + bidir), B, H)
    x0 = torch.randn(x_shape, generator=gen, dtype=dt)
    h0 = [torch.randn(h_shape, generator=gen, dtype=dt) for _ in range(2 if mode == "lstm" else 1)]

    def make_inputs():
        x, *hs = leaves(x0, *h0)
        if not with_hx:
            return (x,)
        return (x, tuple(hs) if mode == "lstm" else hs[0])

    run_both(ours, ref, make_inputs)


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("bidir", [False, True])
@pytest.mark.parametrize("mode", list(LAYER_CLASSES))
def test_input_that_needs_no_gradient_matches_torch_nn(mode, bidir, dtype, backend):
    """x from data, not from an embedding: the first layer's backward leaves dx out (the backends
    that can skip its product), and every parameter's gradient is still torch.nn's. Batch 16 and
    9 steps: the sizes where the C kernels split the batch when torch runs 2 threads or more (the
    backend contract test covers that path whatever the thread count)."""
    ours, ref = twins(LAYER_CLASSES, mode, 3, 64, num_layers=2, bidirectional=bidir, dtype=DTYPES[dtype],
                      backend=backend)
    x0 = torch.randn(9, 16, 3, generator=torch.Generator().manual_seed(3), dtype=DTYPES[dtype])
    run_both(ours, ref, lambda: (x0.clone(),))
    assert not x0.requires_grad and x0.grad is None


@pytest.mark.parametrize("mode", list(LAYER_CLASSES))
def test_frozen_weights_give_torch_nn_input_gradients(mode, backend):
    """Weights that need no gradient (an input-gradient or saliency pass through a trained model):
    the backward leaves the weight gradients out and dx and dh0 are still torch.nn's."""
    ours, ref = twins(LAYER_CLASSES, mode, 3, 64, num_layers=2, dtype=torch.float64, backend=backend)
    for module in (ours, ref):
        module.requires_grad_(False)
    gen = torch.Generator().manual_seed(4)
    x0 = torch.randn(9, 16, 3, generator=gen, dtype=torch.float64)
    h0 = torch.randn(2, 16, 64, generator=gen, dtype=torch.float64)
    run_both(ours, ref, lambda: (x0.clone().requires_grad_(True),
                                 (h0.clone().requires_grad_(True), torch.zeros_like(h0)) if mode == "lstm" else
                                 h0.clone().requires_grad_(True)))
    assert all(p.grad is None for p in ours.parameters())


def test_a_layer_asks_only_for_the_gradients_autograd_needs(backend, monkeypatch):
    impl = get_backend(prt.LSTM(2, 3, backend=backend).backend)
    asked, original = [], impl.backward

    def recording(*args, input_grad=True, weight_grads=True, **kwargs):
        asked.append((input_grad, weight_grads))
        return original(*args, input_grad=input_grad, weight_grads=weight_grads, **kwargs)

    monkeypatch.setattr(impl, "backward", recording)
    module = prt.LSTM(2, 3, num_layers=2, backend=backend)
    for x_requires_grad, frozen, expected in (   # (dx?, weight gradients?) per layer, last layer first
            (False, False, [(True, True), (False, True)]), (True, False, [(True, True), (True, True)]),
            (True, True, [(True, False), (True, False)])):
        asked.clear()
        module.requires_grad_(not frozen)
        module(torch.randn(4, 2, 2, requires_grad=x_requires_grad))[0].sum().backward()
        assert asked == expected


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("mode", list(LAYER_CLASSES))
@pytest.mark.parametrize("bidir", [False, True])
def test_packed_sequence_matches_torch_nn(mode, bidir, dtype, backend):
    T, B, I, H, L = 6, 4, 3, 5, 2
    dt = DTYPES[dtype]
    ours, ref = twins(LAYER_CLASSES, mode, I, H, num_layers=L, bidirectional=bidir, dtype=dt, backend=backend)
    gen = torch.Generator().manual_seed(2)
    x0 = torch.randn(T, B, I, generator=gen, dtype=dt)
    h0 = [torch.randn(L * (1 + bidir), B, H, generator=gen, dtype=dt) for _ in range(2 if mode == "lstm" else 1)]
    lengths = torch.tensor([3, 6, 1, 6])      # unsorted, with ties: exercises both index permutations

    def make_inputs():
        x, *hs = leaves(x0, *h0)
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        packed.leaf = x
        return (packed, tuple(hs) if mode == "lstm" else hs[0])

    outputs = {}
    for name, module in (("ours", ours), ("ref", ref)):
        packed, hx = make_inputs()
        out, hidden = module(packed, hx)
        assert isinstance(out, torch.nn.utils.rnn.PackedSequence)
        padded, out_lengths = pad_packed_sequence(out)
        states = hidden if isinstance(hidden, tuple) else (hidden,)
        gen_w = torch.Generator().manual_seed(3)
        loss = (out.data * torch.randn(out.data.shape, generator=gen_w, dtype=dt)).sum()
        loss = loss + sum((s * torch.randn(s.shape, generator=gen_w, dtype=dt)).sum() for s in states)
        module.zero_grad()
        loss.backward()
        outputs[name] = dict(out=out, padded=padded, lengths=out_lengths, states=states, dx=packed.leaf.grad,
                             dh=[h.grad for h in (hx if isinstance(hx, tuple) else (hx,))],
                             grads={n: p.grad for n, p in module.named_parameters()})
    a, b = outputs["ours"], outputs["ref"]
    assert torch.equal(a["out"].batch_sizes, b["out"].batch_sizes)
    assert torch.equal(a["out"].sorted_indices, b["out"].sorted_indices)
    assert torch.equal(a["out"].unsorted_indices, b["out"].unsorted_indices)
    assert torch.equal(a["lengths"], b["lengths"])
    assert_tensors_close(a["padded"], b["padded"], "output")
    for i, (s, r) in enumerate(zip(a["states"], b["states"])):
        assert_tensors_close(s, r, f"final state {i}")
    assert_tensors_close(a["dx"], b["dx"], "dx")
    for i, (s, r) in enumerate(zip(a["dh"], b["dh"])):
        assert_tensors_close(s, r, f"d hx[{i}]")
    for name in a["grads"]:
        assert_tensors_close(a["grads"][name], b["grads"][name], f"grad of {name}")


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("mode", list(CELL_CLASSES))
@pytest.mark.parametrize("shape", ["batched", "unbatched", "batched-no-hx", "unbatched-no-hx", "no-bias"])
def test_cell_decoder_loop_matches_torch_nn(mode, shape, dtype, backend):
    """Five steps of a cell fed its own output (a decoder), backprop through all of them."""
    B, H = 3, 4
    dt = DTYPES[dtype]
    ours, ref = twins(CELL_CLASSES, mode, H, H, bias=shape != "no-bias", dtype=dt, backend=backend)
    gen = torch.Generator().manual_seed(4)
    batch = () if shape.startswith("unbatched") else (B,)
    x0 = torch.randn(batch + (H,), generator=gen, dtype=dt)
    h0 = [torch.randn(batch + (H,), generator=gen, dtype=dt) for _ in range(2 if mode == "lstm" else 1)]

    class Decoder(torch.nn.Module):
        def __init__(self, cell):
            super().__init__()
            self.cell = cell

        def forward(self, x, hx=None):
            outs = []
            for _ in range(5):
                hx = self.cell(x, hx)
                x = hx[0] if isinstance(hx, tuple) else hx
                outs.append(x)
            return torch.stack(outs), hx

    def make_inputs():
        x, *hs = leaves(x0, *h0)
        if shape.endswith("no-hx"):
            return (x,)
        return (x, tuple(hs) if mode == "lstm" else hs[0])

    run_both(Decoder(ours), Decoder(ref), make_inputs)


CHECKS = [("lstm", 2, True), ("gru", 1, True), ("rnn_relu", 2, False), ("rnn_tanh", 1, False)]


@pytest.mark.parametrize("mode,L,bidir", CHECKS)
@pytest.mark.parametrize("packed", [False, True])
def test_gradcheck_layer(mode, L, bidir, packed, backend):
    """torch.autograd.gradcheck (finite differences, float64) w.r.t. input, hx and every parameter."""
    ours, _ = twins(LAYER_CLASSES, mode, 3, 4, num_layers=L, bidirectional=bidir, dtype=torch.float64,
                    backend=backend)
    names = [n for n, _ in ours.named_parameters()]
    gen = torch.Generator().manual_seed(5)
    D = 2 if bidir else 1
    x = torch.randn(4, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    states = [torch.randn(L * D, 2, 4, generator=gen, dtype=torch.float64, requires_grad=True)
              for _ in range(2 if mode == "lstm" else 1)]
    params = [p.detach().clone().requires_grad_(True) for p in ours.parameters()]

    def fn(x, *rest):
        hs, ps = rest[:len(states)], rest[len(states):]
        hx = tuple(hs) if mode == "lstm" else hs[0]
        inp = pack_padded_sequence(x, torch.tensor([2, 4]), enforce_sorted=False) if packed else x
        out, hidden = torch.func.functional_call(ours, dict(zip(names, ps)), (inp, hx))
        return (out.data if packed else out, *(hidden if isinstance(hidden, tuple) else (hidden,)))

    assert torch.autograd.gradcheck(fn, (x, *states, *params), eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("mode", list(CELL_CLASSES))
def test_gradcheck_cell(mode, backend):
    ours, _ = twins(CELL_CLASSES, mode, 3, 4, dtype=torch.float64, backend=backend)
    names = [n for n, _ in ours.named_parameters()]
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    states = [torch.randn(2, 4, generator=gen, dtype=torch.float64, requires_grad=True)
              for _ in range(2 if mode == "lstm" else 1)]
    params = [p.detach().clone().requires_grad_(True) for p in ours.parameters()]

    def fn(x, *rest):
        hs, ps = rest[:len(states)], rest[len(states):]
        out = torch.func.functional_call(ours, dict(zip(names, ps)), (x, tuple(hs) if mode == "lstm" else hs[0]))
        return out

    assert torch.autograd.gradcheck(fn, (x, *states, *params), eps=1e-6, atol=1e-6, rtol=1e-5)


def test_no_grad_and_eval_keep_nothing(backend, monkeypatch):
    ours, ref = twins(LAYER_CLASSES, "lstm", 3, 5, num_layers=2, backend=backend)
    x = torch.randn(4, 2, 3)
    impl = get_backend(backend)
    calls = []
    original = impl.forward

    def recording_forward(mode, x, state, weights, lengths, reverse, training):
        calls.append(training)
        return original(mode, x, state, weights, lengths, reverse, training)

    monkeypatch.setattr(impl, "forward", recording_forward)
    with torch.no_grad():
        ours(x)
    assert calls == [False, False], "under no_grad the kernels must run in inference mode (nothing saved)"
    calls.clear()
    ours(x)
    assert calls == [True, True]
    monkeypatch.undo()
    with torch.no_grad():
        y, (h, c) = ours(x)
        y_ref, _ = ref(x)
    assert y.grad_fn is None and h.grad_fn is None and not y.requires_grad
    assert_tensors_close(y, y_ref)
    ours.eval()
    y_eval, _ = ours(x)           # grad enabled, parameters require grad: autograd as usual
    assert y_eval.grad_fn is not None
    assert_tensors_close(y_eval, y_ref)
    for p in ours.parameters():
        p.requires_grad_(False)
    y_frozen, _ = ours(x)         # nothing requires grad: the kernels run in inference mode
    assert y_frozen.grad_fn is None
    assert_tensors_close(y_frozen, y_ref)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_training_with_an_optimizer_matches_torch_nn(optimizer, backend):
    """Replacing torch.nn.LSTM by pyrnn.torch.LSTM in a training loop gives the same parameters (float64)."""
    def build(cls):
        torch.manual_seed(0)
        rnn = cls(3, 8, num_layers=2, batch_first=True, dtype=torch.float64, **(
            {"backend": backend} if cls is prt.LSTM else {}))
        head = torch.nn.Linear(8, 1, dtype=torch.float64)
        return rnn, head

    finals = []
    for cls in (prt.LSTM, torch.nn.LSTM):
        rnn, head = build(cls)
        params = list(rnn.parameters()) + list(head.parameters())
        opt = torch.optim.SGD(params, lr=0.1, momentum=0.9) if optimizer == "sgd" else torch.optim.Adam(params, lr=0.01)
        gen = torch.Generator().manual_seed(7)
        losses = []
        for _ in range(8):
            x = torch.randn(4, 6, 3, generator=gen, dtype=torch.float64)
            target = x.sum(dim=(1, 2)).unsqueeze(1)
            out, _ = rnn(x)
            loss = torch.nn.functional.mse_loss(head(out[:, -1]), target)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            losses.append(loss.item())
        finals.append((losses, [p.detach().clone() for p in params]))
    (losses_a, params_a), (losses_b, params_b) = finals
    np.testing.assert_allclose(losses_a, losses_b, rtol=1e-10, atol=1e-10)
    for a, b in zip(params_a, params_b):
        assert_tensors_close(a, b)


def test_retained_graph_backward_twice_gives_the_same_gradients(backend):
    ours, _ = twins(LAYER_CLASSES, "gru", 3, 4, backend=backend, dtype=torch.float64)
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    y, h = ours(x)
    loss = (y ** 2).sum() + h.sum()
    loss.backward(retain_graph=True)
    first = [x.grad.clone()] + [p.grad.clone() for p in ours.parameters()]
    x.grad = None
    ours.zero_grad()
    loss.backward()
    second = [x.grad] + [p.grad for p in ours.parameters()]
    for a, b in zip(first, second):
        assert torch.equal(a, b)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()


def test_in_place_change_before_backward_is_refused(backend):
    ours, _ = twins(LAYER_CLASSES, "lstm", 3, 4, backend=backend)
    x = torch.randn(5, 2, 3, requires_grad=True)
    y, _ = ours(x * 1)
    with torch.no_grad():
        ours.weight_hh_l0.add_(1.0)       # an optimizer step between forward and backward
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_dropout_between_layers(backend):
    ours, ref = twins(LAYER_CLASSES, "lstm", 3, 4, num_layers=3, dropout=1.0, backend=backend,
                      dtype=torch.float64)
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    # p = 1 zeroes every inter-layer activation: deterministic, so comparable with torch.nn.
    run_both(ours, ref, lambda: leaves(x))
    ours.dropout = ref.dropout = 0.5
    ours.train()
    a, _ = ours(x)
    b, _ = ours(x)
    assert not torch.allclose(a, b), "dropout=0.5 in train mode should draw a new mask per call"
    # The masks are drawn from torch's RNG in torch.nn's order: the same seed, the same masks.
    for module in (ours, ref):
        module.zero_grad()
    outs = []
    for module in (ours, ref):
        torch.manual_seed(5)
        xl = x.clone().requires_grad_(True)
        y, (h, c) = module(xl)
        (y.sin().sum() + c.sum()).backward()
        outs.append((y, xl.grad, [p.grad for p in module.parameters()]))
    (y_a, dx_a, g_a), (y_b, dx_b, g_b) = outs
    assert_tensors_close(y_a, y_b, "output with dropout 0.5")
    assert_tensors_close(dx_a, dx_b, "dx with dropout 0.5")
    for ga, gb in zip(g_a, g_b):
        assert_tensors_close(ga, gb, "parameter gradient with dropout 0.5")
    ours.eval()
    ref.eval()
    run_both(ours, ref, lambda: leaves(x), check_grads=False)


@pytest.mark.parametrize("compile_backend", ["eager", "aot_eager"])
def test_torch_compile_runs_the_kernels_as_a_graph_break(compile_backend, backend):
    torch._dynamo.reset()
    ours, ref = twins(LAYER_CLASSES, "gru", 3, 4, num_layers=2, backend=backend, batch_first=True)
    head_a, head_b = torch.nn.Linear(4, 2), torch.nn.Linear(4, 2)
    head_b.load_state_dict(head_a.state_dict())
    model_a = torch.compile(torch.nn.Sequential(_First(ours), head_a), backend=compile_backend)
    model_b = torch.nn.Sequential(_First(ref), head_b)
    x = torch.randn(2, 5, 3)
    run_both(model_a, model_b, lambda: leaves(x))


class _First(torch.nn.Module):
    """Keeps the output sequence of a recurrent layer (drops its final state)."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        return self.rnn(x)[0]


def test_module_is_a_torch_nn_module_and_round_trips(backend, tmp_path):
    torch.manual_seed(0)
    ours = prt.LSTM(3, 4, num_layers=2, bidirectional=True, backend=backend)
    torch.manual_seed(0)
    ref = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    assert isinstance(ours, torch.nn.LSTM)
    assert ours.backend == backend and f"backend={backend!r}" in repr(ours)
    for (n, p), (m, q) in zip(ours.state_dict().items(), ref.state_dict().items()):
        assert n == m and torch.equal(p, q)
    other = prt.LSTM(3, 4, num_layers=2, bidirectional=True, backend=backend)
    other.load_state_dict(ref.state_dict())          # torch.nn checkpoints load as they are
    x = torch.randn(5, 2, 3)
    for clone in (copy.deepcopy(ours), pickle.loads(pickle.dumps(ours)), other):
        assert torch.equal(clone(x)[0], ours(x)[0])
    buffer = io.BytesIO()
    torch.save(ours, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    assert loaded.backend == backend and torch.equal(loaded(x)[0], ours(x)[0])


def test_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        prt.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="unknown backend"):
        prt.GRU(3, 4, backend="nope")
    lstm = prt.LSTM(3, 4)
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size"):
        lstm(torch.randn(5, 2, 7))
    with pytest.raises(ValueError, match="Expected input to be 2D or 3D"):
        lstm(torch.randn(5))
    with pytest.raises(RuntimeError, match="Expected hidden\\[0\\] size"):
        lstm(torch.randn(5, 2, 3), (torch.zeros(1, 3, 4), torch.zeros(1, 3, 4)))
    with pytest.raises(RuntimeError, match="hx should also be 3-D"):
        lstm(torch.randn(5, 2, 3), (torch.zeros(2, 4), torch.zeros(2, 4)))
    with pytest.raises(TypeError, match="pyrnn kernels compute in torch.float32, torch.float64 or \\(inference\\) torch.bfloat16"):
        prt.GRU(3, 4, dtype=torch.float16)(torch.randn(5, 2, 3, dtype=torch.float16))
    with pytest.raises(RuntimeError, match="is on meta"):
        prt.RNN(3, 4, device="meta")(torch.randn(5, 2, 3, device="meta"))
    cell = prt.LSTMCell(3, 4)
    with pytest.raises(RuntimeError, match="inconsistent input_size"):
        cell(torch.randn(2, 5))
    with pytest.raises(RuntimeError, match="hx\\[1\\] must have shape \\(batch, hidden_size\\)"):
        cell(torch.randn(2, 3), (torch.zeros(2, 4), torch.zeros(3, 4)))
    with pytest.raises(ValueError, match="Expected input to be 1D or 2D"):
        prt.GRUCell(3, 4)(torch.randn(1, 2, 3))


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_empty_batch_like_torch_nn(mode, backend):
    ours, ref = twins(LAYER_CLASSES, mode, 3, 4, num_layers=2, bidirectional=True, backend=backend)
    run_both(ours, ref, lambda: leaves(torch.randn(5, 0, 3)))
    cell, cell_ref = twins(CELL_CLASSES, mode, 3, 4, backend=backend)
    run_both(cell, cell_ref, lambda: leaves(torch.randn(0, 3)))


def test_only_hx_requires_grad_and_strided_inputs(backend):
    ours, ref = twins(LAYER_CLASSES, "lstm", 3, 4, num_layers=2, backend=backend, dtype=torch.float64)
    gen = torch.Generator().manual_seed(8)
    base_x = torch.randn(5, 1, 3, generator=gen, dtype=torch.float64)
    base_h = torch.randn(2, 4, 3, generator=gen, dtype=torch.float64)     # transposed below: non-contiguous

    def make_inputs():
        h = base_h.clone().requires_grad_(True)
        c = torch.zeros(2, 3, 4, dtype=torch.float64, requires_grad=True)
        x = base_x.expand(5, 3, 3)                # stride 0 over the batch, does not require grad
        return (x, (h.transpose(1, 2), c))

    for module in (ours, ref):
        for p in module.parameters():
            p.requires_grad_(False)
    outs = []
    for module in (ours, ref):
        x, (h, c) = make_inputs()
        y, (h_n, c_n) = module(x, (h, c))
        (y.cos().sum() + h_n.sum()).backward()
        outs.append((y, h._base.grad, c.grad))
    for a, b in zip(*outs):
        assert_tensors_close(a, b)


def test_wrong_shapes_and_dtypes_are_refused_before_the_kernels(backend):
    lstm = prt.LSTM(3, 64, num_layers=2, backend=backend)
    x = torch.randn(5, 2, 3)
    # A wrong-shaped parameter (swapped in by functional_call or assigned) must not reach the kernels,
    # which take every size from x and weight_hh.
    with pytest.raises(InputError, match="weight_ih must have shape \\(256, 64\\)"):
        torch.func.functional_call(lstm, {"weight_ih_l1": torch.ones(256, 1)}, (x,))
    cell = prt.GRUCell(3, 8, backend=backend)
    with pytest.raises(InputError, match="weight_hh must have shape \\(24, 8\\)"):
        torch.func.functional_call(cell, {"weight_hh": torch.ones(24, 7)}, (torch.randn(2, 3),))
    gru = prt.GRU(3, 4, dtype=torch.float64, backend=backend)
    with pytest.raises(InputError, match="state\\[0\\] has dtype torch.float32, the input has torch.float64"):
        gru(torch.randn(5, 2, 3, dtype=torch.float64), torch.zeros(1, 2, 4))
    with pytest.raises(RuntimeError, match="Expected sequence length to be larger than 0"):
        gru(torch.randn(0, 2, 3, dtype=torch.float64))


@pytest.mark.filterwarnings("ignore:`torch.jit.trace` is deprecated:DeprecationWarning")
def test_tracing_is_refused_rather_than_frozen():
    lstm = prt.LSTM(3, 4)
    with pytest.raises(RuntimeError, match="cannot be traced"):
        torch.jit.trace(lambda x: lstm(x)[0], (torch.randn(5, 2, 3),))


def test_auto_backend_is_resolved_again_where_a_module_is_loaded():
    lstm = prt.LSTM(3, 4)
    lstm.backend = "numpy"               # as if saved on a machine whose best backend is gone here
    loaded = pickle.loads(pickle.dumps(lstm))
    assert loaded.backend == get_backend("auto").name
    pinned = pickle.loads(pickle.dumps(prt.LSTM(3, 4, backend="numpy")))
    assert pinned.backend == "numpy"
