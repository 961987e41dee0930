"""Chapter 2's data: the dataset and the five banks, described, recorded and glued.

Serves the chapter's (``chapters/02_dp_vs_ckks.py``) first section and the paper's description
of its data and clients (§4): the split summary the prose quotes, recorded and glued.
"""

from __future__ import annotations

import pandas as pd
from IPython.display import Markdown

from fedlib.papers.p02_dp_vs_ckks.training import glue_values

__all__ = [
    "describe_data",
]


def describe_data(results, fed_data) -> pd.DataFrame:
    """The dataset and the five banks (the paper's §5, Table 5), recorded and glued.

    Records the dataset and each bank's rows and approval rate, and glues the number of rows,
    of model inputs and of test rows.

    Parameters
    ----------
    results
        The chapter's :class:`~fedlib.book.results.ResultsWriter`.
    fed_data : HorizontalData
        From :func:`~fedlib.fl.prepare.prepare_horizontal`.

    Returns
    -------
    IPython.display.Markdown
        One sentence on the data in use (card, rows, approval rate, inputs); the banks' table
        is ``fed_data.client_table``.
    """
    ds = fed_data.dataset
    glue_values(n_rows=len(ds.frame), n_features=fed_data.n_features,
                n_test=len(fed_data.y_test))
    results.set_dataset(ds.name, rows=len(ds.frame), parties=[
        {"name": r.party, "rows": int(r.rows), "positive_rate": float(r.positive_rate)}
        for r in fed_data.client_table.itertuples()])
    return Markdown(f"**{ds.card.title}** — {ds.card.origin}. {len(ds.frame):,} rows, "
                    f"approval rate {ds.positive_rate:.1%}, {fed_data.n_features} model inputs "
                    f"after encoding.")
