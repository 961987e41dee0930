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
round, one row per round) to the ``.npz`` at ``output``, with each round's ``seconds``, whether
its protection ``aborted`` and how many parties ``uploaded``.

The run config's ``protection`` picks how the parties' updates reach the server:
``"none"`` (plaintext, as above) or ``"secaggplus"``: Flower's SecAgg+ (Bell et al. 2020) as
:mod:`fedlib.flower.secagg` runs it on the simulation — ``secaggplus_mod`` on every node's
``ClientApp`` and ``SecAggPlusWorkflow`` in the ``ServerApp``, with ``secagg-threshold``,
``secagg-clipping-range`` and ``secagg-quantization-range`` as its settings
(:class:`~fedlib.flower.secagg.SecAggPlus`). The server then sees only the sum of the
contributions, and the model is plain FedAvg's within SecAgg+'s quantisation bound. The
ClientApp reads the switch from each message's run config, so one App serves both.
:func:`check_run_config` rejects an unknown protection or impossible settings before a
round starts.

Transport security is the deployment's business, not the App's: the SuperLink's TLS
certificate and the SuperNodes' authentication keys (:mod:`fedlib.flower.certificates`)
are flags of ``flower-superlink`` and ``flower-supernode``, and :func:`write_connection`
tells ``flwr`` where the SuperLink is and which CA to trust.

References: Beutel et al. 2020 (Flower); McMahan et al. 2017 (FedAvg); Bell et al. 2020
(SecAgg+).

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
from fedlib.flower.env import offline
from fedlib.flower.secagg import SecAggPlus, run_secaggplus, secaggplus_node_client_app
from fedlib.flower.server import FlowerRun, run_strategy, server_app

__all__ = ["APP_MODULE", "PROTECTIONS", "RUN_CONFIG", "check_run_config", "deployed_client_app",
           "deployed_server_app", "load_party", "save_party", "save_rows", "secaggplus_of",
           "write_app", "write_connection"]

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
    "protection": "none",   # "none" (plaintext updates) or "secaggplus" (Flower's SecAgg+)
    "secagg-threshold": 2,  # SecAgg+: shares that reconstruct a node's secrets
    "secagg-clipping-range": 8.0,           # SecAgg+: c, contributions clipped to [-c, c]
    "secagg-quantization-range": 4194304,  # SecAgg+: Q = 2^22 quantisation levels
}

#: The values of the run config's ``protection``.
PROTECTIONS = ("none", "secaggplus")

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


def check_run_config(run_config: dict[str, Any]) -> dict[str, Any]:
    """The App's run config (:data:`RUN_CONFIG` updated by ``run_config``), checked.

    Raises
    ------
    ValueError
        A key the App does not know, an unknown ``protection``, fewer than one round or
        party, or SecAgg+ settings it cannot run with (a threshold outside ``2..num-parties``,
        a sum that would wrap: :meth:`~fedlib.flower.secagg.SecAggPlus.check`).

    Examples
    --------
    >>> check_run_config({"rounds": 3})["rounds"]
    3
    >>> check_run_config({"protection": "ckks"})
    Traceback (most recent call last):
    ...
    ValueError: run config protection = 'ckks'; allowed: 'none', 'secaggplus'
    """
    unknown = sorted(set(run_config) - set(RUN_CONFIG))
    if unknown:
        raise ValueError(f"run config keys {unknown} are not the App's; allowed: "
                         f"{sorted(RUN_CONFIG)}")
    config = {**RUN_CONFIG, **run_config}
    if config["protection"] not in PROTECTIONS:
        raise ValueError(f"run config protection = {config['protection']!r}; allowed: "
                         + ", ".join(repr(p) for p in PROTECTIONS))
    for key in ("rounds", "num-parties"):
        if int(config[key]) < 1:
            raise ValueError(f"run config {key} = {config[key]}; it must be >= 1")
    if config["protection"] == "secaggplus":
        threshold, parties = int(config["secagg-threshold"]), int(config["num-parties"])
        if not 2 <= threshold <= parties:
            raise ValueError(f"run config secagg-threshold = {threshold}; allowed: 2.."
                             f"{parties} (num-parties)")
        secaggplus_of(config).check(parties)
    return config


def secaggplus_of(config: dict[str, Any]) -> SecAggPlus:
    """SecAgg+'s settings from a run config (stage timeout: the run's ``timeout``)."""
    return SecAggPlus(threshold=int(config["secagg-threshold"]),
                      clipping_range=float(config["secagg-clipping-range"]),
                      quantization_range=int(config["secagg-quantization-range"]),
                      timeout=float(config["timeout"]))


def deployed_client_app() -> Any:
    """The ``ClientApp`` of a SuperNode: the party of :func:`load_party`.

    Each message goes to the plaintext ``ClientApp``
    (:func:`~fedlib.flower.client.node_client_app`) or, when the run's ``protection`` is
    ``"secaggplus"``, to the SecAgg+ one
    (:func:`~fedlib.flower.secagg.secaggplus_node_client_app`); both run the same party.
    The party is loaded once per ``ClientApp`` process (one process per message on a 1.42
    SuperNode).
    """
    offline()
    from flwr.clientapp import ClientApp  # optional extra [flower]

    loaded: dict[tuple, tuple[int, PartyClient]] = {}

    def resolve(context: Any) -> tuple[int, PartyClient]:
        key = (context.run_id, tuple(sorted(context.node_config.items())))
        if key not in loaded:
            loaded[key] = load_party(context.node_config, context.run_config)
        return loaded[key]

    apps = {"none": node_client_app(resolve), "secaggplus": secaggplus_node_client_app(resolve)}

    def route(msg: Any, context: Any) -> Any:
        return apps[check_run_config(context.run_config)["protection"]](msg, context)

    app = ClientApp()
    for register in (app.query, app.train, app.evaluate):
        register()(route)
    return app


def deployed_server_app() -> Any:
    """The ``ServerApp`` of the SuperLink: FedAvg over the run config's recipe.

    Plaintext (:func:`~fedlib.flower.server.run_strategy`) or behind SecAgg+
    (:func:`~fedlib.flower.secagg.run_secaggplus`), as ``protection`` says.
    """

    def main(grid: Any, context: Any) -> None:
        config = check_run_config(dict(context.run_config))      # before any round
        model = LogisticRegression(int(config["features"]), seed=int(config["model-seed"]))
        strategy = FedAvg(get_flat_params(model), sample_fraction=1.0)
        common = {"num_parties": int(config["num-parties"]), "rounds": int(config["rounds"]),
                  "seed": int(config["seed"]), "run": FlowerRun()}
        if config["protection"] == "secaggplus":
            run = run_secaggplus(grid, context, strategy, protocol=secaggplus_of(config),
                                 **common)
        else:
            run = run_strategy(grid, strategy, timeout=float(config["timeout"]), **common)
        if config["output"]:
            np.savez(str(config["output"]), parameters=run.parameters,
                     rounds=np.stack([r.parameters for r in run.history]),
                     seconds=np.array([r.seconds for r in run.history]),
                     aborted=np.array([r.aborted for r in run.history]),
                     uploaded=np.array([len(r.uploaded) for r in run.history]))

    return server_app(main)


def write_connection(flwr_home: str | Path, name: str, address: str, *,
                     root_certificates: str | Path | None = None,
                     insecure: bool = False, default: bool = True) -> Path:
    """Write ``$FLWR_HOME/config.toml`` naming one SuperLink connection for ``flwr``.

    ``flwr run <app> <name>`` and ``flwr supernode register <key.pub> <name>`` then reach the
    SuperLink's Control API at ``address`` (``host:port``) over TLS, trusting the CA at
    ``root_certificates`` (written as an absolute path), or without TLS if ``insecure``.
    Returns the path written; an existing ``config.toml`` is replaced.

    Raises
    ------
    ValueError
        Both or neither of ``root_certificates`` and ``insecure``: say which CA to trust, or
        say that there is no TLS.

    Examples
    --------
    >>> import tempfile
    >>> p = write_connection(tempfile.mkdtemp(), "local", "127.0.0.1:9093", insecure=True)
    >>> print(p.read_text().strip())
    [superlink]
    default = "local"
    <BLANKLINE>
    [superlink.local]
    address = "127.0.0.1:9093"
    insecure = true
    """
    if (root_certificates is None) == (not insecure):
        raise ValueError("give root_certificates (the CA that signed the SuperLink's "
                         "certificate) or insecure=True (no TLS), not both or neither")
    home = Path(flwr_home)
    home.mkdir(parents=True, exist_ok=True)
    trust = ("insecure = true" if root_certificates is None else
             f'root-certificates = "{Path(root_certificates).resolve()}"')
    head = f'[superlink]\ndefault = "{name}"\n\n' if default else ""
    path = home / "config.toml"
    path.write_text(f'{head}[superlink.{name}]\naddress = "{address}"\n{trust}\n',
                    encoding="utf-8")
    return path


def _toml_value(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def write_app(directory: str | Path, config: dict[str, Any] | None = None) -> Path:
    """Write the book's Flower App into ``directory`` (for ``flwr run <directory>``).

    ``config`` changes the App's default run config (:data:`RUN_CONFIG`, checked by
    :func:`check_run_config`), e.g. ``{"features": 12}`` for a dataset with twelve inputs;
    ``flwr run --run-config`` still overrides it per run.

    Examples
    --------
    >>> import tempfile
    >>> app = write_app(tempfile.mkdtemp(), {"features": 12})
    >>> "features = 12" in (app / "pyproject.toml").read_text()
    True
    """
    defaults = check_run_config(dict(config or {}))
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config_lines = "\n".join(f"{k} = {_toml_value(v)}" for k, v in defaults.items())
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
{config_lines}
""", encoding="utf-8")
    (directory / f"{APP_MODULE}.py").write_text(
        '"""The book\'s Flower App: fedlib\'s ServerApp and ClientApp (fedlib.flower)."""\n\n'
        "from fedlib.flower.deployment import deployed_client_app, deployed_server_app\n\n"
        "serverapp = deployed_server_app()\nclientapp = deployed_client_app()\n",
        encoding="utf-8")
    return directory
