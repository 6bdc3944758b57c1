"""Faults around `pyrnn train` / `pyrnn sample`: signals, kills, concurrent runs, odd files, full disks.

Each test injects one fault that a user meets (SIGTERM, a closed terminal,
kill -9, a second run on the same folder, a FIFO in the corpus, a full disk,
absurd sizes, ...) and asserts the outcome: a clean one-line error or the
right behaviour, no traceback, no hang, nothing lost.
"""
import errno
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from pyrnn import cli as pyrnn_cli
from pyrnn.train import TrainConfig, Trainer, checkpoint
from pyrnn.train import trainer as trainer_module
from pyrnn.train.data import CorpusError, load_corpus
from pyrnn.train.runfolder import RunFolderError, RunLock

TINY = ["--hidden", "16", "--layers", "1", "--embed", "8", "--seq-len", "16", "--batch", "4"]


@pytest.fixture()
def corpus(tmp_path):
    rng = np.random.default_rng(0)
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far"]
    path = tmp_path / "corpus.txt"
    path.write_text(" ".join(rng.choice(words, size=3000)) + "\n")
    return str(path)


def _config(corpus, steps, **kw):
    return TrainConfig(corpus=[corpus], hidden=16, layers=1, embed=8, seq_len=16, batch=4, steps=steps,
                       eval_every=0, **kw)


def _cli(*args, timeout=120, **kw):
    return subprocess.run([sys.executable, "-m", "pyrnn", *args], capture_output=True, text=True, timeout=timeout,
                          **kw)


def _one_line_error(result, *words):
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("pyrnn "), result.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def _default_signals():
    """In the child: SIGHUP and SIGTERM at their defaults, whatever the test runner inherited.

    Under `nohup` (or any parent that ignores SIGHUP) the child inherits SIG_IGN, and the
    trainer rightly keeps an ignored signal ignored: the SIGHUP test would then wait forever.
    """
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _start_training(corpus, out, *extra):
    proc = subprocess.Popen([sys.executable, "-m", "pyrnn", "train", corpus, "--out", out, *TINY,
                             "--steps", "1000000", "--eval-every", "0", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_signals)
    proc.stdout.readline()                     # the header line: training has started
    return proc


def _wait_for_checkpoint(out, proc, timeout=60):
    deadline = time.time() + timeout
    while not checkpoint.exists(out):
        assert proc.poll() is None and time.time() < deadline, "no periodic checkpoint appeared"
        time.sleep(0.1)


# -- 1. training never loses the work --------------------------------------------------------------
def test_checkpoints_are_written_every_save_every_steps(corpus, tmp_path, monkeypatch):
    saved_at = []
    real_save = checkpoint.save
    monkeypatch.setattr(checkpoint, "save", lambda folder, meta, *a: (saved_at.append(meta["step"]),
                                                                      real_save(folder, meta, *a)))
    os.makedirs(tmp_path / "run")
    Trainer(_config(corpus, 7, save_every=3), str(tmp_path / "run")).run()
    assert saved_at == [3, 6, 7]


def test_without_save_every_a_checkpoint_is_written_every_few_minutes_of_training(corpus, tmp_path, monkeypatch):
    saved_at = []
    real_save = checkpoint.save
    monkeypatch.setattr(checkpoint, "save", lambda folder, meta, *a: (saved_at.append(meta["step"]),
                                                                      real_save(folder, meta, *a)))
    monkeypatch.setattr(trainer_module, "SAVE_EVERY_SECONDS", 0.0)       # "a few minutes", shrunk to 0
    os.makedirs(tmp_path / "run")
    Trainer(_config(corpus, 4), str(tmp_path / "run")).run()
    assert saved_at[:4] == [1, 2, 3, 4]
    assert trainer_module.SAVE_EVERY_SECONDS == 0.0 and TrainConfig().save_every == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_finish_the_step_save_and_exit_128_plus_signal(corpus, tmp_path, sig):
    out = str(tmp_path / "run")
    proc = _start_training(corpus, out)
    time.sleep(1.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err and f"({signal.Signals(sig).name})" in err
    meta = checkpoint.load(out)[0]
    assert meta["step"] > 0
    resumed = _cli("train", "--resume", out, "--steps", str(meta["step"] + 5))
    assert resumed.returncode == 0, resumed.stderr
    assert checkpoint.load(out)[0]["step"] == meta["step"] + 5


def test_kill_9_loses_at_most_the_steps_since_the_last_periodic_save_and_leaves_no_lock(corpus, tmp_path):
    out = str(tmp_path / "run")
    proc = _start_training(corpus, out, "--save-every", "20")
    _wait_for_checkpoint(out, proc)
    proc.kill()
    proc.communicate(timeout=30)
    step = checkpoint.load(out)[0]["step"]
    assert step >= 20 and step % 20 == 0
    sampled = _cli("sample", out, "--length", "20", "--seed", "0")
    assert sampled.returncode == 0, sampled.stderr
    resumed = _cli("train", "--resume", out, "--steps", str(step + 3))    # the dead run's lock is gone
    assert resumed.returncode == 0, resumed.stderr


def test_an_exception_in_training_saves_the_last_complete_step(corpus, tmp_path, monkeypatch):
    out = str(tmp_path / "run")
    os.makedirs(out)
    trainer = Trainer(_config(corpus, 50, save_every=1000), out)
    real_step = trainer._train_step

    def failing_step():
        if trainer.step == 6:
            raise MemoryError("simulated")
        return real_step()

    monkeypatch.setattr(trainer, "_train_step", failing_step)
    with pytest.raises(MemoryError):
        trainer.run()
    assert checkpoint.load(out)[0]["step"] == 6


def test_a_run_that_fails_before_its_first_step_leaves_no_checkpoint(corpus, tmp_path, monkeypatch):
    out = str(tmp_path / "run")
    os.makedirs(out)
    trainer = Trainer(_config(corpus, 5), out)

    def out_of_memory():
        raise MemoryError("simulated")

    monkeypatch.setattr(trainer, "_train_step", out_of_memory)
    with pytest.raises(MemoryError):
        trainer.run()
    assert not checkpoint.exists(out)        # so the same --out can be used again with smaller sizes


def test_under_nohup_a_closed_terminal_does_not_stop_the_run(corpus, tmp_path):
    out = str(tmp_path / "run")
    proc = subprocess.Popen([sys.executable, "-m", "pyrnn", "train", corpus, "--out", out, *TINY,
                             "--steps", "1000000", "--eval-every", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))   # what nohup does
    proc.stdout.readline()
    proc.send_signal(signal.SIGHUP)
    time.sleep(1.0)
    assert proc.poll() is None, "an ignored SIGHUP stopped the run"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err


# -- 2. Ctrl-C during the final validation and during the save ------------------------------------
def test_ctrl_c_during_the_final_validation_still_saves(corpus, tmp_path, monkeypatch):
    out = str(tmp_path / "run")
    os.makedirs(out)
    trainer = Trainer(_config(corpus, 5), out)
    real_validate = trainer.validate

    def validate_interrupted(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)           # the user presses Ctrl-C while it validates
        return real_validate(*args, **kwargs)

    monkeypatch.setattr(trainer, "validate", validate_interrupted)
    assert trainer.run() == "interrupted" and trainer.stop_signal == signal.SIGINT
    assert checkpoint.load(out)[0]["step"] == 5


def test_a_second_ctrl_c_during_the_save_neither_loses_nor_corrupts_it(corpus, tmp_path, monkeypatch):
    out = str(tmp_path / "run")
    os.makedirs(out)
    trainer = Trainer(_config(corpus, 3), out)
    trainer.run()                                    # a good checkpoint at step 3
    trainer.config.steps = 6
    real_save = checkpoint.save

    def save_interrupted(*args):
        os.kill(os.getpid(), signal.SIGINT)          # Ctrl-C in the middle of writing
        os.kill(os.getpid(), signal.SIGINT)
        return real_save(*args)

    monkeypatch.setattr(checkpoint, "save", save_interrupted)
    trainer.run()
    assert checkpoint.load(out)[0]["step"] == 6


# -- 3. one run per folder ---------------------------------------------------------------------------
def test_a_second_run_on_a_locked_folder_is_refused_in_one_line(corpus, tmp_path, capsys):
    out = str(tmp_path / "run")
    assert pyrnn_cli.main(["train", corpus, "--out", out, *TINY, "--steps", "3", "--eval-every", "0"]) == 0
    with RunLock(out):                                # another process's run, as far as the folder knows
        assert pyrnn_cli.main(["train", "--resume", out, "--steps", "6"]) == 2
        assert "in use by another pyrnn train" in capsys.readouterr().err
        with pytest.raises(RunFolderError, match="in use"):
            RunLock(out)
    assert checkpoint.load(out)[0]["step"] == 3       # untouched
    assert pyrnn_cli.main(["train", "--resume", out, "--steps", "6"]) == 0    # free again


def test_two_resumes_at_once_one_trains_the_other_refuses(corpus, tmp_path):
    out = str(tmp_path / "run")
    assert _cli("train", corpus, "--out", out, *TINY, "--steps", "3", "--eval-every", "0").returncode == 0
    first = subprocess.Popen([sys.executable, "-m", "pyrnn", "train", "--resume", out, "--steps", "1000000"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first.stdout.readline()
    second = _cli("train", "--resume", out, "--steps", "20")
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=60)
    _one_line_error(second, "in use by another pyrnn train", "pid")
    assert checkpoint.load(out)[0]["step"] > 3


def test_resuming_a_folder_without_a_checkpoint_leaves_nothing_there(tmp_path):
    folder = tmp_path / "not-a-run"
    folder.mkdir()
    _one_line_error(_cli("train", "--resume", str(folder)), "holds no pyrnn checkpoint")
    assert list(folder.iterdir()) == []                # no .lock left behind


# -- 4. everything checkable is checked before step 1 -------------------------------------------------
def test_a_corpus_too_short_for_a_batch_and_the_split_fails_before_training(tmp_path):
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("abcdefghij" * 3)
    out = tmp_path / "run"
    line = _one_line_error(_cli("train", str(tiny), "--out", str(out), *TINY, "--batch", "32", "--steps", "5"),
                           "30 chars", "batch 32")
    assert "at least" in line and not out.exists()


@pytest.mark.parametrize("make,words", [
    (lambda p: p.write_text("x"), "exists and is not a folder"),
    (lambda p: p.symlink_to(p.parent / "nowhere"), "broken symbolic link"),
    (lambda p: (p.parent / "file").write_text("x") or None, "is not a folder"),
])
def test_an_unusable_out_is_refused_in_one_line(corpus, tmp_path, make, words):
    target = tmp_path / "out"
    make(target)
    out = target if target.exists() or target.is_symlink() else tmp_path / "file" / "run"
    _one_line_error(_cli("train", corpus, "--out", str(out), *TINY, "--steps", "2"), words)


@pytest.mark.parametrize("option,value", [("--hidden", "100000000"), ("--seq-len", "1000000000"),
                                          ("--embed", "1000000000"), ("--batch", "300000")])
def test_absurd_sizes_are_refused_before_any_allocation(option, value, tmp_path, monkeypatch, capsys):
    # The default model on the default corpus (4.5 MB of stdlib sources, long enough that only the
    # memory estimate can stop these), one size absurd, on a machine said to have 16 GiB (so the
    # test means the same on a host with more).
    from pyrnn.train import config
    monkeypatch.setattr(config, "machine_memory_bytes", lambda: 16 * 2**30)
    assert pyrnn_cli.main(["train", "--out", str(tmp_path / "run"), option, value, "--steps", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "memory" in err and "16.0 GiB available" in err, err
    assert not (tmp_path / "run").exists()


def test_the_memory_check_respects_an_address_space_limit(tmp_path):
    import resource

    def limit():            # what `ulimit -v 3000000` does (about 3 GB)
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))

    result = subprocess.run([sys.executable, "-m", "pyrnn", "train", "--out", str(tmp_path / "run"),
                             "--hidden", "20000", "--steps", "2"], capture_output=True, text=True, timeout=120,
                            preexec_fn=limit)
    line = _one_line_error(result, "memory")
    assert "3.0 GiB available" in line


def test_an_out_that_cannot_be_created_is_one_line(corpus):
    # /proc takes no new folders, even from root (for whom permission bits do not count).
    _one_line_error(_cli("train", corpus, "--out", "/proc/pyrnn-test/run", *TINY, "--steps", "2"),
                    "cannot create the run folder")


# -- 5. a full disk ------------------------------------------------------------------------------------
def test_disk_full_at_save_is_one_line_naming_the_folder_and_keeps_the_previous_checkpoint(
        corpus, tmp_path, monkeypatch, capsys):
    out = str(tmp_path / "run")
    assert pyrnn_cli.main(["train", corpus, "--out", out, *TINY, "--steps", "3", "--eval-every", "0"]) == 0
    before = open(os.path.join(out, "checkpoint.npz"), "rb").read()
    real_fsync = os.fsync

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    capsys.readouterr()
    assert pyrnn_cli.main(["train", "--resume", out, "--steps", "6"]) == 2
    err = capsys.readouterr().err
    monkeypatch.setattr(os, "fsync", real_fsync)
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.startswith("pyrnn")]   # not the bar
    assert len(lines) == 1 and "Traceback" not in err, err
    assert out in lines[0] and "No space left on device" in lines[0] and "previous checkpoint" in lines[0]
    assert open(os.path.join(out, "checkpoint.npz"), "rb").read() == before
    assert not [n for n in os.listdir(out) if n.startswith(".tmp-")]         # no half-written leftovers


# -- 6. odd files in the corpus -------------------------------------------------------------------------
def test_fifo_dev_zero_and_broken_links_in_a_corpus_folder_are_skipped_and_mentioned(corpus, tmp_path):
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.txt").write_text(open(corpus).read())
    os.mkfifo(folder / "pipe")
    (folder / "zero").symlink_to("/dev/zero")
    (folder / "dangling").symlink_to(folder / "missing")
    skipped = []
    text, used = load_corpus([str(folder)], skipped=skipped)      # returns: no FIFO wait, no endless read
    assert used == [str(folder / "a.txt")] and len(text) > 1000
    reasons = dict(skipped)
    assert "FIFO" in reasons[str(folder / "pipe")]
    assert "character device" in reasons[str(folder / "zero")]
    assert "broken symbolic link" in reasons[str(folder / "dangling")]
    result = _cli("train", str(folder), "--out", str(tmp_path / "run"), *TINY, "--steps", "2", "--eval-every", "0",
                  timeout=60)
    assert result.returncode == 0, result.stderr
    assert "skipped 3 corpus entries" in result.stderr and "FIFO" in result.stderr


@pytest.mark.parametrize("kind", ["fifo", "dev_zero"])
def test_a_fifo_or_device_named_directly_is_refused_with_what_it_is(tmp_path, kind):
    if kind == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)
        words = "FIFO"
    else:
        path, words = "/dev/zero", "character device"
    with pytest.raises(CorpusError, match=words):
        load_corpus([str(path)])
    _one_line_error(_cli("train", str(path), "--out", str(tmp_path / "run"), *TINY, "--steps", "2", timeout=60),
                    words)


# -- 12. sampling --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("sample")
    corpus = folder / "corpus.txt"
    corpus.write_text(" ".join(rng.choice(["the", "cat", "sat", "on", "mat"], size=2000)) + "\n")
    out = str(folder / "run")
    assert _cli("train", str(corpus), "--out", out, *TINY, "--steps", "30", "--eval-every", "0").returncode == 0
    return out


def test_tiny_temperatures_act_as_greedy(trained):
    greedy = _cli("sample", trained, "--length", "60", "--temperature", "0", "--prime", "the ")
    for t in ("1e-310", "1e-30"):
        tiny = _cli("sample", trained, "--length", "60", "--temperature", t, "--prime", "the ", "--seed", "3")
        assert tiny.returncode == 0 and tiny.stdout == greedy.stdout, (t, tiny.stderr)


def test_sample_streams_its_output_and_ctrl_c_keeps_what_was_printed(trained):
    proc = subprocess.Popen([sys.executable, "-m", "pyrnn", "sample", trained, "--length", "100000000",
                             "--prime", "the "], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.read(40)              # arrives long before 10^8 tokens are generated
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=60)
    assert first.startswith(b"the ") and len(first) == 40
    assert proc.returncode == 130 and b"Traceback" not in err, err


def test_sample_with_an_unknown_backend_says_the_backend_is_unknown(trained):
    _one_line_error(_cli("sample", trained, "--backend", "bogus"), "unknown backend 'bogus'")
