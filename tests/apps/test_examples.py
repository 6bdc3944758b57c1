"""Every example in --quick mode: it runs, writes its picture and metrics, and LEARNED (loss fell, metric above chance).

The examples run in this process through their ``main(argv)`` (a subprocess only
where the exit code and stderr are the point); each writes into tmp_path.
"""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from shared import ROOT

EXAMPLES = os.path.join(ROOT, "examples")
sys.path.insert(0, EXAMPLES)          # the examples import their shared helpers from _common

# The digits examples take their data from scikit-learn (the test extra installs it).
needs_sklearn = pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="scikit-learn not installed")


def _example(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(name, out, *args):
    assert _example(name).main(["--quick", "--out", str(out), *args]) == 0
    with open(os.path.join(out, "metrics.json"), encoding="utf-8") as f:
        return json.load(f)


def _png(path):
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n", path


@needs_sklearn
def test_digits_classification_learns(tmp_path, capsys):
    m = _run("digits_classify", tmp_path)
    assert set(m["results"]) == {"lstm", "gru"}
    for cell, r in m["results"].items():
        assert r["final_loss"] < 0.3 * r["initial_loss"], cell
        assert r["test_accuracy"] > 0.5, cell                  # chance: 0.1
    _png(tmp_path / "confusion.png")
    assert "test accuracy: LSTM" in capsys.readouterr().out


def test_text_classification_learns_and_classifies_new_text(tmp_path, capsys):
    m = _run("text_classify", tmp_path, "--classify", "the food was really great")
    assert m["final_loss"] < 0.3 * m["initial_loss"]
    assert m["test_accuracy"] > m["majority_baseline"] + 0.2      # 0.5 for the balanced shipped file
    assert m["n_test"] == 80 and m["classes"] == ["negative", "positive"]
    _png(tmp_path / "confusion.png")
    assert "'the food was really great' -> " in capsys.readouterr().out


def test_text_classification_reads_a_users_csv_at_char_level(tmp_path):
    rows = ["text,label"] + [f'"{w} {w} day",{"yes" if w.startswith("a") else "no"}'
                             for w in ["apple", "avocado", "apricot", "almond", "anise", "bean", "beet", "basil",
                                       "barley", "bran"] * 3]
    (tmp_path / "mine.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    m = _run("text_classify", tmp_path / "out", "--csv", str(tmp_path / "mine.csv"), "--level", "char",
             "--epochs", "15")
    assert m["classes"] == ["no", "yes"] and m["level"] == "char"
    assert m["final_loss"] < 0.5 * m["initial_loss"]


def test_a_csv_without_the_header_is_a_one_line_error_naming_the_file(tmp_path):
    bad = tmp_path / "reviews.csv"
    bad.write_text("sentence,sentiment\ngreat,positive\nawful,negative\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, "text_classify.py"), "--csv", str(bad),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert str(bad) in proc.stderr and "text,label" in proc.stderr
    assert not (tmp_path / "out").exists()                       # nothing written for a failed run


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("", "the file is empty"),
    ("text,label\nfine,positive\n,negative\n", "line 3: empty text"),
    ("text,label\ngood,positive\nnice,positive\n", "at least two labels"),
    ("label,text\npositive\n", "line 2: expected 2 columns"),
])
def test_bad_csv_files_are_reported_with_the_file_and_the_problem(tmp_path, capsys, content, message):
    path = tmp_path / "data.csv"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code = _example("text_classify").main(["--quick", "--csv", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("text_classify.py: error: ") and str(path) in err and message in err, err


def test_an_unknown_backend_is_a_one_line_error(tmp_path, capsys):
    assert _example("adding_problem").main(["--quick", "--backend", "gpu9000", "--out", str(tmp_path)]) == 2
    assert "gpu9000" in capsys.readouterr().err


@pytest.mark.parametrize("name,option", [("digits_classify", "--epochs"), ("text_classify", "--epochs"),
                                         ("autoencoder_digits", "--epochs"), ("seq2seq_attention", "--epochs"),
                                         ("adding_problem", "--hidden")])
def test_a_zero_size_is_an_error_not_the_default(name, option, tmp_path, capsys):
    # `value or default` once turned --epochs 0 into the default number of epochs.
    assert _example(name).main(["--quick", option, "0", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{name}.py: error: ") and option in err, err


def test_without_scikit_learn_the_digits_examples_say_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)       # makes the import fail
    assert _example("digits_classify").main(["--quick", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "scikit-learn" in err and "pip install" in err
    assert not (tmp_path / "out").exists()


def test_shipped_reviews_are_what_the_generator_writes(tmp_path):
    sys.path.insert(0, os.path.join(EXAMPLES, "data"))
    try:
        import make_reviews
    finally:
        sys.path.remove(os.path.join(EXAMPLES, "data"))
    make_reviews.main(str(tmp_path / "reviews.csv"))
    with open(os.path.join(EXAMPLES, "data", "reviews.csv"), "rb") as f:
        assert (tmp_path / "reviews.csv").read_bytes() == f.read()


def test_seq2seq_dates_learns_with_attention(tmp_path):
    m = _run("seq2seq_attention", tmp_path)
    att, none = m["results"]["additive"], m["results"]["none"]
    for r in (att, none):
        assert r["final_loss"] < 0.5 * r["initial_loss"]
    # A decoder that ignored its input could still write "19", "20" and the dashes (~40% of the
    # characters) but almost never a whole date: exact matches prove it reads the source.
    assert att["exact_match"] > 0.1
    assert att["token_accuracy"] > 0.6
    assert 0 <= att["beam_exact_match"] <= 1 and att["beam_examples"] == 50
    for png in ("attention.png", "length_accuracy.png"):
        _png(tmp_path / png)


def test_seq2seq_reversal_with_dot_attention_learns(tmp_path):
    m = _run("seq2seq_attention", tmp_path, "--task", "reverse", "--attention", "dot")
    att = m["results"]["dot"]
    assert att["final_loss"] < 0.7 * att["initial_loss"]
    assert att["token_accuracy"] > 2 * m["chance_token_accuracy"]


@needs_sklearn
def test_autoencoder_reconstructs_and_its_codes_separate_the_digits(tmp_path):
    m = _run("autoencoder_digits", tmp_path)
    r = m["results"]
    assert r["final_loss"] < 0.3 * r["initial_loss"]
    assert r["reconstruction_mse"] < 0.7 * r["mean_image_mse"]    # better than drawing the average digit
    assert r["reconstruction_accuracy"] > 0.8
    assert r["knn_code_accuracy"] > 0.5                           # chance: 0.1; labels never used in training
    _png(tmp_path / "codes.png")


def test_adding_problem_lstm_and_gru_beat_the_baseline_and_gradient_norms_are_recorded(tmp_path):
    m = _run("adding_problem", tmp_path)
    baseline = m["baseline_mse"]
    assert baseline == pytest.approx(1 / 6)
    for cell in ("lstm", "gru"):
        r = m["results"][f"{cell}_T20"]
        assert r["test_mse"] < 0.5 * baseline, cell
        assert r["test_mse"] < 0.1 * r["initial_mse"], cell
    rnn = m["results"]["rnn_T20"]
    assert len(rnn["grad_norms"]) == 20 and np.all(np.isfinite(rnn["grad_norms"]))
    _png(tmp_path / "adding.png")


@needs_sklearn
def test_examples_write_only_into_their_out_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _example("autoencoder_digits").main(["--quick", "--epochs", "1", "--out", "here/run"]) == 0
    assert sorted(os.listdir(tmp_path)) == ["here"]
    assert sorted(os.listdir(tmp_path / "here" / "run")) == ["codes.png", "metrics.json"]
