"""Benchmark of chapter 3 (FSL-BDP): the cost of privacy per step, and one federated round.

Prints, from one run on this machine:

1. per optimizer step of the paper's hazard network (59 inputs, 24 intervals, ~24,000
   parameters), at the chapter's private batch (256) and the paper's batch (32): a
   non-private step, a DP-SGD step and a BDP step (M = 10 neighbours), each private step on
   both per-example gradient paths (``grad_path="ghost"``, the default: the ``linear``
   backend's per-layer factors, BDP distances from their Gram matrix; ``grad_path="vmap"``:
   the ``[B, P]`` matrix from ``torch.func``), all on the one DP step of
   :func:`fedlib.privacy.dp_step.dp_step`; the ratios DP / plain and BDP / DP with the goal
   BDP ≤ 1.5 × DP, and vmap / ghost; and the peak resident memory each configuration adds
   (Linux VmHWM, reset at the start of a short run in a forked child, after a tiny warm-up
   run so that lazy imports are not counted). Configurations are timed interleaved (ABC ABC
   ...) on the same seeded Poisson batches and the median of the process's CPU time is
   reported (wall-clock time on a shared machine counts other processes' work), so the ratios
   are measured under the same load. Beside them, timed in the same interleaved loop, the
   noise floor: :func:`~fedlib.privacy.dp_step.dp_step` of an empty batch (Opacus'
   secure-mode noise for the ~24,000 parameters, four Gaussian draws per coordinate, halved
   and divided), printed as "noise floor: x.xx× plain step" — the part of a DP step that no
   per-example gradient path can remove. Below each table, what the BDP ghost step adds to
   the DP ghost step, split into its Bayesian costs (the accountant's ``|orders| x M``
   log-sum-exps, computed in blocks by the trainer's deferring accountant) and its ``M``
   pair distances (the Gram matmuls of ``2M`` rows), both timed in place during the same
   interleaved runs, and the rest (the draws, ``M`` extra rows through the net): the parts
   that do not shrink with the batch. The step rows (``model, backend, batch, plain_us,
   dp_us, bdp_us, ratio, bdp_ratio, noise_us, noise_ratio, bdp_accountant_us,
   bdp_pairs_us``; ``ratio`` = DP / plain, ``bdp_ratio`` = BDP / DP, ``noise_ratio`` = noise
   floor / plain; the last two are the ghost rows' BDP parts) also go to
   ``bench/results/survival.json`` (:func:`fedlib.book.bench.write_bench_summary`);
2. one federated round (E = 1 local epoch, full participation) on LendingClub-like synthetic
   data with 27 state clients, without privacy and with DP-SGD, in seconds. The paper's scale
   is 1 M training rows; by default we run 100 k rows and extrapolate linearly (the round is
   a sum of per-step costs), saying so in the output. ``--rows 1000000`` runs the real size;
   ``--rows 0`` skips the round.

Usage: ``.venv/bin/python bench/bench_survival.py [--rows N] [--steps S] [--reps R]``.

References: Amed, Sen & Banerjee (2026), FSL-BDP, sec. 4.3; chapter 3.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np
import torch

from fedlib.book.bench import peak_kib, peak_kib_reset, write_bench_summary
from fedlib.privacy.dp_step import dp_step
from fedlib.privacy.randomness import mechanism_generator
from fedlib.survival import federated
from fedlib.survival.data import prepare_survival, synthetic_survival
from fedlib.survival.federated import SurvivalTrainer, make_model, train_federated
from fedlib.survival.labels import interval_grid, survival_targets

N_FEATURES, N_INTERVALS = 59, 24


#: (label, mode, grad_path)
CONFIGS = [("plain", "none", "ghost"), ("DP ghost", "dp", "ghost"), ("DP vmap", "dp", "vmap"),
           ("BDP ghost", "bdp", "ghost"), ("BDP vmap", "bdp", "vmap")]
BDP_GOAL = 1.5


class _PartClock:
    """CPU seconds spent inside the BDP step's two own parts during one training call.

    ``accountant``: the Bayesian costs (:meth:`BayesianAccountant.flush`, which the trainer's
    deferring accountant calls every ``BDP_COST_BLOCK`` steps and at the end of ``train``);
    ``pairs``: the ``M`` pair distances (:func:`neighbour_pair_distances`). Both are timed in
    place (process CPU time around the call), so they are parts of the timed call, not extra
    runs; the wrapper costs two clock reads per call.
    """

    def __init__(self, trainer) -> None:
        self.accountant = self.pairs = 0.0
        acc = trainer.bdp_accountant
        flush = acc.flush

        def timed_flush():
            t0 = time.process_time()
            out = flush()
            self.accountant += time.process_time() - t0
            return out

        acc.flush = timed_flush            # the instance's own step() calls self.flush()
        self._pairs = federated.neighbour_pair_distances

    def __enter__(self):
        inner = self._pairs

        def timed_pairs(*a, **kw):
            t0 = time.process_time()
            out = inner(*a, **kw)
            self.pairs += time.process_time() - t0
            return out

        federated.neighbour_pair_distances = timed_pairs
        return self

    def __exit__(self, *exc) -> None:
        federated.neighbour_pair_distances = self._pairs


def _train_once(mode, grad_path, X, y, batch, rep, parts: dict | None = None
                ) -> tuple[float, int]:
    """CPU seconds of one call of ``steps`` steps (Poisson batches seeded by ``rep``), and
    steps; with ``parts`` (BDP), the per-step seconds of its accountant and pair distances
    are appended there."""
    n = X.shape[0]
    kw = ({"noise_multiplier": None, "clip_norm": None} if mode == "none"
          else {"noise_multiplier": 1.0, "clip_norm": 1.0})
    tr = SurvivalTrainer(epochs=1, lr=1e-3, batch_size=batch, mode=mode, beta=5e-6, gamma=1e-9,
                         n_rows=n, noise_seed=rep, grad_path=grad_path, n_neighbours=10, **kw)
    net = make_model(N_FEATURES, N_INTERVALS, seed=rep, init_hazard=0.006)
    # CPU time of this process (one torch thread): on a shared machine, wall-clock time
    # would also count the other processes' work.
    if parts is None:
        t0 = time.process_time()
        stats = tr.train(net, X, y, seed=rep)
        return time.process_time() - t0, stats.steps
    with _PartClock(tr) as clock:
        t0 = time.process_time()
        stats = tr.train(net, X, y, seed=rep)
        sec = time.process_time() - t0
    parts["accountant"].append(clock.accountant / stats.steps)
    parts["pairs"].append(clock.pairs / stats.steps)
    return sec, stats.steps


def _noise_once(n_rows, batch, rep) -> tuple[float, int]:
    """CPU seconds of as many noise releases (``dp_step`` of an empty batch) as a training
    call has steps, and that number of steps."""
    params = list(make_model(N_FEATURES, N_INTERVALS, seed=rep, init_hazard=0.006).parameters())
    gen, steps = mechanism_generator(rep, seed=rep), math.ceil(n_rows / batch)
    t0 = time.process_time()
    for _ in range(steps):
        dp_step(None, params, clip_norm=1.0, noise_multiplier=1.0, expected_batch_size=batch,
                generator=gen)
    return time.process_time() - t0, steps


def _peak_extra_mib(mode, path, X, y, batch) -> float | None:
    """Peak resident memory one short call adds, in a forked child (a fresh allocator state,
    so configurations do not hide in memory an earlier one left mapped)."""
    if not hasattr(os, "fork") or peak_kib() is None:
        return None
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                         # child
        try:
            os.close(r)
            base = peak_kib_reset()
            _train_once(mode, path, X, y, batch, 0)
            peak = peak_kib()
            os.write(w, str(-1 if base is None else peak - base).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        out = f.read()
    os.waitpid(pid, 0)
    return None if not out or int(out) < 0 else int(out) / 1024


def step_table(X, y, batch: int, reps: int) -> dict[str, tuple[float, float | None]]:
    """Per-step seconds (median over ``reps`` interleaved calls) and peak extra MiB."""
    for _, mode, path in CONFIGS:      # lazy imports and kernel set-up, on a tiny batch
        _train_once(mode, path, X[:16], y[:16], 4, 0)
    mem = {label: _peak_extra_mib(mode, path, X[: batch * 4], y[: batch * 4], batch)
           for label, mode, path in CONFIGS}
    for _, mode, path in CONFIGS:                        # warm-up
        _train_once(mode, path, X[: batch * 2], y[: batch * 2], batch, 0)
    _noise_once(batch * 2, batch, 0)
    times: dict[str, list[float]] = {label: [] for label, _, _ in CONFIGS}
    times["noise floor"] = []
    parts: dict[str, list[float]] = {"accountant": [], "pairs": []}
    for rep in range(reps):
        for label, mode, path in CONFIGS:
            sec, steps = _train_once(mode, path, X, y, batch, rep,
                                     parts if label == "BDP ghost" else None)
            times[label].append(sec / steps)
        sec, steps = _noise_once(X.shape[0], batch, rep)
        times["noise floor"].append(sec / steps)
    mem["noise floor"] = None
    out = {label: (float(np.median(t)), mem[label]) for label, t in times.items()}
    for part, t in parts.items():
        out[f"BDP {part}"] = (float(np.median(t)), None)
    return out


def print_table(batch: int, res: dict[str, tuple[float, float | None]], n_params: int
                ) -> list[dict]:
    """Print one batch size's table; return its rows for the bench summary."""
    ms = {k: v[0] * 1e3 for k, v in res.items()}
    print(f"\nper step, Poisson batch ~{batch} ({n_params:,} parameters; the [B, P] float32 "
          f"per-example matrix is {batch * n_params * 4 / 2**20:.1f} MiB):")
    for label, (sec, mib) in res.items():
        if label in ("BDP accountant", "BDP pairs"):
            continue
        m = "n/a" if mib is None else f"{mib:6.1f} MiB"
        print(f"  {label:<11} {sec * 1e3:8.2f} ms   peak extra memory {m}")
    floor = ms["noise floor"] / ms["plain"]
    print(f"  noise floor: {floor:.2f}× plain step (Opacus' secure-mode noise alone, "
          f"{ms['noise floor']:.2f} ms)")
    extra, acc, pairs = (ms["BDP ghost"] - ms["DP ghost"], ms["BDP accountant"],
                         ms["BDP pairs"])
    print(f"  BDP ghost over DP ghost: {extra:+.2f} ms = Bayesian costs {acc:.2f} ms "
          f"(accountant: |orders| x M log-sum-exps, fixed in B) + pair distances {pairs:.2f} ms "
          f"(Gram matmuls of 2M rows, fixed in B) + rest {extra - acc - pairs:+.2f} ms "
          "(draws, M extra rows through the net)")
    rows = []
    for path in ("ghost", "vmap"):
        dp, bdp = ms[f"DP {path}"], ms[f"BDP {path}"]
        ok = "met" if bdp / dp <= BDP_GOAL else "not met"
        print(f"  {path:<6} DP / plain {dp / ms['plain']:.2f}x   BDP / DP {bdp / dp:.2f}x "
              f"(goal <= {BDP_GOAL}x: {ok})")
        rows.append({"model": f"hazard net {N_FEATURES}-{N_INTERVALS}",
                     "backend": "linear" if path == "ghost" else "vmap", "batch": batch,
                     "plain_us": round(ms["plain"] * 1e3, 1), "dp_us": round(dp * 1e3, 1),
                     "bdp_us": round(bdp * 1e3, 1), "ratio": round(dp / ms["plain"], 2),
                     "bdp_ratio": round(bdp / dp, 2),
                     "noise_us": round(ms["noise floor"] * 1e3, 1),
                     "bdp_accountant_us": round(acc * 1e3, 1) if path == "ghost" else None,
                     "bdp_pairs_us": round(pairs * 1e3, 1) if path == "ghost" else None,
                     "noise_ratio": round(floor, 2)})
    print(f"  speed-up vmap / ghost: DP {ms['DP vmap'] / ms['DP ghost']:.1f}x   "
          f"BDP {ms['BDP vmap'] / ms['BDP ghost']:.1f}x")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000,
                    help="training rows of the federated round (0: skip it)")
    ap.add_argument("--steps", type=int, default=30, help="steps per timed call")
    ap.add_argument("--reps", type=int, default=5, help="interleaved timed calls per config")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"({os.cpu_count()} cores); torch threads 1")

    rng = np.random.default_rng(0)
    grid = interval_grid(horizon=N_INTERVALS, n_intervals=N_INTERVALS)
    n_params = sum(p.numel() for p in make_model(N_FEATURES, N_INTERVALS, seed=0,
                                                 init_hazard=None).parameters())
    rows = []
    for batch in (256, 32):
        n = args.steps * batch
        X = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
        t, e = rng.uniform(0, 24, n), (rng.random(n) < 0.128).astype(int)
        y = np.hstack(survival_targets(t, e, grid))
        rows += print_table(batch, step_table(X, y, batch, args.reps), n_params)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    # the default backend is the per-layer one (train_local_dp's "auto" for this net)
    default = [r for r in rows if r["backend"] == "linear"]
    worst = max(default, key=lambda r: r["bdp_ratio"])
    headline = {"metric": "BDP / DP step time, default backend, worst case (goal ≤ 1.5×)",
                "value": worst["bdp_ratio"], "unit": "×", "case": f"batch {worst['batch']}"}
    path = write_bench_summary("survival", "Chapter 3: DP and BDP step versus plain step "
                               "(hazard net)", rows, headline=headline)
    print(f"step rows written to {path}")

    if args.rows <= 0:
        return
    paper_rows = 1_000_000
    scale = args.rows / 0.8 / 1_660_791                     # 80 % of loans train in-time
    ds = synthetic_survival("lendingclub", scale=scale, seed=0, keep_truth=False)
    data = prepare_survival(ds, seed=0)
    n_train = sum(c.n_train for c in data.clients)
    print()
    for mode in ("none", "dp"):
        sig = None if mode == "none" else {c.name: 1.0 for c in data.clients}
        t0 = time.perf_counter()
        train_federated(data, mode=mode, rounds=1, local_epochs=1, lr=1e-3, batch_size=32,
                        noise_multipliers=sig, clip_norm=None if mode == "none" else 1.0,
                        seed=0, init_hazard=0.006)
        sec = time.perf_counter() - t0
        extra = "" if n_train >= paper_rows else (
            f" (scaled down; x{paper_rows / n_train:.1f} -> ~{sec * paper_rows / n_train:.0f} s "
            f"at {paper_rows:,} rows, linear extrapolation)")
        print(f"one federated round, {mode:>4}: {len(data.clients)} clients, {n_train:,} "
              f"training rows, E = 1: {sec:.1f} s{extra}")
    print(f"steps per round at 1 M rows: ~{math.ceil(paper_rows / 32):,}")


if __name__ == "__main__":
    main()
