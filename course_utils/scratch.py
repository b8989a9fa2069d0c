"""Vanilla RNN, LSTM and GRU written from scratch in NumPy: the course's reference code.

Each function is written to be read next to its chapter's equations (chapter 03 for the RNN,
04 for backpropagation through time, 06 for the LSTM, 07 for the GRU). They follow the CS231n
convention: a ``*_forward`` function returns ``(outputs..., cache)`` and the matching
``*_backward`` consumes that cache and returns the gradients.

Conventions (identical to PyTorch, so results can be checked against ``torch.nn``):

* Time index: the maths counts steps from 1, arrays from 0. A sequence is x_1 .. x_T and the
  initial state is h_0 (the argument ``h0``). ``x`` is time-major, shape ``(T, B, D)`` (T steps,
  batch B, input size D), and ``x[t-1]`` holds x_t; ``h_all`` has T rows and ``h_all[t-1]``
  holds h_t. Inside the loops ``t`` is the maths' step number, 1 .. T.
* Hidden and cell states are ``(B, H)``; ``h_all`` and ``c_all`` stack them over time,
  ``(T, B, H)``.
* ``p`` is a dict with ``weight_ih`` ``(G*H, D)``, ``weight_hh`` ``(G*H, H)``, ``bias_ih`` and
  ``bias_hh`` ``(G*H,)``, where G is the number of gate blocks stacked along the rows:
  1 for the RNN, 4 for the LSTM (order i, f, g, o), 3 for the GRU (order r, z, n).
  ``params_from_torch`` builds it from a PyTorch module.
* Everything is computed in the dtype of ``x`` (float32 or float64); parameters and states are
  cast to it, so float64 parameters with float32 inputs still give float32 outputs.
* ``dh_all`` passed to a backward function is dLoss/dh_t coming from *above* (from whatever
  consumes the outputs), ``dh_all[t-1]`` for step t; the part flowing back through time is
  added inside.

Gate activations for plots: the LSTM and GRU caches are dicts whose ``"gates"`` entry holds the
post-activation gates of every step, ``(T, B, 4H)`` in order i, f, g, o (LSTM) or ``(T, B, 3H)``
in order r, z, n (GRU). ``gate_activations(cache)`` splits them into a dict of ``(T, B, H)``
arrays keyed by gate name. For a single step use ``lstm_gates`` / ``gru_gates``.

Other cache entries, for the curious: ``"x"``; ``"hs"`` ``(T+1, B, H)`` with ``hs[t]`` = h_t for
t = 0 .. T (``"h_all"`` is the view ``hs[1:]``); LSTM ``"cs"`` likewise for c and ``"tanh_c"``
with ``tanh_c[t-1]`` = tanh(c_t); GRU ``"hn"`` with ``hn[t-1]`` = W_hn h_{t-1} + b_hn. Treat
caches as read-only.

Speed: the code is written for reading. A forward step is the step function's equation;
each weight gradient, a sum over steps, is one matrix product over all steps (as chapter 04
derives it). Tricks that other implementations use were measured on the benchmark shape
(``python -m course_utils.maintainer.bench``: T=100, B=64, D=64, H=128, float32) and left out
because none gained more than 1.3x there: computing the input projections of all steps as one
product before the loop (slower here, its (T*B, G*H) result does not stay in cache), summing weight
gradients in slabs of rows, in-place activations and tanh written through the sigmoid.
"""

from __future__ import annotations

import numpy as np

PARAM_KEYS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
LSTM_GATE_NAMES = ("i", "f", "g", "o")
GRU_GATE_NAMES = ("r", "z", "n")
NONLINEARITIES = ("tanh", "relu")


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def sigmoid(x):
    """Logistic function 1 / (1 + exp(-x)), elementwise on any shape; keeps float32/float64.

    For very negative x (below about -88 in float32, -709 in float64) exp(-x) overflows to inf,
    and 1 / (1 + inf) = 0 is still the right value, so only the overflow warning is silenced.
    """
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-np.asarray(x)))


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


def _states(s0, T):
    """A (T + 1, B, H) array for the states s_0 .. s_T, indexed like the maths: row t is s_t."""
    s = np.empty((T + 1, *s0.shape), dtype=s0.dtype)
    s[0] = s0
    return s


def _split(a, H):
    """The gate blocks of a (..., G*H) array, in row order, as views."""
    return [a[..., k : k + H] for k in range(0, a.shape[-1], H)]


def _sum_over_steps(d, a):
    """sum over t of d_t^T a_t, for d (T, B, G*H) and a (T, B, K): a (G*H, K) weight gradient.

    A weight used at every step gets the sum of its per-step gradients. Stacking the steps
    along the batch axis makes that sum a single matrix product with T*B rows.
    """
    return d.reshape(-1, d.shape[-1]).T @ a.reshape(-1, a.shape[-1])


def _weight_grads(da_x, da_h, x, h_prev_all):
    """Parameter gradients from the pre-activation gradients of all steps.

    da_x (T, B, G*H) is dLoss/d(W_ih x_t + b_ih), da_h (T, B, G*H) is dLoss/d(W_hh h_{t-1} +
    b_hh); they are the same array except in the GRU, where r multiplies the hidden part of the
    candidate. h_prev_all (T, B, H) holds h_0 .. h_{T-1}.
    """
    return {
        "weight_ih": _sum_over_steps(da_x, x),
        "weight_hh": _sum_over_steps(da_h, h_prev_all),
        "bias_ih": da_x.sum(axis=(0, 1)),
        "bias_hh": da_h.sum(axis=(0, 1)),
    }


def _input_grad(da_x, W_ih):
    """dLoss/dx for all steps at once: (T, B, G*H) @ (G*H, D) -> (T, B, D)."""
    return da_x @ W_ih


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

    h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), f = tanh (default) or ReLU.
    x_t: (B, D), h_prev: (B, H) = h_{t-1} -> h_t: (B, H), in the dtype of x_t (h_prev and p are
    cast to it: x_t float32 with float64 parameters gives float32).
    """
    _check_nonlinearity(nonlinearity)
    x_t, (h_prev,), (W_ih, W_hh, b_ih, b_hh), _ = _setup_step(x_t, {"h_prev": h_prev}, p, 1)
    a = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh
    return np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0)


def rnn_forward(x, h0, p, nonlinearity="tanh"):
    """Run an RNN over a whole sequence: h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), t = 1..T.

    x: (T, B, D) with x[t-1] = x_t; h0: (B, H) = h_0.
    Returns h_all: (T, B, H) with h_all[t-1] = h_t, and a cache for ``rnn_backward``.
    """
    _check_nonlinearity(nonlinearity)
    x, (h0,), weights, _ = _setup(x, {"h0": h0}, p, 1)
    p = dict(zip(PARAM_KEYS, weights, strict=True))  # cast to x's dtype once, not at every step
    T = len(x)
    hs = _states(h0, T)  # hs[t] = h_t
    for t in range(1, T + 1):
        hs[t] = rnn_step(x[t - 1], hs[t - 1], p, nonlinearity)
    h_all = hs[1:]
    cache = {"kind": "rnn", "x": x, "hs": hs, "h_all": h_all, "params": weights[:2],
             "nonlinearity": nonlinearity}
    return h_all, cache


def rnn_backward(dh_all, cache):
    """Backpropagation through time for ``rnn_forward``.

    dh_all: (T, B, H), dh_all[t-1] = dLoss/dh_t from the layers above (cast to the dtype of the
    forward pass's x). Returns dx (T, B, D), dh0 (B, H) and grads, a dict with the keys of ``p``,
    all in that dtype.
    """
    dh_all = _check_upstream(dh_all, cache)
    hs, x = cache["hs"], cache["x"]
    W_ih, W_hh = cache["params"]
    T = len(x)
    da_all = np.empty_like(dh_all)  # da_all[t-1] = delta_t = dLoss/da_t, a_t the pre-activation
    dh_next = np.zeros_like(hs[0])  # W_hh^T delta_{t+1}: the gradient from step t+1 (0 at t = T)
    for t in range(T, 0, -1):
        # h_t feeds both the output (dh_all[t-1]) and the next step (dh_next): gradients add.
        dh = dh_all[t - 1] + dh_next
        # f' from the stored output h_t: tanh' = 1 - h_t^2, relu' = [h_t > 0].
        if cache["nonlinearity"] == "tanh":
            da_all[t - 1] = dh * (1 - hs[t] ** 2)
        else:
            da_all[t - 1] = dh * (hs[t] > 0)
        dh_next = da_all[t - 1] @ W_hh
    # Every weight is used at every step: its gradient is a sum over t (h_{t-1} is hs[:-1]).
    grads = _weight_grads(da_all, da_all, x, hs[:-1])
    return _input_grad(da_all, W_ih), dh_next, grads


def last_state_classifier_grads(h_all, cache, W_hy, b_y, y):
    """A classifier on the last state: logits = h_T W_hy^T + b_y, mean cross-entropy against y.

    h_all, cache: from ``rnn_forward``; W_hy (C, H), b_y (C,), y (B,) class ids. The loss sits
    on h_T only, so dLoss/dh_t = 0 for t < T and BPTT starts from dh_all[-1] alone. Returns
    (loss, grads): loss a Python float, grads the keys of the RNN's p plus "W_hy" and "b_y".
    Chapter 04's exercise 3 derives this; the chapter's training loop calls it.
    """
    from course_utils.softmax import cross_entropy

    loss, dz = cross_entropy(h_all[-1] @ W_hy.T + b_y, y)   # dz = (softmax - onehot) / B
    dh_all = np.zeros_like(h_all)
    dh_all[-1] = dz @ W_hy
    _, _, grads = rnn_backward(dh_all, cache)
    grads["W_hy"], grads["b_y"] = dz.T @ h_all[-1], dz.sum(0)
    return loss, grads


# ---------------------------------------------------------------------------------------------
# LSTM:  i, f, o = sigmoid(...), g = tanh(...);  c_t = f * c_{t-1} + i * g;  h_t = o * tanh(c_t)
# ---------------------------------------------------------------------------------------------


def _lstm_gate_values(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    """The gates i_t, f_t, g_t, o_t of one step, stacked along the last axis: (B, 4H)."""
    a_i, a_f, a_g, a_o = _split(x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh, h_prev.shape[-1])
    return np.concatenate([sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)], axis=-1)


def lstm_gates(x_t, h_prev, p):
    """Gate activations of one LSTM step: dict ``{"i", "f", "g", "o"}`` of (B, H) arrays.

    x_t: (B, D), h_prev: (B, H) = h_{t-1}. (The gates depend on x_t and h_{t-1} only, not on
    c_{t-1}.)
    """
    x_t, (h_prev,), weights, H = _setup_step(x_t, {"h_prev": h_prev}, p, 4)
    s = _lstm_gate_values(x_t, h_prev, *weights)
    return dict(zip(LSTM_GATE_NAMES, _split(s, H), strict=True))


def lstm_step(x_t, h_prev, c_prev, p):
    """One LSTM step (as ``torch.nn.LSTM``): c_t = f * c_{t-1} + i * g, h_t = o * tanh(c_t).

    x_t: (B, D), h_prev, c_prev: (B, H) = h_{t-1}, c_{t-1} -> h_t, c_t: (B, H), in the dtype of
    x_t (states and p are cast to it: x_t float32 with float64 parameters gives float32).
    """
    gates = lstm_gates(x_t, h_prev, p)
    i, f, g, o = (gates[name] for name in LSTM_GATE_NAMES)
    c_prev = np.asarray(c_prev, dtype=i.dtype)
    _check_shape("c_prev (B, H)", c_prev, i.shape)
    c_t = f * c_prev + i * g
    return o * np.tanh(c_t), c_t


def lstm_forward(x, h0, c0, p):
    """Run an LSTM over a whole sequence, t = 1 .. T.

    x: (T, B, D) with x[t-1] = x_t; h0, c0: (B, H) = h_0, c_0.
    Returns h_all, c_all: (T, B, H) with h_all[t-1] = h_t, c_all[t-1] = c_t, and a cache for
    ``lstm_backward``. ``cache["gates"]`` (T, B, 4H) holds the gate activations i, f, g, o of
    every step (split them with ``gate_activations(cache)``).
    """
    x, (h0, c0), weights, H = _setup(x, {"h0": h0, "c0": c0}, p, 4)
    T, B = x.shape[:2]
    hs, cs = _states(h0, T), _states(c0, T)  # hs[t] = h_t, cs[t] = c_t
    gates = np.empty((T, B, 4 * H), dtype=x.dtype)  # gates[t-1] = (i_t, f_t, g_t, o_t)
    tanh_c = np.empty_like(hs[1:])  # tanh_c[t-1] = tanh(c_t)
    for t in range(1, T + 1):
        gates[t - 1] = _lstm_gate_values(x[t - 1], hs[t - 1], *weights)
        i, f, g, o = _split(gates[t - 1], H)
        cs[t] = f * cs[t - 1] + i * g
        tanh_c[t - 1] = np.tanh(cs[t])
        hs[t] = o * tanh_c[t - 1]
    h_all, c_all = hs[1:], cs[1:]
    cache = {"kind": "lstm", "x": x, "hs": hs, "cs": cs, "h_all": h_all, "tanh_c": tanh_c,
             "gates": gates, "params": weights[:2]}
    return h_all, c_all, cache


def lstm_backward(dh_all, cache):
    """Backpropagation through time for ``lstm_forward``.

    dh_all: (T, B, H), dh_all[t-1] = dLoss/dh_t from above (the LSTM's output is h, so no
    gradient for c_all comes from above). Returns dx (T, B, D), dh0 (B, H), dc0 (B, H) and grads.
    """
    dh_all = _check_upstream(dh_all, cache)
    hs, cs, tanh_c, gates, x = cache["hs"], cache["cs"], cache["tanh_c"], cache["gates"], cache["x"]
    W_ih, W_hh = cache["params"]
    T, H = len(x), hs.shape[-1]
    da_all = np.empty_like(gates)  # da_all[t-1]: dLoss/d(pre-activations of step t), i f g o
    dh_next = np.zeros_like(hs[0])  # the gradient reaching h_t from step t+1 (0 at t = T)
    dc_next = np.zeros_like(cs[0])  # the gradient reaching c_t from step t+1 (0 at t = T)
    for t in range(T, 0, -1):
        i, f, g, o = _split(gates[t - 1], H)
        da_i, da_f, da_g, da_o = _split(da_all[t - 1], H)
        dh = dh_all[t - 1] + dh_next
        # c_t reaches the loss through h_t = o * tanh(c_t) and through c_{t+1} = f_{t+1} c_t + ...
        dc = dc_next + dh * o * (1 - tanh_c[t - 1] ** 2)
        # Product rule on c_t = f c_{t-1} + i g and h_t = o tanh(c_t), then through each gate's
        # activation, from its stored output: sigmoid' = s (1 - s), tanh' = 1 - g^2.
        da_i[...] = dc * g * i * (1 - i)
        da_f[...] = dc * cs[t - 1] * f * (1 - f)
        da_g[...] = dc * i * (1 - g**2)
        da_o[...] = dh * tanh_c[t - 1] * o * (1 - o)
        dc_next = dc * f
        dh_next = da_all[t - 1] @ W_hh
    grads = _weight_grads(da_all, da_all, x, hs[:-1])
    return _input_grad(da_all, W_ih), dh_next, dc_next, grads


# ---------------------------------------------------------------------------------------------
# GRU (PyTorch convention):  r, z = sigmoid(...);  n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
#                            h_t = (1 - z) * n + z * h_{t-1}
# ---------------------------------------------------------------------------------------------


def gru_gates(x_t, h_prev, p):
    """Gate activations of one GRU step: dict ``{"r", "z", "n"}`` of (B, H) arrays.

    x_t: (B, D), h_prev: (B, H) = h_{t-1}.
    """
    x_t, (h_prev,), weights, H = _setup_step(x_t, {"h_prev": h_prev}, p, 3)
    s, _ = _gru_gate_values(x_t, h_prev, *weights)
    return dict(zip(GRU_GATE_NAMES, _split(s, H), strict=True))


def _gru_gate_values(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    """(B, 3H) gate values, rows r, z, n, and hn = W_hn h_{t-1} + b_hn (B, H)."""
    H = h_prev.shape[-1]
    x_r, x_z, x_n = _split(x_t @ W_ih.T + b_ih, H)  # W_i* x_t + b_i*
    h_r, h_z, hn = _split(h_prev @ W_hh.T + b_hh, H)  # W_h* h_{t-1} + b_h*
    r = sigmoid(x_r + h_r)
    z = sigmoid(x_z + h_z)
    # Unlike the other gates, r scales the *hidden* projection (bias included) before the add.
    n = np.tanh(x_n + r * hn)
    return np.concatenate([r, z, n], axis=-1), hn


def gru_step(x_t, h_prev, p):
    """One GRU step (as ``torch.nn.GRU``): h_t = (1 - z) * n + z * h_{t-1}.

    x_t: (B, D), h_prev: (B, H) = h_{t-1} -> h_t: (B, H), in the dtype of x_t (h_prev and p are
    cast to it: x_t float32 with float64 parameters gives float32).
    """
    gates = gru_gates(x_t, h_prev, p)
    z, n = gates["z"], gates["n"]
    return (1 - z) * n + z * np.asarray(h_prev, dtype=n.dtype)


def gru_forward(x, h0, p):
    """Run a GRU over a whole sequence, t = 1 .. T.

    x: (T, B, D) with x[t-1] = x_t; h0: (B, H) = h_0.
    Returns h_all: (T, B, H) with h_all[t-1] = h_t, and a cache for ``gru_backward``.
    ``cache["gates"]`` (T, B, 3H) holds the activations r, z, n of every step (split them with
    ``gate_activations(cache)``).
    """
    x, (h0,), weights, H = _setup(x, {"h0": h0}, p, 3)
    T, B = x.shape[:2]
    hs = _states(h0, T)  # hs[t] = h_t
    gates = np.empty((T, B, 3 * H), dtype=x.dtype)  # gates[t-1] = (r_t, z_t, n_t)
    hn_all = np.empty_like(hs[1:])  # hn_all[t-1] = W_hn h_{t-1} + b_hn, needed for dLoss/dr
    for t in range(1, T + 1):
        gates[t - 1], hn_all[t - 1] = _gru_gate_values(x[t - 1], hs[t - 1], *weights)
        _, z, n = _split(gates[t - 1], H)
        hs[t] = (1 - z) * n + z * hs[t - 1]
    h_all = hs[1:]
    cache = {"kind": "gru", "x": x, "hs": hs, "h_all": h_all, "gates": gates, "hn": hn_all,
             "params": weights[:2]}
    return h_all, cache


def gru_backward(dh_all, cache):
    """Backpropagation through time for ``gru_forward``.

    dh_all: (T, B, H), dh_all[t-1] = dLoss/dh_t from above.
    Returns dx (T, B, D), dh0 (B, H) and grads, a dict with the keys of ``p``.
    """
    dh_all = _check_upstream(dh_all, cache)
    hs, gates, hn_all, x = cache["hs"], cache["gates"], cache["hn"], cache["x"]
    W_ih, W_hh = cache["params"]
    T, H = len(x), hs.shape[-1]
    # Two sets of pre-activation gradients: the r and z parts are shared, but the candidate's
    # hidden part (W_hn h_{t-1} + b_hn) sits behind r, so its gradient is r times the input part's.
    da_x = np.empty_like(gates)  # dLoss/d(W_ih x_t + b_ih) in da_x[t-1], rows r, z, n
    da_h = np.empty_like(gates)  # dLoss/d(W_hh h_{t-1} + b_hh) in da_h[t-1]
    dh_next = np.zeros_like(hs[0])  # the gradient reaching h_t from step t+1 (0 at t = T)
    for t in range(T, 0, -1):
        r, z, n = _split(gates[t - 1], H)
        da_r, da_z, da_n = _split(da_x[t - 1], H)
        h_prev = hs[t - 1]
        dh = dh_all[t - 1] + dh_next
        # h_t = (1 - z) n + z h_{t-1}, then through each activation (sigmoid' = s (1 - s),
        # tanh' = 1 - n^2); n's pre-activation is W_in x_t + b_in + r * hn_t.
        da_n[...] = dh * (1 - z) * (1 - n**2)
        da_z[...] = dh * (h_prev - n) * z * (1 - z)
        da_r[...] = da_n * hn_all[t - 1] * r * (1 - r)
        da_h[t - 1, :, : 2 * H] = da_x[t - 1, :, : 2 * H]
        da_h[t - 1, :, 2 * H :] = da_n * r
        # h_{t-1} is used directly (z * h_{t-1}) and through the recurrent product.
        dh_next = dh * z + da_h[t - 1] @ W_hh
    grads = _weight_grads(da_x, da_h, x, hs[:-1])
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
