"""One plotting style for the whole course, and the figure helpers chapters share.

Figures are drawn by code (no image files): each helper takes an optional ``ax`` so a chapter
can place it in a grid, and returns the axes it drew on.
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt

# A colour-blind-safe palette (Okabe & Ito), used in a fixed order so that a model keeps its
# colour from chapter to chapter.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#000000"]
MODEL_COLORS = {"tfidf": PALETTE[7], "cnn": PALETTE[1], "rnn": PALETTE[0], "lstm": PALETTE[2],
                "gru": PALETTE[3]}


def use_style() -> None:
    """Set the course's matplotlib defaults (readable sizes, light grid, fixed palette)."""
    mpl.rcParams.update({
        "figure.figsize": (6.4, 3.8),
        "figure.dpi": 90,
        "savefig.dpi": 90,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titlesize": 11,
        "axes.labelsize": 10,
        "legend.fontsize": 9,
        "legend.frameon": False,
        "axes.prop_cycle": mpl.cycler(color=PALETTE),
        "image.cmap": "viridis",
    })


def plot_history(history, ax=None, label: str | None = None, color=None):
    """Training loss per epoch (solid) and test loss (dashed) of a ``training.History``."""
    ax = ax or plt.gca()
    epochs = range(1, len(history.train_loss) + 1)
    line, = ax.plot(epochs, history.train_loss, label=f"{label or 'model'} train", color=color)
    if history.test_loss:
        ax.plot(range(1, len(history.test_loss) + 1), history.test_loss, "--",
                color=line.get_color(), label=f"{label or 'model'} test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    return ax
