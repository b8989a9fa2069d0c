"""Chapter 07's wine figure: labels per convention and reset variant, and the widget fallback."""

import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from course_utils import wine  # noqa: E402


def _texts(ax):
    return " ".join(t.get_text() for t in ax.texts)


def test_conventions_set_the_shares():
    assert "70% old wine + 30% fresh mix" in _texts(wine.draw_wine_mixing(0.3, 0.7))
    flipped = wine.draw_wine_mixing(0.3, 0.7, convention="flipped")  # z = share of fresh mix
    assert "30% old wine + 70% fresh mix" in _texts(flipped)
    with pytest.raises(ValueError):
        wine.draw_wine_mixing(0.3, 0.7, convention="cho")
    plt.close("all")


def test_mixing_glass_is_labelled_for_the_reset_variant():
    after = _texts(wine.draw_wine_mixing(0.3, 0.7))
    before = _texts(wine.draw_wine_mixing(0.3, 0.7, variant="before"))
    # reset-after (what PyTorch runs): r scales the product W_hn h + b_hn
    assert r"r \odot (W_{hn} h_{t-1} + b_{hn})" in after and "r \\cdot h_{t-1}" not in after
    # reset-before: r scales the old state inside the product
    assert r"W_{hn} (r \odot h_{t-1})" in before
    # the whole pre-activation of the candidate, input bias included (issue 22, item 16)
    assert r"W_{in} x_t + b_{in}" in after and r"W_{in} x_t + b_{in}" in before
    with pytest.raises(ValueError):
        wine.draw_wine_mixing(0.3, 0.7, variant="during")
    plt.close("all")


def test_widget_falls_back_to_the_static_figure(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # `import ipywidgets` raises ImportError
    out = wine.wine_widget(r=0.2, z=0.9)
    note = capsys.readouterr().out
    assert isinstance(out, matplotlib.figure.Figure)
    assert note.count("\n") == 1 and "ipywidgets" in note
    assert "90% old wine + 10% fresh mix" in _texts(out.axes[0])
    plt.close("all")


def test_widget_with_ipywidgets():
    widgets = pytest.importorskip("ipywidgets")
    w = wine.wine_widget(r=0.2, z=0.9)
    assert isinstance(w, widgets.interactive)
    assert [c.value for c in w.children[:2]] == [0.2, 0.9]
    plt.close("all")
