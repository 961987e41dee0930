"""Secure aggregation vs. a plaintext round as the number of clients grows, in one run.

Usage: ``.venv/bin/python bench/bench_secagg.py [--clients 5 10 20 50] [--dim 10000]
[--repeats 3] [--quick]``.

For each number of clients ``n`` the script runs one round of the book's protocol
(:class:`~fedlib.crypto.secagg.SecureAggregationRound`, threshold ``t = n // 2 + 1``) and a
plaintext sum of the same vectors, without dropouts and with ``max(1, n // 10)`` clients
dropping after the share phase (their pairwise masks are then rebuilt from ``t`` shares).
Times are the median of ``--repeats`` rounds; the ratio is secure / plaintext measured in the
same process. Bytes are what the transcript logged, averaged over all clients (sent +
received, dropped ones included). Peak memory is tracemalloc's peak over one extra round
(numpy buffers included). The pairwise masks make a client's work grow with ``n`` and the
server's with ``n²`` (Bonawitz et al. 2017, §6, Table 1): the sweep shows that growth.

``--quick`` (5, 10, 20 clients, 2,000 parameters, 1 repeat) checks the script in seconds.
Writes ``bench/results/secagg.json`` (:func:`fedlib.book.bench.write_bench_summary`), which
the performance page plots as round time against clients.

References: Bonawitz et al. (2017) §6 (cost of the protocol); chapter 1.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import tracemalloc

import numpy as np

from fedlib.book.bench import write_bench_summary
from fedlib.core.transcript import Transcript
from fedlib.crypto.fixedpoint import FixedPointCodec
from fedlib.crypto.secagg import SecureAggregationRound
from fedlib.fl.protection import PlaintextProtection


def plaintext_round(vectors, dropped, transcript):
    p = PlaintextProtection()
    payloads = [transcript.send(sender=c, receiver="server", kind=p.kind,
                                payload=p.protect(c, v), label="update", round=0)
                for c, v in vectors.items() if c not in dropped]
    return p.recover(p.aggregate(payloads))


def secure_round(vectors, dropped, transcript, threshold):
    r = SecureAggregationRound(list(vectors), threshold=threshold, codec=FixedPointCodec(),
                               transcript=transcript, round=0)
    return r.run(vectors, {"masked": set(dropped)})


def measure(fn, repeats):
    fn(Transcript(keep_payloads=False))  # warm-up: imports, caches
    times, tr, out = [], None, None
    for _ in range(repeats):
        tr = Transcript(keep_payloads=False)
        t0 = time.perf_counter()
        out = fn(tr)
        times.append(time.perf_counter() - t0)
    # Peak memory from a separate traced round: tracemalloc slows allocation down.
    tracemalloc.start()
    fn(Transcript(keep_payloads=False))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return statistics.median(times) * 1e3, peak, tr, out


def one_size(n: int, dim: int, repeats: int, rng) -> list[dict]:
    """Both protocols at ``n`` clients, without and with dropouts: one summary row each."""
    names = [f"bank-{i}" for i in range(n)]
    vectors = {c: rng.normal(0, 0.1, size=dim) for c in names}
    threshold = n // 2 + 1
    rows = []
    for k in (0, max(1, n // 10)):
        dropped = set(names[1:1 + k])
        pt_ms, _, pt_tr, pt_sum = measure(
            lambda tr, d=dropped: plaintext_round(vectors, d, tr), repeats)
        sa_ms, sa_peak, sa_tr, sa_sum = measure(
            lambda tr, d=dropped: secure_round(vectors, d, tr, threshold), repeats)

        def per_client(tr):
            return float(np.mean([tr.bytes_sent(sender=c) + tr.bytes_sent(receiver=c)
                                  for c in names]))

        rows.append({"clients": n, "threshold": threshold, "dropouts": k, "dim": dim,
                     "plain_ms": pt_ms, "secagg_ms": sa_ms, "ratio": sa_ms / pt_ms,
                     "plain_bytes_per_client": per_client(pt_tr),
                     "secagg_bytes_per_client": per_client(sa_tr),
                     "secagg_peak_mib": sa_peak / 2**20,
                     "max_abs_err": float(np.max(np.abs(sa_sum - pt_sum)))})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, nargs="+", default=[5, 10, 20, 50])
    ap.add_argument("--dim", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true",
                    help="5, 10, 20 clients, 2,000 parameters, 1 repeat (a check, seconds)")
    args = ap.parse_args()
    if args.quick:
        args.clients, args.dim, args.repeats = [5, 10, 20], 2_000, 1
    rng = np.random.default_rng(args.seed)
    print(f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}; {args.dim:,} "
          f"parameters, t = n // 2 + 1, ring Z_2^64, median of {args.repeats}")
    print(f"{'clients':>7} {'dropouts':>8} {'plain ms':>9} {'secagg ms':>10} {'ratio':>7} "
          f"{'plain B/client':>15} {'secagg B/client':>16} {'secagg peak MB':>15} "
          f"{'max |err|':>10}")
    rows, t0 = [], time.perf_counter()
    for n in args.clients:
        for r in one_size(n, args.dim, args.repeats, rng):
            rows.append(r)
            print(f"{r['clients']:>7} {r['dropouts']:>8} {r['plain_ms']:>9.2f} "
                  f"{r['secagg_ms']:>10.1f} {r['ratio']:>7.0f} "
                  f"{r['plain_bytes_per_client']:>15,.0f} {r['secagg_bytes_per_client']:>16,.0f} "
                  f"{r['secagg_peak_mib']:>15.2f} {r['max_abs_err']:>10.2e}", flush=True)
    print(f"total {time.perf_counter() - t0:.1f} s")
    top = max(rows, key=lambda r: (r["clients"], r["dropouts"]))
    # the machine-readable summary the performance page and the README read (fedlib.book.bench)
    write_bench_summary(
        "secagg", f"Secure aggregation round versus plaintext sum ({args.dim:,} parameters)"
        + (" [--quick check]" if args.quick else ""),
        rows, headline={"metric": "secure aggregation / plaintext round time",
                        "case": f"{top['clients']} clients, {top['dropouts']} dropped",
                        "value": top["ratio"], "unit": "×"})


if __name__ == "__main__":
    main()
