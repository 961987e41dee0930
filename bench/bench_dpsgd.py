"""DP-SGD step vs non-private step, per per-example-gradient backend, measured in one run.

For chapter 2's logistic regression (13 features), chapter 1's MLP (13-64-32-1) and chapter
3's hazard network (59 inputs, 128-64-64-32-32, 24 intervals, its eq. 1 loss), at batch sizes
16, 64, 256 and 1024, times

* a plain step: forward, backward of the mean loss, SGD step (:func:`train_local`'s body);
* a DP step per backend of :mod:`fedlib.privacy.per_example` (``closed_form`` where it
  fits, ``linear``, ``vmap``): per-example gradients, :func:`fedlib.privacy.dp_step.dp_step`
  (clip, sum, secure-mode noise, division, one accountant record) and the SGD step (the body
  of ``train_local_dp``'s loop); and ``opacus``: ``GradSampleModule`` + ``DPOptimizer``
  (``pre_step`` with the accountant's hook, then SGD), the reference;

* the noise floor: :func:`~fedlib.privacy.dp_step.dp_step` of an empty batch (Opacus'
  secure-mode noise for every parameter — four Gaussian draws per coordinate plus the one it
  throws away per parameter — its halving and the division), the part of a DP step no
  per-example backend can remove;

and prints µs per step, the ratio DP / plain, whether the goal DP ≤ 2 × plain is met and,
per model and batch, "noise floor: x.xx× plain step" (the floor's time over the plain
step's): where the floor is above 1× the goal leaves less than one plain step for the
per-example pass, the clipping and the optimizer. ``auto`` marks the backend
``train_local_dp`` picks by default. All configurations step on the
same pre-drawn batches of exactly B rows (the Poisson sampler's one ``torch.rand(n)`` per step
is left out of both sides); each time is the process's CPU time per step (one torch thread;
on a shared machine wall-clock time would count other processes' work), the best of five
interleaved repetitions. The rows
(``model, backend, batch, plain_us, dp_us, ratio, noise_us, noise_ratio``) also go to ``bench/results/dpsgd.json``
(:func:`fedlib.book.bench.write_bench_summary`) for the performance page's cost curve.

For the hazard net at B = 16, where the DP step is furthest from its goal, it also prints the
step phase by phase (:func:`breakdown`: per-example pass, norms and clip factors, clipped
sum, noise, then division, accountant and optimizer; each timed inside the whole step), in
µs, as a multiple of the plain step and with the number of torch calls it makes from
Python: what a DP step there is made of.

Run: ``.venv/bin/python bench/bench_dpsgd.py [--quick]`` (about a minute on 2 cores).

References: Abadi et al. 2016, Alg. 1; paper 000 eq. 2, paper 001 §4.3, paper 002 eq. 5.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from fedlib.book.bench import write_bench_summary
from fedlib.fl.models import MLP, LogisticRegression
from fedlib.privacy.accountants import PartyAccountant
from fedlib.privacy.dp_step import _secure_noise_sum, clip_factors, dp_step
from fedlib.privacy.per_example import make_backend, resolve_backend
from fedlib.privacy.randomness import mechanism_generator
from fedlib.survival.federated import make_model, nll_sum_gradient
from fedlib.survival.labels import interval_grid, survival_targets
from fedlib.survival.likelihood import discrete_time_nll

BATCHES = (16, 64, 256, 1024)
GOAL = 2.0
BUDGET_S = 0.12             # seconds of stepping per measurement (after a 3-step probe)


def _bce(out, y):
    return nn.functional.binary_cross_entropy_with_logits(out, y.reshape(out.shape),
                                                          reduction="sum")


def _nll(out, ss, sf):
    return discrete_time_nll(out, ss, sf, reduction="sum")


def _binary_data(n, d, rng):
    X = torch.tensor(rng.normal(size=(n, d)), dtype=torch.float32)
    y = (X[:, 0] + 0.5 * torch.tensor(rng.normal(size=n), dtype=torch.float32) > 0).float()
    return X, (y,)


def _survival_data(n, d, rng, T=24):
    X = torch.tensor(rng.normal(size=(n, d)), dtype=torch.float32)
    t, e = rng.uniform(0, T, n), (rng.random(n) < 0.13).astype(int)
    ss, sf = survival_targets(t, e, interval_grid(horizon=T, n_intervals=T))
    return X, (torch.tensor(ss, dtype=torch.float32), torch.tensor(sf, dtype=torch.float32))


#: The loss gradient chapter 3's trainer gives the hazard net's ``linear`` backend, so that
#: the bench times the chapter's step.
LOSS_GRADS = {"hazard net 59-24": nll_sum_gradient}

#: label -> (model factory, summed loss, loss name for closed_form, data, backends)
MODELS: dict[str, tuple[Callable[[], nn.Module], Callable, str | None, Callable, tuple]] = {
    "logreg 13": (lambda: LogisticRegression(13, seed=0), _bce, "bce",
                  lambda n, rng: _binary_data(n, 13, rng),
                  ("closed_form", "linear", "vmap", "opacus")),
    "mlp 13-64-32-1": (lambda: MLP(13, (64, 32), seed=0), _bce, "bce",
                       lambda n, rng: _binary_data(n, 13, rng), ("linear", "vmap", "opacus")),
    "hazard net 59-24": (lambda: make_model(59, 24, seed=0, init_hazard=0.006), _nll, None,
                         lambda n, rng: _survival_data(n, 59, rng),
                         ("linear", "vmap", "opacus")),
}


def _plain_stepper(make, loss, batches):
    model = make()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def step(i):
        X, targets = batches[i % len(batches)]
        opt.zero_grad(set_to_none=True)
        (loss(model(X), *targets) / len(X)).backward()
        opt.step()

    return step, lambda: None


def _dp_stepper(label, make, loss, loss_name, backend, batches):
    model = make()
    params = list(model.parameters())
    gen, acc = mechanism_generator(0, seed=0), PartyAccountant()
    B = len(batches[0][0])
    if backend == "opacus":
        from opacus import GradSampleModule
        from opacus.optimizers import DPOptimizer

        gsm = GradSampleModule(model, loss_reduction="sum")
        opt = DPOptimizer(torch.optim.SGD(params, lr=0.01), noise_multiplier=1.0,
                          max_grad_norm=1.0, expected_batch_size=B, loss_reduction="mean",
                          generator=gen, secure_mode=True)
        acc.attach(opt, sample_rate=0.25)

        def step(i):
            X, targets = batches[i % len(batches)]
            opt.zero_grad(set_to_none=True)
            loss(gsm(X), *targets).backward()
            if opt.pre_step():
                opt.original_optimizer.step()

        return step, gsm._close
    grads_of = make_backend(model, loss, backend=backend, loss_name=loss_name,
                            probe=batches[0][0], loss_grad=LOSS_GRADS.get(label))
    opt = torch.optim.SGD(params, lr=0.01)

    def step(i):
        X, targets = batches[i % len(batches)]
        noisy = dp_step(grads_of(X, *targets), params, clip_norm=1.0, noise_multiplier=1.0,
                        expected_batch_size=B, generator=gen, accountant=acc,
                        sample_rate=0.25)
        for p, g in zip(params, noisy, strict=True):
            p.grad = g
        opt.step()

    return step, grads_of.close


def _noise_stepper(make, batches):
    """The secure-mode noise release alone: ``dp_step`` of an empty batch."""
    params = list(make().parameters())
    gen, B = mechanism_generator(0, seed=0), len(batches[0][0])

    def step(i):
        dp_step(None, params, clip_norm=1.0, noise_multiplier=1.0, expected_batch_size=B,
                generator=gen)

    return step, lambda: None


#: The hazard net at B = 16: where the DP step is furthest from its goal, so the bench breaks
#: its step down.
BREAKDOWN = ("hazard net 59-24", 16)


PHASES = ("per-example pass", "norms + clip factors", "clipped sum", "noise",
          "divide, accountant, optimizer")


def _phased_step(label, make, loss, batches):
    """The ``linear`` backend's DP step, cut into :data:`PHASES`.

    ``step(i, clock)`` makes exactly the calls of :func:`~fedlib.privacy.dp_step.dp_step`
    and ``_dp_stepper``'s loop, calling ``clock(k)`` after phase ``k``; ``clock`` may be a
    no-op (to count calls) or read the process's CPU time (to time the phases in the step,
    where each runs after the others, as it does in training).
    """
    from torch._utils import _unflatten_dense_tensors

    model = make()
    params = list(model.parameters())
    gen, acc = mechanism_generator(0, seed=0), PartyAccountant()
    B = len(batches[0][0])
    grads_of = make_backend(model, loss, backend="linear", probe=batches[0][0],
                            loss_grad=LOSS_GRADS.get(label))
    opt = torch.optim.SGD(params, lr=0.01)
    sizes = tuple(p.numel() for p in params)

    def step(i, clock):
        X, targets = batches[i % len(batches)]
        h = grads_of(X, *targets)
        clock(0)
        f = clip_factors(h, 1.0)
        clock(1)
        flat = torch.cat([s.reshape(-1) for s in h.weighted_sum(f)])
        clock(2)
        flat.add_(_secure_noise_sum(1.0, sizes, gen), alpha=0.5)
        clock(3)
        flat.div_(float(B))
        noisy = _unflatten_dense_tensors(flat, params)
        acc.record(noise_multiplier=1.0, sample_rate=0.25, steps=1)
        for p, g in zip(params, noisy, strict=True):
            p.grad = g
        opt.step()
        clock(4)

    return step


def _count_torch_calls(step) -> int:
    """Torch functions and tensor methods called from Python by ``step()``.

    The running count is ``_count_torch_calls.n`` (read by a phase's clock mid-step).
    """
    from torch.overrides import TorchFunctionMode

    class Count(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            _count_torch_calls.n += 1
            return func(*args, **(kwargs or {}))

    _count_torch_calls.n = 0
    with Count():
        step()
    return _count_torch_calls.n


def breakdown(label: str, batch: int, reps: int, steps: int = 400) -> list[dict]:
    """The DP step of ``label`` at ``batch`` phase by phase: µs, × plain, torch calls.

    Each phase is timed inside the whole step (CPU time read after every phase, 5 reads a
    step, a few µs in all), over ``steps`` steps; of ``reps`` repetitions interleaved with
    a plain step's, the one with the least total time is kept. Torch calls are counted once,
    per phase.
    """
    make, loss, _, data, _ = MODELS[label]
    rng = np.random.default_rng(batch)
    batches = [data(batch, rng) for _ in range(4)]
    step = _phased_step(label, make, loss, batches)
    clock = time.process_time
    best, plain = None, float("inf")
    for _ in range(reps):
        plain = min(plain, _time(lambda: _plain_stepper(make, loss, batches)))
        spent = [0.0] * len(PHASES)
        for i in range(3):
            step(i, lambda k: None)
        for i in range(steps):
            t = [clock()]

            def mark(k, t=t, spent=spent):
                now = clock()
                spent[k] += now - t[0]
                t[0] = now

            step(i, mark)
        if best is None or sum(spent) < sum(best):
            best = spent
    calls = [0] * len(PHASES)
    seen = [0]

    def count(k):
        calls[k] = _count_torch_calls.n - seen[0]
        seen[0] = _count_torch_calls.n

    _count_torch_calls(lambda: step(0, count))
    rows = [{"phase": n, "us": round(t / steps * 1e6, 1), "of_plain": round(t / steps / plain, 2),
             "torch_calls": c} for n, t, c in zip(PHASES, best, calls, strict=True)]
    total = sum(best) / steps
    rows.append({"phase": "DP step", "us": round(total * 1e6, 1),
                 "of_plain": round(total / plain, 2), "torch_calls": sum(calls)})
    return rows


def _time(stepper) -> float:
    """CPU seconds per step: 3 warm-up steps, then as many as fit in BUDGET_S (3 to 400).

    CPU time of this process, not wall-clock: on a shared machine other processes take wall
    time but not this process's CPU time, and with one torch thread CPU time is the work."""
    step, close = stepper()
    try:
        t0 = time.process_time()
        for i in range(3):
            step(i)
        per = (time.process_time() - t0) / 3
        k = int(min(400, max(3, BUDGET_S / max(per, 1e-5))))
        t0 = time.process_time()
        for i in range(k):
            step(i)
        return (time.process_time() - t0) / k
    finally:
        close()


def measure(label: str, batch: int, reps: int) -> list[dict]:
    """One row per backend of ``label`` at ``batch``: plain and DP µs per step, ratio."""
    make, loss, loss_name, data, backends = MODELS[label]
    rng = np.random.default_rng(batch)
    batches = [data(batch, rng) for _ in range(4)]
    configs = {"plain": lambda: _plain_stepper(make, loss, batches),
               "noise": lambda: _noise_stepper(make, batches)}
    for b in backends:
        configs[b] = (lambda b=b: _dp_stepper(label, make, loss, loss_name, b, batches))
    best = dict.fromkeys(configs, float("inf"))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        for _ in range(reps):                   # interleaved: the same load on every config
            for name, stepper in configs.items():
                best[name] = min(best[name], _time(stepper))
    plain, noise = best.pop("plain"), best.pop("noise")
    return [{"model": label, "backend": b, "batch": batch, "plain_us": round(plain * 1e6, 1),
             "dp_us": round(s * 1e6, 1), "ratio": round(s / plain, 2),
             "noise_us": round(noise * 1e6, 1), "noise_ratio": round(noise / plain, 2)}
            for b, s in best.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one repetition, batches 64 and 256")
    ap.add_argument("--no-write", action="store_true", help="do not write bench/results")
    args = ap.parse_args()
    torch.set_num_threads(1)
    reps, batches = (1, (64, 256)) if args.quick else (5, BATCHES)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"({os.cpu_count()} cores); torch threads 1; CPU time per step, best of {reps}")
    header = (f"{'model':<18}{'batch':>6}{'backend':>20}{'plain µs':>10}{'DP µs':>10}"
              f"{'DP/plain':>10}  goal ≤ {GOAL:g}×")
    print(header)
    print("-" * len(header))
    rows: list[dict] = []
    t0 = time.perf_counter()
    default_rows: list[dict] = []  # the backend train_local_dp(backend="auto") picks
    for label, (make, _, loss_name, data, _) in MODELS.items():
        auto = resolve_backend(make(), loss_name=loss_name,
                               probe=data(2, np.random.default_rng(0))[0])
        for batch in batches:
            measured = measure(label, batch, reps)
            for r in measured:
                rows.append(r)
                if r["backend"] == auto:
                    default_rows.append(r)
                mark = " (auto)" if r["backend"] == auto else ""
                print(f"{label:<18}{batch:>6}{r['backend'] + mark:>20}{r['plain_us']:>10.0f}"
                      f"{r['dp_us']:>10.0f}{r['ratio']:>10.2f}  "
                      f"{'met' if r['ratio'] <= GOAL else 'not met'}")
            r = measured[0]
            print(f"{label:<18}{batch:>6}{'noise floor':>20}{r['plain_us']:>10.0f}"
                  f"{r['noise_us']:>10.0f}{r['noise_ratio']:>10.2f}  noise floor: "
                  f"{r['noise_ratio']:.2f}× plain step (secure-mode noise alone)")
    if BREAKDOWN[1] in batches:
        label, batch = BREAKDOWN
        parts = breakdown(label, batch, reps)
        print(f"{label}, batch {batch}, DP step by phase (µs, × plain step, torch calls): "
              + "; ".join(f"{r['phase']} {r['us']:.0f} µs = {r['of_plain']:.2f}× "
                          f"({r['torch_calls']} calls)" for r in parts))
    print(f"total {time.perf_counter() - t0:.1f} s; load average at end: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not args.no_write:
        worst = max(default_rows, key=lambda r: r["ratio"])
        met = sum(r["ratio"] <= GOAL for r in default_rows)
        headline = {"metric": f"DP / plain step time, default backend, worst case (goal ≤ "
                              f"{GOAL:g}×: met in {met} of {len(default_rows)})",
                    "value": worst["ratio"], "unit": "×",
                    "case": f"{worst['model']}, batch {worst['batch']}"}
        path = write_bench_summary(
            "dpsgd", "DP-SGD step versus plain step, per per-example gradient backend", rows,
            headline=headline)
        print(f"rows written to {path}")


if __name__ == "__main__":
    main()
