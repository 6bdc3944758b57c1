"""`pyrnn train` / `pyrnn sample`: learning, checkpoints, resume, Ctrl-C, and one-line errors."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from pyrnn.train import TrainConfig, Trainer, checkpoint
from pyrnn.train.data import DEFAULT_CORPUS_BYTES, default_corpus_files

TINY = ["--hidden", "16", "--layers", "1", "--embed", "8", "--seq-len", "16", "--batch", "4"]


@pytest.fixture()
def corpus(tmp_path):
    rng = np.random.default_rng(0)
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far"]
    text = " ".join(rng.choice(words, size=3000)) + "\n"
    path = tmp_path / "corpus.txt"
    path.write_text(text)
    return str(path)


def cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "pyrnn", *args], capture_output=True, text=True, timeout=timeout)


def _config(corpus, steps, **kw):
    return TrainConfig(corpus=[corpus], hidden=16, layers=1, embed=8, seq_len=16, batch=4, steps=steps,
                       eval_every=0, **kw)


def test_train_learns_and_writes_checkpoint_history_and_curve(corpus, tmp_path):
    out = str(tmp_path / "run")
    result = cli("train", corpus, "--out", out, *TINY, "--steps", "150", "--eval-every", "50")
    assert result.returncode == 0, result.stderr
    assert "done: 150 steps" in result.stdout
    umask = os.umask(0)
    os.umask(umask)
    for name in ("checkpoint.npz", "history.json", "loss_curve.png"):
        assert os.path.getsize(os.path.join(out, name)) > 0
        assert os.stat(os.path.join(out, name)).st_mode & 0o777 == 0o666 & ~umask    # not mkstemp's 0600
    meta = checkpoint.load(out)[0]
    vals = [v for _, v in meta["history"]["val"]]
    assert len(vals) == 3 and vals[-1] < vals[0] - 0.5        # it learns, not just runs
    assert vals[-1] < np.log2(11)                              # better than uniform over the vocabulary
    sampled = cli("sample", out, "--length", "40", "--prime", "the ", "--seed", "1", "--temperature", "0.5")
    assert sampled.returncode == 0 and sampled.stdout.startswith("the ") and len(sampled.stdout) > 40
    again = cli("sample", out, "--length", "40", "--prime", "the ", "--seed", "1", "--temperature", "0.5")
    assert again.stdout == sampled.stdout


def test_resumed_run_ends_with_the_same_parameters_as_an_uninterrupted_one(corpus, tmp_path):
    straight = Trainer(_config(corpus, 40), str(tmp_path / "a"))
    os.makedirs(tmp_path / "a")
    straight.run()
    first = Trainer(_config(corpus, 15), str(tmp_path / "b"))
    os.makedirs(tmp_path / "b")
    first.run()
    resumed = Trainer.resume(str(tmp_path / "b"), steps=40)
    assert resumed.step == 15
    resumed.run()
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    for name in a:
        np.testing.assert_allclose(b[name], a[name], rtol=1e-5, atol=1e-6, err_msg=name)
    assert straight.optimizer.step_count == resumed.optimizer.step_count == 40


def test_ctrl_c_saves_a_checkpoint_that_resumes_exactly(corpus, tmp_path):
    out = str(tmp_path / "run")
    proc = subprocess.Popen([sys.executable, "-m", "pyrnn", "train", corpus, "--out", out, *TINY,
                             "--steps", "1000000", "--eval-every", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.readline()                                    # the header: training has started
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted at step" in err and "Traceback" not in err
    step = checkpoint.load(out)[0]["step"]
    assert step > 0
    result = cli("train", "--resume", out, "--steps", str(step + 7))
    assert result.returncode == 0, result.stderr
    straight = Trainer(_config(corpus, step + 7), str(tmp_path / "straight"))
    os.makedirs(tmp_path / "straight")
    straight.run()
    resumed = checkpoint.load(out)[1]
    for name, value in straight.model.state_dict().items():
        np.testing.assert_allclose(resumed[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


def _one_line_error(result, *fragments):
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    for fragment in fragments:
        assert fragment in last, last


def test_bad_corpora_are_one_line_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    binary = tmp_path / "data.bin"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9".encode("latin-1"))
    out = str(tmp_path / "never")
    _one_line_error(cli("train", str(tmp_path / "missing.txt"), "--out", out, "--steps", "1"), "does not exist")
    _one_line_error(cli("train", str(empty), "--out", out, "--steps", "1"), "empty")
    _one_line_error(cli("train", str(binary), "--out", out, "--steps", "1"), "binary")
    _one_line_error(cli("train", str(latin), "--out", out, "--steps", "1"), "not UTF-8")
    assert not os.path.exists(out)                            # a failing command creates nothing


def test_bad_options_are_usage_errors(corpus, tmp_path):
    out = str(tmp_path / "never")
    for args, fragment in ((["--hidden", "0"], "--hidden"), (["--lr", "-1"], "--lr"), (["--cell", "tree"], "--cell"),
                           (["--steps", "x"], "--steps"), (["--minutes", "nan"], "--minutes")):
        result = cli("train", corpus, "--out", out, *args)
        assert result.returncode == 2 and fragment in result.stderr and "Traceback" not in result.stderr
    _one_line_error(cli("train", corpus, "--steps", "1"), "--out DIR")
    _one_line_error(cli("train", corpus, "--out", out, "--backend", "nope", "--steps", "1"), "unknown backend")


def test_a_good_checkpoint_is_never_overwritten_by_a_failing_command(corpus, tmp_path):
    out = str(tmp_path / "run")
    assert cli("train", corpus, "--out", out, *TINY, "--steps", "5").returncode == 0
    path = os.path.join(out, "checkpoint.npz")
    before = open(path, "rb").read()
    _one_line_error(cli("train", corpus, "--out", out, *TINY, "--steps", "5"), "already holds a checkpoint")
    _one_line_error(cli("train", "--resume", out, "--hidden", "32"), "only --steps and --minutes")
    _one_line_error(cli("sample", out, "--prime", "QZ"), "not in the vocabulary")
    assert open(path, "rb").read() == before


def test_corrupted_and_foreign_checkpoints_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "checkpoint.npz").write_bytes(b"not a zip file at all")
    _one_line_error(cli("sample", str(bad)), "not a readable pyrnn checkpoint")
    _one_line_error(cli("train", "--resume", str(bad)), "not a readable pyrnn checkpoint")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    np.savez(foreign / "checkpoint.npz", meta=np.array('{"format": "something-else"}'))
    _one_line_error(cli("sample", str(foreign)), "not a pyrnn checkpoint")
    _one_line_error(cli("sample", str(tmp_path / "nothing")), "does not exist")


def test_word_level_training_runs_and_learns(corpus, tmp_path):
    config = _config(corpus, 80, level="word", max_words=8)
    trainer = Trainer(config, str(tmp_path / "w"))
    os.makedirs(tmp_path / "w")
    assert trainer.vocab.tokens[0] == "<unk>" and len(trainer.vocab) == 9
    before = trainer.validate()
    trainer.run()
    assert trainer.history["val"][-1][1] < before - 0.5


def test_default_corpus_is_the_sorted_standard_library():
    files = default_corpus_files()
    assert files == sorted(files) and all(f.endswith(".py") for f in files)
    size = sum(os.path.getsize(f) for f in files)
    stdlib = os.path.dirname(files[0])
    every_py = sorted(n for n in os.listdir(stdlib) if n.endswith(".py") and os.path.isfile(os.path.join(stdlib, n)))
    # files are added until ~4.5 MB (the last one tips it over), or the whole folder when it is smaller
    assert size >= DEFAULT_CORPUS_BYTES or len(files) == len(every_py)
    assert size - os.path.getsize(files[-1]) < DEFAULT_CORPUS_BYTES
