"""Gradient pathologies (chapter 05): Jacobian products, spectral radius, deep nets, clipping.

The gradient that reaches an early state from a late one is a product of step Jacobians. For
the RNN ``h_t = f(W_hh h_{t-1} + W_ih x_t + b)`` (PyTorch layout) one step contributes

    dh_t / dh_{t-1} = diag(f'(net_t)) W_hh,

so ``dh_T / dh_k = J_T J_{T-1} ... J_{k+1}`` with ``J_t = diag(f'(net_t)) W_hh``. This module
measures the size of such products (:func:`jacobian_norms`, :func:`product_norms`), builds
recurrent matrices of a chosen spectral radius (:func:`random_recurrent_matrix`), and holds the
small models of the chapter's other experiments: a deep MLP with or without residual connections
(:func:`deep_mlp`, a seeded ``course_utils.models.DeepMLP``) and the one-unit RNN whose loss
surface has a "cliff" (:func:`one_unit_rnn`, :func:`bistability_threshold`, :func:`cliff_bias`).

Shapes: states are time-major, ``h_all`` is ``(T, H)`` for one sequence or ``(T, B, H)`` for a
batch (any number of batch axes between time and H works). A *norm array* returned here is
indexed by ``k = 0 .. T`` (``norms[k] = ||dh_T / dh_k||``, ``h_0`` being the initial state and
``norms[T] = 1``); :func:`by_lag` turns it around so that index ``n`` is the lag ``T - k``.

Time index: maths is 1-based, arrays are 0-based. A sequence is x_1 .. x_T with initial state
h_0; ``x_proj[t - 1]`` holds the drive of step t and ``h_all[t - 1]`` holds h_t (``h_all`` has T
rows, h_1 .. h_T). Norm arrays are the one exception, indexed by the state index k itself
(``norms[k]`` for h_k, k = 0 .. T, so they have T + 1 rows).

Chapter 06 reuses :func:`jacobian_norms` for the RNN and :func:`diagonal_product_norms` for the
LSTM's *direct* cell path ``dc_T / dc_k = diag(f_T) ... diag(f_{k+1})`` (the product along
c_{k} -> c_{k+1} -> ... only; the gates also depend on c_{t-1} through h_{t-1}, which adds
further terms to the full Jacobian).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from course_utils import env, scratch, tasks, training

NONLINEARITIES_WITH_LINEAR = ("linear", *scratch.NONLINEARITIES)  # scratch's RNN ones, and none


# ---------------------------------------------------------------------------------------------
# Spectral radius
# ---------------------------------------------------------------------------------------------


def spectral_radius(W) -> float:
    """Largest absolute value of the eigenvalues of the square matrix ``W`` (H, H).

    Eigenvalues of a real matrix may be complex; their modulus is what counts.
    """
    W = np.asarray(W)
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"W must be a square (H, H) matrix, got shape {W.shape}")
    return float(np.max(np.abs(np.linalg.eigvals(W.astype(np.float64)))))


def scale_to_spectral_radius(W, rho: float):
    """``W`` multiplied by the one scalar that makes its spectral radius ``rho``.

    Multiplying a matrix by c multiplies every eigenvalue by c, so the result has exactly the
    eigenvectors of ``W`` and eigenvalues ``rho / spectral_radius(W)`` times larger. Keeps the
    dtype of ``W`` (float32 stays float32). ``W`` must not be nilpotent (radius 0).
    """
    W = np.asarray(W)
    radius = spectral_radius(W)
    if radius == 0:
        raise ValueError("W has spectral radius 0 (it is nilpotent): no scaling can change that")
    return (W * (float(rho) / radius)).astype(scratch.float_dtype(W))


def random_recurrent_matrix(H: int, rho: float, *, seed: int, kind: str = "gaussian"):
    """A random (H, H) float64 matrix with spectral radius exactly ``rho``.

    kind="gaussian": iid normal entries (a typical, non-normal matrix: its eigenvectors are not
    orthogonal, so its largest singular value exceeds its spectral radius).
    kind="orthogonal": a random orthogonal matrix times rho (a normal matrix: every singular
    value and every eigenvalue modulus equals rho).
    """
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((H, H))
    if kind == "gaussian":
        return scale_to_spectral_radius(A, rho)
    if kind == "orthogonal":
        Q, R = np.linalg.qr(A)
        return float(rho) * Q * np.sign(np.diag(R))
    raise ValueError(f"kind must be 'gaussian' or 'orthogonal', got {kind!r}")


def eigen_bounds(W, n_max: int):
    """The eigen-decomposition bounds on ``||W^n||_2`` for n = 0 .. n_max.

    With ``W = V diag(lambda) V^{-1}``: ``rho^n <= ||W^n||_2 <= cond(V) rho^n``. Returns
    ``(lower, upper, cond_V)``, two (n_max + 1,) float64 arrays and the condition number of the
    eigenvector matrix (1 for a normal matrix). Needs a diagonalisable ``W``.
    """
    W = np.asarray(W, dtype=np.float64)
    eigvals, V = np.linalg.eig(W)
    rho = float(np.max(np.abs(eigvals)))
    cond = float(np.linalg.cond(V))
    lower = rho ** np.arange(n_max + 1, dtype=np.float64)
    return lower, cond * lower, cond


def matrix_power_norms(W, n_max: int, ord=2):
    """``||W^n||`` for n = 0 .. n_max, (n_max + 1,) float64: the linear RNN's gradient sizes."""
    W = np.asarray(W, dtype=np.float64)
    P = np.eye(W.shape[0])
    out = np.empty(n_max + 1)
    for n in range(n_max + 1):
        out[n] = np.linalg.norm(P, ord)
        P = P @ W
    return out


# ---------------------------------------------------------------------------------------------
# Jacobian products of an RNN
# ---------------------------------------------------------------------------------------------


def _check_nonlinearity(nonlinearity: str) -> None:
    scratch.check_nonlinearity(nonlinearity, allowed=NONLINEARITIES_WITH_LINEAR)


def _float(a):
    """``a`` as an array in the dtype rule of ``scratch``: float32/float64 kept, else float64."""
    return np.asarray(a, dtype=scratch.float_dtype(a))


def run_rnn(W_hh, x_proj, h0=None, nonlinearity: str = "tanh"):
    """States of ``h_t = f(x_proj[t - 1] + h_{t-1} @ W_hh.T)`` for t = 1 .. T.

    x_proj: (T, ..., H); ``x_proj[t - 1]`` is the input part ``W_ih x_t + b_ih + b_hh`` of step t,
    already computed (for a pure
    study of the recurrence it can be any drive, e.g. random numbers of a chosen size).
    h0: (..., H) initial state, zeros by default. W_hh: (H, H), PyTorch layout.
    nonlinearity: "linear" (f = identity), "tanh" or "relu".
    Returns h_all (T, ..., H) in the dtype of x_proj, ``h_all[t - 1]`` = h_t.
    """
    _check_nonlinearity(nonlinearity)
    x_proj = _float(x_proj)
    W = np.asarray(W_hh, dtype=x_proj.dtype)
    h = np.zeros(x_proj.shape[1:], dtype=x_proj.dtype) if h0 is None else np.asarray(
        h0, dtype=x_proj.dtype)
    h_all = np.empty_like(x_proj)
    for t in range(1, len(x_proj) + 1):
        a = x_proj[t - 1] + h @ W.T
        if nonlinearity == "tanh":
            a = np.tanh(a)
        elif nonlinearity == "relu":
            a = np.maximum(a, 0)
        h_all[t - 1] = h = a
    return h_all


def derivative_from_output(h_all, nonlinearity: str = "tanh"):
    """f'(net_t) written with the output h_t = f(net_t): tanh' = 1 - h^2, relu' = [h > 0],
    linear' = 1. Same shape and dtype as h_all."""
    _check_nonlinearity(nonlinearity)
    h_all = _float(h_all)
    if nonlinearity == "tanh":
        return 1 - h_all * h_all
    if nonlinearity == "relu":
        return (h_all > 0).astype(h_all.dtype)
    return np.ones_like(h_all)


def step_jacobians(W_hh, h_all, nonlinearity: str = "tanh"):
    """``J_t = dh_t / dh_{t-1} = diag(f'(net_t)) W_hh`` for t = 1 .. T: (T, ..., H, H), with
    ``h_all[t - 1]`` = h_t and the result's row ``t - 1`` = J_t.

    ``J_t[..., i, j] = f'(net_t)[..., i] * W_hh[i, j]`` (row i of W_hh scaled by unit i's slope).
    """
    d = derivative_from_output(h_all, nonlinearity)
    W = np.asarray(W_hh, dtype=d.dtype)
    return d[..., :, None] * W


def product_norms(jacobians, ord=2):
    """Norms of the backward products of a sequence of Jacobians.

    jacobians: (T, ..., H, H) with ``jacobians[t - 1] = J_t = dh_t / dh_{t-1}``.
    Returns (T + 1, ...) with ``out[k] = ||J_T J_{T-1} ... J_{k+1}||`` (the norm of
    ``dh_T / dh_k``) and ``out[T] = ||I|| = 1`` for the spectral norm. ``ord`` is passed to
    ``np.linalg.matrix_norm``: 2 for the spectral norm (the default), "fro" for Frobenius.
    Works for any square Jacobians, e.g. an LSTM's full state Jacobians.
    """
    J = _float(jacobians)
    if J.ndim < 3 or J.shape[-1] != J.shape[-2]:
        raise ValueError(f"jacobians must be (T, ..., H, H), got shape {J.shape}")
    T, H = J.shape[0], J.shape[-1]
    P = np.broadcast_to(np.eye(H, dtype=J.dtype), J.shape[1:]).copy()
    out = np.empty((T + 1, *J.shape[1:-2]), dtype=J.dtype)
    out[T] = np.linalg.matrix_norm(P, ord=ord)
    for t in range(T, 0, -1):  # t = T .. 1: P = J_T ... J_t
        P = P @ J[t - 1]
        out[t - 1] = np.linalg.matrix_norm(P, ord=ord)
    return out


def diagonal_product_norms(diagonals):
    """Like :func:`product_norms` for diagonal Jacobians given by their diagonals (T, ..., H).

    The spectral norm of ``diag(d_T) ... diag(d_{k+1})`` is ``max_i |prod_t d_t[i]|``; this is
    the LSTM's ``||dc_T / dc_k||`` when ``diagonals`` holds the forget gates f_t.
    Returns (T + 1, ...), ``out[T] = 1``.
    """
    d = np.abs(_float(diagonals))
    T = d.shape[0]
    # reverse cumulative product: prods[k] = prod_{t > k} d_t
    prods = np.ones((T + 1, *d.shape[1:]), dtype=d.dtype)
    prods[:T] = np.cumprod(d[::-1], axis=0)[::-1]
    return prods.max(axis=-1)


def jacobian_norms(W_hh, h_all, nonlinearity: str = "tanh", ord=2):
    """``||dh_T / dh_k||`` for k = 0 .. T of an RNN whose states h_1 .. h_T are ``h_all``.

    W_hh: (H, H) PyTorch layout; h_all: (T, H) or (T, B, H), the states the RNN actually went
    through (``h_all[t - 1]`` = h_t; they fix f'(net_t)); nonlinearity: "linear", "tanh" or "relu".
    Returns (T + 1,) or (T + 1, B) in the dtype of h_all; index k, so ``out[T] = 1`` and
    ``out[0]`` is the size of the gradient that reaches the initial state. Reverse it with
    :func:`by_lag` to index by the lag T - k.
    """
    return product_norms(step_jacobians(W_hh, h_all, nonlinearity), ord=ord)


def rnn_jacobian_norms(W_hh, x_proj, h0=None, nonlinearity: str = "tanh", ord=2):
    """Run the RNN (see :func:`run_rnn`) and measure its Jacobian products.

    Returns ``(norms, h_all)``: norms (T + 1, ...) as in :func:`jacobian_norms`.
    """
    h_all = run_rnn(W_hh, x_proj, h0, nonlinearity)
    return jacobian_norms(W_hh, h_all, nonlinearity, ord=ord), h_all


def by_lag(norms):
    """Reverse a k-indexed norm array (T + 1, ...) so that index n is the lag T - k."""
    return np.asarray(norms)[::-1]


def gradient_norm_curve(rho: float, *, nonlinearity: str = "tanh", T: int = 100, H: int = 32,
                        input_scale: float = 1.0, batch: int = 1, seed: int = 0,
                        kind: str = "gaussian"):
    """The chapter's measurement: ``||dh_T / dh_{T-n}||`` against the lag n = 0 .. T.

    A random recurrent matrix of spectral radius ``rho`` (:func:`random_recurrent_matrix`, seed
    ``seed``) is driven from h_0 = 0 by iid normal inputs of standard deviation
    ``input_scale`` (seed ``seed + 1``). With ``batch`` > 1 the norms are averaged over that
    many input sequences in log space (a geometric mean). Returns a (T + 1,) float64 array
    indexed by lag.
    """
    W = random_recurrent_matrix(H, rho, seed=seed, kind=kind)
    drive = input_scale * np.random.default_rng(seed + 1).standard_normal((T, batch, H))
    norms, _ = rnn_jacobian_norms(W, drive, nonlinearity=nonlinearity)
    with np.errstate(divide="ignore"):
        return np.exp(np.mean(np.log(by_lag(norms)), axis=1))


def growth_rate(curve, start: int, stop: int) -> float:
    """Average factor per step of a lag-indexed curve between lags ``start`` and ``stop``:
    ``(curve[stop] / curve[start]) ** (1 / (stop - start))``. Below 1 means vanishing."""
    curve = np.asarray(curve, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.exp((np.log(curve[stop]) - np.log(curve[start])) / (stop - start)))


# ---------------------------------------------------------------------------------------------
# Deep feedforward nets: where does the gradient go?
# ---------------------------------------------------------------------------------------------


def disc_data(n: int, *, seed: int):
    """A 2-D toy classification: points uniform in [-1, 1]^2, label 1 inside the circle of
    radius sqrt(0.5) (about 39 % of them). Returns X float32 (n, 2), y int64 (n,) as tensors."""
    import torch

    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    y = (np.sum(X**2, axis=1) < 0.5).astype(np.int64)
    return torch.tensor(X, dtype=torch.float32), torch.tensor(y)


def deep_mlp(depth: int, width: int = 32, *, residual: bool = False, in_dim: int = 2,
             n_outputs: int = 2, seed: int = 0):
    """A seeded :class:`course_utils.models.DeepMLP`: an input layer, ``depth`` tanh hidden
    layers of ``width`` units (plain ``x <- F_l(x)`` or residual ``x <- x + F_l(x)``), a linear
    output. PyTorch's default initialisation, seeded with ``seed``. ``model.hidden`` lists the
    hidden ``nn.Linear`` layers, input side first.
    """
    import torch

    from course_utils.models import DeepMLP

    torch.manual_seed(seed)
    return DeepMLP(depth, width, residual=residual, in_dim=in_dim, n_outputs=n_outputs)


def layer_gradient_norms(model, X, y):
    """Frobenius norm of the cross-entropy gradient of every hidden layer's weight matrix,
    input side first: a (depth,) float64 array. Leaves the gradients in ``model``."""
    import torch.nn.functional as F

    model.zero_grad()
    F.cross_entropy(model(X), y).backward()
    return np.array([layer.weight.grad.norm().item() for layer in model.hidden])


def train_full_batch(model, X, y, *, steps: int = 200, lr: float = 0.1):
    """Plain full-batch gradient descent on the cross-entropy (``training.fit`` with plain SGD,
    ``X, y`` as every batch; no momentum, no Adam). Adam
    divides each weight's step by the size of that weight's recent gradients, so it would move
    the starved input-side layers of a deep plain net anyway and hide where the gradient goes.

    Returns ``(losses, relative_change)``: the loss before every step (steps,; NaN after a loss
    that was not finite, where training stops) and, per hidden layer (input side first),
    ``||W_after - W_before|| / ||W_before||``.
    """
    before = [layer.weight.detach().clone() for layer in model.hidden]
    hist = training.fit(model, batches=itertools.repeat((X, y), steps), optimizer="sgd", lr=lr,
                        device=X.device, show_progress=False)
    losses = np.full(steps, np.nan)   # a loss that became NaN or infinite ends the run there
    losses[:len(hist.step_loss)] = hist.step_loss
    change = np.array([((layer.weight.detach() - w0).norm() / w0.norm()).item()
                       for layer, w0 in zip(model.hidden, before, strict=True)])
    return losses, change


# ---------------------------------------------------------------------------------------------
# The one-unit RNN and its cliff
# ---------------------------------------------------------------------------------------------


def one_unit_rnn(w, b, *, T: int = 50, h0: float = 0.5, target: float = -0.7):
    """Loss and gradient of the one-unit RNN ``h_t = tanh(w h_{t-1} + b)``, no input.

    The loss is ``(h_T - target)^2``. ``w`` and ``b`` are scalars or arrays of one shape (e.g.
    a grid); the derivatives are carried forward alongside the state (forward-mode), so a whole
    grid is computed at once. Returns ``(loss, dloss_dw, dloss_db, h_T)``, arrays of that shape.

    For w > 1 the map h -> tanh(w h + b) has two stable fixed points only while |b| is below
    :func:`bistability_threshold` (w) (the fold edge); outside that region it has a single one.
    Inside it, h_T goes to the positive fixed point when h0 lies above the unstable middle one,
    and to the negative one otherwise. So the loss jumps where the middle fixed point passes
    through h0, the basin boundary ``b = artanh(h0) - w h0`` (for w > 1 / (1 - h0^2)), and at
    the fold edge only for smaller w (see :func:`cliff_bias`). Near the fold h_t converges
    slowly, so h_T need not be at a fixed point there.
    """
    w, b = np.broadcast_arrays(np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64))
    h = np.full(w.shape, float(h0))
    dh_dw = np.zeros(w.shape)
    dh_db = np.zeros(w.shape)
    for _ in range(T):
        h_new = np.tanh(w * h + b)
        slope = 1 - h_new**2
        dh_dw, dh_db = slope * (h + w * dh_dw), slope * (1 + w * dh_db)
        h = h_new
    err = h - target
    return err**2, 2 * err * dh_dw, 2 * err * dh_db, h


def bistability_threshold(w):
    """The largest |b| for which ``h = tanh(w h + b)`` has two stable fixed points, for w > 1.

    A fixed point solves ``b = artanh(h) - w h``. For w > 1 the right-hand side has a local
    maximum and minimum where its slope ``1 / (1 - h^2) - w`` is zero, at ``h = -+sqrt(1 - 1/w)``;
    b between the two extreme values gives three fixed points (two stable, one unstable
    between them), beyond them one. Returns ``w sqrt(1 - 1/w) - artanh(sqrt(1 - 1/w))``
    (float or array; 0 for w <= 1, where there is always exactly one fixed point).
    """
    w = np.asarray(w, dtype=np.float64)
    h = np.sqrt(np.clip(1 - 1 / np.maximum(w, 1.0), 0.0, None))
    out = np.where(w > 1, w * h - np.arctanh(h), 0.0)
    return float(out) if out.ndim == 0 else out


def cliff_bias(w, h0: float = 0.5):
    """The bias b < 0 at which h_T of :func:`one_unit_rnn` jumps between the two stable fixed
    points (for large T), for a start ``h0`` in (0, 1): the loss surface's cliff.

    The limit of ``h_t`` is the positive fixed point when ``h0`` lies above the unstable middle
    one, the negative fixed point otherwise. The middle fixed point passes through ``h0`` where
    ``b = artanh(h0) - w h0`` (the fixed-point equation at h = h0); that is the basin boundary.
    It is the cliff when the middle branch reaches h0, i.e. ``h0 < sqrt(1 - 1/w)``, or
    ``w > 1 / (1 - h0^2)`` (4/3 for h0 = 0.5). For ``1 < w <= 1 / (1 - h0^2)`` h0 always lies
    above the middle fixed point and the jump happens where the positive fixed point disappears,
    at the fold edge ``b = -bistability_threshold(w)``. NaN for w <= 1 (a single fixed point, no
    jump). Float or array like ``w``.
    """
    w = np.asarray(w, dtype=np.float64)
    fold = -np.asarray(bistability_threshold(w))
    boundary = np.arctanh(h0) - w * h0
    out = np.where(w > 1 / (1 - h0**2), boundary, np.where(w > 1, fold, np.nan))
    return float(out) if out.ndim == 0 else out


def one_unit_fixed_points(w: float, b: float, n: int = 200_001):
    """All fixed points of ``h = tanh(w h + b)`` (sorted (k,) float64 array), found as sign
    changes of ``tanh(w h + b) - h`` on a grid of ``n`` points in (-1, 1) and refined by
    bisection. A fixed point h* is stable when ``|w (1 - h*^2)| < 1``."""
    g = np.linspace(-1 + 1e-12, 1 - 1e-12, n)
    F = np.tanh(w * g + b) - g
    roots = []
    for i in np.flatnonzero(np.sign(F[:-1]) != np.sign(F[1:])):
        lo, hi = g[i], g[i + 1]
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if np.sign(np.tanh(w * mid + b) - mid) == np.sign(F[i]):
                lo = mid
            else:
                hi = mid
        roots.append(0.5 * (lo + hi))
    return np.array(roots)


def descend_one_unit(start, *, lr: float = 0.2, steps: int = 200, max_norm: float | None = None,
                     **kwargs):
    """Gradient descent on :func:`one_unit_rnn` from ``start = (w, b)``, optionally clipping the
    gradient to ``max_norm`` with ``course_utils.scratch.clip_grad_norm``.

    Returns ``(path, losses, grad_norms)``: path (steps + 1, 2) of (w, b), the loss at every
    point of the path (steps + 1,), and the gradient norm before clipping at each step (steps,).
    """
    # A hand-written loop on purpose: the lesson is the descent itself, on two NumPy scalars
    # whose gradient one_unit_rnn computes in closed form; training.fit trains PyTorch modules.
    path = np.empty((steps + 1, 2))
    path[0] = start
    losses = np.empty(steps + 1)
    norms = np.empty(steps)
    for step in range(steps + 1):
        loss, gw, gb, _ = one_unit_rnn(path[step, 0], path[step, 1], **kwargs)
        losses[step] = loss
        if step == steps:
            break
        grads = {"w": np.asarray(gw), "b": np.asarray(gb)}
        if max_norm is not None:
            grads, norms[step] = scratch.clip_grad_norm(grads, max_norm)
        else:
            norms[step] = float(np.hypot(gw, gb))
        path[step + 1] = path[step] - lr * np.array([grads["w"], grads["b"]], dtype=np.float64)
    return path, losses, norms


# ---------------------------------------------------------------------------------------------
# A training run with and without clipping
# ---------------------------------------------------------------------------------------------


def train_memory_rnn(*, seed: int, max_norm: float | None = None, T: int = 30, hidden: int = 4,
                     lr: float = 1.0, steps: int = 300, batch: int = 32, n: int = 512):
    """Train a tanh RNN (input size 1, ``hidden`` units) by SGD on
    :func:`course_utils.tasks.sign_memory_task` (where the mechanism the runs find is described).

    The prediction is the first unit of h_T, i.e. ``h_all[-1, :, 0]`` (no output layer, so every
    gradient flows through the recurrence). Everything is the course's NumPy code:
    ``scratch.rnn_forward`` / ``scratch.rnn_backward`` (chapter 04's BPTT) and
    ``scratch.clip_grad_norm`` when ``max_norm`` is given (None: no clipping). The initial
    weights are those of a seeded ``torch.nn.RNN(1, hidden)``; ``seed`` fixes the data, the
    weights and the mini-batches.
    Returns a dict: ``losses`` (steps,) mini-batch MSEs, ``grad_norms`` (steps,) global norms
    before clipping, ``final_loss`` on all n sequences, ``sign_accuracy`` (the share of the n
    sequences whose prediction has the sign of the target), ``predictions`` (n,) the final
    predictions, ``max_abs_weight`` and ``params`` (the final weights, a dict) at the end.
    """
    import torch

    # A NumPy loop on purpose, not training.fit: the lesson is that the chapter's own BPTT code
    # (scratch.rnn_backward) and clipping are all that training needs; fit trains PyTorch
    # modules through autograd.
    x, y = tasks.sign_memory_task(n, T, seed=seed)
    x, y = tasks.to_time_major(x).astype(np.float64), y.astype(np.float64)   # x: (T, n, 1)
    torch.manual_seed(seed)
    p = scratch.params_from_torch(torch.nn.RNN(1, hidden))
    rng = np.random.default_rng(seed)
    losses, norms = np.empty(steps), np.empty(steps)
    with np.errstate(over="ignore", invalid="ignore"):
        for step in range(steps):
            idx = rng.integers(0, n, size=batch)
            h_all, cache = scratch.rnn_forward(x[:, idx], np.zeros((batch, hidden)), p)
            err = h_all[-1, :, 0] - y[idx]
            dh_all = np.zeros_like(h_all)
            dh_all[-1, :, 0] = 2 * err / batch          # d(mean squared error) / d(prediction)
            _, _, grads = scratch.rnn_backward(dh_all, cache)
            # max_norm None: an infinite threshold only measures the norm, clipping nothing
            grads, norms[step] = scratch.clip_grad_norm(
                grads, math.inf if max_norm is None else max_norm)
            p = {k: p[k] - lr * grads[k] for k in p}
            losses[step] = np.mean(err**2)
        h_all, _ = scratch.rnn_forward(x, np.zeros((n, hidden)), p)
    pred = h_all[-1, :, 0]
    final = float(np.mean((pred - y) ** 2))
    biggest = float(max(np.max(np.abs(v)) for v in p.values()))
    return {"losses": losses, "grad_norms": norms, "final_loss": final,
            "sign_accuracy": float(np.mean(np.sign(pred) == np.sign(y))), "predictions": pred,
            "max_abs_weight": biggest, "params": p}


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


def plot_gradient_curves(rho: float, *, input_scale: float = 1.0, seed: int = 0, T: int = 100,
                         H: int = 32, ax=None):
    """One panel: ``||dh_T/dh_{T-n}||`` against the lag n for a linear and a tanh RNN sharing
    one recurrent matrix of spectral radius ``rho``, with the prediction ``rho**n`` dashed.
    Used by the chapter's slider and its static twin. Returns the axes."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    lags = np.arange(T + 1)
    for nonlinearity, color in (("linear", "#0072B2"), ("tanh", "#D55E00")):
        curve = gradient_norm_curve(rho, nonlinearity=nonlinearity, T=T, H=H,
                                    input_scale=input_scale, seed=seed)
        ax.semilogy(lags, curve, color=color, label=f"{nonlinearity} RNN")
    ax.semilogy(lags, float(rho) ** lags, "k--", lw=1, label=r"$\rho^n$ (prediction)")
    ax.set_xlabel("lag $n = T - k$")
    ax.set_ylabel(r"$\|\partial h_T / \partial h_k\|_2$")
    ax.set_title(rf"spectral radius $\rho$ = {rho:.2f}, input scale {input_scale:g}")
    ax.legend(loc="lower left")
    return ax


# ---------------------------------------------------------------------------------------------
# Exercises: a prediction and a design with a measured target
# ---------------------------------------------------------------------------------------------

WEAK_INPUT_SETUP = {"rho": 0.9, "T": 50, "H": 32, "input_scale": 0.01, "kind": "orthogonal"}


def weak_input_gradient(seed: int = 0) -> float:
    """The experiment of chapter 05's "predict, then run" exercise: ``||dh_50 / dh_0||_2`` of a
    tanh RNN with 32 units whose ``W_hh`` is 0.9 times a random orthogonal matrix (seed ``seed``),
    driven from h_0 = 0 by weak inputs (iid normal, standard deviation 0.01, seed ``seed + 1``).
    A Python float. The exercise's checker runs it only after the learner's prediction is
    recorded."""
    s = WEAK_INPUT_SETUP
    curve = gradient_norm_curve(s["rho"], nonlinearity="tanh", T=s["T"], H=s["H"],
                                input_scale=s["input_scale"], seed=seed, kind=s["kind"])
    return float(curve[s["T"]])


# The fixed recipe of the design exercise (the checker owns it; budgets in steps and sizes).
ADDING_RECIPE = {"T": 50, "hidden": 32, "steps": 500, "batch": 32, "lr": 3e-3, "clip": 1.0,
                 "n_test": 500}
ADDING_TARGET = 0.05  # test MSE; always predicting the mean 1.0 gives about 1/6 = 0.167
ADDING_SEEDS = (0, 1, 2)  # the design exercise asks for the target on each of these seeds


def train_relu_rnn_adding(init_fn=None, *, seed: int = 0, **overrides) -> dict:
    """Train a ReLU RNN on the adding problem with a fixed recipe, after ``init_fn`` set its
    initial weights; the design exercise of chapter 05.

    The model: ``torch.nn.RNN(2, hidden, nonlinearity="relu", batch_first=True)`` and a readout
    ``torch.nn.Linear(hidden, 1)`` on the last state h_T, both built right after
    ``torch.manual_seed(seed)`` (PyTorch's default initialisation), then ``init_fn(rnn)`` is
    called (None: keep the default) and may change the values of the RNN's four parameters in
    place. The recipe (:data:`ADDING_RECIPE`, ``overrides`` change it): the adding problem
    (:func:`course_utils.tasks.adding_problem`, Le, Jaitly & Hinton's variant) of length
    ``T``, ``steps`` Adam steps with learning rate ``lr`` on fresh mini-batches of ``batch``
    sequences (training data seed ``seed``), the gradient clipped to global norm ``clip``, one
    thread (``training.fit`` with ``batches=``, on the CPU); then the MSE on ``n_test`` new
    sequences (seed ``seed + 1000``).

    Returns a dict: ``test_mse`` (float, NaN if training diverged), ``baseline`` (the test MSE
    of always predicting 1.0), ``losses`` (steps,) mini-batch MSEs, ``recipe``.
    Raises ValueError when ``init_fn`` changed a parameter's shape or the nonlinearity.
    """
    import torch

    recipe = {**ADDING_RECIPE, **overrides}
    T, H, steps, batch = recipe["T"], recipe["hidden"], recipe["steps"], recipe["batch"]
    x, y = tasks.adding_problem(steps * batch, T, seed=seed)
    x_te, y_te = tasks.adding_problem(recipe["n_test"], T, seed=seed + 1000)
    x, y, x_te, y_te = (torch.from_numpy(a) for a in (x, y, x_te, y_te))   # x: (n, T, 2)

    class LastStateReadout(torch.nn.Module):
        """The RNN, then the linear readout on its last state h_T: (B, T, 2) -> (B,)."""

        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.RNN(2, H, nonlinearity="relu", batch_first=True)
            self.head = torch.nn.Linear(H, 1)

        def forward(self, xb):
            out, _ = self.rnn(xb)               # (B, T, H)
            return self.head(out[:, -1]).squeeze(-1)

    # A process of its own, as the checker trains: seeded inside, the notebook's random stream
    # and thread count untouched.
    with env.isolated_run(1):
        torch.manual_seed(seed)
        model = LastStateReadout()
        rnn = model.rnn
        shapes = {n: p.shape for n, p in rnn.named_parameters()}
        if init_fn is not None:
            init_fn(rnn)
        now = {n: p.shape for n, p in rnn.named_parameters()}
        if now != shapes or rnn.nonlinearity != "relu":
            raise ValueError("the initialisation may change the values of weight_ih_l0, "
                             "weight_hh_l0, bias_ih_l0 and bias_hh_l0, not their shapes or the "
                             f"nonlinearity (now: {now}, nonlinearity {rnn.nonlinearity!r})")
        batches = ((x[s * batch:(s + 1) * batch], y[s * batch:(s + 1) * batch])
                   for s in range(steps))
        hist = training.fit(model, batches=batches, task="regression", lr=recipe["lr"],
                            clip=recipe["clip"], device="cpu", show_progress=False,
                            loss_fn=lambda out, yb: torch.mean((out - yb) ** 2))
        losses = np.full(steps, np.nan)   # NaN from the step whose loss was not finite on
        losses[:hist.steps] = hist.step_loss[:hist.steps]
        with torch.no_grad():
            mse = torch.mean((model(x_te) - y_te) ** 2).item()
    return {"test_mse": mse if np.isfinite(mse) and np.all(np.isfinite(losses)) else float("nan"),
            "baseline": float(torch.mean((y_te - 1.0) ** 2)), "losses": losses,
            "recipe": recipe}



def confirm_weak_input_departure(depart: dict, middle: float, early: float, rho: float = 1.2):
    """The outcome that exercise 3's follow-up cell (chapter 05's exercises) checks, kept here so
    that the cell does not show it before the learner has predicted it. ``depart`` maps the
    input size (0.1 and 0.01) to the first lag at which the tanh curve falls below half the
    linear one; ``middle`` and ``early`` are the growth rates over lags 10-50 and 90-100 with
    inputs of size 0.01. Raises AssertionError when the experiment disagrees; returns None."""
    assert abs(depart[0.1] - depart[0.01]) <= 2 and depart[0.01] <= 6, depart
    assert middle < early < rho, (middle, early)
