"""Chapter 03 (the RNN equations): one RNN step, softmax cross-entropy, and a prediction about
the hand-set one-unit "latch" RNN of the chapter's section 1."""

from __future__ import annotations

import numpy as np

from course_utils import scratch, tasks
from course_utils import softmax as sm
from course_utils.grading.checking import (
    Case,
    CheckResult,
    Diagnosis,
    PredictionResult,
    check_prediction,
    run_check,
)
from course_utils.grading.checks.common import step_cases

# ---- one RNN step


def rnn_step_cases() -> list[Case]:
    return step_cases(1, False, seed=3)


def rnn_step(fn) -> CheckResult:
    """Check ``fn(x_t, h_prev, p) -> h_t`` for the tanh RNN in PyTorch's layout.

    x_t (B, D), h_prev (B, H), p with weight_ih (H, D), weight_hh (H, H), bias_ih, bias_hh (H,).
    h_t is a NumPy array (B, H) in the dtype of x_t: h_prev and p are cast to it (as
    ``scratch.rnn_step``), so x_t float32 with float64 parameters gives float32. Edge cases: B = 1,
    a zero previous state, saturating inputs. Inputs must not be modified.
    """
    def wrong_relu(x, h, p):
        return scratch.rnn_step(x, h, p, nonlinearity="relu")

    def no_bias(x, h, p):
        return np.tanh(x @ p["weight_ih"].T + h @ p["weight_hh"].T)

    def untransposed(x, h, p):
        return np.tanh(x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"] + p["bias_hh"])

    def no_memory(x, h, p):
        return np.tanh(x @ p["weight_ih"].T + p["bias_ih"] + p["bias_hh"])

    return run_check(
        "rnn_step", fn, rnn_step_cases(), scratch.rnn_step,
        arg_names=["x_t", "h_prev", "p"], output_name="h_t",
        diagnoses=[
            Diagnosis(wrong_relu, "the course's RNN step uses tanh, not ReLU."),
            Diagnosis(no_bias, "both biases, bias_ih and bias_hh, are added before the tanh."),
            Diagnosis(untransposed, "PyTorch stores weight_hh as (H_out, H_in): multiply by its "
                                    "transpose, h_prev @ p['weight_hh'].T."),
            Diagnosis(no_memory, "the new state must depend on the previous one through "
                                 "weight_hh; yours ignores h_prev."),
        ])


# ---- softmax + cross-entropy on the classifier's scores


def cross_entropy_reference(z, y):
    # The loss is computed in float64 whatever the dtype of z (float32 learners' losses are
    # then compared with rtol 1e-5); the gradient keeps the dtype of z.
    loss, dz = sm.cross_entropy(np.asarray(z, dtype=np.float64), y)
    return loss, dz.astype(z.dtype)


def cross_entropy_cases() -> list[Case]:
    rng = np.random.default_rng(31)
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


def cross_entropy_wrong(variant: str):
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


def loss_type_promise(args, out) -> str | None:
    """The stub promises a Python ``float`` loss; NumPy's float64 scalar is a subclass of
    ``float`` and passes, a 0-d array or a float32 scalar does not."""
    loss = out[0]
    if isinstance(loss, float) or not isinstance(loss, (np.ndarray, np.generic)):
        return None
    if isinstance(loss, np.ndarray):
        kind = f"a {loss.ndim}-d NumPy array of dtype {loss.dtype}"
    else:
        kind = f"a NumPy {type(loss).__name__} scalar"
    return (f"the loss is {kind}; the exercise asks for a Python float: return float(loss) "
            "(np.mean of a float32 array gives a float32 scalar, np.sum(..., keepdims=True) "
            "an array).")


def cross_entropy(fn) -> CheckResult:
    """Check ``fn(z, y) -> (loss, dz)``: mean softmax cross-entropy and its gradient.

    z : (B, C) scores (float32 or float64), y : (B,) integer class ids (int64 or int32). ``loss``
    is a Python ``float`` (a NumPy float64 scalar passes, being a subclass of float; a 0-d array
    or a float32 scalar does not), the mean over the batch of ``-log softmax(z)[y]``, compared
    with a relative tolerance of 1e-5 (so float32 arithmetic is fine); ``dz`` (B, C) is a NumPy
    array with the dtype of z and equals ``(softmax(z) - onehot(y)) / B``. Edge cases: B = 1,
    huge scores, a true class whose probability underflows to 0, every label the same.
    Reference: ``course_utils.softmax.cross_entropy``.
    """
    return run_check(
        "cross_entropy", fn, cross_entropy_cases(), cross_entropy_reference,
        arg_names=["z", "y"], output_name="(loss, dz)", rtol=1e-5, promise=loss_type_promise,
        diagnoses=[
            Diagnosis(cross_entropy_wrong("naive"),
                      "exp of a huge score overflows, and log of a probability that underflowed "
                      "to 0 is -inf: compute log-probabilities as (z - max) - log(sum(exp(z - "
                      "max))) (log-sum-exp) instead of log(softmax(z))."),
            Diagnosis(cross_entropy_wrong("sum"),
                      "the loss is the MEAN over the batch, not the sum; then each row of dz "
                      "carries a factor 1/B."),
            Diagnosis(cross_entropy_wrong("grad_not_averaged"),
                      "the loss is a mean over B examples, so its gradient must be divided by "
                      "B as well: dz = (softmax(z) - onehot(y)) / B."),
            Diagnosis(cross_entropy_wrong("no_onehot"),
                      "dz = (softmax(z) - onehot(y)) / B: subtract 1 at the true class of each "
                      "row."),
            Diagnosis(cross_entropy_wrong("all_columns"),
                      "pick ONE log-probability per row, the true class's: "
                      "log_probs[np.arange(B), y]; log_probs[:, y] takes B columns of every row."),
            Diagnosis(cross_entropy_wrong("logits_not_log_probs"),
                      "the loss uses the log-PROBABILITY of the true class (after softmax), not "
                      "its raw score."),
            Diagnosis(cross_entropy_wrong("no_minus"),
                      "cross-entropy is MINUS the mean log-probability, so it is >= 0."),
        ])


# ---- predict, then run: how strong must the latch's self-loop be?

LATCH_VOCAB, LATCH_LENGTH, LATCH_MARKER_WEIGHT = 16, 40, 2.0


def latch_accuracy(weight_hh: float, n: int = 2000, length: int = LATCH_LENGTH,
                   seed: int = 0) -> float:
    """Accuracy of chapter 03's hand-set one-unit RNN on its order-task sequences.

    The latch of the chapter's section 1: input weight +2 for marker A, -2 for marker B, 0 for
    fillers, no biases, h_0 = 0, recurrent weight ``weight_hh`` (5 in the chapter); it answers
    "A first" when the last state is positive. Same sequences as the chapter (seed 0, markers
    1 to length-1 steps apart). Runs ``scratch.rnn_forward``.
    """
    p = {"weight_ih": np.zeros((1, LATCH_VOCAB)), "weight_hh": np.array([[float(weight_hh)]]),
         "bias_ih": np.zeros(1), "bias_hh": np.zeros(1)}
    p["weight_ih"][0, tasks.ORDER_A] = LATCH_MARKER_WEIGHT
    p["weight_ih"][0, tasks.ORDER_B] = -LATCH_MARKER_WEIGHT
    tokens, labels = tasks.order_task(n, length, (1, length - 1), seed=seed)
    h_all, _ = scratch.rnn_forward(np.eye(LATCH_VOCAB)[tokens.T], np.zeros((n, 1)), p)
    return float(np.mean((h_all[-1, :, 0] > 0) == labels))


def smallest_latch_weight(lo: float = 0.5, hi: float = 5.0, tol: float = 1e-4) -> float:
    """The smallest recurrent weight at which the latch is right on all 2,000 sequences.

    Bisection on [lo, hi] (about 16 runs of ``latch_accuracy``, well under a second): the
    accuracy jumps from 0 to 1 at one weight, so "all correct" is monotone in the weight.
    """
    if latch_accuracy(hi) < 1.0 or latch_accuracy(lo) == 1.0:
        raise RuntimeError("the latch's threshold is not inside the search interval")
    while hi - lo > tol:
        mid = (lo + hi) / 2
        if latch_accuracy(mid) == 1.0:
            hi = mid
        else:
            lo = mid
    return hi


def predict_latch_weight(fn) -> PredictionResult:
    """Show the learner's predicted smallest self-loop weight of the latch next to the
    measured one (close: within 10 %). A prediction: shown, never graded. The prediction is read
    before the bisection runs; the accuracies around the threshold are printed after it."""
    result = check_prediction("predict_latch_weight", fn,
                              lambda: round(smallest_latch_weight(), 3), rel_tol=0.10)
    actual = result.actual
    if actual is not None:
        weights = (1.0, 0.9 * actual, 0.99 * actual, 1.01 * actual, 1.1 * actual, 5.0)
        print("accuracy on the 2,000 sequences at recurrent weights around it: "
              + ", ".join(f"{w:.3g}: {latch_accuracy(w):.0%}" for w in weights))
    return result
