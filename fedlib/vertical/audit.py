"""Checks on a trained SecureBoost: same trees as the plaintext booster, and label leakage.

* :func:`tree_agreement` — compares every node of a SecureBoost model with a
  :class:`~fedlib.vertical.gbdt.HistGBDT` fitted on the stacked columns (same bins): split
  feature and bin must be identical, leaf weights equal within ``atol``. It reads every
  party's lookup table, a privilege no party has: it is an auditor's check, not a protocol
  step.
* :func:`instance_space_attack` — what the *passive* party can infer about the labels from
  what it legitimately receives. For every node the bank asks it to histogram, the passive
  party receives the node's rows (the "instance space"); within a tree these sets are nested,
  so it can place every row in the deepest node it saw. Rows in the same deep node share a
  score, hence largely a label. A passive party that knows the labels of a few rows (its own
  customers who defaulted on an electricity bill contract, say) scores every other row by the
  default rate of the known rows in its node, averaged over trees. The AUC of that guess is
  the leakage; 0.5 means none.

References: paper 003 (Xu et al.), §3.3; Cheng et al. 2021, SecureBoost §"security
analysis" (instance spaces reveal label information, hence their "reduced-leakage"
variant). Introduced in chapter 4 (``chapters/04_vertical_secureboost_xmp.py``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

__all__ = ["InstanceSpaceLeak", "instance_space_attack", "tree_agreement", "what_each_party_saw"]


def _preorder(tree, nid=0):
    node = tree[nid]
    yield node
    if not node.is_leaf:
        yield from _preorder(tree, node.left)
        yield from _preorder(tree, node.right)


def tree_agreement(sb, ref, offsets: dict[str, int], *, atol: float = 1e-6,
                   gain_rtol: float = 1e-9) -> dict:
    """Node-by-node comparison of a SecureBoost model with a plaintext HistGBDT.

    Parameters
    ----------
    sb, ref
        Fitted :class:`~fedlib.vertical.secureboost.SecureBoost` and
        :class:`~fedlib.vertical.gbdt.HistGBDT` (fitted on the stacked columns).
    offsets
        Party → index of its first column in the stacked matrix (active party first).
    atol
        Tolerance for leaf weights (fixed-point encoding of ``g, h`` rounds at
        ``2^-frac_bits`` per row).
    gain_rtol
        Two different splits whose gains agree within this relative tolerance are an exact
        tie (rows with identical ``g, h`` make ties common after the first tree); the
        booster keeps the first candidate, and fixed-point rounding of the passive party's
        sums can reorder a tie. After such a tie both models are valid boosters that differ.

    Returns
    -------
    dict
        ``same_structure`` (every split equal, leaves within ``atol``), ``n_trees``,
        ``n_splits``, ``n_leaves``, ``max_leaf_diff`` and ``passive_splits`` up to the first
        difference, ``identical_trees`` (trees equal before it), ``first_difference``
        (``None`` or ``(tree, node, what)``) and ``difference_is_tie``.
    """
    out = {"same_structure": True, "n_trees": len(sb.trees), "n_splits": 0, "n_leaves": 0,
           "max_leaf_diff": 0.0, "passive_splits": 0, "identical_trees": 0,
           "first_difference": None, "difference_is_tie": False}
    if len(sb.trees) != len(ref.trees):
        out.update(same_structure=False, first_difference=(0, 0, "number of trees"))
        return out
    for k, (tsb, tref) in enumerate(zip(sb.trees, ref.trees, strict=True)):
        for i, (x, z) in enumerate(zip(_preorder(tsb), _preorder(tref), strict=False)):
            diff = None
            if x.is_leaf or z.is_leaf:
                if not (x.is_leaf and z.is_leaf):
                    diff = "leaf vs split"
                else:
                    out["n_leaves"] += 1
                    out["max_leaf_diff"] = max(out["max_leaf_diff"], abs(x.weight - z.weight))
                    if abs(x.weight - z.weight) > atol:
                        diff = "leaf weight"
            else:
                table = sb.lookup if x.party == sb.active_name else sb.parties_[x.party].lookup
                j, bin_, _ = table[x.record_id]
                if (offsets[x.party] + j, bin_) != (z.feature, z.bin):
                    diff = "split"
                    out["difference_is_tie"] = bool(
                        abs(x.gain - z.gain) <= gain_rtol * max(abs(x.gain), abs(z.gain)))
                else:
                    out["n_splits"] += 1
                    out["passive_splits"] += x.party != sb.active_name
            if diff is not None:
                out.update(same_structure=False, first_difference=(k, i, diff))
                return out
        if len(list(_preorder(tsb))) != len(list(_preorder(tref))):
            out.update(same_structure=False, first_difference=(k, 0, "tree size"))
            return out
        out["identical_trees"] = k + 1
    return out


@dataclass(frozen=True)
class InstanceSpaceLeak:
    """What :func:`instance_space_attack` finds.

    ``auc`` on the rows the attacker did not know; ``n_known`` rows it knew; ``n_trees`` trees
    whose instance spaces it received; ``mean_node_size`` the average size of the deepest
    node a row is placed in; ``purity`` the row-weighted majority share of the label in those
    nodes, against ``base_purity`` of the whole set.
    """

    auc: float
    n_known: int
    n_trees: int
    mean_node_size: float
    purity: float
    base_purity: float


def instance_space_attack(transcript, passive: str, y, *, known_fraction: float,
                          seed: int) -> InstanceSpaceLeak:
    """Label inference by a passive party from the instance spaces it received.

    Parameters
    ----------
    transcript
        The SecureBoost training transcript (with payloads).
    passive
        Name of the passive party playing the attacker.
    y
        True training labels (to score the attack only).
    known_fraction
        Share of rows whose label the attacker knows in advance.

    Returns
    -------
    InstanceSpaceLeak
    """
    if not 0 < known_fraction < 1:
        raise ValueError(f"known_fraction={known_fraction} must be in (0, 1)")
    y = np.asarray(y).astype(int)
    n = len(y)
    rng = np.random.default_rng(seed)
    known = np.zeros(n, bool)
    known[rng.choice(n, size=max(1, int(round(known_fraction * n))), replace=False)] = True
    prior = y[known].mean()
    by_tree: dict[int, list[np.ndarray]] = defaultdict(list)
    for m in transcript.received_by(passive):
        if m.label == "instance_space" and m.payload is not None:
            by_tree[m.round].append(np.asarray(m.payload))
    if not by_tree:
        raise ValueError(f"the transcript holds no instance space received by {passive!r} "
                         "(was it kept with keep_payloads=True?)")
    scores, sizes, purity = np.zeros(n), [], []
    for spaces in by_tree.values():
        deepest = np.zeros(n, int)
        size = np.full(n, n)
        for k, rows in enumerate(spaces):
            smaller = len(rows) <= size[rows]
            deepest[rows[smaller]], size[rows[smaller]] = k, len(rows)
        for k in np.unique(deepest):
            members = np.flatnonzero(deepest == k)
            kn = members[known[members]]
            # Laplace-style shrinkage to the prior so one known row does not decide a node.
            scores[members] += (y[kn].sum() + 2 * prior) / (len(kn) + 2)
            share = y[members].mean()
            purity.append((len(members), max(share, 1 - share)))
        sizes.append(size.mean())
    unknown = ~known
    w = np.array(purity)
    auc = (roc_auc_score(y[unknown], scores[unknown])
           if 0 < y[unknown].sum() < unknown.sum() else float("nan"))
    return InstanceSpaceLeak(
        auc=float(auc), n_known=int(known.sum()), n_trees=len(by_tree),
        mean_node_size=float(np.mean(sizes)),
        purity=float(np.sum(w[:, 0] * w[:, 1]) / np.sum(w[:, 0])),
        base_purity=float(max(y.mean(), 1 - y.mean())))


def what_each_party_saw(transcript) -> pd.DataFrame:
    """Messages and bytes per (sender → receiver, label, kind): the transcript in one table."""
    df = transcript.to_frame()
    return (df.groupby(["sender", "receiver", "label", "kind"], sort=False)
            .agg(messages=("nbytes", "size"), bytes=("nbytes", "sum")).reset_index())

