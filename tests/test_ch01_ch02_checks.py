"""Chapters 01 and 02: the from-scratch modules (bow, cnn) agree with scikit-learn and PyTorch,
and the chapter checkers accept correct implementations and reject plausible wrong ones. The
wrong versions here are written independently of the hints in ``checks``."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_utils import bow, cnn
from course_utils.grading import checks  # noqa: E402
from course_utils.grading.checks.ch01_tfidf import (  # noqa: E402
    cosine_cases,
    cosine_reference,
    cosine_wrong,
)
from course_utils.grading.checks.ch02_cnn import (  # noqa: E402
    CONV_VARIANTS,
    conv_cases,
    conv_confusable,
    conv_reference,
    conv_wrong,
)

# ------------------------------------------------------------------ course_utils.bow


DOCS = ["A good movie.", "A good movie with a good cast.", "Not a good movie.",
        "The cast was dull.", "", "the the the story"]


def test_tfidf_from_scratch_equals_sklearn_vectorizer():
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer()
    expected = vec.fit_transform(DOCS).toarray()
    analyzer = vec.build_analyzer()
    got, vocab = bow.tfidf_from_docs([analyzer(d) for d in DOCS])
    assert list(vocab) == vec.get_feature_names_out().tolist()
    np.testing.assert_allclose(got, expected, atol=1e-12)
    assert np.all(got[4] == 0)  # the empty document


def test_count_matrix_equals_count_vectorizer_and_ignores_unknown_words():
    from sklearn.feature_extraction.text import CountVectorizer

    vec = CountVectorizer()
    vec.fit(DOCS[:3])
    analyzer = vec.build_analyzer()
    got = bow.count_matrix([analyzer(d) for d in DOCS], dict(vec.vocabulary_))
    np.testing.assert_array_equal(got, vec.transform(DOCS).toarray())
    assert got.dtype == np.int64


def test_add_ngrams_and_nb_ratio():
    assert bow.add_ngrams(["a", "b", "c"], 3) == ["a", "b", "c", "a b", "b c", "a b c"]
    assert bow.add_ngrams(["a"], 2) == ["a"]
    x = np.array([[1, 0, 1], [1, 0, 0], [0, 1, 1], [0, 1, 0]])
    r = bow.nb_log_count_ratio(x, np.array([1, 1, 0, 0]))
    # p = 1 + [2, 0, 1] = [3, 1, 2], q = [1, 3, 2]; both sum to 6
    np.testing.assert_allclose(r, np.log([3.0, 1 / 3, 1.0]))


def test_cosine_similarity_matches_sklearn():
    from sklearn.metrics.pairwise import cosine_similarity as sk_cos

    x = np.random.default_rng(0).standard_normal((5, 4))
    x[3] = 0
    np.testing.assert_allclose(bow.cosine_similarity(x), sk_cos(x), atol=1e-12)
    assert bow.cosine_similarity(x.astype(np.float32)).dtype == np.float32


# ------------------------------------------------------------------ course_utils.cnn


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv1d_equals_torch(dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((11, 3, 5)).astype(dtype)
    conv = torch.nn.Conv1d(5, 4, 3).to(torch.float64 if dtype == np.float64 else torch.float32)
    w, b = conv.weight.detach().numpy(), conv.bias.detach().numpy()
    expected = conv(torch.from_numpy(x).permute(1, 2, 0)).detach().numpy().transpose(2, 0, 1)
    got = cnn.conv1d(x, w, b)
    assert got.dtype == dtype and got.shape == (9, 3, 4)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    pooled = cnn.conv_relu_maxpool(x, w, b)
    np.testing.assert_allclose(pooled, np.maximum(expected, 0).max(axis=0), rtol=1e-5, atol=1e-5)


def test_conv1d_rejects_short_sequences():
    with pytest.raises(ValueError):
        cnn.conv1d(np.zeros((2, 1, 3)), np.zeros((4, 3, 3)), np.zeros(4))


def _influence(layers, n_inputs=40):
    """Measured receptive field: which inputs change one middle output of a PyTorch stack."""
    mods = []
    for k, s in layers:
        if s == 1:
            mods.append(torch.nn.Conv1d(1, 1, k, bias=False))
        else:
            mods.append(torch.nn.AvgPool1d(k, s))
    for m in mods:
        if isinstance(m, torch.nn.Conv1d):
            torch.nn.init.constant_(m.weight, 1.0)
    net = torch.nn.Sequential(*mods)
    x = torch.zeros(1, 1, n_inputs, requires_grad=True)
    out = net(x)
    out[0, 0, out.shape[2] // 2].backward()
    return int((x.grad[0, 0] != 0).sum())


@pytest.mark.parametrize("layers", [[(3, 1)], [(3, 1), (3, 1)], [(3, 1), (2, 2), (3, 1)],
                                    [(5, 1), (2, 2), (3, 1), (2, 2), (3, 1)],
                                    [(3, 1), (3, 2), (3, 1)]])
def test_receptive_field_matches_gradient_footprint(layers):
    assert cnn.receptive_field(layers) == _influence(layers)


def test_receptive_field_table_and_dilation():
    rows = cnn.receptive_field_table([(3, 1), (2, 2), (3, 1, 2)])
    assert [r["rf"] for r in rows] == [3, 4, 12] and [r["jump"] for r in rows] == [1, 2, 2]
    assert cnn.receptive_field([]) == 1
    with pytest.raises(ValueError):
        cnn.receptive_field([(0, 1)])


def test_figures_draw():
    fig, axes = plt.subplots(2, 1)
    cnn.draw_sliding_window(["a", "b", "c", "d"], 2, [0.1, 0.5, 0.2], ax=axes[0])
    cnn.draw_receptive_field([(3, 1), (2, 2)], 12, ax=axes[1])
    with pytest.raises(ValueError):
        cnn.draw_sliding_window(["a", "b"], 2, [0.1, 0.2])
    plt.close(fig)


def test_sliding_window_arrow_points_at_the_winning_bar():
    fig, ax = plt.subplots()
    cnn.draw_sliding_window(["a", "b", "c", "d", "e"], 2, [0.1, 0.2, 0.8, 0.3], ax=ax)
    (arrow,) = [t for t in ax.texts if t.get_text() == "max over time"]
    x, y = arrow.xy
    (bar,) = [p for p in ax.patches if isinstance(p, plt.Rectangle) and p.get_height() > 1.0]
    assert bar.get_x() <= x <= bar.get_x() + bar.get_width() + 1e-9     # on the winning bar
    assert bar.get_y() < y <= bar.get_y() + bar.get_height()            # not above it
    plt.close(fig)


def test_text_cnn_diagram_has_one_branch_per_width():
    fig, ax = plt.subplots()
    cnn.draw_text_cnn((2, 3, 4, 5), ax=ax)
    texts = [t.get_text() for t in ax.texts]
    convs = [t for t in texts if t.startswith("conv k = ")]
    assert convs == [f"conv k = {k}\n+ ReLU" for k in (2, 3, 4, 5)]
    assert texts.count("max over\ntime") == 4 and "4C" in texts
    plt.close(fig)


# ------------------------------------------------------------------ count_matrix checker


def count_ok_loops(docs, vocab):
    out = np.zeros((len(docs), len(vocab)), dtype=np.int64)
    for i, doc in enumerate(docs):
        for tok in doc:
            if tok in vocab:
                out[i, vocab[tok]] += 1
    return out


def count_ok_counter(docs, vocab):
    from collections import Counter

    rows = [Counter(t for t in d if t in vocab) for d in docs]
    return np.array([[row[t] for t in sorted(vocab, key=vocab.get)] for row in rows],
                    dtype=np.int64).reshape(len(docs), len(vocab))


def count_presence(docs, vocab):
    return (count_ok_loops(docs, vocab) > 0).astype(int)


def count_own_order(docs, vocab):
    own = {t: j for j, t in enumerate(sorted(vocab))}
    return count_ok_loops(docs, own)


def count_unknown_crash(docs, vocab):
    out = np.zeros((len(docs), len(vocab)), dtype=int)
    for i, doc in enumerate(docs):
        for tok in doc:
            out[i, vocab[tok]] += 1
    return out


def count_transposed(docs, vocab):
    return count_ok_loops(docs, vocab).T


def count_first_doc_vocab(docs, vocab):
    """Builds its own vocabulary from the documents instead of using the one given."""
    own = {t: j for j, t in enumerate(sorted({t for d in docs for t in d}))}
    out = np.zeros((len(docs), len(own)))
    for i, doc in enumerate(docs):
        for tok in doc:
            out[i, own[tok]] += 1
    return out


COUNT_WRONG = {"presence only": count_presence, "re-sorted vocabulary": count_own_order,
               "float counts": lambda d, v: count_ok_loops(d, v).astype(np.float64),
               "int32 counts": lambda d, v: count_ok_loops(d, v).astype(np.int32),
               "crashes on unknown words": count_unknown_crash, "transposed": count_transposed,
               "own vocabulary": count_first_doc_vocab}


@pytest.mark.parametrize("fn", [count_ok_loops, count_ok_counter])
def test_count_matrix_accepts_correct(fn, capsys):
    assert checks.count_matrix(fn)


@pytest.mark.parametrize("name", sorted(COUNT_WRONG))
def test_count_matrix_rejects_wrong(name, capsys):
    assert not checks.count_matrix(COUNT_WRONG[name])
    assert "\u274c" in capsys.readouterr().out


def test_count_matrix_hints(capsys):
    checks.count_matrix(count_presence)
    assert "every occurrence" in capsys.readouterr().out
    checks.count_matrix(count_own_order)
    assert "vocab[term]" in capsys.readouterr().out


# ------------------------------------------------------------------ cosine_similarity checker


def cos_ok_loops(x):
    n = len(x)
    out = np.zeros((n, n), dtype=x.dtype)
    for i in range(n):
        for j in range(n):
            ni, nj = np.sqrt(x[i] @ x[i]), np.sqrt(x[j] @ x[j])
            out[i, j] = 0.0 if ni == 0 or nj == 0 else (x[i] @ x[j]) / (ni * nj)
    return out


def cos_ok_outer(x):
    norms = np.linalg.norm(x, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = (x @ x.T) / np.outer(norms, norms)
    return np.nan_to_num(sim).astype(x.dtype)


def cos_nan_on_zero(x):
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    return u @ u.T


COS_WRONG = {
    "plain dot product": lambda x: x @ x.T,
    "NaN for an empty document": cos_nan_on_zero,
    "column norms": lambda x: (x / np.maximum(np.linalg.norm(x, axis=0), 1e-12)) @ (
        x / np.maximum(np.linalg.norm(x, axis=0), 1e-12)).T,
    "squared norms": lambda x: (x @ x.T) / np.maximum(
        np.outer((x ** 2).sum(1), (x ** 2).sum(1)), 1e-12),
    "cosine distance": lambda x: 1 - cos_ok_loops(x),
    "pearson correlation": lambda x: np.nan_to_num(np.corrcoef(x)).astype(x.dtype).reshape(
        len(x), len(x)),
    "always float64": lambda x: cos_ok_loops(x.astype(np.float64)),
    "l1 norms": lambda x: (x / np.maximum(np.abs(x).sum(1, keepdims=True), 1e-12)) @ (
        x / np.maximum(np.abs(x).sum(1, keepdims=True), 1e-12)).T,
}


@pytest.mark.parametrize("fn", [cos_ok_loops, cos_ok_outer])
def test_cosine_accepts_correct(fn, capsys):
    assert checks.cosine_similarity(fn)


@pytest.mark.parametrize("name", sorted(COS_WRONG))
def test_cosine_rejects_wrong(name, capsys):
    assert not checks.cosine_similarity(COS_WRONG[name])


# ------------------------------------------------------------------ conv_relu_maxpool checker


def _windows_ok(x, weight, lengths):
    k = weight.shape[2]
    lengths = np.asarray(lengths)
    if x.shape[0] < k or lengths.min() < k or lengths.max() > x.shape[0]:
        raise ValueError("a sentence is shorter than the filter")
    return k, lengths


def conv_ok_loops(x, weight, bias, lengths):
    """One sentence at a time, sliced to its real tokens: no mask needed."""
    k, lengths = _windows_ok(x, weight, lengths)
    out = np.zeros((x.shape[1], weight.shape[0]), dtype=x.dtype)
    for b, n in enumerate(lengths):
        best = np.full(weight.shape[0], -np.inf)
        for t in range(n - k + 1):
            window = x[t:t + k, b]  # (k, D)
            best = np.maximum(best, np.einsum("kd,cdk->c", window, weight) + bias)
        out[b] = np.maximum(best, 0)
    return out


def conv_ok_torch(x, weight, bias, lengths):
    """PyTorch's conv1d, then a -inf mask on the padded windows."""
    k, lengths = _windows_ok(x, weight, lengths)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(1, 2, 0)))
    h = torch.nn.functional.conv1d(xt, torch.from_numpy(weight.astype(x.dtype)),
                                   torch.from_numpy(bias.astype(x.dtype)))  # (B, C, T-k+1)
    starts = torch.arange(h.shape[2])
    pad = starts[None, :] > torch.from_numpy(lengths - k)[:, None]
    h = h.masked_fill(pad[:, None, :], float("-inf"))
    return torch.relu(h.amax(dim=2)).numpy()


def conv_ok_relu_zero_mask(x, weight, bias, lengths):
    """ReLU first, then padded windows set to 0 (not -inf): the same, since ReLU >= 0."""
    k, lengths = _windows_ok(x, weight, lengths)
    windows = np.lib.stride_tricks.sliding_window_view(x, k, axis=0)  # (T-k+1, B, D, k)
    h = np.maximum(np.einsum("tbdk,cdk->tbc", windows, weight) + bias, 0).astype(x.dtype)
    h[np.arange(h.shape[0])[:, None] > (lengths - k)[None, :]] = 0
    return h.max(axis=0)


def conv_unmasked(x, weight, bias, lengths):
    """The chapter's TextCNN pooling: every window of the padded batch."""
    return np.maximum(cnn.conv1d(x, weight, bias), 0).max(axis=0)


def conv_mask_by_start(x, weight, bias, lengths):
    h = np.maximum(cnn.conv1d(x, weight, bias), 0)
    h[np.arange(h.shape[0])[:, None] >= np.asarray(lengths)[None, :]] = 0
    return h.max(axis=0)


def conv_last_real_window_missing(x, weight, bias, lengths):
    k = weight.shape[2]
    h = np.maximum(cnn.conv1d(x, weight, bias), 0)
    h[np.arange(h.shape[0])[:, None] >= (np.asarray(lengths) - k)[None, :]] = 0
    return h.max(axis=0)


def conv_true_convolution(x, weight, bias, lengths):
    return conv_ok_loops(x, weight[:, :, ::-1].copy(), bias, lengths)


def conv_no_relu(x, weight, bias, lengths):
    k, lengths = _windows_ok(x, weight, lengths)
    return np.stack([cnn.conv1d(x[:n, b:b + 1], weight, bias).max(axis=0)[0]
                     for b, n in enumerate(lengths)])


def conv_mean(x, weight, bias, lengths):
    k, lengths = _windows_ok(x, weight, lengths)
    return np.stack([np.maximum(cnn.conv1d(x[:n, b:b + 1], weight, bias), 0).mean(axis=0)[0]
                     for b, n in enumerate(lengths)]).astype(x.dtype)


def conv_no_bias(x, weight, bias, lengths):
    return conv_ok_loops(x, weight, np.zeros_like(bias), lengths)


def conv_zero_padded(x, weight, bias, lengths):
    pad = np.zeros((1,) + x.shape[1:], dtype=x.dtype)
    return conv_ok_loops(np.concatenate([pad, x, pad]), weight, bias, np.asarray(lengths) + 2)


def conv_batch_first(x, weight, bias, lengths):
    """Treats x as (B, T, D): loops over the wrong axis."""
    return conv_unmasked(x.transpose(1, 0, 2), weight, bias, lengths)


def conv_pool_channels(x, weight, bias, lengths):
    return np.maximum(cnn.conv1d(x, weight, bias), 0).max(axis=2).T


def conv_float64(x, weight, bias, lengths):
    return conv_ok_loops(x.astype(np.float64), weight.astype(np.float64), bias, lengths)


def conv_mutates(x, weight, bias, lengths):
    out = conv_ok_loops(x, weight, bias, lengths)
    np.maximum(x, 0, out=x)
    return out


def conv_no_value_error(x, weight, bias, lengths):
    """Returns zeros for a sentence shorter than the filter instead of raising."""
    k = weight.shape[2]
    if x.shape[0] < k or np.min(lengths) < k:
        return np.zeros((x.shape[1], weight.shape[0]), dtype=x.dtype)
    return conv_ok_loops(x, weight, bias, lengths)


CONV_WRONG = {"true convolution (flipped filter)": conv_true_convolution,
              "no ReLU": conv_no_relu, "mean pooling": conv_mean, "no bias": conv_no_bias,
              "padding not masked": conv_unmasked, "window starts inside": conv_mask_by_start,
              "last real window missing": conv_last_real_window_missing,
              "zero padding": conv_zero_padded,
              "batch-first input": conv_batch_first, "pooled over channels": conv_pool_channels,
              "always float64": conv_float64, "changes x in place": conv_mutates,
              "no ValueError": conv_no_value_error}


@pytest.mark.parametrize("fn", [conv_ok_loops, conv_ok_torch, conv_ok_relu_zero_mask])
def test_conv_accepts_correct(fn, capsys):
    assert checks.conv_relu_maxpool(fn)


@pytest.mark.parametrize("name", sorted(CONV_WRONG))
def test_conv_rejects_wrong(name, capsys):
    assert not checks.conv_relu_maxpool(CONV_WRONG[name])


@pytest.mark.parametrize(("fn", "words"), [
    (conv_true_convolution, "do not flip"), (conv_mean, "MAXIMUM"), (conv_no_relu, "ReLU"),
    (conv_no_bias, "bias"), (conv_unmasked, "must not take part in the max"),
    (conv_mask_by_start, "FULLY inside"), (conv_last_real_window_missing, "is missing"),
])
def test_conv_hints_name_the_mistake(fn, words, capsys, no_own_work_guard):
    checks.conv_relu_maxpool(fn)
    out = capsys.readouterr().out
    assert "hint" in out and words in out, out


def test_conv_not_attempted(capsys):
    def stub(x, weight, bias, lengths):
        raise NotImplementedError

    result = checks.conv_relu_maxpool(stub)
    assert not result and result.status == "not attempted"


# ------------------------------------------------------------------ receptive_field checker


def rf_ok_recursive(layers):
    """Top-down: how many inputs does a window of `span` units at this level cover?"""
    span = 1
    for k, s, dilation in reversed(layers):
        span = (span - 1) * s + (k - 1) * dilation + 1
    return span


def rf_ok_positions(layers):
    """Brute force: the input positions one top unit reads, followed down the stack."""
    positions = {0}
    for k, s, dilation in reversed(layers):
        positions = {q * s + j * dilation for q in positions for j in range(k)}
    return max(positions) - min(positions) + 1


def rf_sum_minus(layers):
    return 1 + sum((k - 1) * dilation for k, _, dilation in layers)


def rf_sum(layers):
    return sum(k for k, _, _ in layers) or 1


def rf_product(layers):
    return int(np.prod([k for k, _, _ in layers])) if layers else 1


def rf_own_stride(layers):
    r, jump = 1, 1
    for k, s, dilation in layers:
        jump *= s
        r += (k - 1) * dilation * jump
    return r


def rf_kernel_times_jump(layers):
    r, jump = 1, 1
    for k, s, dilation in layers:
        r += k * dilation * jump - 1
        jump *= s
    return r


def rf_ignores_dilation(layers):
    r, jump = 1, 1
    for k, s, _ in layers:
        r += (k - 1) * jump
        jump *= s
    return r


def rf_dilation_as_stride(layers):
    r, jump = 1, 1
    for k, s, dilation in layers:
        r += (k - 1) * dilation * jump
        jump *= s * dilation
    return r


def rf_empty_zero(layers):
    return rf_ok_recursive(layers) if layers else 0


def rf_top_down_wrong(layers):
    span = 1
    for k, s, dilation in layers:  # forgot to go from the top down
        span = (span - 1) * s + (k - 1) * dilation + 1
    return span


RF_WRONG = {"ignores strides": rf_sum_minus, "sum of kernels": rf_sum, "product": rf_product,
            "own stride counted": rf_own_stride, "k instead of k - 1": rf_kernel_times_jump,
            "ignores dilation": rf_ignores_dilation,
            "dilation multiplies the jump": rf_dilation_as_stride,
            "empty stack is 0": rf_empty_zero, "bottom-up recursion": rf_top_down_wrong,
            "returns None": lambda layers: None}


@pytest.mark.parametrize("fn", [rf_ok_recursive, rf_ok_positions])
def test_rf_accepts_correct(fn, capsys):
    assert checks.receptive_field(fn)


@pytest.mark.parametrize("name", sorted(RF_WRONG))
def test_rf_rejects_wrong(name, capsys):
    assert not checks.receptive_field(RF_WRONG[name])


@pytest.mark.parametrize(("fn", "words"), [
    (rf_sum_minus, "product of the strides"), (rf_ignores_dilation, "spaces the layer's k taps"),
    (rf_dilation_as_stride, "unlike a stride"), (rf_own_stride, "own stride"),
])
def test_rf_hints(fn, words, capsys, no_own_work_guard):
    checks.receptive_field(fn)
    assert words in capsys.readouterr().out


# ------------------------------------------------------------------ hints are never misleading


def _assert_all_differ(cases, reference, wrong_for):
    from course_utils.grading.checking import Mismatch, compare_arrays

    for case in cases:
        if case.raises is not None:  # the stub asks for an exception: no values to tell apart
            continue
        expected = reference(*case.args)
        for wrong in wrong_for(case):
            with np.errstate(all="ignore"), pytest.raises(Mismatch):
                compare_arrays(wrong(*case.args), expected, "out", check_dtype=False)


def test_every_case_tells_every_known_mistake_apart():
    """A learner whose values are right but whose dtype is wrong fails on a float32 case; the
    checker then looks for a matching known mistake. No known mistake may match the right
    answer on a case (unless it cannot differ for that shape, e.g. a flipped width-1 filter),
    or that learner would get a hint about a mistake they did not make."""
    cos_wrongs = [cosine_wrong(v)
                  for v in ("dot", "one_side", "columns", "distance", "pearson")]
    _assert_all_differ(cosine_cases(), cosine_reference, lambda case: cos_wrongs)

    def conv_wrongs(case):
        skip = conv_confusable(case.args)
        return [conv_wrong(v) for v in CONV_VARIANTS if v not in skip]

    _assert_all_differ(conv_cases(), conv_reference, conv_wrongs)


def test_right_values_wrong_dtype_gets_no_hint(capsys):
    checks.conv_relu_maxpool(conv_float64)
    out = capsys.readouterr().out
    assert "dtype float64, expected float32" in out and "hint" not in out
    checks.cosine_similarity(COS_WRONG["always float64"])
    out = capsys.readouterr().out
    assert "dtype float64, expected float32" in out and "hint" not in out
