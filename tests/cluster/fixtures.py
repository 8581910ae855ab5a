"""pytest plugin: real servers and CLIs as fixtures (registered in tests/conftest.py).

Fixtures
  kube            session  etcd + kube-apiserver (+ kube-controller-manager): tests.cluster.kube.KubeCluster
  kube_namespace  function a fresh namespace in ``kube``, deleted afterwards
  s3              session  versitygw S3 server with a fresh bucket: tests.cluster.s3.S3Server
  s3_bucket       function a fresh, empty bucket on ``s3``
  prometheus      function factory ``prometheus(["127.0.0.1:PORT"], ...) -> PrometheusServer`` (stopped after the test)
  promtool        session  callable ``promtool("check", "config", path) -> CompletedProcess``
  helm_bin, argo_bin, argo_ui_bin, etcd_bin   session  paths of the cached binaries
  rclone_bin, chromium_bin   session  paths of Debian's rclone and chromium (installed by build.sh)
  argo_crds_dir   session  Argo's minimal CRD manifests in the Go module cache

A missing tool skips the test, except under CI=true or PIXELGATE_REQUIRE_TOOLS=1 where it fails.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

from . import tools
from .kube import KubeCluster
from .prometheus import PrometheusServer
from .prometheus import promtool as _promtool
from .s3 import S3Server


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    tools.need(lambda: tools.tool_path("etcd"))
    tools.need(lambda: tools.tool_path("kube-apiserver"))
    try:
        tools.tool_path("kube-controller-manager")
        with_kcm = True
    except tools.ToolMissing as exc:
        if tools.tools_required():
            pytest.fail(str(exc), pytrace=False)
        with_kcm = False
    cluster = KubeCluster(tmp_path_factory.mktemp("kube"), with_controller_manager=with_kcm)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def kube_namespace(kube: KubeCluster) -> Iterator[str]:
    from kubernetes import client

    name = f"t-{uuid.uuid4().hex[:10]}"
    with kube.api_client() as api:
        client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        with kube.api_client() as api:
            try:
                client.CoreV1Api(api).delete_namespace(name)
            except client.ApiException as exc:
                if exc.status != 404:
                    raise


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    tools.need(lambda: tools.tool_path("versitygw"))
    server = S3Server(tmp_path_factory.mktemp("s3"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3: S3Server) -> str:
    return s3.new_bucket()


@pytest.fixture
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., PrometheusServer]]:
    tools.need(lambda: tools.system_tool("prometheus"))
    started: list[PrometheusServer] = []

    def start(targets, **kwargs) -> PrometheusServer:
        if isinstance(targets, str):
            targets = [targets]
        server = PrometheusServer(tmp_path_factory.mktemp("prometheus"), list(targets), **kwargs)
        started.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture(scope="session")
def promtool() -> Callable:
    tools.need(lambda: tools.system_tool("promtool"))
    return _promtool


@pytest.fixture(scope="session")
def helm_bin() -> Path:
    return tools.need(lambda: tools.tool_path("helm"))


@pytest.fixture(scope="session")
def argo_bin() -> Path:
    return tools.need(lambda: tools.tool_path("argo"))


@pytest.fixture(scope="session")
def argo_ui_bin() -> Path:
    return tools.need(lambda: tools.tool_path("argo-ui"))


@pytest.fixture(scope="session")
def etcd_bin() -> Path:
    return tools.need(lambda: tools.tool_path("etcd"))


@pytest.fixture(scope="session")
def rclone_bin() -> Path:
    return tools.need(lambda: tools.system_tool("rclone"))


@pytest.fixture(scope="session")
def chromium_bin() -> Path:
    return tools.need(lambda: tools.system_tool("chromium"))


@pytest.fixture(scope="session")
def argo_crds_dir() -> Path:
    return tools.need(tools.argo_crds_dir)
