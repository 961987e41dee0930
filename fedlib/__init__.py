"""fedlib: the shared library behind the book on privacy-preserving federated credit-risk models.

Subpackages: ``data`` (datasets, partitioners, preprocessing), ``fl`` (parties, server, rounds,
transcript), ``privacy`` (DP-SGD, accountants, attacks), ``crypto`` (CKKS, secure aggregation,
Paillier, PSI), ``survival``, ``vertical``, ``evaluate`` and ``book`` (parameters and the run
command). Importing ``fedlib`` imports nothing heavy; import the subpackage you need.
"""

__version__ = "0.1.0"
