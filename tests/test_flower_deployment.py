"""The book's FedAvg on a real Flower deployment on 127.0.0.1 (issue 11).

One SuperLink and three SuperNodes run as separate processes (insecure, on free ports of
127.0.0.1); ``flwr run`` submits the book's Flower App (:func:`fedlib.flower.deployment.write_app`);
each SuperNode reads its own bank's rows from the file its node config names; the ServerApp
writes the models to the ``output`` of its run config. The test compares them with the local
engine (:class:`~fedlib.fl.federation.Federation`) on the same rows and seed.

The whole test is bounded (:data:`BUDGET` seconds, checked at every wait) and every process it
started — and every process those started (SuperExec, ``flwr-serverapp``,
``flwr-clientapp``) — is ended in the fixture's teardown. It skips without Flower. Each
process's log is kept in the test's ``tmp_path`` (``superlink.log``, ``supernode-K.log``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fedlib.fl.federation import Federation
from fedlib.fl.models import LogisticRegression, get_flat_params
from fedlib.fl.party import LogisticSGDTrainer, Party
from fedlib.flower.deployment import APP_MODULE, RUN_CONFIG, save_rows, write_app
from fedlib.flower.env import OFFLINE, offline

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BUDGET = 120.0                     # seconds for the whole deployment test
SKIP = "Flower is optional: pip install -e '.[flower]'"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children() -> dict[int, list[int]]:
    """Every process's children, from /proc (Linux)."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rpartition(")")[2].split()[1])
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _descendants(pids: list[int]) -> list[int]:
    tree, out, todo = _children(), [], list(pids)
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(tree.get(pid, []))
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


class Processes:
    """The processes a test starts; :meth:`stop` ends them and everything they started."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs, self.started = env, logs, []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("w")
        proc = subprocess.Popen([str(BIN / args[0]), *args[1:]], env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append(proc)
        return proc

    def stop(self) -> list[int]:
        """End every process started here and its descendants; the pids still alive after."""
        pids = _descendants([p.pid for p in self.started])
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + grace
            for p in self.started:
                try:
                    p.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
            while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not any(_alive(pid) for pid in pids):
                break
        return [pid for pid in pids if _alive(pid)]


@pytest.fixture
def processes(tmp_path):
    offline()
    pytest.importorskip("flwr", reason=SKIP)
    for tool in ("flower-superlink", "flower-supernode", "flwr"):
        if not (BIN / tool).exists():
            pytest.skip(f"{tool} is not next to {sys.executable}")
    home = tmp_path / "flwr-home"
    home.mkdir()
    env = {**os.environ, **OFFLINE, "FLWR_HOME": str(home),
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    procs = Processes(env, tmp_path)
    try:
        yield procs
    finally:
        left = procs.stop()
    assert left == [], f"processes still alive after teardown: {left}"


def _banks(seed: int = 0, n: int = 60, d: int = 4) -> list[tuple[np.ndarray, np.ndarray]]:
    """Three banks' rows, as tests/test_flower.py draws them."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(3):
        X = rng.normal(size=(n + 20 * k, d)).astype(np.float32)
        y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(0, 0.5, len(X)) > 0).astype(np.float32)
        rows.append((X, y))
    return rows


def _wait_for_port(port: int, deadline: float, proc: subprocess.Popen) -> None:
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if proc.poll() is not None:
            raise RuntimeError(f"the SuperLink exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")
        time.sleep(0.1)


@pytest.mark.slow
def test_fedavg_on_a_superlink_and_three_supernodes_equals_the_local_engine(processes, tmp_path):
    """Same rows, same seed, same model, round by round, bit for bit.

    The simulation test's reasoning carries over: the vector travels as ``np.save`` bytes in
    the same records, every party trains with the same seed in the same code (its rows now
    read from a ``.npz``, which stores the float32 rows exactly), and the server sums the same
    contributions in the same order. Only the transport differs (HTTP between processes).
    """
    start = time.monotonic()
    deadline = start + BUDGET
    rounds, seed = 2, 11
    banks = _banks()
    names = [f"bank-{k + 1}" for k in range(len(banks))]
    files = [save_rows(tmp_path / f"{name}.npz", X, y) for name, (X, y) in zip(names, banks, strict=True)]
    app = write_app(tmp_path / "app")
    output = tmp_path / "models.npz"

    link = _free_port()
    (Path(processes.env["FLWR_HOME"]) / "config.toml").write_text(
        f'[superlink]\ndefault = "local"\n\n[superlink.local]\n'
        f'address = "127.0.0.1:{link}"\ninsecure = true\n', encoding="utf-8")
    superlink = processes.start("superlink", "flower-superlink", "--insecure",
                                "--disable-runtime-dependency-installation",
                                "--host", "127.0.0.1", "--port", str(link))
    _wait_for_port(link, deadline, superlink)
    for k, (name, path) in enumerate(zip(names, files, strict=True)):
        processes.start(f"supernode-{k}", "flower-supernode", "--insecure",
                        "--superlink", f"127.0.0.1:{link}", "--port", str(_free_port()),
                        "--node-config", f'partition-id={k} name="{name}" data="{path}"')
    submitted = time.monotonic()
    run = subprocess.run(
        [str(BIN / "flwr"), "run", str(app), "local", "--stream",
         "--run-config", f'output="{output}" rounds={rounds} seed={seed} timeout=60.0'],
        env=processes.env, cwd=tmp_path, capture_output=True, text=True,
        timeout=max(1.0, deadline - time.monotonic()))
    seconds = time.monotonic() - submitted
    assert run.returncode == 0, run.stdout + run.stderr
    assert output.exists(), f"the ServerApp wrote no model:\n{run.stdout}{run.stderr}"
    deployed = np.load(output)

    local = Federation([Party(name, X, y, LogisticSGDTrainer(
        epochs=RUN_CONFIG["epochs"], lr=RUN_CONFIG["lr"], batch_size=RUN_CONFIG["batch-size"]))
        for name, (X, y) in zip(names, banks, strict=True)],
        model_fn=lambda: LogisticRegression(RUN_CONFIG["features"],
                                            seed=RUN_CONFIG["model-seed"]), seed=seed)
    local.fit(rounds)
    np.testing.assert_array_equal(deployed["parameters"], local.global_params)
    assert len(deployed["rounds"]) == rounds
    for ours, theirs in zip(deployed["rounds"], local.history, strict=True):
        np.testing.assert_array_equal(ours, theirs.global_params)
    initial = get_flat_params(LogisticRegression(RUN_CONFIG["features"],
                                                 seed=RUN_CONFIG["model-seed"]))
    assert not np.allclose(deployed["parameters"], initial)      # the banks did train

    # The App the SuperLink shipped to the nodes is code and config only: no rows.
    shipped = {p.name for p in (Path(processes.env["FLWR_HOME"]) / "apps").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert shipped == {"pyproject.toml", f"{APP_MODULE}.py"}
    print(f"\nflwr run on SuperLink + 3 SuperNodes: {seconds:.1f} s for {rounds} rounds "
          f"({time.monotonic() - start:.1f} s with start-up)")
