# ruff: noqa: E402 - a notebook imports in the cell that first needs them
# %% [markdown]
# # Fixture chapter
#
# A tiny chapter the runner tests execute: it validates its parameters, optionally fails, and
# writes a results.json.

# %% tags=["parameters"]
seed: int = 0  # seed of every generator
rounds: int = 2  # fake training rounds
rate: float = 0.5  # a sampling rate in (0, 1)
fail: bool = False  # raise in a cell on purpose
data_path: str | None = None  # optional user data file
results_path: str = "results.json"  # where results.json goes (set by the runner)
parameter_set: str = "custom"  # name of the parameter set

# %%
import sys

from fixture_schema import FixtureParams

from fedlib.book import ResultsWriter, load_chapter_params

P = load_chapter_params(FixtureParams, globals())

# %%
if P.fail:
    raise RuntimeError("fixture failure on purpose")

# %%
w = ResultsWriter("99", P.parameter_set, P.model_dump(), seed=P.seed)
w.set_dataset("fixture", 10, parties=[{"name": "A", "rows": 10, "positive_rate": 0.3}])
for r in range(P.rounds):
    w.add_metric(mode="standard", metric="roc_auc", value=0.5 + 0.1 * r, round=r + 1)
w.add_metric(mode="dp", metric="roc_auc", value=float("nan"))
w.add_claim({"id": "auc", "claim": "AUC 0.6", "paper": 0.6, "ours": 0.6, "basis": "exact",
             "tolerance": 0.01, "verdict": "reproduced"})
w.add_timing("train_s", 0.01)
w.write(P.results_path)
print("types:", type(P.rounds).__name__, type(P.rate).__name__, type(P.fail).__name__)
print("executable:", sys.executable)
