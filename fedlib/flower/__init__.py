"""The book's parties and strategies on Flower (optional: ``pip install -e '.[flower]'``).

:mod:`fedlib.flower.client` turns book parties (:class:`~fedlib.fl.strategies.FederatedParty`)
into a Flower ``ClientApp``; :mod:`fedlib.flower.server` turns a book strategy
(:class:`~fedlib.fl.strategies.Strategy`) into a Flower ``ServerApp``;
:mod:`fedlib.flower.simulation` runs the two on Flower's simulation runtime;
:mod:`fedlib.flower.engine` is the Flower engine of the book's round loop (a chapter's
``fl_engine: flower``: the same :class:`~fedlib.fl.loop.RoundLoop` inside a ``ServerApp``, CKKS
nodes encrypting their own updates) and :mod:`fedlib.flower.installed` checks for Flower
without importing it;
:mod:`fedlib.flower.secagg` runs a round with Flower's SecAgg+ as its protection and
:mod:`fedlib.flower.dropouts` makes chosen parties drop out; :mod:`fedlib.flower.state`
keeps what a party keeps between rounds (an FMTL institution's personal model, its
accountants' ledgers as numbers from :mod:`fedlib.flower.ledgers`) in its node's
``Context.state``; :mod:`fedlib.flower.readback` reads that state back after a
simulated run for the book's evaluation; :mod:`fedlib.flower.deployment` writes the book's
Flower App for a SuperLink and SuperNodes and :mod:`fedlib.flower.certificates` the TLS
certificates and SuperNode keys a loopback test or demo of that deployment needs. Nothing is
re-exported: the modules import ``flwr`` only inside the functions that need it, so that
the package (and its doctests) import without Flower installed.

The book's own secure aggregation runs on Flower as well: :mod:`fedlib.flower.bookagg` (the
``ServerApp``'s rounds, on the server code of the in-process protocol),
:mod:`fedlib.flower.bookagg_client` (one ``train`` action per phase on the nodes, each node's
secrets in its ``Context.state``) and :mod:`fedlib.flower.bookagg_wire` (its records);
:mod:`fedlib.flower.secure_engine` runs the round loop's secure rounds through those phases
(chapter 1's ``fl_engine: flower``) and :mod:`fedlib.flower.node_readout` reads each node's
kept state back into the engine's parties after a run.
"""
