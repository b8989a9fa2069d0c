"""Chapter 06 (LSTM gating): one LSTM step, the gradient along the cell path, BPTT for the LSTM,
and a "predict, then run" exercise on the forget-gate bias."""

from __future__ import annotations

import numpy as np

from course_utils import gates, scratch
from course_utils.grading.checking import (
    Case,
    CheckResult,
    Diagnosis,
    PredictionResult,
    check_prediction,
    run_check,
)
from course_utils.grading.checks.common import (
    add_step_grads,
    bptt_cases,
    promoted,
    step_cases,
    telling_hints,
    wrong_grad_buffers,
)
from course_utils.scratch import sigmoid

# ---- one LSTM step


def lstm_preactivations(x, h, p):
    z = x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
    return np.split(z, 4, axis=-1)


def lstm_wrong(variant: str):
    def wrong(x, h, c, p):
        if variant == "no_bias":
            zi, zf, zg, zo = np.split(x @ p["weight_ih"].T + h @ p["weight_hh"].T, 4, axis=-1)
        else:
            zi, zf, zg, zo = lstm_preactivations(x, h, p)
        if variant == "gate_order":  # i, f, o, g: a common layout in blog posts
            zg, zo = zo, zg
        i, f, g, o = sigmoid(zi), sigmoid(zf), np.tanh(zg), sigmoid(zo)
        if variant == "no_input_gate":
            i = np.ones_like(i)
        if variant == "one_minus_f":
            f = 1 - f
        c_new = f * c + i * g
        h_new = o * c_new if variant == "no_cell_tanh" else o * np.tanh(c_new)
        return h_new, c_new
    return wrong


def lstm_step_cases() -> list[Case]:
    return step_cases(4, True, seed=6, single_unit=True)


def lstm_step(fn) -> CheckResult:
    """Check ``fn(x_t, h_prev, c_prev, p) -> (h_t, c_t)``; gate rows ordered i, f, g, o.

    x_t (B, D) float32 or float64; h_prev, c_prev (B, H); ``p`` in PyTorch's layout
    (``weight_ih`` (4H, D), ``weight_hh`` (4H, H), ``bias_ih``, ``bias_hh`` (4H,)). Returns two
    NumPy arrays (h_t, c_t), each (B, H). Dtype rule: computed in the dtype of x_t (states and
    parameters are cast to it; float64 parameters with a float32 x_t give float32 outputs).
    Edge cases: B = 1, H = 1, zero previous states, pre-activations large enough to saturate
    the sigmoids and tanh (no NaN). Inputs must not be modified.
    """
    return run_check(
        "lstm_step", fn, lstm_step_cases(), scratch.lstm_step,
        arg_names=["x_t", "h_prev", "c_prev", "p"], output_name="(h_t, c_t)",
        diagnoses=[
            Diagnosis(lstm_wrong("gate_order"),
                      "PyTorch stacks the gate rows as i, f, g, o (input, forget, cell "
                      "candidate, output); you used i, f, o, g."),
            Diagnosis(lstm_wrong("no_cell_tanh"),
                      "the output is h_t = o * tanh(c_t): squash the cell before exposing it."),
            Diagnosis(lstm_wrong("no_input_gate"),
                      "the candidate g enters the cell through the input gate: c = f*c + i*g."),
            Diagnosis(lstm_wrong("one_minus_f"),
                      "f multiplies the old cell directly (f near 1 means KEEP); you used 1-f."),
            Diagnosis(lstm_wrong("no_bias"), "add both biases, bias_ih and bias_hh."),
            Diagnosis(promoted(scratch.lstm_step),
                      "the values are right but the dtype is not: compute in the dtype of x_t "
                      "(cast h_prev, c_prev and the parameters with .astype(x_t.dtype)); NumPy "
                      "would otherwise promote float32 @ float64 to float64."),
        ])


# ---- the gradient along the LSTM's cell path


def cell_path_reference(f, dc_last):
    """out[k] = dc_last * f[k] * f[k+1] * ... * f[T-1]  (f[t] is the gate f_{t+1}), in the dtype
    of f: :func:`cell_path_variant`'s loop with no mistake in it."""
    return cell_path_variant("")(f, dc_last)


def cell_path_cases() -> list[Case]:
    rng = np.random.default_rng(60)

    def gate_values(shape, dtype, scale=2.0, shift=0.0):
        return sigmoid(shift + scale * rng.standard_normal(shape)).astype(dtype)

    cases = []
    for t, b, h, dtype in [(5, 3, 4, np.float64), (7, 2, 3, np.float32), (1, 2, 5, np.float64),
                           (6, 1, 1, np.float64), (4, 3, 2, np.float32)]:
        cases.append(Case((gate_values((t, b, h), dtype),
                           rng.standard_normal((b, h)).astype(dtype)),
                          f"{np.dtype(dtype).name}, T={t}, B={b}, H={h}"))
    cases.append(Case((np.ones((5, 2, 3)), rng.standard_normal((2, 3))),
                      "every forget gate exactly 1: the gradient must arrive unchanged"))
    blocked = gate_values((6, 2, 3), np.float64)
    blocked[2, 0, 1] = 0.0
    cases.append(Case((blocked, rng.standard_normal((2, 3))),
                      "one forget gate exactly 0: nothing may pass that step"))
    cases.append(Case((gate_values((60, 2, 3), np.float64, scale=0.5, shift=5.0),
                       rng.standard_normal((2, 3))),
                      "60 steps with forget gates near 1 (a long memory)"))
    cases.append(Case((gate_values((5, 2, 3), np.float32), rng.standard_normal((2, 3))),
                      "mixed dtypes: f float32, dc_last float64 (the result is float32)"))
    cases.append(Case((gate_values((4, 3, 2), np.float64),
                       rng.standard_normal((3, 2)).astype(np.float32)),
                      "mixed dtypes: f float64, dc_last float32 (the result is float64)"))
    cases.append(Case((np.empty((0, 2, 3)), rng.standard_normal((2, 3))),
                      "T = 0 (no step): the result is dc_last alone, shape (1, B, H)"))
    return cases


def cell_path_variant(variant: str = ""):
    """One loop for the right answer (variant "") and for each known mistake (the others)."""
    def loop(f, dc_last):
        f, dc_last = np.asarray(f), np.asarray(dc_last)
        T = f.shape[0]
        # "promoted": the products in NumPy's promoted dtype, not in the dtype of f
        dtype = np.result_type(f, dc_last) if variant == "promoted" else f.dtype
        out = np.empty((T + 1, *dc_last.shape), dtype=dtype)
        out[T] = dc_last
        for k in range(T - 1, -1, -1):
            if variant == "one_minus":
                out[k] = out[k + 1] * (1 - f[k])
            elif variant == "shifted":  # skips the gate of step k+1
                out[k] = out[k + 1] * (f[k + 1] if k + 1 < T else 1.0)
            elif variant == "gate_k":  # f_k = f[k-1] where f_{k+1} = f[k] belongs (f[-1] wraps)
                out[k] = out[k + 1] * f[k - 1]
            elif variant == "gate_k_clipped":  # the same, with no factor at all for k = 0
                out[k] = out[k + 1] * (f[k - 1] if k >= 1 else 1.0)
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
    return loop


GATE_K_HINT = ("one step back multiplies by the gate of the step AFTER k: dc[k] = dc[k+1] * "
               "f_{k+1}, and f_{k+1} is f[k] (f[t-1] holds f_t). You used f_k = f[k-1], the "
               "gate that multiplies c_{k-1}, not c_k.")


def cell_path_gradient(fn) -> CheckResult:
    """Check ``fn(f, dc_last) -> dc``: the gradient along the LSTM's cell path.

    f : (T, B, H) forget gates, ``f[t-1]`` being f_t; dc_last : (B, H) = dE/dc_T.
    Returns a new NumPy array (T + 1, B, H): ``dc[k] = dE/dc_k`` along the cell path only,
    ``dc_last * f_{k+1} * ... * f_T`` (elementwise), so ``dc[T] = dc_last``. Dtype rule: the
    dtype of f, whatever the dtype of dc_last. Edge cases: T = 1, T = 0 (the result is dc_last
    alone, shape (1, B, H)), B = 1, H = 1, a gate exactly 0 or exactly 1. Inputs must not be
    modified.
    """
    return run_check(
        "cell_path_gradient", fn, cell_path_cases(), cell_path_reference,
        arg_names=["f", "dc_last"], output_name="dc",
        diagnoses=[
            Diagnosis(cell_path_variant("one_minus"),
                      "c_t = f_t * c_{t-1} + ...: the factor per step is f_t itself (f near 1 "
                      "keeps the gradient), not 1 - f_t."),
            Diagnosis(cell_path_variant("shifted"),
                      "dc[k] needs the gates of steps k+1 .. T, i.e. f[k], f[k+1], ..., f[T-1] "
                      "(f[t-1] is f_t); you skipped one factor."),
            Diagnosis(cell_path_variant("gate_k"), GATE_K_HINT),
            Diagnosis(cell_path_variant("gate_k_clipped"), GATE_K_HINT),
            Diagnosis(cell_path_variant("forward"),
                      "the gradient flows BACKWARD: dc[k] multiplies the gates of the steps "
                      "after k (f_{k+1} .. f_T), not the early ones."),
            Diagnosis(cell_path_variant("reversed"),
                      "index k is the step the gradient arrives at: dc[T] = dc_last (nothing "
                      "multiplied yet) and dc[0] carries the product of all T gates."),
            Diagnosis(cell_path_variant("no_last"),
                      "return T + 1 arrays, k = 0 .. T, including dc[T] = dc_last."),
            Diagnosis(cell_path_variant("sum"),
                      "the cell update is additive, but the chain rule MULTIPLIES the step "
                      "derivatives: dc_{t-1} = dc_t * f_t."),
            Diagnosis(cell_path_variant("promoted"),
                      "the values are right but the dtype is not: the result has the dtype of "
                      "f (NumPy promotes float32 * float64 to float64; cast, or allocate the "
                      "output with dtype=f.dtype)."),
        ])


# ---- backpropagation through time for the LSTM (issue 13)


def lstm_bptt_reference(x, h0, c0, p, dh_all):
    """``scratch.lstm_forward`` then ``scratch.lstm_backward`` (tested against torch.nn.LSTM);
    both compute in the dtype of x."""
    *_, cache = scratch.lstm_forward(x, h0, c0, p)
    return scratch.lstm_backward(dh_all, cache)


def _swap_go(a):
    """Exchange the g and o blocks (rows 2H..3H and 3H..4H) of a stacked LSTM array."""
    i, f, g, o = np.split(np.asarray(a), 4, axis=0)
    return np.concatenate([i, f, o, g], axis=0)


LSTM_BPTT_VARIANTS = ("no_cell_carry", "no_h_recursion", "no_tanh_grad", "no_sigmoid_grad",
                      "f_times_c_t", "gate_order", "block_swap", "dc0_before_f",
                      "bias_unsummed", "transposed")


def lstm_bptt_wrong(variant: str):
    """Known mistakes, on one loop that differs from the right answer in one place each."""
    def backward(x, h0, c0, p, dh_all):
        dtype = x.dtype
        h0, c0, dh_all = (np.asarray(a, dtype=dtype) for a in (h0, c0, dh_all))
        p = {k: np.asarray(v, dtype=dtype) for k, v in p.items()}
        t_steps, b_size = x.shape[0], h0.shape[0]
        hs, cs, acts = [h0], [c0], []
        for t in range(t_steps):
            i, f, g, o = lstm_preactivations(x[t], hs[-1], p)
            i, f, g, o = sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)
            cs.append(f * cs[-1] + i * g)
            hs.append(o * np.tanh(cs[-1]))
            acts.append((i, f, g, o))
        grads = wrong_grad_buffers(p, variant, b_size)
        dx = np.zeros_like(x)
        dh_next, dc_next, dc = np.zeros_like(h0), np.zeros_like(c0), np.zeros_like(c0)
        for t in reversed(range(t_steps)):
            i, f, g, o = acts[t]
            tanh_c = np.tanh(cs[t + 1])
            dh = dh_all[t] + (0 if variant == "no_h_recursion" else dh_next)
            dtanh = 1 if variant == "no_tanh_grad" else 1 - tanh_c ** 2
            dc = (0 if variant == "no_cell_carry" else dc_next) + dh * o * dtanh
            c_used = cs[t + 1] if variant == "f_times_c_t" else cs[t]
            ds = [dc * g, dc * c_used, dc * i, dh * tanh_c]
            slopes = ([1, 1, 1 - g ** 2, 1] if variant == "no_sigmoid_grad"
                      else [i * (1 - i), f * (1 - f), 1 - g ** 2, o * (1 - o)])
            blocks = [d * s for d, s in zip(ds, slopes, strict=True)]
            if variant == "block_swap":  # right forward, backward blocks stacked i, f, o, g
                blocks = [blocks[0], blocks[1], blocks[3], blocks[2]]
            da = np.concatenate(blocks, axis=1)
            add_step_grads(grads, variant, x[t], hs[t], da, da)
            dx[t] = da @ p["weight_ih"]
            dh_next = da @ p["weight_hh"]
            dc_next = dc * f
        return dx, dh_next, dc if variant == "dc0_before_f" else dc_next, grads

    def wrong(x, h0, c0, p, dh_all):
        if variant == "gate_order":  # a consistent i, f, o, g layout, forward and backward
            dx, dh0, dc0, grads = backward(x, h0, c0, {k: _swap_go(v) for k, v in p.items()},
                                           dh_all)
            return dx, dh0, dc0, {k: _swap_go(v) for k, v in grads.items()}
        return backward(x, h0, c0, p, dh_all)
    return wrong


def lstm_bptt_cases() -> list[Case]:
    return bptt_cases(gates=4, with_cell=True, seed=66)


def lstm_bptt(fn) -> CheckResult:
    """Check ``fn(x, h0, c0, p, dh_all) -> (dx, dh0, dc0, grads)``: backpropagation through
    time for ``torch.nn.LSTM`` (one layer; gate rows ordered i, f, g, o in ``p``).

    x (T, B, D) time-major; h0, c0 (B, H); ``p``: ``weight_ih`` (4H, D), ``weight_hh`` (4H, H),
    ``bias_ih``, ``bias_hh`` (4H,); dh_all (T, B, H), ``dh_all[t-1]`` = dLoss/dh_t from above
    (nothing reaches the cells from above). The function runs its own forward pass from h0, c0.
    Returns dx (T, B, D), dh0 and dc0 (B, H) and grads, a dict with the keys of ``p``, each
    shaped like its parameter; all NumPy arrays. Dtype rule: everything is computed in the dtype
    of x (h0, c0, p and dh_all are cast to it) and every output has that dtype. Edge cases:
    T = 1, B = 1, zero initial states, a gradient on the last state only. Reference:
    ``scratch.lstm_forward`` / ``lstm_backward``, tested against PyTorch autograd. Inputs must
    not be modified.
    """
    return run_check(
        "lstm_bptt", fn, lstm_bptt_cases(), lstm_bptt_reference,
        arg_names=["x", "h0", "c0", "p", "dh_all"], output_name="(dx, dh0, dc0, grads)",
        diagnoses=telling_hints(lstm_bptt_wrong, lstm_bptt_reference, {
            "no_cell_carry":
                "the cell c_t also feeds c_{t+1} = f_{t+1} * c_t + ...: its gradient must "
                "include what comes back from step t+1, dc_{t+1} * f_{t+1}.",
            "no_h_recursion":
                "h_t feeds the next step's gates too: add dnet_{t+1} @ W_hh to dh_all[t-1] "
                "before going through step t.",
            "no_tanh_grad":
                "h_t = o * tanh(c_t): the path from h_t to c_t has the factor "
                "o * (1 - tanh(c_t)**2).",
            "no_sigmoid_grad":
                "the gates i, f, o are sigmoids of their pre-activations: multiply by "
                "s * (1 - s) (and g by 1 - g**2) before the weights.",
            "f_times_c_t":
                "the forget gate multiplies the PREVIOUS cell: dLoss/df_t = dc_t * c_{t-1} "
                "(c0 at the first step), not dc_t * c_t.",
            "gate_order":
                "PyTorch stacks the gate rows as i, f, g, o; you used i, f, o, g. The "
                "gradient of each block must sit in that block's rows.",
            "block_swap":
                "your forward pass reads the rows as i, f, g, o, but the gradient's blocks are "
                "stacked in another order: dLoss/da_g belongs in rows 2H..3H and dLoss/da_o in "
                "rows 3H..4H.",
            "dc0_before_f":
                "dc0 is the gradient of the initial cell: dc_1 * f_1, one forget gate further "
                "back than dc_1.",
            "bias_unsummed":
                "a bias is shared by the whole batch and all steps: sum its gradient over "
                "both, giving shape (4H,).",
            "transposed":
                "a weight's gradient has the weight's shape: dnet.T @ input, e.g. (4H, D) for "
                "weight_ih, not input.T @ dnet.",
        }))


# ---- "predict, then run": how large a forget bias keeps half a memory for 50 steps?

RETENTION_SHARE, RETENTION_STEPS = 0.5, 50
RETENTION_TABLE_BIASES = (1.0, 2.0, 3.0, 5.0)


def predict_forget_bias(fn) -> PredictionResult:
    """"Predict, then run" (chapter 06): ``fn()`` returns the smallest effective forget-gate bias
    b for which a one-unit LSTM whose forget gate sees only its bias (all weights zero, input
    gate shut, ``gates.bias_only_lstm``) still holds at least half of a stored cell value after
    50 steps. The prediction is read first; only then does the experiment run that LSTM
    (``gates.cell_retention``) and find the threshold by bisection; close means within 10 % of
    it. After the verdict it prints how much your b keeps and a short table of other biases.
    Shown, never graded; never raises.
    """
    result = check_prediction(
        "predict_forget_bias", fn,
        lambda: round(gates.bias_for_retention(RETENTION_SHARE, RETENTION_STEPS), 2),
        rel_tol=0.10)
    if result.close is None:
        return result
    actual = result.actual
    try:
        kept = gates.cell_retention(result.predicted, RETENTION_STEPS)
        print(f"With your b = {result.predicted:g}, the experiment keeps {kept:.1%} of the "
              f"stored value after {RETENTION_STEPS} steps (target: at least "
              f"{RETENTION_SHARE:.0%}).")
    except Exception:  # an extreme prediction must not break the cell
        pass
    for b in sorted((*RETENTION_TABLE_BIASES, actual)):
        f = 1 / (1 + np.exp(-b))
        print(f"forget bias {b:.2f}: f = sigma(b) = {f:.4f}, kept after {RETENTION_STEPS} steps: "
              f"{gates.cell_retention(b, RETENTION_STEPS):.2g}")
    return result
