"""SecAgg+ on Flower as the protection of the book's secure-aggregation round.

Chapter 1 protects each round with the book's own secure aggregation
(:class:`fedlib.crypto.secagg.SecureAggregation`: Bonawitz et al. 2017 on a complete graph).
This module runs the same round on Flower's simulation runtime with Flower's SecAgg+ (Bell
et al. 2020): ``secaggplus_mod`` on every party's ``ClientApp`` and ``SecAggPlusWorkflow``
in the ``ServerApp``. It plays the part of a protection in the local engine's round
(:class:`~fedlib.fl.loop.RoundLoop`): the book's strategy picks the parties and their
instructions from the same seeded generator; each party trains and turns its result into
its contribution (:func:`~fedlib.fl.strategies.contribution`: ``w_k x_k``, or
``[w_k x_k, w_k]``); SecAgg+ hides the contributions and reveals their sum over the parties
whose masked vectors arrived; the strategy's ``aggregate_fit`` turns the sum into the new
model.

How the sum comes out of SecAgg+. ``SecAggPlusWorkflow`` computes a weighted *mean*,
``Σ_k r_k y_k / Σ_k r_k`` with ``r_k`` the reported ``num_examples`` quantised to
``round(num_examples / max_weight · Q) / Q``. Every node reports ``num_examples = 1`` and the
workflow runs with ``max_weight = 1``, so ``r_k = 1`` exactly and the mean times the number
of uploaders is the plain sum of the contributions, which is what a protection recovers.
The real row counts stay in the fit metrics, as they are public to the book's FedAvg anyway.

Quantisation (:class:`SecAggPlus`). A node clips each coordinate to ``[-c, c]``
(``clipping_range``), maps it to ``[0, Q]`` (``quantization_range``) by ``(y + c) Q / 2c``
and rounds stochastically (up or down, never further than one step), so a coordinate of the
recovered sum of ``n`` uploads is off by less than ``n · 2c / Q``
(:meth:`SecAggPlus.sum_error_bound`) and FedAvg's mean by less than
``n · 2c / (Q Σ_k w_k)`` (:meth:`SecAggPlus.mean_error_bound`), as long as no contribution
leaves ``[-c, c]``. Each node counts its coordinates outside the range in the fit metric
``clipped``. Masks are drawn modulo ``M`` (``modulus_range``): the quantised sum (at most
``n Q``) must stay below ``M``; :meth:`SecAggPlus.check` says so before a run.

Dropouts are simulated by :func:`fedlib.flower.dropouts.dropout_mod` (a party fails one
stage's message; the workflow treats it as gone and unmasking recovers the sum of the
others); when fewer than the threshold remain, the workflow halts and the round keeps the
old model (:attr:`~fedlib.flower.server.FlowerRound.aborted`), as the book's protocol
aborts.

SecAgg+ in Flower 1.42 is a workflow of the legacy strategy API: it calls a legacy
``Strategy``'s ``configure_fit(round, parameters, client_manager)`` and
``aggregate_fit(round, results, failures)`` on a ``LegacyContext``. :class:`LegacyBridge`
is that strategy, built around the book's strategy; the ``ServerApp``'s ``main`` runs the
round loop itself and calls the workflow once per round (the workflow is Flower's own code
and does the protocol).

References: Bell et al. 2020, "Secure Single-Server Aggregation with (Poly)Logarithmic
Overhead", CCS (SecAgg+); Bonawitz et al. 2017; Flower 1.42
``flwr.server.workflow.SecAggPlusWorkflow`` and ``flwr.client.mod.secaggplus_mod``.

Examples
--------
>>> p = SecAggPlus(threshold=6)
>>> p.step == 2 * 8.0 / 2**22, p.sum_error_bound(10) == 10 * p.step
(True, True)
>>> p.check(10)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fedlib.fl.strategies import FederatedParty, FitInstruction, Strategy, Uploads, contribution
from fedlib.flower.client import fit_on_node, initial_states, party_of, roster_entry
from fedlib.flower.dropouts import dropout_mod
from fedlib.flower.env import offline
from fedlib.flower.metering import MeteredGrid
from fedlib.flower.records import pack, plain_config
from fedlib.flower.server import FlowerRound, FlowerRun, RemoteParty, query_roster, server_app
from fedlib.flower.simulation import run_apps

__all__ = ["WEIGHT_IN_UPLOAD", "LegacyBridge", "SecAggPlus", "masked_stage_reply",
           "run_secaggplus", "secaggplus_client_app", "secaggplus_node_client_app",
           "secaggplus_server_app", "simulate_secaggplus"]

#: Config key telling a node whether its contribution carries its weight.
WEIGHT_IN_UPLOAD = "weight-in-upload"
_SECAGG_STATE = "secaggplus_state"  # flwr's RECORD_KEY_STATE


@dataclass(frozen=True)
class SecAggPlus:
    """The settings of Flower's ``SecAggPlusWorkflow`` and the error they allow.

    Parameters
    ----------
    threshold
        Shares needed to reconstruct a node's secrets (``reconstruction_threshold``): an
        int, or a float share of ``num_shares``. Required, as the book's ``threshold``.
    num_shares
        Neighbours of each node in SecAgg+'s communication graph, itself included (an int
        ≥ 3, or a float share of the sampled nodes); ``None`` (default): every sampled node,
        the complete graph of the book's protocol.
    clipping_range
        ``c``: contributions are clipped to ``[-c, c]`` before quantisation (Flower: 8.0).
    quantization_range
        ``Q``: a coordinate becomes an integer in ``[0, Q]`` (Flower: 2^22).
    modulus_range
        ``M``: masks and sums are taken modulo ``M``, a power of two (Flower: 2^32).
    timeout
        Seconds each stage waits for replies; a node that has not answered by then counts as
        dropped, so it must exceed the slowest honest stage, the first one's cold start
        included. ``None``: wait for every reply.
    """

    threshold: int | float
    num_shares: int | float | None = None
    clipping_range: float = 8.0
    quantization_range: int = 2**22
    modulus_range: int = 2**32
    timeout: float | None = 300.0

    @property
    def step(self) -> float:
        """One quantisation step, ``2c / Q``."""
        return 2.0 * self.clipping_range / self.quantization_range

    def sum_error_bound(self, n_uploads: int) -> float:
        """Bound on ``|recovered sum − sum|`` per coordinate: ``n · 2c / Q`` (strict)."""
        return n_uploads * self.step

    def mean_error_bound(self, n_uploads: int, total_weight: float) -> float:
        """Bound on FedAvg's mean (``weight_in_upload=False``): the sum's, over ``Σ w_k``."""
        return self.sum_error_bound(n_uploads) / total_weight

    def check(self, n_parties: int) -> None:
        """Raise if a sum over ``n_parties`` can wrap modulo ``M`` (see the module doc)."""
        if n_parties * self.quantization_range >= self.modulus_range:
            raise ValueError(f"{n_parties} parties × quantization_range "
                             f"{self.quantization_range} reach modulus_range "
                             f"{self.modulus_range}: the masked sum would wrap")

    def workflow(self) -> Any:
        """Flower's ``SecAggPlusWorkflow`` with these settings and ``max_weight = 1``."""
        offline()
        from flwr.server.workflow import SecAggPlusWorkflow  # optional extra [flower]

        return SecAggPlusWorkflow(
            num_shares=1.0 if self.num_shares is None else self.num_shares,
            reconstruction_threshold=self.threshold, max_weight=1.0,
            clipping_range=float(self.clipping_range),
            quantization_range=int(self.quantization_range),
            modulus_range=int(self.modulus_range), timeout=self.timeout)


# -- the node's side -------------------------------------------------------------------------
def secaggplus_client_app(parties: Sequence[FederatedParty], *,
                          dropouts: Mapping[int, Mapping[str, Collection[str]]] | None = None
                          ) -> Any:
    """A ``ClientApp`` whose node ``k`` runs ``parties[k]`` behind Flower's SecAgg+ mod.

    ``query`` answers the roster entry (:func:`~fedlib.flower.client.roster_entry`);
    ``train`` (reached only in SecAgg+'s masked-vector stage) trains the party and returns
    its contribution with ``num_examples = 1`` for SecAgg+ to mask. ``dropouts`` (round →
    phase → names) makes those parties fail that stage (:mod:`fedlib.flower.dropouts`). Each
    node starts from its party's state as it is now
    (:func:`~fedlib.flower.client.initial_states`).
    """
    parties = list(parties)
    mods = [dropout_mod(dropouts, [p.name for p in parties])] if dropouts else []
    return secaggplus_node_client_app(lambda context: party_of(parties, context.node_config),
                                      mods=mods, initial=initial_states(parties))


def secaggplus_node_client_app(resolve: Callable[[Any], tuple[int, FederatedParty]], *,
                               mods: Sequence[Any] = (),
                               initial: Sequence[Mapping[str, Any]] | None = None) -> Any:
    """A SecAgg+ ``ClientApp`` whose node runs the party ``resolve(context)`` names.

    As :func:`secaggplus_client_app`, with the party found as
    :func:`~fedlib.flower.client.node_client_app` finds it: from a list (the simulation) or
    from the node's own data file (:func:`fedlib.flower.deployment.deployed_client_app`).
    ``mods`` run outside Flower's ``secaggplus_mod``; ``initial`` as for
    :func:`~fedlib.flower.client.node_client_app`.
    """
    offline()
    from flwr.app import Message  # optional extra [flower]
    from flwr.client.mod import secaggplus_mod  # optional extra [flower]
    from flwr.clientapp import ClientApp  # optional extra [flower]

    app = ClientApp(mods=[*mods, secaggplus_mod])

    @app.query()
    def roster(msg: Message, context: Any) -> Message:
        return Message(pack(config=roster_entry(*resolve(context))), reply_to=msg)

    @app.train()
    def train(msg: Message, context: Any) -> Message:
        index, party = resolve(context)
        start = None if initial is None else initial[index]
        return Message(masked_stage_reply(party, msg.content, context, initial=start),
                       reply_to=msg)

    return app


def masked_stage_reply(party: FederatedParty, content: Any, context: Any, *,
                       initial: Mapping[str, Any] | None = None) -> Any:
    """The node's ``FitRes`` for SecAgg+: its contribution with ``num_examples = 1``.

    The party trains as on every path, with its node's state restored and saved
    (:func:`~fedlib.flower.client.fit_on_node`; ``initial`` as there). The metrics are the
    party's own, ``num_examples``, the ledgers' report and ``clipped`` (the coordinates
    outside ``[-c, c]``).
    """
    offline()
    import flwr.compat.common.recorddict_compat as compat  # optional extra [flower]
    from flwr.common import (  # optional extra [flower]
        Code,
        FitRes,
        Status,
        ndarrays_to_parameters,
        parameters_to_ndarrays,
    )

    fitins = compat.recorddict_to_fitins(content, keep_input=True)
    (vector,) = parameters_to_ndarrays(fitins.parameters)
    config = dict(fitins.config)
    in_band = bool(config.pop(WEIGHT_IN_UPLOAD))
    # SecAgg+'s mod keeps the setup stage's settings in the node's state between stages.
    clip = float(context.state.config_records[_SECAGG_STATE]["clipping_range"])
    result = fit_on_node(party, vector, config, context, initial=initial)
    upload = contribution(np.asarray(result.parameters, dtype=np.float64), config["weight"],
                          weight_in_upload=in_band)
    metrics = {**result.metrics, "clipped": int(np.count_nonzero(np.abs(upload) > clip))}
    fitres = FitRes(Status(Code.OK, ""), ndarrays_to_parameters([upload]), 1, metrics)
    return compat.fitres_to_recorddict(fitres, keep_input=True)


# -- the server's side -----------------------------------------------------------------------
class LegacyBridge:
    """The legacy Flower ``Strategy`` that ``SecAggPlusWorkflow`` drives, around a book strategy.

    :meth:`start` sets the round, the global model and the generator; the workflow then
    calls :meth:`configure_fit` (the book strategy's instructions, as Flower ``FitIns``)
    and, if SecAgg+ finished, :meth:`aggregate_fit` (the sum of the survivors'
    contributions, as :class:`~fedlib.fl.strategies.Uploads`, to the book strategy).
    """

    def __init__(self, strategy: Strategy, roster: Sequence[RemoteParty],
                 proxies: Mapping[int, Any]) -> None:
        self.strategy, self.roster, self.proxies = strategy, list(roster), dict(proxies)
        self._name_of = {p.node_id: p.name for p in self.roster}
        self._node_of = {p.name: p.node_id for p in self.roster}

    def start(self, rnd: int, parameters: np.ndarray, rng: np.random.Generator) -> None:
        """Prepare round ``rnd`` from ``parameters``, drawing from ``rng``."""
        self.rnd, self.parameters, self.rng = rnd, parameters, rng
        self.instructions: list[FitInstruction] = []
        self.uploaded: list[str] = []
        self.fit_metrics: dict[str, dict[str, Any]] = {}
        self.new: np.ndarray | None = None
        self.finished = False

    def configure_fit(self, server_round: int, parameters: Any, client_manager: Any
                      ) -> list[tuple[Any, Any]]:
        """The book strategy's instructions for this round, as ``(proxy, FitIns)`` pairs."""
        from flwr.common import FitIns, ndarrays_to_parameters  # optional extra [flower]

        self.instructions = self.strategy.configure_fit(self.rnd, self.parameters, self.roster,
                                                        rng=self.rng)
        flag = {WEIGHT_IN_UPLOAD: bool(self.strategy.weight_in_upload)}
        return [(self.proxies[self._node_of[i.party]],
                 FitIns(ndarrays_to_parameters([np.asarray(i.parameters)]),
                        {**plain_config(i.config), **flag}))
                for i in self.instructions]

    def aggregate_fit(self, server_round: int, results: Sequence[tuple[Any, Any]],
                      failures: Sequence[Any]) -> tuple[Any, dict]:
        """Hand the recovered sum to the book strategy; return its new model to Flower."""
        from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays  # optional

        self.finished = True
        by_name = {self._name_of[proxy.node_id]: res for proxy, res in results}
        self.uploaded = [i.party for i in self.instructions if i.party in by_name]
        self.fit_metrics = {n: dict(by_name[n].metrics) for n in self.uploaded}
        if not results:
            return None, {}
        # Every result carries the same aggregate: the mean of the contributions, each
        # weighted 1 (num_examples = max_weight = 1), so times the count it is their sum.
        (mean,) = parameters_to_ndarrays(results[0][1].parameters)
        weights = {i.party: i.config["weight"] for i in self.instructions}
        uploads = Uploads(sums=(np.asarray(mean, dtype=np.float64) * len(results),),
                          weights={n: weights[n] for n in self.uploaded}, readable={})
        failed = [i.party for i in self.instructions if i.party not in by_name]
        self.new = self.strategy.aggregate_fit(self.rnd, uploads, failures=failed)
        if self.new is None:
            return None, {}
        return ndarrays_to_parameters([self.new]), {}


def run_secaggplus(grid: Any, context: Any, strategy: Strategy, *, num_parties: int,
                   rounds: int, seed: int, protocol: SecAggPlus, run: FlowerRun) -> FlowerRun:
    """The body of the SecAgg+ ``ServerApp``: ``rounds`` rounds of ``strategy`` over ``grid``.

    The roster comes from a ``query`` to every node; each round the book strategy's
    instructions go out through ``protocol.workflow()`` and its sum comes back to the
    strategy (:class:`LegacyBridge`). Returns ``run``, filled in.
    """
    offline()
    from flwr.app import ArrayRecord, ConfigRecord  # optional extra [flower]
    from flwr.server import ServerConfig  # optional extra [flower]
    from flwr.server.client_manager import SimpleClientManager  # optional extra [flower]
    from flwr.server.compat.grid_client_proxy import GridClientProxy  # optional extra
    from flwr.server.compat.legacy_context import LegacyContext  # optional extra [flower]
    from flwr.server.workflow.constant import (  # optional extra [flower]
        MAIN_CONFIGS_RECORD,
        MAIN_PARAMS_RECORD,
        Key,
    )

    protocol.check(num_parties)
    grid = MeteredGrid(grid)
    timeout = 600.0 if protocol.timeout is None else protocol.timeout
    roster = run.roster = query_roster(grid, num_parties, timeout)
    name_of = {p.node_id: p.name for p in roster}
    manager = SimpleClientManager()
    proxies = {p.node_id: GridClientProxy(p.node_id, grid, context.run_id) for p in roster}
    for proxy in proxies.values():
        manager.register(proxy)
    bridge = LegacyBridge(strategy, roster, proxies)
    legacy = LegacyContext(context, config=ServerConfig(num_rounds=rounds), strategy=bridge,
                           client_manager=manager)
    workflow = protocol.workflow()
    rng = np.random.default_rng(seed)
    parameters = strategy.initialize_parameters()
    run.initial_metrics = strategy.evaluate(0, parameters)
    for rnd in range(1, rounds + 1):
        grid.reset()
        start = time.perf_counter()
        bridge.start(rnd, parameters, rng)
        legacy.state.config_records[MAIN_CONFIGS_RECORD] = ConfigRecord({Key.CURRENT_ROUND: rnd})
        legacy.state.array_records[MAIN_PARAMS_RECORD] = ArrayRecord([np.asarray(parameters)])
        workflow(grid, legacy)
        if bridge.new is not None:
            parameters = bridge.new
        seconds = time.perf_counter() - start
        sampled = [i.party for i in bridge.instructions]
        run.history.append(FlowerRound(
            round=rnd, sampled=sampled, uploaded=bridge.uploaded,
            failures=[n for n in sampled if n not in bridge.uploaded],
            fit_metrics=bridge.fit_metrics, seconds=seconds,
            parameters=np.array(parameters, copy=True),
            metrics=strategy.evaluate(rnd, parameters),
            bytes_to_server=grid.bytes_to_server(name_of),
            bytes_from_server=grid.bytes_from_server(name_of),
            aborted=not bridge.finished))
    run.parameters = np.array(parameters, copy=True)
    return run


def secaggplus_server_app(strategy: Strategy, *, num_parties: int, rounds: int, seed: int,
                          protocol: SecAggPlus, run: FlowerRun) -> Any:
    """A ``ServerApp`` that runs :func:`run_secaggplus` (parameters as there)."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")

    def main(grid: Any, context: Any) -> None:
        run_secaggplus(grid, context, strategy, num_parties=num_parties, rounds=rounds,
                       seed=seed, protocol=protocol, run=run)

    return server_app(main)


def simulate_secaggplus(strategy: Strategy, parties: Sequence[FederatedParty], *, rounds: int,
                        seed: int, protocol: SecAggPlus,
                        dropouts: Mapping[int, Mapping[str, Collection[str]]] | None = None,
                        backend: dict[str, Any] | None = None, verbose: bool = False
                        ) -> FlowerRun:
    """Run ``rounds`` rounds of ``strategy`` over ``parties`` with SecAgg+ on Flower's simulation.

    Parameters
    ----------
    strategy, parties, rounds, seed
        As for :func:`fedlib.flower.simulation.simulate`.
    protocol
        SecAgg+'s settings (:class:`SecAggPlus`).
    dropouts
        round → phase → names of the parties that drop there (:mod:`fedlib.flower.dropouts`).
    backend, verbose
        As for :func:`~fedlib.flower.simulation.simulate`.

    Returns
    -------
    FlowerRun
        The roster and every round (who uploaded, whether SecAgg+ aborted, bytes per party,
        the new global model).
    """
    run = FlowerRun()
    server = secaggplus_server_app(strategy, num_parties=len(parties), rounds=rounds, seed=seed,
                                   protocol=protocol, run=run)
    run_apps(server, secaggplus_client_app(parties, dropouts=dropouts), num_nodes=len(parties),
             backend=backend, verbose=verbose)
    if run.parameters is None:
        raise RuntimeError("the Flower simulation ended before its last round; see its log")
    return run
