"""Image captioning: the convolution's and the captioner's backward against central finite differences
(float64), decoding, the scene generator and BLEU.

Same check as tests/apps/test_models.py: error = max|analytic - numeric| / max(1, max|numeric|) per
parameter, tolerance pyrnn.gradcheck.TOLERANCE; a fixed random subset of each large parameter.
"""
import math

import numpy as np
import pytest

from pyrnn.errors import InputError
from pyrnn.gradcheck import TOLERANCE as FD_TOL
from pyrnn.gradcheck import central_difference
from pyrnn.models import Captioner, Conv2d, corpus_bleu
from pyrnn.models.scenes import (OBJECTS, all_combinations, caption_vocabulary, captions, make_scenes, render,
                                 split_combinations)

from model_checks import assert_small, fd_errors
from shared import ROOT


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (3, 2)])
def test_conv2d_backward_matches_finite_differences_and_torch_layout(stride, padding):
    rng = np.random.default_rng(0)
    conv = Conv2d(2, 3, 3, stride=stride, padding=padding, dtype=np.float64, seed=1)
    x = rng.standard_normal((2, 7, 6, 2))
    y = conv.forward(x)
    assert y.shape == (2, conv.output_size(7), conv.output_size(6), 3)
    r = rng.standard_normal(y.shape)
    conv.zero_grad()
    dx = conv.backward(r)
    analytic = {"x": dx, **{k: g.copy() for k, g in conv.grads.items()}}
    conv.eval()
    loss = lambda: float(np.sum(conv.forward(x) * r))   # noqa: E731
    for name, arr in {"x": x, **dict(conv.named_parameters())}.items():
        numeric = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            numeric[idx] = central_difference(loss, arr, idx)
        assert np.max(np.abs(numeric - analytic[name])) < FD_TOL * max(1, np.max(np.abs(numeric))), name
    # The same numbers as a direct cross-correlation with torch.nn.Conv2d's weight layout (out, in, kh, kw).
    W, b, k = conv.weight, conv.bias, 3
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    i, j = 1, 0
    patch = xp[:, i * stride:i * stride + k, j * stride:j * stride + k, :]      # (B, k, k, C)
    np.testing.assert_allclose(y[:, i, j], np.einsum("bhwc,ochw->bo", patch, W) + b)


@pytest.mark.parametrize("cell, attention", [("lstm", "additive"), ("lstm", "dot"), ("lstm", None),
                                             ("gru", "additive")])
def test_captioner_backward_matches_finite_differences(cell, attention):
    rng = np.random.default_rng(3)
    model = Captioner(9, image_size=8, channels=(3, 4), embed=3, hidden=4, cell=cell, attention=attention,
                      attn_size=3, dtype=np.float64, seed=4)
    images = rng.uniform(0, 1, (3, 8, 8, 3))
    caps = np.array([[3, 4, 5, 2], [5, 2, 0, 0], [3, 3, 3, 2]])          # eos = 2, padding = 0 (not counted)
    assert_small(fd_errors(model, (images, caps), max_entries=20))
    assert model.decoder.pending_steps == 0
    assert model.attention is None or model.attention.pending_steps == 0


def test_three_convolutions_down_to_one_region_match_finite_differences():
    rng = np.random.default_rng(6)
    model = Captioner(6, image_size=8, channels=(2, 3, 4), embed=2, hidden=3, attn_size=2, dtype=np.float64, seed=2)
    assert model.image_encoder.grid == 1 and {"conv1", "conv2", "conv3"} <= set(model.modules)
    assert_small(fd_errors(model, (rng.uniform(0, 1, (2, 8, 8, 3)), np.array([[3, 4, 2], [5, 2, 0]])),
                             max_entries=15))


def test_linear_encoder_captioner_matches_finite_differences_and_refuses_attention():
    rng = np.random.default_rng(5)
    model = Captioner(7, image_size=4, embed=3, hidden=4, attention=None, encoder="linear", dtype=np.float64,
                      seed=1)
    assert set(model.modules) == {"init_h", "init_c", "tgt_embedding", "decoder", "out"}
    assert_small(fd_errors(model, (rng.uniform(0, 1, (2, 4, 4, 3)), np.array([[3, 4, 2], [6, 2, 0]])),
                             max_entries=20))
    with pytest.raises(InputError, match="attention=None"):
        Captioner(7, image_size=4, encoder="linear", attention="additive")


def test_decoding_greedy_beam_and_bad_images():
    rng = np.random.default_rng(2)
    model = Captioner(8, image_size=8, channels=(3, 4), embed=3, hidden=5, attn_size=3, seed=0)
    images = rng.uniform(0, 1, (3, 8, 8, 3)).astype(np.float32)
    seqs, weights = model.greedy_decode(images, max_len=6)
    assert len(seqs) == 3 and all(len(s) <= 6 and 2 not in s for s in seqs)
    assert weights.shape[0] == 3 and weights.shape[2] == 4                 # 2x2 regions
    np.testing.assert_allclose(weights.sum(axis=2), 1, rtol=1e-5)
    beams = model.beam_search(images, beam_size=1, max_len=6)
    assert beams == seqs                                                  # a beam of 1 is greedy decoding
    assert len(model.beam_search(images, beam_size=3, max_len=6)) == 3
    assert model.training                                                 # decoding left the mode alone
    with pytest.raises(InputError, match=r"images must be \(batch, 8, 8, 3\)"):
        model.greedy_decode(images[:, :4])


def test_scenes_captions_vocabulary_and_the_held_out_combinations():
    train, test = split_combinations(0.2, seed=0)
    assert len(train) + len(test) == len(all_combinations()) == 30 * 29 * 2
    assert not set(train) & set(test)
    # Every object of the test scenes is familiar from training: only the combination is new.
    assert {o for a, b, _ in test for o in (a, b)} <= {o for a, b, _ in train for o in (a, b)} == set(OBJECTS)
    scene = (("small", "red", "circle"), ("large", "blue", "square"), "left")
    caps = captions(scene)
    assert caps[0] == "a small red circle left of a large blue square"
    assert "a large blue square right of a small red circle" in caps and len(set(caps)) == 4
    vocab = caption_vocabulary()
    ids, lengths = vocab.batch(caps, eos=True)
    assert ids.shape[0] == 4 and vocab.decode(ids[0]) == caps[0] and ids[0, len(caps[0].split())] == vocab.eos_id
    assert lengths[0] == len(caps[0].split()) + 1 and vocab.bos_id == 1 and vocab.pad_id == 0
    images, scenes = make_scenes(test, 5, size=32, seed=1)
    assert images.shape == (5, 32, 32, 3) and images.dtype == np.float32 and len(scenes) == 5
    assert 0 <= images.min() and images.max() <= 1
    img = render(scene, 32, noise=0, rng=np.random.default_rng(0))
    red = (img[..., 0] > 0.9) & (img[..., 2] < 0.2)
    blue = (img[..., 2] > 0.9) & (img[..., 0] < 0.2)
    assert 0 < red.sum() < blue.sum()                                     # small red, large blue
    assert np.nonzero(red)[1].max() < np.nonzero(blue)[1].min()           # red entirely left of blue


def test_bleu_on_hand_computed_cases():
    ref = "the cat sat on the mat".split()
    assert corpus_bleu([ref], [[ref]]) == pytest.approx(1.0)
    assert corpus_bleu(["a b c d".split()], [["e f g h".split()]]) == 0.0
    # hyp "the cat sat on a mat" against the reference: p1 5/6, p2 3/5, p3 1/4, p4 0/3 -> BLEU-4 0; BLEU-2:
    hyp = "the cat sat on a mat".split()
    assert corpus_bleu([hyp], [[ref]], max_n=2) == pytest.approx(math.sqrt(5 / 6 * 3 / 5))
    # Clipping: "the the the" matches "the" only as often as the best reference has it (2); 3 words
    # against 6: brevity penalty exp(1 - 6/3).
    assert corpus_bleu(["the the the".split()], [[ref]], max_n=1) == pytest.approx(2 / 3 * math.exp(-1))
    # Brevity penalty against the closest reference length (3 words vs references of 6 and 4: r = 4).
    short = "the cat sat".split()
    assert corpus_bleu([short], [[ref, "the cat sat down".split()]], max_n=3) == pytest.approx(math.exp(1 - 4 / 3))


# -- the example -------------------------------------------------------------------------------
def _example():
    import importlib.util
    import os
    import sys
    examples = os.path.join(ROOT, "examples")
    if examples not in sys.path:
        sys.path.insert(0, examples)              # the examples import their shared helpers from _common
    spec = importlib.util.spec_from_file_location("example_caption_shapes", os.path.join(examples,
                                                                                         "caption_shapes.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_caption_shapes_quick_learns_and_beats_the_nearest_neighbour_caption(tmp_path, capsys):
    import json
    assert _example().main(["--quick", "--out", str(tmp_path)]) == 0
    m = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    r, nn = m["results"]["attention"], m["baseline"]["unseen"]
    assert r["final_loss"] < 0.3 * r["initial_loss"]
    # The neighbour's caption names another combination (the test ones never occur in training), so it is
    # never exactly right; the model composes the parts it learned into the unseen combination.
    assert nn["exact_match"] == 0
    g = r["unseen"]["greedy"]
    assert g["bleu4"] > nn["bleu4"] and g["exact_match"] > 0
    assert 0 <= r["unseen"]["beam"]["exact_match"] <= 1 and r["unseen"]["beam"]["examples"] == 50
    for png in ("captions.png", "attention.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "nearest-neighbour caption" in capsys.readouterr().out


def test_caption_shapes_bad_options_are_one_line_errors(tmp_path, capsys):
    example = _example()
    assert example.main(["--quick", "--variants", "attention,bogus", "--out", str(tmp_path / "a")]) == 2
    assert "bogus" in capsys.readouterr().err
    assert example.main(["--quick", "--channels", "8,x", "--out", str(tmp_path / "b")]) == 2
    assert "--channels" in capsys.readouterr().err
