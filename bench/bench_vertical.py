"""Benchmark the chapter-4 vertical stack: homomorphic backends, SecureBoost, PSI.

Prints ratios measured in one run on this machine (all keys 2048-bit unless stated), and the
process's peak resident memory after each part:

1. Rates of the three backends behind :mod:`fedlib.crypto.he` at 2048 bits: ``phe``
   (Paillier, pure Python + gmpy2: fresh ``r^n`` and with precomputed obfuscators), HEU's
   ``zpaillier`` (Paillier in C++) and HEU's ``ou`` (Okamoto–Uchiyama): encryptions/s,
   decryptions/s, additions/s, and multiplications by ``2^slot_bits`` (the multi-bucket
   packing step) per second.
2. SecureBoost fits on the same rows (2 sizes) with each backend, against the plaintext
   histogram GBDT (same trees, checked) and ``xgboost`` (``tree_method="hist"``), and against
   each backend's *crypto floor*: the encryptions and decryptions the fit needed, timed at
   the rates of part 1.
3. SecureBoost ablation on ``phe`` (1 tree): the naive scheme (two ciphertexts per row, fresh
   ``r^n``, one decryption per bucket and channel, no subtraction) against each optimisation
   alone and all together; the process pool (``n_jobs=2``) uses spawned workers.
4. RSA-2048 blind-signature PSI, 5k x 5k IDs, extrapolated linearly to 10k x 10k and
   labelled as such (``--psi-size 10000`` measures it directly).

Run: ``.venv/bin/python bench/bench_vertical.py`` (154 s on 2 cores at load 3).

References: paper 003 §3.1, §3.3; Cheng et al. 2021. Introduced in chapter 4.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np

from fedlib.crypto.he import SCHEMES, PheBackend, make_backend
from fedlib.crypto.paillier import HAVE_GMPY2, GHPacker
from fedlib.crypto.psi import rsa_blind_psi
from fedlib.vertical.gbdt import HistGBDT
from fedlib.vertical.secureboost import SecureBoost


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    logit = 1.2 * X[:, 0] - 0.8 * X[:, 2] + X[:, 3] * (X[:, 4] > 0) + 0.3 * rng.normal(size=n)
    return X, (logit > 0).astype(int)


def bench_rates(backends: dict) -> dict:
    """Operations per second of each backend (one core unless the library threads)."""
    slot = GHPacker(max_rows=2500, h_bound=0.25).slot_bits
    print(f"== Homomorphic backends, 2048-bit keys (phe with gmpy2={HAVE_GMPY2}); "
          f"packing shift = 2^{slot}")
    print(f"{'backend':10s} {'scheme':17s} {'enc/s':>9s} {'enc/s precomp':>13s} {'dec/s':>8s} "
          f"{'add/s':>9s} {'shift/s':>8s} {'bits/plaintext':>14s}")
    rates = {}
    for name, he in backends.items():
        m = {"phe": 24, "zpaillier": 200, "ou": 2000}[name]
        vals = list(range(1, m + 1))
        t = time.perf_counter()
        cts = he.encrypt(vals)
        enc = m / (time.perf_counter() - t)
        pre = float("nan")
        if isinstance(he, PheBackend):
            he.precompute(m)
            t = time.perf_counter()
            he.encrypt(vals)
            pre = m / (time.perf_counter() - t)
            he.pool = None
        t = time.perf_counter()
        he.decrypt(cts)
        dec = m / (time.perf_counter() - t)
        reps, rows, one_bin = 20, np.arange(m), np.zeros((m, 1), int)
        t = time.perf_counter()
        for _ in range(reps):
            he.bucket_sums(cts, rows, one_bin, 1)  # m - 1 ciphertext additions
        add = reps * (m - 1) / (time.perf_counter() - t)
        k = 4
        t = time.perf_counter()
        he.pack(cts, k, slot)  # (k - 1) shifts per group of k
        sh = m * (k - 1) / k / (time.perf_counter() - t)
        # The floor counts fresh encryptions: precomputing r^n moves that work, not removes it.
        rates[name] = {"enc": enc, "dec": dec}
        print(f"{name:10s} {SCHEMES[name]:17s} {enc:9.0f} {pre:13.0f} {dec:8.0f} {add:9.0f} "
              f"{sh:8.0f} {he.plaintext_bits:14d}")
    base = rates["phe"]
    for name in ("zpaillier", "ou"):
        print(f"{name} vs phe: encryption {rates[name]['enc'] / base['enc']:.1f}x (phe with "
              f"precomputed r^n), decryption {rates[name]['dec'] / base['dec']:.1f}x")
    print(f"peak RSS {_peak_mib():.0f} MiB")
    return rates


def bench_fits(backends: dict, rates: dict, sizes: list[int], trees: int) -> None:
    """SecureBoost per backend vs plaintext GBDT and xgboost on the same rows."""
    import xgboost as xgb

    p = dict(n_estimators=trees, max_depth=3, learning_rate=0.3, reg_lambda=1.0, gamma=0.0,
             min_child_weight=1.0, max_bins=16)
    for n in sizes:
        X, y = _data(n)
        print(f"\n== SecureBoost fit: {n} rows, 2 active + 3 passive features, 16 bins, depth 3, "
              f"{trees} trees, 2048-bit keys")
        t = time.perf_counter()
        ref = HistGBDT(**p).fit(X, y, passive_columns=range(2, 5))
        t_ref = time.perf_counter() - t
        t = time.perf_counter()
        xgb.XGBClassifier(tree_method="hist", n_estimators=trees, max_depth=3, learning_rate=0.3,
                          reg_lambda=1.0, min_child_weight=1.0, max_bin=16, n_jobs=1).fit(X, y)
        t_xgb = time.perf_counter() - t
        m_ref = ref.predict_margin(X)
        print(f"{'model':22s} {'fit s':>8s} {'offline s':>9s} {'decrypts':>8s} {'floor s':>8s} "
              f"{'x floor':>7s} {'x HistGBDT':>10s} {'x xgboost':>9s} same")
        print(f"{'plaintext HistGBDT':22s} {t_ref:8.3f}")
        print(f"{'xgboost hist':22s} {t_xgb:8.3f}")
        fits = {}
        for name, he in backends.items():
            sb = SecureBoost(**p, keypair=he).fit(X[:, :2], y, passive={"grid": X[:, 2:]})
            tm = sb.timings_
            fit = tm["fit_s"] - tm["keygen_s"]  # keys reused across fits
            floor = n * trees / rates[name]["enc"] + tm["n_decryptions"] / rates[name]["dec"]
            same = np.allclose(sb.predict_margin(X[:, :2], passive={"grid": X[:, 2:]}), m_ref,
                               atol=1e-6)
            fits[name] = fit
            print(f"{'SecureBoost ' + name:22s} {fit:8.2f} {tm.get('precompute_s', 0.0):9.2f} "
                  f"{tm['n_decryptions']:8d} {floor:8.2f} {fit / floor:7.1f} "
                  f"{fit / t_ref:10,.0f} {fit / t_xgb:9,.0f} {same}")
        print(f"ratios: phe / zpaillier {fits['phe'] / fits['zpaillier']:.1f}x, "
              f"zpaillier / ou {fits['zpaillier'] / fits['ou']:.1f}x   "
              f"peak RSS {_peak_mib():.0f} MiB")


def bench_ablation(kp, n: int) -> None:
    X, y = _data(n)
    kw = dict(n_estimators=1, max_depth=3, max_bins=16, keypair=kp)
    off = dict(packing=False, precompute_obfuscators=False, histogram_subtraction=False, n_jobs=1)
    configs = [
        ("naive", dict(naive=True)),
        ("+ packing", {**off, "packing": True}),
        ("+ precomputed r^n", {**off, "precompute_obfuscators": True}),
        ("+ histogram subtraction", {**off, "histogram_subtraction": True}),
        ("+ process pool (2, spawn)", {**off, "n_jobs": 2}),
        ("all (no pool)", {}),
        ("all + pool (2)", {"n_jobs": 2}),
    ]
    print(f"\n== SecureBoost ablation (phe): {n} rows, 2 active + 3 passive features, 16 bins, "
          "depth 3, 1 tree, Paillier 2048")
    print(f"{'config':26s} {'online s':>9s} {'offline s':>9s} {'encrypt':>8s} {'hist':>7s} "
          f"{'decrypt':>8s} {'speed-up online':>16s}")
    base = None
    for name, extra in configs:
        sb = SecureBoost(**kw, **extra).fit(X[:, :2], y, passive={"grid": X[:, 2:]})
        tm = sb.timings_
        base = base or tm["online_s"]
        print(f"{name:26s} {tm['online_s']:9.2f} {tm.get('precompute_s', 0.0):9.2f} "
              f"{tm['encrypt_s']:8.2f} {tm['histogram_s']:7.3f} {tm['decrypt_s']:8.2f} "
              f"{base / tm['online_s']:15.1f}x")
    print("(packing = g, h and count in one slot AND as many bucket sums per ciphertext as fit; "
          "the pool starts spawned workers, a fixed cost at this size)")
    print(f"peak RSS {_peak_mib():.0f} MiB")


def bench_psi(size: int) -> None:
    rng = np.random.default_rng(0)
    pool = rng.permutation(10 * size)
    bank = [f"C{i:08d}" for i in pool[:size]]
    grid = [f"C{i:08d}" for i in pool[size // 2: size // 2 + size]]
    t = time.perf_counter()
    res = rsa_blind_psi(bank, grid, key_bits=2048)
    el = time.perf_counter() - t
    print(f"\n== RSA-2048 blind-signature PSI, {size:,} x {size:,} IDs "
          f"({len(res.intersection['bank']):,} common)")
    print(f"time {el:.2f} s  ({', '.join(f'{k} {v:.2f}' for k, v in res.timings.items())})")
    print(f"bytes on the wire {res.sizes['total']:,}")
    if size < 10_000:
        print(f"EXTRAPOLATED (linear in IDs: 2 RSA private operations per ID pair) to "
              f"10k x 10k: {el * 10_000 / size:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs=2, default=[250, 1000],
                    help="the two row counts of the SecureBoost fits")
    ap.add_argument("--trees", type=int, default=2, help="trees of the SecureBoost fits")
    ap.add_argument("--ablation-rows", type=int, default=200, help="rows of the phe ablation")
    ap.add_argument("--psi-size", type=int, default=5_000, help="IDs per party for PSI")
    args = ap.parse_args()
    print(f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
    t0 = time.perf_counter()
    t = time.perf_counter()
    backends = {name: make_backend(name, key_bits=2048) for name in ("phe", "zpaillier", "ou")}
    print(f"key generation (3 backends): {time.perf_counter() - t:.1f} s")
    rates = bench_rates(backends)
    bench_fits(backends, rates, args.rows, args.trees)
    bench_ablation(backends["phe"], args.ablation_rows)
    bench_psi(args.psi_size)
    print(f"\ntotal {time.perf_counter() - t0:.1f} s, peak RSS {_peak_mib():.0f} MiB, "
          f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
