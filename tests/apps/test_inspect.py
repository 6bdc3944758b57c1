"""`pyrnn inspect RUN`: text features on a hand-made snippet, states stepped through the cells equal the
layer's, and the command end to end on a tiny model trained for a few steps (HTML, PNG, correlations)."""
import json

import numpy as np
import pytest

from pyrnn.cli import main
from pyrnn.train.inspect import FEATURES, best_units, correlations, load_run, text_features, unit_states

SNIPPET = 'def f(a, "x(y"):  # c (\n    s = """ab\ncd""" + \'q\\\'r\'\n\tx = [1,\n  2]\n'


def _at(features, text, i):
    return {k: int(v[i]) for k, v in features.items()}


def test_features_of_a_hand_made_snippet():
    f = text_features(SNIPPET)
    assert list(f) == list(FEATURES) and all(v.shape == (len(SNIPPET),) for v in f.values())
    pos = SNIPPET.index('"x(y"')
    # The opening quote is inside the string (the state once it has been read), the closing one is not;
    # the bracket in the string does not count.
    assert [int(v) for v in f["in_string"][pos:pos + 6]] == [1, 1, 1, 1, 0, 0]
    assert [int(v) for v in f["bracket_depth"][pos - 4:pos + 7]] == [1] * 9 + [0, 0]     # "(a, \"x(y\"):"
    hash_ = SNIPPET.index("#")
    nl = SNIPPET.index("\n")
    assert f["in_comment"][hash_:nl].tolist() == [1] * (nl - hash_) and f["in_comment"][nl] == 0
    assert f["bracket_depth"][nl - 1] == 0                       # "(" in a comment does not count
    assert _at(f, SNIPPET, nl) == dict(in_string=0, in_comment=0, bracket_depth=0, indent=0, line_position=0)
    # Leading spaces raise the indentation as they are read; then it stays for the line.
    s_pos = SNIPPET.index("s =")
    assert f["indent"][nl + 1:s_pos + 3].tolist() == [1, 2, 3, 4, 4, 4, 4]
    assert f["line_position"][s_pos] == 5
    # A triple-quoted string spans the newline; its escapes and the other quote kind do not end it.
    tq = SNIPPET.index('"""ab')
    end = SNIPPET.index('"""', tq + 3)
    assert f["in_string"][tq:end + 2].all() and f["in_string"][end + 2] == 0
    q = SNIPPET.index("'q")
    assert f["in_string"][q:q + 5].all() and f["in_string"][q + 5] == 0      # 'q\'r' ends at the last quote
    tab = SNIPPET.index("\tx")
    assert f["indent"][tab] == 8 and f["line_position"][tab] == 1
    # Brackets across lines: depth 1 on the continuation line until "]".
    close = SNIPPET.index("]")
    assert f["bracket_depth"][close - 1] == 1 and f["bracket_depth"][close] == 0
    # Unterminated one-line string ends at the newline; a stray closer never goes below 0.
    g = text_features("x = 'abc\ny)")
    assert g["in_string"].tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0] and g["bracket_depth"].min() == 0


def test_correlations_find_a_planted_unit_and_say_nothing_for_a_constant_feature():
    rng = np.random.default_rng(0)
    n = 400
    feats = {"a": rng.standard_normal(n), "flat": np.ones(n)}
    states = {"h": rng.standard_normal((2, n, 5)), "c": rng.standard_normal((1, n, 3))}
    states["c"][0, :, 2] = -3 * feats["a"] + 0.1 * rng.standard_normal(n)
    states["h"][1, :, 4] = 0.0                                   # a unit that never moves: r = 0, not nan
    corr = correlations(states, feats, skip=10)
    assert corr["a"]["h"][1, 4] == 0
    best = best_units(corr)
    assert best["a"]["unit"] == "c0:2" and best["a"]["r"] < -0.99
    assert best["flat"] is None


CORPUS = "".join(f"def f{i}(x, y):\n    # add {i}\n    s = 'v{i}' + \"(\"\n    return [x + {i}, (y, {i})]\n\n"
                 for i in range(60))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 2-layer LSTM trained for a few steps on a small Python-like corpus (seconds)."""
    root = tmp_path_factory.mktemp("inspect")
    (root / "corpus.py").write_text(CORPUS, encoding="utf-8")
    out = root / "run"
    assert main(["train", str(root / "corpus.py"), "--out", str(out), "--steps", "15", "--hidden", "12",
                 "--embed", "8", "--layers", "2", "--seq-len", "40", "--batch", "4", "--eval-every", "0",
                 "--backend", "numpy"]) == 0
    return root, out


def test_cells_stepped_with_the_layers_weights_give_the_layers_states(run):
    _, out = run
    model, vocab, _ = load_run(str(out), backend="numpy")
    ids = vocab.encode(CORPUS[:300])
    states = unit_states(model, ids)
    assert states["h"].shape == states["c"].shape == (2, 300, 12)
    y, (h_n, c_n) = model.rnn(model.embedding.forward(ids[:, None]))
    np.testing.assert_allclose(states["h"][1], y[:, 0], atol=1e-5)            # the top layer's every step
    np.testing.assert_allclose(states["h"][:, -1], h_n[:, 0], atol=1e-5)      # both layers' last state
    np.testing.assert_allclose(states["c"][:, -1], c_n[:, 0], atol=1e-5)


@pytest.mark.parametrize("cell", ["gru", "rnn"])
def test_gru_and_rnn_models_have_hidden_units_only_and_the_layers_states(cell):
    from pyrnn.train import LanguageModel
    model = LanguageModel(10, 4, 6, 2, cell, backend="numpy", seed=1).eval()
    ids = np.random.default_rng(0).integers(0, 10, 50)
    states = unit_states(model, ids)
    y, h_n = model.rnn(model.embedding.forward(ids[:, None]))
    assert list(states) == ["h"]
    np.testing.assert_allclose(states["h"][1], y[:, 0], atol=1e-5)
    np.testing.assert_allclose(states["h"][:, -1], h_n[:, 0], atol=1e-5)


def test_inspect_writes_the_page_the_png_and_correlations(run, capsys):
    root, out = run
    held = root / "held_out.py"
    held.write_text(CORPUS[:1500].replace("f1", "f7") + "é\n", encoding="utf-8")     # é: not in the vocabulary
    dest = root / "pages"
    assert main(["inspect", str(out), "--text", str(held), "--chars", "2000", "--show", "400", "--out", str(dest),
                 "--backend", "numpy"]) == 0
    printed = capsys.readouterr().out
    assert "best unit per feature" in printed and "1 unknown characters dropped" in printed
    report = json.loads((dest / "correlations.json").read_text(encoding="utf-8"))
    assert report["units"] == {"h": 24, "c": 24} and report["dropped_chars"] == 1
    for name in FEATURES:
        b = report["best"][name]
        assert -1 <= b["r"] <= 1 and b["kind"] in ("h", "c") and 0 <= b["index"] < 12
    assert max(abs(b["r"]) for b in report["best"].values()) == pytest.approx(
        max(abs(r) for r in report["unit_r"].values()))             # default unit: the best-correlated one
    page = (dest / "unit.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.count("<span") == 400
    assert (dest / "unit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A chosen unit; the default output folder is RUN/inspect.
    assert main(["inspect", str(out), "--text", str(held), "--unit", "h0:3", "--chars", "500", "--show", "50",
                 "--backend", "numpy"]) == 0
    assert json.loads((out / "inspect" / "correlations.json").read_text(encoding="utf-8"))["unit"] == "h0:3"


@pytest.mark.parametrize("args, message", [
    (["{missing}"], "does not exist"),
    (["{run}", "--unit", "h0:12"], "units 0..11"),
    (["{run}", "--unit", "c2:0"], "layers 0..1"),
    (["{run}", "--unit", "hidden7"], "must look like"),
    (["{bad}"], "not a readable pyrnn checkpoint"),
    (["{run}", "--text", "{missing}"], "does not exist"),
])
def test_bad_input_is_one_line_and_exit_code_2(run, tmp_path, capsys, args, message):
    _, out = run
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "checkpoint.npz").write_bytes(b"not a zip file")
    paths = dict(run=str(out), missing=str(tmp_path / "nowhere"), bad=str(bad))
    assert main(["inspect", *[a.format(**paths) for a in args], "--backend", "numpy"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pyrnn inspect: error: ") and message in err and err.count("\n") == 1, err
