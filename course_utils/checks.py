"""Exercise checkers: ``checks.NAME(your_function)`` prints feedback and returns a result.

Each checker calls your function on several seeded cases (random, non-square shapes, float32
and float64, edge cases), compares every output with the course's reference implementation,
and tells you which output and which element differ, by how much, and, when your output matches
a common mistake, a hint about that mistake. The result is truthy only when every case passes.
"""

from __future__ import annotations

import numpy as np

from course_utils import scratch
from course_utils import softmax as _sm
from course_utils.checking import Case, CheckResult, Diagnosis, run_check

# ---------------------------------------------------------------------------------------------
# Case generators


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _params(rng, d: int, h: int, gates: int, dtype, scale: float = 0.6) -> dict:
    """Random recurrent weights in PyTorch layout; biases nonzero so a dropped bias shows."""
    return {
        "weight_ih": (scale * rng.standard_normal((gates * h, d))).astype(dtype),
        "weight_hh": (scale * rng.standard_normal((gates * h, h))).astype(dtype),
        "bias_ih": (0.5 * rng.standard_normal(gates * h)).astype(dtype),
        "bias_hh": (0.5 * rng.standard_normal(gates * h)).astype(dtype),
    }


# (B, D, H): no two equal, so a transposed weight cannot slip through by shape luck.
_STEP_SHAPES = [(3, 4, 5), (2, 7, 3), (1, 1, 2), (5, 3, 8)]


def _step_cases(gates: int, with_cell: bool, seed: int) -> list[Case]:
    rng = _rng(seed)
    cases = []
    for k, (b, d, h) in enumerate(_STEP_SHAPES):
        dtype = np.float64 if k % 2 == 0 else np.float32
        p = _params(rng, d, h, gates, dtype)
        x = rng.standard_normal((b, d)).astype(dtype)
        hp = rng.standard_normal((b, h)).astype(dtype) * 0.8
        args = (x, hp) + ((rng.standard_normal((b, h)).astype(dtype),) if with_cell else ())
        cases.append(Case(args + (p,), f"{np.dtype(dtype).name}, B={b}, D={d}, H={h}"))
    # edge cases: a zero previous state (the first step) and large inputs (saturation)
    b, d, h = 2, 3, 4
    p = _params(rng, d, h, gates, np.float64)
    zero = np.zeros((b, h))
    cases.append(Case((rng.standard_normal((b, d)), zero) + ((zero.copy(),) if with_cell else ())
                      + (p,), "zero previous state"))
    cases.append(Case((20 * rng.standard_normal((b, d)), rng.standard_normal((b, h)))
                      + ((rng.standard_normal((b, h)),) if with_cell else ()) + (p,),
                      "large inputs that saturate the nonlinearities"))
    return cases


# ---------------------------------------------------------------------------------------------
# Chapter 00: softmax


def _softmax_cases() -> list[Case]:
    rng = _rng(0)
    return [
        Case((rng.standard_normal((3, 5)),), "float64 scores, shape (3, 5)"),
        Case((rng.standard_normal((4, 2)).astype(np.float32),), "float32 scores, shape (4, 2)"),
        Case((rng.standard_normal(6),), "a single vector, shape (6,)"),
        Case((rng.standard_normal((2, 3, 4)),), "a batch of matrices, shape (2, 3, 4): "
                                                  "softmax over the last axis"),
        Case((np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1002.0, -1001.0]]),),
             "huge scores (needs the max-subtraction trick)"),
        Case((np.array([[0.0, 2000.0, 3.0], [-5.0, 1500.0, 1499.0]]),),
             "a huge spread between scores"),
        Case((np.zeros((2, 4)),), "all-equal scores"),
    ]


def softmax(fn) -> CheckResult:
    """Check ``fn(z) -> probabilities``: softmax over the last axis, stable for huge scores."""
    return run_check(
        "softmax", fn, _softmax_cases(), _sm.softmax, arg_names=["z"], output_name="probs",
        diagnoses=[
            Diagnosis(lambda z: np.exp(z) / np.sum(np.exp(z), axis=0, keepdims=True),
                      "you normalised over the first axis; softmax normalises each row, i.e. "
                      "over the last axis (axis=-1)."),
            Diagnosis(lambda z: np.exp(z) / np.sum(np.exp(z)),
                      "you divided by the sum over the whole array; each row needs its own sum "
                      "(axis=-1, keepdims=True)."),
        ],
        success_note="Stable for huge scores too.")


def _softmax_backward_cases() -> list[Case]:
    rng = _rng(1)
    cases = []
    for shape, dtype in [((3, 5), np.float64), ((4, 2), np.float32), ((6,), np.float64),
                         ((2, 3, 4), np.float64)]:
        s = _sm.softmax(rng.standard_normal(shape)).astype(dtype)
        cases.append(Case((s, rng.standard_normal(shape).astype(dtype)),
                          f"{np.dtype(dtype).name}, shape {shape}"))
    return cases


def softmax_backward(fn) -> CheckResult:
    """Check ``fn(s, ds) -> dz``: the gradient through softmax, given its output ``s``."""
    return run_check(
        "softmax_backward", fn, _softmax_backward_cases(), _sm.softmax_backward,
        arg_names=["s", "ds"], output_name="dz",
        diagnoses=[
            Diagnosis(lambda s, ds: s * (1 - s) * ds,
                      "you used only the diagonal of the Jacobian, s*(1-s); each output also "
                      "depends on every other score through the shared denominator."),
            Diagnosis(lambda s, ds: s * (ds - np.sum(ds * s)),
                      "the inner sum <ds, s> must be taken per row (axis=-1, keepdims=True)."),
        ])


# ---------------------------------------------------------------------------------------------
# Chapter 01: TF-IDF


def _tfidf_reference(counts: np.ndarray) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfTransformer

    return TfidfTransformer().fit_transform(counts).toarray()


def _tfidf_cases() -> list[Case]:
    rng = _rng(2)
    cases = [Case((rng.integers(0, 4, size=(4, 6)),), "4 documents x 6 terms"),
             Case((rng.integers(0, 3, size=(7, 3)),), "7 documents x 3 terms")]
    empty_doc = rng.integers(1, 3, size=(3, 5))
    empty_doc[1] = 0
    cases.append(Case((empty_doc,), "a document with no words (its row must be all zeros)"))
    unused = rng.integers(0, 3, size=(4, 4))
    unused[:, 2] = 0
    cases.append(Case((unused,), "a term that occurs in no document"))
    cases.append(Case((np.array([[2, 0, 1]]),), "a single document"))
    cases.append(Case((rng.integers(0, 5, size=(5, 8)).astype(np.int32),), "int32 counts"))
    return cases


def _tfidf_no_smooth(counts):
    n = counts.shape[0]
    df = np.count_nonzero(counts, axis=0)
    with np.errstate(divide="ignore"):
        w = counts * (np.log(n / df) + 1)
    return w / np.linalg.norm(w, axis=1, keepdims=True)


def tfidf(fn) -> CheckResult:
    """Check ``fn(counts) -> tfidf`` against scikit-learn's ``TfidfTransformer`` defaults.

    counts : int (n_docs, n_terms) raw term counts. Expected: float64 (n_docs, n_terms) with
    ``idf = ln((1 + n) / (1 + df)) + 1`` and every nonzero row scaled to unit L2 norm.
    """
    def with_idf(idf_fn, norm_ord=2):
        def wrong(counts):
            w = counts * idf_fn(counts)
            norms = np.linalg.norm(w, ord=norm_ord, axis=1, keepdims=True) if norm_ord else 1.0
            return w / np.where(np.asarray(norms) == 0, 1, norms)
        return wrong

    n_df = lambda c: (c.shape[0], np.count_nonzero(c, axis=0))  # noqa: E731
    return run_check(
        "tfidf", fn, _tfidf_cases(), _tfidf_reference, arg_names=["counts"],
        output_name="tfidf", check_dtype=False,
        diagnoses=[
            Diagnosis(with_idf(lambda c: np.log10((1 + n_df(c)[0]) / (1 + n_df(c)[1])) + 1),
                      "use the natural logarithm (np.log), not log10."),
            Diagnosis(with_idf(lambda c: np.log((1 + n_df(c)[0]) / (1 + n_df(c)[1]))),
                      "scikit-learn adds 1 to the idf (idf = ln((1+n)/(1+df)) + 1) so that a "
                      "term in every document keeps a small weight instead of 0."),
            Diagnosis(with_idf(lambda c: np.log((1 + n_df(c)[0]) / (1 + n_df(c)[1])) + 1, None),
                      "each document's vector must be scaled to unit length (L2 norm)."),
            Diagnosis(with_idf(lambda c: np.log((1 + n_df(c)[0]) / (1 + n_df(c)[1])) + 1, 1),
                      "normalise with the L2 norm (square root of the sum of squares), not the "
                      "L1 norm."),
            Diagnosis(_tfidf_no_smooth,
                      "smooth the idf as if one extra document contained every term: "
                      "ln((1 + n) / (1 + df)) + 1."),
        ])


# ---------------------------------------------------------------------------------------------
# Chapter 03: one RNN step


def rnn_step(fn) -> CheckResult:
    """Check ``fn(x_t, h_prev, p) -> h_t`` for the tanh RNN in PyTorch's layout."""
    def wrong_relu(x, h, p):
        return scratch.rnn_step(x, h, p, nonlinearity="relu")

    def no_bias(x, h, p):
        return np.tanh(x @ p["weight_ih"].T + h @ p["weight_hh"].T)

    def untransposed(x, h, p):
        return np.tanh(x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"] + p["bias_hh"])

    def no_memory(x, h, p):
        return np.tanh(x @ p["weight_ih"].T + p["bias_ih"] + p["bias_hh"])

    return run_check(
        "rnn_step", fn, _step_cases(1, False, seed=3), scratch.rnn_step,
        arg_names=["x_t", "h_prev", "p"], output_name="h_t",
        diagnoses=[
            Diagnosis(wrong_relu, "the course's RNN step uses tanh, not ReLU."),
            Diagnosis(no_bias, "both biases, bias_ih and bias_hh, are added before the tanh."),
            Diagnosis(untransposed, "PyTorch stores weight_hh as (H_out, H_in): multiply by its "
                                    "transpose, h_prev @ p['weight_hh'].T."),
            Diagnosis(no_memory, "the new state must depend on the previous one through "
                                 "weight_hh; yours ignores h_prev."),
        ])


# Chapter 03, exercise 2: softmax + cross-entropy on the classifier's scores


def _cross_entropy_reference(z, y):
    # The loss is computed in float64 whatever the dtype of z (float32 learners' losses are
    # then compared with rtol 1e-5); the gradient keeps the dtype of z.
    loss, dz = _sm.cross_entropy(np.asarray(z, dtype=np.float64), y)
    return loss, dz.astype(z.dtype)


def _cross_entropy_cases() -> list[Case]:
    rng = _rng(31)
    cases = []
    for b, c, dtype in [(4, 3, np.float64), (5, 7, np.float32), (1, 2, np.float64),
                        (8, 10, np.float64)]:
        z = (2 * rng.standard_normal((b, c))).astype(dtype)
        cases.append(Case((z, rng.integers(0, c, size=b)),
                          f"{np.dtype(dtype).name} scores, B={b}, C={c}"))
    huge = 1000 * rng.standard_normal((3, 4))
    cases.append(Case((huge, np.array([0, 1, 2])), "huge scores (needs log-sum-exp with the max)"))
    wrong = np.array([[0.0, 800.0, -5.0], [3.0, 2.0, 1.0]])
    cases.append(Case((wrong, np.array([0, 0])),
                      "a confidently wrong row: its true class has probability e^-800 "
                      "(log of a softmax that underflowed to 0 gives inf)"))
    cases.append(Case((rng.standard_normal((6, 4)), np.array([3, 3, 3, 3, 3, 3], dtype=np.int32)),
                      "int32 labels, every example of the same class"))
    return cases


def _cross_entropy_wrong(variant: str):
    """Known mistakes; each differs from the reference in one place."""
    def wrong(z, y):
        z64 = np.asarray(z, dtype=np.float64)
        b = z64.shape[0]
        rows = np.arange(b)
        if variant == "naive":
            with np.errstate(all="ignore"):
                e = np.exp(z64)
                probs = e / e.sum(axis=1, keepdims=True)
                log_probs = np.log(probs)
        else:
            shifted = z64 - z64.max(axis=1, keepdims=True)
            log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            probs = np.exp(log_probs)
        picked = log_probs[rows, y]
        loss = -float(np.mean(picked))
        dz = probs.copy()
        dz[rows, y] -= 1.0
        dz /= b
        if variant == "sum":
            loss, dz = -float(np.sum(picked)), dz * b
        elif variant == "grad_not_averaged":
            dz = dz * b
        elif variant == "no_onehot":
            dz = probs / b
        elif variant == "all_columns":
            loss = -float(np.mean(log_probs[:, y]))
        elif variant == "logits_not_log_probs":
            loss = -float(np.mean(z64[rows, y]))
        elif variant == "no_minus":
            loss = float(np.mean(picked))
        return loss, dz.astype(z.dtype)
    return wrong


def cross_entropy(fn) -> CheckResult:
    """Check ``fn(z, y) -> (loss, dz)``: mean softmax cross-entropy and its gradient.

    z : (B, C) scores (float32 or float64), y : (B,) integer class ids. ``loss`` is a number,
    the mean over the batch of ``-log softmax(z)[y]``; ``dz`` (B, C) has the dtype of z and
    equals ``(softmax(z) - onehot(y)) / B``. Reference: ``course_utils.softmax.cross_entropy``.
    """
    return run_check(
        "cross_entropy", fn, _cross_entropy_cases(), _cross_entropy_reference,
        arg_names=["z", "y"], output_name="(loss, dz)", rtol=1e-5,
        diagnoses=[
            Diagnosis(_cross_entropy_wrong("naive"),
                      "exp of a huge score overflows, and log of a probability that underflowed "
                      "to 0 is -inf: compute log-probabilities as (z - max) - log(sum(exp(z - "
                      "max))) (log-sum-exp) instead of log(softmax(z))."),
            Diagnosis(_cross_entropy_wrong("sum"),
                      "the loss is the MEAN over the batch, not the sum; then each row of dz "
                      "carries a factor 1/B."),
            Diagnosis(_cross_entropy_wrong("grad_not_averaged"),
                      "the loss is a mean over B examples, so its gradient must be divided by "
                      "B as well: dz = (softmax(z) - onehot(y)) / B."),
            Diagnosis(_cross_entropy_wrong("no_onehot"),
                      "dz = (softmax(z) - onehot(y)) / B: subtract 1 at the true class of each "
                      "row."),
            Diagnosis(_cross_entropy_wrong("all_columns"),
                      "pick ONE log-probability per row, the true class's: "
                      "log_probs[np.arange(B), y]; log_probs[:, y] takes B columns of every row."),
            Diagnosis(_cross_entropy_wrong("logits_not_log_probs"),
                      "the loss uses the log-PROBABILITY of the true class (after softmax), not "
                      "its raw score."),
            Diagnosis(_cross_entropy_wrong("no_minus"),
                      "cross-entropy is MINUS the mean log-probability, so it is >= 0."),
        ])


# ---------------------------------------------------------------------------------------------
# Chapter 04: backpropagation through time


def _bptt_reference(x, h0, p, dh_all):
    _, cache = scratch.rnn_forward(x, h0, p)
    return scratch.rnn_backward(dh_all, cache)


def _bptt_cases() -> list[Case]:
    rng = _rng(4)
    cases = []
    for t, b, d, h, dtype in [(5, 3, 4, 6, np.float64), (1, 2, 3, 5, np.float64),
                              (7, 1, 2, 3, np.float64), (4, 3, 5, 2, np.float32)]:
        p = _params(rng, d, h, 1, dtype)
        args = (rng.standard_normal((t, b, d)).astype(dtype),
                rng.standard_normal((b, h)).astype(dtype) * 0.5, p,
                rng.standard_normal((t, b, h)).astype(dtype))
        label = "a single time step" if t == 1 else f"T={t}"
        cases.append(Case(args, f"{np.dtype(dtype).name}, {label}, B={b}, D={d}, H={h}"))
    # only the last step receives a gradient: everything else must flow back through time
    p = _params(rng, 3, 4, 1, np.float64)
    dh_last = np.zeros((6, 2, 4))
    dh_last[-1] = rng.standard_normal((2, 4))
    cases.append(Case((rng.standard_normal((6, 2, 3)), np.zeros((2, 4)), p, dh_last),
                      "a loss on the last state only"))
    return cases


def _bptt_wrong(variant: str):
    """Known mistakes, built on one loop so that each differs from the reference in one place."""
    def wrong(x, h0, p, dh_all):
        h_all, _ = scratch.rnn_forward(x, h0, p)
        t_steps = x.shape[0]
        dx = np.zeros_like(x)
        grads = {k: np.zeros_like(v) for k, v in p.items()}
        dh_next = np.zeros_like(h0)
        for t in reversed(range(t_steps)):
            h_prev = h0 if t == 0 else h_all[t - 1]
            if variant == "off_by_one" and t > 0:
                h_prev = h_all[t]
            dh = dh_all[t] + (0 if variant == "no_recursion" else dh_next)
            slope = (1 - h_all[t]) if variant == "one_minus_h" else (1 - h_all[t] ** 2)
            dnet = dh * slope
            dx[t] = dnet @ p["weight_ih"]
            grads["weight_ih"] += dnet.T @ x[t]
            grads["weight_hh"] += dnet.T @ h_prev
            grads["bias_ih"] += dnet.sum(0)
            if variant != "no_bias":
                grads["bias_hh"] += dnet.sum(0)
            dh_next = dnet @ p["weight_hh"]
        return dx, dh_next, grads
    return wrong


def bptt(fn) -> CheckResult:
    """Check ``fn(x, h0, p, dh_all) -> (dx, dh0, grads)`` for the tanh RNN.

    x (T, B, D), h0 (B, H), dh_all (T, B, H) = dLoss/dh_t coming from the outputs.
    grads has the keys of ``p``. The checker runs its own forward pass.
    """
    return run_check(
        "bptt", fn, _bptt_cases(), _bptt_reference, arg_names=["x", "h0", "p", "dh_all"],
        output_name="(dx, dh0, grads)",
        diagnoses=[
            Diagnosis(_bptt_wrong("no_recursion"),
                      "the error at step t must include what flows back from step t+1 "
                      "(dh_next = dnet @ W_hh); yours only uses dh_all[t]."),
            Diagnosis(_bptt_wrong("one_minus_h"),
                      "the derivative of tanh is 1 - h**2, not 1 - h."),
            Diagnosis(_bptt_wrong("off_by_one"),
                      "weight_hh's gradient pairs the error at step t with the PREVIOUS state "
                      "h_{t-1} (h0 at t = 0), not with h_t."),
            Diagnosis(_bptt_wrong("no_bias"),
                      "bias_hh gets the same gradient as bias_ih: the sum of the error terms."),
        ])


# Chapter 04, exercise 1: a numerical gradient by central differences


def _numerical_gradient_reference(f, x, eps=1e-5):
    """Central differences, one entry at a time (CS231n's eval_numerical_gradient)."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        old = x[idx]
        x[idx] = old + eps
        f_plus = float(f(x))
        x[idx] = old - eps
        f_minus = float(f(x))
        x[idx] = old
        grad[idx] = (f_plus - f_minus) / (2 * eps)
    return grad


def _rnn_loss_of_weight_hh():
    """f(W_hh) = sum(c * h_all) of a small tanh RNN: the function chapter 04 checks BPTT on."""
    rng = _rng(41)
    p = _params(rng, 2, 3, 1, np.float64)
    x = rng.standard_normal((4, 2, 2))
    h0 = 0.5 * rng.standard_normal((2, 3))
    c = rng.standard_normal((4, 2, 3))

    def loss(w_hh):
        h_all, _ = scratch.rnn_forward(x, h0, {**p, "weight_hh": w_hh})
        return float(np.sum(c * h_all))
    return loss, p["weight_hh"].copy()


def _numerical_gradient_cases() -> list[Case]:
    rng = _rng(40)
    a = rng.standard_normal((5, 3))

    def cubic(v):
        return float(np.sum(v ** 3))

    def sin_of_product(m):  # m (3, 2): a non-square matrix argument
        return float(np.sum(np.sin(a @ m)))

    def logsumexp(t):
        return float(np.log(np.sum(np.exp(t))))

    rnn_loss, w_hh = _rnn_loss_of_weight_hh()
    return [
        Case((cubic, rng.standard_normal(4), 1e-5), "f(x) = sum(x**3), x of shape (4,)"),
        Case((sin_of_product, rng.standard_normal((3, 2)), 1e-4),
             "f(M) = sum(sin(A @ M)), M of shape (3, 2), eps = 1e-4"),
        Case((logsumexp, rng.standard_normal((2, 3, 2)), 1e-5),
             "f(T) = log(sum(exp(T))), a 3-D array of shape (2, 3, 2)"),
        Case((rnn_loss, w_hh, 1e-6), "the loss of a small tanh RNN as a function of W_hh (3, 3)"),
        Case((cubic, 2 * rng.standard_normal((2, 3)), 1e-2),
             "f(x) = sum(x**3) with a large step eps = 1e-2 (use the eps you are given)"),
        Case((cubic, np.array([[0.7]]), 1e-3), "a single parameter, shape (1, 1)"),
    ]


def _numerical_gradient_wrong(variant: str):
    def wrong(f, x, eps=1e-5):
        x = np.array(x, dtype=np.float64)
        grad = np.zeros_like(x)
        if variant == "all_at_once":
            return np.full_like(x, (float(f(x + eps)) - float(f(x - eps))) / (2 * eps))
        step = 1e-5 if variant == "fixed_eps" else eps
        for idx in np.ndindex(*x.shape):
            old = x[idx]
            x[idx] = old + step
            f_plus = float(f(x))
            if variant == "forward":
                x[idx] = old
                grad[idx] = (f_plus - float(f(x))) / step
                continue
            x[idx] = old - step
            f_minus = float(f(x))
            if variant != "no_restore":
                x[idx] = old
            grad[idx] = (f_plus - f_minus) / (step if variant == "no_two" else 2 * step)
        return grad
    return wrong


def numerical_gradient(fn) -> CheckResult:
    """Check ``fn(f, x, eps=1e-5) -> grad``: the gradient of ``f`` at ``x`` by central
    differences, ``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)`` for every entry i of x.

    f : a function of one float64 array returning a number. x : float64 array of any shape.
    grad : float64 array of the shape of x. x must be unchanged afterwards (if you perturb it in
    place, put back the saved value, ``x[i] = old``; undoing with ``x[i] -= eps`` leaves
    rounding errors behind).
    """
    return run_check(
        "numerical_gradient", fn, _numerical_gradient_cases(), _numerical_gradient_reference,
        arg_names=["f", "x", "eps"], output_name="grad",
        diagnoses=[
            Diagnosis(_numerical_gradient_wrong("forward"),
                      "that is a forward difference (f(x+eps) - f(x)) / eps, whose error is of "
                      "order eps; the central difference (f(x+eps) - f(x-eps)) / (2 eps) has "
                      "error of order eps**2."),
            Diagnosis(_numerical_gradient_wrong("no_two"),
                      "the two points x+eps and x-eps are 2*eps apart: divide by 2*eps."),
            Diagnosis(_numerical_gradient_wrong("all_at_once"),
                      "perturb ONE entry at a time: moving every entry together measures the "
                      "derivative along the all-ones direction, the same number everywhere."),
            Diagnosis(_numerical_gradient_wrong("no_restore"),
                      "after evaluating f at x[i] - eps, put the entry back (x[i] = old) before "
                      "moving on to the next one."),
            Diagnosis(_numerical_gradient_wrong("fixed_eps"),
                      "use the step eps passed as an argument, not a constant of your own."),
        ])


# ---------------------------------------------------------------------------------------------
# Chapter 05: gradient clipping by global norm


def _clip_cases() -> list[Case]:
    rng = _rng(5)

    def grads(dtype, scale):
        return {"weight_ih": (scale * rng.standard_normal((4, 3))).astype(dtype),
                "weight_hh": (scale * rng.standard_normal((4, 4))).astype(dtype),
                "bias": (scale * rng.standard_normal(4)).astype(dtype)}

    g_big = grads(np.float64, 3.0)
    return [
        Case((g_big, 1.0), "float64 gradients with a norm far above max_norm: clip"),
        Case((grads(np.float32, 3.0), 2.5), "float32 gradients above max_norm: clip"),
        Case((grads(np.float64, 0.05), 5.0), "a norm below max_norm: leave them alone"),
        Case(({"w": np.array([3.0, 4.0]), "v": np.zeros((2, 2))}, 1.0),
             "a 3-4-5 triangle: total norm 5, and one all-zero gradient"),
        Case(({"w": (10 * rng.standard_normal((2, 3))).astype(np.float64)}, 0.5),
             "a single gradient array"),
        Case(({"a": np.zeros(3), "b": np.zeros((2, 2))}, 1.0), "all-zero gradients (norm 0)"),
    ]


def _clip_reference(grads, max_norm):
    clipped, total = scratch.clip_grad_norm(grads, max_norm)
    return clipped, float(total)


def _clip_wrong(variant: str):
    def wrong(grads, max_norm):
        if variant == "per_tensor":
            out = {}
            for k, g in grads.items():
                n = np.linalg.norm(g)
                out[k] = g * min(1.0, max_norm / (n + 1e-6))
            return out, float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
        if variant == "value":
            total = float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
            return {k: np.clip(g, -max_norm, max_norm) for k, g in grads.items()}, total
        ord_ = 1 if variant == "l1" else 2
        total = float(sum(np.sum(np.abs(g) ** ord_) for g in grads.values()) ** (1 / ord_))
        scale = max_norm / (total + 1e-6)
        if variant != "always":
            scale = min(1.0, scale)
        clipped = {k: (g * scale).astype(g.dtype) for k, g in grads.items()}
        if variant == "post_norm":
            total = float(np.sqrt(sum(np.sum(g ** 2) for g in clipped.values())))
        return clipped, total
    return wrong


def clip_grad_norm(fn) -> CheckResult:
    """Check ``fn(grads, max_norm) -> (clipped, total_norm)``: clipping by the GLOBAL L2 norm.

    grads: dict name -> array. total_norm is the norm before clipping; the input arrays must
    not be modified. A tiny epsilon in the scale (as PyTorch's 1e-6) is accepted.
    """
    return run_check(
        "clip_grad_norm", fn, _clip_cases(), _clip_reference, arg_names=["grads", "max_norm"],
        output_name="(clipped, total_norm)", rtol=1e-5, atol=1e-7,
        diagnoses=[
            Diagnosis(_clip_wrong("per_tensor"),
                      "clip by the norm of ALL gradients together (one global norm, one scale "
                      "for every array), not each array by its own norm."),
            Diagnosis(_clip_wrong("value"),
                      "this is value clipping (np.clip element by element); norm clipping "
                      "rescales every element by the same factor and keeps the direction."),
            Diagnosis(_clip_wrong("always"),
                      "rescale only when the norm exceeds max_norm; smaller gradients pass "
                      "unchanged."),
            Diagnosis(_clip_wrong("post_norm"),
                      "return the norm measured BEFORE clipping, as torch's clip_grad_norm_ "
                      "does, so training logs show how large the gradient really was."),
            Diagnosis(_clip_wrong("l1"),
                      "use the L2 norm: the square root of the sum of all squared elements."),
        ])


# ---------------------------------------------------------------------------------------------
# Chapter 05, exercise 2: rescale a matrix to a chosen spectral radius


def _radius_cases() -> list[Case]:
    rng = _rng(55)
    skew = np.array([[0.0, -2.0, 0.3], [2.0, 0.1, 0.0], [0.5, 0.0, 0.2]])  # complex pair on top
    neg = np.array([[-3.0, 1.0, 0.0], [0.0, 1.0, 2.0], [0.0, 0.0, 0.5]])  # top eigenvalue -3
    return [
        Case((rng.standard_normal((5, 5)), 0.9), "float64, a random 5x5 matrix, rho = 0.9"),
        Case((rng.standard_normal((7, 7)).astype(np.float32), 1.2),
             "float32, a random 7x7 matrix, rho = 1.2"),
        Case((skew, 1.0), "the largest eigenvalues are a complex pair (about +-2i)"),
        Case((neg, 0.5), "the eigenvalue of largest modulus is negative (-3)"),
        Case((np.array([[4.0]]), 1.0), "a 1x1 matrix"),
        Case((rng.standard_normal((4, 4)).astype(np.float32) * 10, 0.05),
             "float32, large entries, a small target radius"),
    ]


def _radius_wrong(variant: str):
    def wrong(W, rho):
        W = np.asarray(W)
        eig = np.linalg.eigvals(W.astype(np.float64))
        size = {"spectral_norm": lambda: np.linalg.norm(W, 2),
                "frobenius": lambda: np.linalg.norm(W),
                "max_real": lambda: np.max(eig.real),
                "abs_real": lambda: np.max(np.abs(eig.real)),
                "max_entry": lambda: np.max(np.abs(W)),
                "no_rho": lambda: np.max(np.abs(eig)) * rho}[variant]()
        return (W * (rho / size)).astype(W.dtype)
    return wrong


def scale_to_spectral_radius(fn) -> CheckResult:
    """Check ``fn(W, rho) -> W_scaled``: W (H, H) times one scalar so that the largest
    |eigenvalue| of the result is rho. Same shape and dtype as W; W is not modified."""
    from course_utils import pathologies

    return run_check(
        "scale_to_spectral_radius", fn, _radius_cases(), pathologies.scale_to_spectral_radius,
        arg_names=["W", "rho"], output_name="W_scaled",
        diagnoses=[
            Diagnosis(_radius_wrong("spectral_norm"),
                      "you divided by the largest SINGULAR value (np.linalg.norm(W, 2)); the "
                      "spectral radius is the largest |eigenvalue|, which is smaller for a "
                      "non-symmetric matrix."),
            Diagnosis(_radius_wrong("frobenius"),
                      "np.linalg.norm(W) is the Frobenius norm, not the spectral radius: use "
                      "the eigenvalues (np.linalg.eigvals)."),
            Diagnosis(_radius_wrong("max_real"),
                      "eigenvalues can be complex or negative: take the largest ABSOLUTE value "
                      "(modulus), np.abs(np.linalg.eigvals(W)).max()."),
            Diagnosis(_radius_wrong("abs_real"),
                      "for a complex eigenvalue a + bi the size is sqrt(a^2 + b^2): np.abs of "
                      "the complex number, not of its real part."),
            Diagnosis(_radius_wrong("max_entry"),
                      "the largest entry of W says little about its eigenvalues: compute them."),
            Diagnosis(_radius_wrong("no_rho"),
                      "after dividing by the current radius the matrix has radius 1; multiply "
                      "by rho as well."),
        ])


# ---------------------------------------------------------------------------------------------
# Chapter 05, exercise 3: the size of dh_T/dh_k for every k


def _tanh_states(rng, T, H, dtype, drive=1.0, radius=1.1):
    from course_utils import pathologies

    W = pathologies.scale_to_spectral_radius(rng.standard_normal((H, H)), radius)
    h_all = pathologies.run_rnn(W, drive * rng.standard_normal((T, H)))
    return W.astype(dtype), h_all.astype(dtype)


def _jacobian_cases() -> list[Case]:
    rng = _rng(56)
    cases = []
    for T, H, dtype in [(8, 5, np.float64), (12, 3, np.float32), (6, 7, np.float64)]:
        W, h_all = _tanh_states(rng, T, H, dtype)
        cases.append(Case((W, h_all), f"{np.dtype(dtype).name}, T={T}, H={H}"))
    W, h_all = _tanh_states(rng, 1, 4, np.float64)
    cases.append(Case((W, h_all), "a single step, T=1"))
    W, h_all = _tanh_states(rng, 9, 1, np.float64, radius=0.9)
    cases.append(Case((W, h_all), "one hidden unit, H=1"))
    W = rng.standard_normal((4, 4))
    cases.append(Case((W, np.zeros((10, 4))), "all states zero (tanh' = 1: the linear case)"))
    W, h_all = _tanh_states(rng, 7, 4, np.float64, drive=5.0)
    h_all[2, 1] = 1.0
    h_all[4, 3] = -1.0
    cases.append(Case((W, h_all), "strong inputs: saturated states, some exactly +-1"))
    return cases


def _jacobian_reference(W_hh, h_all):
    from course_utils import pathologies

    return pathologies.jacobian_norms(W_hh, h_all, "tanh")


def _jacobian_wrong(variant: str):
    def wrong(W, h_all):
        T, H = h_all.shape
        d = {"one_minus_h": 1 - h_all, "linear": np.ones_like(h_all)}.get(variant,
                                                                          1 - h_all**2)
        if variant == "off_by_one":  # slope of the PREVIOUS state (h_0 = 0 has slope 1)
            d = np.concatenate([np.ones((1, H), h_all.dtype), d[:-1]])
        P = np.eye(H, dtype=h_all.dtype)
        out = np.empty(T + 1, dtype=h_all.dtype)
        out[T] = 1.0
        prod_of_norms = 1.0
        for t in range(T, 0, -1):
            J = W * d[t - 1][None, :] if variant == "columns" else d[t - 1][:, None] * W
            if variant == "transpose":
                J = d[t - 1][:, None] * W.T
            P = J @ P if variant == "order" else P @ J
            prod_of_norms *= np.linalg.norm(J, 2)
            if variant == "frobenius":
                out[t - 1] = np.linalg.norm(P)
            elif variant == "product_of_norms":
                out[t - 1] = prod_of_norms
            else:
                out[t - 1] = np.linalg.norm(P, 2)
        if variant == "frobenius":
            out[T] = np.sqrt(H)
        return out[::-1].copy() if variant == "by_lag" else out
    return wrong


def jacobian_norms(fn) -> CheckResult:
    """Check ``fn(W_hh, h_all) -> norms`` for a tanh RNN.

    W_hh (H, H) in PyTorch layout, h_all (T, H) the states h_1 .. h_T. Expected: (T + 1,) in
    the dtype of h_all with ``norms[k] = ||dh_T/dh_k||_2`` (spectral norm) for k = 0 .. T,
    where ``dh_T/dh_k = J_T ... J_{k+1}`` and ``J_t = diag(1 - h_t**2) W_hh``; norms[T] = 1.
    """
    hints = {
        "order": "dh_T/dh_k = J_T J_{T-1} ... J_{k+1}: start from the identity at k = T and "
                 "multiply each new (earlier) Jacobian on the RIGHT, P = P @ J_t.",
        "columns": "J_t = diag(f'(net_t)) W_hh scales the ROWS of W_hh (unit i's slope "
                   "multiplies row i): d[:, None] * W_hh, not W_hh * d.",
        "transpose": "with PyTorch's layout h_t = tanh(W_hh h_{t-1} + ...), so the Jacobian is "
                     "diag(1 - h_t**2) @ W_hh, without transposing W_hh.",
        "one_minus_h": "the derivative of tanh, written with its output, is 1 - h**2.",
        "linear": "include the derivative of tanh: J_t = diag(1 - h_t**2) W_hh.",
        "off_by_one": "J_t = dh_t/dh_{t-1} uses the slope at step t, 1 - h_all[t-1]**2 (h_all "
                      "starts at h_1), not the slope of the previous state.",
        "frobenius": "use the spectral norm, np.linalg.norm(P, 2) (largest singular value), "
                     "not the Frobenius norm np.linalg.norm(P).",
        "product_of_norms": "take the norm of the PRODUCT of the Jacobians; the product of "
                            "their norms is only an upper bound.",
        "by_lag": "index the output by k (norms[T] = 1 for k = T), not by the lag T - k.",
    }
    return run_check(
        "jacobian_norms", fn, _jacobian_cases(), _jacobian_reference,
        arg_names=["W_hh", "h_all"], output_name="norms",
        diagnoses=[Diagnosis(_jacobian_wrong(v), hint) for v, hint in hints.items()])


# ---------------------------------------------------------------------------------------------
# Chapter 06: one LSTM step


def _lstm_parts(x, h, p):
    z = x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
    return np.split(z, 4, axis=-1)


def _sig(v):
    return 1 / (1 + np.exp(-v))


def _lstm_wrong(variant: str):
    def wrong(x, h, c, p):
        if variant == "no_bias":
            zi, zf, zg, zo = np.split(x @ p["weight_ih"].T + h @ p["weight_hh"].T, 4, axis=-1)
        else:
            zi, zf, zg, zo = _lstm_parts(x, h, p)
        if variant == "gate_order":  # i, f, o, g: a common layout in blog posts
            zg, zo = zo, zg
        i, f, g, o = _sig(zi), _sig(zf), np.tanh(zg), _sig(zo)
        if variant == "no_input_gate":
            i = np.ones_like(i)
        if variant == "one_minus_f":
            f = 1 - f
        c_new = f * c + i * g
        h_new = o * c_new if variant == "no_cell_tanh" else o * np.tanh(c_new)
        return h_new, c_new
    return wrong


def lstm_step(fn) -> CheckResult:
    """Check ``fn(x_t, h_prev, c_prev, p) -> (h_t, c_t)``; gate rows ordered i, f, g, o."""
    return run_check(
        "lstm_step", fn, _step_cases(4, True, seed=6), scratch.lstm_step,
        arg_names=["x_t", "h_prev", "c_prev", "p"], output_name="(h_t, c_t)",
        diagnoses=[
            Diagnosis(_lstm_wrong("gate_order"),
                      "PyTorch stacks the gate rows as i, f, g, o (input, forget, cell "
                      "candidate, output); you used i, f, o, g."),
            Diagnosis(_lstm_wrong("no_cell_tanh"),
                      "the output is h_t = o * tanh(c_t): squash the cell before exposing it."),
            Diagnosis(_lstm_wrong("no_input_gate"),
                      "the candidate g enters the cell through the input gate: c = f*c + i*g."),
            Diagnosis(_lstm_wrong("one_minus_f"),
                      "f multiplies the old cell directly (f near 1 means KEEP); you used 1-f."),
            Diagnosis(_lstm_wrong("no_bias"), "add both biases, bias_ih and bias_hh."),
        ])


# ---------------------------------------------------------------------------------------------
# Chapter 07: one GRU step


def _gru_wrong(variant: str):
    def wrong(x, h, p):
        gi = x @ p["weight_ih"].T + p["bias_ih"]
        w_hr, w_hz, w_hn = np.split(p["weight_hh"], 3, axis=0)
        b_hr, b_hz, b_hn = np.split(p["bias_hh"], 3)
        i_r, i_z, i_n = np.split(gi, 3, axis=-1)
        r = _sig(i_r + h @ w_hr.T + b_hr)
        z = _sig(i_z + h @ w_hz.T + b_hz)
        if variant == "swap_rz":
            r, z = z, r
        if variant == "no_reset":
            r = np.ones_like(r)
        if variant == "reset_before":
            n = np.tanh(i_n + (r * h) @ w_hn.T + b_hn)
        elif variant == "bias_outside":
            n = np.tanh(i_n + r * (h @ w_hn.T) + b_hn)
        else:
            n = np.tanh(i_n + r * (h @ w_hn.T + b_hn))
        if variant == "flip_z":
            return z * n + (1 - z) * h
        return (1 - z) * n + z * h
    return wrong


def gru_step(fn) -> CheckResult:
    """Check ``fn(x_t, h_prev, p) -> h_t`` in PyTorch's convention (rows r, z, n; reset after
    the matrix product; ``h_t = (1 - z) * n + z * h_prev``)."""
    return run_check(
        "gru_step", fn, _step_cases(3, False, seed=7), scratch.gru_step,
        arg_names=["x_t", "h_prev", "p"], output_name="h_t",
        diagnoses=[
            Diagnosis(_gru_wrong("reset_before"),
                      "that is the original paper's reset-BEFORE candidate, W_hn (r*h); PyTorch "
                      "applies r after the product: r * (W_hn h + b_hn)."),
            Diagnosis(_gru_wrong("flip_z"),
                      "in PyTorch's convention z is the share of the OLD state kept: "
                      "h_t = (1 - z) * n + z * h_prev."),
            Diagnosis(_gru_wrong("bias_outside"),
                      "b_hn sits inside the reset product: r * (h @ W_hn.T + b_hn)."),
            Diagnosis(_gru_wrong("no_reset"),
                      "the reset gate r must scale the recurrent part of the candidate."),
            Diagnosis(_gru_wrong("swap_rz"),
                      "the gate rows are ordered r, z, n: the first block is the reset gate."),
        ])


# ---------------------------------------------------------------------------------------------
# Chapter 01 (more exercises): the bag-of-words count matrix, cosine similarity


def _count_cases() -> list[Case]:
    rng = _rng(11)
    words = ["good", "bad", "movie", "plot", "not", "the", "acting", "dull", "fun", "a", "cast",
             "story"]
    cases = [Case(([["the", "cat", "sat", "on", "the", "mat"], ["the", "dog"]],
                   {"cat": 0, "dog": 1, "mat": 2, "on": 3, "sat": 4, "the": 5}),
                  "two short documents, alphabetical vocabulary")]
    shuffled = {w: j for j, w in enumerate(rng.permutation(words[:8]).tolist())}
    docs = [rng.choice(words[:8], size=int(rng.integers(1, 9))).tolist() for _ in range(5)]
    cases.append(Case((docs, shuffled), "5 documents, a vocabulary in NON-alphabetical order"))
    vocab = {w: j for j, w in enumerate(sorted(words[:6]))}
    docs = [rng.choice(words, size=int(rng.integers(3, 10))).tolist() for _ in range(7)]
    cases.append(Case((docs, vocab), "7 documents with words missing from the vocabulary "
                                     "(ignore them)"))
    cases.append(Case(([["good", "good", "good"], [], ["bad", "good"]], {"bad": 0, "good": 1,
                                                                        "plot": 2}),
                      "an empty document and a vocabulary term that never occurs"))
    return cases


def _count_reference(docs, vocab):
    from course_utils import bow

    return bow.count_matrix(docs, vocab)


def _count_wrong(variant: str):
    def wrong(docs, vocab):
        if variant == "sorted":
            vocab = {w: j for j, w in enumerate(sorted(vocab))}
        out = np.zeros((len(docs), len(vocab)), dtype=np.int64)
        for i, doc in enumerate(docs):
            for tok in doc:
                if tok in vocab:
                    if variant == "binary":
                        out[i, vocab[tok]] = 1
                    else:
                        out[i, vocab[tok]] += 1
        return out
    return wrong


def count_matrix(fn) -> CheckResult:
    """Check ``fn(docs, vocab) -> counts``: docs is a list of N token lists, vocab a dict
    term -> column (V columns); counts (N, V) holds how often each term occurs in each document.
    Tokens that are not in vocab are ignored. Any integer or float dtype is accepted."""
    return run_check(
        "count_matrix", fn, _count_cases(), _count_reference, arg_names=["docs", "vocab"],
        output_name="counts", check_dtype=False,
        diagnoses=[
            Diagnosis(_count_wrong("binary"),
                      "count every occurrence (a word used twice gives 2), not just whether the "
                      "word occurs."),
            Diagnosis(_count_wrong("sorted"),
                      "put each term in the column vocab[term] gives; do not re-sort the "
                      "vocabulary yourself."),
        ])


def _cosine_cases() -> list[Case]:
    rng = _rng(12)
    cases = [Case((rng.standard_normal((4, 6)),), "float64, 4 vectors of length 6"),
             Case((rng.random((5, 3)).astype(np.float32),), "float32, 5 vectors of length 3"),
             Case((rng.standard_normal((1, 7)),), "a single vector: the answer is [[1.0]]")]
    zero = rng.random((4, 5))
    zero[2] = 0
    cases.append(Case((zero,), "an all-zero row (an empty document): its similarities are 0"))
    cases.append(Case((np.abs(rng.standard_normal((3, 4))) * np.array([[1.0], [10.0], [1000.0]]),),
                      "rows of very different lengths (length must not matter)"))
    return cases


def _cosine_reference(x):
    from course_utils import bow

    return bow.cosine_similarity(x)


def _cosine_wrong(variant: str):
    def wrong(x):
        if variant == "dot":
            return x @ x.T
        if variant == "columns":
            u = x / np.linalg.norm(x, axis=0, keepdims=True)
            return u @ u.T
        if variant == "one_side":
            return (x / np.linalg.norm(x, axis=1, keepdims=True)) @ x.T
        if variant == "distance":
            return 1 - _cosine_reference(x)
        return np.corrcoef(x).astype(x.dtype)  # "pearson": centred rows
    return wrong


def cosine_similarity(fn) -> CheckResult:
    """Check ``fn(x) -> sim``: x (N, V) float, sim (N, N) of x's dtype, sim[i, j] the cosine of
    the angle between rows i and j; a zero row has similarity 0 with every row (itself too)."""
    return run_check(
        "cosine_similarity", fn, _cosine_cases(), _cosine_reference, arg_names=["x"],
        output_name="similarity",
        diagnoses=[
            Diagnosis(_cosine_wrong("dot"),
                      "divide by the lengths: cos = <x_i, x_j> / (|x_i| |x_j|); a plain dot "
                      "product grows with the length of the documents."),
            Diagnosis(_cosine_wrong("one_side"),
                      "normalise BOTH rows, not only the first one."),
            Diagnosis(_cosine_wrong("columns"),
                      "normalise each ROW (one document) to unit length: np.linalg.norm(x, "
                      "axis=1, keepdims=True)."),
            Diagnosis(_cosine_wrong("distance"),
                      "that is the cosine distance 1 - cos; return the similarity itself."),
            Diagnosis(_cosine_wrong("pearson"),
                      "np.corrcoef subtracts each row's mean first (Pearson correlation); cosine "
                      "similarity does not centre the vectors."),
        ])


# ---------------------------------------------------------------------------------------------
# Chapter 02: convolution + ReLU + max-over-time pooling; receptive fields

# (T, B, D, C, k, dtype): T never equals B, D never equals k, so a transposed layout fails by
# shape. The width-1 case is float64: with k = 1 flipping and padding change nothing, and the
# first float32 case is where a right-valued, wrong-dtype answer fails (it must get no hint).
_CONV_SHAPES = [(7, 3, 4, 5, 3, np.float64), (9, 2, 3, 4, 2, np.float32),
                (6, 4, 5, 2, 4, np.float32), (5, 1, 2, 3, 1, np.float64)]


def _conv_confusable(t: int, k: int) -> set[str]:
    """Mistakes that give the right answer whatever the numbers, for this T and k."""
    return ({"flipped", "same_padding"} if k == 1 else set()) | (
        {"mean_pool"} if t == k else set())


def _conv_cases() -> list[Case]:
    """Random cases, redrawn until every known mistake gives a different answer (so a hint is
    never shown for a mistake the case cannot tell apart from the right answer)."""
    from course_utils.checking import Mismatch, compare

    rng = _rng(21)
    def telling(args) -> bool:
        expected = _conv_reference(*args)
        t, k = args[0].shape[0], args[1].shape[2]
        for variant in set(_CONV_VARIANTS) - _conv_confusable(t, k):
            try:
                compare(_conv_wrong(variant)(*args), expected, "pooled", check_dtype=False)
            except Mismatch:
                continue
            return False
        return True

    def draw(t, b, d, c, k, dtype, bias_scale=0.5):
        while True:
            bias = bias_scale * rng.standard_normal(c)
            bias[0] = -4.0  # one filter mostly switched off, so the ReLU matters
            args = (rng.standard_normal((t, b, d)).astype(dtype),
                    rng.standard_normal((c, d, k)).astype(dtype), bias.astype(dtype))
            if telling(args):
                return args

    cases = []
    for t, b, d, c, k, dtype in _CONV_SHAPES:
        cases.append(Case(draw(t, b, d, c, k, dtype),
                          f"{np.dtype(dtype).name}, T={t}, B={b}, D={d}, C={c}, k={k}"))
    cases.append(Case(draw(3, 2, 4, 5, 3, np.float64), "T = k: exactly one window"))
    cases.append(Case(draw(8, 3, 2, 4, 3, np.float64, bias_scale=6.0),
                      "large biases of both signs: ReLU turns some filters off (outputs 0)"))
    return cases


_CONV_VARIANTS = ("flipped", "no_relu", "mean_pool", "no_bias", "missing_last", "same_padding")


def _conv_wrong(variant: str):
    def wrong(x, weight, bias):
        from course_utils import cnn

        if variant == "flipped":
            weight = weight[:, :, ::-1]
        if variant == "no_bias":
            bias = np.zeros_like(bias)
        if variant == "same_padding":
            k = weight.shape[2]
            pad = np.zeros((k - 1,) + x.shape[1:], dtype=x.dtype)
            x = np.concatenate([pad, x, pad])
        h = cnn.conv1d(x, weight, bias)
        if variant == "missing_last":
            h = h[:-1] if len(h) > 1 else np.zeros_like(h)
        if variant != "no_relu":
            h = np.maximum(h, 0)
        return h.mean(axis=0) if variant == "mean_pool" else h.max(axis=0)
    return wrong


def _conv_reference(x, weight, bias):
    from course_utils import cnn

    return cnn.conv_relu_maxpool(x, weight, bias)


def conv_relu_maxpool(fn) -> CheckResult:
    """Check ``fn(x, weight, bias) -> pooled``: x (T, B, D) time-major, weight (C, D, k) in
    ``nn.Conv1d``'s layout, bias (C,); a 'valid' convolution (stride 1, no padding, filter not
    flipped, as in PyTorch), ReLU, then the max over the T - k + 1 positions: pooled (B, C)."""
    return run_check(
        "conv_relu_maxpool", fn, _conv_cases(), _conv_reference,
        arg_names=["x", "weight", "bias"], output_name="pooled",
        diagnoses=[
            Diagnosis(_conv_wrong("flipped"),
                      "do not flip the filter: like nn.Conv1d, compute sum_j weight[:, :, j] @ "
                      "x[t + j] (a cross-correlation)."),
            Diagnosis(_conv_wrong("no_relu"),
                      "apply the ReLU, max(0, .), to the feature maps (before or after the max "
                      "gives the same result)."),
            Diagnosis(_conv_wrong("mean_pool"),
                      "pool with the MAXIMUM over time, not the mean."),
            Diagnosis(_conv_wrong("no_bias"), "add each filter's bias."),
            Diagnosis(_conv_wrong("missing_last"),
                      "a sequence of T steps has T - k + 1 windows (t = 0 .. T-k); the last one "
                      "is missing."),
            Diagnosis(_conv_wrong("same_padding"),
                      "no padding: only windows that lie fully inside the sequence count."),
        ])


def _rf_cases() -> list[Case]:
    return [
        Case(([(3, 1)],), "one conv layer of width 3"),
        Case(([(3, 1), (3, 1)],), "two conv layers of width 3"),
        Case(([(3, 1), (2, 2), (3, 1)],), "conv 3, pool 2 (stride 2), conv 3"),
        Case(([(4, 2), (3, 1)],), "a strided first layer: conv 4 stride 2, then conv 3"),
        Case(([(5, 1), (2, 2), (3, 1), (2, 2), (3, 1)],), "five layers, two poolings"),
        Case(([(3, 1), (3, 2), (3, 1)],), "an overlapping pooling: width 3, stride 2"),
        Case(([(1, 1), (2, 3), (1, 1)],), "width-1 layers add nothing"),
        Case(([],), "an empty stack: a unit sees its own position only (1)"),
    ]


def _rf_reference(layers):
    from course_utils import cnn

    return cnn.receptive_field(layers)


def _rf_wrong(variant: str):
    def wrong(layers):
        r, jump = 1, 1
        for k, s in layers:
            if variant == "sum_kernels":
                r = (r - 1 if r == 1 else r) + k
                continue
            if variant == "own_stride":
                jump *= s
            r += (k - 1) * (1 if variant == "no_stride" else jump)
            if variant != "own_stride":
                jump *= s
        return r
    return wrong


def receptive_field(fn) -> CheckResult:
    """Check ``fn(layers) -> int``: layers is a list of (kernel, stride) pairs, bottom layer
    first (a pooling of width p and stride p is (p, p)); return how many consecutive input
    positions one unit of the top layer depends on."""
    return run_check(
        "receptive_field", fn, _rf_cases(), _rf_reference, arg_names=["layers"],
        output_name="receptive field",
        diagnoses=[
            Diagnosis(_rf_wrong("no_stride"),
                      "a stride makes every later layer's step cover several input positions: "
                      "multiply (k - 1) by the product of the strides of the layers BELOW."),
            Diagnosis(_rf_wrong("own_stride"),
                      "a layer's own stride does not widen its own window; only the strides of "
                      "the layers below it count."),
            Diagnosis(_rf_wrong("sum_kernels"),
                      "adjacent windows overlap: each layer adds k - 1 steps, not k."),
        ])


# ---------------------------------------------------------------------------------------------
# Chapter 08: parameter counts and the learner's GRU on the surnames


def _param_count_reference(kind, input_dim, hidden):
    blocks = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    return blocks * hidden * (input_dim + hidden + 2)


def _param_count_cases() -> list[Case]:
    sizes = [(64, 128), (3, 5), (1, 1), (300, 100), (7, 2), (2, 32)]
    return [Case((kind, d, h), f"{kind}, input_dim={d}, hidden={h}")
            for d, h in sizes for kind in ("rnn", "lstm", "gru")]


def _param_count_wrong(variant: str):
    def wrong(kind, d, h):
        g = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
        if variant == "one_bias":
            return g * h * (d + h + 1)
        if variant == "no_blocks":
            return h * (d + h + 2)
        if variant == "lstm_three":
            return {"rnn": 1, "lstm": 3, "gru": 3}[kind] * h * (d + h + 2)
        if variant == "no_recurrent":
            return g * h * (d + 2)
        return g * (h * d + h * h)  # no_bias
    return wrong


def recurrent_param_count(fn) -> CheckResult:
    """Check ``fn(kind, input_dim, hidden) -> int``: trainable scalars of a one-layer
    ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (kind "rnn", "lstm" or "gru") with both biases."""
    return run_check(
        "recurrent_param_count", fn, _param_count_cases(), _param_count_reference,
        arg_names=["kind", "input_dim", "hidden"], output_name="parameter count",
        diagnoses=[
            Diagnosis(_param_count_wrong("one_bias"),
                      "PyTorch keeps two bias vectors per gate block, bias_ih and bias_hh."),
            Diagnosis(_param_count_wrong("no_bias"), "the biases are parameters too."),
            Diagnosis(_param_count_wrong("no_blocks"),
                      "each gate (and the candidate) has its own weights: the LSTM stacks 4 "
                      "blocks of H rows, the GRU 3, the RNN 1."),
            Diagnosis(_param_count_wrong("lstm_three"),
                      "the LSTM has 4 blocks (i, f, g, o): three gates AND the cell candidate."),
            Diagnosis(_param_count_wrong("no_recurrent"),
                      "W_hh (H x H per block) maps the previous state; count it."),
        ])


def surname_gru(fn, target: float | None = None, budget_seconds: float | None = None
                ) -> CheckResult:
    """Check ``fn(vocab_size, n_classes) -> (model, training)`` on the surnames.

    ``model`` is a torch module with an ``nn.GRU`` inside that maps int64 character ids (B, L),
    padded with 0 at the front, to logits (B, n_classes); ``training`` is a dict of
    ``training.fit`` settings: ``epochs``, ``lr``, ``batch_size`` and optionally ``clip``,
    ``weight_decay``. The checker seeds PyTorch, builds the model, trains it on one thread with
    the capstone's recipe (``capstone.train_model``) and passes it when the test accuracy
    reaches ``target`` within ``budget_seconds`` of CPU time (defaults in ``capstone``).
    """
    from course_utils import capstone
    from course_utils.checking import _emit

    target = capstone.SURNAME_TARGET if target is None else target
    budget = capstone.SURNAME_BUDGET if budget_seconds is None else budget_seconds
    try:
        status, message = capstone.check_surname_model(fn, target=target, budget_seconds=budget)
    except Exception as exc:  # noqa: BLE001 - a checker never raises at the learner
        status, message = "failed", f"the checker could not run your model: {exc!r}"
    return _emit(CheckResult("surname_gru", status, message))


# ---------------------------------------------------------------------------------------------
# Chapter 06 (more exercises): the gradient along the LSTM's cell path


def _cell_path_reference(f, dc_last):
    """out[k] = dc_last * f[k] * f[k+1] * ... * f[T-1]  (f[t] is the gate f_{t+1})."""
    f, dc_last = np.asarray(f), np.asarray(dc_last)
    T = f.shape[0]
    out = np.empty((T + 1, *dc_last.shape), dtype=f.dtype)
    out[T] = dc_last
    for k in range(T - 1, -1, -1):
        out[k] = out[k + 1] * f[k]
    return out


def _cell_path_cases() -> list[Case]:
    rng = _rng(60)

    def gates(shape, dtype, scale=2.0, shift=0.0):
        return _sig(shift + scale * rng.standard_normal(shape)).astype(dtype)

    cases = []
    for t, b, h, dtype in [(5, 3, 4, np.float64), (7, 2, 3, np.float32), (1, 2, 5, np.float64),
                           (6, 1, 1, np.float64), (4, 3, 2, np.float32)]:
        cases.append(Case((gates((t, b, h), dtype), rng.standard_normal((b, h)).astype(dtype)),
                          f"{np.dtype(dtype).name}, T={t}, B={b}, H={h}"))
    cases.append(Case((np.ones((5, 2, 3)), rng.standard_normal((2, 3))),
                      "every forget gate exactly 1: the gradient must arrive unchanged"))
    blocked = gates((6, 2, 3), np.float64)
    blocked[2, 0, 1] = 0.0
    cases.append(Case((blocked, rng.standard_normal((2, 3))),
                      "one forget gate exactly 0: nothing may pass that step"))
    cases.append(Case((gates((60, 2, 3), np.float64, scale=0.5, shift=5.0),
                       rng.standard_normal((2, 3))),
                      "60 steps with forget gates near 1 (a long memory)"))
    return cases


def _cell_path_wrong(variant: str):
    def wrong(f, dc_last):
        f, dc_last = np.asarray(f), np.asarray(dc_last)
        T = f.shape[0]
        out = np.empty((T + 1, *dc_last.shape), dtype=f.dtype)
        out[T] = dc_last
        for k in range(T - 1, -1, -1):
            if variant == "one_minus":
                out[k] = out[k + 1] * (1 - f[k])
            elif variant == "shifted":  # skips the gate of step k+1
                out[k] = out[k + 1] * (f[k + 1] if k + 1 < T else 1.0)
            elif variant == "sum":
                out[k] = dc_last * f[k:].sum(axis=0)
            else:
                out[k] = out[k + 1] * f[k]
        if variant == "forward":  # products of the EARLY gates f_1 ... f_k
            prods = np.cumprod(np.concatenate([np.ones((1, *f.shape[1:])), f]), axis=0)
            out = (dc_last * prods).astype(f.dtype)
        if variant == "reversed":
            out = out[::-1]
        if variant == "no_last":
            out = out[:T]
        return out
    return wrong


def cell_path_gradient(fn) -> CheckResult:
    """Check ``fn(f, dc_last) -> dc``: the gradient along the LSTM's cell path.

    f : (T, B, H) forget gates, ``f[t-1]`` being f_t; dc_last : (B, H) = dE/dc_T.
    Returns (T + 1, B, H): ``dc[k] = dE/dc_k`` along the cell path only,
    ``dc_last * f_{k+1} * ... * f_T`` (elementwise), so ``dc[T] = dc_last``. Same dtype as f.
    """
    return run_check(
        "cell_path_gradient", fn, _cell_path_cases(), _cell_path_reference,
        arg_names=["f", "dc_last"], output_name="dc",
        diagnoses=[
            Diagnosis(_cell_path_wrong("one_minus"),
                      "c_t = f_t * c_{t-1} + ...: the factor per step is f_t itself (f near 1 "
                      "keeps the gradient), not 1 - f_t."),
            Diagnosis(_cell_path_wrong("shifted"),
                      "dc[k] needs the gates of steps k+1 .. T, i.e. f[k], f[k+1], ..., f[T-1] "
                      "(f[t-1] is f_t); you skipped one factor."),
            Diagnosis(_cell_path_wrong("forward"),
                      "the gradient flows BACKWARD: dc[k] multiplies the gates of the steps "
                      "after k (f_{k+1} .. f_T), not the early ones."),
            Diagnosis(_cell_path_wrong("reversed"),
                      "index k is the step the gradient arrives at: dc[T] = dc_last (nothing "
                      "multiplied yet) and dc[0] carries the product of all T gates."),
            Diagnosis(_cell_path_wrong("no_last"),
                      "return T + 1 arrays, k = 0 .. T, including dc[T] = dc_last."),
            Diagnosis(_cell_path_wrong("sum"),
                      "the cell update is additive, but the chain rule MULTIPLIES the step "
                      "derivatives: dc_{t-1} = dc_t * f_t."),
        ])


# ---------------------------------------------------------------------------------------------
# Chapter 07 (more exercises): converting between the two update-gate conventions


def _flip_z_reference(p):
    """Negate the update-gate block (rows H..2H) of all four arrays; copies, dtypes kept."""
    out = {k: np.array(v, copy=True) for k, v in p.items()}
    H = out["weight_hh"].shape[1]
    for v in out.values():
        v[H:2 * H] *= -1
    return out


def _flip_z_cases() -> list[Case]:
    rng = _rng(70)
    cases = []
    for d, h, dtype in [(4, 3, np.float64), (2, 5, np.float32), (6, 2, np.float64),
                        (1, 1, np.float64), (3, 4, np.float32)]:
        cases.append(Case((_params(rng, d, h, 3, dtype),),
                          f"{np.dtype(dtype).name}, D={d}, H={h}"))
    return cases


def _flip_z_wrong(variant: str):
    def wrong(p):
        out = {k: np.array(v, copy=True) for k, v in p.items()}
        H = out["weight_hh"].shape[1]
        block = {"r_block": slice(0, H), "n_block": slice(2 * H, 3 * H)}.get(variant,
                                                                              slice(H, 2 * H))
        for k, v in out.items():
            if variant == "weights_only" and k.startswith("bias"):
                continue
            if variant == "ih_only" and k.endswith("hh"):
                continue
            if variant == "all_blocks":
                v *= -1
            elif variant == "one_minus":
                v[block] = 1 - v[block]
            else:
                v[block] *= -1
        return out
    return wrong


def flip_update_gate(fn) -> CheckResult:
    """Check ``fn(p) -> p_flipped`` for a GRU parameter dict in PyTorch's layout (rows r, z, n).

    The same GRU written with the opposite update-gate convention (z' = 1 - z) has the update
    gate's pre-activation negated, since 1 - sigmoid(a) = sigmoid(-a): rows H..2H of
    ``weight_ih``, ``weight_hh``, ``bias_ih`` and ``bias_hh`` change sign, everything else stays.
    Expected: a NEW dict with the same keys and dtypes; the input must not be modified.
    """
    return run_check(
        "flip_update_gate", fn, _flip_z_cases(), _flip_z_reference, arg_names=["p"],
        output_name="p_flipped",
        diagnoses=[
            Diagnosis(_flip_z_wrong("one_minus"),
                      "1 - z is a statement about the gate's VALUE; for its pre-activation it "
                      "means a sign change: 1 - sigmoid(a) = sigmoid(-a). Negate the rows, do "
                      "not subtract them from 1."),
            Diagnosis(_flip_z_wrong("weights_only"),
                      "the biases of the update gate change sign too (sigmoid(-(Wx + b)) needs "
                      "-b as well as -W)."),
            Diagnosis(_flip_z_wrong("ih_only"),
                      "the update gate reads h_{t-1} as well: negate its rows in weight_hh and "
                      "bias_hh too."),
            Diagnosis(_flip_z_wrong("all_blocks"),
                      "only the update gate flips; the reset gate and the candidate rows stay "
                      "as they are."),
            Diagnosis(_flip_z_wrong("r_block"),
                      "PyTorch stacks the rows as r, z, n: the update gate is the SECOND block, "
                      "rows H..2H."),
            Diagnosis(_flip_z_wrong("n_block"),
                      "PyTorch stacks the rows as r, z, n: the update gate is the SECOND block, "
                      "rows H..2H."),
        ])
