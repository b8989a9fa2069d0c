"""Chapter 07 (GRU): one GRU step, converting between the update-gate conventions."""

from __future__ import annotations

import numpy as np

from course_utils import scratch
from course_utils.checking import Case, CheckResult, Diagnosis, run_check
from course_utils.checks.common import recurrent_params, step_cases
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


def gru_step(fn) -> CheckResult:
    """Check ``fn(x_t, h_prev, p) -> h_t`` in PyTorch's convention (rows r, z, n; reset after
    the matrix product; ``h_t = (1 - z) * n + z * h_prev``)."""
    return run_check(
        "gru_step", fn, step_cases(3, False, seed=7), scratch.gru_step,
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
    return cases


def flip_z_wrong(variant: str):
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
        ])
