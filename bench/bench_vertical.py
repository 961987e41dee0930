"""Benchmark the chapter-4 vertical stack: homomorphic backends, SecureBoost, PSI.

Prints ratios measured in one run on this machine (all keys 2048-bit unless stated), and the
process's peak resident memory after each part:

1. Rates of the three backends behind :mod:`fedlib.crypto.he` at 2048 bits: ``phe``
   (Paillier, pure Python + gmpy2: fresh ``r^n`` and with precomputed obfuscators), HEU's
   ``zpaillier`` (Paillier in C++) and HEU's ``ou`` (Okamoto–Uchiyama): encryptions/s,
   decryptions/s, additions/s, and multiplications by ``2^slot_bits`` (the multi-bucket
   packing step) per second.
2. SecureBoost fits on the same rows at growing row counts (250, 500, 1000) with each
   backend, against the plaintext histogram GBDT (same trees, checked) and ``xgboost``
   (``tree_method="hist"``), and against each backend's *crypto floor*: the encryptions and
   decryptions the fit needed, timed at the rates of part 1. The performance page plots
   fit time against rows from this sweep.
3. SecureBoost ablation on ``phe`` (1 tree): the naive scheme (two ciphertexts per row, fresh
   ``r^n``, one decryption per bucket and channel, no subtraction) against each optimisation
   alone and all together; the process pool (``n_jobs=2``) uses spawned workers.
4. RSA-2048 blind-signature PSI, 5k x 5k IDs, extrapolated linearly to 10k x 10k and
   labelled as such (``--psi-size 10000`` measures it directly).

Run: ``.venv/bin/python bench/bench_vertical.py`` (about 3 minutes on 2 shared cores;
``--quick``: 1024-bit demo keys, 100/200/400 rows, 1 tree, no process pool, 1,000 IDs, a
check of the script in about a minute). Each part writes its summary (:func:`fedlib.book.bench.write_bench_summary`):
``bench/results/he_backends.json``, ``secureboost.json``, ``secureboost_ablation.json`` and
``psi.json``.

References: paper 003 §3.1, §3.3; Cheng et al. 2021. Introduced in chapter 4.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np

from fedlib.book.bench import write_bench_summary
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


def bench_rates(backends: dict, key_bits: int, tag: str = "") -> dict:
    """Operations per second of each backend (one core unless the library threads)."""
    slot = GHPacker(max_rows=2500, h_bound=0.25).slot_bits
    print(f"== Homomorphic backends, {key_bits}-bit keys (phe with gmpy2={HAVE_GMPY2}); "
          f"packing shift = 2^{slot}")
    print(f"{'backend':10s} {'scheme':17s} {'enc/s':>9s} {'enc/s precomp':>13s} {'dec/s':>8s} "
          f"{'add/s':>9s} {'shift/s':>8s} {'bits/plaintext':>14s}")
    rates, rows = {}, []
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
        reps, rows_idx, one_bin = 20, np.arange(m), np.zeros((m, 1), int)
        t = time.perf_counter()
        for _ in range(reps):
            he.bucket_sums(cts, rows_idx, one_bin, 1)  # m - 1 ciphertext additions
        add = reps * (m - 1) / (time.perf_counter() - t)
        k = 4
        t = time.perf_counter()
        he.pack(cts, k, slot)  # (k - 1) shifts per group of k
        sh = m * (k - 1) / k / (time.perf_counter() - t)
        # The floor counts fresh encryptions: precomputing r^n moves that work, not removes it.
        rates[name] = {"enc": enc, "dec": dec}
        rows.append({"backend": name, "scheme": SCHEMES[name], "key_bits": key_bits,
                     "enc_per_s": enc, "enc_per_s_precomputed": pre, "dec_per_s": dec,
                     "add_per_s": add, "shift_per_s": sh, "plaintext_bits": he.plaintext_bits})
        print(f"{name:10s} {SCHEMES[name]:17s} {enc:9.0f} {pre:13.0f} {dec:8.0f} {add:9.0f} "
              f"{sh:8.0f} {he.plaintext_bits:14d}")
    base = rates["phe"]
    for name in ("zpaillier", "ou"):
        print(f"{name} vs phe: encryption {rates[name]['enc'] / base['enc']:.1f}x (phe with "
              f"fresh r^n), decryption {rates[name]['dec'] / base['dec']:.1f}x")
    print(f"peak RSS {_peak_mib():.0f} MiB")
    write_bench_summary(
        "he_backends", f"Homomorphic backends: operations per second ({key_bits}-bit keys){tag}",
        rows, script="bench/bench_vertical.py",
        headline={"metric": "HEU ZPaillier / phe encryption rate (fresh r^n)",
                  "value": rates["zpaillier"]["enc"] / base["enc"], "unit": "×"})
    return rates


def _fit_row(n, model, backend, fit, **extra) -> dict:
    return {"rows": n, "model": model, "backend": backend, "fit_s": fit, **extra}


def bench_fits(backends: dict, rates: dict, sizes: list[int], trees: int,
               key_bits: int, tag: str = "") -> list[dict]:
    """SecureBoost per backend vs plaintext GBDT and xgboost on the same rows, per row count."""
    import xgboost as xgb

    p = dict(n_estimators=trees, max_depth=3, learning_rate=0.3, reg_lambda=1.0, gamma=0.0,
             min_child_weight=1.0, max_bins=16)
    out = []
    for n in sizes:
        X, y = _data(n)
        print(f"\n== SecureBoost fit: {n} rows, 2 active + 3 passive features, 16 bins, depth 3, "
              f"{trees} trees, {key_bits}-bit keys")
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
        out += [_fit_row(n, "plaintext HistGBDT", "plaintext", t_ref),
                _fit_row(n, "XGBoost (hist)", "plaintext", t_xgb)]
        fits = {}
        for name, he in backends.items():
            sb = SecureBoost(**p, keypair=he).fit(X[:, :2], y, passive={"grid": X[:, 2:]})
            tm = sb.timings_
            fit = tm["fit_s"] - tm["keygen_s"]  # keys reused across fits
            floor = n * trees / rates[name]["enc"] + tm["n_decryptions"] / rates[name]["dec"]
            same = bool(np.allclose(sb.predict_margin(X[:, :2], passive={"grid": X[:, 2:]}),
                                    m_ref, atol=1e-6))
            fits[name] = fit
            out.append(_fit_row(n, f"SecureBoost ({name})", name, fit,
                                offline_s=tm.get("precompute_s", 0.0),
                                decryptions=tm["n_decryptions"], floor_s=floor,
                                x_histgbdt=fit / t_ref, x_xgboost=fit / t_xgb, same_trees=same))
            print(f"{'SecureBoost ' + name:22s} {fit:8.2f} {tm.get('precompute_s', 0.0):9.2f} "
                  f"{tm['n_decryptions']:8d} {floor:8.2f} {fit / floor:7.1f} "
                  f"{fit / t_ref:10,.0f} {fit / t_xgb:9,.0f} {same}", flush=True)
        print(f"ratios: phe / zpaillier {fits['phe'] / fits['zpaillier']:.1f}x, "
              f"zpaillier / ou {fits['zpaillier'] / fits['ou']:.1f}x   "
              f"peak RSS {_peak_mib():.0f} MiB")
    big = max(sizes)
    head = next(r for r in out if r["rows"] == big and r["backend"] == "zpaillier")
    write_bench_summary(
        "secureboost", f"SecureBoost fit time against rows, per homomorphic backend, and "
        f"plaintext boosting ({trees} trees, depth 3, 16 bins, {key_bits}-bit keys){tag}", out,
        script="bench/bench_vertical.py",
        headline={"metric": "SecureBoost (HEU ZPaillier) / plaintext HistGBDT fit time",
                  "case": f"{big:,} rows", "value": head["x_histgbdt"], "unit": "×"})
    return out


def bench_ablation(kp, n: int, key_bits: int, pool: bool = True, tag: str = "") -> None:
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
    if not pool:  # spawning workers costs seconds whatever the size: not for a quick check
        configs = [c for c in configs if "pool" not in c[0]]
    print(f"\n== SecureBoost ablation (phe): {n} rows, 2 active + 3 passive features, 16 bins, "
          f"depth 3, 1 tree, Paillier {key_bits}")
    print(f"{'config':26s} {'online s':>9s} {'offline s':>9s} {'encrypt':>8s} {'hist':>7s} "
          f"{'decrypt':>8s} {'speed-up online':>16s}")
    base, rows = None, []
    for name, extra in configs:
        sb = SecureBoost(**kw, **extra).fit(X[:, :2], y, passive={"grid": X[:, 2:]})
        tm = sb.timings_
        base = base or tm["online_s"]
        rows.append({"config": name, "online_s": tm["online_s"],
                     "offline_s": tm.get("precompute_s", 0.0), "encrypt_s": tm["encrypt_s"],
                     "histogram_s": tm["histogram_s"], "decrypt_s": tm["decrypt_s"],
                     "speedup": base / tm["online_s"]})
        print(f"{name:26s} {tm['online_s']:9.2f} {tm.get('precompute_s', 0.0):9.2f} "
              f"{tm['encrypt_s']:8.2f} {tm['histogram_s']:7.3f} {tm['decrypt_s']:8.2f} "
              f"{base / tm['online_s']:15.1f}x", flush=True)
    print("(packing = g, h and count in one slot AND as many bucket sums per ciphertext as fit; "
          "the pool starts spawned workers, a fixed cost at this size)")
    print(f"peak RSS {_peak_mib():.0f} MiB")
    best = next(r for r in rows if r["config"] == "all (no pool)")
    write_bench_summary(
        "secureboost_ablation", f"SecureBoost optimisations on phe ({n} rows, 1 tree, "
        f"Paillier {key_bits}): online time against the naive scheme{tag}", rows,
        script="bench/bench_vertical.py",
        headline={"metric": "naive / all optimisations online time (phe)",
                  "value": best["speedup"], "unit": "×"})


def bench_psi(size: int, key_bits: int, demo: bool = False, tag: str = "") -> None:
    rng = np.random.default_rng(0)
    pool = rng.permutation(10 * size)
    bank = [f"C{i:08d}" for i in pool[:size]]
    grid = [f"C{i:08d}" for i in pool[size // 2: size // 2 + size]]
    t = time.perf_counter()
    res = rsa_blind_psi(bank, grid, key_bits=key_bits, demo=demo)
    el = time.perf_counter() - t
    print(f"\n== RSA-{key_bits} blind-signature PSI, {size:,} x {size:,} IDs "
          f"({len(res.intersection['bank']):,} common)")
    print(f"time {el:.2f} s  ({', '.join(f'{k} {v:.2f}' for k, v in res.timings.items())})")
    print(f"bytes on the wire {res.sizes['total']:,}")
    extrapolated = el * 10_000 / size
    if size < 10_000:
        print(f"EXTRAPOLATED (linear in IDs: 2 RSA private operations per ID pair) to "
              f"10k x 10k: {extrapolated:.1f} s")
    write_bench_summary(
        "psi", f"RSA-{key_bits} blind-signature PSI{tag}", [
            {"ids_per_party": size, "common": len(res.intersection["bank"]), "seconds": el,
             "bytes": res.sizes["total"], "us_per_id": el / size * 1e6,
             "seconds_at_10k_linear": extrapolated}],
        script="bench/bench_vertical.py",
        headline={"metric": "PSI time per ID", "case": f"{size:,} x {size:,} IDs",
                  "value": el / size * 1e6, "unit": "µs"})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[250, 500, 1000],
                    help="the row counts of the SecureBoost fits (the sweep)")
    ap.add_argument("--trees", type=int, default=2, help="trees of the SecureBoost fits")
    ap.add_argument("--ablation-rows", type=int, default=200, help="rows of the phe ablation")
    ap.add_argument("--psi-size", type=int, default=5_000, help="IDs per party for PSI")
    ap.add_argument("--key-bits", type=int, default=2048, help="key size of every scheme")
    ap.add_argument("--quick", action="store_true", help="1024-bit keys, 100/200/400 rows, "
                    "1 tree, 100 ablation rows without the process pool, 1,000 IDs: a check of the script")
    args = ap.parse_args()
    if args.quick:
        args.rows, args.trees, args.ablation_rows, args.psi_size, args.key_bits = (
            [100, 200, 400], 1, 100, 1_000, 1024)
    print(f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
    t0 = time.perf_counter()
    t = time.perf_counter()
    demo = args.key_bits < 2048  # below 2048 bits only as a check, never as a measurement
    backends = {name: make_backend(name, key_bits=args.key_bits, demo=demo)
                for name in ("phe", "zpaillier", "ou")}
    print(f"key generation (3 backends): {time.perf_counter() - t:.1f} s")
    tag = " [--quick check]" if args.quick else ""  # so no page mistakes it for the bench
    rates = bench_rates(backends, args.key_bits, tag)
    bench_fits(backends, rates, args.rows, args.trees, args.key_bits, tag)
    bench_ablation(backends["phe"], args.ablation_rows, args.key_bits, not args.quick, tag)
    bench_psi(args.psi_size, args.key_bits, demo, tag)
    print(f"\ntotal {time.perf_counter() - t0:.1f} s, peak RSS {_peak_mib():.0f} MiB, "
          f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
