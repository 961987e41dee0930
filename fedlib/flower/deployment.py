"""The book's ``ServerApp`` and ``ClientApp`` as a Flower App for a real deployment.

A deployment is a SuperLink (the server's side), one SuperNode per institution and a Flower
App submitted to the SuperLink with ``flwr run``. :func:`write_app` writes the App: a
``pyproject.toml`` whose ``[tool.flwr.app.components]`` name the two objects of a two-line
module that builds them with :func:`deployed_server_app` and :func:`deployed_client_app`, and
whose ``[tool.flwr.app.config]`` is the run's recipe (:data:`RUN_CONFIG`: rounds, seed, the
model and the local trainer every party uses, and where the server writes the final model).
The App carries no data: each SuperNode is started with its own node config,

``partition-id``
    the party's position in the strategy's order (0, 1, ...);
``name``
    its name (unique in the federation);
``data``
    the path, on that node's machine, of a ``.npz`` with its rows ``X`` and labels ``y``
    (:func:`save_rows`; :func:`save_party` writes any chapter's labelled party, a
    :class:`~fedlib.core.party.PartyData`),

and the node loads its rows itself. A SuperNode of Flower 1.42 starts a new ``flwr-clientapp``
process for every message it receives (the query and each round's ``train``), so the rows
are read from the node's file once per message and nothing of the party outlives a message:
the deployed parties must be stateless, as FedAvg's are. The server learns only the roster
entry (position, name, number of rows) and, each round, the party's parameters and fit
metrics — as in the simulation.

The ``ServerApp`` runs :func:`~fedlib.flower.server.run_strategy` with
:class:`~fedlib.fl.strategies.FedAvg` (plaintext, every party every round: chapter 2's
standard mode) from :class:`~fedlib.fl.models.LogisticRegression`'s seeded initial
parameters, and writes ``parameters`` (the final model) and ``rounds`` (the model after each
round, one row per round) to the ``.npz`` at ``output``.

References: Beutel et al. 2020 (Flower); McMahan et al. 2017 (FedAvg).

>>> sorted(RUN_CONFIG)[:3]
['batch-size', 'epochs', 'features']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fedlib.core.party import PartyData
from fedlib.fl.models import LogisticRegression, get_flat_params
from fedlib.fl.party import LogisticSGDTrainer, Party, PartyClient
from fedlib.fl.strategies import FedAvg
from fedlib.flower.client import PARTITION_ID, node_client_app
from fedlib.flower.server import FlowerRun, run_strategy, server_app

__all__ = ["APP_MODULE", "RUN_CONFIG", "deployed_client_app", "deployed_server_app",
           "load_party", "save_party", "save_rows", "write_app"]

#: The run config of the App and its defaults (``flwr run --run-config`` overrides them).
RUN_CONFIG: dict[str, Any] = {
    "num-parties": 3,       # nodes the server waits for before the first round
    "rounds": 2,            # communication rounds
    "seed": 0,              # the round loop's seed (sampling and training seeds)
    "features": 4,          # input width of the logistic regression
    "model-seed": 0,        # seeds the initial model
    "epochs": 3,            # local epochs per round
    "lr": 0.5,              # local learning rate
    "batch-size": 16,       # local mini-batch size
    "timeout": 60.0,        # seconds to wait for the nodes and for each round's replies
    "output": "",           # .npz the server writes the models to ("" = nowhere)
}

#: The module of the App that holds ``serverapp`` and ``clientapp``.
APP_MODULE = "fedbook_flower_app"


def save_rows(path: str | Path, X: np.ndarray, y: np.ndarray) -> Path:
    """Write a party's rows where its SuperNode will read them (``data`` of its node config)."""
    path = Path(path)
    np.savez(path, X=np.asarray(X), y=np.asarray(y))
    return path


def save_party(directory: str | Path, party: PartyData) -> Path:
    """Write a party of any chapter to ``directory/<name>.npz`` for its SuperNode.

    Any :class:`~fedlib.core.party.PartyData` will do; returns the path written.

    Raises
    ------
    ValueError
        The party holds no labels (a vertical passive party): it cannot train a horizontal
        round.

    Examples
    --------
    >>> import tempfile
    >>> from fedlib.core.party import PartyRows
    >>> p = save_party(tempfile.mkdtemp(), PartyRows("bank-1", np.ones((2, 3)), np.r_[0., 1.]))
    >>> p.name, np.load(p)["X"].shape
    ('bank-1.npz', (2, 3))
    """
    if party.y is None:
        raise ValueError(f"party {party.name!r} holds no labels; a horizontal round needs them")
    return save_rows(Path(directory) / f"{party.name}.npz", party.X, party.y)


def load_party(node_config: dict[str, Any], run_config: dict[str, Any]
               ) -> tuple[int, PartyClient]:
    """The party a SuperNode runs: its rows from ``data``, its trainer from the run config."""
    with np.load(str(node_config["data"])) as rows:
        X, y = rows["X"], rows["y"]
    trainer = LogisticSGDTrainer(epochs=int(run_config["epochs"]), lr=float(run_config["lr"]),
                                 batch_size=int(run_config["batch-size"]))
    party = Party(str(node_config["name"]), X, y, trainer)
    model = LogisticRegression(int(run_config["features"]), seed=int(run_config["model-seed"]))
    return int(node_config[PARTITION_ID]), PartyClient(party, model)


def deployed_client_app() -> Any:
    """The ``ClientApp`` of a SuperNode: the party of :func:`load_party`.

    The party is loaded once per ``ClientApp`` process (one process per message on a 1.42
    SuperNode).
    """
    loaded: dict[tuple, tuple[int, PartyClient]] = {}

    def resolve(context: Any) -> tuple[int, PartyClient]:
        key = (context.run_id, tuple(sorted(context.node_config.items())))
        if key not in loaded:
            loaded[key] = load_party(context.node_config, context.run_config)
        return loaded[key]

    return node_client_app(resolve)


def deployed_server_app() -> Any:
    """The ``ServerApp`` of the SuperLink: FedAvg over the run config's recipe."""

    def main(grid: Any, context: Any) -> None:
        config = {**RUN_CONFIG, **context.run_config}
        model = LogisticRegression(int(config["features"]), seed=int(config["model-seed"]))
        run = run_strategy(grid, FedAvg(get_flat_params(model), sample_fraction=1.0),
                           num_parties=int(config["num-parties"]),
                           rounds=int(config["rounds"]), seed=int(config["seed"]),
                           run=FlowerRun(), timeout=float(config["timeout"]))
        if config["output"]:
            np.savez(str(config["output"]), parameters=run.parameters,
                     rounds=np.stack([r.parameters for r in run.history]))

    return server_app(main)


def _toml_value(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def write_app(directory: str | Path) -> Path:
    """Write the book's Flower App into ``directory`` (for ``flwr run <directory>``)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = "\n".join(f"{k} = {_toml_value(v)}" for k, v in RUN_CONFIG.items())
    (directory / "pyproject.toml").write_text(f"""\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "fedbook-flower"
version = "1.0.0"
description = "The book's FedAvg (fedlib) as a Flower App"
license = "MIT"
dependencies = []

[tool.flwr.app]
publisher = "fedbook"

[tool.flwr.app.components]
serverapp = "{APP_MODULE}:serverapp"
clientapp = "{APP_MODULE}:clientapp"

[tool.flwr.app.config]
{config}
""", encoding="utf-8")
    (directory / f"{APP_MODULE}.py").write_text(
        '"""The book\'s Flower App: fedlib\'s ServerApp and ClientApp (fedlib.flower)."""\n\n'
        "from fedlib.flower.deployment import deployed_client_app, deployed_server_app\n\n"
        "serverapp = deployed_server_app()\nclientapp = deployed_client_app()\n",
        encoding="utf-8")
    return directory
