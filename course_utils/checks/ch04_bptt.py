"""Chapter 04 (backpropagation through time): BPTT and a numerical gradient."""

from __future__ import annotations

import numpy as np

from course_utils import scratch
from course_utils.checking import Case, CheckResult, Diagnosis, run_check
from course_utils.checks.common import recurrent_params

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
    dh_last = np.zeros((6, 2, 4))
    dh_last[-1] = rng.standard_normal((2, 4))
    cases.append(Case((rng.standard_normal((6, 2, 3)), np.zeros((2, 4)), p, dh_last),
                      "a loss on the last state only"))
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
        "bptt", fn, bptt_cases(), bptt_reference, arg_names=["x", "h0", "p", "dh_all"],
        output_name="(dx, dh0, grads)",
        diagnoses=[
            Diagnosis(bptt_wrong("no_recursion"),
                      "the error at step t must include what flows back from step t+1 "
                      "(dh_next = dnet @ W_hh); yours only uses dh_all[t]."),
            Diagnosis(bptt_wrong("one_minus_h"),
                      "the derivative of tanh is 1 - h**2, not 1 - h."),
            Diagnosis(bptt_wrong("off_by_one"),
                      "weight_hh's gradient pairs the error at step t with the PREVIOUS state "
                      "h_{t-1} (h0 at t = 0), not with h_t."),
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
        h_all, _ = scratch.rnn_forward(x, h0, {**p, "weight_hh": w_hh})
        return float(np.sum(c * h_all))
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


def numerical_gradient(fn) -> CheckResult:
    """Check ``fn(f, x, eps=1e-5) -> grad``: the gradient of ``f`` at ``x`` by central
    differences, ``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)`` for every entry i of x.

    f : a function of one float64 array returning a number. x : float64 array of any shape.
    grad : float64 array of the shape of x. x must be unchanged afterwards (if you perturb it in
    place, put back the saved value, ``x[i] = old``; undoing with ``x[i] -= eps`` leaves
    rounding errors behind).
    """
    return run_check(
        "numerical_gradient", fn, numerical_gradient_cases(), numerical_gradient_reference,
        arg_names=["f", "x", "eps"], output_name="grad",
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
