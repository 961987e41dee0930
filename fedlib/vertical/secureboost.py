"""SecureBoost: vertical federated gradient boosting with Paillier-encrypted gradients.

One **active** party (the bank: labels and its own features) and one or more **passive**
parties (e.g. the grid operator: features only) hold different columns of the same aligned
rows (aligned by :func:`fedlib.crypto.psi.rsa_blind_psi`). Per tree:

1. the active party computes ``g, h`` (logistic loss), encrypts them with its Paillier key
   and sends the ciphertexts to every passive party (transcript kind ``ciphertext``);
2. for each node, every passive party sums the ciphertexts of the node's rows per bin of
   each of its locally binned features and returns the encrypted bucket sums; with
   ``histogram_subtraction`` the larger child is ``parent − smaller child``, homomorphically;
3. the active party decrypts, computes eq. 15 for every candidate of every party (its own
   from plaintext histograms) and picks the best split;
4. the owner of the winning feature stores ``(feature, bin, threshold)`` in its own lookup
   table under a record id and returns the id and the left rows; the tree keeps only
   ``(party, record id)``.

Prediction runs the same cross-party protocol: at a passive party's node the active party
sends the record id and the rows that reached it, the passive party answers left/right.

What each party learns (honest-but-curious parties; Cheng et al. 2021 and issue 9):

* a **passive party** receives the Paillier public key, the ciphertexts of ``g, h`` and, for
  every node it histograms, the node's rows (its *instance space*); for its own winning
  splits it learns which candidate won and the rows going left. Instance spaces leak labels:
  rows in a small deep node share a score (:func:`fedlib.vertical.audit.instance_space_attack`).
* the **active party** decrypts, per node and per passive feature, the per-bin aggregates
  ``(G, H)`` and, in packed mode, the bin count (FATE reveals counts too). It never receives a
  feature value or a threshold, but per-bin sums over few rows identify which bin a row is in:
  with the rows of the node and its own ``g`` per row it solves the small matching problem
  (:func:`fedlib.vertical.attacks.bin_recovery_attack`; at 200 rows, depth 7,
  ``min_child_weight=0`` and no minimum it recovers every (row, feature) bin).

Two protections against the second leak. ``passive_min_node_size`` (default 64 rows): the
passive parties histogram a node only when :func:`fedlib.vertical.gbdt.passive_visible`
admits it (the node *and its sibling* have that many rows, and the parent was admitted), so
every set the active party can form from the returned sums by addition and subtraction within
a tree has at least that many rows; the passive party checks this again before it answers.
Below that size only the active party's features compete, and the plaintext twin
(:class:`~fedlib.vertical.gbdt.HistGBDT` with ``passive_columns``) does the same. Inference
that combines sums across trees is not ruled out, only made harder; the attack measures it
(200 rows, 3 trees, depth 7, 8 bins, ``min_child_weight=0``, 2 passive features: 83 of 400
(row, feature) bins recovered with no minimum, 27 at 32 rows, 0 at 64 rows).
And every returned bucket ciphertext is **re-randomised**
(:func:`fedlib.crypto.paillier.rerandomize`): a product of the active party's own ciphertexts
carries the product of their randomness, which the key holder can recover on decryption and
match against the ``r`` it used, revealing each bin's members exactly without any small node.

Encryption (``he_backend``, :mod:`fedlib.crypto.he`): ``"zpaillier"`` (default) is the
paper's Paillier scheme through SecretFlow HEU's C++ implementation; ``"phe"`` the pure-Python
reference (same trees, cross-checked in the tests); ``"ou"`` Okamoto–Uchiyama, the faster
scheme SecretFlow's SecureBoost uses. Each scheme's security basis is in :mod:`fedlib.crypto.he`.

Speed (measured in ``bench/bench_vertical.py``): ``packing`` puts ``g``, ``h`` and a count in
one plaintext slot (:class:`fedlib.crypto.paillier.GHPacker`) *and* stacks as many bucket sums
as the plaintext holds into one ciphertext before they leave the passive party (17 at 2048
bits and 2,500 rows), so the active party decrypts once per 17 buckets instead of once per
bucket and channel; ``precompute_obfuscators`` (``phe`` only; HEU encrypts fast online)
computes every ``r^n mod n^2`` in an offline phase; ``histogram_subtraction`` halves the
per-node ciphertext sums; ``n_jobs`` (``phe`` only) uses ``spawn`` worker processes, never
``fork`` (HEU backends use HEU's own C++ threads). ``naive=True`` switches all off.

References: paper 003 (Xu et al.), §3.3, eqs. 9–15; Cheng et al. 2021, "SecureBoost: a
lossless federated learning framework", IEEE Intell. Syst. Introduced in chapter 4
(``chapters/04_vertical_secureboost_xmp.py``).

Examples
--------
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(120, 3)); y = (X[:, 0] + X[:, 2] > 0).astype(int)
>>> sb = SecureBoost(n_estimators=2, max_depth=2, key_bits=512, demo_keys=True)
>>> _ = sb.fit(X[:, :1], y, passive={"grid": X[:, 1:]})
>>> p = sb.predict_proba(X[:, :1], passive={"grid": X[:, 1:]})
>>> float(((p > 0.5) == y).mean()) > 0.8
True
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from fedlib.core.transcript import Transcript
from fedlib.crypto.he import BACKENDS, HEBackend, PheBackend, make_backend
from fedlib.crypto.paillier import MIN_SECURE_BITS, GHPacker, KeySizeError
from fedlib.vertical.gbdt import (
    BoostParams,
    QuantileBinner,
    TreeNode,
    base_margin,
    best_split_in_histogram,
    better_split,
    check_labels,
    check_matrix,
    leaf_weight,
    logistic_grad_hess,
    passive_visible,
)

__all__ = ["PassiveParty", "SecureBoost"]


class PassiveParty:
    """A feature-only party: bins its features, sums ciphertexts, owns its lookup table.

    Nothing outside this object reads ``X``, ``binner`` or ``lookup``; it talks to the
    active party only through the return values that :class:`SecureBoost` puts on the
    transcript.
    """

    def __init__(self, name: str, X, max_bins: int, *, min_node_size: int = 64):
        if isinstance(min_node_size, bool) or not isinstance(min_node_size, int | np.integer) \
                or min_node_size < 0:
            raise ValueError(f"min_node_size={min_node_size!r} must be an integer >= 0 (rows)")
        self.name = name
        self.min_node_size = int(min_node_size)
        self._X = check_matrix(X, f"passive[{name!r}]")
        self.binner = QuantileBinner(max_bins).fit(self._X)
        self._bins = self.binner.transform(self._X)
        self.lookup: dict[int, tuple[int, int, float]] = {}
        self._hist: dict[int, list] = {}
        self._admitted: dict[int, int] = {}

    @property
    def n_bins(self) -> list[int]:
        """Number of bins of each of the party's features."""
        return self.binner.n_bins

    def set_public_key(self, he: HEBackend) -> None:
        """Receive the active party's public key: a public view of its :mod:`~fedlib.crypto.he` backend."""
        if he.has_secret:
            raise ValueError("a passive party must receive the public view only (he.public())")
        self._he = he
        nb = self.n_bins
        self._n_buckets = max(nb)
        # Real buckets in the feature-major (feature, bucket) grid of the backend's sums.
        self._real = [j * self._n_buckets + b for j, n in enumerate(nb) for b in range(n)]

    def receive_gradients(self, channels: list) -> None:
        """Receive the active party's encrypted gradients and hessians for a new tree."""
        self._channels = list(channels)
        self._hist.clear()
        self._admitted.clear()

    def histogram(self, node_id: int, rows: np.ndarray, *, parent: int | None = None,
                  sibling: int | None = None, subtract: bool = True,
                  pack: tuple[int, int] | None = None) -> list:
        """Re-randomised encrypted bucket sums of one node, one entry per channel.

        Each entry holds the node's bucket sums in feature-major order (feature 0's bins,
        then feature 1's, ...). With ``pack=(k, slot_bits)`` the single packed channel is
        stacked ``k`` bucket sums per ciphertext (:meth:`fedlib.crypto.he.HEBackend.pack`),
        so the active party decrypts ``ceil(sum(n_bins) / k)`` ciphertexts for the node.

        ``parent`` is the node's parent (``None`` for the root). The party refuses
        (``PermissionError``) a node :func:`~fedlib.vertical.gbdt.passive_visible` does not
        admit: fewer than ``min_node_size`` rows in it or its sibling, or a parent it did not
        histogram. With ``subtract`` and the parent and ``sibling`` cached, it subtracts
        instead of summing rows. Every returned ciphertext gets fresh randomness.
        """
        rows = np.asarray(rows)
        if parent is None:
            ok, n_sib = len(rows) >= self.min_node_size, None
        else:
            n_sib = self._admitted.get(parent, 0) - len(rows)
            ok = passive_visible(parent in self._admitted, len(rows), n_sib, self.min_node_size)
        if not ok:
            raise PermissionError(
                f"passive party {self.name!r} refuses node {node_id}: {len(rows)} rows (sibling "
                f"{n_sib}, parent {'admitted' if parent in self._admitted else 'not admitted'}"
                f"); it answers only nodes where both children have >= {self.min_node_size} "
                "rows under an admitted parent")
        self._admitted[node_id] = len(rows)
        he = self._he
        # Subtraction costs one inversion per bucket, summing one addition per (row,
        # feature): subtract only when the node is large enough for that to pay.
        worth = len(rows) > he.sub_cost_in_adds * len(self._real) / len(self.n_bins)
        if subtract and worth and parent in self._hist and sibling in self._hist:
            out = [he.sub(cp, cs) for cp, cs in zip(self._hist[parent], self._hist[sibling],
                                                     strict=True)]
        else:
            out = [he.take(he.bucket_sums(ch, rows, self._bins, self._n_buckets), self._real)
                   for ch in self._channels]
        self._hist[node_id] = out
        if sibling is not None:
            # Both children are done: the parent's sums are no longer needed (the children's
            # are kept: each may be the parent of a later subtraction).
            self._hist.pop(parent, None)
        if pack is not None:
            out = [he.pack(ch, *pack) for ch in out]
        return [he.rerandomize(ch) for ch in out]

    def record_split(self, feature: int, bin_: int, rows: np.ndarray) -> tuple[int, np.ndarray]:
        """Store the winning split locally; return its record id and the rows going left."""
        threshold = float(self.binner.edges[feature][bin_])
        rid = len(self.lookup)
        self.lookup[rid] = (feature, bin_, threshold)
        return rid, rows[self._bins[rows, feature] <= bin_]

    def route(self, record_id: int, X_new: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
        """Left (True) / right for ``rows`` of this party's prediction data at a record."""
        feature, _, threshold = self.lookup[record_id]
        X = self._X if X_new is None else X_new
        return X[rows, feature] <= threshold


class SecureBoost:
    """SecureBoost classifier (logistic loss) for one active and several passive parties.

    Parameters
    ----------
    n_estimators, max_depth, learning_rate, reg_lambda, gamma, min_child_weight, max_bins
        As in :class:`fedlib.vertical.gbdt.BoostParams` (the trees equal
        :class:`~fedlib.vertical.gbdt.HistGBDT`'s on the stacked columns).
    passive_min_node_size
        Rows below which passive parties compute no histogram (see the module docstring and
        :func:`~fedlib.vertical.gbdt.passive_visible`); 0 disables the protection. The
        plaintext twin must get the same value and ``passive_columns``.
    he_backend
        ``"zpaillier"`` (default: Paillier through HEU), ``"phe"`` (Paillier, pure-Python
        reference) or ``"ou"`` (Okamoto–Uchiyama through HEU); see :mod:`fedlib.crypto.he`.
    key_bits, demo_keys
        Modulus size; below 2048 bits only with ``demo_keys=True``.
    packing, precompute_obfuscators, histogram_subtraction, n_jobs
        The four optimisations (see the module docstring); ``naive=True`` turns all off.
        ``precompute_obfuscators`` and ``n_jobs`` concern ``phe`` only.
    frac_bits
        Fixed-point fraction bits for ``g`` and ``h``.
    active_name
        Name of the active party in the transcript.
    transcript
        Where messages are logged (a new one by default), exposed as ``self.transcript``.
    keypair
        Keys to reuse (benchmarks): a key holder's :class:`~fedlib.crypto.he.HEBackend`, or
        ``phe``'s ``(public, private)`` pair; by default fresh keys of ``key_bits`` for
        ``he_backend`` are generated in ``fit``.

    Attributes
    ----------
    trees
        Lists of :class:`~fedlib.vertical.gbdt.TreeNode` holding only ``(party, record_id)``
        at splits and leaf weights (un-shrunk; prediction multiplies by ``learning_rate``).
    lookup, parties_
        The active party's own lookup table; the passive parties (each with its ``lookup``).
    transcript
        Every message of training and prediction.
    gradients_
        The active party's own ``(g, h)`` per tree (what it encrypted); the leakage audit
        :func:`fedlib.vertical.attacks.bin_recovery_attack` plays the active party with them.
    he_, slots_
        The key holder's backend; bucket sums per ciphertext in the histograms (1 unpacked).
    timings_
        Seconds: ``keygen_s``, ``precompute_s`` (offline obfuscators), ``encrypt_s``,
        ``histogram_s`` (passive parties: sums, packing, re-randomising), ``decrypt_s``
        (active party, incl. unpacking), ``online_s`` (fit minus keygen and precompute) and
        ``fit_s``; ``n_decryptions`` counts decrypted ciphertexts.
    """

    def __init__(self, *, n_estimators: int = 5, max_depth: int = 3, learning_rate: float = 0.3,
                 reg_lambda: float = 1.0, gamma: float = 0.0, min_child_weight: float = 1.0,
                 max_bins: int = 32, passive_min_node_size: int = 64,
                 key_bits: int = 2048, demo_keys: bool = False,
                 packing: bool = True, precompute_obfuscators: bool = True,
                 histogram_subtraction: bool = True, n_jobs: int = 1, naive: bool = False,
                 frac_bits: int = 40, active_name: str = "bank",
                 transcript: Transcript | None = None, keypair=None,
                 he_backend: str = "zpaillier"):
        self.params = BoostParams(n_estimators, max_depth, learning_rate, reg_lambda, gamma,
                                  min_child_weight, max_bins, passive_min_node_size)
        if n_jobs < 1:
            raise ValueError(f"n_jobs={n_jobs!r} must be >= 1")
        if isinstance(keypair, HEBackend):
            he_backend = keypair.name
        if he_backend not in BACKENDS:
            raise ValueError(f"he_backend={he_backend!r} must be one of {BACKENDS}")
        self.he_backend = "phe" if isinstance(keypair, tuple) else he_backend
        if keypair is None and key_bits < MIN_SECURE_BITS and not demo_keys:
            raise KeySizeError(f"key_bits={key_bits} is below the {MIN_SECURE_BITS}-bit "
                               "minimum (n_bits for Paillier); pass demo_keys=True for a test key")
        self.key_bits, self.demo_keys, self.frac_bits = key_bits, demo_keys, frac_bits
        self.packing = packing and not naive
        self.precompute_obfuscators = precompute_obfuscators and not naive
        self.histogram_subtraction = histogram_subtraction and not naive
        self.n_jobs = 1 if naive else n_jobs
        self.active_name = active_name
        self._keypair = keypair
        self.transcript = Transcript() if transcript is None else transcript
        self.timings_: dict[str, float] = {}

    # ---------------------------------------------------------------- training
    def fit(self, X_active, y, *, passive: Mapping[str, np.ndarray]) -> SecureBoost:
        """Train on aligned rows: the active party's columns, labels and passive columns."""
        p, t = self.params, self.transcript
        Xa, y = check_matrix(X_active, "X_active"), check_labels(y)
        if not passive:
            raise ValueError("passive must name at least one passive party")
        for name, Xp in passive.items():
            if len(Xp) != len(y) or name == self.active_name:
                raise ValueError(f"passive[{name!r}] must have {len(y)} rows and a name "
                                 f"other than {self.active_name!r}")
        start = time.perf_counter()
        self.timings_ = {"encrypt_s": 0.0, "histogram_s": 0.0, "decrypt_s": 0.0}
        n = len(y)
        self.binner_ = QuantileBinner(p.max_bins).fit(Xa)
        self._bins = self.binner_.transform(Xa)
        self.lookup: dict[int, tuple[int, int, float]] = {}
        self.parties_ = {name: PassiveParty(name, Xp, p.max_bins,
                                            min_node_size=p.passive_min_node_size)
                         for name, Xp in passive.items()}
        t0 = time.perf_counter()
        he = self._keypair
        if isinstance(he, tuple):
            he = PheBackend(*he, n_jobs=self.n_jobs)
        elif he is None:
            he = make_backend(self.he_backend, key_bits=self.key_bits, demo=self.demo_keys,
                              n_jobs=self.n_jobs)
        if isinstance(he, PheBackend):
            # Reused keys (benchmarks): this fit's settings, no obfuscators left from another.
            he.n_jobs, he.pool = self.n_jobs, None
        self.he_ = he
        self.timings_["keygen_s"] = time.perf_counter() - t0
        self.packer_ = GHPacker(max_rows=n, g_bound=1.0, h_bound=0.25, frac_bits=self.frac_bits)
        # Bucket sums per ciphertext: as many slots as the plaintext holds (eq. 15 needs
        # only G, H per bucket; the slot width leaves headroom for a sum over all n rows).
        self.slots_ = self.packer_.slots(he.plaintext_bits) if self.packing else 1
        pub = he.public()
        for name, party in self.parties_.items():
            party.set_public_key(t.send(sender=self.active_name, receiver=name, kind="key",
                                        payload=pub, label="public_key",
                                        nbytes=(he.key_bits + 7) // 8))
        self.timings_["n_decryptions"] = 0
        try:
            if self.precompute_obfuscators and isinstance(he, PheBackend):
                t0 = time.perf_counter()
                he.precompute(n * (1 if self.packing else 2) * p.n_estimators)
                self.timings_["precompute_s"] = time.perf_counter() - t0
            self.base_margin_ = base_margin(y)
            margin = np.full(n, self.base_margin_)
            self.trees, self.gradients_ = [], []
            for k in range(p.n_estimators):
                g, h = logistic_grad_hess(y, margin)
                self.gradients_.append((g, h))
                t0 = time.perf_counter()
                channels = self._encrypt(g, h)
                self.timings_["encrypt_s"] += time.perf_counter() - t0
                for name, party in self.parties_.items():
                    party.receive_gradients(t.send(
                        sender=self.active_name, receiver=name, kind="ciphertext",
                        payload=channels, label="enc_gradients", round=k))
                tree, leaf_rows = self._grow(g, h, k)
                self.trees.append(tree)
                for nid, rows in leaf_rows.items():
                    margin[rows] += p.learning_rate * tree[nid].weight
        finally:
            he.close()
            for party in self.parties_.values():
                party._he.close()
        self.timings_["fit_s"] = time.perf_counter() - start
        self.timings_["online_s"] = (self.timings_["fit_s"] - self.timings_["keygen_s"]
                                     - self.timings_.get("precompute_s", 0.0))
        return self

    def _encrypt(self, g, h) -> list:
        if self.packing:
            plains = [self.packer_.encode(g, h)]
        else:
            # Signed fixed point; phe needs negatives as n - |v|, HEU takes signed values.
            nmod = int(self.he_.public_key.n) if isinstance(self.he_, PheBackend) else None
            plains = [self.packer_.to_fixed(g, bound=1.0, name="g"),
                      self.packer_.to_fixed(h, bound=0.25, name="h")]
            if nmod is not None:
                plains = [[v % nmod for v in pt] for pt in plains]
        return [self.he_.encrypt(pt) for pt in plains]

    def decrypt_histogram(self, hist: list, n_bins: list[int]) -> list:
        """The active party's decryption of one returned histogram, per passive feature.

        ``hist`` is what :meth:`PassiveParty.histogram` returned; ``n_bins`` the party's
        bins per feature (public). Returns ``(G, H, count)`` arrays per feature; ``count``
        is ``None`` unpacked (the naive scheme sends no count).
        """
        total = sum(n_bins)
        if self.packing:
            vals = self.he_.decrypt(hist[0])
            self.timings_["n_decryptions"] = self.timings_.get("n_decryptions", 0) + len(vals)
            sums = [t for v in vals for t in self.packer_.decode_packed(v, self.slots_)][:total]
            G, H, C = (np.array([s_[i] for s_ in sums]) for i in range(3))
        else:
            dec = [self.he_.decrypt(ch, signed=True) for ch in hist]
            self.timings_["n_decryptions"] = self.timings_.get("n_decryptions", 0) + 2 * total
            G, H = (np.ldexp(np.array(d, dtype=np.float64), -self.frac_bits) for d in dec)
            C = None
        cuts = np.cumsum([0, *n_bins])
        return [(G[a:b], H[a:b], None if C is None else C[a:b])
                for a, b in zip(cuts[:-1], cuts[1:], strict=True)]

    def _grow(self, g, h, k: int) -> tuple[list[TreeNode], dict[int, np.ndarray]]:
        p, t, me = self.params, self.transcript, self.active_name
        nodes = [TreeNode(0, 0)]
        m = p.passive_min_node_size
        # (node, rows, parent, sibling already histogrammed or None, passive parties admit it)
        frontier: list[tuple[int, np.ndarray, int | None, int | None, bool]] = [
            (0, np.arange(len(g)), None, None, len(g) >= m)]
        leaf_rows: dict[int, np.ndarray] = {}
        while frontier:
            nid, rows, parent, sibling, visible = frontier.pop(0)
            node = nodes[nid]
            G, H = float(g[rows].sum()), float(h[rows].sum())
            best = (-np.inf, None, -1, -1)
            if node.depth < p.max_depth and len(rows) >= 2:
                opts = dict(reg_lambda=p.reg_lambda, gamma=p.gamma,
                            min_child_weight=p.min_child_weight)
                for j, nb in enumerate(self.binner_.n_bins):
                    hg = np.bincount(self._bins[rows, j], weights=g[rows], minlength=nb)
                    hh = np.bincount(self._bins[rows, j], weights=h[rows], minlength=nb)
                    gain, b = best_split_in_histogram(hg, hh, **opts)
                    if better_split(gain, best[0]):
                        best = (gain, me, j, b)
                for name, party in self.parties_.items() if visible else ():
                    t.send(sender=me, receiver=name, kind="public", payload=rows,
                           label="instance_space", round=k)
                    sub = self.histogram_subtraction and sibling is not None
                    t0 = time.perf_counter()
                    hist = party.histogram(
                        nid, rows, parent=parent, sibling=sibling, subtract=sub,
                        pack=(self.slots_, self.packer_.slot_bits) if self.packing else None)
                    t1 = time.perf_counter()
                    hist = t.send(sender=name, receiver=me, kind="ciphertext", payload=hist,
                                  label="enc_histogram", round=k)
                    decoded = self.decrypt_histogram(hist, party.n_bins)
                    self.timings_["histogram_s"] += t1 - t0
                    self.timings_["decrypt_s"] += time.perf_counter() - t1
                    for j, (hg_p, hh_p, _) in enumerate(decoded):
                        gain, b = best_split_in_histogram(hg_p, hh_p, **opts)
                        if better_split(gain, best[0]):
                            best = (gain, name, j, b)
            if best[0] <= 0:
                node.weight = leaf_weight(G, H, p.reg_lambda)
                leaf_rows[nid] = rows
                continue
            gain, owner, j, b = best
            if owner == me:
                rid = len(self.lookup)
                self.lookup[rid] = (j, b, float(self.binner_.edges[j][b]))
                left = rows[self._bins[rows, j] <= b]
            else:
                t.send(sender=me, receiver=owner, kind="public", payload=(j, b),
                       label="split_choice", round=k)
                rid, left = t.send(sender=owner, receiver=me, kind="public",
                                   payload=self.parties_[owner].record_split(j, b, rows),
                                   label="split_record", round=k)
            node.gain, node.party, node.record_id = gain, owner, rid
            right = np.setdiff1d(rows, left, assume_unique=True)
            lid, rid_ = len(nodes), len(nodes) + 1
            nodes += [TreeNode(lid, node.depth + 1), TreeNode(rid_, node.depth + 1)]
            node.left, node.right = lid, rid_
            # Smaller child first, so the larger one can be parent - smaller (subtraction).
            kids = [(lid, left, rid_), (rid_, right, lid)]
            kids.sort(key=lambda c: len(c[1]))
            first, second = kids
            seen = passive_visible(visible, len(left), len(right), m)
            frontier += [(first[0], first[1], nid, None, seen),
                         (second[0], second[1], nid, first[0], seen)]
        return nodes, leaf_rows

    # -------------------------------------------------------------- prediction
    def predict_margin(self, X_active, *, passive: Mapping[str, np.ndarray]) -> np.ndarray:
        """Margins for new aligned rows, routing through the split owners' lookup tables."""
        Xa = check_matrix(X_active, "X_active")
        Xp = {name: check_matrix(passive[name], f"passive[{name!r}]") for name in self.parties_}
        t, me = self.transcript, self.active_name
        out = np.full(len(Xa), self.base_margin_)
        for k, tree in enumerate(self.trees):
            stack = [(0, np.arange(len(Xa)))]
            while stack:
                nid, rows = stack.pop()
                node = tree[nid]
                if node.is_leaf:
                    out[rows] += self.params.learning_rate * node.weight
                    continue
                if node.party == me:
                    j, _, thr = self.lookup[node.record_id]
                    go_left = Xa[rows, j] <= thr
                else:
                    t.send(sender=me, receiver=node.party, kind="public",
                           payload=(node.record_id, rows), label="predict_query", round=k)
                    go_left = t.send(sender=node.party, receiver=me, kind="public",
                                     payload=self.parties_[node.party].route(
                                         node.record_id, Xp[node.party], rows),
                                     label="predict_route", round=k)
                stack += [(node.left, rows[go_left]), (node.right, rows[~go_left])]
        return out

    def predict_proba(self, X_active, *, passive: Mapping[str, np.ndarray]) -> np.ndarray:
        """Probability of the positive class (1-D)."""
        return 1.0 / (1.0 + np.exp(-self.predict_margin(X_active, passive=passive)))
