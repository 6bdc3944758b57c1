"""Hostile checkpoints: edited headers, lying sizes, junk members, flipped bytes, truncations.

Whatever the file holds, loading it (as `pyrnn sample` and `--resume` do) either
gives a usable model or raises CheckpointError, within bounded memory and time:
the header is checked before anything is sized from it, and no member is read
that the header does not imply.
"""
import functools
import io
import json
import os
import shutil
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyrnn import cli as pyrnn_cli
from pyrnn.backends.base import BackendUnavailableError
from pyrnn.errors import InputError
from pyrnn.train.data import CorpusError
from pyrnn.train import TrainConfig, Trainer, checkpoint
from pyrnn.train.checkpoint import CheckpointError, load_language_model

MEMORY_BOUND = 64 * 2**20      # bytes a hostile load may allocate (the real model is ~20 KB)
# What `pyrnn train --resume` reports in one line (pyrnn.cli.main): any of these is a clean refusal.
ONE_LINE_ERRORS = (CheckpointError, CorpusError, InputError, BackendUnavailableError)


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    """A real checkpoint of a tiny run (LSTM, Adam, carried state)."""
    folder = tmp_path_factory.mktemp("ckpt")
    corpus = folder / "corpus.txt"
    rng = np.random.default_rng(0)
    corpus.write_text(" ".join(rng.choice(["the", "cat", "sat", "on", "mat"], size=1500)) + "\n")
    out = str(folder / "run")
    os.makedirs(out)
    Trainer(TrainConfig(corpus=[str(corpus)], hidden=8, layers=1, embed=4, seq_len=8, batch=3, steps=4,
                        eval_every=0), out).run()
    return out


def _copy(good_run, tmp_path):
    out = str(tmp_path / "copy")
    shutil.copytree(good_run, out)
    return out


def _members(path):
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def _write(path, members, extra=()):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
        for name, data, compress in extra:
            z.writestr(zipfile.ZipInfo(name), data, compress_type=compress)


def _edit_meta(folder, edit):
    path = os.path.join(folder, checkpoint.FILENAME)
    members = _members(path)
    meta = json.loads(str(np.load(io.BytesIO(members["meta.npy"]))[()]))
    edit(meta)
    buf = io.BytesIO()
    np.save(buf, np.array(json.dumps(meta)))
    members["meta.npy"] = buf.getvalue()
    _write(path, members)


def _load_bounded(folder):
    """Load as `pyrnn sample` does; returns the peak of traced allocations (NumPy's included)."""
    tracemalloc.start()
    try:
        load_language_model(folder, backend="numpy")
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_the_good_checkpoint_loads(good_run):
    model, vocab, meta = load_language_model(good_run, backend="numpy")
    assert meta["step"] == 4 and len(vocab) > 5


@pytest.mark.parametrize("field,value", [("hidden", 20000), ("layers", 100000), ("embed", 10**7)])
def test_a_header_claiming_huge_sizes_fails_before_allocating(good_run, tmp_path, field, value):
    folder = _copy(good_run, tmp_path)
    _edit_meta(folder, lambda m: m["config"].__setitem__(field, value))
    with pytest.raises(CheckpointError, match="the file holds only"):
        assert _load_bounded(folder) < MEMORY_BOUND
    tracemalloc.start()
    with pytest.raises(CheckpointError):
        load_language_model(folder)
    assert tracemalloc.get_traced_memory()[1] < MEMORY_BOUND
    tracemalloc.stop()


@pytest.mark.parametrize("path,value,words", [
    (("step",), "12", "'step' must be an integer"),
    (("config", "batch"), 0, "'batch' must be an integer >= 1"),
    (("config", "optimizer"), "bogus", "'optimizer' must be one of"),
    (("config", "lr"), "fast", "'lr' must be a number"),
    (("config", "cell"), None, "'cell' must be one of"),
    (("config", "hidden"), True, "'hidden' must be an integer"),
    (("config", "surprise"), 1, "does not know: surprise"),
    (("vocab", "tokens"), [1, 2, 3], "non-empty list of non-empty strings"),
    (("vocab", "tokens"), ["a", "a"], "duplicates"),
    (("vocab", "level"), "bytes", "'level'"),
    (("history",), {"train": "x", "val": []}, "history.train"),
    (("rng_state",), {"bit_generator": "PCG64"}, "rng_state"),
    (("elapsed",), -1, "'elapsed'"),
    (("corpus_sha256",), 5, "corpus_sha256"),
    (("version",), 99, "checkpoint version 99"),
])
def test_edited_fields_of_the_wrong_type_or_range_raise_checkpoint_error(good_run, tmp_path, path, value, words):
    folder = _copy(good_run, tmp_path)

    def edit(meta):
        target = meta
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    _edit_meta(folder, edit)
    with pytest.raises(CheckpointError, match=words):
        load_language_model(folder)
    with pytest.raises(CheckpointError):
        Trainer.resume(folder)


def test_a_huge_junk_member_is_never_decompressed(good_run, tmp_path):
    folder = _copy(good_run, tmp_path)
    path = os.path.join(folder, checkpoint.FILENAME)
    # 512 MB of zeros deflate to ~0.5 MB: a zip bomb next to the real members.
    bomb = zipfile.ZipInfo("junk/bomb.npy")
    bomb.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "a") as z, z.open(bomb, "w", force_zip64=True) as f:
        chunk = bytes(2**20)
        for _ in range(512):
            f.write(chunk)
    assert os.path.getsize(path) < 8 * 2**20
    assert _load_bounded(folder) < MEMORY_BOUND          # loads fine, the junk untouched


def test_an_expected_member_declaring_a_huge_size_is_refused_unread(good_run, tmp_path):
    folder = _copy(good_run, tmp_path)
    path = os.path.join(folder, checkpoint.FILENAME)
    members = _members(path)
    del members["model/head.bias.npy"]
    bomb = io.BytesIO()
    np.save(bomb, np.zeros(1))
    _write(path, members, extra=[("model/head.bias.npy", bomb.getvalue() + bytes(300 * 2**20),
                                  zipfile.ZIP_DEFLATED)])
    tracemalloc.start()
    with pytest.raises(CheckpointError, match="declares"):
        load_language_model(folder)
    assert tracemalloc.get_traced_memory()[1] < MEMORY_BOUND
    tracemalloc.stop()


def test_a_member_of_the_wrong_shape_or_a_missing_one_is_named(good_run, tmp_path):
    folder = _copy(good_run, tmp_path)
    path = os.path.join(folder, checkpoint.FILENAME)
    members = _members(path)
    buf = io.BytesIO()
    np.save(buf, np.zeros((3, 3), dtype=np.float32))
    members["model/head.bias.npy"] = buf.getvalue()
    _write(path, members)
    with pytest.raises(CheckpointError, match="head.bias.*shape"):
        load_language_model(folder)
    del members["model/head.bias.npy"]
    _write(path, members)
    with pytest.raises(CheckpointError, match="'model/head.bias' is missing"):
        load_language_model(folder)


def test_pyrnn_sample_reports_a_hostile_checkpoint_in_one_line(good_run, tmp_path, capsys):
    folder = _copy(good_run, tmp_path)
    _edit_meta(folder, lambda m: m["config"].__setitem__("hidden", 20000))
    assert pyrnn_cli.main(["sample", folder]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "hidden" not in err.split(":")[0] and "the file holds only" in err


# -- property: random damage only ever raises CheckpointError ------------------------------------------
@functools.lru_cache(maxsize=None)
def _file_bytes(folder):
    with open(os.path.join(folder, checkpoint.FILENAME), "rb") as f:
        return f.read()


def _damage(data, action, position, value, length):
    if not data:
        return data
    position %= len(data)
    if action == "flip":
        return data[:position] + bytes([data[position] ^ (value or 1)]) + data[position + 1:]
    if action == "truncate":
        return data[:position]
    if action == "insert":
        return data[:position] + bytes([value]) * length + data[position:]
    return data[:position] + data[position + length:]          # delete


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damage=st.lists(st.tuples(st.sampled_from(["flip", "truncate", "insert", "delete"]),
                                 st.integers(0, 2**31), st.integers(0, 255), st.integers(1, 64)),
                       min_size=1, max_size=4))
def test_random_byte_damage_only_ever_raises_checkpoint_error(good_run, tmp_path_factory, damage):
    folder = tmp_path_factory.mktemp("fuzz")
    data = _file_bytes(good_run)
    for d in damage:
        data = _damage(data, *d)
    with open(folder / checkpoint.FILENAME, "wb") as f:
        f.write(data)
    try:
        peak = _load_bounded(str(folder))
    except CheckpointError:
        return
    assert peak < MEMORY_BOUND          # a flip inside array data may still load: values are just numbers


_JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True)
                            | st.text(max_size=5), lambda inner: st.lists(inner, max_size=3)
                            | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.sampled_from(["config", "vocab", "step", "chunk_index", "tokens_seen", "elapsed",
                                                 "history", "rng_state", "corpus_sha256", "format", "version"]),
                                st.sampled_from(["embed", "hidden", "layers", "cell", "batch", "optimizer", "lr",
                                                 "tokens", "level", None]), _JSON_VALUES),
                      min_size=1, max_size=3))
def test_edited_json_fields_only_ever_raise_checkpoint_error(good_run, tmp_path_factory, edits):
    folder = str(tmp_path_factory.mktemp("edit") / "run")
    shutil.copytree(good_run, folder)

    def edit(meta):
        for field, key, value in edits:
            if key is not None and isinstance(meta.get(field), dict):
                meta[field][key] = value
            else:
                meta[field] = value

    _edit_meta(folder, edit)
    try:
        peak = _load_bounded(folder)
    except CheckpointError:
        pass
    else:
        assert peak < MEMORY_BOUND
    try:                      # --resume reads more of the header (progress, RNG state, the corpus)
        Trainer.resume(folder)
    except ONE_LINE_ERRORS:
        pass


@settings(max_examples=40, deadline=3000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.from_regex(r"[A-Za-z0-9_./ -]{1,20}", fullmatch=True).filter(lambda n: n.strip("/. ")),
       size=st.integers(0, 4096))
def test_inserted_members_are_ignored(good_run, tmp_path_factory, name, size):
    folder = str(tmp_path_factory.mktemp("insert") / "run")
    shutil.copytree(good_run, folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # zipfile warns about a duplicate name: that is the point
        with zipfile.ZipFile(os.path.join(folder, checkpoint.FILENAME), "a") as z:
            z.writestr(name, bytes(size))
    try:
        load_language_model(folder, backend="numpy")
    except CheckpointError as exc:      # only when the name collides with a real member (a duplicate)
        assert "model/" in name or "optim/" in name or "carry/" in name or "meta" in name, exc


def _replace_member(folder, name, array):
    path = os.path.join(folder, checkpoint.FILENAME)
    members = _members(path)
    buf = io.BytesIO()
    np.save(buf, array)
    members[name + ".npy"] = buf.getvalue()
    _write(path, members)


@pytest.mark.parametrize("member,value,words", [
    ("optim/step", np.array(-1, dtype=np.int64), "step count must be >= 0"),
    ("optim/step", np.array(1.5), "optim/step"),
    ("optim/head.bias/exp_avg_sq", -np.ones(11, dtype=np.float32), "negative or NaN"),
    ("optim/head.bias/exp_avg_sq", np.full(11, np.nan, dtype=np.float32), "negative or NaN"),
])
def test_optimizer_values_that_would_break_the_update_are_refused(good_run, tmp_path, member, value, words):
    folder = _copy(good_run, tmp_path)
    _replace_member(folder, member, value)
    with pytest.raises(CheckpointError, match=words):
        Trainer.resume(folder)


def test_a_header_without_a_newer_config_field_loads_with_its_default(good_run, tmp_path):
    folder = _copy(good_run, tmp_path)
    _edit_meta(folder, lambda m: m["config"].pop("save_every"))      # as a checkpoint of the last release
    assert Trainer.resume(folder).config.save_every == 0


def test_a_vocabulary_of_another_level_than_the_config_is_refused(good_run, tmp_path):
    folder = _copy(good_run, tmp_path)
    _edit_meta(folder, lambda m: m["config"].__setitem__("level", "word"))
    with pytest.raises(CheckpointError, match="char-level"):
        load_language_model(folder)
