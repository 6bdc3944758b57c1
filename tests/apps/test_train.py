"""Training toolkit: modules, loss and optimizers against torch; data; the language model; sampling."""
import numpy as np
import pytest

import pyrnn
from shared import assert_close
from pyrnn.gradcheck import TOLERANCE as FD_TOL
from pyrnn.train import (Adagrad, Adam, ContiguousBatches, Embedding, LanguageModel, Linear, RMSProp, SGD,
                         Vocabulary, clip_grad_norm, clip_grad_value, collect_parameters, pick_next,
                         sample, softmax_cross_entropy, split_train_val)

torch = pytest.importorskip("torch")


def _t(a):
    return torch.tensor(np.asarray(a), requires_grad=True)


def test_linear_matches_torch_forward_and_backward():
    rng = np.random.default_rng(0)
    lin = Linear(5, 3, dtype=np.float64, seed=1)
    tl = torch.nn.Linear(5, 3).double()
    tl.load_state_dict({k: torch.from_numpy(v) for k, v in lin.state_dict().items()})
    x = rng.standard_normal((4, 2, 5))
    dy = rng.standard_normal((4, 2, 3))
    xt = _t(x)
    yt = tl(xt)
    (yt * torch.from_numpy(dy)).sum().backward()
    assert_close(lin.forward(x), yt.detach().numpy(), np.float64)
    assert_close(lin.backward(dy), xt.grad.numpy(), np.float64)
    for name, p in tl.named_parameters():
        assert_close(lin.grads[name], p.grad.numpy(), np.float64, name)


def test_embedding_accumulates_repeated_ids_like_torch():
    emb = Embedding(7, 3, dtype=np.float64, seed=0)
    te = torch.nn.Embedding(7, 3).double()
    te.load_state_dict({"weight": torch.from_numpy(emb.weight.copy())})
    ids = np.array([[1, 1, 6], [0, 1, 3]])
    dout = np.random.default_rng(1).standard_normal((2, 3, 3))
    assert_close(emb.forward(ids), te(torch.from_numpy(ids)).detach().numpy(), np.float64)
    out = te(torch.from_numpy(ids))
    (out * torch.from_numpy(dout)).sum().backward()
    emb.backward(dout)
    assert_close(emb.grads["weight"], te.weight.grad.numpy(), np.float64)
    with pytest.raises(pyrnn.InputError, match="ids must lie in"):
        emb.forward(np.array([7]))
    with pytest.raises(TypeError, match="ids must be integers"):
        emb.forward(np.array([1.0]))


def test_softmax_cross_entropy_matches_torch_and_is_stable():
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((3, 4, 11)) * 3
    logits[0, 0, 0] = 1e4                       # no overflow
    targets = rng.integers(0, 11, size=(3, 4))
    lt = _t(logits)
    ref = torch.nn.functional.cross_entropy(lt.reshape(-1, 11), torch.from_numpy(targets).reshape(-1))
    ref.backward()
    loss, dlogits = softmax_cross_entropy(logits, targets)
    assert abs(loss - ref.item()) < 1e-10
    assert_close(dlogits, lt.grad.numpy(), np.float64)


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    grads = [np.zeros_like(p) for p in params]
    return params, grads, [rng.standard_normal(p.shape) for p in params]


@pytest.mark.parametrize("ours, theirs, kwargs", [
    (SGD, torch.optim.SGD, dict(lr=0.1)),
    (SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
    (SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    (Adagrad, torch.optim.Adagrad, dict(lr=0.1)),
    (RMSProp, torch.optim.RMSprop, dict(lr=0.01, alpha=0.9)),
    (Adam, torch.optim.Adam, dict(lr=0.01)),
    (Adam, torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
], ids=["sgd", "sgd-momentum", "sgd-nesterov", "adagrad", "rmsprop", "adam", "adam-betas"])
def test_optimizers_follow_torch_optim(ours, theirs, kwargs):
    params, grads, targets = _problem()
    tparams = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    opt = ours([(f"p{i}", p, g) for i, (p, g) in enumerate(zip(params, grads))], **kwargs)
    topt = theirs(tparams, **kwargs)
    for _ in range(7):                             # loss = sum (p - target)^2 + 0.1 (p - target)^4
        for p, g, t in zip(params, grads, targets):
            g[...] = 2 * (p - t) + 0.4 * (p - t) ** 3
        opt.step()
        opt.zero_grad()
        topt.zero_grad()
        sum(((tp - torch.from_numpy(t)) ** 2 + 0.1 * (tp - torch.from_numpy(t)) ** 4).sum()
            for tp, t in zip(tparams, targets)).backward()
        topt.step()
    for p, tp in zip(params, tparams):
        assert_close(p, tp.detach().numpy(), np.float64)
    # state round-trips through plain arrays
    clone = ours([(f"p{i}", p.copy(), g) for i, (p, g) in enumerate(zip(params, grads))], **kwargs)
    clone.load_state_dict(opt.state_dict())
    assert clone.step_count == 7


def test_clipping_matches_torch():
    params, grads, _ = _problem(1)
    for g in grads:
        g[...] = np.random.default_rng(3).standard_normal(g.shape) * 10
    tp = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    for t, g in zip(tp, grads):
        t.grad = torch.from_numpy(g.copy())
    triples = [("a", params[0], grads[0]), ("b", params[1], grads[1])]
    norm = clip_grad_norm(triples, 1.0)
    tnorm = torch.nn.utils.clip_grad_norm_(tp, 1.0)
    assert abs(norm - float(tnorm)) < 1e-10
    for g, t in zip(grads, tp):
        assert_close(g, t.grad.numpy(), np.float64)
    clip_grad_value(triples, 0.01)
    assert max(np.abs(g).max() for g in grads) <= 0.01


def test_vocabulary_and_batches():
    text = "abcabcab"
    vocab = Vocabulary.build(text)
    assert vocab.tokens == ["a", "b", "c"] and vocab.decode(vocab.encode(text)) == text
    assert vocab.unknown("abz") == ["z"]
    words = Vocabulary.build("the cat the dog the cat", level="word", max_words=2)
    assert words.tokens[0] == "<unk>" and "the" in words.tokens
    assert words.decode(words.encode("the cow")).count("<unk>") == 1
    ids = np.arange(101, dtype=np.int32)
    batches = ContiguousBatches(ids, batch=4, seq_len=10)          # streams of 25
    x0, y0 = batches.chunk(0)
    x1, _ = batches.chunk(1)
    assert x0.shape == (10, 4) and np.array_equal(x0[:, 1], np.arange(25, 35))
    assert np.array_equal(y0, x0 + 1) and np.array_equal(x1[0], x0[-1] + 1)   # chunks continue the streams
    assert batches.chunks_per_epoch == 3 and batches.chunk(2)[0].shape == (5, 4)   # the epoch tail
    assert batches.starts_epoch(3) and np.array_equal(batches.chunk(3)[0], x0)
    train, val = split_train_val(np.arange(100))
    assert len(val) == 5 and val[0] == 95


def test_language_model_gradients_match_torch():
    rng = np.random.default_rng(4)
    model = LanguageModel(9, embed=4, hidden=5, layers=2, cell="lstm", dtype=np.float64, seed=1)
    ids, targets = rng.integers(0, 9, (6, 3)), rng.integers(0, 9, (6, 3))

    emb, lstm, head = torch.nn.Embedding(9, 4).double(), torch.nn.LSTM(4, 5, 2).double(), torch.nn.Linear(5, 9).double()
    sd = model.state_dict()
    for prefix, m in (("embedding", emb), ("rnn", lstm), ("head", head)):
        m.load_state_dict({k[len(prefix) + 1:]: torch.from_numpy(v) for k, v in sd.items() if k.startswith(prefix)})
    y, _ = lstm(emb(torch.from_numpy(ids)))
    ref = torch.nn.functional.cross_entropy(head(y).reshape(-1, 9), torch.from_numpy(targets).reshape(-1))
    ref.backward()
    loss, _ = model.loss_and_backward(ids, targets)
    assert abs(loss - ref.item()) < 1e-10
    for prefix, m in (("embedding", emb), ("rnn", lstm), ("head", head)):
        for name, p in m.named_parameters():
            assert_close(model.modules[prefix].grads[name], p.grad.numpy(), np.float64, f"{prefix}.{name}")


def test_sampling_is_reproducible_and_respects_temperature_and_top_k():
    model = LanguageModel(5, embed=3, hidden=4, layers=1, seed=0)
    vocab = Vocabulary(list("abcde"), "char")
    a = sample(model, vocab, 30, temperature=1.0, prime="ab", seed=7)
    assert a == sample(model, vocab, 30, temperature=1.0, prime="ab", seed=7) and a.startswith("ab") and len(a) == 32
    greedy = sample(model, vocab, 20, temperature=0, prime="a", seed=1)
    assert greedy == sample(model, vocab, 20, temperature=0, prime="a", seed=2)
    assert greedy == sample(model, vocab, 20, temperature=1.0, top_k=1, prime="a", seed=3)
    logits = np.array([0.0, 5.0, 1.0])
    rng = np.random.default_rng(0)
    assert {pick_next(logits, 1.0, 2, rng) for _ in range(200)} == {1, 2}
    with pytest.raises(pyrnn.InputError, match="prime contains characters"):
        sample(model, vocab, 5, prime="xyz")


def test_linear_bias_is_the_parameter_as_in_torch():
    from pyrnn.train import Linear
    lin = Linear(3, 2, seed=0)
    assert lin.bias is lin.state_dict()["bias"] or np.array_equal(lin.bias, lin.state_dict()["bias"])
    assert lin.bias.shape == (2,) and lin.has_bias
    lin.bias = np.ones(2)                     # assigning loads the parameter
    np.testing.assert_array_equal(lin.bias, np.ones(2, dtype=np.float32))
    no_bias = Linear(3, 2, bias=False, seed=0)
    assert no_bias.bias is None and "bias" not in no_bias.state_dict() and "bias=False" in repr(no_bias)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_the_closed_form_parameter_count_agrees_with_the_listed_shapes(cell):
    """The checkpoint loader sizes a header by the closed form before listing anything: the two must agree."""
    from pyrnn.train.config import parameter_count
    from pyrnn.train.model import LanguageModel

    for layers in (1, 3):
        shapes = LanguageModel.parameter_shapes(11, 5, 7, layers, cell)
        model = LanguageModel(11, 5, 7, layers, cell, backend="numpy")
        assert {k: v.shape for k, v in model.state_dict().items()} == shapes
        assert parameter_count(11, 5, 7, layers, cell) == sum(int(np.prod(s)) for s in shapes.values())
