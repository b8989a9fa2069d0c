"""Diagrams of recurrent cells and networks, drawn by code with matplotlib.

Ready-made diagrams (each takes an optional ``ax`` and returns it): ``draw_rnn_cell``,
``draw_rnn_folded``, ``draw_unrolled_rnn``, ``draw_two_layer_net`` (chapters 03-04);
``draw_lstm_cell`` and ``draw_gru_cell`` (chapters 06 and 07).

They are built from the blocks of ``course_utils.diagram_kit`` (boxes for learned layers,
circles for element-wise operations, labels for values, arrows for data and gradients; its
docstring explains the grammar and shows how to draw a cell of your own). The blocks are
re-exported here, so ``diagrams.canvas``, ``diagrams.layer``, ... work as well.
"""

from __future__ import annotations

from course_utils.diagram_kit import (  # noqa: F401  (re-exported for notebooks)
    FONT_SIZE,
    FORWARD_COLOR,
    GRADIENT_COLOR,
    KINDS,
    Node,
    arrow,
    canvas,
    frame,
    layer,
    legend,
    op,
    value,
    wire,
)

# ---------------------------------------------------------------------------------------------
# Ready-made diagrams
# ---------------------------------------------------------------------------------------------


def draw_rnn_cell(ax=None, nonlinearity: str = r"\tanh", output: bool = True,
                  title: str | None = "one RNN step, in detail"):
    """The vanilla RNN cell of the course's notation, every matrix and operation drawn.

    h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),  ŷ_t = softmax(W_hy h_t + b_y).
    The loop on the right carries h_t to the next step, where it enters as h_{t-1}. All three
    affine maps (W_ih, W_hh, W_hy) are learned layers and drawn alike (blue boxes); the softmax
    has no weights and is drawn as an operation.
    """
    top = 7.0 if output else 4.6
    ax = canvas((-0.6, 6.6), (-0.5, top), ax=ax, title=title)
    x_in = value(ax, (1.0, 0.0), r"$\mathbf{x}_t$")
    w_ih = layer(ax, (1.0, 1.2), r"$W_{ih}\mathbf{x}_t + \mathbf{b}_{ih}$", width=2.0)
    w_hh = layer(ax, (4.0, 1.2), r"$W_{hh}\mathbf{h}_{t-1} + \mathbf{b}_{hh}$", width=2.2)
    plus = op(ax, (2.5, 2.3), "+")
    act = op(ax, (2.5, 3.2), rf"${nonlinearity}$", radius=0.3)
    h_out = value(ax, (2.5, 4.15), r"$\mathbf{h}_t$")
    memory = layer(ax, (5.7, 2.7), "delay", width=0.9, height=0.45, kind="state",
                   fontsize=FONT_SIZE - 2)
    arrow(ax, x_in, w_ih)
    arrow(ax, w_ih, plus)
    arrow(ax, w_hh, plus)
    arrow(ax, plus, act, label=r"$\mathbf{net}_t$", label_offset=-0.45)
    arrow(ax, act, h_out)
    # the recurrence: h_t is stored and comes back one step later as h_{t-1}
    wire(ax, [(2.8, 4.15), (5.7, 4.15), memory])
    wire(ax, [memory, (5.7, 0.2), (4.0, 0.2), w_hh], label=r"$\mathbf{h}_{t-1}$",
         label_segment=1, label_offset=-0.22)
    if output:
        w_hy = layer(ax, (2.5, 5.1), r"$W_{hy}\mathbf{h}_t + \mathbf{b}_y$", width=1.9)
        soft = op(ax, (2.5, 6.0), "softmax", radius=0.25, width=1.1, fontsize=FONT_SIZE - 1)
        y_hat = value(ax, (2.5, 6.75), r"$\hat{\mathbf{y}}_t$")
        arrow(ax, h_out, w_hy)
        arrow(ax, w_hy, soft)
        arrow(ax, soft, y_hat)
    legend(ax, kinds=("layer", "op", "state"), loc="upper left")
    return ax


def draw_rnn_folded(ax=None, title: str | None = "folded"):
    """The compact picture: one cell with a loop, x_t in, h_t out."""
    ax = canvas((-1.2, 2.2), (-0.6, 4.2), ax=ax, title=title)
    x_in = value(ax, (0.5, 0.0), r"$\mathbf{x}_t$")
    cell = layer(ax, (0.5, 1.6), r"$f$", width=1.0, height=0.8)
    y_hat = value(ax, (0.5, 3.6), r"$\hat{\mathbf{y}}_t$")
    arrow(ax, x_in, cell, label=r"$W_{ih}$", label_offset=-0.3)
    arrow(ax, cell, y_hat, label=r"$W_{hy}$", label_offset=-0.3, label_at=0.72)
    value(ax, (0.85, 2.3), r"$\mathbf{h}_t$", fontsize=FONT_SIZE)
    wire(ax, [cell.anchor("left", 0.15), (-0.5, 1.75), (-0.5, 2.5), (0.2, 2.5), (0.2, 2.0)],
         label=r"$W_{hh}$", label_segment=1, label_offset=0.3)
    return ax


def _step_labels(T: int, words) -> list[str]:
    if words is None:
        return [rf"$\mathbf{{x}}_{{{t}}}$" for t in range(1, T + 1)]
    if len(words) != T:
        raise ValueError(f"need {T} words, got {len(words)}")
    return [str(w) for w in words]


def draw_unrolled_rnn(T: int = 4, ax=None, *, words=None, outputs: str = "all",
                      backward: bool = False, truncate: int | None = None,
                      cell_label: str = r"$f$", title: str | None = "unrolled in time"):
    """The RNN unrolled over T steps: the same cell (same weights) copied once per step.

    words : optional list of T input labels (e.g. the words of a sentence) instead of x_1..x_T.
    outputs : "all" (ŷ_t at every step), "last" (a classifier reading only h_T) or "none".
    backward : also draw the backward pass: dashed arrows carry the gradient from the losses
        down into the cells and from step t+1 back to step t (it arrives there as
        W_hh^T δ_{t+1}); the error term δ_t is written under each cell (chapter 04).
    truncate : with ``backward`` and ``outputs="last"``, keep the gradient of the loss for
        only this many steps back from the last; older steps are greyed and the cut is marked
        (truncated BPTT).
    """
    if outputs not in ("all", "last", "none"):
        raise ValueError("outputs must be 'all', 'last' or 'none'")
    if truncate is not None and (not backward or outputs != "last"):
        raise ValueError("truncate is drawn for the backward pass of a loss on the last step: "
                         "use backward=True, outputs='last'")
    dx = 2.2
    has_loss = backward and outputs != "none"
    top = 5.4 if has_loss else (4.2 if outputs != "none" else 2.6)
    ax = canvas((-1.0, T * dx + 0.8), (-0.9, top), ax=ax, title=title)
    labels = _step_labels(T, words)
    h0 = value(ax, (0.0, 1.6), r"$\mathbf{h}_0$")
    cut = T - truncate if truncate is not None else 0
    grey = "#BBBBBB"
    prev = h0
    for t in range(1, T + 1):
        x = t * dx
        cell = layer(ax, (x, 1.6), cell_label, width=1.0, height=0.8)
        x_in = value(ax, (x, 0.0), labels[t - 1],
                     width=max(0.5, 0.13 * len(labels[t - 1])))
        arrow(ax, x_in, cell, label=r"$W_{ih}$" if t == 1 else None, label_offset=0.32)
        arrow(ax, prev, cell, label=None if t == 1 else rf"$\mathbf{{h}}_{{{t - 1}}}$",
              label_offset=0.22)
        if t == 2:
            ax.text(x - dx / 2, 2.12, r"$W_{hh}$", ha="center", va="bottom",
                    fontsize=FONT_SIZE - 1, color="#555555")
        if outputs == "all" or (outputs == "last" and t == T):
            y_hat = value(ax, (x, 3.5), rf"$\hat{{\mathbf{{y}}}}_{{{t}}}$")
            arrow(ax, cell, y_hat, label=r"$W_{hy}$" if (t == 1 or outputs == "last") else None,
                  label_offset=0.35)
            if has_loss:
                loss = value(ax, (x, 4.75), rf"$E_{{{t}}}$", color=GRADIENT_COLOR)
                arrow(ax, y_hat, loss, color="#999999")
                arrow(ax, (x + 0.25, 4.5), (x + 0.25, 2.0), kind="gradient")
        if backward:
            kept = t > cut
            ax.text(x + 0.3, 0.95, rf"$\boldsymbol{{\delta}}_{{{t}}}$", ha="left", va="center",
                    fontsize=FONT_SIZE - 1, color=GRADIENT_COLOR if kept else grey)
            if t > 1:
                arrow(ax, (x - 0.5, 1.3), (x - dx + 0.5, 1.3), kind="gradient",
                      color=None if t - 1 > cut else grey)
            if t - 1 == cut and cut > 0:
                xc = x - dx / 2
                ax.plot([xc, xc], [0.85, 1.5], color=GRADIENT_COLOR, linewidth=2.5, zorder=5)
                ax.text(xc, 0.7, "cut", color=GRADIENT_COLOR, ha="center", va="top",
                        fontsize=FONT_SIZE - 1)
        prev = cell
    ax.text(T * dx / 2 + 0.5, -0.75, r"the same $W_{ih}, W_{hh}, W_{hy}$ at every step",
            ha="center", fontsize=FONT_SIZE - 2, color="#555555")
    return ax


def draw_two_layer_net(ax=None, backward: bool = True,
                       title: str | None = "a two-layer network: forward and backward"):
    """x -> W1 -> net1 -> f -> a1 -> W2 -> net2 -> softmax -> ŷ -> E, with the error terms.

    Forward values along the top row; with ``backward``, dashed arrows carry δ^(2) and δ^(1)
    back along the bottom. The true class y enters as its one-hot vector e_y, so the output
    error is δ^(2) = ŷ - e_y (chapter 04's notation). Both affine maps are learned layers
    (blue boxes); the softmax is an element-wise-style operation without weights.
    """
    ax = canvas((-0.6, 11.6), (-1.1, 1.3), ax=ax, title=title)
    x = value(ax, (0.0, 0.5), r"$\mathbf{x}$")
    w1 = layer(ax, (1.5, 0.5), r"$W_1\mathbf{x} + \mathbf{b}_1$", width=1.7)
    f = op(ax, (3.4, 0.5), r"$f$")
    w2 = layer(ax, (5.5, 0.5), r"$W_2\mathbf{a}_1 + \mathbf{b}_2$", width=1.8)
    sm = op(ax, (7.7, 0.5), "softmax", width=1.1, fontsize=FONT_SIZE - 1)
    y = value(ax, (9.3, 0.5), r"$\hat{\mathbf{y}}$")
    e = value(ax, (10.9, 0.5), r"$E$", color=GRADIENT_COLOR)
    arrow(ax, x, w1)
    arrow(ax, w1, f, label=r"$\mathbf{net}_1$", label_offset=0.3)
    arrow(ax, f, w2, label=r"$\mathbf{a}_1$", label_offset=0.3)
    arrow(ax, w2, sm, label=r"$\mathbf{net}_2$", label_offset=0.3)
    arrow(ax, sm, y)
    arrow(ax, y, e, label=r"vs. $\mathbf{e}_y$", label_offset=0.3)
    if backward:
        arrow(ax, (10.7, 0.0), (6.4, -0.35), kind="gradient", rad=-0.08,
              label=r"$\boldsymbol{\delta}^{(2)} = \hat{\mathbf{y}} - \mathbf{e}_y$",
              label_offset=0.42)
        arrow(ax, (4.8, -0.35), (2.2, -0.35), kind="gradient",
              label=r"$\boldsymbol{\delta}^{(1)} = f'(\mathbf{net}_1)\odot W_2^\top"
                    r"\boldsymbol{\delta}^{(2)}$", label_offset=0.38)
    return ax


# ---------------------------------------------------------------------------------------------
# Gated cells (chapters 06 and 07)
# ---------------------------------------------------------------------------------------------


def draw_lstm_cell(ax=None, title="one LSTM step, in detail"):
    """The LSTM cell of the course's notation (PyTorch's gate order i, f, g, o).

    Boxes are the four learned layers, each reading [h_{t-1}, x_t]: three sigmoid gates
    (input i, forget f, output o) and the tanh candidate g. Circles are element-wise
    operations. The top line is the memory cell: c_t = f * c_{t-1} + i * g (one multiply and
    one add, no weight matrix on the way), and h_t = o * tanh(c_t) leaves at the bottom right.
    """
    ax = canvas((-0.7, 10.7), (-0.9, 6.3), ax=ax, title=title)
    c_prev = value(ax, (0.0, 5.2), r"$\mathbf{c}_{t-1}$", width=0.7)
    c_next = value(ax, (10.1, 5.2), r"$\mathbf{c}_t$")
    h_prev = value(ax, (0.0, 0.9), r"$\mathbf{h}_{t-1}$", width=0.7)
    h_next = value(ax, (10.1, 0.9), r"$\mathbf{h}_t$")
    x_in = value(ax, (1.3, -0.55), r"$\mathbf{x}_t$")
    gx = {"f": 2.6, "i": 4.1, "g": 5.6, "o": 7.1}
    boxes = {
        "f": layer(ax, (gx["f"], 2.5), "forget\n" r"$\sigma$", width=1.1, height=0.8,
                   kind="gate", fontsize=FONT_SIZE - 1),
        "i": layer(ax, (gx["i"], 2.5), "input\n" r"$\sigma$", width=1.1, height=0.8,
                   kind="gate", fontsize=FONT_SIZE - 1),
        "g": layer(ax, (gx["g"], 2.5), "candidate\n" r"$\tanh$", width=1.2, height=0.8,
                   kind="candidate", fontsize=FONT_SIZE - 1),
        "o": layer(ax, (gx["o"], 2.5), "output\n" r"$\sigma$", width=1.1, height=0.8,
                   kind="gate", fontsize=FONT_SIZE - 1),
    }
    # the shared input: [h_{t-1}, x_t] runs along a bus under the four layers
    wire(ax, [h_prev, (gx["o"], 0.9)], head=False)
    wire(ax, [x_in, (1.3, 0.9)], head=False)
    ax.text(3.4, 0.62, r"$[\mathbf{h}_{t-1}, \mathbf{x}_t]$", ha="center", va="top",
            fontsize=FONT_SIZE - 1, color="#555555")
    for k in boxes:
        arrow(ax, (gx[k], 0.9), boxes[k])
    # the cell line
    mul_f = op(ax, (gx["f"], 5.2), r"$\times$")
    add = op(ax, (4.85, 5.2), "+")
    mul_i = op(ax, (4.85, 4.0), r"$\times$")
    arrow(ax, c_prev, mul_f)
    arrow(ax, mul_f, add)
    arrow(ax, boxes["f"], mul_f, label=r"$\mathbf{f}_t$", label_offset=0.3)
    wire(ax, [boxes["i"], (gx["i"], 4.0), mul_i], label=r"$\mathbf{i}_t$", label_offset=0.3)
    wire(ax, [boxes["g"], (gx["g"], 4.0), mul_i], label=r"$\mathbf{g}_t$", label_offset=-0.3)
    arrow(ax, mul_i, add)
    arrow(ax, add, c_next)
    # the exposed state h_t = o * tanh(c_t)
    tanh_c = op(ax, (8.6, 4.0), r"$\tanh$", radius=0.3, fontsize=FONT_SIZE - 1)
    mul_o = op(ax, (8.6, 2.5), r"$\times$")
    arrow(ax, (8.6, 5.2), tanh_c)
    ax.plot([8.6], [5.2], "o", color="#333333", ms=4, zorder=3)
    arrow(ax, tanh_c, mul_o)
    arrow(ax, boxes["o"], mul_o, label=r"$\mathbf{o}_t$", label_offset=0.3)
    wire(ax, [mul_o, (8.6, 0.9), h_next])
    ax.text(5.3, 5.55, "memory cell: no weight matrix on this line", ha="center",
            va="bottom", fontsize=FONT_SIZE - 2, color="#555555")
    legend(ax, kinds=("gate", "candidate", "op"), loc="lower right")
    return ax


def draw_gru_cell(ax=None, title="one GRU step, in detail (PyTorch's convention)"):
    """The GRU cell in PyTorch's convention: gates r (reset) and z (update: the share of the
    OLD state kept), the reset applied AFTER the recurrent matrix product:

    n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn)),
    h_t = (1 - z_t) * n_t + z_t * h_{t-1}.

    Boxes are learned layers (the two sigmoid gates read [h_{t-1}, x_t]; the candidate's two
    affine maps read h_{t-1} and x_t separately), circles are element-wise operations.
    """
    ax = canvas((-0.7, 11.4), (-0.9, 7.2), ax=ax, title=title)
    h_prev = value(ax, (0.0, 6.4), r"$\mathbf{h}_{t-1}$", width=0.7)
    h_next = value(ax, (10.9, 6.4), r"$\mathbf{h}_t$")
    x_in = value(ax, (1.0, -0.55), r"$\mathbf{x}_t$")
    z_box = layer(ax, (2.2, 2.6), "update\n" r"$\sigma$", width=1.1, height=0.8, kind="gate",
                  fontsize=FONT_SIZE - 1)
    r_box = layer(ax, (3.8, 2.6), "reset\n" r"$\sigma$", width=1.1, height=0.8, kind="gate",
                  fontsize=FONT_SIZE - 1)
    hn_box = layer(ax, (6.0, 2.6), r"$W_{hn}\mathbf{h}_{t-1} + \mathbf{b}_{hn}$", width=2.2,
                   fontsize=FONT_SIZE - 2)
    xn_box = layer(ax, (9.4, 2.6), r"$W_{in}\mathbf{x}_t + \mathbf{b}_{in}$", width=2.0,
                   fontsize=FONT_SIZE - 2)
    # inputs: h_{t-1} comes down the left side onto a bus; x_t runs along the bottom
    wire(ax, [(0.45, 6.4), (0.45, 1.3), (6.0, 1.3)], head=False)
    wire(ax, [x_in, (1.0, 0.6), (9.4, 0.6)], head=False)
    for bx in (2.2, 3.8):
        arrow(ax, (bx - 0.2, 1.3), (bx - 0.2, 2.2))
        arrow(ax, (bx + 0.2, 0.6), (bx + 0.2, 2.2))
    arrow(ax, (6.0, 1.3), hn_box)
    arrow(ax, (9.4, 0.6), xn_box)
    ax.text(0.6, 1.0, r"$\mathbf{h}_{t-1}$", fontsize=FONT_SIZE - 2, color="#555555")
    # candidate: reset AFTER the product, add the input part, squash
    mul_r = op(ax, (6.0, 3.8), r"$\times$")
    add_n = op(ax, (9.4, 3.8), "+")
    tanh_n = op(ax, (9.4, 4.7), r"$\tanh$", radius=0.3, fontsize=FONT_SIZE - 1)
    wire(ax, [r_box, (3.8, 3.8), mul_r], label=r"$\mathbf{r}_t$", label_offset=0.3)
    arrow(ax, hn_box, mul_r)
    arrow(ax, mul_r, add_n)
    arrow(ax, xn_box, add_n)
    arrow(ax, add_n, tanh_n)
    # the blend: h_t = (1 - z) * n + z * h_{t-1}
    mul_z = op(ax, (4.6, 6.4), r"$\times$")
    add_h = op(ax, (9.4, 6.4), "+")
    one_minus = op(ax, (7.4, 5.5), r"$1-$", fontsize=FONT_SIZE - 1)
    mul_n = op(ax, (9.4, 5.5), r"$\times$")
    arrow(ax, h_prev, mul_z)
    arrow(ax, mul_z, add_h)
    wire(ax, [z_box, (2.2, 5.5), (4.6, 5.5), mul_z], label=r"$\mathbf{z}_t$",
         label_offset=0.3)
    ax.plot([4.6], [5.5], "o", color="#333333", ms=4, zorder=3)
    arrow(ax, (4.6, 5.5), one_minus)
    arrow(ax, one_minus, mul_n)
    arrow(ax, tanh_n, mul_n, label=r"$\mathbf{n}_t$", label_offset=-0.3)
    arrow(ax, mul_n, add_h)
    arrow(ax, add_h, h_next)
    legend(ax, kinds=("gate", "layer", "op"), loc="lower right",
           labels={"layer": "learned affine map"})
    return ax
