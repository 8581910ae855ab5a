"""A real node for a :class:`~.kube.KubeCluster`: Debian's containerd + runc, kube-scheduler, kubelet.

Pods really run here, as they do on any Kubernetes node, with three adaptations to a machine
with no container registry, no pod network and a cgroup v1 hierarchy we may not own:

* images never come from a registry: they are ``docker save`` tars made by
  ``tools/testcluster/images.sh`` and imported into this node's containerd
  (``ctr -n k8s.io images import``); pods ask for them with ``IfNotPresent``/``Never``;
* the only CNI plugin is ``loopback``: pods run with ``hostNetwork: true`` and reach the
  apiserver and the S3 server on 127.0.0.1 (the ``kubernetes`` Service cannot have a loopback
  endpoint, so such pods set ``KUBERNETES_SERVICE_HOST``/``_PORT`` themselves);
* the kubelet runs on cgroup v1 (``failCgroupV1: false``, cgroupfs driver) and containerd clamps
  ``oom_score_adj`` (``restrict_oom_score_adj``), because this VM lacks CAP_SYS_RESOURCE.

Everything listens on 127.0.0.1 and lives under the work directory; :meth:`Node.stop` deletes the
pods, stops the processes by PID, kills leftover containers, unmounts what the kubelet mounted,
removes the cgroups and iptables chains the kubelet created and the (gigabytes of) image content,
keeping the logs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .kube import KubeCluster, write_kubeconfig
from .tools import ServerProcess, ToolMissing, free_port, run_tool, tool_path

NODE_TOOLS = ("containerd", "ctr", "runc", "iptables")
CNI_BIN = Path("/usr/lib/cni")
CGROUP_ROOT = Path("/sys/fs/cgroup")


def node_prerequisites() -> list[str]:
    """What keeps this machine from running a node (empty when it can)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("a node needs root (containerd, kubelet)")
    missing += [f"{cmd} is not on PATH" for cmd in NODE_TOOLS if shutil.which(cmd) is None]
    if not (CNI_BIN / "loopback").exists():
        missing.append(f"the CNI loopback plugin is missing ({CNI_BIN}/loopback)")
    if missing:
        missing.append("run `bash tools/testcluster/build.sh node-runtime` as root")
    return missing


@dataclass(frozen=True)
class Image:
    """An image tar and the reference it carries (``images.sh --print`` lines)."""

    name: str
    ref: str
    tar: Path


IMAGE_TOOLS = ("dockerd", "docker", "debootstrap", "gcc")


def build_images(names: tuple[str, ...], log: Path) -> dict[str, Image]:
    """Build what is missing with ``tools/testcluster/images.sh`` and return the images by name.
    Raises ToolMissing when the machine lacks a build tool, RuntimeError when a build fails (a
    broken Dockerfile must fail the test, never skip it)."""
    missing = [cmd for cmd in IMAGE_TOOLS if shutil.which(cmd) is None]
    if missing:
        raise ToolMissing(f"building the images needs {missing}; run `bash tools/testcluster/build.sh node-runtime`")
    script = Path(__file__).resolve().parents[2] / "tools" / "testcluster" / "images.sh"
    with open(log, "ab") as err:
        out = subprocess.run(["bash", str(script), "--print", *names], stdout=subprocess.PIPE, stderr=err, check=False)
    if out.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"tools/testcluster/images.sh {' '.join(names)} failed (log {log}):\n{tail}")
    images = {}
    for line in out.stdout.decode().splitlines():
        name, ref, tar = line.split()
        images[name] = Image(name, ref, Path(tar))
    return images


@dataclass
class Node:
    """containerd, kube-scheduler and a kubelet registered with ``cluster`` as node ``name``."""

    cluster: KubeCluster
    workdir: Path
    pause_image: str
    name: str = field(default_factory=socket.gethostname)
    containerd: ServerProcess | None = None
    scheduler: ServerProcess | None = None
    kubelet: ServerProcess | None = None
    socket: Path = field(default=Path())
    _iptables_before: dict[tuple[str, str], list[list[str]]] = field(default_factory=dict)

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 120.0) -> "Node":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._iptables_before = self._kube_rules()
        try:
            self._start_containerd()
            self._start_scheduler()
            self._start_kubelet()
            self.cluster.wait_for(self.ready, timeout=timeout, interval=1.0, what=f"node {self.name} Ready")
        except BaseException:
            self.stop()
            raise
        return self

    def _start_containerd(self) -> None:
        root = self.workdir / "containerd"
        (root / "cni").mkdir(parents=True, exist_ok=True)
        (root / "cni" / "10-loopback.conflist").write_text(
            json.dumps({"cniVersion": "1.0.0", "name": "loopback-only", "plugins": [{"type": "loopback"}]})
        )
        self.socket = root / "containerd.sock"
        config = root / "config.toml"
        config.write_text(
            f"""version = 2
root = "{root / "root"}"
state = "{root / "state"}"
[grpc]
  address = "{self.socket}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{self.pause_image}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{root / "cni"}"
"""
        )
        self.containerd = ServerProcess(
            "containerd", [shutil.which("containerd") or "containerd", "--config", config], root / "containerd.log"
        )
        self.containerd.wait_ready(lambda: self.ctr("version").returncode == 0, timeout=60, interval=0.5)

    def ctr(self, *args: str, timeout: float = 600.0) -> subprocess.CompletedProcess:
        return run_tool(["ctr", "--address", self.socket, "-n", "k8s.io", *args], timeout=timeout)

    def import_image(self, image: Image) -> None:
        out = self.ctr("images", "import", "--no-unpack=false", str(image.tar))
        if out.returncode != 0:
            raise RuntimeError(f"ctr images import {image.tar} failed: {out.stderr or out.stdout}")
        listed = self.ctr("images", "ls", "-q").stdout.split()
        if not any(ref == image.ref or ref.endswith("/" + image.ref) for ref in listed):
            raise RuntimeError(f"{image.tar} did not provide {image.ref} (containerd has {listed})")

    def _component_kubeconfig(self, stem: str, user: str, orgs: tuple[str, ...]) -> Path:
        assert self.cluster.ca is not None
        pair = self.cluster.ca.issue(stem, user, orgs=orgs, client=True)
        return write_kubeconfig(
            self.workdir / f"{stem}.kubeconfig",
            self.cluster.server,
            self.cluster.ca_path,
            pair.cert_path,
            pair.key_path,
            user=user,
        )

    def _start_scheduler(self) -> None:
        kubeconfig = self._component_kubeconfig("kube-scheduler", "system:kube-scheduler", ())
        self.scheduler = ServerProcess(
            "kube-scheduler",
            [
                tool_path("kube-scheduler"),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--leader-elect=false",
                "--v=1",
            ],
            self.workdir / "kube-scheduler.log",
        )

    def _start_kubelet(self) -> None:
        kubeconfig = self._component_kubeconfig("kubelet", f"system:node:{self.name}", ("system:nodes",))
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": "127.0.0.1",
            "port": free_port(),
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": free_port(),
            "cgroupDriver": "cgroupfs",
            "failCgroupV1": False,
            "failSwapOn": False,
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "podLogsDir": str(self.workdir / "pod-logs"),
            # The apiserver presents the admin certificate for logs/exec; nothing else can connect
            # (127.0.0.1 only), so certificates signed by the test CA are trusted as they are.
            "authentication": {
                "x509": {"clientCAFile": str(self.cluster.ca_path)},
                "webhook": {"enabled": False},
                "anonymous": {"enabled": False},
            },
            "authorization": {"mode": "AlwaysAllow"},
            # The imported images are all this node has: never collect them, never evict on a
            # shared disk's usage.
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "serializeImagePulls": False,
        }
        path = self.workdir / "kubelet-config.yaml"
        path.write_text(yaml.safe_dump(config))
        self._kubelet_healthz = f"http://127.0.0.1:{config['healthzPort']}/healthz"
        self.kubelet = ServerProcess(
            "kubelet",
            [
                tool_path("kubelet"),
                f"--config={path}",
                f"--kubeconfig={kubeconfig}",
                f"--root-dir={self.workdir / 'kubelet'}",
                f"--hostname-override={self.name}",
                "--v=1",
            ],
            self.workdir / "kubelet.log",
        )

    def ready(self) -> bool:
        for proc in (self.containerd, self.scheduler, self.kubelet):
            if proc is not None and not proc.alive():
                raise RuntimeError(
                    f"{proc.name} exited ({proc.proc.returncode}); log {proc.log_path}:\n{proc.log_tail()}"
                )
        try:
            node = self.cluster.get(f"/api/v1/nodes/{self.name}")
        except Exception:  # not registered yet
            return False
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))
        tainted = any(t["key"] == "node.kubernetes.io/not-ready" for t in node["spec"].get("taints", []))
        return ready and not tainted

    def stop(self) -> None:
        """Stop everything this node started and undo what the kubelet did to the host."""
        if self.kubelet is not None and self.kubelet.alive():
            with contextlib.suppress(Exception):
                self._delete_pods()
        for proc in (self.kubelet, self.scheduler):
            if proc is not None:
                proc.stop()
        if self.containerd is not None and self.containerd.alive():
            self._kill_containers()
            self.containerd.stop()
        self._unmount()
        self._remove_cgroups()
        self._remove_iptables_chains()
        # The images' content and snapshots are gigabytes; the logs stay for a failed test's reader.
        for bulky in (self.workdir / "containerd" / "root", self.workdir / "kubelet"):
            shutil.rmtree(bulky, ignore_errors=True)

    def _delete_pods(self, timeout: float = 60.0) -> None:
        from kubernetes import client

        with self.cluster.api_client() as api:
            core = client.CoreV1Api(api)
            for pod in core.list_pod_for_all_namespaces().items:
                core.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0)
            deadline = time.monotonic() + timeout
            while core.list_pod_for_all_namespaces().items and time.monotonic() < deadline:
                time.sleep(1)

    def _kill_containers(self) -> None:
        for task in self.ctr("tasks", "ls", "-q", timeout=30).stdout.split():
            self.ctr("tasks", "kill", "-s", "SIGKILL", task, timeout=30)
        time.sleep(1)
        for task in self.ctr("tasks", "ls", "-q", timeout=30).stdout.split():
            self.ctr("tasks", "rm", "-f", task, timeout=30)

    def _unmount(self) -> None:
        prefix = str(self.workdir.resolve())
        mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
        for target in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
            subprocess.run(["umount", "-l", target], capture_output=True, check=False)

    @staticmethod
    def _remove_cgroups() -> None:
        """The kubelet's ``kubepods`` tree in every v1 hierarchy, leaves first (empty ones only)."""
        for hierarchy in CGROUP_ROOT.iterdir() if CGROUP_ROOT.is_dir() else ():
            top = hierarchy / "kubepods"
            if not top.is_dir():
                continue
            for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda e: len(e[0]), reverse=True):
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)

    @staticmethod
    def _kube_rules() -> dict[tuple[str, str], list[list[str]]]:
        """The host's ``KUBE-*`` chains and the rules in or into them, per (command, table)."""
        found = {}
        for command in ("iptables", "ip6tables"):
            for table in ("filter", "nat", "mangle"):
                listed = subprocess.run([command, "-t", table, "-S"], capture_output=True, text=True, check=False)
                rules = [shlex.split(line) for line in listed.stdout.splitlines()]
                found[command, table] = [r for r in rules if any(word.startswith("KUBE-") for word in r)]
        return found

    def _remove_iptables_chains(self) -> None:
        """The ``KUBE-*`` chains (and the jumps into them) this kubelet added to the host's tables;
        ones that were there before it started (another kubelet's) stay."""
        for (command, table), rules in self._kube_rules().items():
            new = [r for r in rules if r not in self._iptables_before.get((command, table), [])]
            for rule in new:
                if rule[0] == "-A":
                    subprocess.run([command, "-t", table, "-D", *rule[1:]], capture_output=True, check=False)
            for rule in new:
                if rule[0] == "-N":
                    subprocess.run([command, "-t", table, "-X", rule[1]], capture_output=True, check=False)
