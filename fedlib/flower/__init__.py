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
keeps a DP party's accountant in its node's ``Context.state``. Nothing is
re-exported: the modules import ``flwr`` only inside the functions that need it, so that
the package (and its doctests) import without Flower installed.
"""
