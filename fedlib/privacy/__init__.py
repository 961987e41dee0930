"""Differential privacy, one module each; import names from the module.

- :mod:`fedlib.privacy.dpsgd`: DP-SGD through Opacus, with closed-form and per-layer fast
  paths.
- :mod:`fedlib.privacy.randomness`: noise generators and Poisson batches.
- :mod:`fedlib.privacy.accountants`, :mod:`fedlib.privacy.calibrate`,
  :mod:`fedlib.privacy.delta`: accountants (Opacus RDP/PRV, dp-accounting RDP/PLD), noise
  calibration and delta checks.
- :mod:`fedlib.privacy.bdp`: the Bayesian DP accountant.
- :mod:`fedlib.privacy.audit` and :mod:`fedlib.privacy.attacks`: epsilon audits, membership
  inference and gradient inversion.

The package re-exports nothing, so ``import fedlib.privacy`` loads neither torch nor Opacus.
"""
