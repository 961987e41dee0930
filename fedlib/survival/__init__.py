"""Discrete-time survival analysis for chapter 3 (FSL-BDP); import names from their module.

- :mod:`fedlib.survival.labels`: interval grids, discretised labels, input checks.
- :mod:`fedlib.survival.likelihood`, :mod:`fedlib.survival.model`: the discrete-time
  likelihood and the hazard network (torch).
- :mod:`fedlib.survival.metrics`: time-dependent C-index, IPCW Brier / IBS, Kaplan-Meier.
- :mod:`fedlib.survival.ecl`: IFRS 9 lifetime expected credit loss.
- :mod:`fedlib.survival.data`, :mod:`fedlib.survival.loaders`, :mod:`fedlib.survival.generic`:
  the survival datasets, the papers' files and any CSV.
- :mod:`fedlib.survival.federated`, :mod:`fedlib.survival.experiment`: centralised and federated
  training without DP, with DP-SGD and with Bayesian DP, and the chapter's scenarios.
- :mod:`fedlib.survival.tuning`: the tuning of all three with the book's one rule.

The package re-exports nothing, so checking a data file (``fedbook run`` does it before a
kernel starts) does not load torch.

References: Amed, Sen & Banerjee (2026), FSL-BDP, secs. 3.2 and 4.2. Introduced in chapter 3
(``chapters/03_fsl_bdp_survival.py``).
"""
