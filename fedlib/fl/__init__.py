"""Horizontal federated learning, one module each; import names from the module.

- :mod:`fedlib.fl.models`: the torch models and flat-parameter helpers.
- :mod:`fedlib.fl.strategies`: the server's strategies (FedAvg, FMTL, reputation screening) and
  the party/strategy protocols, shaped like Flower's.
- :mod:`fedlib.fl.loop`: the one round loop (dropouts, protections, transcript).
- :mod:`fedlib.fl.party`, :mod:`fedlib.fl.federation`: parties, trainers and chapter 2's
  federation on the loop.
- :mod:`fedlib.fl.reputation`, :mod:`fedlib.fl.screening`: chapter 4's reputation ledger and
  screened FedAvg.
- :mod:`fedlib.fl.protection`: the null protection (plaintext updates).
- :mod:`fedlib.fl.experiment`, :mod:`fedlib.fl.prepare`: chapter 2's runs and data preparation.
- :mod:`fedlib.fl.fmtl`: chapter 1's federated multi-task learning.
- :mod:`fedlib.fl.leakage`: what the server can recover from what it received.

The transcript and the :class:`~fedlib.core.protection.UpdateProtection` interface are in
:mod:`fedlib.core`. The package re-exports nothing, so ``import fedlib.fl`` does not load torch.
"""
