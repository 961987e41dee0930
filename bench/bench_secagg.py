"""Secure aggregation vs. a plaintext round: time, bytes per client, peak memory, in one run.

Usage: ``.venv/bin/python bench/bench_secagg.py [--clients 10] [--dim 10000] [--repeats 3]``.
Times are the median of ``--repeats`` rounds; the ratio is secure / plaintext measured in the
same process. Bytes are what the transcript logged, per client (sent + received) and per
client upload. Peak memory is tracemalloc's peak over one extra round (numpy buffers included). Bytes per
client average over all clients, dropped ones included.

References: Bonawitz et al. (2017) §6 (cost of the protocol); chapter 1.
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--dim", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    names = [f"bank-{i}" for i in range(args.clients)]
    vectors = {c: rng.normal(0, 0.1, size=args.dim) for c in names}
    threshold = args.clients // 2 + 1
    print(f"{args.clients} clients, {args.dim} parameters, t={threshold}, ring Z_2^64, "
          f"median of {args.repeats}")
    print(f"{'dropouts':>8} {'plain ms':>9} {'secagg ms':>10} {'ratio':>7} "
          f"{'plain B/client':>15} {'secagg B/client':>16} {'upload B':>9} "
          f"{'plain peak MB':>14} {'secagg peak MB':>15} {'max |err|':>10}")
    summary = []
    for k in (0, 2):
        dropped = set(names[1:1 + k])
        pt_ms, pt_peak, pt_tr, pt_sum = measure(lambda tr, d=dropped: plaintext_round(vectors, d, tr),
                                                args.repeats)
        sa_ms, sa_peak, sa_tr, sa_sum = measure(
            lambda tr, d=dropped: secure_round(vectors, d, tr, threshold), args.repeats)

        def per_client(tr):
            return np.mean([tr.bytes_sent(sender=c) + tr.bytes_sent(receiver=c) for c in names])

        upload = np.mean([m.nbytes for m in sa_tr if m.kind == "masked"])
        err = float(np.max(np.abs(sa_sum - pt_sum)))
        print(f"{k:>8} {pt_ms:>9.2f} {sa_ms:>10.2f} {sa_ms / pt_ms:>7.1f} "
              f"{per_client(pt_tr):>15,.0f} {per_client(sa_tr):>16,.0f} {upload:>9,.0f} "
              f"{pt_peak / 2**20:>14.2f} {sa_peak / 2**20:>15.2f} {err:>10.2e}")
        summary += [{"case": f"{k} dropouts", "metric": m, "value": v, "unit": u}
                    for m, v, u in [("plaintext round", pt_ms, "ms"), ("secagg round", sa_ms, "ms"),
                                    ("secagg / plaintext", sa_ms / pt_ms, "×"),
                                    ("secagg per client", per_client(sa_tr), "bytes"),
                                    ("secagg peak", sa_peak / 2**20, "MB"),
                                    ("max error", err, "")]]
    # the machine-readable summary the book's performance page reads (fedlib.book.bench)
    write_bench_summary("secagg", f"Secure aggregation round versus plaintext ({args.clients} "
                        f"clients, {args.dim:,} parameters)", summary)


if __name__ == "__main__":
    main()
