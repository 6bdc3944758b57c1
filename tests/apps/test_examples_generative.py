"""The generative examples (PixelRNN, DRAW) in --quick mode: they run, write their pictures and metrics,
and LEARNED: the training loss fell and the held-out likelihood beats the baselines.

Run in this process through their ``main(argv)``, writing into tmp_path, as tests/apps/test_examples.py does.
"""
import importlib.util
import os

import pytest

from test_examples import _png, _run
from test_models_generative import one_blas_thread  # noqa: F401  (autouse fixture)

pytestmark = pytest.mark.skipif(importlib.util.find_spec("sklearn") is None,
                                reason="scikit-learn not installed (it ships the digits)")


def test_pixelrnn_row_lstm_beats_both_baselines(tmp_path, capsys):
    m = _run("pixelrnn_digits", tmp_path)
    r = m["results"]
    row, plain, indep = r["row_lstm"], r["plain_lstm"], r["independent"]
    for model in (row, plain):
        assert model["final_epoch_loss"] < 0.8 * model["first_epoch_loss"]
        assert model["nll"] < 0.7 * model["initial_nll"]
    # Exact held-out -log p(x): the Row LSTM below the independent pixels and the pixel-by-pixel LSTM.
    assert row["nll"] < indep["nll"] - 2 and row["nll"] < plain["nll"] - 1
    assert row["bits_per_pixel"] == pytest.approx(row["nll"] / (64 * 0.6931471805599453))
    for png in ("samples.png", "completions.png"):
        _png(tmp_path / png)
    assert "held-out NLL, nats per image" in capsys.readouterr().out


def test_pixelrnn_bad_option_is_a_one_line_error(tmp_path, capsys):
    from test_examples import _example
    assert _example("pixelrnn_digits").main(["--quick", "--epochs", "0", "--out", str(tmp_path / "o")]) == 2
    assert "--epochs" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "o")


def test_draw_with_and_without_attention_and_the_vae_beat_independent_pixels(tmp_path, capsys):
    m = _run("draw_digits", tmp_path)
    r = m["results"]
    for name in ("vae", "draw", "draw_attention"):
        model = r[name]
        assert model["final_epoch_loss"] < 0.95 * model["first_epoch_loss"], name
        # The negative ELBO bounds -log p(x) from above: below the exact NLL of independent pixels,
        # the model has learned dependencies between pixels (and its latents carry information).
        assert model["neg_elbo"] < r["independent"]["nll"] - 5, name
        assert model["kl"] > 0.5, name
        assert model["neg_elbo"] == pytest.approx(model["reconstruction"] + model["kl"])
    assert r["draw"]["neg_elbo"] < r["draw"]["initial_neg_elbo"] - 20
    for png in ("canvas.png", "generated.png"):
        _png(tmp_path / png)
    assert "held-out negative ELBO, nats per image: DRAW with attention" in capsys.readouterr().out
