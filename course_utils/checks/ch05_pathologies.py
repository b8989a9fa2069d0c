"""Chapter 05 (gradient pathologies): clipping, spectral radius, Jacobian norms."""

from __future__ import annotations

import numpy as np

from course_utils import pathologies, scratch
from course_utils.checking import Case, CheckResult, Diagnosis, run_check

# ---- gradient clipping by global norm


def clip_cases() -> list[Case]:
    rng = np.random.default_rng(5)

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


def clip_reference(grads, max_norm):
    clipped, total = scratch.clip_grad_norm(grads, max_norm)
    return clipped, float(total)


def clip_wrong(variant: str):
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
        "clip_grad_norm", fn, clip_cases(), clip_reference, arg_names=["grads", "max_norm"],
        output_name="(clipped, total_norm)", rtol=1e-5, atol=1e-7,
        diagnoses=[
            Diagnosis(clip_wrong("per_tensor"),
                      "clip by the norm of ALL gradients together (one global norm, one scale "
                      "for every array), not each array by its own norm."),
            Diagnosis(clip_wrong("value"),
                      "this is value clipping (np.clip element by element); norm clipping "
                      "rescales every element by the same factor and keeps the direction."),
            Diagnosis(clip_wrong("always"),
                      "rescale only when the norm exceeds max_norm; smaller gradients pass "
                      "unchanged."),
            Diagnosis(clip_wrong("post_norm"),
                      "return the norm measured BEFORE clipping, as torch's clip_grad_norm_ "
                      "does, so training logs show how large the gradient really was."),
            Diagnosis(clip_wrong("l1"),
                      "use the L2 norm: the square root of the sum of all squared elements."),
        ])


# ---- rescale a matrix to a chosen spectral radius


def radius_cases() -> list[Case]:
    rng = np.random.default_rng(55)
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


def radius_wrong(variant: str):
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
    return run_check(
        "scale_to_spectral_radius", fn, radius_cases(), pathologies.scale_to_spectral_radius,
        arg_names=["W", "rho"], output_name="W_scaled",
        diagnoses=[
            Diagnosis(radius_wrong("spectral_norm"),
                      "you divided by the largest SINGULAR value (np.linalg.norm(W, 2)); the "
                      "spectral radius is the largest |eigenvalue|, which is smaller for a "
                      "non-symmetric matrix."),
            Diagnosis(radius_wrong("frobenius"),
                      "np.linalg.norm(W) is the Frobenius norm, not the spectral radius: use "
                      "the eigenvalues (np.linalg.eigvals)."),
            Diagnosis(radius_wrong("max_real"),
                      "eigenvalues can be complex or negative: take the largest ABSOLUTE value "
                      "(modulus), np.abs(np.linalg.eigvals(W)).max()."),
            Diagnosis(radius_wrong("abs_real"),
                      "for a complex eigenvalue a + bi the size is sqrt(a^2 + b^2): np.abs of "
                      "the complex number, not of its real part."),
            Diagnosis(radius_wrong("max_entry"),
                      "the largest entry of W says little about its eigenvalues: compute them."),
            Diagnosis(radius_wrong("no_rho"),
                      "after dividing by the current radius the matrix has radius 1; multiply "
                      "by rho as well."),
        ])


# ---- the size of dh_T/dh_k for every k


def tanh_states(rng, T, H, dtype, drive=1.0, radius=1.1):
    W = pathologies.scale_to_spectral_radius(rng.standard_normal((H, H)), radius)
    h_all = pathologies.run_rnn(W, drive * rng.standard_normal((T, H)))
    return W.astype(dtype), h_all.astype(dtype)


def jacobian_cases() -> list[Case]:
    rng = np.random.default_rng(56)
    cases = []
    for T, H, dtype in [(8, 5, np.float64), (12, 3, np.float32), (6, 7, np.float64)]:
        W, h_all = tanh_states(rng, T, H, dtype)
        cases.append(Case((W, h_all), f"{np.dtype(dtype).name}, T={T}, H={H}"))
    W, h_all = tanh_states(rng, 1, 4, np.float64)
    cases.append(Case((W, h_all), "a single step, T=1"))
    W, h_all = tanh_states(rng, 9, 1, np.float64, radius=0.9)
    cases.append(Case((W, h_all), "one hidden unit, H=1"))
    W = rng.standard_normal((4, 4))
    cases.append(Case((W, np.zeros((10, 4))), "all states zero (tanh' = 1: the linear case)"))
    W, h_all = tanh_states(rng, 7, 4, np.float64, drive=5.0)
    h_all[2, 1] = 1.0
    h_all[4, 3] = -1.0
    cases.append(Case((W, h_all), "strong inputs: saturated states, some exactly +-1"))
    return cases


def jacobian_reference(W_hh, h_all):
    return pathologies.jacobian_norms(W_hh, h_all, "tanh")


def jacobian_wrong(variant: str):
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
        "jacobian_norms", fn, jacobian_cases(), jacobian_reference,
        arg_names=["W_hh", "h_all"], output_name="norms",
        diagnoses=[Diagnosis(jacobian_wrong(v), hint) for v, hint in hints.items()])
