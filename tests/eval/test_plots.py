"""eval/plots.py's line plots: learning curves on log axes carry readable ticks at the sampled sizes."""

from __future__ import annotations

import pytest

from unihub.eval import plots


@pytest.fixture
def drawn(monkeypatch):
    """The figure a plot function would have rendered, kept instead of its PNG bytes."""
    figs = []

    def keep(fig, footer):
        fig.canvas.draw()
        figs.append(fig)
        return b""

    monkeypatch.setattr(plots, "_png", keep)
    return figs


def test_log_curves_label_the_sampled_sizes_in_plain_numbers(drawn):
    series = {"fine-tuned": ((25, 50, 100, 704), (118.0, 110.0, 104.0, 108.0)),
              "from scratch": ((25, 50, 100, 704), (108.0, 97.0, 94.0, 95.0)),
              "peer zero-shot": ((25, 704), (471.0, 471.0))}
    plots.curves(series, "training frames", "force MAE", "t", "f", log=True)
    ax = drawn[0].axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert list(ax.get_xticks()) == [25, 50, 100, 704]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["25", "50", "100", "704"]
    y_labels = {t.get_text() for t in ax.get_yticklabels() if t.get_text()}
    assert {"100", "200"} <= y_labels  # 1-2-5 steps inside one decade, not just powers of ten
    assert all("10^" not in s and "e+" not in s for s in y_labels)
    legend = ax.get_legend().get_bbox_to_anchor().transformed(ax.transAxes.inverted())
    assert legend.x0 > 1.0  # beside the axes, covering no curve
    lines = {line.get_label(): line.get_marker() for line in ax.get_lines()}
    assert lines["fine-tuned"] == "o" and lines["peer zero-shot"] in ("None", "")


def test_linear_curves_stay_linear(drawn):
    plots.curves({"DFT": ((1.0, 2.0, 3.0), (0.0, -1.0, -0.5))}, "r", "E", "t", "f")
    ax = drawn[0].axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "linear"
