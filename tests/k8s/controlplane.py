"""A real Kubernetes control plane for one test session, from the test bed's binaries.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok run as
child processes on 127.0.0.1, each on ports chosen free, with every file
(data, certificates, keys, kubeconfig, logs) in one folder that ``stop``
removes. Nothing is shared with another session or with the user's own
clusters: ``env`` points kubectl and helm at this folder only.

``start`` either returns a control plane whose API server is ready, whose
controllers and scheduler are healthy and whose four fake nodes are Ready, or
stops what it started and raises ``StartupError`` naming the process that
failed and showing the end of its log. ``stop`` ends every process it
started, by its pid: SIGTERM, then SIGKILL after a grace.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import secrets
import shutil
import ssl
import subprocess
import tempfile
import time
import typing
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests import helpers, servers

from . import nodes

#: Budget for the whole start-up once the binaries exist (4-7 s here).
START_TIMEOUT = 60.0
STOP_GRACE = 5.0
LOG_TAIL_LINES = 20
POLL_INTERVAL = 0.2
SERVICE_CIDR = "10.0.0.0/24"
POD_CIDR = "10.244.0.1/16"
#: The API server's self-signed serving certificate (made in --cert-dir), also
#: the root CA that kube-controller-manager publishes to every namespace.
SERVING_CERTIFICATE = "apiserver.crt"

T = typing.TypeVar("T")


class StartupError(RuntimeError):
    """A process of the control plane did not start or become ready."""


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: pathlib.Path

    def tail(self) -> str:
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(lines[-LOG_TAIL_LINES:])


@dataclass
class ControlPlane:
    """A running control plane and the tools to drive it (kubectl, helm)."""

    directory: pathlib.Path
    bin: pathlib.Path
    kubeconfig: pathlib.Path
    server: str
    token: str
    env: dict[str, str]
    processes: list[Process] = field(default_factory=list)

    def kubectl(
        self, *arguments: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self._run("kubectl", arguments, input, check)

    def helm(self, *arguments: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run("helm", arguments, None, check)

    def get(self, *arguments: str) -> Any:
        """``kubectl get ... -o json``, parsed."""
        return json.loads(self.kubectl("get", *arguments, "-o", "json").stdout)

    def apply(self, manifest: dict[str, Any], *, namespace: str = "default") -> None:
        self.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))

    def wait_for(
        self, predicate: Callable[[], T], timeout: float = 30.0, *, explain: Callable[[], str] | None = None
    ) -> T:
        """The shared bounded ``wait_for``, at a pace fit for a kubectl per poll.

        ``explain`` is asked, when the wait fails, for the state that tells why
        (the cluster is gone by the time anybody reads the report)."""
        try:
            return typing.cast(T, helpers.wait_for(predicate, timeout, interval=POLL_INTERVAL))
        except AssertionError as error:
            if explain is None:
                raise
            raise AssertionError(f"{error}\n{explain()}") from None

    def describe(self, namespace: str, *kinds: str) -> str:
        """``kubectl get`` of ``kinds`` in ``namespace`` (wide), and the namespace's events: for failure reports."""
        listed = self.kubectl("get", ",".join(kinds), "-n", namespace, "-o", "wide", check=False)
        events = self.kubectl("get", "events", "-n", namespace, "--sort-by=.lastTimestamp", check=False)
        return f"{listed.stdout}{listed.stderr}\n{events.stdout[-4000:]}"

    @contextlib.contextmanager
    def watching(self, namespace: str, kind: str) -> typing.Iterator[list[dict[str, Any]]]:
        """Every version of every ``kind`` object of ``namespace`` from now on
        (``kubectl get --watch``), in the list given, filled when the block ends."""
        seen: list[dict[str, Any]] = []
        command = [str(self.bin / "kubectl"), "get", kind, "-n", namespace, "--watch", "--output-watch-events",
                   "-o", "json"]  # fmt: skip
        with tempfile.TemporaryFile("w+") as output:
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.DEVNULL, env=self.env)
            try:
                yield seen
            finally:
                process.terminate()
                process.wait(timeout=STOP_GRACE)
                output.seek(0)
                seen += [event["object"] for event in _json_stream(output.read())]

    def kubeconfig_of(self, namespace: str, account: str, path: pathlib.Path) -> pathlib.Path:
        """A kubeconfig that authenticates as the ServiceAccount
        ``namespace/account``, with a token of the TokenRequest API (what the
        kubelet mounts in its pods): that account's rights, not the admin's."""
        token = self.kubectl("create", "token", account, "-n", namespace, "--duration=2h").stdout.strip()
        path.write_text(json.dumps(_kubeconfig(self.server, token), indent=2))
        return path

    def stop(self) -> None:
        _stop(self.processes)
        shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, tool: str, arguments: Sequence[str], input: str | None, check: bool) -> Any:
        command = [str(self.bin / tool), *arguments]
        result = subprocess.run(command, input=input, capture_output=True, text=True, env=self.env, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"{tool} {' '.join(arguments)} failed ({result.returncode}): {result.stderr}")
        return result


def start(bin_dir: pathlib.Path, directory: pathlib.Path) -> ControlPlane:
    """Starts the control plane in ``directory`` (which ``stop`` removes) and creates the fake nodes."""
    deadline = time.monotonic() + START_TIMEOUT
    token = secrets.token_hex(16)
    secure_port, etcd_client, etcd_peer, kcm_port, scheduler_port = servers.free_ports(5)
    plane = _prepare(bin_dir, directory, token, secure_port)
    try:
        etcd = _launch(plane, "etcd", _etcd_arguments(directory, etcd_client, etcd_peer))
        _ready(etcd, deadline, lambda: _http_ok(f"http://127.0.0.1:{etcd_client}/health"))
        apiserver = _launch(plane, "kube-apiserver", _apiserver_arguments(directory, secure_port, etcd_client))
        _ready(apiserver, deadline, lambda: _http_ok(f"{plane.server}/readyz", token))
        kcm = _launch(plane, "kube-controller-manager", _kcm_arguments(plane, kcm_port))
        scheduler = _launch(plane, "kube-scheduler", _scheduler_arguments(plane, scheduler_port))
        kwok = _launch(plane, "kwok", _kwok_arguments(plane), home=directory / "kwok-home")
        _ready(kcm, deadline, lambda: _http_ok(f"https://127.0.0.1:{kcm_port}/healthz"))
        _ready(scheduler, deadline, lambda: _http_ok(f"https://127.0.0.1:{scheduler_port}/readyz"))
        # Pods are refused until the "default" service account exists.
        _ready(kcm, deadline, lambda: _succeeds(plane, "get", "serviceaccount", "default"))
        plane.kubectl("create", "-f", "-", input=json.dumps(nodes.build_nodes()))
        _ready(kwok, deadline, lambda: _nodes_schedulable(plane))
    except BaseException:
        plane.stop()
        raise
    return plane


def _prepare(bin_dir: pathlib.Path, directory: pathlib.Path, token: str, secure_port: int) -> ControlPlane:
    """The files the processes read: token file, service-account key, kubeconfig."""
    for folder in ("pki", "kwok-home", "kubectl-cache", "helm"):
        (directory / folder).mkdir(parents=True, exist_ok=True)
    (directory / "tokens.csv").write_text(f"{token},admin,admin,system:masters\n")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (directory / "pki" / "sa.key").write_bytes(private)
    (directory / "pki" / "sa.pub").write_bytes(public)
    server = f"https://127.0.0.1:{secure_port}"
    kubeconfig = directory / "kubeconfig"
    kubeconfig.write_text(json.dumps(_kubeconfig(server, token), indent=2))  # JSON is YAML
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "KUBECACHEDIR": str(directory / "kubectl-cache"),
        "HELM_CACHE_HOME": str(directory / "helm" / "cache"),
        "HELM_CONFIG_HOME": str(directory / "helm" / "config"),
        "HELM_DATA_HOME": str(directory / "helm" / "data"),
    }
    return ControlPlane(directory=directory, bin=bin_dir, kubeconfig=kubeconfig, server=server, token=token, env=env)


def _kubeconfig(server: str, token: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "testbed", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "testbed", "context": {"cluster": "testbed", "user": "admin", "namespace": "default"}}],
        "current-context": "testbed",
    }


def _etcd_arguments(directory: pathlib.Path, client: int, peer: int) -> list[str]:
    return [
        "--name=testbed",
        f"--data-dir={directory / 'etcd'}",
        f"--listen-client-urls=http://127.0.0.1:{client}",
        f"--advertise-client-urls=http://127.0.0.1:{client}",
        f"--listen-peer-urls=http://127.0.0.1:{peer}",
        f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
        f"--initial-cluster=testbed=http://127.0.0.1:{peer}",
        "--unsafe-no-fsync",  # a throw-away store: durability only costs time
    ]


def _apiserver_arguments(directory: pathlib.Path, secure_port: int, etcd_client: int) -> list[str]:
    pki = directory / "pki"
    return [
        f"--etcd-servers=http://127.0.0.1:{etcd_client}",
        f"--cert-dir={pki}",
        f"--secure-port={secure_port}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--authorization-mode=RBAC",
        f"--token-auth-file={directory / 'tokens.csv'}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        "--allow-privileged=true",
    ]


def _delegated(plane: ControlPlane, port: int, name: str) -> list[str]:
    """What kube-controller-manager and kube-scheduler share: API access,
    authentication of their own HTTPS port through the API server, no leader election."""
    kubeconfig = str(plane.kubeconfig)
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        # Tokens are checked by TokenReview; there are no client certificates,
        # so no extension-apiserver-authentication ConfigMap to look up.
        "--authentication-skip-lookup=true",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={plane.directory / 'pki' / name}",
    ]


def _kcm_arguments(plane: ControlPlane, port: int) -> list[str]:
    pki = plane.directory / "pki"
    return [
        *_delegated(plane, port, "kube-controller-manager"),
        "--controllers=*",  # the deployment, replicaset, garbage-collector, serviceaccount... controllers
        f"--service-account-private-key-file={pki / 'sa.key'}",
        f"--root-ca-file={pki / SERVING_CERTIFICATE}",
        "--use-service-account-credentials=false",  # every controller acts as the admin of the kubeconfig
        "--cluster-name=testbed",
        # kwok renews a node's heartbeat from a process that shares 2 loaded
        # cores with the tests: a missed renewal within the default 50 s turned
        # nodes NotReady, which marks every pod on them not Ready for good (kwok
        # does not play the pod-ready stage again). No test wants a node lost.
        "--node-monitor-grace-period=1h",
    ]


def _scheduler_arguments(plane: ControlPlane, port: int) -> list[str]:
    return _delegated(plane, port, "kube-scheduler")


def _kwok_arguments(plane: ControlPlane) -> list[str]:
    """kwok v0.7 plays its built-in node and pod stages when given none;
    it manages only the nodes annotated as fake."""
    return [
        f"--kubeconfig={plane.kubeconfig}",
        "--manage-all-nodes=false",
        "--manage-nodes-with-annotation-selector=" + "=".join(nodes.FAKE_ANNOTATION),
        f"--cidr={POD_CIDR}",
        "--node-ip=127.0.0.1",
    ]


def _launch(plane: ControlPlane, name: str, arguments: list[str], *, home: pathlib.Path | None = None) -> Process:
    """Starts ``name`` with its output in ``<directory>/<name>.log``. ``home``
    replaces HOME, for kwok, which otherwise also loads ``~/.kwok/kwok.yaml``."""
    log = plane.directory / f"{name}.log"
    env = {**os.environ, "HOME": str(home)} if home else None
    with open(log, "wb") as output:
        popen = subprocess.Popen([str(plane.bin / name), *arguments], stdin=subprocess.DEVNULL, stdout=output,
                                 stderr=subprocess.STDOUT, env=env)  # fmt: skip
    process = Process(name, popen, log)
    plane.processes.append(process)
    return process


def _ready(process: Process, deadline: float, check: Callable[[], bool]) -> None:
    """Waits until ``check`` holds, failing early with ``process``'s log if it exits."""

    def alive_and_ready() -> bool:
        if process.popen.poll() is not None:
            raise StartupError(f"{process.name} exited with status {process.popen.returncode}:\n{process.tail()}")
        return check()

    alive_and_ready.__name__ = f"{process.name} ready"
    try:
        helpers.wait_for(alive_and_ready, max(deadline - time.monotonic(), 0.1), interval=POLL_INTERVAL)
    except AssertionError as error:
        raise StartupError(f"{process.name} not ready within {START_TIMEOUT} s ({error}):\n{process.tail()}") from None


def _http_ok(url: str, token: str | None = None) -> bool:
    """GET ``url`` answers 200; certificates are the processes' own self-signed ones."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(request, timeout=2, context=context) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _succeeds(plane: ControlPlane, *arguments: str) -> bool:
    return plane.kubectl(*arguments, check=False).returncode == 0


def _nodes_schedulable(plane: ControlPlane) -> bool:
    """Every fake node is Ready and rid of the not-ready taint the node
    lifecycle controller puts on new nodes: then scheduling is deterministic."""
    listed = plane.kubectl("get", "nodes", "-o", "json", check=False)
    if listed.returncode != 0:
        return False
    listed = json.loads(listed.stdout)["items"]
    if len(listed) != len(nodes.CPU_NODES) + len(nodes.GPU_NODES):
        return False
    for node in listed:
        conditions = {item["type"]: item["status"] for item in node.get("status", {}).get("conditions", [])}
        taints = {taint["key"] for taint in node["spec"].get("taints", [])}
        if conditions.get("Ready") != "True" or any(key.startswith("node.kubernetes.io/") for key in taints):
            return False
    return True


def _json_stream(text: str) -> list[dict[str, Any]]:
    """The JSON documents written one after the other (kubectl --watch -o json)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(text):
        if text[at].isspace():
            at += 1
            continue
        try:
            document, at = decoder.raw_decode(text, at)
        except json.JSONDecodeError:  # the last one, cut by the end of the watch
            break
        found.append(document)
    return found


def _stop(processes: Sequence[Process]) -> None:
    """Newest first, one at a time: SIGTERM, then SIGKILL after the grace. One at
    a time because kube-apiserver, once etcd is gone, waits on it until killed."""
    for process in reversed(processes):
        if process.popen.poll() is None:
            process.popen.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(STOP_GRACE)
        if process.popen.poll() is None:
            process.popen.kill()
            process.popen.wait()
