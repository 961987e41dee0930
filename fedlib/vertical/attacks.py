"""The active party's attack on SecureBoost: recover the passive party's bins from its sums.

In SecureBoost the active party decrypts, for every node it asks a passive party about, the
per-bin aggregates ``(G, H, count)`` of every passive feature. It also knows the node's rows
(it chose them) and each row's own ``g, h`` (it computed them). When a node is small those
sums pin rows to bins: a bin with count 0 excludes every row of the node, a bin with count 1
whose ``G`` equals exactly one row's ``g`` places that row, and what is placed can be
subtracted from every other node that contains the row (in general: the bin's count and sums
must be made of whole rows, and at a small node few combinations of rows fit; see
:func:`_solve_bin`). :func:`bin_recovery_attack` runs this
constraint propagation to a fixed point over all nodes and trees of the transcript and
reports the share of (row, feature) pairs whose bin it determined. A bin is a quantile
interval of a passive feature, so a recovered bin is the passive value up to one interval.

This is the leakage issue 9 found (every (row, feature) pair at 200 rows, depth 7,
``min_child_weight=0``, 8 bins), against which SecureBoost now has
``passive_min_node_size`` (:func:`fedlib.vertical.gbdt.passive_visible`). The attack is
written here because no library implements it; it uses only what the active party holds:
its transcript, its private key and its own gradients.

References: paper 003 (Xu et al.), §3.3; Cheng et al. 2021, SecureBoost, security analysis;
issue 9, item 5. Introduced in chapter 4 (``chapters/04_vertical_secureboost_xmp.py``).

Examples
--------
>>> from fedlib.vertical.secureboost import SecureBoost
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(60, 2)); y = (X[:, 0] + X[:, 1] > 0).astype(int)
>>> kw = dict(n_estimators=1, max_depth=6, min_child_weight=0.0, max_bins=4, key_bits=512,
...           demo_keys=True)
>>> sb = SecureBoost(**kw, passive_min_node_size=0).fit(X[:, :1], y, passive={"grid": X[:, 1:]})
>>> res = bin_recovery_attack(sb, "grid", truth=sb.parties_["grid"]._bins)
>>> res["wrong"], res["recovered"] > 0
(0, True)
"""

from __future__ import annotations

import itertools
from collections import defaultdict

import numpy as np

__all__ = ["bin_recovery_attack"]


def _constraints(sb, passive: str):
    """(tree, rows, feature, G, H, count) for every histogram the passive party returned."""
    spaces, hists = defaultdict(list), defaultdict(list)
    for m in sb.transcript:
        if m.payload is None:
            continue
        if m.label == "instance_space" and m.receiver == passive:
            spaces[m.round].append(np.asarray(m.payload))
        elif m.label == "enc_histogram" and m.sender == passive:
            hists[m.round].append(m.payload)
    out = []
    for k in sorted(hists):
        if len(spaces[k]) != len(hists[k]):
            raise ValueError(f"tree {k}: {len(spaces[k])} instance spaces but "
                             f"{len(hists[k])} histograms from {passive!r}")
        for rows, hist in zip(spaces[k], hists[k], strict=True):
            # The active party's own decryption (multi-bucket packed or not).
            per_feature = sb.decrypt_histogram(hist, sb.parties_[passive].n_bins)
            for j, (G, H, C) in enumerate(per_feature):
                out.append((k, rows, j, G, H, C))
    return out


def _solve_bin(cu, b, count, G, H, g, h, tol, budget) -> None:
    """Place or exclude rows for bin ``b`` from its residual ``(count, G, H)``.

    The unplaced candidates of ``b`` fall into classes of equal ``(g, h)``; the bin holds
    ``x_v`` rows of class ``v`` with ``Σ x_v = count``, ``Σ x_v g_v = G``, ``Σ x_v h_v = H``.
    Enumerating the (few, at a small node) integer solutions: a class that every solution
    takes whole is in ``b``, a class no solution takes is not. ``cu`` is updated in place.
    """
    who = np.flatnonzero(cu[:, b])
    if len(who) == 0:
        return
    key = np.round(np.c_[g[who], h[who]] / tol).astype(np.int64)
    _, cls = np.unique(key, axis=0, return_inverse=True)
    cls = cls.ravel()
    sizes = np.bincount(cls)
    gv = np.array([g[who][cls == v][0] for v in range(len(sizes))])
    hv = np.array([h[who][cls == v][0] for v in range(len(sizes))])
    if np.prod(np.minimum(sizes, count) + 1.0) > budget:
        return
    sols = []
    for x in itertools.product(*[range(min(s, count) + 1) for s in sizes]):
        x = np.array(x)
        if (x.sum() == count and abs(x @ gv - G) <= tol * max(1, count)
                and abs(x @ hv - H) <= tol * max(1, count)):
            sols.append(x)
    if not sols:
        return
    sols = np.array(sols)
    for v in range(len(sizes)):
        rows_v = who[cls == v]
        if np.all(sols[:, v] == sizes[v]):
            cu[rows_v] = False
            cu[rows_v, b] = True
        elif np.all(sols[:, v] == 0):
            cu[rows_v, b] = False


def bin_recovery_attack(sb, passive: str, *, truth=None, tol: float = 1e-7,
                        max_sweeps: int = 50, max_solutions: int = 20_000) -> dict:
    """Recover a passive party's bin per (row, feature) from decrypted per-bin sums.

    Parameters
    ----------
    sb
        A fitted :class:`~fedlib.vertical.secureboost.SecureBoost`, playing its active party:
        the attack reads its transcript (kept with payloads), private key, packer and
        ``gradients_``, nothing of the passive party.
    passive
        Name of the passive party attacked.
    truth
        Optional ``(rows, features)`` integer array of the true bins, only to score the
        attack (``sb.parties_[passive]._bins`` in a test; no party holds it).
    tol
        Two gradient sums are equal within this (fixed-point rounding is ``2^-frac_bits``
        per row; distinct ``g`` values differ by far more).
    max_sweeps
        Cap on propagation sweeps over all constraints (it stops earlier at a fixed point).
    max_solutions
        Largest enumeration per (node, feature, bin) of how many rows of each gradient
        class the bin holds; larger (big-node) bins are skipped.

    Returns
    -------
    dict
        ``n_pairs`` (rows × passive features), ``determined`` (pairs left with one possible
        bin), ``n_histograms`` (node-feature histograms used), ``bins`` (the recovered bin,
        -1 if undetermined) and, with ``truth``, ``recovered`` (determined and right),
        ``wrong`` (determined and wrong: 0 unless ``tol`` is too loose) and ``rate``
        (``recovered / n_pairs``).
    """
    if not getattr(sb, "gradients_", None):
        raise ValueError("sb must be a fitted SecureBoost (it has no gradients_)")
    if passive not in sb.parties_:
        raise ValueError(f"passive={passive!r} is not one of {sorted(sb.parties_)}")
    cons = _constraints(sb, passive)
    n = len(sb.gradients_[0][0])
    n_bins = [len(G) for (_, _, _, G, _, _) in cons[: len(sb.parties_[passive].n_bins)]] \
        or sb.parties_[passive].n_bins
    F, B = len(n_bins), max(n_bins)
    cand = np.zeros((n, F, B), bool)
    for j, nb in enumerate(n_bins):
        cand[:, j, :nb] = True
    for _ in range(max_sweeps):
        before = int(cand.sum())
        for k, rows, j, G, H, C in cons:
            g, h = sb.gradients_[k]
            c = cand[rows, j, : len(G)]
            known = c.sum(axis=1) == 1
            kb = c[known].argmax(axis=1)
            # Residual sums once the rows already placed are taken out.
            Gr = G - np.bincount(kb, weights=g[rows[known]], minlength=len(G))
            Hr = H - np.bincount(kb, weights=h[rows[known]], minlength=len(G))
            u = rows[~known]
            cu = c[~known]
            if len(u) == 0:
                continue
            # h > 0 for every row, so a zero residual hessian means no unplaced row is there.
            empty = np.abs(Hr) <= tol * max(1, len(rows))
            cu[:, empty] = False
            if C is not None:
                Cr = C - np.bincount(kb, minlength=len(G))
                cu[:, Cr == 0] = False
                for b in np.flatnonzero(Cr > 0):
                    _solve_bin(cu, b, int(Cr[b]), Gr[b], Hr[b], g[u], h[u], tol, max_solutions)
            c[~known] = cu
            cand[rows, j, : len(G)] = c
        if int(cand.sum()) == before:
            break
    determined = cand.sum(axis=2) == 1
    bins = np.where(determined, cand.argmax(axis=2), -1)
    out = {"n_pairs": int(n * F), "determined": int(determined.sum()),
           "n_histograms": len(cons), "bins": bins}
    if truth is not None:
        truth = np.asarray(truth)
        if truth.shape != (n, F):
            raise ValueError(f"truth must have shape {(n, F)}, got {truth.shape}")
        right = determined & (bins == truth)
        out.update(recovered=int(right.sum()), wrong=int((determined & ~right).sum()),
                   rate=float(right.sum() / (n * F)))
    return out
