"""Every figure of the book meets the one figure standard, and the checker catches breaches.

Each figure function is rendered on the smallest synthetic input it accepts (no chapter runs)
and :func:`figure_problems` must find nothing; then deliberately bad figures show that each
check of the standard can fail (issue 13 item 5).
"""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from fedlib.book.bench_figures import (
    dpsgd_batch_figure,
    dpsgd_frame,
    secagg_clients_figure,
    secagg_frame,
    secureboost_frame,
    secureboost_rows_figure,
)
from fedlib.book.perf_page import performance_figure
from fedlib.evaluate.figures import (
    COLUMN_WIDTH_IN,
    book_theme,
    figure_problems,
    new_figure,
    plot_epsilon_curve,
    plot_reliability,
    plot_rounds,
    plot_subgroups,
    plot_timing_bars,
)
from fedlib.evaluate.metrics import reliability_curve
from fedlib.papers.p01_fmtl.experiment import ORDER
from fedlib.papers.p01_fmtl.figures import (
    auc_bars_figure,
    epsilon_figure,
    lambda_figure,
    score_density_figure,
)
from fedlib.papers.p02_dp_vs_ckks.figures import timing_figures
from fedlib.papers.p03_fsl_bdp.figures import km_calibration, plot_convergence, plot_timing
from fedlib.papers.p03_fsl_bdp.tuning import plot_tuning_curves
from fedlib.papers.p04_secureboost.comparison import models_figure
from fedlib.papers.p04_secureboost.selection import elimination_figure, loadings_figure
from fedlib.survival.federated import make_model
from fedlib.survival.tuning import METHOD_MODES

RNG = np.random.default_rng(0)
MODES = ["standard", "dp", "ckks", "dp (σ=1.5)", "ckks (scale 2^40)"]


def _rounds_frame() -> pd.DataFrame:
    # Five modes of which standard and CKKS coincide exactly: the overplotting of Fig 2.1.
    rows = [{"round": r, "mode": m, "setting": s, "metric": k,
             "value": 0.7 + 0.02 * r - (0.05 if m.startswith("dp") else 0.0)}
            for r in range(1, 4) for m in MODES for s in ("paper", "tuned")
            for k in ("accuracy", "loss")]
    return pd.DataFrame(rows)


def _timing_frame() -> pd.DataFrame:
    rows = [{"repeat": i, "mode": m, "train_s_per_epoch": 1e-4 * (1 + i),
             "protect_s": 0.01 if m == "ckks" else 0.0, "server_s": 1e-3 * (1 + 9 * (i == 0)),
             "client_s_per_epoch": 1e-4 * (1 + i)} for i in range(5) for m in MODES[:3]]
    return pd.DataFrame(rows)


def _survival_data(n: int = 60, window: int = 6):
    X = RNG.normal(size=(n, 3)).astype(np.float32)
    t = RNG.integers(0, window, n)
    e = (RNG.random(n) < 0.5).astype(int)
    return X, t, e


def _helper_figures():
    rounds = _rounds_frame()
    acc = rounds[rounds.metric == "accuracy"]
    p = RNG.random(300)
    y = (RNG.random(300) < p).astype(int)
    subgroups = pd.DataFrame({"subgroup": ["gender: female", "gender: male",
                                           "property location: urban"] * 2,
                              "roc_auc": [0.7, 0.8, 0.6, 0.72, 0.79, 0.64],
                              "mode": ["standard (tuned)"] * 3 + ["dp (tuned)"] * 3})
    eps = pd.DataFrame({"epsilon": [0.5, 1, 4, 8] * 2, "avg_auc": RNG.uniform(0.6, 0.8, 8),
                        "mode": ["FMTL"] * 4 + ["FedAvg"] * 4})
    return {
        "plot_rounds": plot_rounds(acc, hue="mode", ylabel="test ROC-AUC"),
        "plot_rounds facets": plot_rounds(acc, hue="mode", col="setting",
                                          ylabel="test ROC-AUC", title="t"),
        "plot_reliability": plot_reliability({m: reliability_curve(y, p ** (1 + i))
                                              for i, m in enumerate(MODES[:3])}),
        "plot_timing_bars": plot_timing_bars(_timing_frame(), x="mode", y="server_s",
                                             ylabel="s per round", log=True),
        "plot_subgroups": plot_subgroups(subgroups, group="subgroup", metric="roc_auc",
                                         hue="mode"),
        "plot_epsilon_curve": plot_epsilon_curve(eps, y="avg_auc", ylabel="AUC", hue="mode"),
    }


def _chapter_figures():
    lam = pd.DataFrame({"optimiser": ["adam"] * 4 + ["sgd"] * 4, "lambda": [0, 0.01, 0.1, 1] * 2,
                        "val AUC": RNG.uniform(0.6, 0.8, 8), "lr": [0.01] * 4 + [0.1] * 4})
    nodp = pd.DataFrame([{"institution": f"institution {i}", "model": m, "seed": s,
                          "roc_auc": RNG.uniform(0.6, 0.8)}
                         for i in range(4) for m in ORDER for s in range(2)])
    scores = pd.DataFrame([{"institution": f"institution {i}", "when": w,
                            "predicted default probability": v}
                           for i in range(4) for w in ("before training", "after FMTL")
                           for v in RNG.beta(2, 5, 30)])
    sweep = pd.DataFrame([{"model": m, "epsilon": e, "seed": s, "avg_auc": RNG.uniform(0.6, 0.8)}
                          for m in ("FMTL", "FedAvg") for e in (0.5, 1, 8) for s in range(2)])
    curves = pd.DataFrame([{"paradigm": par, "privacy": priv, "label": lab, "step": step,
                            "train_loss": 1 / (1 + step) + d, "test_ci": 0.6 + 0.01 * step}
                           for par in ("Centralized", "Federated")
                           for priv, lab, d in (("No DP", "No DP", 0.0),
                                                ("BDP", "BDP ε=1", 0.1),
                                                ("Classical DP", "Classical DP ε=1", 0.2))
                           for step in np.arange(0, 4.5, 0.5)])
    window = 6
    X, t, e = _survival_data(window=window)
    model = make_model(3, window, seed=0, init_hazard=0.05, hidden=(4,))
    data = SimpleNamespace(pooled=lambda part: (X, t, e, None),
                           clients=[SimpleNamespace(name=f"client {k}", n_train=30 - k,
                                                    t_test=t[k::9], e_test=e[k::9],
                                                    X_test=X[k::9], idx_test=None)
                                    for k in range(9)])
    km_fig, _ = km_calibration(model, SimpleNamespace(window=window, truth=None), data)
    views, base = ["bank only", "bank + external"], ["LR", "RF"]
    table = pd.DataFrame([{"model": m, "features": v,
                           **dict(zip(["error_rate", "recall", "precision", "f1", "ks", "auc"],
                                      RNG.uniform(0.1, 0.9, 6), strict=True))}
                          for v in views for m in base + ["GBDT"]]
                         + [{"model": "XMP + SecureBoost", "features": "selected",
                             **dict(zip(["error_rate", "recall", "precision", "f1", "ks", "auc"],
                                        RNG.uniform(0.1, 0.9, 6), strict=True))}])
    path = pd.DataFrame({"n_features": range(1, 12), "cv_auc": RNG.uniform(0.7, 0.8, 11),
                         "cv_logloss": RNG.uniform(0.4, 0.5, 11)})
    loadings = pd.DataFrame(RNG.uniform(-1, 1, (8, 3)), columns=["PC1", "PC2", "PC3"],
                            index=[f"bureau score {i}" for i in range(8)])
    cost = pd.DataFrame({"chapter": [f"chapter {i}" for i in range(1, 5)],
                         "run time (s)": [30.0, 80.0, 400.0, 60.0],
                         "peak memory (MiB)": [900.0, 1200.0, 700.0, 800.0]})
    times = pd.DataFrame({"what": [f"{i} · timing · mode {i} · server time" for i in range(1, 5)],
                          "ms": [0.5, 12.0, 300.0, 4000.0],
                          "chapter": [f"chapter {i}" for i in range(1, 5)]})
    fig_client, fig_server = timing_figures(_timing_frame())
    configs = [f"lr={lr}, B={b}, E={e}" for lr in (1e-3, 3e-3) for b in (128, 256) for e in (1, 2)]
    methods = list(METHOD_MODES)
    tuning = SimpleNamespace(
        sweep=pd.DataFrame([{"method": m, "config": c, "chosen": c == configs[i]}
                            for i, m in enumerate(methods) for c in configs]),
        curves=pd.DataFrame([{"method": m, "config": c, "epoch": ep,
                              "val_ci": RNG.uniform(0.5, 0.65)}
                             for m in methods for c in configs for ep in range(1, 11)]))
    return {
        "ch01 lambda_figure": lambda_figure(lam, 0.75),
        "ch01 auc_bars_figure": auc_bars_figure(nodp),
        "ch01 score_density_figure": score_density_figure(scores),
        "ch01 epsilon_figure": epsilon_figure(sweep, {"FedAvg": 0.78, "FMTL": 0.8}),
        "ch02 rounds (chapter call)": plot_rounds(
            _rounds_frame().query("metric == 'loss'"), hue="mode", col="setting",
            ylabel="test log-loss (nats)", title="Test log-loss of the global model"),
        "ch02 client time": fig_client,
        "ch02 server time": fig_server,
        "ch03 plot_convergence": plot_convergence(curves),
        "ch03 plot_timing": plot_timing(model, data, window),
        "ch03 km_calibration": km_fig,
        "ch03 plot_tuning_curves": plot_tuning_curves(tuning),
        "ch04 models_figure": models_figure(
            table, views, pipeline="XMP + SecureBoost", baselines=base, gbdt_name="GBDT"),
        "ch04 elimination_figure": elimination_figure(path, best_n=5, folds=5),
        "ch04 loadings_figure": loadings_figure(loadings, party="bureau"),
        "ch04 rounds (chapter call)": plot_rounds(
            _rounds_frame().rename(columns={"mode": "run"}).query("setting == 'paper'"),
            hue="run", col="metric", title="Global model on held-out rows",
            ylabel={"accuracy": "accuracy", "loss": "log-loss (nats)"}),
        "performance chart": performance_figure(cost, times),
        "performance secureboost vs rows": secureboost_rows_figure(secureboost_frame(
            [{"rows": n, "model": m, "fit_s": s * n} for n in (250, 500, 1000)
             for m, s in (("HistGBDT", 1e-5), ("SecureBoost (ou)", 1e-3))])),
        "performance secagg vs clients": secagg_clients_figure(secagg_frame(
            [{"clients": n, "dropouts": d, "plain_ms": 0.01 * n, "secagg_ms": n * n}
             for n in (5, 10, 20, 50) for d in (0, 1)])),
        "performance dpsgd vs batch": dpsgd_batch_figure(dpsgd_frame(
            [{"model": "mlp", "backend": b, "batch": n, "plain_us": n, "dp_us": 3 * n,
              "ratio": 3.0} for b in ("opacus", "fast") for n in (16, 64, 256)])),
    }


FIGURES = {**_helper_figures(), **_chapter_figures()}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_every_book_figure_meets_the_standard(name):
    fig = FIGURES[name]
    assert fig.get_figwidth() == pytest.approx(COLUMN_WIDTH_IN)
    assert figure_problems(fig) == []


def _one_panel(**kw):
    with book_theme():
        fig, ax = new_figure(3.0, **kw)
    return fig, ax


def test_checker_flags_a_figure_wider_than_the_column():
    fig, ax = _one_panel()
    ax.plot([1, 2], [1, 2])
    ax.set(xlabel="x (units)", ylabel="y (units)")
    fig.set_figwidth(11)
    assert any("wide" in p for p in figure_problems(fig))


def test_checker_flags_a_7_pt_font():
    fig, ax = _one_panel()
    ax.plot([1, 2], [1, 2], label="a")
    ax.set(xlabel="x (units)", ylabel="y (units)")
    ax.legend(fontsize=7)
    assert any("7 pt" in p for p in figure_problems(fig))


def test_checker_flags_a_missing_label_and_accepts_a_shared_one():
    fig, axes = _one_panel(ncols=2)
    for ax in axes:
        ax.plot([1, 2], [1, 2])
        ax.set_ylabel("y (units)")
    assert sum("without an x label" in p for p in figure_problems(fig)) == 2
    fig.supxlabel("x (units)")
    assert figure_problems(fig) == []


def test_checker_flags_fractional_round_ticks():
    fig, ax = _one_panel()
    ax.plot([1, 2, 3], [0.1, 0.2, 0.3])
    ax.set(xlabel="round", ylabel="AUC")
    ax.set_xticks([1, 1.5, 2, 2.5, 3])
    assert any("whole steps" in p for p in figure_problems(fig))


def test_checker_flags_overlapping_tick_labels():
    fig, ax = _one_panel()
    names = [f"a long configuration name {i}" for i in range(8)]
    ax.bar(names, range(8))
    ax.set(xlabel="configuration", ylabel="count")
    assert any("overlap" in p for p in figure_problems(fig))


def test_checker_flags_two_indistinguishable_lines():
    fig, ax = _one_panel()
    ax.plot([1, 2, 3], [1, 2, 3], color="C0", label="standard")
    ax.plot([1, 2, 3], [1, 2, 3], color="C0", label="ckks")
    ax.set(xlabel="x (units)", ylabel="y (units)")
    assert any("share one colour and line style" in p for p in figure_problems(fig))
    ax.lines[1].set_linestyle("--")
    assert figure_problems(fig) == []


def test_timing_bars_never_draw_below_zero_for_skewed_repeats():
    # Four fast repeats and one slow one: mean − sd is negative, the 25th percentile is not.
    times = pd.DataFrame({"mode": ["he"] * 5 + ["standard"] * 5,
                          "ms": [1.0, 1.1, 1.2, 1.0, 40.0, 0.2, 0.2, 0.3, 0.2, 9.0]})
    assert (times.groupby("mode").ms.mean() - times.groupby("mode").ms.std() < 0).all()
    fig = plot_timing_bars(times, x="mode", y="ms", ylabel="ms per epoch")
    ax = fig.axes[0]
    lowest = min([min(line.get_ydata()) for line in ax.lines]
                 + [patch.get_y() for patch in ax.patches])
    assert lowest >= 0
    medians = sorted(patch.get_height() for patch in ax.patches if patch.get_height() > 0)
    assert medians == pytest.approx(sorted(times.groupby("mode").ms.median()))
