"""Benchmark of chapter 3 (FSL-BDP): the cost of privacy per step, and one federated round.

Prints, from one run on this machine:

1. a non-private step, a DP-SGD step and a BDP step of the paper's hazard network (batch 32,
   59 inputs, 24 intervals), and the ratios DP / plain and BDP / DP;
2. one federated round (E = 1 local epoch, full participation) on LendingClub-like synthetic
   data with 27 state clients, without privacy and with DP-SGD, in seconds. The paper's scale
   is 1 M training rows; by default we run 100 k rows and extrapolate linearly (the round is
   a sum of per-step costs), saying so in the output. ``--rows 1000000`` runs the real size.

Usage: ``.venv/bin/python bench/bench_survival.py [--rows N] [--steps S]``.

References: Amed, Sen & Banerjee (2026), FSL-BDP, sec. 4.3; chapter 3.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from fedlib.survival.data import prepare_survival, synthetic_survival
from fedlib.survival.federated import SurvivalTrainer, make_model, train_federated
from fedlib.survival.labels import interval_grid, survival_targets


def time_steps(mode: str, X, y, steps: int) -> float:
    """Seconds per optimizer step of ``mode`` (median of three timed epochs of ``steps``)."""
    n = steps * 32
    kw = ({"noise_multiplier": None, "clip_norm": None} if mode == "none"
          else {"noise_multiplier": 1.0, "clip_norm": 1.0})
    times = []
    for rep in range(3):
        tr = SurvivalTrainer(epochs=1, lr=1e-3, batch_size=32, mode=mode, beta=5e-6,
                             gamma=1e-9, n_rows=n, **kw)
        net = make_model(X.shape[1], y.shape[1] // 2, seed=rep, init_hazard=0.006)
        t0 = time.perf_counter()
        tr.train(net, X[:n], y[:n], seed=rep)
        times.append((time.perf_counter() - t0) / steps)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000, help="training rows of the round")
    ap.add_argument("--steps", type=int, default=100, help="steps per timing")
    args = ap.parse_args()
    torch.set_num_threads(1)

    rng = np.random.default_rng(0)
    n = args.steps * 32
    X = rng.normal(size=(n, 59)).astype(np.float32)
    t, e = rng.uniform(0, 24, n), (rng.random(n) < 0.128).astype(int)
    y = np.hstack(survival_targets(t, e, interval_grid(horizon=24, n_intervals=24)))
    time_steps("none", X, y, 10)                            # warm-up (torch.func compiles)
    plain, dp, bdp = (time_steps(m, X, y, args.steps) for m in ("none", "dp", "bdp"))
    print(f"per step (batch 32): plain {plain * 1e3:.2f} ms, DP-SGD {dp * 1e3:.2f} ms, "
          f"BDP {bdp * 1e3:.2f} ms")
    print(f"ratio DP-SGD / plain = {dp / plain:.2f}x, BDP / DP-SGD = {bdp / dp:.2f}x")

    paper_rows = 1_000_000
    scale = args.rows / 0.8 / 1_660_791                     # 80 % of loans train in-time
    ds = synthetic_survival("lendingclub", scale=scale, seed=0, keep_truth=False)
    data = prepare_survival(ds, seed=0)
    n_train = sum(c.n_train for c in data.clients)
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
