"""The book's FedAvg on a real Flower deployment on 127.0.0.1, with TLS and node authentication.

One SuperLink and three SuperNodes run as separate processes on free ports of 127.0.0.1, the
way institutions would run them across machines: the SuperLink serves HTTPS with a server
certificate for 127.0.0.1 signed by a throwaway CA and admits only SuperNodes whose public
keys were registered with ``flwr supernode register`` (``--enable-supernode-auth``); each
SuperNode trusts that CA (``--root-certificates``), signs its requests with its own EC key
and reads its own bank's rows from the file its node config names; ``flwr run`` submits the
book's Flower App (:func:`fedlib.flower.deployment.write_app`) over TLS. Everything is
written in the module's temporary directory (:func:`fedlib.flower.certificates.write_test_pki`).

The federation is started once for the module (:func:`federation`) and serves every test:
two SuperNodes that must be refused (no key; a key nobody registered), one that does not
trust the CA, a plaintext FedAvg run compared bit for bit with the local engine, and a
SecAgg+ run compared with plain FedAvg within SecAgg+'s quantisation bound.

Every wait is bounded (a clear ``TimeoutError``), the module as a whole by :data:`BUDGET`
seconds, and every process it started — and every process those started (SuperExec,
``flwr-serverapp``, ``flwr-clientapp``) — is ended in the fixture's teardown, also on
failure. The Flower tests skip without Flower. Each process's log is kept in the module's
temporary directory (``superlink.log``, ``supernode-K.log``, ...).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_ssh_private_key, load_ssh_public_key

from fedlib.fl.federation import Federation
from fedlib.fl.models import LogisticRegression, get_flat_params
from fedlib.fl.party import LogisticSGDTrainer, Party, PartyClient
from fedlib.fl.strategies import FedAvg
from fedlib.flower.certificates import (
    TestPKI,
    server_hosts,
    write_ca,
    write_server_certificate,
    write_test_pki,
)
from fedlib.flower.deployment import (
    APP_MODULE,
    RUN_CONFIG,
    check_run_config,
    save_rows,
    secaggplus_of,
    write_app,
    write_connection,
)
from fedlib.flower.env import OFFLINE, offline
from fedlib.flower.server import plaintext_uploads

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BUDGET = 420.0                     # seconds for the module (3 min 53 s at load 8 on 2 cores)
STEP = 60.0                        # seconds for any one wait
SKIP = "Flower is optional: pip install -e '.[flower]'"
NAMES = ["bank-1", "bank-2", "bank-3"]
CONNECTION = "local"               # the connection's name in $FLWR_HOME/config.toml


# -- processes ---------------------------------------------------------------------------------
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

    def __init__(self, env: dict[str, str], logs: Path, deadline: float) -> None:
        self.env, self.logs, self.deadline, self.started = env, logs, deadline, []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("w")
        proc = subprocess.Popen([str(BIN / args[0]), *args[1:]], env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def left(self, seconds: float = STEP) -> float:
        """Seconds a wait may take: ``seconds``, cut to what is left of the module's budget."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the deployment tests used up their budget of {BUDGET} s")
        return min(seconds, left)

    def wait(self, proc: subprocess.Popen, what: str, seconds: float = STEP) -> int:
        """Wait for ``proc`` to exit; its return code."""
        try:
            return proc.wait(timeout=self.left(seconds))
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"{what} did not exit within {seconds} s") from None

    def run(self, *args: str, seconds: float = STEP) -> subprocess.CompletedProcess:
        """Run a command to its end (``flwr ...``), bounded; its output."""
        try:
            return subprocess.run([str(BIN / args[0]), *args[1:]], env=self.env,
                                  cwd=self.logs, capture_output=True, text=True,
                                  timeout=self.left(seconds))
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"`{' '.join(args[:3])} ...` did not end within "
                               f"{seconds} s") from None

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


def _wait_for_port(port: int, procs: Processes, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + procs.left()
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if proc.poll() is not None:
            raise RuntimeError(f"the SuperLink exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")
        time.sleep(0.1)


# -- the federation ----------------------------------------------------------------------------
def _banks(seed: int = 0, n: int = 60, d: int = 4) -> list[tuple[np.ndarray, np.ndarray]]:
    """Three banks' rows, as tests/test_flower.py draws them."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(3):
        X = rng.normal(size=(n + 20 * k, d)).astype(np.float32)
        y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(0, 0.5, len(X)) > 0).astype(np.float32)
        rows.append((X, y))
    return rows


@dataclass
class Deployment:
    """A running SuperLink with three authenticated SuperNodes, and what a test needs."""

    procs: Processes
    tmp: Path
    pki: TestPKI
    port: int
    banks: list[tuple[np.ndarray, np.ndarray]]
    app: Path
    node_ids: dict[str, int]        # registered name → the node id the SuperLink gave it

    def nodes(self) -> dict[int, str]:
        """The SuperLink's node list (``flwr supernode list``): node id → status."""
        out = self.procs.run("flwr", "supernode", "list", CONNECTION, "--format", "json")
        listed = json.loads(out.stdout)
        assert listed["success"], out.stdout + out.stderr
        return {int(n["node-id"]): n["status"] for n in listed["nodes"]}

    def supernode(self, name: str, *flags: str, partition: int = 0) -> subprocess.Popen:
        """Start a SuperNode named ``name`` with ``flags`` (its trust and key)."""
        return self.procs.start(
            name, "flower-supernode", "--superlink", f"127.0.0.1:{self.port}",
            "--port", str(_free_port()), *flags,
            "--node-config", f'partition-id={partition} name="{name}" '
                             f'data="{self.tmp / f"{NAMES[partition]}.npz"}"')

    def flwr_run(self, output: Path, **config: object) -> subprocess.CompletedProcess:
        """``flwr run`` the App on the SuperLink, over TLS, with ``config`` overrides."""
        overrides = " ".join(f"{k}={json.dumps(v)}" for k, v in
                             {"output": str(output), **config}.items())
        return self.procs.run("flwr", "run", str(self.app), CONNECTION, "--stream",
                              "--run-config", overrides, seconds=240.0)


def _register(procs: Processes, keys: dict[str, Path]) -> dict[str, int]:
    """``flwr supernode register`` each public key (in parallel); name → node id."""
    commands = {name: subprocess.Popen(
        [str(BIN / "flwr"), "supernode", "register", str(pub), CONNECTION, "--format", "json"],
        env=procs.env, cwd=procs.logs, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True) for name, pub in keys.items()}
    ids = {}
    for name, proc in commands.items():
        try:
            out, _ = proc.communicate(timeout=procs.left())
        except subprocess.TimeoutExpired:
            proc.kill()
            raise TimeoutError(f"registering {name}'s key did not end in time") from None
        answer = json.loads(out[out.index("{"):])
        assert answer["success"], out
        ids[name] = int(answer["node-id"])
    return ids


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    offline()
    pytest.importorskip("flwr", reason=SKIP)
    for tool in ("flower-superlink", "flower-supernode", "flwr"):
        if not (BIN / tool).exists():
            pytest.skip(f"{tool} is not next to {sys.executable}")
    tmp = tmp_path_factory.mktemp("deployment")
    home = tmp / "flwr-home"
    env = {**os.environ, **OFFLINE, "FLWR_HOME": str(home),
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    procs = Processes(env, tmp, time.monotonic() + BUDGET)
    try:
        # "outsider" is registered but runs a SuperNode that does not trust the CA;
        # "intruder" has a key nobody registered.
        pki = write_test_pki(tmp / "pki", nodes=[*NAMES, "outsider", "intruder"])
        banks = _banks()
        for name, (X, y) in zip(NAMES, banks, strict=True):
            save_rows(tmp / f"{name}.npz", X, y)
        port = _free_port()
        write_connection(home, CONNECTION, f"127.0.0.1:{port}",
                         root_certificates=pki.ca_certificate)
        superlink = procs.start(
            "superlink", "flower-superlink", "--host", "127.0.0.1", "--port", str(port),
            "--ssl-ca-certfile", str(pki.ca_certificate),
            "--ssl-certfile", str(pki.server_certificate),
            "--ssl-keyfile", str(pki.server_key),
            "--enable-supernode-auth", "--disable-runtime-dependency-installation")
        _wait_for_port(port, procs, superlink)
        node_ids = _register(procs, {name: pki.node_keys[name][1]
                                     for name in [*NAMES, "outsider"]})
        deployment = Deployment(procs, tmp, pki, port, banks, write_app(tmp / "app"), node_ids)
        for k, name in enumerate(NAMES):
            deployment.supernode(name, "--root-certificates", str(pki.ca_certificate),
                                 "--auth-supernode-private-key", str(pki.node_keys[name][0]),
                                 partition=k)
        expected = {node_ids[name] for name in NAMES}
        deadline = time.monotonic() + procs.left()
        while {n for n, s in deployment.nodes().items() if s == "online"} != expected:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the three SuperNodes were not all online in time: "
                                   f"{deployment.nodes()} (registered {node_ids})")
            time.sleep(0.5)
        yield deployment
    finally:
        left = procs.stop()
    assert left == [], f"processes still alive after teardown: {left}"


# -- what the deployment needs, without Flower --------------------------------------------------
def test_the_test_pki_chains_to_its_ca_and_names_the_loopback_addresses(tmp_path):
    pki = write_test_pki(tmp_path, nodes=["bank-1"])
    ca = x509.load_pem_x509_certificate(pki.ca_certificate.read_bytes())
    server = x509.load_pem_x509_certificate(pki.server_certificate.read_bytes())
    server.verify_directly_issued_by(ca)                 # raises if not signed by the CA
    assert server_hosts(pki.server_certificate) == ["127.0.0.1", "localhost"]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    private = load_ssh_private_key(pki.node_keys["bank-1"][0].read_bytes(), None)
    public = load_ssh_public_key(pki.node_keys["bank-1"][1].read_bytes())
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert private.public_key().public_numbers() == public.public_numbers()
    assert oct(pki.node_keys["bank-1"][0].stat().st_mode & 0o777) == "0o600"
    other_ca, _ = write_ca(tmp_path / "other")
    with pytest.raises(InvalidSignature):                # another CA did not sign it
        server.verify_directly_issued_by(
            x509.load_pem_x509_certificate(other_ca.read_bytes()))
    with pytest.raises(ValueError, match="hosts is empty"):
        write_server_certificate(tmp_path, pki.ca_certificate, pki.ca_key, hosts=[])
    with pytest.raises(ValueError, match="unique"):
        write_test_pki(tmp_path / "twice", nodes=["a", "a"])


def test_the_run_config_is_checked_before_a_round():
    assert check_run_config({})["protection"] == "none"
    with pytest.raises(ValueError, match="allowed: 'none', 'secaggplus'"):
        check_run_config({"protection": "ckks"})
    with pytest.raises(ValueError, match=r"\['epoch'\] are not the App's"):
        check_run_config({"epoch": 3})
    with pytest.raises(ValueError, match=r"secagg-threshold = 4; allowed: 2..3"):
        check_run_config({"protection": "secaggplus", "secagg-threshold": 4})
    with pytest.raises(ValueError, match="would wrap"):
        check_run_config({"protection": "secaggplus", "secagg-quantization-range": 2**31})
    check_run_config({"protection": "none", "secagg-threshold": 9})   # unused without SecAgg+
    with pytest.raises(ValueError, match="not both or neither"):
        write_connection("unused", "local", "127.0.0.1:1")


# -- the deployment ----------------------------------------------------------------------------
@pytest.mark.slow
def test_supernodes_without_a_registered_key_are_refused(federation):
    """Node authentication: only the three registered keys become nodes.

    A SuperNode without a key (which, without ``--enable-supernode-auth``, would register
    itself and join) and one whose key nobody registered both exit with an error; the
    SuperLink's node list is still the three banks, online, and the registered outsider.
    """
    trust = ("--root-certificates", str(federation.pki.ca_certificate))
    keyless = federation.supernode("keyless", *trust)
    intruder = federation.supernode(
        "intruder", *trust,
        "--auth-supernode-private-key", str(federation.pki.node_keys["intruder"][0]))
    assert federation.procs.wait(keyless, "the keyless SuperNode") != 0
    assert federation.procs.wait(intruder, "the intruding SuperNode") != 0
    assert "Failed to initialize the connection" in federation.procs.log("keyless")
    assert "Failed to activate SuperNode" in federation.procs.log("intruder")
    assert "No SuperNode found with the given public key" in federation.procs.log("superlink")
    ids = federation.node_ids
    assert federation.nodes() == {**{ids[n]: "online" for n in NAMES},
                                  ids["outsider"]: "registered"}


@pytest.mark.slow
def test_a_supernode_that_does_not_trust_the_ca_cannot_connect(federation):
    """TLS: a SuperNode trusting another CA fails the handshake, even with a registered key."""
    stranger_ca, _ = write_ca(federation.tmp / "stranger-ca", name="another CA")
    outsider = federation.supernode(
        "outsider", "--root-certificates", str(stranger_ca),
        "--auth-supernode-private-key", str(federation.pki.node_keys["outsider"][0]))
    assert federation.procs.wait(outsider, "the SuperNode that trusts another CA") != 0
    assert "CERTIFICATE_VERIFY_FAILED" in federation.procs.log("outsider")
    assert federation.nodes()[federation.node_ids["outsider"]] == "registered"  # never online


def _local_parties(banks: list[tuple[np.ndarray, np.ndarray]]) -> list[Party]:
    return [Party(name, X, y, LogisticSGDTrainer(epochs=RUN_CONFIG["epochs"], lr=RUN_CONFIG["lr"],
                                                 batch_size=RUN_CONFIG["batch-size"]))
            for name, (X, y) in zip(NAMES, banks, strict=True)]


def _model() -> LogisticRegression:
    return LogisticRegression(RUN_CONFIG["features"], seed=RUN_CONFIG["model-seed"])


@pytest.mark.slow
def test_fedavg_over_tls_with_authenticated_supernodes_equals_the_local_engine(federation):
    """Same rows, same seed, same model, round by round, bit for bit.

    The simulation test's reasoning carries over: the vector travels as ``np.save`` bytes in
    the same records, every party trains with the same seed in the same code (its rows now
    read from a ``.npz``, which stores the float32 rows exactly), and the server sums the same
    contributions in the same order. Only the transport differs (HTTPS between processes).
    """
    rounds, seed = 2, 11
    output = federation.tmp / "fedavg.npz"
    start = time.monotonic()
    run = federation.flwr_run(output, rounds=rounds, seed=seed, timeout=60.0)
    seconds = time.monotonic() - start
    assert run.returncode == 0, run.stdout + run.stderr
    assert output.exists(), f"the ServerApp wrote no model:\n{run.stdout}{run.stderr}"
    deployed = np.load(output)

    local = Federation(_local_parties(federation.banks), model_fn=_model, seed=seed)
    local.fit(rounds)
    np.testing.assert_array_equal(deployed["parameters"], local.global_params)
    assert len(deployed["rounds"]) == rounds
    for ours, theirs in zip(deployed["rounds"], local.history, strict=True):
        np.testing.assert_array_equal(ours, theirs.global_params)
    assert not np.allclose(deployed["parameters"], get_flat_params(_model()))  # they trained

    # The App the SuperLink shipped to the nodes is code and config only: no rows.
    shipped = {p.name for p in (federation.tmp / "flwr-home" / "apps").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert shipped == {"pyproject.toml", f"{APP_MODULE}.py"}
    print(f"\nflwr run over TLS, 3 authenticated SuperNodes: {seconds:.1f} s for {rounds} "
          f"rounds; per round {', '.join(f'{s:.1f}' for s in deployed['seconds'])} s")


@pytest.mark.slow
def test_secaggplus_on_the_deployment_is_plain_fedavg_within_its_bound(federation):
    """SecAgg+ across the SuperLink and the three SuperNodes, over TLS.

    One round (a SecAgg+ round takes about a minute here: four stages, each a new
    ``ClientApp`` process per node and a SuperNode poll of up to 3 s). Round by round, the model is the book's plaintext FedAvg of the three banks trained from
    the previous deployed model with the seeds the strategy draws, within SecAgg+'s
    quantisation bound ``n · 2c / (Q Σ w)`` (:meth:`SecAggPlus.mean_error_bound`), and not
    equal to it (the quantisation is there: the server never saw a plaintext update).
    """
    rounds, seed = 1, 7
    config = check_run_config({"protection": "secaggplus", "rounds": rounds, "seed": seed,
                               "secagg-threshold": 2, "secagg-clipping-range": 4.0,
                               # a stage's replies may take half a minute on a loaded
                               # machine; a node too slow for the timeout counts as dropped
                               "timeout": 120.0})
    protocol = secaggplus_of(config)
    output = federation.tmp / "secaggplus.npz"
    start = time.monotonic()
    run = federation.flwr_run(output, **{k: config[k] for k in (
        "protection", "rounds", "seed", "secagg-threshold", "secagg-clipping-range",
        "timeout")})
    seconds = time.monotonic() - start
    assert run.returncode == 0, run.stdout + run.stderr
    assert output.exists(), f"the ServerApp wrote no model:\n{run.stdout}{run.stderr}"
    deployed = np.load(output)
    assert list(deployed["aborted"]) == [False] * rounds
    assert list(deployed["uploaded"]) == [len(NAMES)] * rounds

    parties = [PartyClient(p, _model()) for p in _local_parties(federation.banks)]
    initial = get_flat_params(_model())
    strategy, rng = FedAvg(initial, sample_fraction=1.0), np.random.default_rng(seed)
    before = initial
    for rnd, after in enumerate(deployed["rounds"], start=1):
        instructions = strategy.configure_fit(rnd, before, parties, rng=rng)
        configs = {i.party: i.config for i in instructions}
        results = {p.name: p.fit(before, configs[p.name]) for p in parties}
        weights = {n: configs[n]["weight"] for n in results}
        expected = strategy.aggregate_fit(rnd, plaintext_uploads(
            results, weights, weight_in_upload=False), failures=[])
        bound = protocol.mean_error_bound(len(results), sum(weights.values()))
        error = float(np.max(np.abs(after - expected)))
        assert 0 < error <= bound * (1 + 1e-9), (rnd, error, bound)
        print(f"\nSecAgg+ round {rnd}: max error {error:.2e}, bound {bound:.2e}, "
              f"{deployed['seconds'][rnd - 1]:.1f} s")
        before = after
    np.testing.assert_array_equal(deployed["parameters"], deployed["rounds"][-1])
    print(f"flwr run with SecAgg+ over TLS: {seconds:.1f} s for {rounds} rounds")
