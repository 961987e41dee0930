"""Vertical federated learning for chapter 4, one module each; import names from the module.

- :mod:`fedlib.vertical.data`: the vertically split credit data and the papers' files.
- :mod:`fedlib.vertical.xmp`: XMP feature selection (mRMR, XGBoost backward elimination, PCA).
- :mod:`fedlib.vertical.gbdt`: the histogram GBDT, SecureBoost's plaintext twin.
- :mod:`fedlib.vertical.secureboost`: SecureBoost over Paillier / HEU.
- :mod:`fedlib.vertical.audit`, :mod:`fedlib.vertical.attacks`: what each party saw and what
  it can recover.
- :mod:`fedlib.vertical.baselines`: WoE scorecard, LS-SVM and the credit metrics.

Chapter 4's screened (horizontal) FedAvg lives in :mod:`fedlib.fl.screening`.

The package re-exports nothing, so checking a data file (``fedbook run`` does it before a
kernel starts) loads neither phe nor torch.

Introduced in chapter 4 (``chapters/04_vertical_secureboost_xmp.py``).
"""
