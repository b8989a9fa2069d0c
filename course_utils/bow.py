"""Bag of words and TF-IDF from scratch, in NumPy (chapter 01).

The functions here reproduce scikit-learn's defaults exactly, so that chapter 01 can assert that
the hand-written version and ``sklearn.feature_extraction.text.TfidfVectorizer`` agree:

- the vocabulary is sorted alphabetically and column ``j`` holds term ``vocab[j]``;
- term frequency is the raw count;
- ``idf(t) = ln((1 + n) / (1 + df(t))) + 1`` ("smooth_idf": as if one extra document held every
  term once; with a vocabulary learned from the documents every df is >= 1 anyway, so the
  smoothing only prevents a division by zero when the vocabulary is fixed in advance and a term
  has df = 0; otherwise it pulls every idf a little towards 1; the outer + 1 keeps a term found in
  every document at weight 1 instead of 0);
- every document vector is scaled to unit L2 norm (an empty document stays all zeros).

Documents are lists of tokens (strings), e.g. ``[tokenize(s) for s in sentences]``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Sequence

import numpy as np

__all__ = ["add_ngrams", "build_vocabulary", "cosine_similarity", "count_matrix", "idf",
           "edge_clue_level", "nb_log_count_ratio", "possible_first_markers", "tfidf",
           "tfidf_from_docs"]


def add_ngrams(tokens: Sequence[str], n_max: int = 2) -> list[str]:
    """The tokens followed by their n-grams for n = 2 .. n_max, each joined by one space.

    >>> add_ngrams(["dog", "bites", "man"])
    ['dog', 'bites', 'man', 'dog bites', 'bites man']
    """
    out = list(tokens)
    for n in range(2, n_max + 1):
        out += [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return out


def build_vocabulary(docs: Iterable[Sequence[str]]) -> dict[str, int]:
    """Map every distinct token of ``docs`` to a column index, in alphabetical order.

    Args:
        docs: documents, each a sequence of tokens (str).

    Returns:
        dict term -> column, columns 0 .. n_terms-1 (scikit-learn's ``vocabulary_``).
    """
    terms = sorted({tok for doc in docs for tok in doc})
    return {t: j for j, t in enumerate(terms)}


def count_matrix(docs: Sequence[Sequence[str]], vocab: dict[str, int]) -> np.ndarray:
    """The bag-of-words matrix: how often each term occurs in each document.

    Tokens missing from ``vocab`` are ignored (as scikit-learn does at ``transform`` time).

    Args:
        docs: N documents, each a sequence of tokens.
        vocab: dict term -> column, columns 0 .. V-1.

    Returns:
        np.int64 array, shape (N, V).
    """
    counts = np.zeros((len(docs), len(vocab)), dtype=np.int64)
    for i, doc in enumerate(docs):
        for tok, c in Counter(doc).items():
            j = vocab.get(tok)
            if j is not None:
                counts[i, j] = c
    return counts


def idf(counts: np.ndarray) -> np.ndarray:
    """Smoothed inverse document frequency, ``ln((1 + n) / (1 + df)) + 1``.

    Args:
        counts: (N, V) term counts of the N training documents.

    Returns:
        float64 array, shape (V,).
    """
    n = counts.shape[0]  # number of documents
    df = np.count_nonzero(counts, axis=0)  # (V,), how many documents contain each term
    return np.log((1 + n) / (1 + df)) + 1.0


def tfidf(counts: np.ndarray, idf_weights: np.ndarray | None = None) -> np.ndarray:
    """TF-IDF rows scaled to unit L2 norm; scikit-learn's ``TfidfTransformer`` defaults.

    Args:
        counts: (N, V) raw term counts.
        idf_weights: (V,) idf learned on the training documents; default: ``idf(counts)``
            (fit and transform on the same documents).

    Returns:
        float64 array, shape (N, V); rows of empty documents are all zeros.
    """
    if idf_weights is None:
        idf_weights = idf(counts)  # (V,)
    w = counts * idf_weights  # (N, V), column j scaled by idf(term j)
    norms = np.linalg.norm(w, axis=1, keepdims=True)  # (N, 1)
    # An empty document has norm 0: dividing it by 1 keeps its row at zero instead of NaN.
    return w / np.where(norms == 0, 1.0, norms)


def tfidf_from_docs(docs: Sequence[Sequence[str]]) -> tuple[np.ndarray, dict[str, int]]:
    """Vocabulary + counts + TF-IDF in one call: returns ``(X (N, V) float64, vocab)``."""
    vocab = build_vocabulary(docs)
    counts = count_matrix(docs, vocab)  # (N, V)
    return tfidf(counts), vocab


def cosine_similarity(x: np.ndarray) -> np.ndarray:
    """Cosine similarity of every pair of rows; a row of zeros has similarity 0 to everything.

    Args:
        x: (N, V) float array, one document vector per row.

    Returns:
        (N, N) array of the dtype of ``x``; entry (i, j) = <x_i, x_j> / (|x_i| |x_j|).
    """
    norms = np.linalg.norm(x, axis=1, keepdims=True)  # (N, 1)
    unit = x / np.where(norms == 0, 1, norms)  # (N, V), rows of length 1 (or all zeros)
    return (unit @ unit.T).astype(x.dtype, copy=False)  # (N, N), in x's dtype


def edge_clue_level(distance: int, length: int) -> float:
    """Accuracy on chapter 01's order task from the edge clue alone (plus the bigram at d = 1).

    The two markers sit at positions p and p + d, with p uniform among the ``length - d``
    places where the pair fits. The edge clue is a marker at the first position (it must come
    first) or at the last one (it must come second). For 1 < d < length - 1 the two cases are
    different placements, so the clue appears with probability ``2 / (length - d)``; at
    d = length - 1 the only placement puts both markers at the edges. Adjacent markers (d = 1)
    form the bigram "A B" or "B A", which gives the answer. Without a clue the best guess is a
    coin flip, so the level is ``P(clue) + (1 - P(clue)) / 2``.

    Args:
        distance: d, with 1 <= d <= length - 1.
        length: tokens per sequence (>= 2).

    Returns:
        the accuracy, a float in [0.5, 1].
    """
    if not 1 <= distance <= length - 1:
        raise ValueError(f"need 1 <= distance <= length - 1 = {length - 1}; got {distance}")
    if distance in (1, length - 1):
        return 1.0
    return 0.5 + 1 / (length - distance)


def nb_log_count_ratio(binary: np.ndarray, labels: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """The Naive-Bayes log-count ratio ``r`` of Wang & Manning (2012), used by NBSVM.

    ``p = alpha + sum of the positive rows``, ``q = alpha + sum of the negative rows``,
    ``r = ln((p / |p|_1) / (q / |q|_1))``: how much more often a feature occurs in positive than
    in negative documents. Scaling binary features by ``r`` before a linear classifier is the
    "NB" in NBSVM.

    Args:
        binary: (N, V) 0/1 features (a NumPy array or a SciPy sparse matrix).
        labels: (N,) 0/1 labels.
        alpha: smoothing count added to every feature.

    Returns:
        float64 array, shape (V,).
    """
    labels = np.asarray(labels)
    # A sparse matrix's .sum(axis=0) is a (1, V) matrix: asarray + ravel make it a (V,) array.
    p = alpha + np.asarray(binary[labels == 1].sum(axis=0), dtype=np.float64).ravel()  # (V,)
    q = alpha + np.asarray(binary[labels == 0].sum(axis=0), dtype=np.float64).ravel()  # (V,)
    return np.log(p / p.sum()) - np.log(q / q.sum())


def possible_first_markers(tokens: Sequence[Hashable], markers: Iterable[Hashable]) -> set:
    """Which of ``markers`` can come first in a sequence with the same 1-2 gram bag as ``tokens``.

    The unigram and bigram counts of a sequence say more than they seem to: read the bigrams as
    the edges of a directed multigraph on the tokens, and the sequence is a walk that uses every
    edge exactly once, starting at the one token whose count exceeds its number of incoming
    edges. A depth-first search over such walks, pruned as soon as the unused edges can no longer
    all be reached, finds which marker each walk meets first. A result with one element means
    that the bag alone fixes which marker comes first (chapter 01's order task).

    Args:
        tokens: the sequence; it should contain every marker, each once (hashable tokens).
        markers: the tokens whose order is asked about.

    Returns:
        the set of markers that some walk meets first (a subset of ``markers``).
    """
    tokens = list(tokens)
    markers = set(markers)
    if not tokens:
        return set()
    edges = Counter(zip(tokens[:-1], tokens[1:], strict=False))
    start = tokens[0]            # the bag fixes it: count(start) = incoming edges + 1
    if start in markers:
        return {start}
    found: set = set()
    explored: set = set()        # states from which nothing new can be found

    def all_reachable(current) -> bool:
        left = [e for e, k in edges.items() if k]
        seen, stack = {current}, [current]
        while stack:
            u = stack.pop()
            for a, b in left:
                if a == u and b not in seen:
                    seen.add(b)
                    stack.append(b)
        return all(a in seen for a, _ in left)

    def search(current) -> None:
        state = (current, frozenset((e, k) for e, k in edges.items() if k))
        if state in explored:
            return
        for edge in [e for e, k in edges.items() if k and e[0] == current]:
            nxt = edge[1]
            if nxt in found:
                continue
            edges[edge] -= 1
            if all_reachable(nxt):           # the walk can still use every remaining edge
                if nxt in markers:
                    found.add(nxt)
                else:
                    search(nxt)
            edges[edge] += 1
            if found == markers:
                return
        explored.add(state)

    search(start)
    return found
