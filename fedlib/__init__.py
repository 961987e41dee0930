"""fedlib: the shared library behind the book on privacy-preserving federated credit-risk models.

Subpackages, bottom layer first (ARCHITECTURE.md, "Layers"): ``core`` (the transcript and the
update-protection interface), ``crypto`` (CKKS, secure aggregation, Paillier, PSI), ``data``
(datasets, partitioners, preprocessing), ``evaluate`` (metrics, claims, figures), ``privacy``
(DP-SGD, accountants, attacks), ``fl`` (parties, rounds, FMTL), ``survival``, ``vertical`` and
``book`` (parameters and the run command). Importing ``fedlib`` imports nothing heavy; import
the subpackage you need.
"""

__version__ = "0.1.0"
