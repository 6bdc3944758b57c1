"""pyrnn.models: every model's backward against central finite differences (float64), and behaviour.

The check mirrors pyrnn.gradcheck: error = max|analytic - numeric| / max(1, max|numeric|)
for each parameter, at the same tolerance (1e-6). Sizes are tiny so the whole file runs in seconds;
for the larger models a fixed random subset of each parameter's entries is checked.
"""
import numpy as np
import pytest

from pyrnn.errors import StateDictError
from pyrnn.gradcheck import central_difference
from pyrnn.models import (AdditiveAttention, DotAttention, Seq2Seq, SequenceAutoencoder, SequenceClassifier,
                          SequenceRegressor, fit, mse_loss)
from pyrnn.models.data import adding_problem
from pyrnn.train import Adam

from model_checks import assert_small, fd_errors

# -- attention ----------------------------------------------------------------------------------
def _attention_fd(att, q, k, v, mask):
    rng = np.random.default_rng(5)
    ctx, w = att(q, att.memory(k, v, mask))
    r_ctx, r_w = rng.standard_normal(ctx.shape), rng.standard_normal(w.shape)
    att.zero_grad()
    dq, dk, dv = att.backward(r_ctx, r_w)
    analytic = {"query": dq, "keys": dk, "values": dv, **{n: g.copy() for n, g in att.grads.items()}}
    att.eval()

    def loss():
        c, ww = att(q, att.memory(k, v, mask))
        return float(np.sum(c * r_ctx) + np.sum(ww * r_w))

    targets = {"query": q, "keys": k, "values": v, **dict(att.named_parameters())}
    errors = {}
    for name, arr in targets.items():
        numeric = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            numeric[idx] = central_difference(loss, arr, idx)
        errors[name] = float(np.max(np.abs(analytic[name] - numeric))) / max(1.0, float(np.max(np.abs(numeric))))
    att.train()
    return errors, analytic


@pytest.mark.parametrize("kind", ["additive", "dot"])
def test_attention_backward_matches_finite_differences_with_a_mask(kind):
    rng = np.random.default_rng(0)
    B, S, H, A = 3, 5, 4, 3
    att = AdditiveAttention(H, A, dtype=np.float64, seed=1) if kind == "additive" else DotAttention(dtype=np.float64)
    q = rng.standard_normal((B, H))
    k = rng.standard_normal((B, S, A if kind == "additive" else H))
    v = rng.standard_normal((B, S, 2))
    mask = np.arange(S)[None, :] < np.array([5, 2, 4])[:, None]
    errors, analytic = _attention_fd(att, q, k, v, mask)
    assert_small(errors)
    # Padded positions get no weight and no gradient.
    assert np.all(analytic["keys"][~mask] == 0) and np.all(analytic["values"][~mask] == 0)


def test_attention_weights_ignore_masked_positions_and_sum_to_one():
    rng = np.random.default_rng(1)
    att = AdditiveAttention(4, 3, dtype=np.float64, seed=0)
    q, k, v = rng.standard_normal((2, 4)), rng.standard_normal((2, 6, 3)), rng.standard_normal((2, 6, 2))
    mask = np.array([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=bool)
    k2, v2 = k.copy(), v.copy()
    k2[0, 3:], v2[0, 3:] = 1e3, np.nan                # whatever the padding holds
    ctx, w = att(q, att.memory(k, v, mask))
    ctx2, w2 = att(q, att.memory(k2, v2, mask))
    np.testing.assert_allclose(w.sum(axis=1), 1)
    assert np.all(w[0, 3:] == 0)
    np.testing.assert_array_equal(ctx2, ctx)
    np.testing.assert_array_equal(w2, w)
    dq, dk, dv = att.backward(np.ones_like(ctx2))
    assert np.isfinite(dq).all() and np.all(dk[0, 3:] == 0) and np.all(dv[0, 3:] == 0)


def test_attention_tape_is_last_in_first_out():
    rng = np.random.default_rng(2)
    att = DotAttention(dtype=np.float64)
    k, v = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 3))
    q1, q2 = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    mem = att.memory(k, v)
    c1, _ = att(q1, mem)
    c2, _ = att(q2, mem)
    att_single = DotAttention(dtype=np.float64)
    att_single(q2, att_single.memory(k, v))
    expected = att_single.backward(np.ones_like(c2))
    got = att.backward(np.ones_like(c2))
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b)
    assert att.pending_steps == 1


# -- models -------------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_classifier_backward_matches_finite_differences(cell):
    rng = np.random.default_rng(0)
    model = SequenceClassifier(3, input_size=2, hidden=3, cell=cell, dtype=np.float64, seed=1)
    x = rng.standard_normal((4, 5, 2))
    assert_small(fd_errors(model, (x, np.array([0, 2, 1, 2]), np.array([5, 2, 4, 1]))))


def test_text_classifier_with_embedding_layers_and_both_directions_matches_finite_differences():
    rng = np.random.default_rng(1)
    model = SequenceClassifier(2, vocab_size=6, embed=2, hidden=3, layers=2, bidirectional=True, cell="gru",
                               dtype=np.float64, seed=2)
    ids = rng.integers(0, 6, size=(3, 4))
    assert_small(fd_errors(model, (ids, np.array([1, 0, 1]), np.array([4, 1, 3])), max_entries=20))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("attention", ["additive", "dot", None])
def test_seq2seq_teacher_forcing_backward_matches_finite_differences(cell, attention):
    rng = np.random.default_rng(3)
    model = Seq2Seq(7, 6, embed=3, hidden=4, cell=cell, attention=attention, attn_size=3, dtype=np.float64, seed=4)
    src = rng.integers(0, 7, size=(3, 5))
    tgt = np.array([[3, 4, 5, 2], [5, 2, 0, 0], [3, 3, 3, 2]])     # eos = 2, padding = 0 (not counted)
    assert_small(fd_errors(model, (src, tgt, np.array([5, 2, 4])), max_entries=25))
    assert model.decoder.pending_steps == 0
    assert model.attention is None or model.attention.pending_steps == 0


def test_seq2seq_ignores_source_padding_and_target_padding():
    rng = np.random.default_rng(4)
    model = Seq2Seq(7, 6, embed=3, hidden=4, dtype=np.float64, seed=0)
    src = rng.integers(3, 7, size=(2, 5))
    tgt = np.array([[3, 4, 2, 0], [5, 5, 5, 2]])
    lengths = np.array([3, 5])
    base = model.loss(src, tgt, lengths)
    src2, tgt2 = src.copy(), tgt.copy()
    src2[0, 3:] = 6                                # other padding tokens
    tgt2 = np.concatenate([tgt2, np.zeros((2, 2), dtype=tgt2.dtype)], axis=1)   # more target padding
    assert model.loss(src2, tgt2, lengths) == pytest.approx(base, rel=1e-12)


def test_autoencoder_backward_matches_finite_differences():
    rng = np.random.default_rng(5)
    for cell in ("lstm", "gru"):
        model = SequenceAutoencoder(3, hidden=4, code_size=2, cell=cell, dtype=np.float64, seed=6)
        x = rng.standard_normal((3, 4, 3))
        assert_small(fd_errors(model, (x, x), max_entries=25))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_regressor_backward_matches_finite_differences(cell):
    x, y = adding_problem(4, 6, seed=1)
    init = dict(chrono=6, forget_bias=0.5) if cell == "lstm" else {}
    model = SequenceRegressor(2, hidden=3, cell=cell, dtype=np.float64, seed=2, **init)
    assert_small(fd_errors(model, (x.astype(np.float64), y)))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_hidden_gradient_norms_match_finite_differences_of_the_loss_in_h_t(cell):
    x, y = adding_problem(2, 7, seed=3)
    x = x.astype(np.float64)
    model = SequenceRegressor(2, hidden=3, cell=cell, dtype=np.float64, seed=4).eval()
    norms = model.hidden_gradient_norms(x, y)
    t = 3
    # L as a function of h_t: run steps t+1.. from the state after step t (c_t held fixed for an LSTM).
    _, state = model.rnn(x[:, :t + 1])
    h_t = state[0][0].copy() if cell == "lstm" else state[0].copy()

    def loss_from(h):
        hx = (h[None], state[1]) if cell == "lstm" else h[None]
        _, s = model.rnn(x[:, t + 1:], hx)
        h_T = s[0][0] if cell == "lstm" else s[0]
        return mse_loss(model.head.forward(h_T)[:, 0], y)[0]

    numeric = np.zeros_like(h_t)
    h = h_t.copy()
    for idx in np.ndindex(h_t.shape):
        numeric[idx] = central_difference(lambda: loss_from(h), h, idx)
    assert norms[t] == pytest.approx(np.mean(np.linalg.norm(numeric, axis=1)), rel=1e-6, abs=1e-9)
    assert model.rnn.grads["weight_hh_l0"].any() == False  # noqa: E712  (the model's gradients are untouched)


def test_chrono_initialisation_spreads_lstm_memory_timescales():
    model = SequenceRegressor(2, hidden=50, cell="lstm", chrono=200, seed=0)
    b = model.rnn.bias_ih_l0 + model.rnn.bias_hh_l0
    f = 1 / (1 + np.exp(-b[50:100]))
    timescale = f / (1 - f)                            # = exp(b_f), drawn from U(1, 199)
    assert timescale.min() >= 1 - 1e-4 and timescale.max() <= 199 + 1e-3 and timescale.max() > 100
    np.testing.assert_allclose(b[:50], -b[50:100], atol=1e-6)
    with pytest.raises(ValueError, match="apply to an LSTM"):
        SequenceRegressor(2, cell="gru", chrono=200)


# -- API behaviour ------------------------------------------------------------------------------
def test_models_work_with_the_train_optimizers_and_round_trip_their_state():
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((8, 5, 2)).astype(np.float32), rng.integers(0, 3, 8)
    model = SequenceClassifier(3, input_size=2, hidden=8, seed=0)
    opt = Adam(model, lr=1e-2)
    first = model.loss_and_backward(x, y)
    for _ in range(30):
        model.zero_grad()
        model.loss_and_backward(x, y)
        opt.step()                                    # updates the modules' live arrays
    assert model.eval().loss(x, y) < first - 0.3
    clone = SequenceClassifier(3, input_size=2, hidden=8, seed=1).eval()
    clone.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(clone.logits(x), model.logits(x))
    with pytest.raises(StateDictError, match="missing keys"):
        clone.load_state_dict({k: v for k, v in model.state_dict().items() if k != "head.bias"})
    bad = model.state_dict()
    bad["head.bias"] = np.zeros(4)
    before = clone.state_dict()
    with pytest.raises(StateDictError, match="head.bias"):
        clone.load_state_dict(bad)
    assert all(np.array_equal(before[k], v) for k, v in clone.state_dict().items())


def test_fit_trains_an_autoencoder_on_x_x():
    rng = np.random.default_rng(7)
    X = np.sin(np.linspace(0, 3, 6))[None, :, None] * rng.uniform(0.5, 1.5, (64, 1, 1))
    model = SequenceAutoencoder(1, hidden=8, code_size=2, seed=0)
    before = model.eval().loss(X.astype(np.float32))
    hist = fit(model, (X.astype(np.float32), X.astype(np.float32)), epochs=40, batch_size=16, lr=1e-2)
    assert hist["steps"] == 160
    assert model.eval().loss(X.astype(np.float32)) < 0.2 * before


def _sequence_logprob(model, src, lengths, seq, finished):
    """log p(seq [+ eos]) under the model, one decoder step at a time (what beam search sums)."""
    model.eval()
    enc = model._encode(src, lengths)
    state, prev, total = enc["state"], model.bos_id, 0.0
    for tok in list(seq) + ([model.eos_id] if finished else []):
        state, f, _ = model._step(model.tgt_embedding.forward(np.array([prev])), state, enc)
        z = model.out.forward(f)[0].astype(np.float64)
        total += z[tok] - z.max() - np.log(np.sum(np.exp(z - z.max())))
        prev = tok
    return total


def test_beam_search_is_greedy_at_width_one_and_exhaustive_when_wide_enough():
    import itertools
    rng = np.random.default_rng(8)
    model = Seq2Seq(9, 5, embed=4, hidden=8, dtype=np.float64, seed=3)     # 5 target ids: tiny search space
    src = rng.integers(0, 9, size=(4, 5))
    lengths = np.array([5, 3, 1, 4])
    greedy, weights = model.greedy_decode(src, lengths, max_len=3)
    assert weights.shape[0] == 4 and weights.shape[2] == 5
    assert np.all(weights[1, :, 3:] == 0)           # never attends to padding
    assert model.beam_search(src, lengths, beam_size=1, max_len=3) == greedy
    wide = model.beam_search(src, lengths, beam_size=200, max_len=3)
    for b in range(4):
        # Every output: ends with eos after 0..2 tokens, or is cut after 3 tokens.
        candidates = [(seq, True) for n in range(3) for seq in itertools.product(range(5), repeat=n)
                      if model.eos_id not in seq]
        candidates += [(seq, False) for seq in itertools.product(range(5), repeat=3) if model.eos_id not in seq]
        scores = {(seq, fin): _sequence_logprob(model, src[b:b + 1], lengths[b:b + 1], seq, fin)
                  for seq, fin in candidates}
        best = max(scores, key=scores.get)
        assert tuple(wide[b]) == best[0], (b, wide[b], best)
