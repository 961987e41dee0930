"""Figure helpers return Figures with the expected axes and lines, without pyplot."""

import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from fedlib.evaluate.figures import (
    data_lines,
    plot_epsilon_curve,
    plot_reliability,
    plot_rounds,
    plot_subgroups,
    plot_timing_bars,
)
from fedlib.evaluate.metrics import reliability_curve


@pytest.fixture
def rounds():
    rows = [{"round": r, "mode": m, "metric": k, "value": v + 0.01 * r}
            for r in range(1, 4) for m, v in [("standard", 0.9), ("dp", 0.85), ("he", 0.89)]
            for k in ("accuracy", "loss")]
    return pd.DataFrame(rows)


def test_plot_rounds_lines_and_panels(rounds):
    before = dict(mpl.rcParams)
    fig = plot_rounds(rounds[rounds.metric == "accuracy"], hue="mode", ylabel="accuracy",
                      title="Accuracy")
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    assert len(data_lines(fig.axes[0])) == 3
    fig = plot_rounds(rounds, hue="mode", col="metric", ylabel="value")
    assert [ax.get_title() for ax in fig.axes] == ["accuracy", "loss"]
    assert all(len(data_lines(ax)) == 3 for ax in fig.axes)
    assert dict(mpl.rcParams) == before, "the theme must not leak into global rcParams"


def test_plot_rounds_rejects_missing_column(rounds):
    with pytest.raises(ValueError, match="not in the frame"):
        plot_rounds(rounds, y="auc", ylabel="AUC")


def test_plot_reliability_one_line_per_curve_plus_diagonal():
    rng = np.random.default_rng(0)
    p = rng.random(300)
    y = (rng.random(300) < p).astype(int)
    curves = {"standard": reliability_curve(y, p), "dp": reliability_curve(y, p ** 2)}
    fig = plot_reliability(curves)
    ax = fig.axes[0]
    assert len(ax.lines) == 3
    np.testing.assert_allclose(ax.lines[1].get_ydata(), curves["standard"]["observed_rate"])


def test_bars_and_epsilon_curve():
    timing = pd.DataFrame({"mode": ["standard", "dp", "he"] * 2, "seconds": [2, 3, 10, 2, 3, 9],
                           "what": ["client"] * 3 + ["server"] * 3})
    fig = plot_timing_bars(timing, x="mode", y="seconds", hue="what", ylabel="s", log=True)
    assert len(fig.axes) == 1 and len(fig.axes[0].patches) >= 6
    assert fig.axes[0].get_yscale() == "log"
    sub = pd.DataFrame({"gender": ["F", "M", "F", "M"], "accuracy": [0.8, 0.9, 0.7, 0.85],
                        "mode": ["standard", "standard", "dp", "dp"]})
    fig = plot_subgroups(sub, group="gender", hue="mode")
    assert len(fig.axes[0].patches) >= 4 and fig.axes[0].get_xlim() == (0, 1)
    eps = pd.DataFrame({"epsilon": [0.1, 1, 5] * 2, "roc_auc": [0.6, 0.7, 0.75, 0.65, 0.72, 0.76],
                        "model": ["fedavg"] * 3 + ["fmtl"] * 3})
    fig = plot_epsilon_curve(eps, hue="model")
    assert len(data_lines(fig.axes[0])) == 2 and fig.axes[0].get_xscale() == "log"
    with pytest.raises(ValueError, match="logx"):
        plot_epsilon_curve(eps.assign(epsilon=0.0))


def test_figure_renders_to_png(tmp_path, rounds):
    fig = plot_rounds(rounds, hue="mode", col="metric", ylabel="value")
    fig.savefig(tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 1000
