"""Chapter 05 checkers: correct implementations written differently pass, plausible wrong
ones fail. The wrong versions are written here independently of the hints in ``checks``."""

import numpy as np
import pytest

from course_utils import pathologies
from course_utils.grading import checks


# ---------------------------------------------------------------- scale_to_spectral_radius
def radius_ok_loop(W, rho):
    lam = np.linalg.eigvals(W)
    r = max(abs(complex(v)) for v in lam)
    if r == 0:
        raise ValueError("nilpotent")
    return (W * (rho / r)).astype(W.dtype)


def radius_ok_poly(W, rho):
    # eigenvalues as roots of the characteristic polynomial, then an explicit copy
    r = np.max(np.abs(np.roots(np.poly(W.astype(np.float64)))), initial=0.0)
    if r == 0:
        raise np.linalg.LinAlgError("rho(W) = 0")  # a subclass of ValueError
    out = W.copy()
    out *= W.dtype.type(rho / r)
    return out


def radius_ok_power(W, rho):
    # Gelfand's formula with a huge power, refined by the exact eigenvalues' modulus
    r = np.abs(np.linalg.eigvals(W.astype(np.complex128))).max()
    if not r > 0:
        raise ValueError("rho(W) = 0")
    return (W.astype(np.float64) * rho / r).astype(W.dtype)


RADIUS_WRONG = {
    "spectral norm": lambda W, rho: W * rho / np.linalg.norm(W, 2),
    "Frobenius": lambda W, rho: W * rho / np.sqrt((W**2).sum()),
    "largest real eigenvalue": lambda W, rho: W * rho / np.linalg.eigvals(W).real.max(),
    "symmetric eigensolver": lambda W, rho: W * rho / np.abs(np.linalg.eigvalsh(W)).max(),
    "forgot rho": lambda W, rho: W / np.abs(np.linalg.eigvals(W)).max(),
    "rho squared": lambda W, rho: W * rho**2 / np.abs(np.linalg.eigvals(W)).max(),
    "sets the radius to rho by adding": lambda W, rho: W + (rho - np.abs(
        np.linalg.eigvals(W)).max()) * np.eye(len(W), dtype=W.dtype),
    "float64 always": lambda W, rho: W.astype(np.float64) * rho / np.abs(
        np.linalg.eigvals(W)).max(),
    "in place": lambda W, rho: np.multiply(W, rho / np.abs(np.linalg.eigvals(W)).max(), out=W),
    "returns the radius": lambda W, rho: np.abs(np.linalg.eigvals(W)).max(),
}


# ---------------------------------------------------------------- jacobian_norms
def jac_ok_explicit(W, h_all):
    T, H = h_all.shape
    Js = [np.diag(1 - h_all[t] ** 2) @ W for t in range(T)]  # Js[t-1] = J_t
    out = []
    for k in range(T + 1):
        P = np.eye(H, dtype=h_all.dtype)
        for t in range(T, k, -1):
            P = P @ Js[t - 1]
        out.append(np.linalg.svd(P, compute_uv=False).max())
    return np.array(out, dtype=h_all.dtype)


def jac_ok_transposed(W, h_all):
    # builds the transposed product (dh_T/dh_k)^T = J_{k+1}^T ... J_T^T, same singular values
    T, H = h_all.shape
    Q = np.eye(H, dtype=h_all.dtype)
    out = np.ones(T + 1, dtype=h_all.dtype)
    for t in range(T, 0, -1):
        Q = (W.T * (1 - h_all[t - 1] ** 2)) @ Q
        out[t - 1] = np.linalg.norm(Q, 2)
    return out


def _jac_template(slope, combine="right", norm="spectral", index="k", eye_value=1.0):
    def fn(W, h_all):
        T, H = h_all.shape
        P = eye_value * np.eye(H)
        out = np.empty(T + 1, dtype=h_all.dtype)
        out[T] = np.linalg.norm(P, 2) if norm == "spectral" else np.linalg.norm(P)
        for t in range(T, 0, -1):
            J = slope(h_all, t) * W
            P = P @ J if combine == "right" else J @ P
            out[t - 1] = np.linalg.norm(P, 2) if norm == "spectral" else np.linalg.norm(P)
        return out if index == "k" else out[::-1].copy()
    return fn


def _rows(d):
    return d[:, None]


JAC_WRONG = {
    "multiplied on the left": _jac_template(lambda h, t: _rows(1 - h[t - 1] ** 2),
                                            combine="left"),
    "tanh' = 1 - h": _jac_template(lambda h, t: _rows(1 - h[t - 1])),
    "tanh' = 1 - tanh(h)^2 (applied twice)": _jac_template(
        lambda h, t: _rows(1 - np.tanh(h[t - 1]) ** 2)),
    "no derivative": _jac_template(lambda h, t: 1.0),
    "slope of the previous state": _jac_template(
        lambda h, t: _rows(1 - h[t - 2] ** 2) if t >= 2 else 1.0),
    "scaled columns": _jac_template(lambda h, t: (1 - h[t - 1] ** 2)[None, :]),
    "Frobenius norm": _jac_template(lambda h, t: _rows(1 - h[t - 1] ** 2), norm="fro"),
    "indexed by lag": _jac_template(lambda h, t: _rows(1 - h[t - 1] ** 2), index="lag"),
    "product of norms": lambda W, h: np.concatenate([np.cumprod([np.linalg.norm(
        (1 - h[t] ** 2)[:, None] * W, 2) for t in range(len(h))][::-1])[::-1],
        [1.0]]).astype(h.dtype),
    "T values only": lambda W, h: pathologies.jacobian_norms(W, h)[:-1],
    "float64 always": lambda W, h: pathologies.jacobian_norms(W, h.astype(np.float64)),
    "list instead of array": lambda W, h: list(pathologies.jacobian_norms(W, h)),
}


# ---------------------------------------------------------------- the tests
CHECKERS = {
    "scale_to_spectral_radius": (checks.scale_to_spectral_radius,
                                 [radius_ok_loop, radius_ok_poly, radius_ok_power],
                                 RADIUS_WRONG),
    "jacobian_norms": (checks.jacobian_norms,
                       [jac_ok_explicit, jac_ok_transposed], JAC_WRONG),
}


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_correct_implementations_pass(name, capsys):
    checker, good, _ = CHECKERS[name]
    for fn in good:
        assert checker(fn), f"{name}: a correct implementation ({fn.__name__}) was rejected"


@pytest.mark.parametrize("name,wrong", [(n, w) for n, (_, _, ws) in CHECKERS.items()
                                        for w in ws])
def test_wrong_implementations_fail(name, wrong, capsys):
    checker, _, wrongs = CHECKERS[name]
    result = checker(wrongs[wrong])
    assert not result, f"{name}: the wrong implementation '{wrong}' was accepted"
    assert result.status == "failed"


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_stub_is_not_attempted(name, capsys):
    def stub(*args):
        raise NotImplementedError("Exercise: replace this line with your code.")

    result = CHECKERS[name][0](stub)
    assert result.status == "not attempted"


def test_hints_name_the_mistake(capsys, no_own_work_guard):
    checks.scale_to_spectral_radius(RADIUS_WRONG["spectral norm"])
    assert "SINGULAR" in capsys.readouterr().out
    checks.jacobian_norms(JAC_WRONG["multiplied on the left"])
    assert "RIGHT" in capsys.readouterr().out
    checks.jacobian_norms(JAC_WRONG["Frobenius norm"])
    assert "spectral norm" in capsys.readouterr().out


def test_clip_reference_matches_torch():
    """The clip_grad_norm checker's reference, scratch.clip_grad_norm, agrees with
    torch.nn.utils.clip_grad_norm_ (independent correct versions are in test_checker_strength)."""
    import torch

    from course_utils import scratch

    rng = np.random.default_rng(0)
    grads = {"a": rng.standard_normal((3, 4)) * 5, "b": rng.standard_normal(4)}
    clipped, total = scratch.clip_grad_norm(grads, 1.0)
    params = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in
              grads.values()]
    for p, g in zip(params, grads.values(), strict=True):
        p.grad = torch.tensor(g)
    total_t = torch.nn.utils.clip_grad_norm_(params, 1.0)
    assert np.isclose(total, float(total_t))
    for p, k in zip(params, grads, strict=True):
        np.testing.assert_allclose(clipped[k], p.grad.numpy(), rtol=1e-12)
