"""Plaintext histogram gradient-boosted trees: the reference SecureBoost must reproduce.

A small, explicit XGBoost-style booster (second-order logistic loss, quantile bins, gain of
eq. 15, leaf weight of eq. 13). It is written by hand, not taken from ``xgboost``, because
the SecureBoost test needs a reference whose binning, split order and tie-breaking are
*exactly* those of :mod:`fedlib.vertical.secureboost`; ``xgboost`` itself is the external
yardstick (AUC) in the chapter and the bench.

Conventions shared with SecureBoost: bin edges are the distinct interior quantiles of each
feature; a row is in bin ``b`` when ``edges[b-1] < x <= edges[b]``; the candidate split
"after bin ``b``" sends ``x <= edges[b]`` left. Candidates are scanned feature by feature,
bin by bin, and the first strictly best gain wins. A node splits only when the best gain
(after ``gamma``) is positive and both children have hessian sum ``>= min_child_weight``.

References: paper 003 (Xu et al.), §3.3, eqs. 9–15; Chen & Guestrin 2016 (XGBoost).
Introduced in chapter 4 (``chapters/04_vertical_secureboost_xmp.py``).

Examples
--------
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(200, 3)); y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
>>> model = HistGBDT(n_estimators=3, max_depth=2).fit(X, y)
>>> float(((model.predict_proba(X) > 0.5) == y).mean()) > 0.85
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "BoostParams",
    "HistGBDT",
    "QuantileBinner",
    "TreeNode",
    "TIE_TOLERANCE",
    "base_margin",
    "best_split_in_histogram",
    "better_split",
    "check_labels",
    "check_matrix",
    "leaf_weight",
    "logistic_grad_hess",
    "passive_visible",
    "split_gain",
]


@dataclass(frozen=True)
class BoostParams:
    """Hyper-parameters shared by :class:`HistGBDT` and SecureBoost (checked on creation)."""

    n_estimators: int = 5
    max_depth: int = 3
    learning_rate: float = 0.3
    reg_lambda: float = 1.0
    gamma: float = 0.0
    min_child_weight: float = 1.0
    max_bins: int = 32
    #: Smallest node (rows) at which passive parties' features are split candidates; see
    #: :func:`passive_visible`. 0 turns the protection off (the issue-9 leakage setting).
    passive_min_node_size: int = 64

    def __post_init__(self):
        checks = {
            "n_estimators": self.n_estimators >= 1,
            "max_depth": self.max_depth >= 1,
            "learning_rate": 0 < self.learning_rate <= 1,
            "reg_lambda": self.reg_lambda >= 0,
            "gamma": self.gamma >= 0,
            "min_child_weight": self.min_child_weight >= 0,
            "max_bins": 2 <= self.max_bins <= 1024,
            "passive_min_node_size": (isinstance(self.passive_min_node_size, int | np.integer)
                                      and not isinstance(self.passive_min_node_size, bool)
                                      and self.passive_min_node_size >= 0),
        }
        allowed = {"n_estimators": ">= 1", "max_depth": ">= 1", "learning_rate": "in (0, 1]",
                   "reg_lambda": ">= 0", "gamma": ">= 0", "min_child_weight": ">= 0",
                   "max_bins": "in [2, 1024]",
                   "passive_min_node_size": "an integer >= 0 (rows; 0 disables the protection)"}
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"{name}={getattr(self, name)!r} is not allowed; must be "
                                 f"{allowed[name]}")


def passive_visible(parent_visible: bool, n_node: int, n_sibling: int, minimum: int) -> bool:
    """Whether passive parties histogram a child node (their features are candidates there).

    A node is visible when its parent was, and both it and its sibling have at least
    ``minimum`` rows (the root: when it has ``minimum`` rows). Requiring the *sibling* too
    matters: the active party holds the parent's and this node's bucket sums, so it also
    holds the sibling's (their difference). Under this rule every set whose sums the active
    party can form by adding and subtracting returned histograms within a tree has at least
    ``minimum`` rows, so no per-bin sum isolates a handful of rows (the attack of
    :func:`fedlib.vertical.attacks.bin_recovery_attack`). SecureBoost applies it on the
    active side and the passive party enforces it again; :class:`HistGBDT` applies it to
    ``passive_columns`` so the plaintext twin grows the same trees.

    >>> passive_visible(True, 40, 40, 32), passive_visible(True, 40, 10, 32)
    (True, False)
    >>> passive_visible(False, 400, 400, 32), passive_visible(True, 3, 1, 0)
    (False, True)
    """
    return bool(parent_visible and n_node >= minimum and n_sibling >= minimum)


class QuantileBinner:
    """Per-feature quantile bins, fitted by the party that owns the feature.

    >>> b = QuantileBinner(max_bins=4).fit(np.arange(8.0)[:, None])
    >>> b.edges[0], b.transform(np.array([[0.0], [3.5], [9.0]])).ravel()
    (array([1.75, 3.5 , 5.25]), array([0, 1, 3], dtype=int32))
    """

    def __init__(self, max_bins: int = 32):
        if not 2 <= max_bins <= 1024:
            raise ValueError(f"max_bins={max_bins!r} must be in [2, 1024]")
        self.max_bins = max_bins
        self.edges: list[np.ndarray] = []

    def fit(self, X) -> QuantileBinner:
        """Fit each column's quantile edges on ``X`` (at most ``max_bins`` bins per column)."""
        X = check_matrix(X, "X")
        qs = np.linspace(0, 1, self.max_bins + 1)[1:-1]
        self.edges = []
        for j in range(X.shape[1]):
            e = np.unique(np.quantile(X[:, j], qs))
            # The top edge would put every row left: it is not a split.
            self.edges.append(e[e < X[:, j].max()])
        return self

    @property
    def n_bins(self) -> list[int]:
        """Number of bins of each feature (edges + 1)."""
        return [len(e) + 1 for e in self.edges]

    def transform(self, X) -> np.ndarray:
        """Bin index of every value: ``X`` as integers, one column per fitted feature."""
        X = check_matrix(X, "X")
        if X.shape[1] != len(self.edges):
            raise ValueError(f"X has {X.shape[1]} columns, the binner was fitted on "
                             f"{len(self.edges)}")
        out = np.empty(X.shape, dtype=np.int32)
        for j, e in enumerate(self.edges):
            out[:, j] = np.searchsorted(e, X[:, j], side="left")
        return out


def check_matrix(X, name: str) -> np.ndarray:
    """``X`` as a finite 2-D float array (rows x features); ``name`` goes in the error.

    >>> check_matrix([[1, 2]], "X").dtype
    dtype('float64')
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows x features), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or infinite values; impute them first")
    return X


def logistic_grad_hess(y: np.ndarray, margin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and second derivative of the logistic loss in the margin (eq. 11's g, h).

    >>> logistic_grad_hess(np.array([1.0, 0.0]), np.zeros(2))
    (array([-0.5,  0.5]), array([0.25, 0.25]))
    """
    p = 1.0 / (1.0 + np.exp(-margin))
    return p - y, p * (1.0 - p)


def split_gain(GL, HL, GR, HR, *, reg_lambda: float, gamma: float):
    """Eq. 15: ``½[GL²/(HL+λ) + GR²/(HR+λ) − (GL+GR)²/(HL+HR+λ)] − γ``.

    >>> float(split_gain(-2.0, 1.0, 2.0, 1.0, reg_lambda=1.0, gamma=0.0))
    2.0
    """
    return 0.5 * (GL**2 / (HL + reg_lambda) + GR**2 / (HR + reg_lambda)
                  - (GL + GR) ** 2 / (HL + HR + reg_lambda)) - gamma


def leaf_weight(G: float, H: float, reg_lambda: float) -> float:
    """Eq. 13: the optimal leaf weight ``−G/(H+λ)``."""
    return -G / (H + reg_lambda)


#: Relative gain difference below which two split candidates count as tied.
TIE_TOLERANCE = 1e-9


def best_split_in_histogram(hist_g: np.ndarray, hist_h: np.ndarray, *, reg_lambda: float,
                            gamma: float, min_child_weight: float) -> tuple[float, int]:
    """Best "left = bins ``<= b``" split of one feature's histogram: ``(gain, b)``.

    Returns ``(-inf, -1)`` when no candidate satisfies ``min_child_weight``.

    >>> best_split_in_histogram(np.array([-2.0, 0.0, 2.0]), np.ones(3), reg_lambda=1.0,
    ...                         gamma=0.0, min_child_weight=0.5)
    (1.6666666666666665, 0)
    """
    if len(hist_g) < 2:
        return -np.inf, -1
    GL, HL = np.cumsum(hist_g)[:-1], np.cumsum(hist_h)[:-1]
    G, H = float(np.sum(hist_g)), float(np.sum(hist_h))
    GR, HR = G - GL, H - HL
    gain = split_gain(GL, HL, GR, HR, reg_lambda=reg_lambda, gamma=gamma)
    gain = np.where((HL >= min_child_weight) & (HR >= min_child_weight), gain, -np.inf)
    top = float(np.max(gain))
    if not np.isfinite(top):
        return -np.inf, -1
    # The first bin within rounding of the best: encrypted and plaintext sums then pick the same.
    b = int(np.argmax(gain >= top - TIE_TOLERANCE * max(1.0, abs(top))))
    return float(gain[b]), b


def better_split(gain: float, best: float) -> bool:
    """Whether ``gain`` beats ``best`` by more than rounding (ties keep the earlier candidate).

    Fixed-point Paillier sums and float sums of the same gradients differ in the last bits, so
    an exact tie between two candidates could otherwise be broken differently by SecureBoost and
    by its plaintext reference.

    >>> better_split(1.0 + 1e-12, 1.0), better_split(1.1, 1.0)
    (False, True)
    """
    if not np.isfinite(gain):
        return False
    return not np.isfinite(best) or gain > best + TIE_TOLERANCE * max(1.0, abs(best))


@dataclass
class TreeNode:
    """A node of a tree, split or leaf.

    Plaintext trees fill ``feature/bin/threshold``; SecureBoost trees only ``party/record_id``
    (the split owner keeps the rest in its lookup table).
    """

    node_id: int
    depth: int
    weight: float | None = None
    left: int | None = None
    right: int | None = None
    gain: float | None = None
    feature: int | None = None
    bin: int | None = None
    threshold: float | None = None
    party: str | None = None
    record_id: int | None = None

    @property
    def is_leaf(self) -> bool:
        """Whether the node is a leaf (has no children)."""
        return self.left is None


def base_margin(y: np.ndarray) -> float:
    """Initial margin: the log-odds of the positive rate (what XGBoost estimates too)."""
    p = float(np.clip(np.mean(y), 1e-6, 1 - 1e-6))
    return float(np.log(p / (1 - p)))


def check_labels(y) -> np.ndarray:
    """``y`` as a float vector of 0/1 labels; ValueError if any label is not 0 or 1."""
    y = np.asarray(y, dtype=np.float64).ravel()
    if not np.all(np.isin(y, (0.0, 1.0))):
        raise ValueError("y must hold binary labels 0/1 for the logistic loss")
    return y


class HistGBDT:
    """Histogram GBDT with logistic loss, grown depth-first-by-level exactly like SecureBoost.

    Keyword arguments are those of :class:`BoostParams` (``n_estimators``, ``max_depth``,
    ``learning_rate``, ``reg_lambda``, ``gamma``, ``min_child_weight``, ``max_bins``,
    ``passive_min_node_size``), checked there; the last one acts only on the
    ``passive_columns`` given to ``fit``. After ``fit``: ``trees`` (lists of :class:`TreeNode`), ``binner``, ``base_margin_``.
    """

    def __init__(self, **params: Any) -> None:
        self.params = BoostParams(**params)
        self.trees: list[list[TreeNode]] = []

    def __repr__(self) -> str:
        return f"HistGBDT({self.params})"

    def fit(self, X, y, *, passive_columns=()) -> HistGBDT:
        """Fit on all columns, the ``passive_columns`` restricted as in SecureBoost.

        ``passive_columns`` (indices) are split candidates only at nodes
        :func:`passive_visible` admits under ``passive_min_node_size``, as the passive
        parties' columns are in SecureBoost (pass them for a SecureBoost twin).
        """
        p = self.params
        X, y = check_matrix(X, "X"), check_labels(y)
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
        self._passive = {int(j) for j in passive_columns}
        bad = sorted(j for j in self._passive if not 0 <= j < X.shape[1])
        if bad:
            raise ValueError(f"passive_columns {bad} are not column indices of X "
                             f"(0..{X.shape[1] - 1})")
        self.binner = QuantileBinner(p.max_bins).fit(X)
        bins = self.binner.transform(X)
        self.base_margin_ = base_margin(y)
        margin = np.full(len(y), self.base_margin_)
        self.trees = []
        for _ in range(p.n_estimators):
            g, h = logistic_grad_hess(y, margin)
            tree = self._grow(bins, g, h, p)
            self.trees.append(tree)
            margin += p.learning_rate * self._tree_values(tree, bins)
        return self

    def _grow(self, bins, g, h, p: BoostParams) -> list[TreeNode]:
        nodes = [TreeNode(0, 0)]
        m = p.passive_min_node_size
        frontier = [(0, np.arange(len(g)), len(g) >= m)]
        while frontier:
            nid, rows, visible = frontier.pop(0)
            node = nodes[nid]
            G, H = float(g[rows].sum()), float(h[rows].sum())
            best = (-np.inf, -1, -1)
            if node.depth < p.max_depth and len(rows) >= 2:
                for j, nb in enumerate(self.binner.n_bins):
                    if j in self._passive and not visible:
                        continue
                    hg = np.bincount(bins[rows, j], weights=g[rows], minlength=nb)
                    hh = np.bincount(bins[rows, j], weights=h[rows], minlength=nb)
                    gain, b = best_split_in_histogram(
                        hg, hh, reg_lambda=p.reg_lambda, gamma=p.gamma,
                        min_child_weight=p.min_child_weight)
                    if better_split(gain, best[0]):
                        best = (gain, j, b)
            if best[0] <= 0:
                node.weight = leaf_weight(G, H, p.reg_lambda)
                continue
            gain, j, b = best
            node.gain, node.feature, node.bin = gain, j, b
            node.threshold = float(self.binner.edges[j][b])
            go_left = bins[rows, j] <= b
            kids_visible = passive_visible(visible, int(go_left.sum()), int((~go_left).sum()), m)
            for side, sub in (("left", rows[go_left]), ("right", rows[~go_left])):
                child = TreeNode(len(nodes), node.depth + 1)
                nodes.append(child)
                setattr(node, side, child.node_id)
                frontier.append((child.node_id, sub, kids_visible))
        return nodes

    @staticmethod
    def _tree_values(tree: list[TreeNode], bins: np.ndarray) -> np.ndarray:
        out = np.empty(len(bins))
        stack = [(0, np.arange(len(bins)))]
        while stack:
            nid, rows = stack.pop()
            node = tree[nid]
            if node.is_leaf:
                out[rows] = node.weight
                continue
            left = bins[rows, node.feature] <= node.bin
            stack += [(node.left, rows[left]), (node.right, rows[~left])]
        return out

    def predict_margin(self, X) -> np.ndarray:
        """The ensemble's raw score (log-odds) for each row of ``X``: base margin plus the trees."""
        bins = self.binner.transform(X)
        return self.base_margin_ + self.params.learning_rate * sum(
            self._tree_values(t, bins) for t in self.trees)

    def predict_proba(self, X) -> np.ndarray:
        """Probability of the positive class (1-D)."""
        return 1.0 / (1.0 + np.exp(-self.predict_margin(X)))
