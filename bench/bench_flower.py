"""Flower beside the local engine: SecAgg+ versus the book's secure aggregation, and FedAvg at scale.

Usage: ``python bench/bench_flower.py [--clients 10] [--dim 10000] [--repeats 3]
[--scale 10,50,100] [--scale-rounds 2]`` in an environment with Flower
(``pip install -e '.[flower]'``); without it the script prints that it skipped and exits 0.
``--scale ''`` runs part 1 only.

Part 1, one secure-aggregation round at equal clients, parameters and dropouts (0, then 2
parties that drop before uploading), FedAvg weights, fixed float32 update vectors:

- the book's protocol (:class:`fedlib.crypto.secagg.SecureAggregation`), in this process;
- Flower plain FedAvg (:func:`fedlib.flower.simulation.simulate`);
- Flower SecAgg+ (:func:`fedlib.flower.secagg.simulate_secaggplus`), complete graph and the
  book's threshold, Flower's default clipping and quantisation ranges;
- the book's protocol on Flower (:func:`fedlib.flower.bookagg.simulate_bookagg`), the same
  threshold and the book's codec, four message round trips per round as SecAgg+'s four
  stages.

Round time is the median of ``--repeats`` rounds after one warm-up round; on Flower it is
the server's time from the round's first message to the new model (Ray's start, the
roster query and Ray's shutdown are printed separately). Bytes uploaded per client are what
each client that finished the round sent the server: the transcript's payload bytes for the
book's protocol in this process, Flower's serialised messages (:mod:`fedlib.flower.metering`)
on Flower. Exactness is the largest ``|aggregate − plaintext mean|`` of the survivors'
updates; for SecAgg+ beside its bound ``n · 2c / (Q Σ w)``, for the book's protocol on Flower
beside the codec's ``n · 2^-(f+1) / Σ w``.

Part 2, scale: FedAvg of chapter 2's logistic regression (chapter 2's features, learning
rate, full batch, ``timing_epochs`` local epochs) with 10, 50 and 100 clients; client ``k``
is a bootstrap resample of chapter 2's bank ``k mod n_clients``. Time per round (median of
``--scale-rounds`` after a warm-up) and peak resident memory: of this process (VmHWM after a
reset) for the local engine (:class:`fedlib.fl.loop.RoundLoop`), of this process and every
process it started (Ray's, sampled every 50 ms) for Flower. The Flower model is checked
against the local engine's after the same rounds.

Ratios are measured in one run. References: Bell et al. 2020 (SecAgg+); Bonawitz et al.
2017; Beutel et al. 2020 (Flower); chapters 1 and 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

from fedlib.book.bench import peak_kib, peak_kib_reset, write_bench_summary
from fedlib.core.transcript import Transcript
from fedlib.crypto.secagg import SecureAggregation
from fedlib.fl.loop import RoundLoop
from fedlib.fl.models import LogisticRegression, get_flat_params
from fedlib.fl.party import LogisticSGDTrainer, Party, PartyClient
from fedlib.fl.prepare import prepare_horizontal
from fedlib.fl.strategies import FedAvg, FitResult
from fedlib.flower.bookagg import BookSecAgg, simulate_bookagg
from fedlib.flower.env import offline
from fedlib.flower.secagg import SecAggPlus, simulate_secaggplus
from fedlib.flower.simulation import backend_config, simulate
from fedlib.papers.p02_dp_vs_ckks.params import Chapter02Params

SKIPPED = ("flwr not installed: skipped (`make flower-test` creates .venv-flower; `make bench` "
           "then runs this benchmark there)")


class Fixed:
    """A party whose update is a fixed vector: the round costs only the protocol."""

    private = False

    def __init__(self, name: str, num_examples: int, vector: np.ndarray) -> None:
        self.name, self.num_examples, self.vector = name, num_examples, vector

    def fit(self, parameters, config):
        return FitResult(self.vector, self.num_examples, {})

    def evaluate(self, parameters, config):
        return None


# -- measuring ------------------------------------------------------------------------------
def _tree_rss_kib(root: int) -> int:
    """Resident memory of ``root`` and all its descendants, in KiB (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid = int(entry.name)
        children.setdefault(int(fields["PPid"]), []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


class TreePeak:
    """Peak of :func:`_tree_rss_kib` of this process, sampled every ``interval`` seconds."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        import os

        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss_kib(os.getpid()))
            self._stop.wait(self.interval)

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _median_ms(seconds) -> float:
    return statistics.median(seconds) * 1e3


# -- part 1: one secure-aggregation round ---------------------------------------------------
def _plan(names, warm: int, repeats: int, dropped) -> tuple[dict, list[range]]:
    """Rounds 1..warm warm up, the next ``repeats`` run with no dropout, the next
    ``repeats`` with ``dropped`` leaving before they upload."""
    clean = range(warm + 1, warm + repeats + 1)
    lossy = range(warm + repeats + 1, warm + 2 * repeats + 1)
    return {r: {"masked": set(dropped)} for r in lossy}, [clean, lossy]


def book_protocol(vectors, weights, threshold, dropped, repeats):
    """The book's protocol in this process: median ms, upload bytes per survivor, max error."""
    contribs = {n: weights[n] * v.astype(np.float64) for n, v in vectors.items()}
    survivors = [n for n in vectors if n not in dropped]
    plain = sum(weights[n] * vectors[n].astype(np.float64) for n in survivors) / sum(
        weights[n] for n in survivors)
    protocol = SecureAggregation(threshold=threshold)
    times, errors, transcript = [], [], None
    for i in range(repeats + 1):                   # the first round warms up
        transcript = Transcript(keep_payloads=False)
        start = time.perf_counter()
        total = protocol.new_round(list(contribs), round=i, transcript=transcript).run(
            contribs, {"masked": set(dropped)})
        mean = total / sum(weights[n] for n in survivors)
        times.append(time.perf_counter() - start)
        errors.append(float(np.max(np.abs(mean - plain))))
    upload = np.mean([transcript.bytes_sent(sender=n) for n in survivors])
    return _median_ms(times[1:]), float(upload), max(errors[1:])


def flower_rounds(run, rounds, vectors, weights, protocol=None):
    """Median ms, upload bytes per survivor, max error and the protocol's bound over ``rounds``.

    ``protocol`` (:class:`SecAggPlus` or :class:`BookSecAgg`) gives the bound on the mean.
    """
    times, uploads, errors, bounds = [], [], [], []
    for r in (run.history[i - 1] for i in rounds):
        plain = sum(weights[n] * vectors[n].astype(np.float64) for n in r.uploaded) / sum(
            weights[n] for n in r.uploaded)
        times.append(r.seconds)
        uploads += [r.bytes_to_server[n] for n in r.uploaded]
        errors.append(float(np.max(np.abs(r.parameters - plain))))
        if protocol is not None:
            bounds.append(protocol.mean_error_bound(len(r.uploaded),
                                                    sum(weights[n] for n in r.uploaded)))
    return (_median_ms(times), float(np.mean(uploads)), max(errors),
            max(bounds) if bounds else None)


def part1(args, backend) -> list[dict]:
    rng = np.random.default_rng(args.seed)
    names = [f"bank-{i + 1}" for i in range(args.clients)]
    vectors = {n: rng.normal(0, 0.1, args.dim).astype(np.float32) for n in names}
    parties = [Fixed(n, 100, vectors[n]) for n in names]
    weights = {n: 1 / args.clients for n in names}        # FedAvg's n_k / Σ n_j, all equal
    threshold = args.clients // 2 + 1
    dropped = names[1:1 + args.dropouts]
    plan, (clean, lossy) = _plan(names, 1, args.repeats, dropped)
    rounds = 1 + 2 * args.repeats
    protocol = SecAggPlus(threshold=threshold)
    start = time.perf_counter()
    plain_run = simulate(FedAvg(np.zeros(args.dim)), parties, rounds=rounds, seed=args.seed,
                         dropouts=plan, backend=backend)
    plain_wall = time.perf_counter() - start
    start = time.perf_counter()
    sa_run = simulate_secaggplus(FedAvg(np.zeros(args.dim)), parties, rounds=rounds,
                                 seed=args.seed, protocol=protocol, dropouts=plan,
                                 backend=backend)
    sa_wall = time.perf_counter() - start
    book_settings = BookSecAgg(threshold=threshold)
    start = time.perf_counter()
    bk_run = simulate_bookagg(FedAvg(np.zeros(args.dim)), parties, rounds=rounds,
                              seed=args.seed, protocol=book_settings, dropouts=plan,
                              backend=backend)
    bk_wall = time.perf_counter() - start
    startup = {"Flower plain FedAvg": plain_wall - sum(r.seconds for r in plain_run.history),
               "Flower SecAgg+": sa_wall - sum(r.seconds for r in sa_run.history),
               "book protocol, Flower": bk_wall - sum(r.seconds for r in bk_run.history)}
    print(f"\n1. One round, {args.clients} clients × {args.dim:,} float32 values, threshold "
          f"t={threshold}, SecAgg+ c={protocol.clipping_range}, Q=2^"
          f"{int(np.log2(protocol.quantization_range))}, complete graph; median of "
          f"{args.repeats} rounds after a warm-up")
    print("   Flower start-up and shutdown outside the rounds (Ray, roster query): "
          + ", ".join(f"{name} {s:.1f} s" for name, s in startup.items()))
    print(f"   book codec f={book_settings.codec.frac_bits}, clip={book_settings.codec.clip:g}")
    print(f"   {'protocol':<22} {'dropouts':>8} {'round ms':>9} {'× book':>7} "
          f"{'upload KB':>10} {'× book':>7} {'max |err|':>10} {'bound':>9}")
    rows = []
    for k, which in ((0, clean), (len(dropped), lossy)):
        gone = [] if k == 0 else dropped
        book = book_protocol(vectors, weights, threshold, gone, args.repeats)
        cases = {"book protocol, local": (*book, None),
                 "Flower plain FedAvg": flower_rounds(plain_run, which, vectors, weights),
                 "Flower SecAgg+": flower_rounds(sa_run, which, vectors, weights, protocol),
                 "book protocol, Flower": flower_rounds(bk_run, which, vectors, weights,
                                                        book_settings)}
        for name, (ms, upload, err, bound) in cases.items():
            print(f"   {name:<22} {k:>8} {ms:>9.1f} {ms / book[0]:>7.1f} {upload / 1e3:>10.1f} "
                  f"{upload / book[1]:>7.2f} {err:>10.2e} "
                  f"{'' if bound is None else f'{bound:.2e}':>9}")
            case = f"{name}, {k} dropouts"
            rows += [{"case": case, "metric": "round time", "value": ms, "unit": "ms"},
                     {"case": case, "metric": "round time / book's protocol",
                      "value": ms / book[0], "unit": "×"},
                     {"case": case, "metric": "upload per client", "value": upload / 1e3,
                      "unit": "KB"},
                     {"case": case, "metric": "max |aggregate − plaintext mean|", "value": err,
                      "unit": ""}]
            if bound is not None:
                rows.append({"case": case, "metric": "quantisation bound", "value": bound,
                             "unit": ""})
        (sa_ms, sa_up, *_), (bk_ms, bk_up, *_) = (cases["Flower SecAgg+"],
                                                   cases["book protocol, Flower"])
        print(f"   {'':<22} {k:>8} book protocol on Flower / SecAgg+: round time "
              f"{bk_ms / sa_ms:.2f}×, upload {bk_up / sa_up:.2f}×")
        case = f"book protocol on Flower vs SecAgg+, {k} dropouts"
        rows += [{"case": case, "metric": "round time / SecAgg+'s", "value": bk_ms / sa_ms,
                  "unit": "×"},
                 {"case": case, "metric": "upload per client / SecAgg+'s",
                  "value": bk_up / sa_up, "unit": "×"}]
    rows += [{"case": name, "metric": "start-up and shutdown", "value": s, "unit": "s"}
             for name, s in startup.items()]
    return rows


# -- part 2: FedAvg at scale ----------------------------------------------------------------
def chapter2_clients(n: int, seed: int) -> tuple[list[PartyClient], int, dict]:
    """``n`` clients resampled from chapter 2's banks, with chapter 2's trainer."""
    P = Chapter02Params()
    data = prepare_horizontal(P.dataset, n_parties=P.n_clients, skew=P.partition_skew,
                              scaling=P.scaling, seed=seed)
    rng = np.random.default_rng(seed)
    model = LogisticRegression(data.n_features, seed=seed)
    trainer = LogisticSGDTrainer(epochs=P.timing_epochs, lr=P.learning_rate,
                                 batch_size=P.batch_size or None)
    clients = []
    for k in range(n):
        bank = data.parties[k % len(data.parties)]
        rows = rng.integers(len(bank.X), size=len(bank.X))
        clients.append(PartyClient(Party(f"bank-{k + 1}", bank.X[rows], bank.y[rows], trainer),
                                   model))
    recipe = {"features": data.n_features, "epochs": P.timing_epochs, "lr": P.learning_rate}
    return clients, data.n_features, recipe


def scale_case(n: int, args, backend) -> dict:
    clients, d, recipe = chapter2_clients(n, args.seed)
    initial = get_flat_params(LogisticRegression(d, seed=args.seed))
    rounds = 1 + args.scale_rounds
    peak_kib_reset()
    loop = RoundLoop(FedAvg(initial, sample_fraction=1.0), clients, seed=args.seed)
    local = []
    for _ in range(rounds):
        start = time.perf_counter()
        loop.run_round()
        local.append(time.perf_counter() - start)
    local_peak = peak_kib()
    start = time.perf_counter()
    with TreePeak() as tree:
        run = simulate(FedAvg(initial, sample_fraction=1.0), clients, rounds=rounds,
                       seed=args.seed, backend=backend)
    wall = time.perf_counter() - start
    flower = [r.seconds for r in run.history]
    return {"clients": n, "recipe": recipe, "local_ms": _median_ms(local[1:]),
            "flower_ms": _median_ms(flower[1:]), "local_mib": local_peak / 1024,
            "flower_mib": tree.peak / 1024, "startup_s": wall - sum(flower),
            "same": bool(np.array_equal(run.parameters, loop.parameters))}


def part2(args, backend) -> list[dict]:
    if not args.scale:
        return []
    cases = [scale_case(n, args, backend) for n in args.scale]
    r = cases[0]["recipe"]
    print(f"\n2. FedAvg at scale: chapter 2's logistic regression ({r['features']} features), "
          f"{r['epochs']} full-batch epochs at lr {r['lr']} per round; median of "
          f"{args.scale_rounds} rounds after a warm-up")
    print(f"   {'clients':>7} {'local ms':>9} {'Flower ms':>10} {'× local':>8} "
          f"{'local MiB':>10} {'Flower MiB':>11} {'× local':>8} {'start-up s':>11} "
          f"{'same model':>10}")
    rows = []
    for c in cases:
        print(f"   {c['clients']:>7} {c['local_ms']:>9.1f} {c['flower_ms']:>10.1f} "
              f"{c['flower_ms'] / c['local_ms']:>8.1f} {c['local_mib']:>10.0f} "
              f"{c['flower_mib']:>11.0f} {c['flower_mib'] / c['local_mib']:>8.1f} "
              f"{c['startup_s']:>11.1f} {'yes' if c['same'] else 'NO':>10}")
        case = f"FedAvg, {c['clients']} clients"
        rows += [{"case": case, "metric": "local engine round", "value": c["local_ms"],
                  "unit": "ms"},
                 {"case": case, "metric": "Flower simulation round", "value": c["flower_ms"],
                  "unit": "ms"},
                 {"case": case, "metric": "Flower / local time",
                  "value": c["flower_ms"] / c["local_ms"], "unit": "×"},
                 {"case": case, "metric": "local engine peak memory", "value": c["local_mib"],
                  "unit": "MiB"},
                 {"case": case, "metric": "Flower peak memory (all processes)",
                  "value": c["flower_mib"], "unit": "MiB"},
                 {"case": case, "metric": "Flower start-up and shutdown", "value": c["startup_s"],
                  "unit": "s"}]
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--dim", type=int, default=10_000)
    ap.add_argument("--dropouts", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--scale", type=lambda s: [int(x) for x in s.split(",") if x.strip()],
                    default=[10, 50, 100], help="clients of part 2; '' skips part 2")
    ap.add_argument("--scale-rounds", type=int, default=2)
    ap.add_argument("--cpus", type=int, default=2, help="cores Ray may use (one per client)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if importlib.util.find_spec("flwr") is None:
        print(SKIPPED)
        return 0
    offline()                                  # before Flower and Ray are first imported
    import flwr.simulation  # noqa: F401  (its logger sets its own level when first imported)

    # The dropouts are deliberate errors; Flower would log each with its traceback.
    logging.getLogger("flwr").setLevel(logging.CRITICAL)
    backend = backend_config(cpus=args.cpus, cpus_per_party=1.0)
    start = time.perf_counter()
    rows = part1(args, backend) + part2(args, backend)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    write_bench_summary("flower", f"Flower: SecAgg+ beside the book's secure aggregation, in "
                        f"this process and on Flower ({args.clients} clients, {args.dim:,} "
                        "values)" + (", and FedAvg at scale" if args.scale else ""),
                        rows, headline=headline(rows))
    return 0


def headline(rows: list[dict]) -> dict:
    """The README's number: the book's protocol on Flower over SecAgg+'s round time.

    Over the dropout cases of part 1 (the range, when they differ).
    """
    ratios = [r["value"] for r in rows if r["metric"] == "round time / SecAgg+'s"]
    return {"metric": "round time, book protocol / SecAgg+ on Flower", "value": max(ratios),
            "low": min(ratios), "n": len(ratios), "unit": "×"}


if __name__ == "__main__":
    sys.exit(main())
