"""Turning text into integer arrays: tokeniser, vocabulary, padding and mini-batches.

NumPy in, NumPy out: converting to torch tensors is left to the caller
(``torch.from_numpy(x)``), so the same arrays serve scikit-learn and PyTorch chapters.

Conventions shared with :mod:`course_utils.tasks`: id 0 is padding (``<pad>``), id 1 is an
unknown token (``<unk>``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Literal

import numpy as np

__all__ = ["PAD", "PAD_ID", "UNK", "UNK_ID", "Vocab", "batches", "pad_sequences",
           "to_time_major", "tokenize"]

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1

# Alternatives are tried left to right at each position, so the special cases come first.
_TOKEN = re.compile(
    r"""
      [^\W_]+(?=n't\b)                 # "doesn't" -> "does" + "n't"
    | n't\b
    | '(?:s|re|ve|d|ll|m)\b            # "it's" -> "it" + "'s", "you'll" -> "you" + "'ll"
    | (?:[^\W\d_]\.){2,}               # abbreviations such as "j.r.r." stay one token
    | \d+(?:[.,]\d+)+                  # "2.5", "1,000"
    | [^\W_]+(?:-[^\W_]+)*             # words, numbers, "21st", "well-made"
    | \.\.\.                           # an ellipsis is one token, not three full stops
    | \S                               # any other character is a punctuation token
    """,
    re.VERBOSE,
)


def tokenize(text: str) -> list[str]:
    """Split a sentence into lowercase word and punctuation tokens.

    Conventions (close to the Penn-Treebank style of Kim 2014's movie-review preprocessing):

    - clitics are split off: "doesn't" -> ["does", "n't"], "can't" -> ["ca", "n't"],
      "film's" -> ["film", "'s"], "you'll" -> ["you", "'ll"]; so negation is one token "n't";
    - the data's double quotes, written as two apostrophes (or two backticks), become the
      token ``"``; curly apostrophes and single backticks become ``'``;
    - runs of two or more dots become one ``...`` token; "j.r.r." and "well-made" stay whole;
    - every other non-space, non-word character is a token of its own.

    Args:
        text: one sentence (str).

    Returns:
        list of tokens (str), possibly empty.

    >>> tokenize("It isn't ''Conan'' ... J.R.R. Tolkien's!")
    ['it', 'is', "n't", '"', 'conan', '"', '...', 'j.r.r.', 'tolkien', "'s", '!']
    """
    text = text.lower()
    # The quote marks are normalised before apostrophes, so that `` and '' become ".
    text = re.sub(r"''|``", '"', text)
    text = re.sub(r"[`\u2018\u2019]", "'", text)
    text = re.sub(r"\.{2,}", "...", text)
    return _TOKEN.findall(text)


class Vocab:
    """A bijection between tokens and integer ids, with ``<pad>`` = 0 and ``<unk>`` = 1.

    Ids 2, 3, ... go to tokens by decreasing frequency, ties in alphabetical order, so the same
    data always gives the same vocabulary. Tokens can be any strings: for a character vocabulary
    pass the words themselves, since a ``str`` is a sequence of characters.

    Attributes:
        itos: list of tokens (str), ``itos[i]`` is the token of id ``i``.
        stoi: dict token -> id.
    """

    def __init__(self, itos: Sequence[str]):
        """Wrap an explicit id -> token list, which must start with ``<pad>``, ``<unk>``."""
        if list(itos[:2]) != [PAD, UNK]:
            raise ValueError(f"itos must start with {PAD!r}, {UNK!r}; got {list(itos[:2])}")
        if len(set(itos)) != len(itos):
            raise ValueError("itos contains a token twice")
        self.itos: list[str] = list(itos)
        self.stoi: dict[str, int] = {tok: i for i, tok in enumerate(self.itos)}

    @classmethod
    def build(cls, token_lists: Iterable[Iterable[str]], min_freq: int = 1,
              max_size: int | None = None) -> Vocab:
        """Count tokens and keep the frequent ones.

        Args:
            token_lists: e.g. ``[tokenize(t) for t in texts]``, or a list of words for a
                character vocabulary.
            min_freq: tokens seen fewer times are left out (they will encode to ``<unk>``).
            max_size: at most this many entries in total, ``<pad>`` and ``<unk>`` included.
        """
        counts = Counter(tok for tokens in token_lists for tok in tokens)
        for special in (PAD, UNK):
            counts.pop(special, None)
        kept = sorted((t for t, c in counts.items() if c >= min_freq),
                      key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[: max(max_size - 2, 0)]
        return cls([PAD, UNK, *kept])

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens: {self.itos[:8]}{' ...' if len(self) > 8 else ''})"

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Token ids (list of int); unknown tokens map to ``UNK_ID`` (1)."""
        return [self.stoi.get(tok, UNK_ID) for tok in tokens]

    def decode(self, ids: Iterable[int], skip_pad: bool = True) -> list[str]:
        """Tokens of the ids (ints or a 1-D integer array); ``<pad>`` dropped if ``skip_pad``."""
        return [self.itos[i] for i in ids if not (skip_pad and i == PAD_ID)]


def pad_sequences(seqs: Sequence[Sequence[int]], max_len: int | None = None,
                  pad_id: int = PAD_ID,
                  padding: Literal["post", "pre"] = "post") -> tuple[np.ndarray, np.ndarray]:
    """Stack sequences of ids of different lengths into one rectangular array.

    Sequences longer than ``max_len`` keep their first ``max_len`` ids.

    Args:
        seqs: N sequences of ints (lists or 1-D arrays).
        max_len: width L of the result; default: the longest sequence.
        pad_id: id that fills the unused positions.
        padding: "post" puts the padding after the ids; "pre" before them, so the last step of
            every row is a real token (useful when an RNN's final state is read without masking).

    Returns:
        ids: np.int64 array, shape (N, L).
        lengths: np.int64 array, shape (N,), number of real (non-padding) ids per row.
    """
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    width = int(lengths.max(initial=0)) if max_len is None else max_len
    lengths = np.minimum(lengths, width)
    ids = np.full((len(seqs), width), pad_id, dtype=np.int64)
    for row, (seq, n) in enumerate(zip(seqs, lengths, strict=True)):
        if n == 0:
            continue
        if padding == "post":
            ids[row, :n] = seq[:n]
        else:
            ids[row, width - n:] = seq[:n]
    return ids, lengths


def batches(*arrays: np.ndarray | list, batch_size: int, shuffle: bool = False,
            seed: int | Sequence[int] | None = None,
            drop_last: bool = False) -> Iterator[tuple]:
    """Yield aligned mini-batches of several arrays, e.g. ``for xb, yb in batches(x, y, ...)``.

    Args:
        arrays: arrays (or lists) with the same first dimension N.
        batch_size: rows per batch; the last batch may be smaller unless ``drop_last``.
        shuffle: visit the rows in a random order, which ``seed`` determines.
        seed: required when shuffling, so that runs are reproducible; pass e.g.
            ``seed=(0, epoch)`` for a different but reproducible order in every epoch.
        drop_last: skip a final batch smaller than ``batch_size``.

    Yields:
        tuples with one slice per input array, of shape (B, ...) with B <= batch_size; lists
        give lists.
    """
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"arrays differ in length: {[len(a) for a in arrays]}")
    if shuffle and seed is None:
        raise ValueError("shuffle=True needs a seed, so that the order is reproducible")
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        yield tuple([a[i] for i in idx] if isinstance(a, list) else a[idx] for a in arrays)


def to_time_major(x: np.ndarray) -> np.ndarray:
    """Swap the first two axes, (N, L, ...) -> (L, N, ...), as a contiguous copy.

    Our hand-written RNNs loop over time, and row ``x[t - 1]`` of a time-major array is the batch
    at step t (x_t in the 1-based maths).
    """
    return np.ascontiguousarray(np.swapaxes(x, 0, 1))
