"""Checkers of chapters 03 and 04 reject plausible wrong implementations and accept correct
ones written differently.

New checkers: ``checks.cross_entropy`` (chapter 03) and ``checks.numerical_gradient``
(chapter 04). The contract checkers ``checks.rnn_step`` and ``checks.bptt`` have their own block
in ``test_checker_strength.py``; the extra wrong versions here are the kind a learner of these
two chapters writes (wrong time index, a missing sum over time, a lost batch average...).
The wrong versions are written independently of the hints in ``checks``.
"""

import numpy as np
import pytest
import torch

from course_utils import scratch
from course_utils.grading import checks
from course_utils.grading.checks import ch04_bptt


def _log_softmax(z):
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


# ------------------------------------------------------------- cross_entropy (chapter 03)
def ce_ok_loops(z, y):
    b, _ = z.shape
    loss = 0.0
    dz = np.zeros_like(z)
    for i in range(b):
        row = z[i].astype(np.float64)
        m = row.max()
        lse = m + np.log(np.sum(np.exp(row - m)))
        loss += lse - row[y[i]]
        p = np.exp(row - lse)
        p[y[i]] -= 1
        dz[i] = p / b
    return loss / b, dz


def ce_ok_float32_math(z, y):
    """All arithmetic in the dtype of z, the loss converted to a Python float at the end."""
    lp = _log_softmax(z)
    b = z.shape[0]
    loss = -lp[np.arange(b), y].mean()
    onehot = np.eye(z.shape[1], dtype=z.dtype)[y]
    return float(loss), (np.exp(lp) - onehot) / z.dtype.type(b)


def ce_loss_as_array(z, y):
    """Right numbers, but the loss is a 0-d array: the stub asks for a Python float."""
    loss, dz = ce_ok_float32_math(z, y)
    return np.asarray(loss), dz


def ce_ok_torch(z, y):
    zt = torch.tensor(z, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(zt, torch.as_tensor(y, dtype=torch.int64))
    loss.backward()
    return loss.item(), zt.grad.numpy()


def ce_ok_scipy_style(z, y):
    from scipy.special import logsumexp, softmax

    b = len(y)
    loss = float(np.mean(logsumexp(z, axis=1) - z[np.arange(b), y]))
    dz = softmax(z, axis=1)
    dz[np.arange(b), y] -= 1
    return loss, (dz / b).astype(z.dtype)


def _ce_parts(z, y):
    b = z.shape[0]
    lp = _log_softmax(z.astype(np.float64))
    probs = np.exp(lp)
    onehot = np.eye(z.shape[1])[y]
    return b, lp, probs, onehot


def ce_naive(z, y):
    b = z.shape[0]
    with np.errstate(all="ignore"):
        e = np.exp(z)
        s = e / e.sum(1, keepdims=True)
        loss = -np.mean(np.log(s[np.arange(b), y]))
    s = s.copy()
    s[np.arange(b), y] -= 1
    return float(loss), s / b


def ce_sum(z, y):
    b, lp, probs, onehot = _ce_parts(z, y)
    return -float(np.sum(lp[np.arange(b), y])), (probs - onehot).astype(z.dtype)


def ce_grad_sign(z, y):
    b, lp, probs, onehot = _ce_parts(z, y)
    return -float(np.mean(lp[np.arange(b), y])), ((onehot - probs) / b).astype(z.dtype)


def ce_mse_gradient(z, y):
    """The gradient of the squared error through the softmax, a classic mix-up."""
    b, lp, probs, onehot = _ce_parts(z, y)
    ds = 2 * (probs - onehot) / b
    dz = probs * (ds - np.sum(ds * probs, axis=1, keepdims=True))
    return -float(np.mean(lp[np.arange(b), y])), dz.astype(z.dtype)


def ce_float64_grad(z, y):
    b, lp, probs, onehot = _ce_parts(z, y)
    return -float(np.mean(lp[np.arange(b), y])), (probs - onehot) / b


def ce_inplace(z, y):
    z -= z.max(axis=1, keepdims=True)  # changes the caller's scores
    b = z.shape[0]
    lp = z - np.log(np.exp(z).sum(1, keepdims=True))
    dz = np.exp(lp)
    dz[np.arange(b), y] -= 1
    return -float(np.mean(lp[np.arange(b), y])), dz / b


def ce_eps_in_log(z, y):
    """log(softmax + 1e-8): 'safe' but wrong, visibly so for confident predictions."""
    b, _, probs, onehot = _ce_parts(z, y)
    loss = -float(np.mean(np.log(probs[np.arange(b), y] + 1e-8)))
    return loss, ((probs - onehot) / b).astype(z.dtype)


def ce_all_columns(z, y):
    b, lp, probs, onehot = _ce_parts(z, y)
    return -float(np.mean(lp[:, y])), ((probs - onehot) / b).astype(z.dtype)


def ce_label_smoothing(z, y):
    b, lp, probs, onehot = _ce_parts(z, y)
    target = 0.9 * onehot + 0.1 / z.shape[1]
    return -float(np.mean(np.sum(target * lp, 1))), ((probs - target) / b).astype(z.dtype)


CE_OK = [ce_ok_loops, ce_ok_float32_math, ce_ok_torch, ce_ok_scipy_style]
CE_WRONG = [ce_naive, ce_sum, ce_grad_sign, ce_mse_gradient, ce_float64_grad, ce_inplace,
            ce_eps_in_log, ce_all_columns, ce_label_smoothing, ce_loss_as_array]


# ------------------------------------------------------- numerical_gradient (chapter 04)
def ng_ok_copy(f, x, eps=1e-5):
    grad = np.zeros_like(x)
    flat = x.reshape(-1)
    for i in range(flat.size):
        e = np.zeros_like(flat)
        e[i] = eps
        grad.reshape(-1)[i] = (f((flat + e).reshape(x.shape)) - f((flat - e).reshape(x.shape))) \
            / (2 * eps)
    return grad


def ng_ok_nditer(f, x, eps=1e-5):
    """CS231n's eval_numerical_gradient: perturb in place, restore the saved value."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + eps
        fp = f(x)
        x[ix] = old - eps
        fm = f(x)
        x[ix] = old
        grad[ix] = (fp - fm) / (2 * eps)
        it.iternext()
    return grad


def ng_forward(f, x, eps=1e-5):
    grad = np.zeros_like(x)
    f0 = f(x)
    for ix in np.ndindex(x.shape):
        xp = x.copy()
        xp[ix] += eps
        grad[ix] = (f(xp) - f0) / eps
    return grad


def ng_backward_difference(f, x, eps=1e-5):
    grad = np.zeros_like(x)
    f0 = f(x)
    for ix in np.ndindex(x.shape):
        xm = x.copy()
        xm[ix] -= eps
        grad[ix] = (f0 - f(xm)) / eps
    return grad


def ng_undo_by_subtraction(f, x, eps=1e-5):
    """x[i] += eps ... x[i] -= 2 eps ... x[i] += eps: the entry is not restored bit for bit."""
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        x[ix] += eps
        fp = f(x)
        x[ix] -= 2 * eps
        fm = f(x)
        x[ix] += eps
        grad[ix] = (fp - fm) / (2 * eps)
    return grad


def ng_half_step(f, x, eps=1e-5):
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[ix] += eps / 2
        xm[ix] -= eps / 2
        grad[ix] = (f(xp) - f(xm)) / (2 * eps)
    return grad


def ng_flat(f, x, eps=1e-5):
    return ng_ok_copy(f, x, eps).ravel()


def ng_first_axis_only(f, x, eps=1e-5):
    """Loops over rows and perturbs a whole row at once."""
    grad = np.zeros_like(x)
    for i in range(x.shape[0]):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        grad[i] = (f(xp) - f(xm)) / (2 * eps)
    return grad


def ng_float32(f, x, eps=1e-5):
    return ng_ok_copy(f, x.astype(np.float32), np.float32(eps)).astype(np.float32)


NG_OK = [ng_ok_copy, ng_ok_nditer]
NG_WRONG = [ng_forward, ng_backward_difference, ng_undo_by_subtraction, ng_half_step, ng_flat,
            ng_first_axis_only, ng_float32]


# ------------------------------------------------------------------ rnn_step (chapter 03)
def rs_sigmoid(x, h, p):
    return 1 / (1 + np.exp(-(x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T
                             + p["bias_hh"])))


def rs_one_bias(x, h, p):
    return np.tanh(x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T)


def rs_tanh_inside(x, h, p):
    return np.tanh(x @ p["weight_ih"].T + p["bias_ih"]) + h @ p["weight_hh"].T + p["bias_hh"]


def rs_float64(x, h, p):
    return scratch.rnn_step(x.astype(np.float64), h.astype(np.float64),
                            {k: v.astype(np.float64) for k, v in p.items()})


def rs_hard_tanh(x, h, p):
    return np.clip(x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"],
                   -1, 1)


def rs_inplace(x, h, p):
    h *= 1.0  # harmless ...
    h += x @ p["weight_ih"].T  # ... but this changes the caller's h_prev
    return np.tanh(h @ p["weight_hh"].T + p["bias_ih"] + p["bias_hh"])


RS_WRONG = [rs_sigmoid, rs_one_bias, rs_tanh_inside, rs_float64, rs_hard_tanh, rs_inplace]


# ---------------------------------------------------------------------- bptt (chapter 04)
def bptt_math_indices(variant=""):
    """BPTT written with the chapter's indices (h[0] = h_0, x_t = x[t-1]); ``variant`` plants
    one mistake."""
    def fn(x, h0, p, dh_all):
        h0, dh_all = h0.astype(x.dtype), dh_all.astype(x.dtype)  # everything in x's dtype
        p = {k: v.astype(x.dtype) for k, v in p.items()}
        w_ih, w_hh = p["weight_ih"], p["weight_hh"]
        T = x.shape[0]
        h = [h0]  # the forward pass written out: the own-work guard rejects calls into scratch
        for t in range(1, T + 1):
            h.append(np.tanh(x[t - 1] @ w_ih.T + p["bias_ih"] + h[t - 1] @ w_hh.T + p["bias_hh"]))
        grads = {k: np.zeros_like(v) for k, v in p.items()}
        dx = np.zeros_like(x)
        delta_next = np.zeros_like(h0)
        for t in range(T, 0, -1):
            dh = dh_all[t - 1] + delta_next @ w_hh
            if variant == "recursion_before_slope":
                delta = dh * (1 - h[t] ** 2)
                delta_next_out = dh @ w_hh  # passes dE/dh_t back instead of delta_t
            if variant == "slope_of_previous":
                delta = dh * (1 - h[t - 1] ** 2)
            elif variant == "transposed_recursion":
                delta = (dh_all[t - 1] + delta_next @ w_hh.T) * (1 - h[t] ** 2)
            else:
                delta = dh * (1 - h[t] ** 2)
            xt = x[t - 2] if (variant == "x_off_by_one" and t > 1) else x[t - 1]
            dx[t - 1] = delta @ w_ih
            if variant == "last_step_only" and t < T:  # no sum over time: only step T counts
                delta_next = delta
                continue
            grads["weight_ih"] += delta.T @ xt
            if variant == "whh_with_h_t":
                grads["weight_hh"] += delta.T @ h[t]
            elif variant == "whh_skips_h0" and t == 1:
                pass
            else:
                grads["weight_hh"] += delta.T @ h[t - 1]
            if variant == "bias_mean":
                grads["bias_ih"] += delta.mean(0)
                grads["bias_hh"] += delta.mean(0)
            else:
                grads["bias_ih"] += delta.sum(0)
                grads["bias_hh"] += delta.sum(0)
            delta_next = delta_next_out if variant == "recursion_before_slope" else delta
        dh0 = np.zeros_like(h0) if variant == "no_dh0" else delta_next @ w_hh
        return dx, dh0, grads
    return fn


def bptt_only_recursion(x, h0, p, dh_all):
    """Forgets that h_t also feeds the loss directly when t < T."""
    masked = np.zeros_like(dh_all)
    masked[-1] = dh_all[-1]
    return bptt_math_indices()(x, h0, p, masked)


def bptt_mutates_dh(x, h0, p, dh_all):
    _, cache = scratch.rnn_forward(x, h0, p)
    w_hh = p["weight_hh"]
    h_all = cache["h_all"]
    for t in reversed(range(1, len(x))):  # accumulate into the caller's dh_all
        dh_all[t - 1] += (dh_all[t] * (1 - h_all[t] ** 2)) @ w_hh
    return scratch.rnn_backward(dh_all, cache)


BPTT_WRONG = {v: bptt_math_indices(v) for v in
              ["recursion_before_slope", "slope_of_previous", "transposed_recursion",
               "x_off_by_one", "whh_with_h_t", "whh_skips_h0", "bias_mean", "last_step_only",
               "no_dh0"]}
BPTT_WRONG["only_recursion"] = bptt_only_recursion
BPTT_WRONG["mutates_dh_all"] = bptt_mutates_dh


# ------------------------------------------------------------------------------ the tests
@pytest.mark.parametrize("fn", CE_OK, ids=lambda f: f.__name__)
def test_cross_entropy_accepts_correct(fn):
    assert checks.cross_entropy(fn)


@pytest.mark.parametrize("fn", CE_WRONG, ids=lambda f: f.__name__)
def test_cross_entropy_rejects_wrong(fn):
    assert not checks.cross_entropy(fn)


@pytest.mark.parametrize("fn", NG_OK, ids=lambda f: f.__name__)
def test_numerical_gradient_accepts_correct(fn):
    assert checks.numerical_gradient(fn)


@pytest.mark.parametrize("fn", NG_WRONG, ids=lambda f: f.__name__)
def test_numerical_gradient_rejects_wrong(fn):
    assert not checks.numerical_gradient(fn)


def test_rnn_step_accepts_the_chapter_solution():
    def rnn_step(x_t, h_prev, p):
        return np.tanh(x_t @ p["weight_ih"].T + p["bias_ih"] + h_prev @ p["weight_hh"].T
                       + p["bias_hh"]).astype(x_t.dtype)
    assert checks.rnn_step(rnn_step)


@pytest.mark.parametrize("fn", RS_WRONG, ids=lambda f: f.__name__)
def test_rnn_step_rejects_more_wrong_versions(fn):
    assert not checks.rnn_step(fn)


def test_bptt_accepts_math_index_version():
    assert checks.bptt(bptt_math_indices())


@pytest.mark.parametrize("name", sorted(BPTT_WRONG))
def test_bptt_rejects_more_wrong_versions(name):
    assert not checks.bptt(BPTT_WRONG[name])


@pytest.mark.parametrize("variant", ["no_restore", "forward"])
def test_numerical_gradient_hints(variant, capsys):
    checks.numerical_gradient(ch04_bptt.numerical_gradient_wrong(variant))
    assert "hint:" in capsys.readouterr().out


def test_not_attempted_is_reported():
    def stub(*args):
        raise NotImplementedError("exercise")
    assert checks.cross_entropy(stub).status == "not attempted"
    assert checks.numerical_gradient(stub).status == "not attempted"
