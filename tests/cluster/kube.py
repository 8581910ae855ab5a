"""A real Kubernetes control plane on loopback: etcd + kube-apiserver (+ kube-controller-manager).

Started the way controller-runtime's envtest does it: a generated CA, a serving
certificate, client certificates (admin in ``system:masters``), RBAC+Node
authorization, ServiceAccount token signing, free loopback ports. No kubelet,
no scheduler: Pods are stored but never run. The controller manager runs only
the garbage collector, the namespace controller and the ServiceAccount
controller, so ownerReference cascading deletion and namespace deletion are real.
"""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import pki
from .tools import ServerProcess, ServerStartError, free_port, start_with_retries, tool_path, tool_version

SERVICE_CIDR = "10.0.0.0/24"
SERVICE_IP = "10.0.0.1"  # first IP of SERVICE_CIDR: the "kubernetes" Service (a certificate SAN only)
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
KCM_CONTROLLERS = ("garbage-collector-controller", "namespace-controller", "serviceaccount-controller")
# What a cluster with a node needs on top: Deployments' pods (the operator's), kube-root-ca.crt in
# every namespace (pods' projected ServiceAccount volumes), the not-ready taint lifted from a Ready
# node, finished pods collected.
NODE_CONTROLLERS = (
    "deployment-controller",
    "replicaset-controller",
    "root-ca-certificate-publisher-controller",
    "node-lifecycle-controller",
    "pod-garbage-collector-controller",
    "ttl-after-finished-controller",
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write_kubeconfig(
    path: Path, server: str, ca: Path, cert: Path, key: Path, user: str = "admin", namespace: str = "default"
) -> Path:
    """A self-contained kubeconfig (certificates embedded) for ``server``."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "pixelgate-test",
                "cluster": {"server": server, "certificate-authority-data": _b64(ca.read_bytes())},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(cert.read_bytes()),
                    "client-key-data": _b64(key.read_bytes()),
                },
            }
        ],
        "contexts": [
            {"name": "pixelgate-test", "context": {"cluster": "pixelgate-test", "user": user, "namespace": namespace}}
        ],
        "current-context": "pixelgate-test",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


class Etcd:
    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.process: ServerProcess | None = None
        self.client_url = ""

    def start(self, timeout: float = 60.0) -> "Etcd":
        def attempt() -> Etcd:
            client_port, peer_port = free_port(), free_port()
            self.client_url = f"http://127.0.0.1:{client_port}"
            peer_url = f"http://127.0.0.1:{peer_port}"
            data_dir = self.workdir / f"etcd-data-{client_port}"
            self.process = ServerProcess(
                "etcd",
                [
                    tool_path("etcd"),
                    "--name=default",
                    f"--data-dir={data_dir}",
                    f"--listen-client-urls={self.client_url}",
                    f"--advertise-client-urls={self.client_url}",
                    f"--listen-peer-urls={peer_url}",
                    f"--initial-advertise-peer-urls={peer_url}",
                    f"--initial-cluster=default={peer_url}",
                    "--initial-cluster-state=new",
                    "--unsafe-no-fsync=true",
                    "--log-level=warn",
                    "--quota-backend-bytes=4294967296",
                ],
                self.workdir / "etcd.log",
            )
            self.process.wait_ready(self._healthy, timeout=timeout)
            return self

        return start_with_retries(attempt)

    def _healthy(self) -> bool:
        with urllib.request.urlopen(f"{self.client_url}/health", timeout=2) as resp:
            return json.loads(resp.read()).get("health") == "true"

    def stop(self) -> None:
        if self.process:
            self.process.stop()


@dataclass
class KubeCluster:
    """A running control plane. ``kubeconfig`` is an admin kubeconfig (``system:masters``)."""

    workdir: Path
    with_controller_manager: bool = True
    controllers: tuple[str, ...] = KCM_CONTROLLERS
    server: str = ""
    kubeconfig: Path = field(default=Path())
    ca_path: Path = field(default=Path())
    admin: pki.KeyPair | None = None
    ca: pki.CertificateAuthority | None = None
    etcd: Etcd | None = None
    apiserver: ServerProcess | None = None
    controller_manager: ServerProcess | None = None
    version: str = ""

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 180.0) -> "KubeCluster":
        self.workdir = Path(self.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.version = tool_version("kube-apiserver")
        apiserver_bin = tool_path("kube-apiserver")
        kcm_bin = tool_path("kube-controller-manager") if self.with_controller_manager else None
        try:
            pki_dir = self.workdir / "pki"
            ca = self.ca = pki.CertificateAuthority(pki_dir)
            self.ca_path = ca.cert_path
            self.admin = ca.issue("admin", "pixelgate-admin", orgs=("system:masters",), client=True)
            sa = pki.service_account_keys(pki_dir)
            self.etcd = Etcd(self.workdir).start()
            start_with_retries(lambda: self._start_apiserver(apiserver_bin, ca, sa, timeout))
            self.kubeconfig = write_kubeconfig(
                self.workdir / "kubeconfig", self.server, ca.cert_path, self.admin.cert_path, self.admin.key_path
            )
            if kcm_bin is not None:
                kcm = ca.issue(
                    "kube-controller-manager", "system:kube-controller-manager", orgs=("system:masters",), client=True
                )
                kcm_kubeconfig = write_kubeconfig(
                    self.workdir / "kube-controller-manager.kubeconfig",
                    self.server,
                    ca.cert_path,
                    kcm.cert_path,
                    kcm.key_path,
                    user="system:kube-controller-manager",
                )
                start_with_retries(lambda: self._start_controller_manager(kcm_bin, kcm_kubeconfig, ca, sa, timeout))
        except BaseException:
            self.stop()
            raise
        return self

    def _start_apiserver(self, binary: Path, ca: pki.CertificateAuthority, sa: pki.KeyPair, timeout: float) -> None:
        port = free_port()
        self.server = f"https://127.0.0.1:{port}"
        serving = ca.issue(
            "apiserver",
            "kube-apiserver",
            server=True,
            dns_names=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            ips=("127.0.0.1", SERVICE_IP),
        )
        assert self.etcd is not None and self.admin is not None
        self.apiserver = ServerProcess(
            "kube-apiserver",
            [
                binary,
                "--advertise-address=127.0.0.1",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--etcd-servers={self.etcd.client_url}",
                f"--cert-dir={self.workdir / 'apiserver-certs'}",
                f"--tls-cert-file={serving.cert_path}",
                f"--tls-private-key-file={serving.key_path}",
                f"--client-ca-file={ca.cert_path}",
                "--authorization-mode=RBAC,Node",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--service-account-issuer={SA_ISSUER}",
                f"--service-account-key-file={sa.cert_path}",
                f"--service-account-signing-key-file={sa.key_path}",
                "--allow-privileged=true",
                # A kubelet (tests/cluster/node.py) is reached by its hostname, which resolves to
                # 127.0.0.1, and trusts the admin certificate for logs and exec.
                "--kubelet-preferred-address-types=Hostname,InternalIP",
                f"--kubelet-client-certificate={self.admin.cert_path}",
                f"--kubelet-client-key={self.admin.key_path}",
                "--profiling=false",
                "--v=1",
            ],
            self.workdir / "kube-apiserver.log",
        )
        self.apiserver.wait_ready(self._ready, timeout=timeout, interval=0.5)

    def _start_controller_manager(
        self, binary: Path, kubeconfig: Path, ca: pki.CertificateAuthority, sa: pki.KeyPair, timeout: float
    ) -> None:
        port = free_port()
        self.controller_manager = ServerProcess(
            "kube-controller-manager",
            [
                binary,
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.workdir / 'kcm-certs'}",
                "--leader-elect=false",
                "--controllers=" + ",".join(self.controllers),
                "--use-service-account-credentials=false",
                f"--root-ca-file={ca.cert_path}",
                f"--service-account-private-key-file={sa.key_path}",
                "--v=1",
            ],
            self.workdir / "kube-controller-manager.log",
        )
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the controller manager serves a self-signed certificate on loopback

        def healthy() -> bool:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", timeout=2, context=ctx) as resp:
                return resp.status == 200

        self.controller_manager.wait_ready(healthy, timeout=timeout, interval=0.5)

    def _ssl_context(self) -> ssl.SSLContext:
        assert self.admin is not None
        ctx = ssl.create_default_context(cafile=str(self.ca_path))
        ctx.load_cert_chain(str(self.admin.cert_path), str(self.admin.key_path))
        return ctx

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.server}/readyz", timeout=3, context=self._ssl_context()) as resp:
                return resp.status == 200
        except urllib.error.HTTPError:
            return False

    def stop(self) -> None:
        for proc in (self.controller_manager, self.apiserver):
            if proc is not None:
                proc.stop()
        if self.etcd is not None:
            self.etcd.stop()

    def __enter__(self) -> "KubeCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ access

    def get(self, path: str) -> Any:
        """GET a raw API path as admin and decode the JSON (e.g. ``kube.get("/version")``)."""
        with urllib.request.urlopen(f"{self.server}{path}", timeout=10, context=self._ssl_context()) as resp:
            return json.loads(resp.read())

    def _configuration(self):
        from kubernetes import client

        assert self.admin is not None
        cfg = client.Configuration()
        cfg.host = self.server
        cfg.ssl_ca_cert = str(self.ca_path)
        cfg.cert_file = str(self.admin.cert_path)
        cfg.key_file = str(self.admin.key_path)
        cfg.verify_ssl = True
        return cfg

    def api_client(self):
        """A ``kubernetes.client.ApiClient`` authenticated as the cluster admin (``system:masters``)."""
        from kubernetes import client

        return client.ApiClient(self._configuration())

    def impersonate(self, user: str, groups: str | None = None):
        """An ApiClient acting as ``user`` via impersonation (the admin is allowed to impersonate anyone).

        ``groups`` may name one group (sent as ``Impersonate-Group``); without it, the apiserver
        adds ``system:authenticated`` (and, for ServiceAccount users, their ServiceAccount groups).
        """
        from kubernetes import client

        api = client.ApiClient(self._configuration(), header_name="Impersonate-User", header_value=user)
        if groups:
            api.set_default_header("Impersonate-Group", groups)
        return api

    def impersonate_service_account(self, namespace: str, name: str):
        """An ApiClient acting as ``system:serviceaccount:<namespace>:<name>`` (groups
        ``system:serviceaccounts`` and ``system:serviceaccounts:<namespace>`` are added by the apiserver).
        The ServiceAccount object need not exist; RBAC is evaluated for real."""
        return self.impersonate(f"system:serviceaccount:{namespace}:{name}")

    def service_account_client(self, namespace: str, name: str, create: bool = True, expiration_seconds: int = 3600):
        """An ApiClient holding a real token for the ServiceAccount, minted with the TokenRequest API
        (so the request is authenticated exactly as an in-cluster pod's would be)."""
        from kubernetes import client

        with self.api_client() as admin:
            core = client.CoreV1Api(admin)
            if create:
                try:
                    core.create_namespaced_service_account(
                        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
                    )
                except client.ApiException as exc:
                    if exc.status != 409:
                        raise
            token = core.create_namespaced_service_account_token(
                name,
                namespace,
                client.AuthenticationV1TokenRequest(
                    spec=client.V1TokenRequestSpec(audiences=[SA_ISSUER], expiration_seconds=expiration_seconds)
                ),
            ).status.token
        cfg = client.Configuration()
        cfg.host = self.server
        cfg.ssl_ca_cert = str(self.ca_path)
        cfg.verify_ssl = True
        cfg.api_key = {"authorization": token}
        cfg.api_key_prefix = {"authorization": "Bearer"}
        return client.ApiClient(cfg)

    def wait_for(self, predicate, timeout: float = 60.0, interval: float = 0.5, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(interval)
        raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")

    def info(self) -> dict[str, str]:
        return {
            "server": self.server,
            "kubeconfig": str(self.kubeconfig),
            "version": self.version,
            "controller_manager": "running"
            if self.controller_manager and self.controller_manager.alive()
            else "not started",
            "logs": str(self.workdir),
        }


def start_kube(workdir: Path, with_controller_manager: bool = True, timeout: float = 180.0) -> KubeCluster:
    return KubeCluster(Path(workdir), with_controller_manager=with_controller_manager).start(timeout=timeout)


__all__ = ["Etcd", "KubeCluster", "ServerStartError", "start_kube", "write_kubeconfig"]
