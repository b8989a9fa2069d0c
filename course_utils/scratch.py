"""Vanilla RNN, LSTM and GRU written from scratch in NumPy.

These are the reference implementations the course chapters build up step by step. They follow
the CS231n convention: a ``*_forward`` function returns ``(outputs..., cache)`` and the matching
``*_backward`` consumes that cache and returns gradients.

Conventions (identical to PyTorch, so results can be checked against ``torch.nn``):

* ``x`` is time-major, shape ``(T, B, D)``: T time steps, batch B, input size D.
* Hidden/cell states are ``(B, H)``; ``h_all``/``c_all`` stack them over time as ``(T, B, H)``.
* ``p`` is a dict with ``weight_ih`` ``(G*H, D)``, ``weight_hh`` ``(G*H, H)``, ``bias_ih`` and
  ``bias_hh`` ``(G*H,)``, where G is the number of gate blocks stacked along the rows:
  1 for the RNN, 4 for the LSTM (order i, f, g, o), 3 for the GRU (order r, z, n).
  ``params_from_torch`` builds it from a PyTorch module.
* Everything is computed in the dtype of ``x`` (float32 or float64); parameters and states are
  cast to it, so float64 parameters with float32 inputs still give float32 outputs.
* ``dh_all`` passed to a backward function is dLoss/dh_t coming from *above* (from whatever
  consumes the outputs); the contribution flowing back through time is added internally.

Gate activations for plots: the LSTM and GRU caches are dicts whose ``"gates"`` entry holds the
post-activation gates for every step, ``(T, B, 4H)`` in order i, f, g, o (LSTM) or ``(T, B, 3H)``
in order r, z, n (GRU). ``gate_activations(cache)`` splits them into a dict of ``(T, B, H)``
arrays keyed by gate name. For a single step use ``lstm_gates`` / ``gru_gates``.

Other cache entries, for the curious: ``"x"``; ``"hs"`` ``(T+1, B, H)`` = h_0, h_1, ..., h_T
(``"h_all"`` is the view ``hs[1:]``); LSTM ``"cs"`` likewise for c and ``"tanh_c"`` = tanh(c_t);
GRU ``"hn"`` = W_hn h_{t-1} + b_hn. Treat caches as read-only.
"""

from __future__ import annotations

import functools
import os

import numpy as np

PARAM_KEYS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
LSTM_GATE_NAMES = ("i", "f", "g", "o")
GRU_GATE_NAMES = ("r", "z", "n")
NONLINEARITIES = ("tanh", "relu")


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def sigmoid(x):
    """Logistic function 1 / (1 + exp(-x)), numerically stable for any x.

    Works elementwise on arrays of any shape and keeps float32/float64 dtypes.
    """
    x = np.asarray(x)
    # exp(-|x|) lies in (0, 1], so it can never overflow; the two branches are the same
    # function, rearranged so that the exponential of a *positive* number is never taken.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _sigmoid_(a):
    """In-place sigmoid for the hot loops: 1 / (1 + exp(-a)) without temporaries.

    Cheaper than ``sigmoid`` (one exp, no branches), which matters because gates are most of
    the elementwise work. For a << 0, exp(-a) overflows to inf and 1 / inf = 0 is still the
    right answer, so only the warning is silenced.
    """
    with np.errstate(over="ignore"):
        np.negative(a, out=a)
        np.exp(a, out=a)
    a += 1
    np.reciprocal(a, out=a)
    return a


def _one_blas_thread_when_busy(fn):
    """Decorator: run ``fn`` with a single BLAS thread if the machine is oversubscribed.

    The forward and backward passes do hundreds of small matrix products (B x H times
    H x G*H per step). Extra BLAS threads gain little on those, and on a machine that is
    already busy (load average above the core count plus one) they cost a lot: every product
    waits for a worker thread that the scheduler has parked. On a shared 2-core VM that made
    forward + backward 5-10x slower than one thread. On an idle machine nothing changes, and
    the results are identical either way. Needs threadpoolctl; without it this is a no-op.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not _machine_is_busy() or _blas_controller() is None:
            return fn(*args, **kwargs)
        with _blas_controller().limit(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper


def _machine_is_busy():
    """More runnable work (1-minute load average) than usable cores plus one?"""
    if not hasattr(os, "getloadavg"):  # Windows
        return False
    # The affinity mask is what this process may actually use (containers often pin it).
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return os.getloadavg()[0] > (cores or 1) + 1


@functools.cache
def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries (found once, ~ms), or None."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


def params_from_torch(module):
    """Layer-0 parameters of ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` as float64 NumPy copies.

    Also accepts the single-step ``nn.RNNCell`` / ``nn.LSTMCell`` / ``nn.GRUCell``. A module
    built with ``bias=False`` gets zero biases, so the scratch code needs no special case.
    Returns a dict with the keys of ``PARAM_KEYS``; the arrays own their memory, so editing them
    never changes the module.
    """
    suffix = "_l0" if hasattr(module, "weight_ih_l0") else ""
    if not hasattr(module, "weight_ih" + suffix):
        raise TypeError(f"expected a torch RNN/LSTM/GRU module, got {type(module).__name__}")

    def grab(name):
        # .astype copies by default, which is what decouples the result from the module.
        return getattr(module, name + suffix).detach().cpu().numpy().astype(np.float64)

    p = {"weight_ih": grab("weight_ih"), "weight_hh": grab("weight_hh")}
    for key in ("bias_ih", "bias_hh"):
        if getattr(module, key + suffix, None) is not None:
            p[key] = grab(key)
        else:
            p[key] = np.zeros(p["weight_hh"].shape[0])
    return p


def _float_dtype(x):
    """float32/float64 inputs keep their precision; anything else (ints, ...) gets float64."""
    dtype = np.asarray(x).dtype
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


def _check_shape(name, arr, expected):
    if arr.shape != expected:
        raise ValueError(f"{name}: expected shape {expected}, got {arr.shape}")


def _unpack(p, n_gates, input_size, dtype):
    """Validate ``p`` and return (W_ih, W_hh, b_ih, b_hh, H), cast to ``dtype``.

    H is read off ``weight_hh`` (its number of columns), everything else is checked against it.
    """
    for key in PARAM_KEYS:
        if key not in p:
            raise KeyError(f"parameter dict is missing {key!r} (expected keys {PARAM_KEYS})")
    W_ih, W_hh, b_ih, b_hh = (np.asarray(p[key], dtype=dtype) for key in PARAM_KEYS)
    if W_hh.ndim != 2:
        raise ValueError(f"weight_hh: expected a 2-D ({n_gates}*H, H) array, got {W_hh.shape}")
    H = W_hh.shape[1]
    GH = n_gates * H
    _check_shape(f"weight_hh ({n_gates}*H, H) with H={H}", W_hh, (GH, H))
    _check_shape(f"weight_ih ({n_gates}*H, D) with H={H}", W_ih, (GH, input_size))
    _check_shape(f"bias_ih ({n_gates}*H,) with H={H}", b_ih, (GH,))
    _check_shape(f"bias_hh ({n_gates}*H,) with H={H}", b_hh, (GH,))
    return W_ih, W_hh, b_ih, b_hh, H


def _setup(x, states, p, n_gates, x_name="x", x_layout="(T, B, D)"):
    """Shared input handling of the step and sequence functions.

    Validates shapes, casts x, the states (dict name -> array) and the parameters to x's float
    dtype and returns ``(x, [states...], (W_ih, W_hh, b_ih, b_hh), H)``.
    """
    dtype = _float_dtype(x)
    x = np.asarray(x, dtype=dtype)
    ndim = x_layout.count(",") + 1
    if x.ndim != ndim:
        raise ValueError(f"{x_name}: expected a {ndim}-D {x_layout} array, got shape {x.shape}")
    B, D = x.shape[-2:]
    W_ih, W_hh, b_ih, b_hh, H = _unpack(p, n_gates, D, dtype)
    cast = []
    for name, s in states.items():
        s = np.asarray(s, dtype=dtype)
        _check_shape(f"{name} (B, H)", s, (B, H))
        cast.append(s)
    return x, cast, (W_ih, W_hh, b_ih, b_hh), H


def _setup_step(x_t, states, p, n_gates):
    return _setup(x_t, states, p, n_gates, x_name="x_t", x_layout="(B, D)")


def _check_upstream(dh_all, cache):
    dh_all = np.asarray(dh_all, dtype=cache["x"].dtype)
    _check_shape("dh_all (T, B, H)", dh_all, cache["h_all"].shape)
    return dh_all


def _input_projection(x, W_ih, bias):
    """x @ W_ih.T + bias for *all* time steps as one GEMM: (T, B, D) -> (T, B, G*H).

    Only the h-dependent part of a recurrence is sequential; hoisting this out of the time loop
    turns T small matrix products into a single large, BLAS-friendly one.
    """
    T, B, D = x.shape
    out = x.reshape(T * B, D) @ W_ih.T
    out += bias
    return out.reshape(T, B, -1)


def _state_buffer(s0, T):
    """(T + 1, B, H) buffer whose row 0 is s0: row t is the state step t *starts from*.

    Keeping s0 in front of the outputs means the previous states of all steps are just
    ``buf[:-1]`` (no copy), which the weight gradients need in one piece.
    """
    buf = np.empty((T + 1, *s0.shape), dtype=s0.dtype)
    buf[0] = s0
    return buf


def _sum_of_products(da, a, rows_per_gemm=128):
    """sum_t da[t].T @ a[t] for da (T, B, G*H) and a (T, B, K) -> (G*H, K).

    This is the gradient of a weight that is used at every step. Mathematically it is one GEMM
    over all T*B rows; it is computed in slabs of ~128 rows because OpenBLAS ran that single
    product, whose inner dimension T*B is far longer than its small output, about 2x slower
    (measured at H=128, T*B=6400). The slabs keep the operands in cache and cost nothing extra.
    """
    da2 = da.reshape(-1, da.shape[-1])
    a2 = a.reshape(-1, a.shape[-1])
    out = da2[:rows_per_gemm].T @ a2[:rows_per_gemm]
    for k in range(rows_per_gemm, len(da2), rows_per_gemm):
        out += da2[k : k + rows_per_gemm].T @ a2[k : k + rows_per_gemm]
    return out


def _weight_grads(da_x, da_h, x, h_prev_all):
    """Parameter gradients from the pre-activation gradients of all steps.

    The same weights are used at every step, so their gradient is a sum over steps.
    da_x (T, B, G*H) feeds W_ih/b_ih, da_h (T, B, G*H) feeds W_hh/b_hh; they are the same
    array except in the GRU, where r scales the hidden part of the candidate.
    """
    db_ih = da_x.sum(axis=(0, 1))
    return {
        "weight_ih": _sum_of_products(da_x, x),
        "weight_hh": _sum_of_products(da_h, h_prev_all),
        "bias_ih": db_ih,
        "bias_hh": db_ih.copy() if da_h is da_x else da_h.sum(axis=(0, 1)),
    }


def _input_grad(da_x, W_ih):
    """dL/dx for all steps at once: (T, B, G*H) @ (G*H, D) -> (T, B, D)."""
    T, B, GH = da_x.shape
    return (da_x.reshape(T * B, GH) @ W_ih).reshape(T, B, -1)


def gate_activations(cache):
    """Per-gate activations from an ``lstm_forward`` / ``gru_forward`` cache.

    Returns ``{"i", "f", "g", "o"}`` (LSTM) or ``{"r", "z", "n"}`` (GRU) mapped to ``(T, B, H)``
    arrays (read-only views into the cache, so cheap; copy before modifying).
    """
    names = {"lstm": LSTM_GATE_NAMES, "gru": GRU_GATE_NAMES}.get(cache.get("kind"))
    if names is None:
        raise ValueError("gate_activations needs a cache from lstm_forward or gru_forward")
    H = cache["h_all"].shape[-1]
    gates = cache["gates"]
    out = {}
    for k, name in enumerate(names):
        view = gates[..., k * H : (k + 1) * H]
        view.flags.writeable = False  # only this view: the cache itself stays writeable
        out[name] = view
    return out


# ---------------------------------------------------------------------------------------------
# Vanilla RNN:  h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
# ---------------------------------------------------------------------------------------------


def _check_nonlinearity(nonlinearity):
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")


def rnn_step(x_t, h_prev, p, nonlinearity="tanh"):
    """One step of an Elman RNN (as ``torch.nn.RNN``).

    x_t: (B, D), h_prev: (B, H) -> h_t: (B, H).
    """
    _check_nonlinearity(nonlinearity)
    x_t, (h_prev,), (W_ih, W_hh, b_ih, b_hh), _ = _setup_step(x_t, {"h_prev": h_prev}, p, 1)
    a = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh
    return np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0)


@_one_blas_thread_when_busy
def rnn_forward(x, h0, p, nonlinearity="tanh"):
    """Run an RNN over a whole sequence.

    x: (T, B, D), h0: (B, H) -> h_all: (T, B, H) (= h_1 ... h_T) and a cache for
    ``rnn_backward``.
    """
    _check_nonlinearity(nonlinearity)
    x, (h0,), (W_ih, W_hh, b_ih, b_hh), H = _setup(x, {"h0": h0}, p, 1)
    T, B, _ = x.shape
    xw = _input_projection(x, W_ih, b_ih + b_hh)
    hs = _state_buffer(h0, T)
    for t in range(T):
        # Written straight into the preallocated buffer: no per-step allocation but the matmul.
        a = np.add(xw[t], hs[t] @ W_hh.T, out=hs[t + 1])
        if nonlinearity == "tanh":
            np.tanh(a, out=a)
        else:
            np.maximum(a, 0, out=a)
    h_all = hs[1:]
    cache = {"kind": "rnn", "x": x, "hs": hs, "h_all": h_all, "params": (W_ih, W_hh),
             "nonlinearity": nonlinearity}
    return h_all, cache


@_one_blas_thread_when_busy
def rnn_backward(dh_all, cache):
    """Backpropagation through time for ``rnn_forward``.

    dh_all: (T, B, H), dLoss/dh_t from the layers above.
    Returns dx (T, B, D), dh0 (B, H) and grads, a dict with the keys of ``p``.
    """
    dh_all = _check_upstream(dh_all, cache)
    hs, h_all = cache["hs"], cache["h_all"]
    W_ih, W_hh = cache["params"]
    tanh = cache["nonlinearity"] == "tanh"
    da_all = np.empty_like(h_all)  # dLoss/d(pre-activation) of every step
    dh_next = np.zeros_like(hs[0])
    for t in reversed(range(len(h_all))):
        h = h_all[t]
        # h_t feeds both the output (dh_all[t]) and the next step (dh_next): gradients add.
        da = np.add(dh_all[t], dh_next, out=da_all[t])
        # Nonlinearity derivative from its *output*, the only thing we stored:
        # tanh' = 1 - h^2, relu' = [h > 0].
        da *= (1 - h * h) if tanh else (h > 0)
        dh_next = da @ W_hh
    grads = _weight_grads(da_all, da_all, cache["x"], hs[:-1])
    return _input_grad(da_all, W_ih), dh_next, grads


# ---------------------------------------------------------------------------------------------
# LSTM:  gates i, f, g, o;  c_t = f * c_{t-1} + i * g;  h_t = o * tanh(c_t)
# ---------------------------------------------------------------------------------------------


def _lstm_activate_(a, H):
    """Stacked pre-activations (..., 4H) -> gate values, in place (i, f, o sigmoid; g tanh).

    Uses tanh(x) = 2 sigmoid(2x) - 1 so that a single sigmoid call covers the whole contiguous
    block and g is fixed up around it: measured ~1.3x faster than separate calls, because the
    exp inside the sigmoid is the expensive part either way.
    """
    g = a[..., 2 * H : 3 * H]
    g *= 2
    _sigmoid_(a)
    g *= 2
    g -= 1
    return a


def _split(a, H):
    """Views of the gate blocks of a (..., G*H) array, in row order."""
    return [a[..., k : k + H] for k in range(0, a.shape[-1], H)]


def lstm_gates(x_t, h_prev, p):
    """Gate activations of one LSTM step: dict ``{"i", "f", "g", "o"}`` of (B, H) arrays.

    x_t: (B, D), h_prev: (B, H). (The gates depend on x_t and h_prev only, not on c_prev.)
    """
    x_t, (h_prev,), (W_ih, W_hh, b_ih, b_hh), H = _setup_step(x_t, {"h_prev": h_prev}, p, 4)
    a = _lstm_activate_(x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh, H)
    return dict(zip(LSTM_GATE_NAMES, _split(a, H), strict=True))


def lstm_step(x_t, h_prev, c_prev, p):
    """One LSTM step (as ``torch.nn.LSTM``).

    x_t: (B, D), h_prev, c_prev: (B, H) -> h_t, c_t: (B, H).
    """
    gates = lstm_gates(x_t, h_prev, p)
    i, f, g, o = (gates[name] for name in LSTM_GATE_NAMES)
    c_prev = np.asarray(c_prev, dtype=i.dtype)
    _check_shape("c_prev (B, H)", c_prev, i.shape)
    c_t = f * c_prev + i * g
    return o * np.tanh(c_t), c_t


@_one_blas_thread_when_busy
def lstm_forward(x, h0, c0, p):
    """Run an LSTM over a whole sequence.

    x: (T, B, D), h0, c0: (B, H) -> h_all, c_all: (T, B, H) and a cache for ``lstm_backward``.
    ``cache["gates"]`` (T, B, 4H) holds the gate activations i, f, g, o of every step (split
    them with ``gate_activations(cache)``).
    """
    x, (h0, c0), (W_ih, W_hh, b_ih, b_hh), H = _setup(x, {"h0": h0, "c0": c0}, p, 4)
    T, B, _ = x.shape
    # The pre-activation buffer is activated in place step by step and kept: it *is* the
    # gate cache that backward (and the gate plots) need.
    gates = _input_projection(x, W_ih, b_ih + b_hh)
    hs, cs = _state_buffer(h0, T), _state_buffer(c0, T)
    tanh_c = np.empty((T, B, H), dtype=x.dtype)
    for t in range(T):
        a = gates[t]
        a += hs[t] @ W_hh.T
        i, f, g, o = _split(_lstm_activate_(a, H), H)
        c = np.multiply(f, cs[t], out=cs[t + 1])
        c += i * g
        np.multiply(o, np.tanh(c, out=tanh_c[t]), out=hs[t + 1])
    h_all, c_all = hs[1:], cs[1:]
    cache = {"kind": "lstm", "x": x, "hs": hs, "cs": cs, "h_all": h_all, "tanh_c": tanh_c,
             "gates": gates, "params": (W_ih, W_hh)}
    return h_all, c_all, cache


@_one_blas_thread_when_busy
def lstm_backward(dh_all, cache):
    """Backpropagation through time for ``lstm_forward``.

    dh_all: (T, B, H), dLoss/dh_t from above (the LSTM's output is h, so no gradient for c_all
    from above). Returns dx (T, B, D), dh0 (B, H), dc0 (B, H) and grads.
    """
    dh_all = _check_upstream(dh_all, cache)
    hs, cs, tanh_c, gates = cache["hs"], cache["cs"], cache["tanh_c"], cache["gates"]
    W_ih, W_hh = cache["params"]
    H = hs.shape[-1]
    da_all = np.empty_like(gates)  # dLoss/d(pre-activation) of every step, rows i, f, g, o
    dh_next = np.zeros_like(hs[0])
    dc_next = np.zeros_like(cs[0])
    for t in reversed(range(len(gates))):
        s, da = gates[t], da_all[t]
        i, f, g, o = _split(s, H)
        da_i, da_f, da_g, da_o = _split(da, H)
        tc = tanh_c[t]
        dh = dh_all[t] + dh_next
        # c_t reaches the loss through h_t = o * tanh(c_t) and through c_{t+1} = f c_t + ...
        dc = dc_next + dh * o * (1 - tc * tc)
        # Product rule on c_t = f c_{t-1} + i g and h_t = o tanh(c_t) (cs[t] is c_{t-1}) ...
        np.multiply(dc, g, out=da_i)
        np.multiply(dc, cs[t], out=da_f)
        np.multiply(dc, i, out=da_g)
        np.multiply(dh, tc, out=da_o)
        # ... then through the activations, from their stored outputs: sigmoid' = s (1 - s)
        # for i, f, o and tanh' = 1 - g^2 for g.
        local = s * (1 - s)
        local[:, 2 * H : 3 * H] = 1 - g * g
        da *= local
        dc_next = dc * f
        dh_next = da @ W_hh
    grads = _weight_grads(da_all, da_all, cache["x"], hs[:-1])
    return _input_grad(da_all, W_ih), dh_next, dc_next, grads


# ---------------------------------------------------------------------------------------------
# GRU (PyTorch convention):  r, z = sigmoid(...);  n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
#                            h_t = (1 - z) * n + z * h_{t-1}
# ---------------------------------------------------------------------------------------------


def gru_gates(x_t, h_prev, p):
    """Gate activations of one GRU step: dict ``{"r", "z", "n"}`` of (B, H) arrays.

    x_t: (B, D), h_prev: (B, H).
    """
    x_t, (h_prev,), (W_ih, W_hh, b_ih, b_hh), H = _setup_step(x_t, {"h_prev": h_prev}, p, 3)
    xw = x_t @ W_ih.T + b_ih
    hw = h_prev @ W_hh.T + b_hh
    r, z = _split(sigmoid(xw[:, : 2 * H] + hw[:, : 2 * H]), H)
    # Unlike the other gates, r scales the *hidden* projection (bias included) before the add.
    n = np.tanh(xw[:, 2 * H :] + r * hw[:, 2 * H :])
    return {"r": r, "z": z, "n": n}


def gru_step(x_t, h_prev, p):
    """One GRU step (as ``torch.nn.GRU``).

    x_t: (B, D), h_prev: (B, H) -> h_t: (B, H).
    """
    gates = gru_gates(x_t, h_prev, p)
    z, n = gates["z"], gates["n"]
    return (1 - z) * n + z * np.asarray(h_prev, dtype=n.dtype)


@_one_blas_thread_when_busy
def gru_forward(x, h0, p):
    """Run a GRU over a whole sequence.

    x: (T, B, D), h0: (B, H) -> h_all: (T, B, H) and a cache for ``gru_backward``.
    ``cache["gates"]`` (T, B, 3H) holds the activations r, z, n of every step (split them with
    ``gate_activations(cache)``).
    """
    x, (h0,), (W_ih, W_hh, b_ih, b_hh), H = _setup(x, {"h0": h0}, p, 3)
    T, B, _ = x.shape
    # The hidden biases of r and z can join the hoisted input projection; b_hn cannot,
    # because r multiplies it.
    bias = b_ih.copy()
    bias[: 2 * H] += b_hh[: 2 * H]
    b_hn = b_hh[2 * H :]
    gates = _input_projection(x, W_ih, bias)
    hs = _state_buffer(h0, T)
    hn_all = np.empty((T, B, H), dtype=x.dtype)  # W_hn h + b_hn, needed for dLoss/dr
    for t in range(T):
        a = gates[t]
        hw = hs[t] @ W_hh.T
        rz = a[:, : 2 * H]
        rz += hw[:, : 2 * H]
        r, z = _split(_sigmoid_(rz), H)
        hn = np.add(hw[:, 2 * H :], b_hn, out=hn_all[t])
        n = a[:, 2 * H :]
        n += r * hn
        np.tanh(n, out=n)
        # (1 - z) * n + z * h  ==  n + z * (h - n): one multiply fewer.
        h = np.subtract(hs[t], n, out=hs[t + 1])
        h *= z
        h += n
    h_all = hs[1:]
    cache = {"kind": "gru", "x": x, "hs": hs, "h_all": h_all, "gates": gates, "hn": hn_all,
             "params": (W_ih, W_hh)}
    return h_all, cache


@_one_blas_thread_when_busy
def gru_backward(dh_all, cache):
    """Backpropagation through time for ``gru_forward``.

    dh_all: (T, B, H), dLoss/dh_t from above.
    Returns dx (T, B, D), dh0 (B, H) and grads, a dict with the keys of ``p``.
    """
    dh_all = _check_upstream(dh_all, cache)
    hs, gates, hn_all = cache["hs"], cache["gates"], cache["hn"]
    W_ih, W_hh = cache["params"]
    H = hs.shape[-1]
    # Two sets of pre-activation gradients: the r and z parts are shared, but the candidate's
    # hidden part (W_hn h + b_hn) sits behind r, so its gradient is r times the input part's.
    da_x = np.empty_like(gates)
    da_h = np.empty_like(gates)
    dh_next = np.zeros_like(hs[0])
    for t in reversed(range(len(gates))):
        r, z, n = _split(gates[t], H)
        da_r, da_z, da_n = _split(da_x[t], H)
        h_prev = hs[t]
        dh = dh_all[t] + dh_next
        # h_t = (1 - z) n + z h_prev, then through each activation (sigmoid' = s (1 - s),
        # tanh' = 1 - n^2); n's pre-activation is W_in x + b_in + r * hn.
        da_n[...] = dh * (1 - z) * (1 - n * n)
        da_z[...] = dh * (h_prev - n) * z * (1 - z)
        da_r[...] = da_n * hn_all[t] * r * (1 - r)
        da_h[t, :, : 2 * H] = da_x[t, :, : 2 * H]
        np.multiply(da_n, r, out=da_h[t, :, 2 * H :])
        # h_{t-1} is used directly (z * h_prev) and through the recurrent matmul.
        dh_next = dh * z + da_h[t] @ W_hh
    grads = _weight_grads(da_x, da_h, cache["x"], hs[:-1])
    return _input_grad(da_x, W_ih), dh_next, grads


# ---------------------------------------------------------------------------------------------
# Gradient clipping
# ---------------------------------------------------------------------------------------------


def clip_grad_norm(grads, max_norm):
    """Scale all gradients together so that their global L2 norm is at most ``max_norm``.

    Mirrors ``torch.nn.utils.clip_grad_norm_``: the norm is taken over *all* arrays as if they
    were one long vector, and every array is multiplied by max_norm / (total_norm + 1e-6) only
    when that factor is below 1 (the 1e-6 guards against dividing by zero).
    Returns ``(clipped, total_norm)``: a new dict of new arrays (the input is left untouched)
    and the norm *before* clipping, as a Python float.
    """
    # Squares summed in float64 so a float32 norm does not lose precision over many arrays.
    total_norm = float(np.sqrt(sum(np.sum(np.square(g, dtype=np.float64))
                                   for g in grads.values())))
    # float() keeps the factor a *weak* Python scalar, so float32 gradients stay float32.
    scale = float(max_norm) / (total_norm + 1e-6)
    if scale < 1:
        clipped = {k: np.asarray(g) * scale for k, g in grads.items()}
    else:
        clipped = {k: np.array(g, copy=True) for k, g in grads.items()}
    return clipped, total_norm
