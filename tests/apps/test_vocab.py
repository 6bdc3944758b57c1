"""The one vocabulary (pyrnn.vocab.Vocabulary) and the one model base, as every application uses them."""
import numpy as np
import pytest

from pyrnn.errors import DataError, StateDictError
from pyrnn.models.base import Model
from pyrnn.models.data import date_vocabularies
from pyrnn.models.scenes import caption_vocabulary
from pyrnn.train import SGD, LanguageModel, clip_grad_norm, collect_parameters
from pyrnn.vocab import Vocabulary


def test_language_model_levels():
    chars = Vocabulary.build("abca")
    assert chars.tokens == ["a", "b", "c"] and chars.specials == () and chars.unk_id is None
    assert chars.encode("cab").tolist() == [2, 0, 1] and chars.encode("cab").dtype == np.int32
    assert chars.unknown("abzy") == ["y", "z"]
    with pytest.raises(DataError, match="'z' is not in the vocabulary"):
        chars.encode("az")
    text = "the cat, the  dog\n"
    words = Vocabulary.build(text, level="word", max_words=3)
    assert words.tokens[0] == "<unk>" and words.unk_id == 0 and words.unknown("zebra") == []
    assert words.decode(words.encode(text)).count("<unk>") > 0
    full = Vocabulary.build(text, level="word")
    assert full.decode(full.encode(text)) == text          # words, whitespace runs and symbols join back


def test_checkpoint_json_of_earlier_versions_loads():
    # The language model's checkpoints hold {"level", "tokens"} only; word level reserves <unk>.
    old = {"level": "word", "tokens": ["<unk>", " ", "a", "b"]}
    vocab = Vocabulary.from_json(old)
    assert vocab.unk_id == 0 and vocab.encode("a c").tolist() == [2, 1, 0]
    assert vocab.to_json() == old
    seq = Vocabulary.of("xy")
    again = Vocabulary.from_json(seq.to_json())
    assert again.tokens == seq.tokens and again.specials == seq.specials == ("<pad>", "<s>", "</s>")


def test_sequence_vocabularies():
    src, tgt = date_vocabularies()
    assert (tgt.pad_id, tgt.bos_id, tgt.eos_id) == (0, 1, 2) and tgt.tokens[3:] == list("-0123456789")
    ids, lengths = tgt.batch(["2024-01-02", "1-2"], eos=True)
    assert ids.shape == (2, 11) and lengths.tolist() == [11, 4]
    assert ids[1, 3] == tgt.eos_id and (ids[1, 4:] == tgt.pad_id).all()
    assert tgt.decode(ids[1]) == "1-2"                      # padding and end left out
    with pytest.raises(DataError, match="'x' is not in the vocabulary"):
        src.encode("x")
    words = caption_vocabulary()
    ids, _ = words.batch(["a small red circle left of a large blue square"], eos=True)
    assert words.decode(ids[0]) == "a small red circle left of a large blue square"


def test_counted_tokens_and_errors():
    vocab = Vocabulary.counted([["a", "b", "a"], ["c", "a"]], min_count=2)
    assert vocab.tokens == ["<pad>", "<unk>", "a"] and vocab.encode(["a", "b"]).tolist() == [2, 1]
    with pytest.raises(DataError, match="reserves </s>"):
        vocab.encode(["a"], eos=True)
    with pytest.raises(DataError, match="distinct"):
        Vocabulary(["a", "a"])
    with pytest.raises(DataError, match="not among"):
        Vocabulary(["a"], specials=("<pad>",))
    with pytest.raises(ValueError, match="level must be"):
        Vocabulary(["a"], level="sentence")


def test_language_model_is_a_model():
    model = LanguageModel(7, embed=4, hidden=5, layers=1, cell="gru", backend="numpy", dtype=np.float64)
    assert isinstance(model, Model)
    names = [n for n, _ in model.named_parameters()]
    assert names == list(model.state_dict()) and names[0] == "embedding.weight"
    assert all(p is q for p, (_, q) in zip(model.parameters(), model.named_parameters()))
    assert model.num_parameters() == sum(p.size for p in model.parameters())
    ids = np.array([[1, 2], [3, 4], [5, 6]])
    model.zero_grad()
    model.loss_and_backward(ids, ids)
    before = model.state_dict()
    norm = clip_grad_norm(model, 1e-3)
    assert norm > 1e-3 and np.sqrt(sum((g ** 2).sum() for _, _, g in collect_parameters(model))) <= 1e-3 * 1.001
    SGD(model, lr=1.0).step()                                  # the optimizer takes the model itself
    assert all(not np.array_equal(before[n], p) for n, p in model.named_parameters() if n.startswith("rnn"))
    with pytest.raises(StateDictError, match="missing keys"):
        model.load_state_dict({k: v for k, v in before.items() if k != "head.bias"})
    model.load_state_dict(before)
    assert all(np.array_equal(before[n], p) for n, p in model.named_parameters())
