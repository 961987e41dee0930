"""Benchmark: one federated aggregation round, plaintext vs CKKS (paper 001, chapter 2).

Five clients, the paper's CKKS parameters (8192, [60, 40, 40, 60], 2^40). For each model size
the script times a plaintext round (numpy sum) and a CKKS round (every client encrypts and
serialises, the server deserialises and adds, a key holder decrypts), reports bytes each
client sends, the ratio CKKS / plaintext, and the process's peak memory. Times are medians of
a few repetitions inside this one run.

A 13-parameter vector is the paper's logistic regression (12 features + bias) and fits one
ciphertext. 10,000 parameters do not fit the 4,096 slots of N = 8192: they are split over
ceil(10000 / 4096) = 3 ciphertexts per client, which is what a larger model would cost with the
paper's parameters.

Run: ``.venv/bin/python bench/bench_ckks.py`` (about 5 s on 2 cores).
"""

from __future__ import annotations

import math
import resource
import statistics
import time
from collections.abc import Callable

import numpy as np
import tenseal as ts

from fedlib.book.bench import write_bench_summary
from fedlib.crypto.ckks import (
    CKKSAggregator,
    CKKSKeyHolder,
    CKKSParams,
    encrypt_vector,
)

N_CLIENTS = 5
SIZES = (13, 10_000)
REPEATS = 5


def _median_ms(fn: Callable[[], object], repeats: int = REPEATS) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), out


def main() -> None:
    params = CKKSParams()
    rng = np.random.default_rng(0)
    keygen_ms, holder = _median_ms(lambda: CKKSKeyHolder(params), repeats=1)
    public = holder.public_context()
    client_ctx = ts.context_from(public)  # each client loads the public context once
    server = CKKSAggregator(public)

    rows = []
    for size in SIZES:
        updates = [rng.uniform(-1, 1, size) for _ in range(N_CLIENTS)]
        n_ct = math.ceil(size / params.slots)
        chunks = [np.array_split(u, n_ct) for u in updates]

        def plain_round(updates=updates):
            payloads = [u.copy() for u in updates]  # what each client would send
            return np.sum(np.stack(payloads), axis=0)

        def encrypt_all(chunks=chunks):
            return [[encrypt_vector(client_ctx, c) for c in client] for client in chunks]

        def server_sum(cts):
            return [server.sum([client[k] for client in cts]) for k in range(len(cts[0]))]

        def decrypt(agg):
            return np.concatenate([holder.decrypt(a) for a in agg])

        plain_ms, plain_sum = _median_ms(plain_round)
        enc_ms, cts = _median_ms(encrypt_all)
        add_ms, agg = _median_ms(lambda cts=cts: server_sum(cts))
        dec_ms, ckks_sum = _median_ms(lambda agg=agg: decrypt(agg))
        total_ms = enc_ms + add_ms + dec_ms
        rows.append({
            "params": size, "ciphertexts/client": n_ct,
            "plain ms": plain_ms, "ckks ms": total_ms, "ratio": total_ms / plain_ms,
            "enc ms (5 clients)": enc_ms, "server add ms": add_ms, "decrypt ms": dec_ms,
            "plain B/client": updates[0].nbytes,
            "ckks B/client": sum(len(c) for c in cts[0]),
            "byte ratio": sum(len(c) for c in cts[0]) / updates[0].nbytes,
            "max abs err": float(np.max(np.abs(ckks_sum - plain_sum))),
            "stated bound": params.error_bound(N_CLIENTS, 1.0),
        })

    print(f"CKKS aggregation round: {N_CLIENTS} clients, poly_modulus_degree="
          f"{params.poly_modulus_degree}, coeff_mod_bit_sizes={list(params.coeff_mod_bit_sizes)}, "
          f"scale=2^{params.scale_bits}; medians of {REPEATS} repeats")
    print(f"key generation {keygen_ms:.1f} ms; public context {len(public):,} B "
          "(sent once to every client and the server)")
    keys = list(rows[0])
    width = max(len(k) for k in keys)
    print(f"{'':<{width}}" + "".join(f"{r['params']:>14,}" for r in rows))
    for k in keys[1:]:
        cells = []
        for r in rows:
            v = r[k]
            if isinstance(v, int):
                cells.append(f"{v:>14,}")
            elif k in ("max abs err", "stated bound"):
                cells.append(f"{v:>14.2e}")
            else:
                cells.append(f"{v:>14.3f}" if v < 100 else f"{v:>14,.0f}")
        print(f"{k:<{width}}" + "".join(cells))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(f"peak memory (ru_maxrss) {peak_mib:.0f} MiB")
    # the machine-readable summary the book's performance page reads (fedlib.book.bench)
    units = {"ciphertexts/client": "", "ratio": "×", "byte ratio": "×", "max abs err": "",
             "stated bound": "", "plain B/client": "bytes", "ckks B/client": "bytes"}
    big = rows[-1]
    write_bench_summary("ckks", "CKKS aggregation round versus plaintext (5 clients)", [
        {"case": f"{r['params']:,} parameters", "metric": k, "value": r[k],
         "unit": units.get(k, "ms")} for r in rows for k in keys[1:]],
        headline={"metric": "CKKS / plaintext round time", "case": f"{big['params']:,} parameters",
                  "value": big["ratio"], "unit": "×"})


if __name__ == "__main__":
    main()
