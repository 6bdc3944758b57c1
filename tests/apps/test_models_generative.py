"""The generative models (PixelRNN's Row LSTM, the pixel-by-pixel LSTM, DRAW): backward against central
finite differences in float64, and the properties that make them proper models of p(x).

Same check and tolerance as tests/apps/test_models.py (its _fd_errors: every parameter, a fixed random subset
of the entries of the larger ones).
"""
import importlib.util

import numpy as np
import pytest

from pyrnn.gradcheck import central_difference
from pyrnn.models import DRAW, IndependentBernoulli, PixelLSTM, RowLSTM, bernoulli_nll
from pyrnn.models.draw import filterbank, filterbank_backward
from pyrnn.models.images import sigmoid
from pyrnn.models.pixelrnn import causal_patches
from model_checks import assert_small, fd_errors


@pytest.fixture(autouse=True)
def one_blas_thread():
    """One BLAS thread for these small products: on a shared 2-core machine two threads per process
    fight over the cores and ran them ~30x slower (measured); threadpoolctl comes with scikit-learn."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(1):
        yield


def _binary(shape, seed=0):
    return (np.random.default_rng(seed).random(shape) < 0.4).astype(np.float64)


# -- likelihood -------------------------------------------------------------------------------------
def test_bernoulli_nll_and_its_gradient():
    rng = np.random.default_rng(0)
    z, x = rng.standard_normal((3, 4, 4)) * 3, _binary((3, 4, 4))
    loss, dz = bernoulli_nll(z, x)
    p = sigmoid(z)
    assert loss == pytest.approx(-np.sum(x * np.log(p) + (1 - x) * np.log(1 - p)) / 3, rel=1e-12)
    for idx in [(0, 0, 0), (1, 2, 3), (2, 3, 1)]:
        assert dz[idx] == pytest.approx(central_difference(lambda: bernoulli_nll(z, x)[0], z, idx), abs=1e-8)
    assert np.isfinite(bernoulli_nll(np.array([[1e4, -1e4]]), np.array([[0.0, 1.0]]))[0])   # no overflow


def test_independent_bernoulli_is_the_training_frequency():
    X = np.array([[[1, 0]], [[1, 1]], [[1, 0]]], dtype=np.float64)
    m = IndependentBernoulli(alpha=1).fit(X)                   # add-one: (count + 1) / (3 + 2)
    np.testing.assert_allclose(m.p, [[4 / 5, 2 / 5]])
    assert m.nll(X) == pytest.approx(-(3 * np.log(4 / 5) + np.log(2 / 5) + 2 * np.log(3 / 5)) / 3)


# -- PixelRNN ---------------------------------------------------------------------------------------
def test_causal_patches_hold_exactly_the_earlier_pixels_of_the_window():
    x = np.arange(1, 26, dtype=np.float64).reshape(1, 5, 5)          # pixel value = 1 + raster index
    p = causal_patches(x, 3)                                           # 3 above + 1 left
    np.testing.assert_array_equal(p[0, 2, 2], [7, 8, 9, 12])           # row 1 cols 1..3, then (2, 1)
    np.testing.assert_array_equal(p[0, 0, 0], [0, 0, 0, 0])            # outside the image is 0
    np.testing.assert_array_equal(p[0, 1, 4], [4, 5, 0, 9])


@pytest.mark.parametrize("input_kernel, state_kernel", [(3, 3), (5, 5), (3, 1)])
def test_row_lstm_backward_matches_finite_differences(input_kernel, state_kernel):
    model = RowLSTM(5, hidden=3, input_kernel=input_kernel, state_kernel=state_kernel, dtype=np.float64, seed=1)
    assert_small(fd_errors(model, (_binary((2, 5, 5)),), max_entries=30))
    assert model.rows.pending_steps == 0


def test_pixel_lstm_backward_matches_finite_differences():
    model = PixelLSTM(4, hidden=3, dtype=np.float64, seed=2)
    assert_small(fd_errors(model, (_binary((3, 4, 4)),), max_entries=30))


@pytest.mark.parametrize("cls", [RowLSTM, PixelLSTM])
def test_every_pixel_is_predicted_from_earlier_pixels_only(cls):
    """Flipping pixel k changes no logit of pixels 0..k: the product of conditionals is a distribution."""
    n = 5
    model = cls(n, hidden=4, dtype=np.float64, seed=3).eval()
    x = _binary((2, n, n), seed=4)
    base = model.logits(x).reshape(2, -1)
    for k in range(n * n):
        flipped = x.copy().reshape(2, -1)
        flipped[:, k] = 1 - flipped[:, k]
        changed = np.abs(model.logits(flipped.reshape(x.shape)).reshape(2, -1) - base)
        assert changed[:, :k + 1].max() == 0, k
    # ...and the Row LSTM does use the pixels before: the one to the left and the row above.
    if cls is RowLSTM:
        flipped = x.copy()
        flipped[:, 2, 1] = 1 - flipped[:, 2, 1]
        changed = np.abs(model.logits(flipped) - model.logits(x))
        assert changed[:, 2, 2].min() > 0 and changed[:, 3, 1].min() > 0


def test_exact_likelihood_sums_to_one_over_all_images():
    """On 3x3 images the 512 probabilities can be enumerated: they must sum to 1."""
    grid = ((np.arange(512)[:, None] >> np.arange(9)) & 1).astype(np.float64).reshape(512, 3, 3)
    for model in (RowLSTM(3, hidden=3, input_kernel=3, dtype=np.float64, seed=5),
                  PixelLSTM(3, hidden=3, dtype=np.float64, seed=5)):
        assert np.exp(-model.eval().nll(grid)).sum() == pytest.approx(1.0, rel=1e-10)


@pytest.mark.parametrize("cls", [RowLSTM, PixelLSTM])
def test_samples_are_drawn_from_the_models_own_conditionals_and_completions_keep_the_given_rows(cls):
    model = cls(5, hidden=4, dtype=np.float64, seed=6).eval()
    images, probs = model.sample(4, seed=0)
    assert set(np.unique(images)) <= {0.0, 1.0}
    np.testing.assert_allclose(probs, sigmoid(model.logits(images)), rtol=1e-12)
    given = _binary((3, 5, 5), seed=7)
    done, probs = model.sample(given=given, start_row=2, seed=1)
    np.testing.assert_array_equal(done[:, :2], given[:, :2])
    np.testing.assert_allclose(probs[:, 2:], sigmoid(model.logits(done))[:, 2:], rtol=1e-12)
    assert model.sample(4, seed=0)[0].tolist() == images.tolist()          # seeded


# -- DRAW -------------------------------------------------------------------------------------------
def test_filterbank_rows_are_normalised_and_its_backward_matches_finite_differences():
    rng = np.random.default_rng(8)
    params = rng.standard_normal((2, 5)) * 0.5
    Fx, Fy, gamma, cache = filterbank(params * 0.2, 7, 3)             # filters inside the image
    np.testing.assert_allclose(Fx.sum(axis=-1), 1, rtol=1e-6)
    np.testing.assert_allclose(Fy.sum(axis=-1), 1, rtol=1e-6)
    Fx, Fy, gamma, cache = filterbank(params, 7, 3)
    r = [rng.standard_normal(a.shape) for a in (Fx, Fy, gamma)]

    def loss():
        out = filterbank(params, 7, 3)[:3]
        return sum(float(np.sum(o * w)) for o, w in zip(out, r))

    dp = filterbank_backward(*r, cache)
    for idx in np.ndindex(params.shape):
        assert dp[idx] == pytest.approx(central_difference(loss, params, idx), abs=1e-7), idx


@pytest.mark.parametrize("attention", [False, True])
def test_draw_backward_matches_finite_differences(attention):
    kw = dict(read_size=2, write_size=3) if attention else {}
    model = DRAW(6, steps=3, hidden=4, latent=2, dtype=np.float64, seed=9, **kw)
    noise = np.random.default_rng(10).standard_normal((3, 3, 2))
    assert_small(fd_errors(model, (_binary((3, 6, 6)), noise), max_entries=30))
    assert all(getattr(m, "pending_steps", 0) == 0 for m in model.modules.values())


def test_one_step_draw_is_a_vae_and_the_elbo_bounds_hold():
    model = DRAW(4, steps=1, hidden=3, latent=2, dtype=np.float64, seed=11).eval()
    x = _binary((5, 4, 4), seed=12)
    elbo, kl = model.neg_elbo(x, samples=3)
    assert elbo.shape == kl.shape == (5,) and np.all(kl >= 0) and np.all(elbo > kl)
    noise = np.zeros((1, 5, 2))
    # With eps = 0 the loss is the reconstruction of z = mu plus the KL: deterministic.
    assert model.loss(x, noise) == model.loss(x, noise)


def test_draw_generates_a_canvas_per_step_and_attention_windows():
    model = DRAW(8, steps=4, hidden=5, latent=3, read_size=2, write_size=3, seed=13).eval()
    canvases, windows = model.generate(6, seed=0)
    assert canvases.shape == (4, 6, 8, 8) and np.all((canvases > 0) & (canvases < 1))
    assert windows.shape == (4, 6, 4) and np.all(windows[..., 2:] > 0)
    plain = DRAW(8, steps=4, hidden=5, latent=3, seed=13).eval()
    assert plain.generate(2)[1] is None


def test_draw_refuses_half_an_attention_configuration():
    with pytest.raises(ValueError, match="read_size and write_size"):
        DRAW(8, read_size=2)


@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="scikit-learn not installed")
def test_binarized_digits_at_both_sizes():
    from pyrnn.models.images import binarized_digits
    for size in (8, 16):
        X, y = binarized_digits(size)
        assert X.shape == (1797, size, size) and y.shape == (1797,)
        assert set(np.unique(X)) == {0.0, 1.0} and 0.2 < X.mean() < 0.4
