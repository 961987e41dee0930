"""Chapter 2's figures: accuracy and loss per round, client time and server latency.

Serves the chapter's (``chapters/02_dp_vs_ckks.py``) sections "Accuracy and loss per round"
(the paper's Figs. 6 and 7) and "Cost: client time and server latency" (Figs. 8 and 9), drawn
to the book's figure standard (:mod:`fedlib.evaluate.figures`).
"""

from __future__ import annotations

import pandas as pd

from fedlib.evaluate.figures import plot_rounds, plot_timing_bars

__all__ = [
    "round_figures",
    "timing_figures",
]


def timing_figures(timing: pd.DataFrame):
    """The client-time and server-time bar charts (the paper's Figs. 8 and 9).

    Parameters
    ----------
    timing
        One row per mode and repeat (:func:`with_client_time`): the bars are medians over
        repeats with interquartile whiskers.

    Returns
    -------
    tuple
        The client figure and the server figure.
    """
    timing_ms = timing.assign(client_ms=timing.client_s_per_epoch * 1e3,
                              server_ms=timing.server_s * 1e3)
    fig_client = plot_timing_bars(
        timing_ms, x="mode", y="client_ms", ylabel="ms per local epoch", xlabel="privacy mode")
    fig_server = plot_timing_bars(
        timing_ms, x="mode", y="server_ms", ylabel="ms per round (log scale)",
        xlabel="privacy mode", log=True)
    return fig_client, fig_server


def round_figures(history: pd.DataFrame):
    """Test ROC-AUC and log-loss of the global model per round (the paper's Figs. 6 and 7).

    One panel per setting: within a setting standard FL and CKKS coincide (CKKS is exact up to
    encoding), so each mode also has its own line style and marker.

    Returns
    -------
    tuple
        The ROC-AUC figure and the log-loss figure.
    """
    global_rows = history[history.party == "all"]
    return tuple(plot_rounds(global_rows[global_rows.metric == metric], hue="mode",
                             col="setting", ylabel=ylabel)
                 for metric, ylabel in (("roc_auc", "test ROC-AUC"),
                                        ("test_loss", "test log-loss (nats)")))
