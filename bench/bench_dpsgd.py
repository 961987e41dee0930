"""DP-SGD step vs non-private step, measured in one run (chapter 2's logistic regression, an MLP).

Times the per-step cost of ``train_local_dp`` (Opacus hooks and functorch per-example
gradients, clipping, noise, accounting) against ``train_local`` on the same batches, and the
peak resident memory each configuration adds (Linux VmHWM, reset before each run; the
allocator reuses freed memory, so later runs can show less than they use) next to the size of
the per-example gradients DP-SGD materialises (batch × parameters × 4 bytes).

Run: ``.venv/bin/python bench/bench_dpsgd.py`` (about 15 s on 2 cores).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from fedlib.book.bench import peak_kib, peak_kib_reset
from fedlib.privacy.accountants import PartyAccountant
from fedlib.privacy.dpsgd import train_local, train_local_dp

N_ROWS, N_FEATURES = 300, 13


def _models() -> dict[str, Callable[[], nn.Module]]:
    def logreg() -> nn.Module:
        torch.manual_seed(0)  # bench-local: same initial weights for every configuration
        return nn.Linear(N_FEATURES, 1)

    def mlp() -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(N_FEATURES, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(),
                             nn.Linear(32, 1))

    return {"logreg": logreg, "mlp 13-64-32-1": mlp}


def _run(kind: str, make, X, y, batch_size, epochs):
    model = make()
    base = peak_kib_reset()
    if kind == "plain":
        stats = train_local(model, X, y, epochs=epochs, lr=0.1, batch_size=batch_size, seed=0)
    else:
        stats = train_local_dp(model, X, y, epochs=epochs, lr=0.1, noise_multiplier=1.0,
                               clip_norm=1.0, batch_size=batch_size, noise_seed=0,
                               accountant=PartyAccountant(), seed=0, grad_sample_mode=kind)
    peak = peak_kib()
    extra = None if base is None or peak is None else max(0, peak - base)
    return stats.seconds / stats.steps, extra


def main() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N_ROWS, N_FEATURES)).astype(np.float32)
    y = (X[:, 0] + 0.5 * rng.normal(size=N_ROWS) > 0).astype(np.float32)
    print(f"torch threads: {torch.get_num_threads()}; {N_ROWS} rows, {N_FEATURES} features")
    header = (f"{'model':<16}{'batch':>6}{'mode':>11}{'µs/step':>10}{'× plain':>9}"
              f"{'peak +KiB':>11}{'grad_sample KiB':>17}")
    print(header)
    print("-" * len(header))
    t0 = time.perf_counter()
    for name, make in _models().items():
        for batch_size, label, epochs in [(None, "300", 400), (64, "64", 80)]:
            _run("plain", make, X, y, batch_size, 5)  # warm-up (lazy imports, allocator)
            _run("hooks", make, X, y, batch_size, 5)
            plain = None
            n_params = sum(p.numel() for p in make().parameters())
            per_sample_kib = (batch_size or N_ROWS) * n_params * 4 / 1024
            for kind in ("plain", "hooks", "functorch"):
                # Best of three: the machine is shared, and the minimum is the least disturbed.
                sec, extra = min(_run(kind, make, X, y, batch_size, epochs) for _ in range(3))
                plain = plain or sec
                print(f"{name:<16}{label:>6}{kind:>11}{sec * 1e6:>10.0f}{sec / plain:>9.2f}"
                      f"{'n/a' if extra is None else extra:>11}"
                      f"{per_sample_kib if kind != 'plain' else 0:>17.0f}")
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
