"""Tests of course_utils.text: tokeniser, vocabulary, padding, batching."""

import numpy as np
import pytest

from course_utils.text import (
    PAD,
    PAD_ID,
    UNK,
    UNK_ID,
    Vocab,
    batches,
    pad_sequences,
    to_time_major,
    tokenize,
)


@pytest.mark.parametrize("text, tokens", [
    ("Effective but too tepid biopic", ["effective", "but", "too", "tepid", "biopic"]),
    ("It doesn't work, can't.", ["it", "does", "n't", "work", ",", "ca", "n't", "."]),
    ("The film's a ''Conan'' ...", ["the", "film", "'s", "a", '"', "conan", '"', "..."]),
    ("you'll, I'm, we've, they're, he'd", ["you", "'ll", ",", "i", "'m", ",", "we", "'ve", ",",
                                          "they", "'re", ",", "he", "'d"]),
    ("the 'are we sick?' journalism", ["the", "'", "are", "we", "sick", "?", "'", "journalism"]),
    ("J.R.R. Tolkien ; 1,000 $9.50 21st well-made",
     ["j.r.r.", "tolkien", ";", "1,000", "$", "9.50", "21st", "well-made"]),
    ("we\u2019ve `em ``hi''", ["we", "'ve", "'", "em", '"', "hi", '"']),
    ("Wait.... Ok..", ["wait", "...", "ok", "..."]),
    ("Café – über", ["café", "–", "über"]),
    ("", []),
])
def test_tokenize(text, tokens):
    assert tokenize(text) == tokens


def test_vocab_order_min_freq_and_max_size():
    docs = [["b", "a", "c"], ["a", "b", "d"], ["a"]]
    vocab = Vocab.build(docs)
    # a:3 first, then b:2, then the ties c:1, d:1 alphabetically.
    assert vocab.itos == [PAD, UNK, "a", "b", "c", "d"]
    assert Vocab.build(docs, min_freq=2).itos == [PAD, UNK, "a", "b"]
    assert Vocab.build(docs, max_size=3).itos == [PAD, UNK, "a"]
    assert len(vocab) == 6 and "a" in vocab and "z" not in vocab
    assert vocab.stoi[PAD] == PAD_ID and vocab.stoi[UNK] == UNK_ID


def test_vocab_encode_decode():
    vocab = Vocab.build([["x", "y", "y"]])
    assert vocab.encode(["y", "x", "zzz"]) == [2, 3, UNK_ID]
    assert vocab.decode([2, 3, 1, 0, 0]) == ["y", "x", UNK]
    assert vocab.decode(np.array([2, 0]), skip_pad=False) == ["y", PAD]


def test_vocab_ignores_specials_in_data_and_validates_itos():
    assert Vocab.build([[PAD, UNK, "a"]]).itos == [PAD, UNK, "a"]
    with pytest.raises(ValueError):
        Vocab(["a", PAD, UNK])
    with pytest.raises(ValueError):
        Vocab([PAD, UNK, "a", "a"])


def test_character_vocab():
    vocab = Vocab.build(["Horvat", "Horák"])
    assert vocab.itos[2:5] == ["H", "o", "r"]  # 2 each, ties alphabetical
    assert "á" in vocab and vocab.decode(vocab.encode("Horák")) == list("Horák")


def test_pad_sequences_post_pre_and_truncation():
    seqs = [[5, 6, 7], [8], []]
    ids, lengths = pad_sequences(seqs)
    np.testing.assert_array_equal(ids, [[5, 6, 7], [8, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(lengths, [3, 1, 0])
    assert ids.dtype == lengths.dtype == np.int64
    ids, lengths = pad_sequences(seqs, max_len=2, pad_id=9, padding="pre")
    np.testing.assert_array_equal(ids, [[5, 6], [9, 8], [9, 9]])
    np.testing.assert_array_equal(lengths, [2, 1, 0])
    ids, lengths = pad_sequences([np.array([1, 2])], max_len=4)
    np.testing.assert_array_equal(ids, [[1, 2, 0, 0]])
    assert pad_sequences([[], []])[0].shape == (2, 0)


def test_batches_cover_rows_aligned_and_deterministic():
    x = np.arange(10) * 10
    y = np.arange(10)
    names = [f"n{i}" for i in range(10)]
    out = list(batches(x, y, names, batch_size=4, shuffle=True, seed=3))
    assert [len(b[0]) for b in out] == [4, 4, 2]
    for xb, yb, nb in out:
        np.testing.assert_array_equal(xb, yb * 10)
        assert nb == [f"n{i}" for i in yb]
    assert sorted(np.concatenate([b[1] for b in out])) == list(range(10))
    again = list(batches(x, y, names, batch_size=4, shuffle=True, seed=3))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(out, again, strict=True))
    other = np.concatenate([b[0] for b in batches(y, batch_size=4, shuffle=True, seed=(3, 1))])
    assert not np.array_equal(other, np.concatenate([b[1] for b in out]))


def test_batches_in_order_drop_last_and_errors():
    y = np.arange(10)
    assert [b[0].tolist() for b in batches(y, batch_size=4, drop_last=True)] == [
        [0, 1, 2, 3], [4, 5, 6, 7]]
    with pytest.raises(ValueError, match="seed"):
        next(batches(y, batch_size=4, shuffle=True))
    with pytest.raises(ValueError, match="length"):
        next(batches(y, y[:5], batch_size=4))


def test_to_time_major():
    x = np.arange(24).reshape(2, 3, 4)
    xt = to_time_major(x)
    assert xt.shape == (3, 2, 4) and xt.flags.c_contiguous
    np.testing.assert_array_equal(xt[1], x[:, 1])
