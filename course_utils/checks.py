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
