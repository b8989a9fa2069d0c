"""Chapters 06 and 07: the extra checkers accept correct implementations written differently and
reject plausible wrong ones; the gate-analysis helpers of ``course_utils.gates`` do what they say.

The wrong versions here are written independently of the hints in ``checks``.
"""

import numpy as np
import pytest
import torch

from course_utils import gates, tasks
from course_utils.grading import checks
from course_utils.grading.checks import ch07_gru
from course_utils.models import RecurrentModel


# ---------------------------------------------------------------- cell_path_gradient (ch06)
def cell_ok_loop(f, dc_last):
    T = f.shape[0]
    out = [dc_last]
    for t in range(T - 1, -1, -1):
        out.append(out[-1] * f[t])
    return np.stack(out[::-1]).astype(f.dtype)  # the stated dtype rule: that of f


def cell_ok_cumprod(f, dc_last):
    # reverse cumulative product of the gates, with an empty product (1) for k = T
    tail = np.cumprod(f[::-1], axis=0)[::-1]
    ones = np.ones((1, *f.shape[1:]), dtype=f.dtype)
    return (np.concatenate([tail, ones]) * dc_last).astype(f.dtype)


def cell_ok_logspace(f, dc_last):
    # products as exponentials of sums of logs; gates of exactly 0 handled separately
    with np.errstate(divide="ignore"):
        logs = np.log(f.astype(np.float64))
    tail = np.concatenate([np.cumsum(logs[::-1], axis=0)[::-1], np.zeros((1, *f.shape[1:]))])
    return (np.exp(tail) * dc_last).astype(f.dtype)


def cell_ok_autograd(f, dc_last):
    # autograd through c_t = f_t * c_{t-1} + (anything independent of c)
    c0 = torch.zeros(f.shape[1:], dtype=torch.float64, requires_grad=True)
    cs = [c0]
    for t in range(f.shape[0]):
        c = torch.tensor(f[t], dtype=torch.float64) * cs[-1] + 0.3
        c.retain_grad()
        cs.append(c)
    (cs[-1] * torch.tensor(dc_last, dtype=torch.float64)).sum().backward()
    return np.stack([c.grad.numpy() for c in cs]).astype(f.dtype)


def cell_wrong_one_minus(f, dc_last):
    return cell_ok_loop(1 - f, dc_last)


def cell_wrong_includes_k(f, dc_last):
    # multiplies one gate too many: f_k .. f_T at index k (f[k-1] .. f[T-1])
    out = cell_ok_loop(f, dc_last)
    out[1:] = out[1:] * f
    return out


def cell_wrong_forward(f, dc_last):
    prods = [np.ones_like(dc_last)]
    for t in range(f.shape[0]):
        prods.append(prods[-1] * f[t])
    return np.stack(prods) * dc_last


def cell_wrong_mean_gate(f, dc_last):
    # replaces each step's gate by its average over the batch
    return cell_ok_loop(np.broadcast_to(f.mean(axis=1, keepdims=True), f.shape), dc_last)


def cell_wrong_float64(f, dc_last):
    return cell_ok_loop(f.astype(np.float64), dc_last.astype(np.float64))


def cell_wrong_inplace(f, dc_last):
    out = cell_ok_loop(f, dc_last)
    f *= 0.5  # "reuses" the input buffer
    return out


def cell_wrong_list(f, dc_last):
    return list(cell_ok_loop(f, dc_last))


CELL_OK = [cell_ok_loop, cell_ok_cumprod, cell_ok_logspace, cell_ok_autograd]
CELL_WRONG = {
    "1 - f": cell_wrong_one_minus,
    "one gate too many": cell_wrong_includes_k,
    "products of the early gates": cell_wrong_forward,
    "batch-mean gates": cell_wrong_mean_gate,
    "always float64": cell_wrong_float64,
    "modifies f in place": cell_wrong_inplace,
    "returns a list": cell_wrong_list,
    "only the first T entries": lambda f, d: cell_ok_loop(f, d)[:-1],
    "order reversed": lambda f, d: cell_ok_loop(f, d)[::-1],
    "ignores dc_last": lambda f, d: cell_ok_loop(f, np.ones_like(d)),
}


@pytest.mark.parametrize("fn", CELL_OK, ids=lambda fn: fn.__name__)
def test_cell_path_gradient_accepts_correct(fn, capsys):
    assert checks.cell_path_gradient(fn)


@pytest.mark.parametrize("name", sorted(CELL_WRONG))
def test_cell_path_gradient_rejects_wrong(name, capsys):
    result = checks.cell_path_gradient(CELL_WRONG[name])
    assert not result
    assert result.status == "failed"


def test_cell_path_gradient_not_attempted(capsys):
    def stub(f, dc_last):
        raise NotImplementedError

    assert checks.cell_path_gradient(stub).status == "not attempted"


# ---------------------------------------------------------------- gates module (ch06, ch07)
def _small_model(kind):
    torch.manual_seed(0)
    return RecurrentModel(kind, 5, 3, input_dim=4)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_traces_match_torch(kind):
    model = _small_model(kind).double()
    task = tasks.marked_memory_task(6, 9, n_values=3, seed=2)
    trace_fn = gates.lstm_trace if kind == "lstm" else gates.gru_trace
    trace = trace_fn(model, tasks.to_time_major(task.x))
    with torch.no_grad():
        h_torch = model.states(torch.tensor(task.x, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(trace["h"], h_torch, rtol=1e-10, atol=1e-12)
    with torch.no_grad():
        logits = model(torch.tensor(task.x, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(gates.head_outputs(model, trace["h"][-1]), logits, atol=1e-12)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_erasure_without_effect_equals_base(kind):
    model = _small_model(kind)
    task = tasks.marked_memory_task(20, 10, n_values=3, seed=3)
    x = tasks.to_time_major(task.x)
    base, erased = gates.erasure_scores(model, x, task.labels, 6)
    assert erased.shape == (5,) and 0 <= base <= 1
    # erasing after the first step: the base score does not depend on t0
    base1, erased1 = gates.erasure_scores(model, x, task.labels, 1)
    assert base1 == base
    units = gates.memory_units(base, erased, 0.0)
    assert set(units) <= set(range(5))


def test_memory_units_ordering():
    units = gates.memory_units(1.0, np.array([0.9, 0.5, 1.0, 0.97]), 0.05)
    assert units.tolist() == [1, 0]
    units = gates.memory_units(0.1, np.array([0.2, 0.1, 0.5]), 0.05, higher_is_better=False)
    assert units.tolist() == [2, 0]


def test_gate_means_categories():
    kind = np.array([[0], [1], [0], [2], [0]])
    trace = {"f": np.arange(5, dtype=float).reshape(5, 1, 1) / 10 * np.ones((5, 1, 2))}
    means = gates.gate_means(trace, kind, [0, 1], gates=("f",))["f"]
    assert means["first write"] == pytest.approx(0.1)
    assert means["replacing write"] == pytest.approx(0.3)
    assert means["irrelevant"] == pytest.approx(0.3)  # steps 2 and 4; step 0 precedes any write


def test_lstm_step_jacobians_match_autograd():
    rng = np.random.default_rng(0)
    H, D, T = 3, 2, 4
    p = {"weight_ih": rng.standard_normal((4 * H, D)), "weight_hh": rng.standard_normal((4 * H, H)),
         "bias_ih": rng.standard_normal(4 * H), "bias_hh": rng.standard_normal(4 * H)}
    x = rng.standard_normal((T, D))
    J, f = gates.lstm_step_jacobians(p, x)
    assert J.shape == (T, 2 * H, 2 * H) and f.shape == (T, H)
    np.testing.assert_allclose(J[:, H:, H:], np.stack([np.diag(v) for v in f]))
    state = np.zeros(2 * H)
    for t in range(T):
        def torch_step(s, t=t):
            W_ih, W_hh = torch.tensor(p["weight_ih"]), torch.tensor(p["weight_hh"])
            a = W_ih @ torch.tensor(x[t]) + W_hh @ s[:H] + torch.tensor(p["bias_ih"] + p["bias_hh"])
            i, fg, g, o = (a[k * H:(k + 1) * H] for k in range(4))
            c2 = torch.sigmoid(fg) * s[H:] + torch.sigmoid(i) * torch.tanh(g)
            return torch.cat([torch.sigmoid(o) * torch.tanh(c2), c2])

        s = torch.tensor(state)
        J_auto = torch.autograd.functional.jacobian(torch_step, s).numpy()
        np.testing.assert_allclose(J[t], J_auto, atol=1e-12)
        state = torch_step(s).numpy()
    norms = gates.lstm_state_gradient_norms(J)
    assert norms.shape == (T + 1,) and norms[T] == 1.0
    P = J[3] @ J[2]
    assert norms[2] == pytest.approx(np.linalg.norm(P[H:, H:], 2))


# ---------------------------------------------------------------- flip_update_gate (ch07)
def flip_ok_concat(p):
    H = p["weight_hh"].shape[1]
    out = {}
    for k, v in p.items():
        r, z, n = v[:H], v[H:2 * H], v[2 * H:]
        out[k] = np.concatenate([r, -z, n]).astype(v.dtype)
    return out


def flip_ok_sign_vector(p):
    H = p["weight_hh"].shape[1]
    sign = np.concatenate([np.ones(H), -np.ones(H), np.ones(H)])
    return {k: (v * (sign if v.ndim == 1 else sign[:, None])).astype(v.dtype)
            for k, v in p.items()}


def flip_ok_functional(p):
    # negates the block on a torch module's parameters, then reads them back
    H = p["weight_hh"].shape[1]
    gru = torch.nn.GRU(p["weight_ih"].shape[1], H)
    with torch.no_grad():
        for k, v in p.items():
            getattr(gru, k + "_l0").copy_(torch.tensor(v.astype(np.float64)))
            getattr(gru, k + "_l0")[H:2 * H].neg_()
    return {k: getattr(gru, k + "_l0").detach().numpy().astype(v.dtype) for k, v in p.items()}


def flip_wrong_variant(block=1, keys=("weight_ih", "weight_hh", "bias_ih", "bias_hh"),
                       op=np.negative):
    def fn(p):
        H = p["weight_hh"].shape[1]
        out = {k: v.copy() for k, v in p.items()}
        for k in keys:
            out[k][block * H:(block + 1) * H] = op(out[k][block * H:(block + 1) * H])
        return out
    return fn


def flip_wrong_inplace(p):
    H = p["weight_hh"].shape[1]
    for v in p.values():
        v[H:2 * H] = -v[H:2 * H]
    return p


def flip_wrong_sigmoid_space(p):
    # applies 1 - sigmoid to the raw parameters, mixing up values and pre-activations
    H = p["weight_hh"].shape[1]
    out = {k: v.copy() for k, v in p.items()}
    for v in out.values():
        v[H:2 * H] = 1 - 1 / (1 + np.exp(-v[H:2 * H]))
    return out


FLIP_OK = [flip_ok_concat, flip_ok_sign_vector, flip_ok_functional]
FLIP_WRONG = {
    "reset block flipped": flip_wrong_variant(block=0),
    "candidate block flipped": flip_wrong_variant(block=2),
    "weights only": flip_wrong_variant(keys=("weight_ih", "weight_hh")),
    "input side only": flip_wrong_variant(keys=("weight_ih", "bias_ih")),
    "one bias only": flip_wrong_variant(keys=("weight_ih", "weight_hh", "bias_ih")),
    "1 - rows": flip_wrong_variant(op=lambda v: 1 - v),
    "modifies p in place": flip_wrong_inplace,
    "sigmoid of the weights": flip_wrong_sigmoid_space,
    "returns float64": lambda p: {k: v.astype(np.float64) for k, v in flip_ok_concat(p).items()},
    "missing a key": lambda p: {k: v for k, v in flip_ok_concat(p).items() if k != "bias_hh"},
    "nothing changed": lambda p: {k: v.copy() for k, v in p.items()},
}


@pytest.mark.parametrize("fn", FLIP_OK, ids=lambda fn: fn.__name__)
def test_flip_update_gate_accepts_correct(fn, capsys):
    assert checks.flip_update_gate(fn)


@pytest.mark.parametrize("name", sorted(FLIP_WRONG))
def test_flip_update_gate_rejects_wrong(name, capsys):
    result = checks.flip_update_gate(FLIP_WRONG[name])
    assert not result
    assert result.status == "failed"


def test_flipped_gru_is_the_same_model():
    """The reference flip really turns PyTorch's GRU into the article's convention."""
    torch.manual_seed(3)
    gru = torch.nn.GRU(4, 3).double()
    p = {k: getattr(gru, k + "_l0").detach().numpy().copy()
         for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    q = ch07_gru.flip_z_reference(p)
    rng = np.random.default_rng(0)
    x, h = rng.standard_normal((2, 4)), rng.standard_normal((2, 3))
    H = 3
    sig = lambda v: 1 / (1 + np.exp(-v))
    gi, gh = x @ q["weight_ih"].T + q["bias_ih"], h @ q["weight_hh"].T + q["bias_hh"]
    r, z = sig(gi[:, :H] + gh[:, :H]), sig(gi[:, H:2 * H] + gh[:, H:2 * H])
    n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    article = (1 - z) * h + z * n
    with torch.no_grad():
        torch_h = gru(torch.tensor(x)[None], torch.tensor(h)[None])[0][0].numpy()
    np.testing.assert_allclose(article, torch_h, atol=1e-12)


# ---------------------------------------------------------------- wine figure (ch07)
def test_wine_blend_and_drawing():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_utils import wine

    assert wine.blend(["#000000", "#ffffff"], [1, 1]) == "#808080"
    assert wine.blend([wine.WINE, wine.INGREDIENTS], [0, 1]) == wine.INGREDIENTS.lower()
    ax = wine.draw_wine_mixing(0.3, 0.7)
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "70% old wine + 30% fresh mix" in texts and "$r$ = 0.30" in texts
    ax = wine.draw_wine_mixing(0.3, 0.7, convention="article")  # z' = 0.7 is the fresh share
    assert "30% old wine + 70% fresh mix" in " ".join(t.get_text() for t in ax.texts)
    with pytest.raises(ValueError):
        wine.draw_wine_mixing(1.5, 0.2)
    fig = wine.draw_wine_grid(rs=(0.0, 1.0), zs=(0.5,))
    assert len(fig.axes) == 2
    plt.close("all")
