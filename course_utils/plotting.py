"""One plotting style for the whole course, and the figure helpers chapters share.

Figures are drawn by code (no image files): each helper takes an optional ``ax`` so a chapter
can place it in a grid, and returns the axes it drew on.
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

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


def plot_confusion_matrix(y_true, y_pred, labels, ax=None, normalize: bool = True,
                          title: str | None = None):
    """Confusion matrix of integer class ids as a heatmap; rows = true class, columns = predicted.

    y_true, y_pred : (N,) ints in 0..len(labels)-1. With ``normalize`` each row is divided by its
    count, so the diagonal shows per-class accuracy (recall) even when classes are imbalanced.
    Returns the axes; the matrix itself is ``confusion_matrix(y_true, y_pred, len(labels))``.
    """
    k = len(labels)
    cm = confusion_matrix(y_true, y_pred, k).astype(float)
    if normalize:
        cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    ax = ax or plt.gca()
    ax.imshow(cm, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ax.grid(False)
    ax.set_xticks(range(k), labels, rotation=60, ha="right")
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(k):
        for j in range(k):
            if cm[i, j] >= 0.005 or not normalize:
                text = f"{cm[i, j]:.2f}" if normalize else f"{int(cm[i, j])}"
                ax.text(j, i, text, ha="center", va="center", fontsize=7,
                        color="white" if cm[i, j] > 0.6 * cm.max() else "black")
    if title:
        ax.set_title(title)
    return ax


def confusion_matrix(y_true, y_pred, n_classes: int):
    """(n_classes, n_classes) int array; entry [i, j] counts examples of class i predicted j."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm
