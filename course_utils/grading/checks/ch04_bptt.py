"""Chapter 04 (backpropagation through time): BPTT, a numerical gradient, the gradients of a
whole RNN classifier, and a prediction about the accuracy of a one-sided difference."""

from __future__ import annotations

import numpy as np

from course_utils import scratch
from course_utils.grading.checking import (
    Case,
    CheckResult,
    Diagnosis,
    PredictionResult,
    check_prediction,
    run_check,
)
from course_utils.grading.checks.common import (
    last_state_gradient,
    recurrent_params,
    telling_hints,
)

# ---- backpropagation through time


def bptt_reference(x, h0, p, dh_all):
    _, cache = scratch.rnn_forward(x, h0, p)
    return scratch.rnn_backward(dh_all, cache)


def bptt_cases() -> list[Case]:
    rng = np.random.default_rng(4)
    cases = []
    for t, b, d, h, dtype in [(5, 3, 4, 6, np.float64), (1, 2, 3, 5, np.float64),
                              (7, 1, 2, 3, np.float64), (4, 3, 5, 2, np.float32)]:
        p = recurrent_params(rng, d, h, 1, dtype)
        args = (rng.standard_normal((t, b, d)).astype(dtype),
                rng.standard_normal((b, h)).astype(dtype) * 0.5, p,
                rng.standard_normal((t, b, h)).astype(dtype))
        label = "a single time step" if t == 1 else f"T={t}"
        cases.append(Case(args, f"{np.dtype(dtype).name}, {label}, B={b}, D={d}, H={h}"))
    # only the last step receives a gradient: everything else must flow back through time
    p = recurrent_params(rng, 3, 4, 1, np.float64)
    dh_last = last_state_gradient(rng, 6, 2, 4)
    cases.append(Case((rng.standard_normal((6, 2, 3)), np.zeros((2, 4)), p, dh_last),
                      "a loss on the last state only"))
    # the dtype rule: everything is computed in the dtype of x
    p = recurrent_params(rng, 2, 3, 1, np.float64)
    cases.append(Case((rng.standard_normal((4, 5, 2)).astype(np.float32),
                       0.5 * rng.standard_normal((5, 3)), p, rng.standard_normal((4, 5, 3))),
                      "mixed dtypes: x float32, h0, p and dh_all float64 (every output float32)"))
    # no gradient from above: every output is zero
    p = recurrent_params(rng, 3, 2, 1, np.float64)
    cases.append(Case((rng.standard_normal((3, 4, 3)), 0.5 * rng.standard_normal((4, 2)), p,
                       np.zeros((3, 4, 2))), "dh_all all zeros (so is every gradient)"))
    return cases


def bptt_wrong(variant: str):
    """Known mistakes, built on one loop so that each differs from the reference in one place."""
    def wrong(x, h0, p, dh_all):
        h_all, _ = scratch.rnn_forward(x, h0, p)
        t_steps = x.shape[0]
        dx = np.zeros_like(x)
        grads = {k: np.zeros_like(v) for k, v in p.items()}
        dh_next = np.zeros_like(h0)
        for t in reversed(range(t_steps)):
            h_prev = h0 if t == 0 else h_all[t - 1]
            if variant == "off_by_one":  # delta_t paired with h_t, h_all[t] at every step
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

    x (T, B, D) with ``x[t-1]`` = x_t; h0 (B, H) = h_0; dh_all (T, B, H) with ``dh_all[t-1]`` =
    dLoss/dh_t coming from the outputs. Returns NumPy arrays dx (T, B, D), dh0 (B, H) =
    dLoss/dh_0, and grads, a dict with the keys of ``p``, each shaped like its parameter. The
    function runs its own forward pass. Dtype rule: everything is computed in the dtype of x
    (h0, p and dh_all are cast to it, as in ``scratch``), so every output has x's dtype. Edge
    cases: T = 1, B = 1, a gradient on the last state only, dh_all all zeros. Inputs must not be
    modified.
    """
    return run_check(
        "bptt", fn, bptt_cases(), bptt_reference, arg_names=["x", "h0", "p", "dh_all"],
        output_name="(dx, dh0, grads)",
        diagnoses=[
            Diagnosis(bptt_wrong("no_recursion"),
                      "the error at step t must include what flows back from step t+1 "
                      "(dh_next = dnet @ W_hh); yours only uses dh_all[t-1], the gradient from "
                      "above."),
            Diagnosis(bptt_wrong("one_minus_h"),
                      "the derivative of tanh is 1 - h**2, not 1 - h."),
            Diagnosis(bptt_wrong("off_by_one"),
                      "the classic off-by-one of BPTT: weight_hh's gradient pairs the error term "
                      "delta_t with the PREVIOUS state h_{t-1} (the argument h0 at t = 1; in "
                      "0-based arrays h_all[t-2] for t >= 2), not with h_t, which weight_hh did "
                      "not multiply at step t."),
            Diagnosis(bptt_wrong("no_bias"),
                      "bias_hh gets the same gradient as bias_ih: the sum of the error terms."),
        ])


# ---- a numerical gradient by central differences


def numerical_gradient_reference(f, x, eps=1e-5):
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


def rnn_loss_of_weight_hh():
    """f(W_hh) = sum(c * h_all) of a small tanh RNN: the function chapter 04 checks BPTT on."""
    rng = np.random.default_rng(41)
    p = recurrent_params(rng, 2, 3, 1, np.float64)
    x = rng.standard_normal((4, 2, 2))
    h0 = 0.5 * rng.standard_normal((2, 3))
    c = rng.standard_normal((4, 2, 3))

    def loss(w_hh):
        # the forward loop written out rather than scratch.rnn_forward: the learner's
        # numerical_gradient calls this f, and the own-work guard watches calls into scratch
        states = [h0]
        for x_t in x:
            states.append(np.tanh(x_t @ p["weight_ih"].T + p["bias_ih"] + states[-1] @ w_hh.T
                                  + p["bias_hh"]))
        return float(np.sum(c * np.stack(states[1:])))
    return loss, p["weight_hh"].copy()


def numerical_gradient_cases() -> list[Case]:
    rng = np.random.default_rng(40)
    a = rng.standard_normal((5, 3))

    def cubic(v):
        return float(np.sum(v ** 3))

    def sin_of_product(m):  # m (3, 2): a non-square matrix argument
        return float(np.sum(np.sin(a @ m)))

    def logsumexp(t):
        return float(np.log(np.sum(np.exp(t))))

    rnn_loss, w_hh = rnn_loss_of_weight_hh()
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


def numerical_gradient_wrong(variant: str):
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


def rounding_residue(cases: list[Case]):
    """A ``promise`` for ``numerical_gradient``: name the rounding residue of an arithmetic undo.

    A function that perturbs ``x`` in place and undoes the step with ``x[i] -= eps`` (or
    ``+= eps``) returns the right gradient but leaves ``x`` off by a rounding error in some
    entries, since ``(x + eps) - eps`` is not always ``x`` in floating point. The generic
    message ("changed its input in place") would send the learner looking for a missing copy;
    this one names the cause. Any larger change is left to that generic message.
    """
    given = {(id(case.args[0]), case.args[2]): np.array(case.args[1], copy=True)
             for case in cases}

    def promise(args, _out) -> str | None:
        f, x, eps = args[:3]
        before = given.get((id(f), eps))
        if (before is None or not isinstance(x, np.ndarray) or x.shape != before.shape
                or np.array_equal(x, before)):
            return None
        gap = float(np.max(np.abs(x - before)))
        if gap > 1e-12 * max(1.0, float(np.max(np.abs(before)))):
            return None  # a real change, not rounding: the generic in-place message says so
        return (f"x is not bit for bit what you were given: some entries differ by up to "
                f"{gap:.1e}, a rounding residue. Your function did restore x, but by "
                "arithmetic (x[i] -= eps, x[i] += eps, ...), and in floating point adding eps "
                "and taking it away again does not always give the same number back. Save the "
                "entry and put it back instead: old = x[i] ... x[i] = old.")
    return promise


def numerical_gradient(fn) -> CheckResult:
    """Check ``fn(f, x, eps=1e-5) -> grad``: the gradient of ``f`` at ``x`` by central
    differences, ``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)`` for every entry i of x, with
    the step ``eps`` given (not a constant of your own; the cases use 1e-6 to 1e-2).

    f : a function of one float64 array (shaped like x) returning a number (a Python float or
    a NumPy scalar). x : float64 array of any shape, including (1, 1) and 3-D. grad : a float64
    NumPy array of the shape of x (not flattened). x must be unchanged afterwards, bit for bit
    (if you perturb it in place, put back the saved value, ``x[i] = old``; undoing with
    ``x[i] -= eps`` leaves rounding errors behind).
    """
    cases = numerical_gradient_cases()
    return run_check(
        "numerical_gradient", fn, cases, numerical_gradient_reference,
        arg_names=["f", "x", "eps"], output_name="grad", promise=rounding_residue(cases),
        diagnoses=[
            Diagnosis(numerical_gradient_wrong("forward"),
                      "that is a forward difference (f(x+eps) - f(x)) / eps, whose error is of "
                      "order eps; the central difference (f(x+eps) - f(x-eps)) / (2 eps) has "
                      "error of order eps**2."),
            Diagnosis(numerical_gradient_wrong("no_two"),
                      "the two points x+eps and x-eps are 2*eps apart: divide by 2*eps."),
            Diagnosis(numerical_gradient_wrong("all_at_once"),
                      "perturb ONE entry at a time: moving every entry together measures the "
                      "derivative along the all-ones direction, the same number everywhere."),
            Diagnosis(numerical_gradient_wrong("no_restore"),
                      "after evaluating f at x[i] - eps, put the entry back (x[i] = old) before "
                      "moving on to the next one."),
            Diagnosis(numerical_gradient_wrong("fixed_eps"),
                      "use the step eps passed as an argument, not a constant of your own."),
        ])


# ---- a whole classifier: tanh RNN read at h_T, a linear head, mean cross-entropy (issue 13)


def classifier_reference(x, y, p):
    """PyTorch autograd in float64 (h_0 = 0), then cast to the dtype of ``x``; the loss is a
    Python float."""
    import torch

    dtype = x.dtype
    tp = {k: torch.tensor(np.asarray(v, dtype=np.float64), requires_grad=True)
          for k, v in p.items()}
    h = torch.zeros(x.shape[1], tp["weight_hh"].shape[1], dtype=torch.float64)
    for x_t in torch.tensor(np.asarray(x, dtype=np.float64)):
        h = torch.tanh(x_t @ tp["weight_ih"].T + tp["bias_ih"] + h @ tp["weight_hh"].T
                       + tp["bias_hh"])
    logits = h @ tp["weight_hy"].T + tp["bias_y"]
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(np.asarray(y, dtype=np.int64)))
    loss.backward()
    return float(loss.detach()), {k: t.grad.numpy().astype(dtype) for k, t in tp.items()}


CLASSIFIER_VARIANTS = ("grad_not_averaged", "no_onehot", "w_hy_transposed", "bias_y_unsummed",
                       "every_step", "no_recursion", "one_minus_h")


def classifier_wrong(variant: str):
    """Known mistakes, on one loop that differs from the right answer in one place each."""
    def wrong(x, y, p):
        p = {k: np.asarray(v, dtype=x.dtype) for k, v in p.items()}
        t_steps, b_size = x.shape[:2]
        hs = [np.zeros((b_size, p["weight_hh"].shape[1]), dtype=x.dtype)]
        for t in range(t_steps):
            hs.append(np.tanh(x[t] @ p["weight_ih"].T + p["bias_ih"] + hs[-1] @ p["weight_hh"].T
                              + p["bias_hh"]))
        logits = hs[-1] @ p["weight_hy"].T + p["bias_y"]
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        rows = np.arange(b_size)
        loss = -float(np.mean(log_probs[rows, y]))
        dlogits = np.exp(log_probs)
        if variant != "no_onehot":
            dlogits[rows, y] -= 1
        if variant != "grad_not_averaged":
            dlogits /= b_size
        grads = {k: np.zeros_like(v) for k, v in p.items()}
        grads["weight_hy"] = (hs[-1].T @ dlogits if variant == "w_hy_transposed"
                              else dlogits.T @ hs[-1])
        grads["bias_y"] = dlogits if variant == "bias_y_unsummed" else dlogits.sum(axis=0)
        dh_top = dlogits @ p["weight_hy"]
        dh_next = np.zeros_like(hs[0])
        for t in reversed(range(t_steps)):
            dh = dh_next + (dh_top if t == t_steps - 1 or variant == "every_step" else 0)
            slope = (1 - hs[t + 1]) if variant == "one_minus_h" else (1 - hs[t + 1] ** 2)
            da = dh * slope
            grads["weight_ih"] += da.T @ x[t]
            grads["weight_hh"] += da.T @ hs[t]
            grads["bias_ih"] += da.sum(axis=0)
            grads["bias_hh"] += da.sum(axis=0)
            dh_next = 0 * dh_next if variant == "no_recursion" else da @ p["weight_hh"]
        return loss, grads
    return wrong


def classifier_params(rng, d, h, c, dtype, scale=0.6):
    p = recurrent_params(rng, d, h, 1, dtype, scale)
    p["weight_hy"] = (rng.standard_normal((c, h))).astype(dtype)
    p["bias_y"] = (0.5 * rng.standard_normal(c)).astype(dtype)
    return p


def classifier_cases() -> list[Case]:
    rng = np.random.default_rng(44)
    cases = []
    # (T, B, D, H, C, x dtype, parameter dtype): T, B, D, H and C differ within each case
    for t, b, d, h, c, dtype, pdtype, label in [
            (5, 3, 4, 6, 2, np.float64, np.float64, ""),
            (6, 4, 2, 3, 5, np.float32, np.float32, ""),
            (1, 2, 3, 5, 4, np.float64, np.float64, ", a single time step"),
            (7, 1, 2, 3, 4, np.float64, np.float64, ", a batch of one"),
            (5, 3, 4, 2, 3, np.float32, np.float64,
             ", mixed dtypes: x float32, p float64 (everything is float32)")]:
        p = classifier_params(rng, d, h, c, pdtype)
        y = rng.integers(0, c, size=b)
        cases.append(Case((rng.standard_normal((t, b, d)).astype(dtype), y, p),
                          f"{np.dtype(dtype).name}, T={t}, B={b}, D={d}, H={h}, C={c}{label}"))
    p = classifier_params(rng, 3, 4, 5, np.float64)
    cases.append(Case((rng.standard_normal((4, 6, 3)), np.full(6, 2, dtype=np.int32), p),
                      "int32 labels, every example of class 2"))
    p = classifier_params(rng, 2, 3, 3, np.float64, scale=3.0)
    p["weight_hy"] *= 4
    cases.append(Case((3 * rng.standard_normal((5, 4, 2)), rng.integers(0, 3, size=4), p),
                      "large weights: saturated states, confident logits"))
    return cases


def rnn_classifier_grads(fn) -> CheckResult:
    """Check ``fn(x, y, p) -> (loss, grads)`` for a whole sequence classifier.

    A tanh RNN (``p``: ``weight_ih`` (H, D), ``weight_hh`` (H, H), ``bias_ih``, ``bias_hh``
    (H,)) runs over x (T, B, D) from h_0 = 0; its last state h_T (B, H) gives the logits
    ``h_T @ weight_hy.T + bias_y`` (``weight_hy`` (C, H), ``bias_y`` (C,)); the loss is the mean
    over the batch of the softmax cross-entropy against the labels y (B,) (an integer array,
    int64 or int32, values 0 .. C-1).

    Returns ``loss``, a Python float (the checker reads it with ``float(loss)``, so a NumPy
    scalar is accepted too), and ``grads``, a dict with every key of ``p``, each a NumPy array
    shaped like its parameter. Dtype rule: everything is computed in the dtype of x (the
    parameters are cast to it) and every gradient has that dtype. Edge cases: T = 1, B = 1,
    labels all of one class, saturated states. Reference: PyTorch autograd (``cross_entropy``).
    Inputs must not be modified.
    """
    return run_check(
        "rnn_classifier_grads", fn, classifier_cases(), classifier_reference,
        arg_names=["x", "y", "p"], output_name="(loss, grads)", atol=1e-5,
        diagnoses=telling_hints(classifier_wrong, classifier_reference, {
            "grad_not_averaged":
                "the loss is a MEAN over the B examples, so the gradient of the logits carries "
                "a factor 1/B: (softmax - onehot(y)) / B.",
            "no_onehot":
                "the gradient of the cross-entropy with respect to the logits is softmax minus "
                "the one-hot label: subtract 1 at each example's true class.",
            "w_hy_transposed":
                "weight_hy has shape (C, H) and so must its gradient: dlogits.T @ h_T, not "
                "h_T.T @ dlogits.",
            "bias_y_unsummed":
                "bias_y is shared by the whole batch: sum its gradient over the examples, "
                "giving shape (C,).",
            "every_step":
                "the head reads h_T only: the gradient from the loss enters at the LAST step; "
                "the earlier states get theirs only through W_hh.",
            "no_recursion":
                "the gradient must flow back through time: at step t add dnet_{t+1} @ W_hh "
                "(what h_t did to the next step) to the gradient of h_t.",
            "one_minus_h":
                "the derivative of tanh is 1 - h**2, not 1 - h.",
        }))


# ---- predict, then run: how fast does the one-sided difference's error shrink with eps?


def central_difference_errors(eps_values=(1e-2, 1e-3), one_sided: bool = False) -> list[float]:
    """Largest |central difference - exact| over the 9 entries of W_hh, for each eps
    (``one_sided=True``: the forward difference (f(x + eps) - f(x)) / eps instead).

    The function is chapter 04's kind of check: a small tanh RNN's loss sum(c * h_all) as a
    function of W_hh (``rnn_loss_of_weight_hh``); the exact gradient comes from
    ``scratch.rnn_backward``. Deterministic (seed 41), a few milliseconds. At these steps the
    error is the Taylor (truncation) error, far above rounding, so the ratios do not depend on
    the machine's BLAS kernels.
    """
    f, w_hh = rnn_loss_of_weight_hh()
    rng = np.random.default_rng(41)  # the same draws as rnn_loss_of_weight_hh
    p = recurrent_params(rng, 2, 3, 1, np.float64)
    x = rng.standard_normal((4, 2, 2))
    h0 = 0.5 * rng.standard_normal((2, 3))
    c = rng.standard_normal((4, 2, 3))
    _, cache = scratch.rnn_forward(x, h0, p)
    exact = scratch.rnn_backward(c, cache)[2]["weight_hh"]
    method = numerical_gradient_wrong("forward") if one_sided else numerical_gradient_reference
    return [float(np.max(np.abs(method(f, w_hh, eps) - exact))) for eps in eps_values]


def predict_error_ratio(fn) -> PredictionResult:
    """Show the learner's predicted ratio error(eps = 1e-2) / error(eps = 1e-3) of the one-sided
    difference (f(x + eps) - f(x)) / eps next to the measured one (close: within 30 %). A
    prediction, never graded: the prediction is read before the experiment runs."""
    result = check_prediction("predict_error_ratio", fn, measured_error_ratio, rel_tol=0.30)
    if result.actual is not None:
        big, small = central_difference_errors((1e-2, 1e-3), one_sided=True)
        c_big, c_small = central_difference_errors((1e-2, 1e-3))
        print(f"largest error of the one-sided difference over the 9 entries of W_hh: {big:.2e} at "
              f"eps = 1e-2, {small:.2e} at eps = 1e-3; for comparison, the central difference: "
              f"{c_big:.2e} and {c_small:.2e}, a ratio of {c_big / c_small:.0f}")
    return result


def measured_error_ratio() -> float:
    """error(eps = 1e-2) / error(eps = 1e-3) of the one-sided difference, rounded to 1 decimal."""
    big, small = central_difference_errors((1e-2, 1e-3), one_sided=True)
    return round(big / small, 1)
