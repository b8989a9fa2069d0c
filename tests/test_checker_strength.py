"""Every checker rejects plausible wrong implementations and accepts correct ones written
differently. The wrong versions here are written independently of the hints in ``checks``."""

import numpy as np
import pytest

from course_utils.grading import checks


def sig(v):
    return 1.0 / (1.0 + np.exp(-v))


# ---------------------------------------------------------------- softmax (chapter 00)
def softmax_ok_loop(z):
    out = np.empty_like(z)
    for idx in np.ndindex(z.shape[:-1]):
        row = z[idx] - np.max(z[idx])
        out[idx] = np.exp(row) / np.exp(row).sum()
    return out


def softmax_ok_logsumexp(z):
    m = z.max(axis=-1, keepdims=True)
    return np.exp(z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))


SOFTMAX_WRONG = {
    "naive (overflows)": lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True),
    "axis 0": lambda z: np.exp(z - z.max(0)) / np.exp(z - z.max(0)).sum(0),
    "global max only": lambda z: np.exp(z - z.max()) / np.exp(z - z.max()).sum(-1, keepdims=True),
    "float64 always": lambda z: softmax_ok_loop(z.astype(np.float64)),
    "mean shift": lambda z: np.exp(z - z.mean(-1, keepdims=True))
    / np.exp(z - z.mean(-1, keepdims=True)).sum(-1, keepdims=True),
}


def softmax_backward_ok(s, ds):
    out = np.empty(s.shape, dtype=np.result_type(s, ds))  # NumPy's promotion, as stated
    for idx in np.ndindex(s.shape[:-1]):
        jac = np.diag(s[idx]) - np.outer(s[idx], s[idx])
        out[idx] = jac.T @ ds[idx]
    return out


SOFTMAX_BACKWARD_WRONG = {
    "diagonal only": lambda s, ds: s * (1 - s) * ds,
    "sign flipped": lambda s, ds: -s * (ds - (s * ds).sum(-1, keepdims=True)),
    "global inner product": lambda s, ds: s * (ds - (s * ds).sum()),
    "forgot ds": lambda s, ds: s * (1 - s.sum(-1, keepdims=True)),
}


# ---------------------------------------------------------------- tfidf (chapter 01)
def tfidf_ok_loops(counts):
    n, m = counts.shape
    out = np.zeros((n, m))
    for j in range(m):
        df = sum(1 for i in range(n) if counts[i, j] > 0)
        idf = np.log((1 + n) / (1 + df)) + 1
        out[:, j] = counts[:, j] * idf
    for i in range(n):
        norm = np.sqrt(np.sum(out[i] ** 2))
        if norm > 0:
            out[i] /= norm
    return out


def tfidf_variant(log=np.log, smooth=1, plus_one=1, norm="l2", safe=True):
    def fn(counts):
        n = counts.shape[0]
        df = (counts > 0).sum(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            w = counts * (log((smooth + n) / (smooth + df)) + plus_one)
            if norm == "l2":
                d = np.linalg.norm(w, axis=1, keepdims=True)
            elif norm == "l1":
                d = np.abs(w).sum(1, keepdims=True)
            else:
                return w
            return w / np.where(d == 0, 1, d) if safe else w / d
    return fn


def tfidf_df_from_totals(counts):
    """Counts every occurrence as a document: df = column sum instead of nonzero count."""
    w = counts * (np.log((1 + counts.shape[0]) / (1 + counts.sum(0))) + 1)
    norms = np.linalg.norm(w, axis=1, keepdims=True)
    return w / np.where(norms == 0, 1, norms)


TFIDF_WRONG = {
    "no smoothing": tfidf_variant(smooth=0),
    "log base 10": tfidf_variant(log=np.log10),
    "no +1 on idf": tfidf_variant(plus_one=0),
    "no normalisation": tfidf_variant(norm=None),
    "l1 norm": tfidf_variant(norm="l1"),
    "NaN on an empty document": tfidf_variant(safe=False),
    "binary tf": lambda c: tfidf_variant()((c > 0).astype(float)),
    "df from total counts": tfidf_df_from_totals,
}


# ---------------------------------------------------------------- rnn_step (chapter 03)
def rnn_ok(x, h, p):
    w = np.concatenate([p["weight_ih"], p["weight_hh"]], axis=1)
    net = np.concatenate([x, h.astype(x.dtype)], axis=1) @ w.T + (p["bias_ih"] + p["bias_hh"])
    return np.tanh(net).astype(x.dtype)  # the stub's dtype rule: the dtype of x_t


def rnn_ok_einsum(x, h, p):
    net = np.einsum("hd,bd->bh", p["weight_ih"], x) + np.einsum("hk,bk->bh", p["weight_hh"], h)
    return np.tanh(net + p["bias_ih"] + p["bias_hh"]).astype(x.dtype)


def rnn_mutating(x, h, p):
    out = rnn_ok(x, h, p)
    h[...] = out  # "updates the state in place": right output, clobbered input
    return out


RNN_WRONG = {
    "relu": lambda x, h, p: np.maximum(0, x @ p["weight_ih"].T + p["bias_ih"]
                                       + h @ p["weight_hh"].T + p["bias_hh"]),
    "missing bias_hh": lambda x, h, p: np.tanh(x @ p["weight_ih"].T + p["bias_ih"]
                                               + h @ p["weight_hh"].T),
    "untransposed W_hh": lambda x, h, p: np.tanh(x @ p["weight_ih"].T + p["bias_ih"]
                                                 + h @ p["weight_hh"] + p["bias_hh"]),
    "ignores h_prev": lambda x, h, p: np.tanh(x @ p["weight_ih"].T + p["bias_ih"] + p["bias_hh"]),
    "mutates h_prev": lambda x, h, p: rnn_mutating(x, h, p),
    "float64 output": lambda x, h, p: rnn_ok(x.astype(np.float64), h.astype(np.float64),
                                             {k: v.astype(np.float64) for k, v in p.items()}),
    "sigmoid": lambda x, h, p: sig(x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T
                                   + p["bias_hh"]),
}


# ---------------------------------------------------------------- bptt (chapter 04)
def bptt_variant(no_recursion=False, one_minus_h=False, off_by_one=False, drop_bias=False,
                 dh0_zero=False):
    def fn(x, h0, p, dh_all):
        # the stub's dtype rule: everything in the dtype of x
        h0, dh_all = h0.astype(x.dtype), dh_all.astype(x.dtype)
        p = {k: v.astype(x.dtype) for k, v in p.items()}
        T = x.shape[0]
        hs = [h0]
        for t in range(T):
            hs.append(np.tanh(x[t] @ p["weight_ih"].T + p["bias_ih"] + hs[-1] @ p["weight_hh"].T
                              + p["bias_hh"]))
        g = {k: np.zeros_like(v) for k, v in p.items()}
        dx = np.zeros_like(x)
        carry = np.zeros_like(h0)
        for t in range(T - 1, -1, -1):
            dh = dh_all[t] if no_recursion else dh_all[t] + carry
            d = dh * ((1 - hs[t + 1]) if one_minus_h else (1 - hs[t + 1] ** 2))
            g["weight_ih"] += d.T @ x[t]
            g["weight_hh"] += d.T @ (hs[t + 1] if off_by_one else hs[t])
            g["bias_ih"] += d.sum(0)
            if not drop_bias:
                g["bias_hh"] += d.sum(0)
            dx[t] = d @ p["weight_ih"]
            carry = d @ p["weight_hh"]
        return dx, (np.zeros_like(h0) if dh0_zero else carry), g
    return fn


def bptt_ok_autograd_style(x, h0, p, dh_all):
    """Correct, written with the stacked-weight trick and explicit lists."""
    h0, dh_all = h0.astype(x.dtype), dh_all.astype(x.dtype)
    p = {k: v.astype(x.dtype) for k, v in p.items()}
    T = x.shape[0]
    w = np.concatenate([p["weight_ih"], p["weight_hh"]], axis=1)
    inputs, hs = [], [h0]
    for t in range(T):
        z = np.concatenate([x[t], hs[-1]], axis=1)
        inputs.append(z)
        hs.append(np.tanh(z @ w.T + p["bias_ih"] + p["bias_hh"]))
    dw = np.zeros_like(w)
    db = np.zeros_like(p["bias_ih"])
    dxs = []
    dnext = np.zeros_like(h0)
    for t in reversed(range(T)):
        d = (dh_all[t] + dnext) * (1 - hs[t + 1] * hs[t + 1])
        dw += d.T @ inputs[t]
        db += d.sum(0)
        dz = d @ w
        dxs.append(dz[:, :x.shape[2]])
        dnext = dz[:, x.shape[2]:]
    D = x.shape[2]
    grads = {"weight_ih": dw[:, :D], "weight_hh": dw[:, D:], "bias_ih": db, "bias_hh": db.copy()}
    return np.stack(dxs[::-1]), dnext, grads


BPTT_WRONG = {
    "no recursion through time": bptt_variant(no_recursion=True),
    "1-h instead of 1-h^2": bptt_variant(one_minus_h=True),
    "off-by-one state in dW_hh": bptt_variant(off_by_one=True),
    "dropped bias gradient": bptt_variant(drop_bias=True),
    "dh0 not returned": bptt_variant(dh0_zero=True),
}


# ---------------------------------------------------------------- clip_grad_norm (chapter 05)
def clip_ok(grads, max_norm):
    total = np.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads.values()))
    scale = min(1.0, max_norm / (total + 1e-6))  # the stub's (PyTorch's) rule, chapter 05
    return {k: (g * scale).astype(g.dtype) for k, g in grads.items()}, float(total)


def clip_ok_torch(grads, max_norm):
    import torch
    ts = [torch.tensor(g.copy()) for g in grads.values()]
    for t in ts:
        t.grad = t.clone()
    total = torch.nn.utils.clip_grad_norm_(ts, max_norm)
    return {k: t.grad.numpy() for k, t in zip(grads, ts, strict=True)}, float(total)


def _global(grads):
    return float(np.sqrt(sum((g ** 2).sum() for g in grads.values())))


def clip_per_tensor(grads, m):
    clipped = {k: g * min(1, m / max(np.linalg.norm(g), 1e-12)) for k, g in grads.items()}
    return clipped, _global(grads)


def clip_inplace(grads, m):
    total = _global(grads)
    if total > m:
        for g in grads.values():
            g *= m / total
    return grads, total


CLIP_WRONG = {
    "per-tensor clipping": clip_per_tensor,
    "value clipping": lambda g, m: ({k: np.clip(v, -m, m) for k, v in g.items()}, _global(g)),
    "always rescale": lambda g, m: ({k: v * m / _global(g) if _global(g) else v
                                     for k, v in g.items()}, _global(g)),
    "returns the post-clip norm": lambda g, m: (clip_ok(g, m)[0], min(_global(g), m)),
    "L1 norm": lambda g, m: (lambda t: ({k: v * min(1, m / t) if t else v for k, v in g.items()},
                                        t))(sum(np.abs(v).sum() for v in g.values())),
    "in-place scaling": clip_inplace,
    "NaN for zero gradients": lambda g, m: ({k: v * min(1, m / _global(g)) if _global(g) else
                                             v * np.nan for k, v in g.items()}, _global(g)),
    "max instead of norm": lambda g, m: (lambda t: ({k: v * min(1, m / t) if t else v
                                                     for k, v in g.items()}, t))(
        max(float(np.abs(v).max()) for v in g.values())),
}


# ---------------------------------------------------------------- lstm_step (chapter 06)
def lstm_variant(order="ifgo", cell_tanh=True, input_gate=True, one_minus_f=False, bias=True,
                 peephole_c=False):
    def fn(x, h, c, p):
        h, c, p = h.astype(x.dtype), c.astype(x.dtype), in_dtype(p, x.dtype)  # stated dtype rule
        z = x @ p["weight_ih"].T + h @ p["weight_hh"].T
        if bias:
            z = z + p["bias_ih"] + p["bias_hh"]
        blocks = dict(zip(order, np.split(z, 4, axis=1), strict=True))
        i, f, g, o = sig(blocks["i"]), sig(blocks["f"]), np.tanh(blocks["g"]), sig(blocks["o"])
        if one_minus_f:
            f = 1 - f
        c2 = f * c + (i * g if input_gate else g)
        if peephole_c:
            c2 = c2 + 0.1 * c
        return o * (np.tanh(c2) if cell_tanh else c2), c2
    return fn


def in_dtype(p, dtype):
    """The parameters cast to ``dtype``: steps compute in the dtype of x_t (chapters 06, 07)."""
    return {k: v.astype(dtype) for k, v in p.items()}


def lstm_ok_stacked(x, h, c, p):
    H = h.shape[1]
    h, c, p = h.astype(x.dtype), c.astype(x.dtype), in_dtype(p, x.dtype)
    w = np.hstack([p["weight_ih"], p["weight_hh"]])
    z = np.hstack([x, h]) @ w.T + p["bias_ih"] + p["bias_hh"]
    i = 0.5 * (1 + np.tanh(z[:, :H] / 2))  # sigmoid written through tanh
    f = 0.5 * (1 + np.tanh(z[:, H:2 * H] / 2))
    g = np.tanh(z[:, 2 * H:3 * H])
    o = 0.5 * (1 + np.tanh(z[:, 3 * H:] / 2))
    c2 = f * c + i * g
    return o * np.tanh(c2), c2


LSTM_WRONG = {
    "gate order i, f, o, g": lstm_variant(order="ifog"),
    "gate order f, i, g, o": lstm_variant(order="figo"),
    "missing tanh on the cell": lstm_variant(cell_tanh=False),
    "no input gate": lstm_variant(input_gate=False),
    "1-f": lstm_variant(one_minus_f=True),
    "dropped bias": lstm_variant(bias=False),
    "extra leak of the old cell": lstm_variant(peephole_c=True),
    "returns (c, h)": lambda *a: lstm_variant()(*a)[::-1],
}


# ---------------------------------------------------------------- gru_step (chapter 07)
def gru_variant(reset_before=False, flip_z=False, bias_outside=False, no_reset=False,
                swap=False):
    def fn(x, h, p):
        H = h.shape[1]
        h, p = h.astype(x.dtype), in_dtype(p, x.dtype)  # the stated dtype rule
        gi = x @ p["weight_ih"].T + p["bias_ih"]
        gh_nobias = h @ p["weight_hh"].T
        gh = gh_nobias + p["bias_hh"]
        a, b = (1, 0) if swap else (0, 1)
        r = sig(gi[:, a * H:(a + 1) * H] + gh[:, a * H:(a + 1) * H])
        z = sig(gi[:, b * H:(b + 1) * H] + gh[:, b * H:(b + 1) * H])
        if no_reset:
            r = np.ones_like(r)
        w_hn, b_hn = p["weight_hh"][2 * H:], p["bias_hh"][2 * H:]
        if reset_before:
            rec = (r * h) @ w_hn.T + b_hn
        elif bias_outside:
            rec = r * gh_nobias[:, 2 * H:] + b_hn
        else:
            rec = r * gh[:, 2 * H:]
        n = np.tanh(gi[:, 2 * H:] + rec)
        return z * n + (1 - z) * h if flip_z else (1 - z) * n + z * h
    return fn


def gru_ok_interpolate(x, h, p):
    H = h.shape[1]
    h, p = h.astype(x.dtype), in_dtype(p, x.dtype)
    w_ir, w_iz, w_in = np.split(p["weight_ih"], 3)
    w_hr, w_hz, w_hn = np.split(p["weight_hh"], 3)
    b_ir, b_iz, b_in = np.split(p["bias_ih"], 3)
    b_hr, b_hz, b_hn = np.split(p["bias_hh"], 3)
    r = sig(x @ w_ir.T + b_ir + h @ w_hr.T + b_hr)
    z = sig(x @ w_iz.T + b_iz + h @ w_hz.T + b_hz)
    n = np.tanh(x @ w_in.T + b_in + r * (h @ w_hn.T + b_hn))
    assert n.shape[1] == H
    return n + z * (h - n)  # the same blend, written as an interpolation


GRU_WRONG = {
    "reset-before candidate": gru_variant(reset_before=True),
    "flipped z convention": gru_variant(flip_z=True),
    "b_hn outside the reset product": gru_variant(bias_outside=True),
    "no reset": gru_variant(no_reset=True),
    "swapped r and z": gru_variant(swap=True),
}


# ---------------------------------------------------------------- the tests
CHECKERS = {
    "softmax": (checks.softmax, [softmax_ok_loop, softmax_ok_logsumexp], SOFTMAX_WRONG),
    "softmax_backward": (checks.softmax_backward, [softmax_backward_ok], SOFTMAX_BACKWARD_WRONG),
    "tfidf": (checks.tfidf, [tfidf_ok_loops, tfidf_variant()], TFIDF_WRONG),
    "rnn_step": (checks.rnn_step, [rnn_ok, rnn_ok_einsum], RNN_WRONG),
    "bptt": (checks.bptt, [bptt_variant(), bptt_ok_autograd_style], BPTT_WRONG),
    "clip_grad_norm": (checks.clip_grad_norm, [clip_ok, clip_ok_torch], CLIP_WRONG),
    "lstm_step": (checks.lstm_step, [lstm_ok_stacked, lstm_variant()], LSTM_WRONG),
    "gru_step": (checks.gru_step, [gru_ok_interpolate, gru_variant()], GRU_WRONG),
}


@pytest.mark.parametrize("name, correct", [(n, f) for n, (_, oks, _) in CHECKERS.items()
                                           for f in oks])
def test_correct_implementations_written_differently_pass(name, correct):
    assert CHECKERS[name][0](correct), f"{name}: a correct implementation was rejected"


@pytest.mark.parametrize("name, label", [(n, w) for n, (_, _, wrongs) in CHECKERS.items()
                                         for w in wrongs])
def test_plausible_wrong_implementations_fail(name, label):
    checker, _, wrongs = CHECKERS[name]
    result = checker(wrongs[label])
    assert not result, f"{name}: the wrong implementation '{label}' was accepted"
    assert result.status == "failed"
