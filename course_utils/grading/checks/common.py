"""Case generators shared by several chapters' checkers (recurrent weights, step cases)."""

from __future__ import annotations

import copy

import numpy as np

from course_utils.grading.checking import Case, Diagnosis, Mismatch, compare_arrays


def recurrent_params(rng, d: int, h: int, gates: int, dtype, scale: float = 0.6) -> dict:
    """Random recurrent weights in PyTorch layout; biases nonzero so a dropped bias shows."""
    return {
        "weight_ih": (scale * rng.standard_normal((gates * h, d))).astype(dtype),
        "weight_hh": (scale * rng.standard_normal((gates * h, h))).astype(dtype),
        "bias_ih": (0.5 * rng.standard_normal(gates * h)).astype(dtype),
        "bias_hh": (0.5 * rng.standard_normal(gates * h)).astype(dtype),
    }


# Cases of the LSTM and GRU BPTT checkers: (T, B, D, H, x dtype, state/parameter dtype, label);
# B, D and H differ within each case, so a transposed weight cannot pass by accident.
BPTT_SHAPES = [
    (5, 3, 4, 2, np.float64, np.float64, ""),
    (4, 2, 3, 5, np.float32, np.float32, ""),
    (1, 2, 3, 4, np.float64, np.float64, ", a single time step"),
    (6, 1, 2, 3, np.float64, np.float64, ", a batch of one"),
    (4, 3, 2, 4, np.float32, np.float64,
     ", mixed dtypes: x float32, the rest float64 (everything is float32)"),
]


def bptt_cases(gates: int, with_cell: bool, seed: int) -> list[Case]:
    """Cases for BPTT through a gated layer, ``fn(x, h0[, c0], p, dh_all)``: the shapes of
    ``BPTT_SHAPES`` with a gradient from above at every step, then a loss on the last state only
    (:func:`last_state_gradient`) from zero initial states."""
    rng = np.random.default_rng(seed)
    cases = []
    for t, b, d, h, dtype, pdtype, label in BPTT_SHAPES:
        p = recurrent_params(rng, d, h, gates, pdtype)
        x = rng.standard_normal((t, b, d)).astype(dtype)
        h0 = (0.5 * rng.standard_normal((b, h))).astype(pdtype)
        c0 = (rng.standard_normal((b, h)).astype(pdtype),) if with_cell else ()
        dh_all = rng.standard_normal((t, b, h)).astype(pdtype)
        cases.append(Case((x, h0, *c0, p, dh_all),
                          f"{np.dtype(dtype).name}, T={t}, B={b}, D={d}, H={h}{label}"))
    p = recurrent_params(rng, 3, 4, gates, np.float64)
    dh_last = last_state_gradient(rng, 7, 2, 4)
    zeros = tuple(np.zeros((2, 4)) for _ in range(2 if with_cell else 1))
    cases.append(Case((rng.standard_normal((7, 2, 3)), *zeros, p, dh_last),
                      "a loss on the last state only, "
                      + ("zero initial states" if with_cell else "a zero initial state")))
    return cases


# (B, D, H) of the step checkers' seeded cases: in all but the third no two are equal, so a
# transposed weight cannot pass by shape luck; the third (B = D = 1) is a deliberate edge case,
# one example with one input.
STEP_SHAPES = [(3, 4, 5), (2, 7, 3), (1, 1, 2), (5, 3, 8)]


def step_cases(gates: int, with_cell: bool, seed: int, single_unit: bool = False) -> list[Case]:
    """Cases for a recurrent step ``fn(x_t, h_prev[, c_prev], p)``: the seeded shapes, a zero
    previous state, saturation, the stated dtype rule (x_t float32 with float64 states and
    parameters: the result is float32) and, with ``single_unit``, H = 1."""
    rng = np.random.default_rng(seed)
    cases = []
    for k, (b, d, h) in enumerate(STEP_SHAPES):
        dtype = np.float64 if k % 2 == 0 else np.float32
        p = recurrent_params(rng, d, h, gates, dtype)
        x = rng.standard_normal((b, d)).astype(dtype)
        hp = rng.standard_normal((b, h)).astype(dtype) * 0.8
        args = (x, hp) + ((rng.standard_normal((b, h)).astype(dtype),) if with_cell else ())
        cases.append(Case(args + (p,), f"{np.dtype(dtype).name}, B={b}, D={d}, H={h}"))
    # edge cases: a zero previous state (the first step) and large inputs (saturation)
    b, d, h = 2, 3, 4
    p = recurrent_params(rng, d, h, gates, np.float64)
    zero = np.zeros((b, h))
    cases.append(Case((rng.standard_normal((b, d)), zero) + ((zero.copy(),) if with_cell else ())
                      + (p,), "zero previous state"))
    cases.append(Case((20 * rng.standard_normal((b, d)), rng.standard_normal((b, h)))
                      + ((rng.standard_normal((b, h)),) if with_cell else ()) + (p,),
                      "large inputs that saturate the nonlinearities"))
    p = recurrent_params(rng, 3, 2, gates, np.float64)
    states = (rng.standard_normal((4, 2)) * 0.8,) + ((rng.standard_normal((4, 2)),)
                                                     if with_cell else ())
    cases.append(Case((rng.standard_normal((4, 3)).astype(np.float32),) + states + (p,),
                      f"mixed dtypes: x_t float32, {'h_prev, c_prev' if with_cell else 'h_prev'} "
                      "and p float64 (the result is float32)"))
    if single_unit:
        p = recurrent_params(rng, 2, 1, gates, np.float32)
        states = tuple(rng.standard_normal((1, 1)).astype(np.float32)
                       for _ in range(2 if with_cell else 1))
        cases.append(Case((rng.standard_normal((1, 2)).astype(np.float32),) + states + (p,),
                          "float32, B=1, D=2, H=1 (a single unit)"))
    return cases


def promoted(step):
    """A known mistake for a step whose stub says "in the dtype of x_t": the right step, computed
    in NumPy's promoted dtype of all its inputs (float64 if anything is float64)."""
    def wrong(x, *rest):
        arrays = [a for r in rest for a in (r.values() if isinstance(r, dict) else (r,))]
        return step(np.asarray(x, dtype=np.result_type(x, *arrays)), *rest)
    return wrong


def last_state_gradient(rng, t: int, b: int, h: int) -> np.ndarray:
    """dh_all (t, b, h) with a gradient on the last state only: the rest must flow back in time."""
    dh_all = np.zeros((t, b, h))
    dh_all[-1] = rng.standard_normal((b, h))
    return dh_all


# ---- for the derivation checkers (issue 13): hints only where a case can show the mistake


def telling(wrong, reference):
    """``wrong`` restricted to the cases that can show its mistake (for a ``Diagnosis``).

    On a case where the known mistake happens to give the right answer (a single time step hides
    a missing recursion through time), its hint would be shown for some other error; there the
    returned function gives ``None``, which matches no output, so no hint is shown.
    """
    def fn(*args, **kwargs):
        out = wrong(*copy.deepcopy(args), **kwargs)
        try:
            compare_arrays(out, reference(*copy.deepcopy(args), **kwargs), "output",
                           check_dtype=False)
        except Mismatch:
            return out
        return None
    return fn


def wrong_grad_buffers(p: dict, variant: str, batch: int) -> dict:
    """Zero gradient buffers for a wrong BPTT variant of a gated layer: one per key of ``p``,
    except that "bias_unsummed" keeps one bias row per example (batch, rows) and "transposed"
    holds the weight gradients transposed."""
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    if variant == "bias_unsummed":
        for k in ("bias_ih", "bias_hh"):
            grads[k] = np.zeros((batch, p[k].shape[0]), dtype=p[k].dtype)
    if variant == "transposed":
        for k in ("weight_ih", "weight_hh"):
            grads[k] = grads[k].T.copy()
    return grads


def add_step_grads(grads: dict, variant: str, x_t, h_prev, da_x, da_h) -> None:
    """Add one time step's parameter gradients to the buffers of :func:`wrong_grad_buffers`, as a
    wrong BPTT variant of a gated layer does: ``da_x`` and ``da_h`` (batch, rows) are the
    gradients of the stacked pre-activations that read x_t and h_prev (the same array for an
    LSTM; for a GRU they differ in the candidate block, where r multiplies the hidden part).
    "transposed" adds the weight gradients transposed, "bias_unsummed" one bias row per example."""
    if variant == "transposed":
        grads["weight_ih"] += x_t.T @ da_x
        grads["weight_hh"] += h_prev.T @ da_h
    else:
        grads["weight_ih"] += da_x.T @ x_t
        grads["weight_hh"] += da_h.T @ h_prev
    if variant == "bias_unsummed":
        grads["bias_ih"] += da_x
        grads["bias_hh"] += da_h
    else:
        grads["bias_ih"] += da_x.sum(axis=0)
        grads["bias_hh"] += da_h.sum(axis=0)


def telling_hints(wrong, reference, hints: dict[str, str]) -> list[Diagnosis]:
    """One :class:`Diagnosis` per ``variant: hint`` of ``hints``, for the known mistake
    ``wrong(variant)``, each shown only on the cases that can show it (:func:`telling`)."""
    return [Diagnosis(telling(wrong(variant), reference), hint) for variant, hint in hints.items()]


def integer_promise(args, got) -> str | None:
    """``run_check`` promise of a stub that returns a count: an integer (a Python int or a NumPy
    integer), never a float or a bool."""
    if isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, np.integer)):
        return (f"the result is {type(got).__name__} {got!r}; the stub asks for an integer (a "
                "Python int or a NumPy integer), never a float: use // rather than /, or "
                "int(...).")
    return None
