"""The drawing kit behind ``course_utils.diagrams``: one visual grammar for every cell diagram.

Every cell diagram in the course uses one visual grammar, so that an LSTM drawn in chapter 06
reads like the RNN of chapter 03:

* a **box** (rounded rectangle) is a *learned layer*: something with weights, such as
  ``W_ih x + b_ih`` or a sigmoid gate. Its colour says which kind (``KINDS``);
* a **circle** is an *element-wise operation without parameters*: ``+``, ``×``, ``tanh``,
  ``σ``, ``1−``. Wider labels (``softmax``) get an ellipse;
* a bare **label** is a *value* (a vector such as ``x_t`` or ``h_t``);
* a solid **arrow** is data flowing forward; a dashed vermilion arrow (``kind="gradient"``)
  is a gradient flowing backward.

The building blocks are public so that later chapters can draw their own cells:

``canvas``      an empty, equal-aspect axes in data units (no grid, no ticks)
``layer``       a box for a learned layer                      -> ``Node``
``op``          a circle/ellipse for an element-wise operation -> ``Node``
``value``       a text label for a vector                      -> ``Node``
``arrow``       an arrow between two nodes/points (straight or curved), with a label
``wire``        a polyline arrow through corner points (for state lines and loops)
``frame``       a dashed rectangle around a group (one time step, a truncation window)
``legend``      a key explaining the shapes used

Arrows attach to the *boundary* of a ``Node``, so callers only place the centres.
The ready-made diagrams built from these blocks are in ``course_utils.diagrams``, which also
re-exports every block, so notebooks import only ``diagrams``.

Example: a cell of your own::

    ax = canvas((0, 4), (0, 3))
    x = value(ax, (0.5, 0.4), r"$\\mathbf{x}_t$")
    w = layer(ax, (0.5, 1.5), r"$W x + b$")
    s = op(ax, (2.5, 1.5), r"$\\sigma$", kind="gate")
    arrow(ax, x, w)
    arrow(ax, w, s, label="net")
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.patches import Ellipse, FancyArrowPatch, FancyBboxPatch, Patch, Rectangle

from course_utils.plotting import PALETTE

# Face and edge colour per kind of node. Chapters may add kinds: KINDS["my_kind"] = (face, edge).
KINDS: dict[str, tuple[str, str]] = {
    "layer": ("#DCEAF7", PALETTE[0]),    # affine map of a learned layer (blue)
    "gate": ("#D9F2E9", PALETTE[2]),     # a learned gate (sigmoid layer) of the LSTM/GRU (green)
    "candidate": ("#FBE3D6", PALETTE[3]),  # a learned candidate (tanh layer) (vermilion)
    "op": ("#FDF0D5", PALETTE[1]),       # an element-wise operation (orange)
    "output": ("#F3E1EC", PALETTE[4]),   # optional highlight (purple); the course's own
                                         # diagrams draw output layers as "layer"
    "loss": ("#F9DCD2", PALETTE[3]),     # a loss node
    "state": ("#E8F4FB", PALETTE[5]),    # a memory / delay element
}
FORWARD_COLOR = "#333333"
GRADIENT_COLOR = PALETTE[3]
FONT_SIZE = 11


@dataclass
class Node:
    """Geometry of a drawn node: centre (x, y), full width w and height h, and its shape.

    ``shape`` is "box", "ellipse" or "text". Use :meth:`anchor` for named attachment points and
    :meth:`boundary` for the point where a line towards another point leaves the node.
    """

    x: float
    y: float
    w: float
    h: float
    shape: str = "box"

    @property
    def center(self) -> tuple[float, float]:
        return (self.x, self.y)

    def anchor(self, side: str, shift: float = 0.0) -> tuple[float, float]:
        """Midpoint of a side ("left", "right", "top", "bottom"), moved ``shift`` along it.

        For an ellipse the side points are its left/right/top/bottom extremes; ``shift`` then
        moves along the tangent there (small shifts only).
        """
        if side == "left":
            return (self.x - self.w / 2, self.y + shift)
        if side == "right":
            return (self.x + self.w / 2, self.y + shift)
        if side == "top":
            return (self.x + shift, self.y + self.h / 2)
        if side == "bottom":
            return (self.x + shift, self.y - self.h / 2)
        raise ValueError(f"side must be left, right, top or bottom, got {side!r}")

    def boundary(self, toward: tuple[float, float], gap: float = 0.0) -> tuple[float, float]:
        """The point where the ray from the centre towards ``toward`` leaves the node.

        ``gap`` pushes the point that much further out (so arrow heads do not touch text).
        """
        dx, dy = toward[0] - self.x, toward[1] - self.y
        dist = math.hypot(dx, dy)
        if dist == 0:
            return self.center
        ux, uy = dx / dist, dy / dist
        a, b = self.w / 2, self.h / 2
        if self.shape == "ellipse":
            # r(theta) of an ellipse with semi-axes a, b along the unit direction (ux, uy)
            r = 1.0 / math.sqrt((ux / a) ** 2 + (uy / b) ** 2)
        else:  # box or text: the rectangle's edge
            rx = a / abs(ux) if ux else math.inf
            ry = b / abs(uy) if uy else math.inf
            r = min(rx, ry)
        r = min(r + gap, dist)
        return (self.x + ux * r, self.y + uy * r)


Point = tuple[float, float]


def _xy(end, other) -> Point:
    """A Node becomes its boundary point towards ``other``; a point stays itself."""
    if isinstance(end, Node):
        target = other.center if isinstance(other, Node) else other
        return end.boundary(target, gap=0.04 if end.shape == "text" else 0.0)
    return (float(end[0]), float(end[1]))


# ---------------------------------------------------------------------------------------------
# Primitives
# ---------------------------------------------------------------------------------------------


def canvas(xlim: tuple[float, float], ylim: tuple[float, float], ax=None, scale: float = 0.9,
           title: str | None = None):
    """An axes for a diagram: data units on both axes, equal aspect, no ticks or grid.

    Without ``ax`` a new figure is created whose size follows the limits (``scale`` inches per
    unit). Returns the axes.
    """
    if ax is None:
        width = (xlim[1] - xlim[0]) * scale
        height = (ylim[1] - ylim[0]) * scale
        _, ax = plt.subplots(figsize=(width, height))
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


def layer(ax, xy: Point, text: str, width: float = 1.4, height: float = 0.55,
          kind: str = "layer", fontsize: float = FONT_SIZE) -> Node:
    """A rounded box for a learned layer (it has weights). Returns its ``Node``."""
    face, edge = KINDS[kind]
    x, y = xy
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                boxstyle="round,pad=0,rounding_size=0.1", facecolor=face,
                                edgecolor=edge, linewidth=1.5, zorder=2))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=3)
    return Node(x, y, width, height, "box")


def op(ax, xy: Point, text: str, radius: float = 0.25, width: float | None = None,
       kind: str = "op", fontsize: float = FONT_SIZE) -> Node:
    """A circle for an element-wise operation (no weights); an ellipse when ``width`` is given.

    Typical texts: "+", r"$\\times$", r"$\\tanh$", r"$\\sigma$", "1−", "softmax".
    """
    face, edge = KINDS[kind]
    x, y = xy
    w = 2 * radius if width is None else width
    ax.add_patch(Ellipse((x, y), w, 2 * radius, facecolor=face, edgecolor=edge, linewidth=1.5,
                         zorder=2))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=3)
    return Node(x, y, w, 2 * radius, "ellipse")


def value(ax, xy: Point, text: str, width: float = 0.5, height: float = 0.35,
          fontsize: float = FONT_SIZE + 1, color: str = FORWARD_COLOR) -> Node:
    """A value (a vector such as x_t or h_t) shown as a bare label. Returns its ``Node``.

    ``width``/``height`` only set where arrows stop; widen them for long labels.
    """
    x, y = xy
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, color=color, zorder=3)
    return Node(x, y, width, height, "text")


def _label(ax, p0: Point, p1: Point, text: str, offset: float, at: float, color: str,
           fontsize: float) -> None:
    """Put ``text`` at fraction ``at`` of the segment p0-p1, ``offset`` to its left side."""
    mx, my = p0[0] + at * (p1[0] - p0[0]), p0[1] + at * (p1[1] - p0[1])
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    d = math.hypot(dx, dy) or 1.0
    nx, ny = -dy / d, dx / d  # left-hand normal of the direction of travel
    ax.text(mx + offset * nx, my + offset * ny, text, ha="center", va="center",
            fontsize=fontsize, color=color, zorder=4,
            bbox=dict(boxstyle="round,pad=0.1", facecolor="white", edgecolor="none",
                      alpha=0.85))


def _style(kind: str, color: str | None, linestyle: str | None):
    if kind not in ("forward", "gradient"):
        raise ValueError(f"kind must be 'forward' or 'gradient', got {kind!r}")
    if kind == "gradient":
        return color or GRADIENT_COLOR, linestyle or (0, (4, 2))
    return color or FORWARD_COLOR, linestyle or "-"


def arrow(ax, start, end, label: str | None = None, *, kind: str = "forward",
          rad: float = 0.0, color: str | None = None, linestyle: str | None = None,
          label_offset: float = 0.22, label_at: float = 0.5, head: bool = True,
          fontsize: float = FONT_SIZE - 1, linewidth: float = 1.4):
    """An arrow from ``start`` to ``end`` (each a ``Node`` or an (x, y) point).

    ``rad`` bends it (matplotlib's arc3 connection: positive bends to the left of travel).
    ``label`` is written at fraction ``label_at`` of the way, ``label_offset`` to the left of the
    direction of travel (negative: to the right). ``kind="gradient"`` draws a dashed vermilion
    arrow for backward flow. Returns the (start, end) points actually used.
    """
    color, linestyle = _style(kind, color, linestyle)
    p0, p1 = _xy(start, end), _xy(end, start)
    ax.add_patch(FancyArrowPatch(p0, p1, arrowstyle="-|>" if head else "-", mutation_scale=13,
                                 connectionstyle=f"arc3,rad={rad}", shrinkA=0, shrinkB=0,
                                 color=color, linestyle=linestyle, linewidth=linewidth,
                                 zorder=1))
    if label:
        # a bent arrow's midpoint lies off the chord by rad * length / 2, on its right side
        off = label_offset - rad * math.hypot(p1[0] - p0[0], p1[1] - p0[1]) / 2
        _label(ax, p0, p1, label, off, label_at, color, fontsize)
    return p0, p1


def wire(ax, points, label: str | None = None, *, label_segment: int = 0, kind: str = "forward",
         color: str | None = None, linestyle: str | None = None, label_offset: float = 0.22,
         head: bool = True, fontsize: float = FONT_SIZE - 1, linewidth: float = 1.4):
    """A polyline through ``points`` with an arrow head at the end (a state line, a loop).

    The first/last entries may be ``Node`` objects: the wire then starts/ends on their boundary.
    ``label`` is written beside segment number ``label_segment``. Returns the points used.
    """
    pts = list(points)
    if len(pts) < 2:
        raise ValueError("a wire needs at least two points")
    pts[0] = _xy(pts[0], pts[1])
    pts[-1] = _xy(pts[-1], pts[-2])
    color, linestyle = _style(kind, color, linestyle)
    xs, ys = zip(*pts[:-1], strict=True)
    ax.plot(xs, ys, color=color, linestyle=linestyle, linewidth=linewidth, zorder=1,
            solid_capstyle="butt")
    ax.add_patch(FancyArrowPatch(pts[-2], pts[-1], arrowstyle="-|>" if head else "-",
                                 mutation_scale=13, shrinkA=0, shrinkB=0, color=color,
                                 linestyle=linestyle, linewidth=linewidth, zorder=1))
    if label:
        seg = label_segment % (len(pts) - 1)
        _label(ax, pts[seg], pts[seg + 1], label, label_offset, 0.5, color, fontsize)
    return pts


def frame(ax, lower_left: Point, upper_right: Point, label: str | None = None, *,
          color: str = "#888888", fill: str | None = None, label_pos: str = "top",
          fontsize: float = FONT_SIZE - 1) -> None:
    """A dashed rectangle grouping nodes (one time step, a truncation window...)."""
    (x0, y0), (x1, y1) = lower_left, upper_right
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=fill is not None,
                           facecolor=fill or "none", edgecolor=color, linestyle=(0, (3, 3)),
                           linewidth=1.0, zorder=0, alpha=1.0 if fill is None else 0.35))
    if label:
        y = y1 + 0.12 if label_pos == "top" else y0 - 0.12
        ax.text((x0 + x1) / 2, y, label, ha="center", va="bottom" if label_pos == "top" else "top",
                fontsize=fontsize, color=color)


def legend(ax, kinds=("layer", "op"), loc: str = "lower right", gradient: bool = False,
           labels: dict[str, str] | None = None):
    """A key for the shapes: which box is a learned layer, which circle an element-wise op."""
    default = {"layer": "learned layer (weights)", "gate": "learned gate (sigmoid layer)",
               "candidate": "learned candidate (tanh layer)", "op": "element-wise operation",
               "output": "output layer", "loss": "loss", "state": "memory (next step)"}
    default.update(labels or {})
    handles = []
    for kind in kinds:
        face, edge = KINDS[kind]
        handles.append(Patch(facecolor=face, edgecolor=edge, label=default.get(kind, kind)))
    handles.append(Line2D([], [], color=FORWARD_COLOR, label="forward flow"))
    if gradient:
        handles.append(Line2D([], [], color=GRADIENT_COLOR, linestyle=(0, (4, 2)),
                              label="gradient flow"))
    return ax.legend(handles=handles, loc=loc, fontsize=8, frameon=False)
