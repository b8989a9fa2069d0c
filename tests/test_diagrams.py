"""course_utils.diagrams: geometry of the primitives, and every ready-made diagram draws."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

from course_utils import diagrams  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_box_boundary_lies_on_the_edge():
    node = diagrams.Node(0.0, 0.0, 2.0, 1.0, "box")
    assert node.boundary((10.0, 0.0)) == pytest.approx((1.0, 0.0))
    assert node.boundary((0.0, -10.0)) == pytest.approx((0.0, -0.5))
    x, y = node.boundary((3.0, 3.0))  # diagonal: leaves through the top edge
    assert y == pytest.approx(0.5) and x == pytest.approx(0.5)


def test_ellipse_boundary_lies_on_the_ellipse():
    node = diagrams.Node(1.0, 2.0, 2.0, 1.0, "ellipse")
    for target in [(5.0, 2.0), (1.0, 9.0), (4.0, 5.0), (-3.0, 0.0)]:
        x, y = node.boundary(target)
        assert ((x - 1.0) / 1.0) ** 2 + ((y - 2.0) / 0.5) ** 2 == pytest.approx(1.0)


def test_boundary_never_overshoots_a_close_target():
    node = diagrams.Node(0.0, 0.0, 2.0, 2.0, "box")
    assert math.dist(node.boundary((0.3, 0.0), gap=5.0), (0.0, 0.0)) <= 0.3 + 1e-12


def test_anchor_sides():
    node = diagrams.Node(1.0, 1.0, 2.0, 1.0)
    assert node.anchor("left") == (0.0, 1.0)
    assert node.anchor("top", shift=0.25) == (1.25, 1.5)
    with pytest.raises(ValueError):
        node.anchor("middle")


def test_primitives_compose_into_a_cell():
    ax = diagrams.canvas((0, 5), (0, 3))
    x = diagrams.value(ax, (0.5, 0.4), "$x$")
    w = diagrams.layer(ax, (0.5, 1.6), "$Wx+b$", kind="gate")
    s = diagrams.op(ax, (2.5, 1.6), r"$\sigma$")
    p0, p1 = diagrams.arrow(ax, x, w, label="in")
    assert p1[1] == pytest.approx(1.6 - 0.55 / 2)  # stops on the box's bottom edge
    diagrams.arrow(ax, w, s, kind="gradient", rad=0.2)
    pts = diagrams.wire(ax, [s, (4.0, 1.6), (4.0, 0.5)], label="loop")
    assert pts[0][0] == pytest.approx(2.5 + 0.25)
    diagrams.frame(ax, (0.1, 0.1), (3.0, 2.2), label="one step")
    diagrams.legend(ax, kinds=("layer", "gate", "op"), gradient=True)
    assert len(ax.patches) >= 6


def test_new_kinds_can_be_registered():
    face, edge = "#123456", "#654321"
    diagrams.KINDS["test_kind"] = (face, edge)
    try:
        ax = diagrams.canvas((0, 2), (0, 2))
        diagrams.layer(ax, (1, 1), "x", kind="test_kind")
        diagrams.op(ax, (0.5, 0.5), "+", kind="test_kind")
        diagrams.legend(ax, kinds=("test_kind",))
    finally:
        del diagrams.KINDS["test_kind"]
    box, circle = ax.patches[-2:]
    for patch in (box, circle):  # the layer and the operation take the registered colours
        assert patch.get_facecolor() == pytest.approx(to_rgba(face))
        assert patch.get_edgecolor() == pytest.approx(to_rgba(edge))
    handle = ax.get_legend().legend_handles[0]
    assert handle.get_facecolor() == pytest.approx(to_rgba(face))
    assert handle.get_label() == "test_kind"


def test_bad_arguments_are_rejected():
    ax = diagrams.canvas((0, 2), (0, 2))
    with pytest.raises(ValueError):
        diagrams.arrow(ax, (0, 0), (1, 1), kind="sideways")
    with pytest.raises(ValueError):
        diagrams.wire(ax, [(0, 0)])
    with pytest.raises(ValueError):
        diagrams.draw_unrolled_rnn(4, outputs="every")
    with pytest.raises(ValueError):  # truncation is drawn for a loss on the last step only
        diagrams.draw_unrolled_rnn(4, backward=True, truncate=2, outputs="all")
    with pytest.raises(ValueError):
        diagrams.draw_unrolled_rnn(3, words=["too", "few"])


@pytest.mark.parametrize("draw", [
    lambda: diagrams.draw_rnn_cell(),
    lambda: diagrams.draw_rnn_cell(output=False, nonlinearity=r"\mathrm{ReLU}"),
    lambda: diagrams.draw_rnn_folded(),
    lambda: diagrams.draw_unrolled_rnn(3),
    lambda: diagrams.draw_unrolled_rnn(4, words=["a", "b", "c", "d"], outputs="last"),
    lambda: diagrams.draw_unrolled_rnn(5, backward=True),
    lambda: diagrams.draw_unrolled_rnn(6, backward=True, truncate=3, outputs="last"),
    lambda: diagrams.draw_two_layer_net(),
    lambda: diagrams.draw_two_layer_net(backward=False),
])
def test_ready_made_diagrams_draw(draw):
    ax = draw()
    ax.figure.canvas.draw()  # renders every label, so a broken LaTeX string fails here
    assert ax.patches


def test_learned_layers_share_one_colour_and_the_output_error_uses_e_y():
    layer_face = to_rgba(diagrams.KINDS["layer"][0])
    for ax in (diagrams.draw_rnn_cell(), diagrams.draw_two_layer_net()):
        faces = [p.get_facecolor() for p in ax.patches if isinstance(p, FancyBboxPatch)]
        boxes_with_weights = [f for f in faces if f != to_rgba(diagrams.KINDS["state"][0])]
        assert len(boxes_with_weights) >= 2
        assert all(f == pytest.approx(layer_face) for f in boxes_with_weights)
    texts = " ".join(t.get_text() for t in diagrams.draw_two_layer_net().texts)
    assert r"\mathbf{e}_y" in texts and r"- \mathbf{y}" not in texts
