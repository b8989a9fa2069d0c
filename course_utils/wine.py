"""The GRU as wine mixing (chapter 07): cups drawn by code, and a slider version.

One GRU *unit* is pictured as a cup of wine, its state h_{t-1}. A step makes a new cup h_t:

1. the **reset gate** r sets how much of the old wine is poured out into a mixing glass, where it
   meets the new ingredients (the input x_t); stirred (a learned mix, then tanh), the glass holds
   the **fresh mix**, the candidate n_t;
2. the **update gate** sets the proportions of the new cup: in PyTorch's convention a share z of
   old wine and a share 1 - z of fresh mix, h_t = (1 - z) n_t + z h_{t-1}. That is also the
   direction of Cho et al. (2014); Chung et al. (2014) and many tutorials flip it,
   h_t = (1 - z) h_{t-1} + z n_t.

The mixing glass is labelled for the variant PyTorch runs, "reset-after": the share r scales the
old wine *after* the recurrent weights have stirred it, r * (W_hn h_{t-1} + b_hn) (as in arXiv
1406.1078v1 and cuDNN). ``variant="before"`` labels the reset-before candidate of the paper's
later (EMNLP, arXiv v3) version, W_hn (r * h_{t-1}). The volumes drawn are the same story.

The figure shows the volumes of that story; colours blend in the same proportions. Two limits
of the picture: the "sliders" r and z are not set from outside, a GRU computes them at every step
from the same old wine and ingredients (h_{t-1}, x_t); and a unit's "amount" is a signed number in
(-1, 1), not a volume. Functions:
``draw_wine_mixing(r, z)`` (one step), ``draw_wine_grid(rs, zs)`` (a static grid of steps), and
``wine_widget()`` (the same figure with two sliders, for JupyterLab; without ipywidgets it
falls back to the static figure); ``new_wine_share(z, steps)`` runs the story for several steps on
a one-unit GRU (a "predict, then run" exercise of chapter 07).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_hex, to_rgb
from matplotlib.patches import FancyArrowPatch, Polygon

from course_utils import scratch

WINE = "#7B1E3A"         # the old wine: the state h_{t-1}
INGREDIENTS = "#E69F00"  # the new ingredients: the input x_t
GLASS = "#555555"


def blend(colors, weights) -> str:
    """The colour of a mix: colours averaged with the given (non-negative) weights."""
    w = np.asarray(weights, dtype=float)
    if w.sum() <= 0:
        return to_hex(to_rgb(colors[0]))
    rgb = (w[:, None] * np.array([to_rgb(c) for c in colors])).sum(0) / w.sum()
    return to_hex(np.clip(rgb, 0, 1))


def _cup(ax, x0: float, layers, *, width: float = 1.0, height: float = 1.6, flare: float = 0.15,
         label: str = "", sublabel: str = "", label_size: float = 12):
    """A cup (a trapezoid, wider at the top) at x-offset ``x0`` filled with stacked ``layers``.

    layers: list of (fraction of the cup's height, colour), bottom first; the fractions may sum
    to less than 1 (a part-filled cup). Returns the cup's centre x.
    """
    def half_width(y):
        return width / 2 + flare * y / height

    cx = x0 + width / 2 + flare
    level = 0.0
    for frac, color in layers:
        if frac <= 0:
            continue
        y0, y1 = level * height, min(level + frac, 1.0) * height
        ax.add_patch(Polygon([(cx - half_width(y0), y0), (cx + half_width(y0), y0),
                              (cx + half_width(y1), y1), (cx - half_width(y1), y1)],
                             closed=True, facecolor=color, edgecolor="none", zorder=1))
        level += frac
    ax.add_patch(Polygon([(cx - half_width(height), height), (cx - half_width(0), 0),
                          (cx + half_width(0), 0), (cx + half_width(height), height)],
                         closed=False, fill=False, edgecolor=GLASS, linewidth=2, zorder=2))
    ax.text(cx, -0.22, label, ha="center", va="top", fontsize=label_size)
    if sublabel:
        ax.text(cx, -0.55, sublabel, ha="center", va="top", fontsize=8, color="#444444")
    return cx


def _arrow(ax, x0, x1, y, text):
    ax.add_patch(FancyArrowPatch((x0, y), (x1, y), arrowstyle="-|>", mutation_scale=14,
                                 color="#333333", linewidth=1.4))
    ax.text((x0 + x1) / 2, y + 0.12, text, ha="center", va="bottom", fontsize=9)


CONVENTIONS = ("pytorch", "flipped", "article")
VARIANTS = ("after", "before")
GLASS_LABELS = {  # what the mixing glass holds, in the two reset variants
    "after": r"$r \odot (W_{hn} h_{t-1} + b_{hn}) + W_{in} x_t + b_{in}$",
    "before": r"$W_{hn} (r \odot h_{t-1}) + b_{hn} + W_{in} x_t + b_{in}$",
}
GLASS_NOTES = {
    "after": "{r:.0%} of the old wine, already stirred by $W_{{hn}}$,\nmeets the new ingredients",
    "before": "{r:.0%} of the old wine poured out,\nthen stirred with the new ingredients",
}


def draw_wine_mixing(r: float, z: float, ax=None, *, convention: str = "pytorch",
                     variant: str = "after", title: str | None = None):
    """One GRU step of one unit as wine mixing, for reset gate ``r`` and update gate ``z``.

    convention="pytorch": z is the share of OLD wine in the new cup, h_t = (1-z) n + z h (the
    direction of PyTorch and of Cho et al. 2014). convention="flipped": z is the share of FRESH
    mix, h_t = (1-z) h + z n (Chung et al. 2014 and many tutorials). "article" is an old name of
    "flipped", kept so that existing code runs; it does not say which form the source article
    uses (its formulas are images missing from its text). The drawing is the same story; only
    the labels change.
    variant="after" labels the mixing glass as PyTorch computes it (reset after the recurrent
    product); variant="before" as the reset-before candidate (arXiv 1406.1078v3).
    Four cups, left to right: the old cup h_{t-1}; the mixing glass with the poured-out share r
    of old wine and the new ingredients x_t; the fresh mix n_t; the new cup h_t. Returns the axes.
    """
    if not (0 <= r <= 1 and 0 <= z <= 1):
        raise ValueError("r and z are gate values in [0, 1]")
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}")
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}")
    keep = z if convention == "pytorch" else 1 - z  # share of old wine in the new cup
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 3.6))
    mix = blend([WINE, INGREDIENTS], [r, 1.0])
    c1 = _cup(ax, 0.0, [(1.0, WINE)], label=r"$h_{t-1}$", sublabel="old wine (full cup)")
    # the mixing glass: r of a cup of old wine, then the ingredients (half a cup, for the picture)
    c2 = _cup(ax, 3.3, [(0.5 * r, WINE), (0.5, INGREDIENTS)], label=GLASS_LABELS[variant],
              sublabel=GLASS_NOTES[variant].format(r=r), label_size=10)
    c3 = _cup(ax, 6.6, [(1.0, mix)], label=r"$n_t$", sublabel="fresh mix (stirred: tanh)")
    c4 = _cup(ax, 9.9, [(keep, WINE), (1 - keep, mix)], label=r"$h_t$",
              sublabel=f"{keep:.0%} old wine + {1 - keep:.0%} fresh mix")
    y = 1.0
    _arrow(ax, c1 + 0.85, c2 - 0.85, y, f"pour out\n$r$ = {r:.2f}")
    _arrow(ax, c2 + 0.85, c3 - 0.85, y, "add up,\nsquash: tanh")
    _arrow(ax, c3 + 0.85, c4 - 0.85, y, "blend")
    # the old wine also goes straight into the new cup (the z path), drawn above the cups
    ax.add_patch(FancyArrowPatch((c1, 1.75), (c4, 1.75), arrowstyle="-|>", mutation_scale=14,
                                 connectionstyle="arc3,rad=-0.12", color=WINE, linewidth=1.4))
    gate = f"$z$ = {z:.2f}" if convention == "pytorch" else f"$1 - z$ = {1 - z:.2f}"
    ax.text((c1 + c4) / 2, 2.45, f"keep a share {gate} of the old wine", ha="center",
            va="bottom", fontsize=9, color=WINE)
    ax.set_xlim(-0.6, 11.6)
    ax.set_ylim(-1.2, 2.9)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def draw_wine_grid(rs=(0.1, 0.9), zs=(0.1, 0.9), convention: str = "pytorch"):
    """A static grid of :func:`draw_wine_mixing` panels, one per (r, z); returns the figure.

    rs, zs: reset and update gate values in [0, 1]; convention as in :func:`draw_wine_mixing`.
    """
    fig, axes = plt.subplots(len(rs) * len(zs), 1, figsize=(10, 3.1 * len(rs) * len(zs)))
    axes = np.atleast_1d(axes)
    for ax, (r, z) in zip(axes, [(r, z) for r in rs for z in zs], strict=True):
        draw_wine_mixing(r, z, ax=ax, convention=convention, title=f"reset r = {r}, update z = {z}")
    fig.tight_layout()
    return fig


def wine_widget(r: float = 0.5, z: float = 0.5, convention: str = "pytorch"):
    """Two sliders (reset r, update z) redrawing :func:`draw_wine_mixing`; returns the widget.

    Needs ipywidgets and a live kernel; the stored notebook shows a static figure instead.
    Without ipywidgets it prints a one-line note and returns the static figure for (r, z).
    """
    try:
        import ipywidgets as widgets
    except ImportError:
        print("ipywidgets is not installed: showing the static figure instead of the sliders.")
        ax = draw_wine_mixing(r, z, convention=convention)
        return ax.figure

    def show(r, z):
        draw_wine_mixing(r, z, convention=convention)
        plt.show()

    slider = dict(min=0.0, max=1.0, step=0.05, continuous_update=False)
    return widgets.interactive(show, r=widgets.FloatSlider(value=r, description="reset r",
                                                           **slider),
                               z=widgets.FloatSlider(value=z, description="update z", **slider))


def new_wine_share(z: float, steps: int, seed: int = 0) -> float:
    """Share of new wine in the cup after ``steps`` steps of a one-unit GRU, fixed update gate.

    The GRU (PyTorch's convention, run by ``scratch.gru_forward``) has all weights zero, so each
    gate sees only its bias: the update gate is ``z`` at every step (the share of the OLD state
    kept), the reset gate is 0.5 (irrelevant here: the recurrent part of the candidate is zero)
    and the candidate is tanh(20) = 1, pure new wine. The cup starts with no new wine, h_0 = 0,
    and the inputs (seeded, random) are ignored by the zero weights. Returns h_steps, a Python
    float in [0, 1]. ``z`` must lie strictly between 0 and 1.
    """
    if not 0.0 < z < 1.0:
        raise ValueError(f"z must lie strictly between 0 and 1, got {z}")
    bias_ih = np.array([0.0, np.log(z / (1.0 - z)), 20.0])  # r, z, n
    p = {"weight_ih": np.zeros((3, 1)), "weight_hh": np.zeros((3, 1)), "bias_ih": bias_ih,
         "bias_hh": np.zeros(3)}
    x = np.random.default_rng(seed).standard_normal((steps, 1, 1))
    h_all, _ = scratch.gru_forward(x, np.zeros((1, 1)), p)
    return float(h_all[-1, 0, 0])
