"""Chapter 07 (GRU): one GRU step, converting between the update-gate conventions, BPTT for the
GRU, and a "predict, then run" exercise on the wine-mixing shares."""

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
    add_step_grads,
    bptt_cases,
    promoted,
    recurrent_params,
    step_cases,
    telling_hints,
    wrong_grad_buffers,
)
from course_utils.scratch import sigmoid

# ---- one GRU step


def gru_wrong(variant: str):
    def wrong(x, h, p):
        gi = x @ p["weight_ih"].T + p["bias_ih"]
        w_hr, w_hz, w_hn = np.split(p["weight_hh"], 3, axis=0)
        b_hr, b_hz, b_hn = np.split(p["bias_hh"], 3)
        i_r, i_z, i_n = np.split(gi, 3, axis=-1)
        r = sigmoid(i_r + h @ w_hr.T + b_hr)
        z = sigmoid(i_z + h @ w_hz.T + b_hz)
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


def gru_step_cases() -> list[Case]:
    return step_cases(3, False, seed=7, single_unit=True)


def gru_step(fn) -> CheckResult:
    """Check ``fn(x_t, h_prev, p) -> h_t`` in PyTorch's convention (rows r, z, n; reset after
    the matrix product; ``h_t = (1 - z) * n + z * h_prev``).

    x_t (B, D) float32 or float64; h_prev (B, H); ``p`` in PyTorch's layout (``weight_ih``
    (3H, D), ``weight_hh`` (3H, H), ``bias_ih``, ``bias_hh`` (3H,)). Returns a NumPy array h_t
    (B, H). Dtype rule: computed in the dtype of x_t (h_prev and the parameters are cast to it;
    float64 parameters with a float32 x_t give a float32 h_t). Edge cases: B = 1, H = 1, a zero
    previous state, pre-activations large enough to saturate the sigmoids and tanh (no NaN).
    Inputs must not be modified.
    """
    return run_check(
        "gru_step", fn, gru_step_cases(), scratch.gru_step,
        arg_names=["x_t", "h_prev", "p"], output_name="h_t",
        diagnoses=[
            Diagnosis(gru_wrong("reset_before"),
                      "that is the original paper's reset-BEFORE candidate, W_hn (r*h); PyTorch "
                      "applies r after the product: r * (W_hn h + b_hn)."),
            Diagnosis(gru_wrong("flip_z"),
                      "in PyTorch's convention z is the share of the OLD state kept: "
                      "h_t = (1 - z) * n + z * h_prev."),
            Diagnosis(gru_wrong("bias_outside"),
                      "b_hn sits inside the reset product: r * (h @ W_hn.T + b_hn)."),
            Diagnosis(gru_wrong("no_reset"),
                      "the reset gate r must scale the recurrent part of the candidate."),
            Diagnosis(gru_wrong("swap_rz"),
                      "the gate rows are ordered r, z, n: the first block is the reset gate."),
            Diagnosis(promoted(scratch.gru_step),
                      "the values are right but the dtype is not: compute in the dtype of x_t "
                      "(cast h_prev and the parameters with .astype(x_t.dtype)); NumPy would "
                      "otherwise promote float32 @ float64 to float64."),
        ])


# ---- converting between the two update-gate conventions


def flip_z_reference(p):
    """Negate the update-gate block (rows H..2H) of all four arrays; copies, dtypes kept."""
    out = {k: np.array(v, copy=True) for k, v in p.items()}
    H = out["weight_hh"].shape[1]
    for v in out.values():
        v[H:2 * H] *= -1
    return out


def flip_z_cases() -> list[Case]:
    rng = np.random.default_rng(70)
    cases = []
    for d, h, dtype in [(4, 3, np.float64), (2, 5, np.float32), (6, 2, np.float64),
                        (1, 1, np.float64), (3, 4, np.float32)]:
        cases.append(Case((recurrent_params(rng, d, h, 3, dtype),),
                          f"{np.dtype(dtype).name}, D={d}, H={h}"))
    mixed = recurrent_params(rng, 3, 2, 3, np.float32)
    mixed["bias_ih"], mixed["bias_hh"] = (mixed[k].astype(np.float64) for k in ("bias_ih",
                                                                              "bias_hh"))
    cases.append(Case((mixed,), "mixed dtypes: float32 weights, float64 biases (each array "
                                "keeps its own dtype)"))
    return cases


def flip_z_wrong(variant: str):
    def wrong(p):
        out = {k: np.array(v, copy=True) for k, v in p.items()}
        H = out["weight_hh"].shape[1]
        block = {"r_block": slice(0, H), "n_block": slice(2 * H, 3 * H)}.get(variant,
                                                                              slice(H, 2 * H))
        if variant == "one_dtype":  # every array in one common dtype
            common = np.result_type(*out.values())
            out = {k: v.astype(common) for k, v in out.items()}
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
    Expected: a NEW dict with the same keys, of new NumPy arrays with the same shapes. Dtype
    rule: each returned array has the dtype of the input array it replaces (float32 weights
    with float64 biases stay so). Edge cases: H = 1, D = 1. The input must not be modified.
    """
    return run_check(
        "flip_update_gate", fn, flip_z_cases(), flip_z_reference, arg_names=["p"],
        output_name="p_flipped",
        diagnoses=[
            Diagnosis(flip_z_wrong("one_minus"),
                      "1 - z is a statement about the gate's VALUE; for its pre-activation it "
                      "means a sign change: 1 - sigmoid(a) = sigmoid(-a). Negate the rows, do "
                      "not subtract them from 1."),
            Diagnosis(flip_z_wrong("weights_only"),
                      "the biases of the update gate change sign too (sigmoid(-(Wx + b)) needs "
                      "-b as well as -W)."),
            Diagnosis(flip_z_wrong("ih_only"),
                      "the update gate reads h_{t-1} as well: negate its rows in weight_hh and "
                      "bias_hh too."),
            Diagnosis(flip_z_wrong("all_blocks"),
                      "only the update gate flips; the reset gate and the candidate rows stay "
                      "as they are."),
            Diagnosis(flip_z_wrong("r_block"),
                      "PyTorch stacks the rows as r, z, n: the update gate is the SECOND block, "
                      "rows H..2H."),
            Diagnosis(flip_z_wrong("n_block"),
                      "PyTorch stacks the rows as r, z, n: the update gate is the SECOND block, "
                      "rows H..2H."),
            Diagnosis(flip_z_wrong("one_dtype"),
                      "the values are right but a dtype is not: each returned array keeps the "
                      "dtype of the array it replaces (a float32 array stays float32, even next "
                      "to float64 ones)."),
        ])


# ---- backpropagation through time for the GRU (issue 13)


def gru_bptt_reference(x, h0, p, dh_all):
    """``scratch.gru_forward`` then ``scratch.gru_backward`` (tested against torch.nn.GRU);
    both compute in the dtype of x."""
    _, cache = scratch.gru_forward(x, h0, p)
    return scratch.gru_backward(dh_all, cache)


def _swap_rz(a):
    """Exchange the r and z blocks (rows 0..H and H..2H) of a stacked GRU array."""
    r, z, n = np.split(np.asarray(a), 3, axis=0)
    return np.concatenate([z, r, n], axis=0)


GRU_BPTT_VARIANTS = ("no_direct_path", "no_recursion", "no_r_on_hidden", "z_sign", "swap_rz",
                     "block_swap", "no_tanh_grad", "bias_unsummed", "transposed")


def gru_bptt_wrong(variant: str):
    """Known mistakes, on one loop that differs from the right answer in one place each."""
    def backward(x, h0, p, dh_all):
        dtype = x.dtype
        h0, dh_all = (np.asarray(a, dtype=dtype) for a in (h0, dh_all))
        p = {k: np.asarray(v, dtype=dtype) for k, v in p.items()}
        t_steps, b_size = x.shape[0], h0.shape[0]
        hs, acts = [h0], []
        for t in range(t_steps):
            i_r, i_z, i_n = np.split(x[t] @ p["weight_ih"].T + p["bias_ih"], 3, axis=1)
            h_r, h_z, h_n = np.split(hs[-1] @ p["weight_hh"].T + p["bias_hh"], 3, axis=1)
            r, z = sigmoid(i_r + h_r), sigmoid(i_z + h_z)
            n = np.tanh(i_n + r * h_n)
            hs.append((1 - z) * n + z * hs[-1])
            acts.append((r, z, n, h_n))
        grads = wrong_grad_buffers(p, variant, b_size)
        dx = np.zeros_like(x)
        dh_next = np.zeros_like(h0)
        for t in reversed(range(t_steps)):
            r, z, n, h_n = acts[t]
            h_prev = hs[t]
            dh = dh_all[t] + (0 if variant == "no_recursion" else dh_next)
            dn = dh * (1 - z) * (1 if variant == "no_tanh_grad" else 1 - n ** 2)
            dz = dh * ((n - h_prev) if variant == "z_sign" else (h_prev - n)) * z * (1 - z)
            dr = dn * h_n * r * (1 - r)
            first, second = (dz, dr) if variant == "block_swap" else (dr, dz)
            da_x = np.concatenate([first, second, dn], axis=1)
            da_h = np.concatenate([first, second, dn if variant == "no_r_on_hidden" else dn * r],
                                  axis=1)
            add_step_grads(grads, variant, x[t], h_prev, da_x, da_h)
            dx[t] = da_x @ p["weight_ih"]
            direct = 0 if variant == "no_direct_path" else dh * z
            dh_next = direct + da_h @ p["weight_hh"]
        return dx, dh_next, grads

    def wrong(x, h0, p, dh_all):
        if variant == "swap_rz":  # a consistent z, r, n layout, forward and backward
            dx, dh0, grads = backward(x, h0, {k: _swap_rz(v) for k, v in p.items()}, dh_all)
            return dx, dh0, {k: _swap_rz(v) for k, v in grads.items()}
        return backward(x, h0, p, dh_all)
    return wrong


def gru_bptt_cases() -> list[Case]:
    return bptt_cases(gates=3, with_cell=False, seed=77)


def gru_bptt(fn) -> CheckResult:
    """Check ``fn(x, h0, p, dh_all) -> (dx, dh0, grads)``: backpropagation through time for
    ``torch.nn.GRU`` (one layer; PyTorch's convention: gate rows ordered r, z, n in ``p``, the
    reset gate applied after the product, n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} +
    b_hn)), h_t = (1 - z_t) * n_t + z_t * h_{t-1}).

    x (T, B, D) time-major; h0 (B, H); ``p``: ``weight_ih`` (3H, D), ``weight_hh`` (3H, H),
    ``bias_ih``, ``bias_hh`` (3H,); dh_all (T, B, H), ``dh_all[t-1]`` = dLoss/dh_t from above.
    The function runs its own forward pass from h0. Returns dx (T, B, D), dh0 (B, H) and grads,
    a dict with the keys of ``p``, each shaped like its parameter; all NumPy arrays. Dtype rule:
    everything is computed in the dtype of x (h0, p and dh_all are cast to it) and every output
    has that dtype. Edge cases: T = 1, B = 1, a zero initial state, a gradient on the last state
    only. Reference: ``scratch.gru_forward`` / ``gru_backward``, tested against PyTorch
    autograd. Inputs must not be modified.
    """
    return run_check(
        "gru_bptt", fn, gru_bptt_cases(), gru_bptt_reference,
        arg_names=["x", "h0", "p", "dh_all"], output_name="(dx, dh0, grads)",
        diagnoses=telling_hints(gru_bptt_wrong, gru_bptt_reference, {
            "no_direct_path":
                "h_{t-1} reaches h_t directly too, through z_t * h_{t-1}: dh_{t-1} gets "
                "dh_t * z_t on top of what flows back through the three gates.",
            "no_recursion":
                "the gradient must flow back through time: add what h_t did to step t+1 to "
                "dh_all[t-1] (the gradient from above for h_t) before going through step t.",
            "no_r_on_hidden":
                "the reset gate multiplies the hidden part of the candidate, r * (W_hn h + "
                "b_hn): the gradient reaching W_hn and b_hn carries the factor r.",
            "z_sign":
                "h_t = (1 - z) n + z h_{t-1}, so dh_t/dz_t = h_{t-1} - n_t, not n_t - h_{t-1}.",
            "swap_rz":
                "PyTorch stacks the GRU's rows as r, z, n: the reset gate is the FIRST block. "
                "The gradient of each block must sit in that block's rows.",
            "block_swap":
                "your forward pass reads the rows as r, z, n, but the gradient's blocks are "
                "stacked in another order: dLoss/da_r belongs in rows 0..H and dLoss/da_z in "
                "rows H..2H.",
            "no_tanh_grad":
                "the candidate is n = tanh(...): multiply by 1 - n**2 on the way to its "
                "pre-activation.",
            "bias_unsummed":
                "a bias is shared by the whole batch and all steps: sum its gradient over "
                "both, giving shape (3H,).",
            "transposed":
                "a weight's gradient has the weight's shape: dnet.T @ input, e.g. (3H, D) for "
                "weight_ih, not input.T @ dnet.",
        }))


# ---- "predict, then run": the share of new wine after several steps

WINE_Z, WINE_STEPS = 0.9, 10
WINE_TABLE_STEPS = (1, 5, 10, 20, 50)


def predict_wine_share(fn) -> PredictionResult:
    """"Predict, then run" (chapter 07): ``fn()`` returns the share of new wine in the cup after
    10 steps of a one-unit GRU whose update gate is z = 0.9 at every step (PyTorch's
    convention), whose fresh mix is pure new wine (n_t = 1) and whose cup starts with none
    (h_0 = 0). The prediction is read first; only then does the experiment run that GRU
    (``wine.new_wine_share``); close means within 10 % of the measured share. After the verdict
    it prints the share after other numbers of steps. Shown, never graded; never raises.
    """
    from course_utils import wine  # here, not at the top: it loads matplotlib, which every
    # other checker (and each of the grader's check processes) can do without

    result = check_prediction("predict_wine_share", fn,
                              lambda: round(wine.new_wine_share(WINE_Z, WINE_STEPS), 3),
                              rel_tol=0.10)
    if result.close is not None:
        for steps in WINE_TABLE_STEPS:
            print(f"z = {WINE_Z}, after {steps:2d} steps: new wine "
                  f"{wine.new_wine_share(WINE_Z, steps):.3f}")
    return result
